"""The state a fit produces and a warm start resumes, as one object.

:class:`FitState` is the single list of an estimator's fitted attributes: ``fit`` builds
it (fresh, or read back from the estimator for a warm start), extends it with a
Gauss-Newton result, and stores it; callbacks see the attributes of a fit stopped at any
weights through :meth:`FitState.attributes`.
"""

from dataclasses import dataclass, field, fields, replace

import numpy as np

# Fields stored as private attributes (``_name``); every other field ``name`` is the
# public fitted attribute ``name_``.
_PRIVATE = ("y_ndim", "lm_state", "priced_iterations")


def target_scaling(Y, sample_weight, normalize):
    """Weighted column means and standard deviations of ``Y`` (zero spread -> 1).

    Parameters
    ----------
    Y : ndarray of shape (n_samples, n_outputs)
        Targets.
    sample_weight : ndarray of shape (n_samples,) or None
        Weights.
    normalize : bool
        Whether to scale at all (else mean 0, scale 1).

    Returns
    -------
    mean, scale : ndarray of shape (n_outputs,)
        ``Y`` is fitted as ``(Y - mean) / scale``.
    """
    k = Y.shape[1]
    if not normalize:
        return np.zeros(k), np.ones(k)
    mean = np.average(Y, axis=0, weights=sample_weight)
    centered = Y - mean
    # Divide by the largest deviation before squaring, so that 1e160 does not overflow
    # and 1e-160 does not underflow.
    peak = np.max(np.abs(centered), axis=0)
    safe_peak = np.where(peak > 0, peak, 1.0)
    std = safe_peak * np.sqrt(np.average((centered / safe_peak) ** 2, axis=0,
                                         weights=sample_weight))
    return mean, spread_or_one(mean, std)


def spread_or_one(mean, std):
    """``std``, or 1 where a column is constant (a spread at rounding level of its mean).

    Parameters
    ----------
    mean, std : ndarray of shape (n_columns,)
        Columns' means and standard deviations.

    Returns
    -------
    scale : ndarray of shape (n_columns,)
        The divisor of each centered column.
    """
    # A constant column is only centered; the threshold is relative to the mean,
    # whatever the units.
    tiny = 10 * np.finfo(np.float64).eps * np.abs(mean)
    return np.where((std > tiny) & (std > 0), std, 1.0)


def feature_scaling(X, sample_weight, standardize, moments=None):
    """The affine map ``standardize`` fits the features through: ``(X - mean) / scale``.

    Columns whose entries are all 0 or 1 (indicators, as ``OneHotEncoder`` makes) keep
    mean 0 and scale 1; every other column gets its weighted mean and standard deviation
    (zero spread -> 1, as :func:`target_scaling`).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Finite inputs.
    sample_weight : ndarray of shape (n_samples,) or None
        Weights.
    standardize : bool
        Whether to standardize at all (else mean 0, scale 1 for every column).
    moments : tuple of ndarray, default=None
        The columns' ``(mean, std, indicator)`` computed elsewhere (dask inputs:
        ``skgn._dask.column_moments``); ``None`` computes them from ``X``.

    Returns
    -------
    mean, scale : ndarray of shape (n_features,)
        Float64.
    """
    d = X.shape[1]
    if not standardize:
        return np.zeros(d), np.ones(d)
    if moments is None:
        # Row order (C) sums each column row after row: the same bits whatever the
        # caller's layout (a CSC matrix densifies to Fortran order).
        mean, scale = target_scaling(np.asarray(X, dtype=np.float64, order="C"),
                                     sample_weight, True)
        indicator = np.all((X == 0) | (X == 1), axis=0)
    else:
        mean, std, indicator = moments
        scale = spread_or_one(mean, std)
    return np.where(indicator, 0.0, mean), np.where(indicator, 1.0, scale)


def standardized(X, mean, scale):
    """``(X - mean) / scale`` in ``X``'s dtype (``X`` itself when the map is the identity).

    Parameters
    ----------
    X : ndarray or dask array of shape (n_samples, n_features)
        Inputs.
    mean, scale : ndarray of shape (n_features,)
        From :func:`feature_scaling`.

    Returns
    -------
    X : ndarray or dask array of shape (n_samples, n_features)
        A new array unless the map is the identity.
    """
    if not (np.any(mean != 0) or np.any(scale != 1)):
        return X
    return ((X - mean) / scale).astype(X.dtype, copy=False)


