"""The scikit-learn estimator :class:`SketchedGNRegressor`."""

import os
import warnings
from functools import partial

import numpy as np
from sklearn import get_config
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state, gen_batches
from sklearn.utils.validation import check_is_fitted, validate_data

from ._gauss_newton import gauss_newton
from ._monitor import EarlyStopping, FitMonitor
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

try:  # scikit-learn 1.9 ships an experimental callback API; its names were in flux.
    from sklearn.callback import CallbackSupportMixin, with_callbacks
except ImportError:  # pragma: no cover - older scikit-learn

    class CallbackSupportMixin:
        """Stand-in when ``sklearn.callback`` is missing: no callbacks."""

    def with_callbacks(method):
        """Identity decorator when ``sklearn.callback`` is missing."""
        return method


# Inner iterations the cost model assumes for a preconditioned solve: measured 13-17
# (sketch, oversampling 3) and 12-19 (Nystrom, 500 landmarks) to rtol 1e-6 at
# n = 1k..8k, m = 4096, d = 20 (benchmarks/bench_paths.py), with margin.
_ITERS_SKETCH, _ITERS_NYSTROM = 20, 25
# A Jacobian product runs at a fraction of GEMM speed (memory-bound); weight its flops.
_JAC_PRODUCT_PENALTY = 2.0


