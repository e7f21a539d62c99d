"""The scikit-learn estimator :class:`SketchedGNRegressor`."""

import os
import warnings
from functools import partial

import numpy as np
from sklearn import get_config
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state, gen_batches
from sklearn.utils.validation import check_is_fitted, validate_data

from ._gauss_newton import gauss_newton
from ._network import TwoLayerReLU, add_bias_feature
from ._preconditioners import PRECONDITIONERS, NystromPreconditioner, SketchPreconditioner
from ._sketching import SKETCHES
from ._solvers import SOLVERS
from ._validation import (
    check_int,
    check_option,
    check_real,
    check_sample_weight,
)

_INITS = ("symmetric", "random")


# Inner iterations the cost model assumes for a preconditioned solve (measured: 30-45
# to 1e-10 with the sketch at oversampling 3; Nystrom needs more on slow spectra).
_ITERS_SKETCH, _ITERS_NYSTROM = 40, 60
# A Jacobian product runs at a fraction of GEMM speed (memory-bound); weight its flops.
_JAC_PRODUCT_PENALTY = 2.0


def _available_memory():
    """Half the physical memory in bytes (the budget of the cost model)."""
    try:
        return 0.5 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def path_costs(n_rows, n_neurons, n_inputs, *, sketch_size=3.0, n_landmarks=500):
    """Flops and bytes of one Gauss-Newton step on each solver path.

    ``N = n_rows`` (samples times outputs), ``m = n_neurons``, ``d = n_inputs``,
    ``P = m d``, ``s = sketch_size N``, ``L = min(n_landmarks, N)``; a Jacobian product
    (``2 N P`` flops) is weighted by 2 because it runs memory-bound.

    - ``('cholesky', 'none')``: Gram by the tensor trick and its Cholesky factor,
      ``2 N^2 (m + d) + N^3 / 3`` flops, ``16 N^2`` bytes.
    - ``('cg', 'nystrom')``: ``L`` Gram columns, an SVD of ``N x L`` and about 60 PCG
      iterations, ``2 N L (m + d) + 2 N L^2 + 60 (4 N P)`` flops, ``24 N L`` bytes.
    - ``('lsqr', 'sketch')``: a tensor sketch, the Cholesky factor of the ``s x N`` sketch
      and about 40 LSQR iterations, ``2 s N^2 + N^3 / 3 + 40 (4 N P)`` flops,
      ``8 (s + N) N`` bytes.

    Every path also holds the ``N x m`` activation pattern (``8 N m`` bytes).

    Parameters
    ----------
    n_rows, n_neurons, n_inputs : int
        ``N``, ``m`` and ``d``.
    sketch_size : float, default=3.0
        ``s / N``.
    n_landmarks : int, default=500
        Nystrom landmarks.

    Returns
    -------
    costs : dict
        ``{(solver, preconditioner): (flops, bytes)}``.
    """
    N, m, d = float(n_rows), float(n_neurons), float(n_inputs)
    P, s, L = m * d, sketch_size * N, float(min(n_landmarks, n_rows))
    jac = _JAC_PRODUCT_PENALTY * 4 * N * P
    pattern = 8 * N * m
    return {
        ("cholesky", "none"): (2 * N**2 * (m + d) + N**3 / 3, 16 * N**2 + pattern),
        ("cg", "nystrom"): (
            2 * N * L * (m + d) + 2 * N * L**2 + _ITERS_NYSTROM * jac, 24 * N * L + pattern
        ),
        ("lsqr", "sketch"): (2 * s * N**2 + N**3 / 3 + _ITERS_SKETCH * jac,
                             8 * (s + N) * N + pattern),
    }


def _resolve_paths(solver, preconditioner, n_rows, n_neurons, n_inputs, sketch_size,
                   n_landmarks, memory=None):
    """Resolve ``'auto'``: the cheapest path in flops among those whose memory fits."""
    if solver == "auto" or (preconditioner == "auto" and solver != "cholesky"):
        costs = path_costs(n_rows, n_neurons, n_inputs, sketch_size=sketch_size,
                           n_landmarks=n_landmarks)
        if solver != "auto":
            costs = {k: v for k, v in costs.items() if k[0] == solver} or {
                (solver, "nystrom"): costs[("cg", "nystrom")]
            }
        budget = _available_memory() if memory is None else memory
        fitting = {k: v for k, v in costs.items() if v[1] <= budget}
        pool = fitting or {min(costs, key=lambda k: costs[k][1]): None}
        best = min(pool, key=lambda k: costs[k][0])
        solver = best[0]
        preconditioner = best[1] if preconditioner == "auto" else preconditioner
    if solver == "cholesky":
        preconditioner = "none"
    return solver, preconditioner