@dataclass
class FitState:
    """Everything a fitted :class:`~skgn.SketchedGNRegressor` holds.

    Parameters
    ----------
    weights : ndarray of shape (n_neurons, n_inputs)
        Trained hidden weights.
    initial_weights : ndarray of shape (n_neurons, n_inputs)
        Initialization ``W0``, the anchor of the ridge term.
    output_signs : ndarray of shape (n_neurons, n_outputs)
        Fixed output signs.
    y_mean, y_scale : ndarray of shape (n_outputs,)
        Target scaling.
    y_ndim : int
        Dimensions of the ``y`` given to ``fit`` (1 or 2).
    n_features_in : int
        Features seen in ``fit``.
    n_outputs : int
        Number of outputs.
    n_neurons : int
        Hidden width ``m`` (``n_neurons``, or the one ``'auto'`` chose).
    alpha, input_scale : float
        The ridge strength and input scale the network is trained with (chosen or given).
    alphas, input_scales : ndarray
        The candidates (one value each when given).
    selection_scores : ndarray of shape (n_input_scales, n_alphas) or None
        Leave-one-out scores of the candidates (``None`` when nothing was chosen).
    shift : float
        Threshold ``t`` of the shifted ReLU (0 for the plain ReLU).
    n_landmarks : int
        Landmarks of the Nystrom preconditioner (chosen or given).
    priced_iterations : float or None
        PCG iterations per step that ``solver='auto'`` prices the Nystrom path at, from
        the selection's spectrum (``None``: the cost model's fixed price). Kept so that
        a warm start resolves the same path.
    centered : bool
        Whether the network subtracts its output at ``initial_weights``
        (``init='centered'``, or ``'symmetric'`` with ``depth >= 2``).
    n_iter : int
        Gauss-Newton steps over all (warm-started) fits.
    loss_curve, history : list
        Objective after each accepted step; one dict per attempted step.
    lm_state : LMState or None
        Levenberg-Marquardt state to continue from.
    validation_scores, validation_loss_curve : list or None
        Early-stopping scores (``None`` without early stopping).
    best_validation_score : float or None
        Best validation R^2.
    converged : bool
        Whether the last fit met a stopping rule.
    feature_transform : ndarray of shape (n_features, n_features) or None
        The learned feature map ``T`` of ``agop_rounds`` (the network sees ``X T``).
    agop_scores : ndarray of shape (2,) or None
        ``agop_rounds='auto'``: the best leave-one-out score of the selection without
        and with the learned map (``None`` when no map was learned).
    X_mean, X_scale : ndarray of shape (n_features,)
        The features are fitted as ``(X - X_mean) / X_scale`` (``standardize``).
    """

    weights: np.ndarray
    initial_weights: np.ndarray
    output_signs: np.ndarray
    y_mean: np.ndarray
    y_scale: np.ndarray
    y_ndim: int
    n_features_in: int
    n_outputs: int
    n_neurons: int
    alpha: float
    input_scale: float
    alphas: np.ndarray
    input_scales: np.ndarray
    selection_scores: np.ndarray = None
    shift: float = 0.0
    n_landmarks: int = 500
    priced_iterations: float = None
    centered: bool = False
    n_iter: int = 0
    loss_curve: list = field(default_factory=list)
    history: list = field(default_factory=list)
    lm_state: object = None
    validation_scores: list = None
    validation_loss_curve: list = None
    best_validation_score: float = None
    converged: bool = False
    feature_transform: np.ndarray = None
    agop_scores: np.ndarray = None
    X_mean: np.ndarray = None
    X_scale: np.ndarray = None

    @staticmethod
    def attribute_name(name):
        """The estimator attribute that stores field ``name``."""
        return f"_{name}" if name in _PRIVATE else f"{name}_"

    @classmethod
    def from_estimator(cls, estimator):
        """Read the state back from a fitted estimator (for a warm start).

        Parameters
        ----------
        estimator : SketchedGNRegressor
            A fitted estimator.

        Returns
        -------
        state : FitState
            Its state.
        """
        return cls(**{f.name: getattr(estimator, cls.attribute_name(f.name))
                      for f in fields(cls)})

    def attributes(self, weights=None):
        """The fitted attributes, as ``{attribute name: value}``.

        Parameters
        ----------
        weights : ndarray, default=None
            Report these weights (a copy) instead of the state's, as a fit stopped
            there would have (for callbacks).

        Returns
        -------
        attributes : dict
            Attribute names (``weights_``, ``_y_ndim``, ...) and values.
        """
        state = self if weights is None else replace(self, weights=np.array(weights, copy=True))
        return {self.attribute_name(f.name): getattr(state, f.name) for f in fields(state)}

    def extended(self, result, early_stopping=None):
        """The state after a Gauss-Newton result (and its early stopping, if any).

        Parameters
        ----------
        result : GNResult
            The result of this fit's loop; its step numbers start at 1.
        early_stopping : EarlyStopping, default=None
            Validation scores of this fit; its best weights replace the last ones.

        Returns
        -------
        state : FitState
            A new state; ``self`` is unchanged.
        """
        history = [{**entry, "step": entry["step"] + self.n_iter} for entry in result.history]
        update = {
            "weights": result.params,
            "n_iter": self.n_iter + result.n_iter,
            "loss_curve": list(self.loss_curve) + result.loss_curve,
            "history": list(self.history) + history,
            "lm_state": result.state,
            "converged": result.converged,
            "validation_scores": None,
            "validation_loss_curve": None,
            "best_validation_score": None,
        }
        if early_stopping is not None:
            update.update(
                weights=early_stopping.best_W,
                validation_scores=list(self.validation_scores or []) + early_stopping.scores,
                validation_loss_curve=(list(self.validation_loss_curve or [])
                                       + early_stopping.losses),
                best_validation_score=early_stopping.best_score,
                converged=result.converged or early_stopping.stopped,
            )
        return replace(self, **update)