def _available_memory():
    """Half the physical memory in bytes (the budget of the cost model)."""
    try:
        return 0.5 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def path_costs(n_rows, n_neurons, n_inputs, *, sketch_size=3.0, n_landmarks=500):
    """Estimate the flops and bytes of one Gauss-Newton step on each solver path.

    ``N = n_rows`` (samples times outputs), ``m = n_neurons``, ``d = n_inputs``,
    ``P = m d``, ``s = sketch_size N``, ``L = min(n_landmarks, N)``; a Jacobian product
    (``2 N P`` flops) is weighted by 2 because it runs memory-bound.

    - ``('cholesky', 'none')``: Gram by the tensor trick and its Cholesky factor,
      ``2 N^2 (m + d) + N^3 / 3`` flops, ``16 N^2`` bytes.
    - ``('cg', 'nystrom')``: ``L`` Gram columns, an SVD of ``N x L`` and about 25 PCG
      iterations, ``2 N L (m + d) + 2 N L^2 + 25 (4 N P)`` flops, ``24 N L`` bytes.
    - ``('lsqr', 'sketch')``: a tensor sketch, the Cholesky factor of the ``s x N`` sketch
      and about 20 LSQR iterations, ``2 s N^2 + N^3 / 3 + 20 (4 N P)`` flops,
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
    """Resolve ``'auto'`` with the cost model: the cheapest path whose memory fits.

    A path is ``(solver, preconditioner)``; the preconditioner's cost does not depend on
    whether CG or LSQR runs on it. An explicit preconditioner asks for an iterative
    solver; an explicit iterative solver takes the cheapest preconditioner.
    """
    if solver == "cholesky":
        return "cholesky", "none"
    if solver != "auto" and preconditioner != "auto":
        return solver, preconditioner
    costs = path_costs(n_rows, n_neurons, n_inputs, sketch_size=sketch_size,
                       n_landmarks=n_landmarks)
    if solver != "auto" or preconditioner != "auto":
        costs = {k: v for k, v in costs.items() if k[0] != "cholesky"}
    budget = _available_memory() if memory is None else memory
    fitting = {k: v for k, v in costs.items() if v[1] <= budget}
    if fitting:
        best = min(fitting, key=lambda k: fitting[k][0])
    else:
        best = min(costs, key=lambda k: costs[k][1])
    return (best[0] if solver == "auto" else solver,
            best[1] if preconditioner == "auto" else preconditioner)


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


def _fitted_attributes(W, *, W0, signs, y_mean, y_scale, y_ndim, n_features_in):
    """Fitted attributes of an estimator stopped at weights ``W`` (for callbacks)."""
    return {
        "weights_": np.array(W, copy=True), "initial_weights_": W0, "output_signs_": signs,
        "n_outputs_": signs.shape[1], "y_mean_": y_mean, "y_scale_": y_scale,
        "_y_ndim": y_ndim, "n_features_in_": n_features_in,
    }


def _split(X, Y, sample_weight, fraction, seed):
    """Hold out ``fraction`` of the rows (for early stopping)."""
    arrays = [X, Y] + ([] if sample_weight is None else [sample_weight])
    parts = train_test_split(*arrays, test_size=fraction, random_state=seed)
    if sample_weight is None:
        parts += [None, None]
    X_tr, X_val, Y_tr, Y_val, sw_tr, sw_val = parts
    if X_tr.shape[0] < 2:
        raise ValueError(
            f"early_stopping leaves {X_tr.shape[0]} training sample(s) with "
            f"validation_fraction={fraction}; need at least 2. Use more data or a "
            "smaller validation_fraction."
        )
    return X_tr, X_val, Y_tr, Y_val, sw_tr, sw_val


def _preconditioner_factory(name, params, seed):
    """A callable returning a fresh, unfitted preconditioner (None for 'none')."""
    if name == "none":
        return None
    if name == "sketch":
        return partial(SketchPreconditioner, params["sketch"], oversampling=params["sketch_size"],
                       random_state=seed, n_jobs=params["n_jobs"])
    if name == "nystrom":
        return partial(NystromPreconditioner, params["n_landmarks"], random_state=seed)
    return PRECONDITIONERS[name]


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


class SketchedGNRegressor(CallbackSupportMixin, RegressorMixin, BaseEstimator):
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
        precision times its starting value. On diabetes and Friedman #1 the test R^2
        changed by at most 0.0007 for ``tol`` from 1e-2 to 1e-6, while the fit took up to
        2.7x longer (``benchmarks/design.md``).
    init : {'symmetric', 'random'}, default='symmetric'
        ``'symmetric'`` draws neurons in pairs with equal weights and opposite output
        signs, so the network starts identically zero and a wide, regularized fit
        approaches neural-tangent kernel ridge regression; ``'random'`` draws every
        neuron independently.
    init_scale : float, default=1.0
        Standard deviation of the initial weights ``W0``. It sets how far the weights
        move relative to their start: around 1 the fit stays in the lazy (kernel)
        regime, matches NTK kernel ridge regression and interpolates in a few steps;
        smaller values let the activation patterns, and so the features, change. With
        0.1 the test R^2 rose from 0.912 to 0.940 on Friedman #1 (n=4000) and from
        0.979 to 0.984 on a random teacher network, at 1.3-2.0x the fit time
        (``benchmarks/design.md``).
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
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data, score every step on it
        (R^2), stop when the score has not improved by ``tol`` for ``n_iter_no_change``
        steps, and keep the weights of the best step.
    validation_fraction : float, default=0.1
        Share of the training data held out when ``early_stopping`` is True.
    n_iter_no_change : int, default=10
        Patience of early stopping, in Gauss-Newton steps.
    n_jobs : int, default=None
        Parallel jobs for sketch blocks (through joblib, so
        ``joblib.parallel_config(backend="dask")`` reaches a dask cluster). Results do
        not depend on ``n_jobs``.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, output signs, sketches and landmarks.
    verbose : int, default=0
        0 is silent; 1 prints one line per Gauss-Newton step (step, objective,
        damping, solver, inner iterations, seconds); 2 adds the inner solver's detail
        (preconditioner, inner residual and tolerance, trial objective).
    progress_bar : bool, default=False
        Show a tqdm progress bar over the Gauss-Newton steps (``pip install
        skgn[progress]``).

    Attributes
    ----------
    weights_ : ndarray of shape (n_neurons, n_features + fit_intercept)
        Trained hidden weights; the last column is the bias if ``fit_intercept``.
    initial_weights_ : ndarray of shape (n_neurons, n_features + fit_intercept)
        The initialization ``W0`` (the anchor of the ridge penalty).
    output_signs_ : ndarray of shape (n_neurons, n_outputs)
        The fixed output signs.
    n_outputs_ : int
        Number of targets.
    y_mean_ : ndarray of shape (n_outputs,)
        Mean subtracted from the targets (zeros if ``normalize_y=False``).
    y_scale_ : ndarray of shape (n_outputs,)
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
        Whether the last fit met its stopping criterion (or early stopping) before
        ``max_iter``.
    validation_scores_ : list of float or None
        Validation R^2 after each Gauss-Newton step (``early_stopping`` only).
    validation_loss_curve_ : list of float or None
        Validation mean squared error after each step, in the units of ``y``
        (``early_stopping`` only).
    best_validation_score_ : float or None
        Best validation R^2; its weights are the fitted ``weights_``.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features,)
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
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        n_jobs=None,
        random_state=None,
        verbose=0,
        progress_bar=False,
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
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.progress_bar = progress_bar

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
            "early_stopping": check_option(self.early_stopping, "early_stopping", (True, False)),
            "validation_fraction": check_real(
                self.validation_fraction, "validation_fraction", low=0.0, low_inclusive=False,
                high=0.5,
            ),
            "n_iter_no_change": check_int(self.n_iter_no_change, "n_iter_no_change", low=1),
            "verbose": check_int(self.verbose, "verbose", low=0),
            "progress_bar": check_option(self.progress_bar, "progress_bar", (True, False)),
        }
        if params["init"] == "symmetric" and params["n_neurons"] % 2:
            raise ValueError(
                f"init='symmetric' pairs neurons, so n_neurons must be even; got "
                f"n_neurons={params['n_neurons']}. Use an even width or init='random'."
            )
        return params

    @with_callbacks
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
        callback_ctx = None
        if hasattr(self, "_init_callback_context"):
            callback_ctx = self._init_callback_context(max_subtasks=params["max_iter"])
            callback_ctx.call_on_fit_task_begin(
                estimator=self, X=X, y=y, metadata={"sample_weight": sample_weight}
            )
        Y = np.array(y, dtype=np.float64, copy=True).reshape(X.shape[0], -1)
        rng = check_random_state(self.random_state)
        init_seed, precond_seed, split_seed = rng.randint(2**31 - 1, size=3)
        validation = None
        if params["early_stopping"]:
            X, X_val, Y, Y_val, sample_weight, sw_val = _split(
                X, Y, sample_weight, params["validation_fraction"], split_seed
            )
            validation = (add_bias_feature(X_val, params["fit_intercept"]), Y_val, sw_val)
        X_tilde = add_bias_feature(X, params["fit_intercept"])
        start = self._start(params, X_tilde, Y, sample_weight, init_seed)
        Y = (Y - start["y_mean"]) / start["y_scale"]
        network = TwoLayerReLU(start["signs"])

        solver, precond_name = _resolve_paths(
            params["solver"], params["preconditioner"], Y.size, params["n_neurons"],
            X_tilde.shape[1], params["sketch_size"], params["n_landmarks"],
        )
        monitor = self._monitor(params, network, start, validation, callback_ctx, X, y,
                                sample_weight)
        try:
            result = gauss_newton(
                network,
                start["W"],
                start["W0"],
                X_tilde,
                Y,
                sample_weight=sample_weight,
                alpha=params["alpha"],
                solver=solver,
                preconditioner=_preconditioner_factory(precond_name, params, precond_seed),
                max_iter=params["max_iter"],
                tol=params["tol"],
                state=start["state"],
                monitor=monitor,
            )
        finally:
            monitor.close()
        self._store(params, start, result, monitor.early_stopping, np.ndim(y))
        if callback_ctx is not None:
            callback_ctx.call_on_fit_task_end(
                estimator=self, X=X, y=y, metadata={"sample_weight": sample_weight},
                reconstruction_attributes=lambda: monitor.reconstruct(self.weights_),
            )
        return self

    def _start(self, params, X_tilde, Y, sample_weight, seed):
        """Initial weights, anchor, signs, target scaling and LM state of this fit."""
        m, n_inputs, n_outputs = params["n_neurons"], X_tilde.shape[1], Y.shape[1]
        if params["warm_start"] and hasattr(self, "weights_"):
            expected = (m, n_inputs)
            if self.weights_.shape != expected or self.n_outputs_ != n_outputs:
                raise ValueError(
                    "warm_start=True needs the same n_neurons, fit_intercept, number of "
                    f"features and outputs as the previous fit: weights have shape "
                    f"{self.weights_.shape} and {self.n_outputs_} output(s), this fit "
                    f"needs {expected} and {n_outputs}. Set warm_start=False to start over."
                )
            # Keep the anchor, signs and target scaling the weights were trained for.
            return {
                "W": self.weights_, "W0": self.initial_weights_, "signs": self.output_signs_,
                "y_mean": self.y_mean_, "y_scale": self.y_scale_, "state": self._gn_state,
                "n_iter": self.n_iter_, "loss_curve": self.loss_curve_,
                "history": self.history_,
                "validation_scores": self.validation_scores_ or [],
                "validation_losses": self.validation_loss_curve_ or [],
            }
        W0, signs = _init_weights(
            np.random.RandomState(seed), params["init"], params["init_scale"], m, n_inputs,
            n_outputs,
        )
        y_mean, y_scale = _target_scaling(Y, sample_weight, params["normalize_y"])
        return {
            "W": W0, "W0": W0, "signs": signs, "y_mean": y_mean, "y_scale": y_scale,
            "state": None, "n_iter": 0, "loss_curve": [], "history": [],
            "validation_scores": [], "validation_losses": [],
        }

    def _monitor(self, params, network, start, validation, callback_ctx, X, y, sample_weight):
        """Build the per-step monitor: verbose, progress bar, early stopping, callbacks."""
        early = None
        if validation is not None:
            X_val, Y_val, sw_val = validation
            y_mean, y_scale = start["y_mean"], start["y_scale"]
            early = EarlyStopping(
                lambda W, Xt: network.predict(W, Xt) * y_scale + y_mean,
                X_val, Y_val, sw_val, params["tol"], params["n_iter_no_change"], start["W"],
            )
        progress = None
        if params["progress_bar"]:
            try:
                from tqdm.auto import tqdm
            except ImportError as exc:
                raise ImportError(
                    "progress_bar=True needs tqdm: pip install 'skgn[progress]'."
                ) from exc
            progress = tqdm(total=params["max_iter"], desc="Gauss-Newton", unit="step")
        reconstruct = partial(
            _fitted_attributes, W0=start["W0"], signs=start["signs"], y_mean=start["y_mean"],
            y_scale=start["y_scale"], y_ndim=np.ndim(y), n_features_in=self.n_features_in_,
        )
        return FitMonitor(
            verbose=params["verbose"],
            progress=progress,
            early_stopping=early,
            callback_context=callback_ctx,
            callback_kwargs={"estimator": self, "X": X, "y": y,
                             "metadata": {"sample_weight": sample_weight}},
            reconstruct=reconstruct,
            step_offset=start["n_iter"],
        )

    def _store(self, params, start, result, early, y_ndim):
        """Set the fitted attributes from a Gauss-Newton result."""
        for entry in result.history:
            entry["step"] += start["n_iter"]
        W = result.params if early is None else early.best_W
        self.weights_ = W
        self.initial_weights_ = start["W0"]
        self.output_signs_ = start["signs"]
        self.n_outputs_ = start["signs"].shape[1]
        self.y_mean_, self.y_scale_ = start["y_mean"], start["y_scale"]
        self._y_ndim = y_ndim
        self.n_iter_ = start["n_iter"] + result.n_iter
        self.loss_curve_ = list(start["loss_curve"]) + result.loss_curve
        self.history_ = list(start["history"]) + result.history
        self._gn_state = result.state
        if early is None:
            self.validation_scores_ = self.validation_loss_curve_ = None
            self.best_validation_score_ = None
        else:
            self.validation_scores_ = list(start["validation_scores"]) + early.scores
            self.validation_loss_curve_ = list(start["validation_losses"]) + early.losses
            self.best_validation_score_ = early.best_score
        self.converged_ = result.converged or bool(early is not None and early.stopped)
        if not self.converged_ and result.message == "max_iter reached":
            warnings.warn(
                f"SketchedGNRegressor stopped after max_iter={params['max_iter']} "
                f"Gauss-Newton steps without meeting tol={params['tol']} (objective "
                f"{result.loss:.6g}). Increase max_iter, loosen tol or raise alpha.",
                ConvergenceWarning,
            )

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