def _init_weights(rng, init, init_scale, n_neurons, n_inputs, n_outputs):
    """Draw ``W0 ~ init_scale * N(0, I)`` and output signs ``A`` in {-1, +1}.

    With ``init='symmetric'`` neurons come in pairs ``(w, a)``, ``(w, -a)`` so that the
    network is identically zero at initialization.
    """
    if init == "random":
        W0 = init_scale * rng.standard_normal((n_neurons, n_inputs))
        signs = rng.choice([-1.0, 1.0], size=(n_neurons, n_outputs))
        return W0, signs
    half = n_neurons // 2
    W_half = init_scale * rng.standard_normal((half, n_inputs))
    signs_half = rng.choice([-1.0, 1.0], size=(half, n_outputs))
    W0 = np.repeat(W_half, 2, axis=0)
    signs = np.repeat(signs_half, 2, axis=0)
    signs[1::2] *= -1.0
    return W0, signs


def _target_scaling(Y, sample_weight, normalize):
    """Weighted column means and standard deviations of ``Y`` (zero spread -> 1)."""
    k = Y.shape[1]
    if not normalize:
        return np.zeros(k), np.ones(k)
    mean = np.average(Y, axis=0, weights=sample_weight)
    std = np.sqrt(np.average((Y - mean) ** 2, axis=0, weights=sample_weight))
    # A constant target (or one whose spread is at rounding level) is only centered.
    tiny = 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0)
    return mean, np.where(std > tiny, std, 1.0)


class SketchedGNRegressor(RegressorMixin, BaseEstimator):
    """Over-parametrized two-layer ReLU network trained by Gauss-Newton steps.

    The model is ``f(x) = (1/sqrt(m)) sum_r a_r relu(w_r . [x, 1])`` with ``m =
    n_neurons`` hidden units; the hidden weights ``W`` are trained and the output signs
    ``a_r`` in {-1, +1} are fixed. ``fit`` minimizes

    ``1/2 sum_i s_i ||f(x_i) - y_i||^2 + alpha/2 ||W - W0||^2``

    (``s_i`` sample weights, ``W0`` the initialization) by Levenberg-Marquardt damped
    Gauss-Newton steps solved in sample space, so each step costs ``O(n^2 m)`` with the
    exact solver or ``O(n m d)`` per inner iteration with the matrix-free one. In the
    wide regime the fit behaves like kernel ridge regression with the network's neural
    tangent kernel and the same ``alpha``.

    Parameters
    ----------
    n_neurons : int, default=1024
        Width ``m`` of the hidden layer. Must be even with ``init='symmetric'``.
    alpha : float, default=1.0
        Strength of the ridge penalty toward the initial weights; comparable to
        ``KernelRidge(alpha=...)``. ``alpha=0`` lets the network interpolate.
    solver : {'auto', 'cholesky', 'cg', 'lsqr'}, default='auto'
        Inner solver of the Gauss-Newton system ``(J J^T + lam I) g = b``:

        - ``'cholesky'``: forms ``J J^T`` by the tensor trick and factors it (the
          exact Gram-Gauss-Newton step; memory ``n^2``).
        - ``'cg'``: matrix-free (preconditioned) conjugate gradients on the implicit
          Jacobian.
        - ``'lsqr'``: LSQR on the row-preconditioned augmented operator
          ``R^{-T} [J, sqrt(lam) I]``, returning the minimum-norm step.
        - ``'auto'``: the cheapest path in flops whose memory fits in half the
          machine's memory, by the cost model :func:`skgn.path_costs`.
    preconditioner : {'auto', 'none', 'jacobi', 'sketch', 'nystrom'}, default='auto'
        Preconditioner of the iterative solvers (ignored by ``'cholesky'``):
        ``'sketch'`` is the sketch-and-precondition QR factor of van den Brand et al.
        (iterations independent of the conditioning), ``'nystrom'`` uses
        ``n_landmarks`` Gram columns (memory ``n x n_landmarks``), ``'jacobi'`` the
        diagonal. ``'auto'`` chooses with the cost model.
    sketch : {'tensor_srht', 'tensorsketch', 'gaussian', 'srht', 'countsketch'}, \
            default='tensor_srht'
        Sketch of the ``'sketch'`` preconditioner; the tensor sketches never form a
        P-long vector.
    sketch_size : float, default=3.0
        Sketch rows per Gram row, ``gamma = s / n``; the preconditioned operator has
        condition number about ``(1 + gamma^-1/2) / (1 - gamma^-1/2)``.
    n_landmarks : int, default=500
        Landmarks of the ``'nystrom'`` preconditioner (capped at ``n``).
    max_iter : int, default=100
        Maximum number of Gauss-Newton steps (accepted or rejected).
    tol : float, default=1e-3
        Stop when both the actual and predicted decrease of the objective in a step are
        at most ``tol`` times the objective, or when the objective has fallen to machine
        precision times its starting value. On diabetes and Friedman #1 the test R^2 was
        the same to four digits for ``tol`` from 1e-2 to 1e-6, at up to 4x the time.
    init : {'symmetric', 'random'}, default='symmetric'
        ``'symmetric'`` draws neurons in pairs with equal weights and opposite output
        signs, so the network starts identically zero and a wide, regularized fit
        approaches neural-tangent kernel ridge regression; ``'random'`` draws every
        neuron independently.
    init_scale : float, default=1.0
        Standard deviation of the initial weights ``W0``.
    fit_intercept : bool, default=True
        Append a constant feature (value 1) to the inputs so that each neuron has a
        bias. Without it ``f(x) - f(-x)`` is linear in ``x``.
    normalize_y : bool, default=True
        Fit the network to the targets standardized by their (weighted) mean and
        standard deviation, and undo it in ``predict``. This adds an unpenalized
        intercept and keeps the network in the well-conditioned regime whatever the
        units of ``y``; in the wide regime ``alpha`` keeps the meaning it has in
        ``KernelRidge``, whose fit is linear in ``y``. The objective in
        ``loss_curve_`` and ``history_`` is then in standardized units.
    warm_start : bool, default=False
        Continue from the previous ``fit``: its weights, its Levenberg-Marquardt damping
        (so two warm fits of ``k`` steps equal one of ``2 k``), the ridge anchor ``W0``
        and the target scaling; ``n_iter_``, ``loss_curve_`` and ``history_`` then
        accumulate.
    n_jobs : int, default=None
        Parallel jobs for sketch blocks (through joblib, so
        ``joblib.parallel_config(backend="dask")`` reaches a dask cluster). Results do
        not depend on ``n_jobs``.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, output signs, sketches and landmarks.
    verbose : int, default=0
        Print one line per Gauss-Newton step when positive.

    Attributes
    ----------
    weights_ : ndarray of shape (n_neurons, n_features_in_ + fit_intercept)
        Trained hidden weights; the last column is the bias if ``fit_intercept``.
    initial_weights_ : ndarray of shape (n_neurons, n_features_in_ + fit_intercept)
        The initialization ``W0`` (the anchor of the ridge penalty).
    output_signs_ : ndarray of shape (n_neurons, n_outputs_)
        The fixed output signs.
    n_outputs_ : int
        Number of targets.
    y_mean_ : ndarray of shape (n_outputs_,)
        Mean subtracted from the targets (zeros if ``normalize_y=False``).
    y_scale_ : ndarray of shape (n_outputs_,)
        Scale the centered targets were divided by (ones if ``normalize_y=False``).
    n_iter_ : int
        Number of Gauss-Newton steps taken (at least 1).
    loss_curve_ : list of float
        Objective after each accepted step.
    history_ : list of dict
        One dict per Gauss-Newton step with keys ``step``, ``loss``, ``trial_loss``,
        ``accepted``, ``damping``, ``solver``, ``preconditioner``,
        ``inner_iterations``, ``inner_residual``, ``inner_tol`` and ``seconds``.
    converged_ : bool
        Whether the last fit met its stopping criterion before ``max_iter``.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit``, when ``X`` has string column names.

    See Also
    --------
    sklearn.kernel_ridge.KernelRidge : Kernel ridge regression, the infinite-width limit.
    sklearn.neural_network.MLPRegressor : A network trained by first-order methods.

    References
    ----------
    .. [1] T. Cai, R. Gao, J. Hou, S. Chen, D. Wang, D. He, Z. Zhang, L. Wang. "Gram-Gauss-
       Newton Method: Learning Overparameterized Neural Networks for Regression
       Problems", arXiv:1905.11675, 2019.
    .. [2] J. van den Brand, B. Peng, Z. Song, O. Weinstein. "Training (Overparametrized)
       Neural Networks in Near-Linear Time", ITCS 2021, arXiv:2006.11648.

    Examples
    --------
    >>> from sklearn.datasets import make_friedman1
    >>> from skgn import SketchedGNRegressor
    >>> X, y = make_friedman1(n_samples=200, random_state=0)
    >>> reg = SketchedGNRegressor(n_neurons=256, alpha=0.1, random_state=0).fit(X, y)
    >>> reg.predict(X[:2]).shape
    (2,)
    """

    def __init__(
        self,
        n_neurons=1024,
        *,
        alpha=1.0,
        solver="auto",
        preconditioner="auto",
        sketch="tensor_srht",
        sketch_size=3.0,
        n_landmarks=500,
        max_iter=100,
        tol=1e-3,
        init="symmetric",
        init_scale=1.0,
        fit_intercept=True,
        normalize_y=True,
        warm_start=False,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.n_neurons = n_neurons
        self.alpha = alpha
        self.solver = solver
        self.preconditioner = preconditioner
        self.sketch = sketch
        self.sketch_size = sketch_size
        self.n_landmarks = n_landmarks
        self.max_iter = max_iter
        self.tol = tol
        self.init = init
        self.init_scale = init_scale
        self.fit_intercept = fit_intercept
        self.normalize_y = normalize_y
        self.warm_start = warm_start
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _check_params(self):
        """Validate the constructor parameters; return them as a dict."""
        params = {
            "n_neurons": check_int(self.n_neurons, "n_neurons", low=1),
            "alpha": check_real(self.alpha, "alpha", low=0.0),
            "solver": check_option(self.solver, "solver", ("auto", *SOLVERS)),
            "preconditioner": check_option(
                self.preconditioner, "preconditioner", ("auto", *PRECONDITIONERS)
            ),
            "sketch": check_option(self.sketch, "sketch", tuple(SKETCHES)),
            "sketch_size": check_real(self.sketch_size, "sketch_size", low=1.0,
                                      low_inclusive=False),
            "n_landmarks": check_int(self.n_landmarks, "n_landmarks", low=1),
            "n_jobs": check_int(self.n_jobs, "n_jobs", allow_none=True),
            "max_iter": check_int(self.max_iter, "max_iter", low=1),
            "tol": check_real(self.tol, "tol", low=0.0),
            "init": check_option(self.init, "init", _INITS),
            "init_scale": check_real(self.init_scale, "init_scale", low=0.0, low_inclusive=False),
            "fit_intercept": check_option(self.fit_intercept, "fit_intercept", (True, False)),
            "normalize_y": check_option(self.normalize_y, "normalize_y", (True, False)),
            "warm_start": check_option(self.warm_start, "warm_start", (True, False)),
            "verbose": check_int(self.verbose, "verbose", low=0),
        }
        if params["init"] == "symmetric" and params["n_neurons"] % 2:
            raise ValueError(
                f"init='symmetric' pairs neurons, so n_neurons must be even; got "
                f"n_neurons={params['n_neurons']}. Use an even width or init='random'."
            )
        return params

    def fit(self, X, y, sample_weight=None):
        """Fit the network by Gauss-Newton steps.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; standardized features work best.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights ``s_i`` of the squared errors.

        Returns
        -------
        self : SketchedGNRegressor
            The fitted estimator.
        """
        params = self._check_params()
        X, y = validate_data(
            self,
            X,
            y,
            dtype=[np.float64, np.float32],
            multi_output=True,
            y_numeric=True,
            ensure_min_samples=2,
        )
        sample_weight = check_sample_weight(sample_weight, X.shape[0])
        Y = np.array(y, dtype=np.float64, copy=True).reshape(X.shape[0], -1)
        X_tilde = add_bias_feature(X, params["fit_intercept"])
        n_inputs, n_outputs = X_tilde.shape[1], Y.shape[1]
        m = params["n_neurons"]

        if params["warm_start"] and hasattr(self, "weights_"):
            expected = (m, n_inputs)
            if self.weights_.shape != expected or self.n_outputs_ != n_outputs:
                raise ValueError(
                    "warm_start=True needs the same n_neurons, fit_intercept, number of "
                    f"features and outputs as the previous fit: weights have shape "
                    f"{self.weights_.shape} and {self.n_outputs_} output(s), this fit "
                    f"needs {expected} and {n_outputs}. Set warm_start=False to start over."
                )
            W_start, W0, signs = self.weights_, self.initial_weights_, self.output_signs_
            # Keep the target scaling the weights were trained for.
            y_mean, y_scale = self.y_mean_, self.y_scale_
            n_iter, loss_curve, history = self.n_iter_, self.loss_curve_, self.history_
            state = self._gn_state
        else:
            rng = check_random_state(self.random_state)
            W0, signs = _init_weights(
                rng, params["init"], params["init_scale"], m, n_inputs, n_outputs
            )
            W_start = W0
            y_mean, y_scale = _target_scaling(Y, sample_weight, params["normalize_y"])
            n_iter, loss_curve, history, state = 0, [], [], None
        Y = (Y - y_mean) / y_scale

        solver, precond_name = _resolve_paths(
            params["solver"], params["preconditioner"], X.shape[0] * n_outputs, m, n_inputs,
            params["sketch_size"], params["n_landmarks"],
        )
        precond_seed = check_random_state(self.random_state).randint(2**31 - 1)
        factories = {
            "none": None,
            "jacobi": PRECONDITIONERS["jacobi"],
            "sketch": partial(
                SketchPreconditioner, params["sketch"], oversampling=params["sketch_size"],
                random_state=precond_seed, n_jobs=params["n_jobs"],
            ),
            "nystrom": partial(
                NystromPreconditioner, params["n_landmarks"], random_state=precond_seed
            ),
        }
        result = gauss_newton(
            TwoLayerReLU(signs),
            W_start,
            W0,
            X_tilde,
            Y,
            sample_weight=sample_weight,
            alpha=params["alpha"],
            solver=solver,
            preconditioner=factories[precond_name],
            max_iter=params["max_iter"],
            tol=params["tol"],
            state=state,
            verbose=params["verbose"],
        )
        for entry in result.history:
            entry["step"] += n_iter

        self.weights_ = result.params
        self.initial_weights_ = W0
        self.output_signs_ = signs
        self.n_outputs_ = n_outputs
        self.y_mean_, self.y_scale_ = y_mean, y_scale
        self._y_ndim = np.ndim(y)
        self.n_iter_ = n_iter + result.n_iter
        self.loss_curve_ = list(loss_curve) + result.loss_curve
        self.history_ = list(history) + result.history
        self.converged_ = result.converged
        self._gn_state = result.state
        if not result.converged:
            warnings.warn(
                f"SketchedGNRegressor stopped after max_iter={params['max_iter']} "
                f"Gauss-Newton steps without meeting tol={params['tol']} (objective "
                f"{result.loss:.6g}). Increase max_iter, loosen tol or raise alpha.",
                ConvergenceWarning,
            )
        return self

    def predict(self, X):
        """Predict with the trained network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predictions, shaped like the ``y`` given to ``fit``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        network = TwoLayerReLU(self.output_signs_)
        m = self.weights_.shape[0]
        # Rows per chunk so the n x m activations stay within working_memory (MiB).
        chunk = max(1, int(get_config()["working_memory"] * 2**20 // (8 * m)))
        out = np.empty((X.shape[0], self.n_outputs_))
        for rows in gen_batches(X.shape[0], chunk):
            X_tilde = add_bias_feature(X[rows], self.fit_intercept)
            out[rows] = network.predict(self.weights_, X_tilde)
        out = out * self.y_scale_ + self.y_mean_
        return out.ravel() if self._y_ndim == 1 else out
