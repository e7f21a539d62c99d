"""The scikit-learn estimator :class:`SketchedGNRegressor`.

``fit`` validates, resolves ``'auto'``, builds the network, loss, solver and
preconditioner, and hands them to :func:`~skgn._gauss_newton.gauss_newton`; the machinery
lives in the modules below this one (see the developer page of the docs).
"""

import functools
import numbers
import warnings
from dataclasses import replace

import numpy as np
from scipy import stats
from sklearn import get_config
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state, gen_batches
from sklearn.utils.validation import check_is_fitted

from . import _dask
from ._cost_model import (check_memory, exact_step_cheaper, landmark_limit,
                          nystrom_iterations, nystrom_landmarks, refit_iterations,
                          resolve_paths)
from ._features import (LearnedFeatures, agop_feature_map, finite_difference_gradients,
                        gradient_outer_product)
from ._fit_state import FitState, feature_scaling, standardized, target_scaling
from ._gauss_newton import _LATER_SOLVE_BUDGET, INNER_RTOL_MAX, gauss_newton
from ._losses import SquaredLoss
from ._monitor import (CallbackSupportMixin, FirstStepProbe, build_monitor, split_validation,
                       with_callbacks)
from ._deep import DeepReLU
from ._network import CenteredNetwork, TwoLayerReLU, add_bias_feature, tile_rows
from ._sparse import FiredNeuronIndex, SparseTwoLayerReLU
from ._parallel import (blas_threads_for, half_threads, selection_threads,
                        single_blas_thread)
from ._preconditioners import (PRECONDITIONERS, ParameterNystromPreconditioner,
                               make_preconditioner)
from ._sketching import SKETCHES
from ._solvers import SOLVERS, solve_parameter_cg
from ._selection import DEFAULT_ALPHAS, DEFAULT_INPUT_SCALES, SELECTION_ROWS, select
from ._validation import (
    BOOLEAN,
    check_squared_norms,
    AnyOf,
    Grid,
    InvalidParameterError,
    Interval,
    FloatDType,
    Options,
    check_sample_weight,
    validate_input,
    validate_params,
)

_REAL, _INT = numbers.Real, numbers.Integral
# Half-width of the fired-neuron index's borderline band, in units of init_scale: a
# neuron is rebuilt once it has moved this far (in norm) from where it was indexed.
_INDEX_BAND = 0.1

# Bytes of one row block's unpacked pattern (0/1 bytes and their floats) with
# block_size='auto' on inputs whose float pattern exceeds working_memory: small enough to
# stay in cache, where a blocked product runs as fast as one on the float pattern.
_BLOCK_BYTES = 4 * 2**20
# Fewest rows per 'auto' block: each block of J^T z also adds an m x d~ result, which
# a few rows would not amortize (at m = 131,072 the cache rule gives 3 rows).
_MIN_BLOCK_ROWS = 256

# One spec per constructor parameter; ``random_state`` is checked by check_random_state.
_PARAMETERS = {
    "n_neurons": AnyOf((Options(("auto",)), Interval(_INT, low=1))),
    "depth": Interval(_INT, low=1),
    "activation": Options(("relu", "shifted_relu")),
    "shift": AnyOf((Options(("auto",)), Interval(_REAL, low=0.0))),
    "pattern": Options(("auto", "dense", "sparse", "indexed")),
    "alpha": AnyOf((Options(("auto",)), Interval(_REAL, low=0.0))),
    "alphas": Grid(low=0.0),
    "input_scale": AnyOf((Options(("auto",)), Interval(_REAL, low=0.0, closed="neither"))),
    "input_scales": Grid(low=0.0),
    "agop_rounds": AnyOf((Options(("auto",)), Interval(_INT, low=0))),
    "solver": Options(("auto", *SOLVERS)),
    "preconditioner": Options(("auto", *PRECONDITIONERS)),
    "sketch": Options(tuple(SKETCHES)),
    "sketch_size": Interval(_REAL, low=1.0, closed="neither"),
    "n_landmarks": AnyOf((Options(("auto",)), Interval(_INT, low=1))),
    "dtype": AnyOf((Options(("auto",)), FloatDType())),
    "block_size": AnyOf((Options(("auto",)), Interval(_INT, low=1))),
    "curvature_rows": AnyOf((Options(("auto",)), Interval(_INT, low=1, allow_none=True))),
    "max_memory": Interval(_REAL, low=0.0, closed="neither", allow_none=True),
    "max_iter": Interval(_INT, low=1),
    "tol": Interval(_REAL, low=0.0),
    "init": Options(("auto", "centered", "symmetric", "random")),
    "init_scale": Interval(_REAL, low=0.0, closed="neither"),
    "fit_intercept": BOOLEAN,
    "normalize_y": BOOLEAN,
    "standardize": BOOLEAN,
    "warm_start": BOOLEAN,
    "early_stopping": BOOLEAN,
    "validation_fraction": Interval(_REAL, low=0.0, high=0.5, closed="right"),
    "n_iter_no_change": Interval(_INT, low=1),
    "n_jobs": AnyOf((Interval(_INT, high=-1, allow_none=True), Interval(_INT, low=1))),
    "verbose": Interval(_INT, low=0),
    "progress_bar": BOOLEAN,
}


def expected_failed_checks(estimator):
    """The scikit-learn common checks this configuration is known to fail, with reasons.

    Pass it as ``expected_failed_checks`` to
    :func:`sklearn.utils.estimator_checks.check_estimator` or
    ``parametrize_with_checks``.

    Parameters
    ----------
    estimator : SketchedGNRegressor
        The configuration.

    Returns
    -------
    failures : dict
        ``{check name: reason}``.
    """
    reasons = []
    if estimator.alpha == "auto" or estimator.input_scale == "auto":
        reasons.append(
            "alpha='auto' and input_scale='auto' are chosen by leave-one-out error, as in "
            "RidgeCV: leaving out one of two repeated rows keeps the other, leaving out a "
            "row of weight 2 removes it, so the scores (and possibly the choice) differ. "
            "With numbers for both the check passes."
        )
    if estimator.preconditioner in ("sketch", "jacobi"):
        reasons.append(
            f"With preconditioner={estimator.preconditioner!r} the inner solves are inexact "
            "(relative tolerance 0.03 at the first Gauss-Newton step): repeated rows and "
            "integer weights define the same Gauss-Newton system but precondition it "
            "differently (a random sketch; a diagonal of other rows), so the iterates "
            "differ within the inner tolerance, not to rtol 1e-7. The identity and Nystrom "
            "paths pass."
        )
    if _is_float32(estimator.dtype):
        reasons.append(
            "With dtype=float32 the Jacobian products are rounded to single precision, so "
            "repeated rows and integer weights agree to about 1e-6, not to rtol 1e-7."
        )
    if not reasons:
        return {}
    # Sparse X is densified, so the sparse variant of the check fails alike.
    return {f"check_sample_weight_equivalence_on_{kind}_data": " ".join(reasons)
            for kind in ("dense", "sparse")}


# dtype='auto' computes in float32 from this many sample-neuron pairs (a 4 MiB float32
# pattern): there the products are memory-bound and float32 fits took 15-63% less time
# at the same test R^2 on the e2e sets (benchmarks/float32.md); below it (diabetes,
# 331 x 1024) float32 saved nothing.
_FLOAT32_PAIRS = 2**20
# Rows the average gradient outer product of agop_rounds is taken over (an average: a
# sample of this size estimates it well for the d of tabular data).
_AGOP_ROWS = 2000
# agop_rounds='auto' keeps its map when the best leave-one-out error of the tangent
# kernel on the mapped inputs is at most this times the unmapped one. The map costs
# about one more fit, so it must promise much: in benchmarks/RESULTS.md the ratio was
# 0.60 on Friedman #1 (test R^2 0.922 -> 0.946), 0.66 on make_classification (accuracy
# 0.964 -> 0.973) and 0.96-1.08 on the other regression sets; ad hoc, 0.78 on digits
# (accuracy +0.007 for about 1.5x the fit time).
_AGOP_ERROR_RATIO = 0.75
# agop_rounds='auto' learns a map only from this many rows per entry of the symmetric
# d x d map: the map is fitted to the rows its leave-one-out gain is scored on, and with
# few rows per entry that gain is mostly fit (breast cancer, 426 rows for 465 entries:
# error ratio 0.30, the same test accuracy, a worse log-loss; digits, 1,347 rows for
# 2,080: 0.78 and +0.007 accuracy; Friedman #1 and make_classification have 55 and 71
# rows per entry).
_AGOP_ROWS_PER_ENTRY = 10
# Rows the probe scores both inputs on: an eighth of the selection's eigendecomposition
# cost per scale, twice, against one selection's at SELECTION_ROWS.
_PROBE_ROWS = 250
# curvature_rows='auto': from twice this many rows a Gauss-Newton step solves its damped
# system on a uniform sample of this many (at least 4 per parameter; sub-sampled
# Newton), the gradient still on all.
_CURVATURE_ROWS = 200_000
# Rows per trained parameter of that sample, and of the parameter-space preconditioner's
# fit.
_ROWS_PER_PARAMETER = 4
# curvature_rows='auto' with fewer rows than parameters: past this many modelled PCG
# iterations on the sample-space Nystrom preconditioner (twice the cost model's 25), the
# steps are solved in parameter space, whose preconditioner takes one more product with
# the curvature (digits, 1,347 x 10 outputs, alpha 1e-4: 187 iterations after a
# 500-landmark sample-space fit, 27 after a 50-landmark parameter-space fit).
_PARAMETER_SPACE_ITERATIONS = 50

# n_neurons='auto': the width up to _WIDTH_PAIRS / _AUTO_WIDTH samples, then the width
# that keeps _WIDTH_PAIRS sample-neuron pairs, never below _MIN_AUTO_WIDTH.
_AUTO_WIDTH, _WIDTH_PAIRS, _MIN_AUTO_WIDTH = 1024, 2**23, 128
# n_landmarks='auto' without a selection spectrum (alpha and input_scale given).
_DEFAULT_LANDMARKS = 500


def _memory_bytes(max_memory):
    """The cost model's budget in bytes for ``max_memory`` in MiB (``None`` stays)."""
    return None if max_memory is None else max_memory * 2**20


def _resolve_width(n_neurons, n_samples):
    """The hidden width: ``n_neurons``, or for ``'auto'`` one that bounds a product's cost.

    ``'auto'`` means ``_AUTO_WIDTH = 1024`` neurons up to ``_WIDTH_PAIRS / 1024 = 8,192``
    samples, and beyond that the even width nearest above ``_WIDTH_PAIRS / n`` (at least
    ``_MIN_AUTO_WIDTH = 128``), which keeps the ``n x m`` activation pattern, and with it
    every Jacobian product, at the size of 8,192 samples at 1024 neurons. Below that size
    the network is over-parametrized (``m d~ >= n`` for ``d~ >= 8``) and a wide one, near
    its tangent kernel, fits best; above it the rows outnumber the parameters, and on the
    benchmark's two larger sets a narrower network was both faster and as accurate
    (``benchmarks/RESULTS.md`` before and after: 37,500 rows, test R^2 0.9842 in 9.10 s
    at 1024 neurons, 0.9860 in 2.45 s at 224; a 15,000-row classification, accuracy
    0.9626 in 14.16 s, 0.9640 in 3.22 s at 560).
    """
    if n_neurons != "auto":
        return int(n_neurons)
    width = -(-_WIDTH_PAIRS // max(int(n_samples), 1))
    width += width % 2
    return int(min(_AUTO_WIDTH, max(_MIN_AUTO_WIDTH, width)))


def _resolve_dtype(dtype, n_rows, n_neurons, depth):
    """The compute precision: ``dtype``, or for ``'auto'`` float32 on large problems.

    ``'auto'`` means float32 for a two-layer network with at least ``_FLOAT32_PAIRS``
    (row, neuron) pairs and float64 otherwise (the deep network computes in float64).
    """
    if dtype != "auto":
        return np.dtype(dtype)
    large = depth == 1 and n_rows * n_neurons >= _FLOAT32_PAIRS
    return np.dtype(np.float32 if large else np.float64)


def _resolve_init(init, n_rows, n_neurons, n_inputs, depth):
    """How the network starts at zero: ``init``, or for ``'auto'`` by the parameter count.

    ``'auto'`` means ``'centered'`` when the two-layer network has at least as many
    parameters as fitted values (``m d~ >= n k``, the over-parametrized regime: the fit
    stays near its tangent-kernel solution, whose kernel is better averaged by ``m``
    independent neurons), and ``'symmetric'`` otherwise (the steps are large, and paired
    neurons make the network odd in the step, so its linearization error is of third
    order, not second); ``'centered'`` with an odd width or ``depth >= 2``.
    """
    if init != "auto":
        return init
    if depth == 1 and n_neurons * n_inputs < n_rows and n_neurons % 2 == 0:
        return "symmetric"
    return "centered"


def _resolve_shift(p):
    """The shifted ReLU's ``t`` (0 for the plain ReLU).

    ``'auto'``: ``sqrt(0.4 log m)`` for the two-layer network (the papers' choice, about
    2% of the neurons fire at ``m = 1024``); with ``depth >= 2`` the ``t`` at which about
    ``sqrt(m)`` neurons of each layer fire, ``Q(t) = m^(-1/2)``, so that a product through
    an ``m x m`` layer costs ``O(n m^1.5)``.
    """
    if p["activation"] != "shifted_relu":
        return 0.0
    if p["shift"] != "auto":
        return float(p["shift"])
    m = p["n_neurons"]
    if p["depth"] > 1:
        return float(stats.norm.isf(m**-0.5))
    return float(np.sqrt(0.4 * np.log(m)))


def _resolve_block_size(block_size, n_samples, n_neurons, dtype):
    """Rows per block of the ``n x m`` work, or ``None`` for all rows at once.

    ``'auto'``: all rows while the float pattern (``n m`` values of ``dtype``) takes at
    most scikit-learn's ``working_memory``, else blocks whose unpacked pattern takes
    about ``_BLOCK_BYTES`` (at least ``_MIN_BLOCK_ROWS`` rows). Blocks are whole tiles
    (:func:`~skgn._network.tile_rows`): a number, and the cache-sized size, are rounded
    up to a multiple of the tile.
    """
    if block_size == "auto":
        itemsize = np.dtype(dtype).itemsize
        if n_samples * n_neurons * itemsize <= get_config()["working_memory"] * 2**20:
            return None
        block_size = max(_MIN_BLOCK_ROWS, _BLOCK_BYTES // (n_neurons * (itemsize + 1)))
    tile = tile_rows(n_neurons)
    return -(-int(block_size) // tile) * tile


def _curvature_conditions(p):
    """``(dense, paths)``: the two conditions of a step solved in parameter space.

    ``dense``: the dense two-layer network (the only one whose Jacobian is taken on
    other rows than the fit's); ``paths``: the ``'auto'`` solver and preconditioner.
    """
    dense = p["depth"] == 1 and (_resolve_shift(p) == 0 or p["pattern"] == "dense")
    return dense, p["solver"] == "auto" and p["preconditioner"] == "auto"


def _parameter_space_allowed(p):
    """Whether ``curvature_rows='auto'`` may solve the steps in parameter space."""
    return all(_curvature_conditions(p))


def _resolve_curvature_rows(p, n_samples, n_inputs, n_outputs):
    """Rows the Gauss-Newton curvature is taken from, or ``None`` for the sample-space step.

    A number means the damped system is solved in parameter space, on a sample of that
    many rows or, from ``n_samples`` on, on every row (``n_samples``). ``'auto'``: for the
    dense two-layer network (the only one whose Jacobian is taken on other rows than
    the fit's) on the ``'auto'`` solver and preconditioner, a sample of
    ``s = max(_CURVATURE_ROWS, 4 m d~)`` rows (several rows per parameter, so that the
    sample's curvature reaches every direction) once there are at least ``2 s`` rows,
    every row in parameter space while the system's rows ``n k`` outnumber the
    parameters ``m d~``, else ``None``.
    """
    rows = p["curvature_rows"]
    dense, paths = _curvature_conditions(p)
    if rows == "auto":
        sample = max(_CURVATURE_ROWS, _ROWS_PER_PARAMETER * p["n_neurons"] * n_inputs)
        if not (dense and paths):
            return None
        if n_samples >= 2 * sample:
            return sample
        # The trained parameters are the hidden weights, m d~ (the output signs are fixed).
        return n_samples if n_samples * n_outputs > p["n_neurons"] * n_inputs else None
    if rows is None:
        return None
    if not dense:
        raise ValueError(
            f"curvature_rows={rows} needs the dense two-layer network (depth=1 with "
            "activation='relu' or pattern='dense'); the sparse patterns and deeper "
            "networks take the curvature from every row. Set curvature_rows=None."
        )
    if not paths:
        raise ValueError(
            f"curvature_rows={rows} solves each step by parameter-space CG with a Nystrom "
            f"preconditioner, so solver={p['solver']!r} and "
            f"preconditioner={p['preconditioner']!r} would not be used. Set both to "
            "'auto', or curvature_rows=None for the exact step on the chosen path."
        )
    return min(int(rows), n_samples)


def _preconditioner_samples(p, n_inputs):
    """Samples the parameter-space Nystrom preconditioner is fitted on.

    ``_ROWS_PER_PARAMETER m d~`` of the curvature rows (all of them when there are
    fewer): the fit's cost falls with the rows, while the leading eigenspace it
    captures needs only a few rows per parameter. ``None`` (every row) in sample space.
    """
    if p["curvature_rows"] is None:
        return None
    return min(p["curvature_rows"], _ROWS_PER_PARAMETER * p["n_neurons"] * n_inputs)


def _is_float32(dtype):
    """Whether a ``dtype`` parameter value means float32 (invalid values are not)."""
    try:
        return np.dtype(dtype) == np.float32
    except TypeError:
        return False


def _network_inputs(X, input_scale, fit_intercept):
    """``[s x, 1] / s = [x, 1/s]``: the inputs scaled by ``s`` and the output by ``1/s``.

    Dividing the output by ``s`` (with the ridge ``alpha / s^2``, as ``fit`` passes it)
    leaves the tangent kernel ridge fit that of ``ntk(s X)`` with ``alpha``, and makes the
    weights move ``s`` times less relative to their pre-activations, so a small ``s``
    changes the kernel's shape without leaving the lazy regime.
    """
    return add_bias_feature(X, fit_intercept, bias=1.0 / input_scale)


def _agop_rows(X, sample_weight, seed):
    """The rows of ``X`` an average gradient outer product is taken over (all up to
    ``_AGOP_ROWS``, else a uniform sample), as an ndarray (gathered from the chunks of a
    dask array), and their weights."""
    n = X.shape[0]
    rows = (np.arange(n) if n <= _AGOP_ROWS else np.sort(
        np.random.RandomState(seed).choice(n, _AGOP_ROWS, replace=False)))
    weights = np.ones(len(rows)) if sample_weight is None else sample_weight[rows]
    return np.asarray(X[rows]), weights


def _feature_gradients(network, W, X, input_scale, fit_intercept):
    """Gradients of the two-layer ``network`` at ``W`` in the features of ``X``, shape
    (n, n_outputs, n_features)."""
    G = network.input_gradients(W, _network_inputs(X, input_scale, fit_intercept))
    # x~ = [s x, 1]: d x~ / d x = s on the features.
    return G[:, :, : X.shape[1]] * input_scale


def _trained_network(depth, state, init_scale, n_inputs):
    """The network of a fit's ``state`` in float64, dense (predictions do not depend on
    how ``X`` is batched)."""
    if depth == 1:
        network = TwoLayerReLU(state.output_signs, threshold=state.shift * init_scale)
        return CenteredNetwork(network, state.initial_weights) if state.centered else network
    reference = state.initial_weights if state.centered else None
    return DeepReLU(state.output_signs, n_inputs, depth, reference=reference,
                    shift=state.shift, init_scale=init_scale)


class _SketchedGNBase(CallbackSupportMixin, BaseEstimator):
    """The machinery :class:`SketchedGNRegressor` and :class:`SketchedGNClassifier` share.

    A subclass defines ``__init__`` (its parameters), validates and encodes its targets
    in ``fit`` and hands them to :meth:`_fit` with its loss; it may override
    :meth:`_target_scaling` and :meth:`_selection_targets`. Everything else (validation
    of the parameters, the choice of ``alpha`` and the input scale, the network, the
    solver path, the monitor, warm start) is here, once.
    """

    # The candidates of alpha='auto' when alphas is None.
    _default_alphas = DEFAULT_ALPHAS

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Sparse X is taken and densified (validate_input).
        tags.input_tags.sparse = True
        return tags

    def _validate_params(self):
        """Check every constructor parameter against its spec; return them as a dict."""
        params = validate_params(self.get_params(deep=False), _PARAMETERS)
        width = params["n_neurons"]
        if (params["init"] == "symmetric" and params["depth"] == 1 and width != "auto"
                and width % 2):
            raise InvalidParameterError(
                f"init='symmetric' pairs neurons, so n_neurons must be even; got "
                f"n_neurons={params['n_neurons']}. Use an even width or init='random'."
            )
        return params

    def _target_scaling(self, Y, sample_weight, p):
        """``(mean, scale)`` of the encoded targets the network is fitted to."""
        return target_scaling(Y, sample_weight, p.get("normalize_y", False))

    @staticmethod
    def _selection_targets(Y, y_mean, y_scale, sample_weight):
        """The targets the leave-one-out choice of ``alpha`` scores against."""
        return (Y - y_mean) / y_scale

    @staticmethod
    def _training_problem(Y, loss, y_mean, y_scale):
        """The targets and loss the network's outputs are fitted to: the standardized
        targets (predictions are ``outputs * y_scale + y_mean``)."""
        return (Y - y_mean) / y_scale, loss

    def _fit(self, p, X, y, Y, sample_weight, *, y_ndim, loss, metrics=None):
        """Fit the network to encoded targets ``Y`` (n, k) under ``loss``.

        ``X`` and ``sample_weight`` are validated; ``y`` is what the user passed (for the
        callbacks). ``metrics`` are early stopping's ``(score, loss)``.
        """
        metadata = {"sample_weight": sample_weight}
        seeds = check_random_state(self.random_state).randint(2**31 - 1, size=6)
        # The choice of alpha (also inside the first step's probe, under the fit's BLAS
        # limit) scores its scales on two threads when two are free, read here.
        p = dict(p, selection_threads=selection_threads(p["n_jobs"]))
        warm = p["warm_start"] and hasattr(self, "weights_")
        n, d = X.shape
        probe = (p["agop_rounds"] == "auto" and not warm and p["depth"] == 1
                 and "auto" in (p["alpha"], p["input_scale"])
                 and n >= _AGOP_ROWS_PER_ENTRY * d * (d + 1) // 2)
        # A fit that learns features after its first step starts over once.
        callbacks = self._init_callback_context(max_subtasks=p["max_iter"] + probe)
        callbacks.call_on_fit_task_begin(estimator=self, X=X, y=y, metadata=metadata)
        # The features' standardization and learned map (agop_rounds): a warm start
        # keeps its fit's.
        if warm:
            self._check_warm_start(p, d + p["fit_intercept"], Y.shape[1])
            scaling = self.X_mean_, self.X_scale_
        else:
            moments = (_dask.column_moments(X, sample_weight)
                       if _dask.is_dask_collection(X) and p["standardize"] else None)
            scaling = feature_scaling(X, sample_weight, p["standardize"], moments)
        X = standardized(X, *scaling)
        if warm:
            transform = self.feature_transform_
        elif p["agop_rounds"] not in (0, "auto"):
            transform = self._agop_transform(p, X, y, sample_weight, seeds[5])
        else:
            transform = None
        fit = functools.partial(self._train, p, X, y, Y, sample_weight, seeds=seeds,
                                callbacks=callbacks, metadata=metadata, y_ndim=y_ndim,
                                loss=loss, metrics=metrics, scaling=scaling)
        state, learned = fit(transform=transform, probe=probe)
        if learned is not None and learned.kept:
            state, _ = fit(transform=learned.transform, learned=learned)
        callbacks.call_on_fit_task_end(estimator=self, X=X, y=y, metadata=metadata,
                                       reconstruction_attributes=state.attributes)
        return self

    def _check_warm_start(self, p, n_inputs, n_outputs):
        """Refuse a warm start whose network or data do not fit the previous weights.

        Checked before anything reads ``X`` (the learned feature map multiplies it).
        """
        m = self.n_neurons_ if p["n_neurons"] == "auto" else p["n_neurons"]
        expected = ((m, n_inputs) if p["depth"] == 1 else
                    (m * (n_inputs + (p["depth"] - 1) * m),))
        if self.weights_.shape != expected or self.n_outputs_ != n_outputs:
            raise ValueError(
                "warm_start=True needs the same n_neurons, depth, fit_intercept, number "
                f"of features and outputs as the previous fit: weights have shape "
                f"{self.weights_.shape} and {self.n_outputs_} output(s), this fit needs "
                f"{expected} and {n_outputs}. Set warm_start=False to start over."
            )

    def _train(self, p, X, y, Y, sample_weight, *, seeds, callbacks, metadata, y_ndim, loss,
               metrics, scaling, transform=None, probe=False, learned=None):
        """One Gauss-Newton fit on ``X T`` (``T = transform``, the identity when ``None``;
        ``X`` standardized by ``scaling``, the ``(mean, scale)`` stored with the state).

        With ``probe`` (``agop_rounds='auto'``), the first accepted step learns a feature
        map (:meth:`_probe_features`); if the tangent kernel on the mapped inputs scores
        clearly better, the fit stops there, sets no attribute and returns it, kept, to
        start over with (as ``learned``).

        Returns
        -------
        state : FitState or None
            The fitted state (``None`` when the fit starts over).
        learned : LearnedFeatures or None
            The probe's map (``None`` without a probe or a map).
        """
        p = dict(p)
        init_seed, precond_seed, split_seed, selection_seed, curvature_seed, agop_seed = seeds
        if transform is not None:
            X = X @ transform
        X_val = None
        if p["early_stopping"]:
            X, X_val, Y, Y_val, sample_weight, sw_val = split_validation(
                X, Y, sample_weight, p["validation_fraction"], split_seed)
        # 'auto' resolved once: the landmark pricing and the network both read it. A warm
        # start keeps the width its weights were trained at.
        warm = p["warm_start"] and hasattr(self, "weights_")
        p["n_neurons"] = (self.n_neurons_ if warm and p["n_neurons"] == "auto"
                          else _resolve_width(p["n_neurons"], X.shape[0]))
        # Below its row threshold, curvature_rows='auto' picks the space by the spectrum;
        # a warm start has none and keeps the space its last step was solved in.
        by_spectrum = p["curvature_rows"] == "auto" and not warm
        kept = (p["curvature_rows"] == "auto" and warm and bool(self.history_)
                and self.history_[-1]["solver"] == "parameter_cg")
        p = dict(p, dtype=_resolve_dtype(p["dtype"], Y.size, p["n_neurons"], p["depth"]),
                 init=_resolve_init(p["init"], Y.size, p["n_neurons"],
                                    X.shape[1] + p["fit_intercept"], p["depth"]),
                 curvature_rows=_resolve_curvature_rows(p, X.shape[0],
                                                        X.shape[1] + p["fit_intercept"],
                                                        Y.shape[1]))
        switchable = p["curvature_rows"] is None and _parameter_space_allowed(p)
        p["space_by_spectrum"] = by_spectrum and switchable
        if kept and switchable:
            p["curvature_rows"] = X.shape[0]
        state = self._initial_state(p, X, Y, sample_weight, y_ndim, init_seed,
                                    selection_seed)
        state = replace(state, feature_transform=transform,
                        agop_scores=None if learned is None else learned.scores,
                        X_mean=scaling[0], X_scale=scaling[1])
        # The probe scores the selection's candidates: there must be some.
        probe = probe and state.selection_scores is not None
        # (The training rows and encoded targets, before Y is standardized below.)
        X_probe, Y_probe, sw_probe = X, Y, sample_weight
        curvature_rows = None
        if p["curvature_rows"] == X.shape[0]:
            curvature_rows = np.arange(X.shape[0])
        elif p["curvature_rows"] is not None:
            curvature_rows = np.sort(np.random.RandomState(curvature_seed).choice(
                X.shape[0], size=p["curvature_rows"], replace=False))
        # Rows of the inner system, times the outputs.
        n_system = (p["curvature_rows"] or X.shape[0]) * Y.shape[1]
        # The parameter-space preconditioner is fitted on at most a few rows per parameter.
        fit_samples = _preconditioner_samples(p, X.shape[1] + p["fit_intercept"])
        distributed = _dask.is_dask_collection(X)
        # With dask inputs the blocks are cut inside each row chunk.
        block_n = _dask.chunk_rows(X) if distributed else X.shape[0]
        p["block_size"] = _resolve_block_size(p["block_size"], block_n, p["n_neurons"],
                                              p["dtype"])
        # Rows per BLAS call inside a block (the tiles fix the rounding).
        p["tile_rows"] = None if p["block_size"] is None else tile_rows(p["n_neurons"])
        # Without blocks, the products' two row halves run side by side where BLAS runs
        # on one thread (read before blas_threads_for limits it, below).
        p["half_threads"] = half_threads(Y.size, p["n_neurons"], p["depth"], p["n_jobs"])
        Y, loss = self._training_problem(Y, loss, state.y_mean, state.y_scale)
        validation = None if X_val is None else (
            _network_inputs(X_val, state.input_scale, p["fit_intercept"]), Y_val, sw_val)
        if distributed:
            X_tilde = _dask.DistributedRows.from_dask(X, state.input_scale, p["fit_intercept"],
                                                      p["dtype"])
            # Inside a chunk the blocks are tiles: the in-memory fit's BLAS calls.
            network = _dask.DistributedTwoLayerReLU(
                state.output_signs, dtype=p["dtype"], threshold=state.shift * p["init_scale"],
                block_rows=p["tile_rows"])
            if state.centered:
                network = CenteredNetwork(network, state.initial_weights)
        else:
            X_tilde = _network_inputs(X, state.input_scale, p["fit_intercept"])
            network, X_tilde = self._network(p, state, X_tilde)
        # A deep network has P = m (d~ + (L - 1) m) parameters: cost it as that many inputs.
        n_inputs = X_tilde.shape[1] + (p["depth"] - 1) * p["n_neurons"]
        sizes = (n_system, p["n_neurons"], n_inputs, p["sketch_size"], state.n_landmarks)
        # 'auto' prices the Nystrom path at the default landmark count, where the cost
        # model's 25 PCG iterations were measured; the spectral count then only makes
        # the chosen path cheaper. (Priced at 50 landmarks and 25 iterations, Nystrom beat
        # the normal equations at n = 200,000, m = 64 and fitted to R^2 0.954, not 0.988.)
        priced = sizes[:4] + (
            _DEFAULT_LANDMARKS if p["n_landmarks"] == "auto" else state.n_landmarks,)
        if state.priced_iterations is not None:
            # Fewer rows than parameters: the spectral count at its modelled iterations
            # (FitState.priced_iterations, set by _initial_state).
            priced = sizes
        # The deep network holds its own n x m arrays; the two-layer ones are blocked
        # (always with dask inputs, whose patterns are bits on the workers).
        blocked = p["block_size"] if p["depth"] == 1 else None
        if distributed:
            blocked = p["block_size"] or block_n
        # The memory budget of the path, in bytes (None: half the physical memory).
        memory = _memory_bytes(p["max_memory"])
        if curvature_rows is None:
            solver, preconditioner = resolve_paths(p["solver"], p["preconditioner"], *priced,
                                                   memory=memory, block_rows=blocked,
                                                   nystrom_iterations=state.priced_iterations)
            solve, inner_preconditioner = SOLVERS[solver], make_preconditioner(
                preconditioner, sketch=p["sketch"], sketch_size=p["sketch_size"],
                n_landmarks=state.n_landmarks, random_state=precond_seed,
                n_jobs=p["n_jobs"])
        else:
            # The sub-sampled step solves in parameter space (see gauss_newton). Its memory
            # is checked as Nystrom-PCG on the sampled rows: the P x k basis is small
            # beside their n x k columns, the bits of all rows' pattern are not counted.
            solver, preconditioner = "cg", "nystrom"
            solve, inner_preconditioner = solve_parameter_cg, ParameterNystromPreconditioner(
                n_landmarks=state.n_landmarks, random_state=precond_seed,
                fit_samples=fit_samples)
        check_memory(solver, preconditioner, *sizes, memory=memory, block_rows=blocked)

        monitor = build_monitor(
            callback_context=callbacks,
            callback_kwargs={"estimator": self, "X": X, "y": y, "metadata": metadata},
            reconstruct=state.attributes,
            predict=lambda W, Xt: network.predict(W, Xt) * state.y_scale + state.y_mean,
            validation=validation, tol=p["tol"], n_iter_no_change=p["n_iter_no_change"],
            start_weights=state.weights, max_iter=p["max_iter"], verbose=p["verbose"],
            progress_bar=p["progress_bar"], step_offset=state.n_iter, metrics=metrics,
            n_rows=X.shape[0],
        )
        if probe:
            def learn(W):
                nonlocal learned
                learned = self._probe_features(p, state, X_probe, Y_probe, sw_probe, W,
                                               agop_seed, selection_seed)
                if learned is not None and learned.kept and p["verbose"]:
                    print(f"[skgn] learned features: leave-one-out error x "
                          f"{learned.error_ratio:.3f} on the mapped inputs, starting over "
                          "on them")
                return learned is not None and learned.kept

            monitor = FirstStepProbe(monitor, learn)
        base = network.network if isinstance(network, CenteredNetwork) else network
        if isinstance(base, TwoLayerReLU) and monitor.reports_rows:
            # Long steps report their passes over the row blocks.
            base.on_rows = monitor.rows_done
        try:
            with blas_threads_for(Y.size, p["n_neurons"], p["depth"]):
                result = gauss_newton(
                    network, state.weights, state.initial_weights, X_tilde, Y,
                    loss=loss,
                    solve=solve,
                    preconditioner=inner_preconditioner,
                    sample_weight=sample_weight,
                    alpha=state.alpha / state.input_scale**2, max_iter=p["max_iter"],
                    tol=p["tol"], refit_iterations=refit_iterations(
                        "parameter_nystrom" if curvature_rows is not None else preconditioner,
                        *sizes, fit_rows=fit_samples and fit_samples * Y.shape[1]),
                    max_landmarks=landmark_limit(solver, preconditioner, *sizes[:4],
                                                 memory=memory, block_rows=blocked),
                    curvature_rows=curvature_rows, state=state.lm_state, monitor=monitor,
                )
        finally:
            monitor.close()
        if probe and monitor.stopped:
            return None, learned
        if probe:
            state = replace(state, agop_scores=None if learned is None else learned.scores)
        state = state.extended(result, monitor.early_stopping)
        for name, value in state.attributes().items():
            setattr(self, name, value)
        self.dtype_ = p["dtype"]
        self.curvature_rows_ = p["curvature_rows"] or X.shape[0]
        if not state.converged and not result.loss_curve:
            warnings.warn(
                f"{type(self).__name__} accepted no Gauss-Newton step in {result.n_iter} "
                f"attempt(s) ({result.message}): the model is the initial network. "
                + ("Raise alpha or max_iter." if p["standardize"] else
                   "Standardize the features (standardize=True), raise alpha or max_iter."),
                ConvergenceWarning,
            )
        elif not state.converged and result.message != "stopped by the monitor":
            # Early stopping and callbacks end a fit on purpose; everything else warns.
            warnings.warn(
                f"{type(self).__name__} stopped after {result.n_iter} Gauss-Newton steps "
                f"(max_iter={p['max_iter']}) without meeting tol={p['tol']}: "
                f"{result.message} (objective {result.loss:.6g}). Increase max_iter, loosen "
                "tol or raise alpha.",
                ConvergenceWarning,
            )
        return state, learned

    def _agop_transform(self, p, X, y, sample_weight, seed):
        """The feature map ``x -> x T`` learned by ``agop_rounds`` rounds of the average
        gradient outer product (a Recursive Feature Machine, Radhakrishnan et al. 2024).

        Each round fits this estimator for one Gauss-Newton step on ``X T`` (``T = I``
        at first), takes ``M = sum_i s_i grad f(x_i) grad f(x_i)^T / sum_i s_i`` over
        at most ``_AGOP_ROWS`` rows (the gradients in ``x``, summed over the outputs:
        exact for the two-layer network, by central differences deeper; see
        :meth:`_input_gradients`), and sets ``T = M^(1/2)``
        scaled so that the mapped rows keep the mean squared norm ``d`` of standardized
        inputs.
        """
        X_rows, weights = _agop_rows(X, sample_weight, seed)
        # A fresh estimator (not a clone): the user's callbacks see only this fit. ``X``
        # is standardized already, and the inner fit sees the mapped inputs as given.
        inner = type(self)(**{**self.get_params(deep=False), "agop_rounds": 0,
                              "max_iter": 1, "warm_start": False, "early_stopping": False,
                              "standardize": False, "verbose": 0, "progress_bar": False})
        transform = np.eye(X.shape[1])
        for _ in range(p["agop_rounds"]):
            with warnings.catch_warnings():
                # One step is the point here, not convergence.
                warnings.simplefilter("ignore", ConvergenceWarning)
                inner.fit(X @ transform, y, sample_weight=sample_weight)
            # The gradients in x of f(x T) are T times those in the mapped inputs.
            M = gradient_outer_product(inner._input_gradients(X_rows @ transform), weights)
            mapped = agop_feature_map(transform @ M @ transform.T, X_rows, weights)
            if mapped is None:
                # A constant fit has no gradient: keep the map of the last round.
                break
            transform = mapped
        return transform

    @staticmethod
    def _network(p, state, X_tilde):
        """The network to train and its inputs, by depth, activation, pattern and dtype."""
        if p["depth"] > 1:
            # The deep network subtracts its reference itself, beside its forward cache.
            reference = state.initial_weights if state.centered else None
            return DeepReLU(state.output_signs, X_tilde.shape[1], p["depth"],
                            reference=reference, shift=state.shift,
                            init_scale=p["init_scale"]), X_tilde
        threshold = state.shift * p["init_scale"]
        pattern = {"auto": "indexed"}.get(p["pattern"], p["pattern"]) if threshold else "dense"
        if pattern == "dense":
            # Cast the inputs to the compute precision once, not in every product.
            X_tilde = X_tilde.astype(p["dtype"], copy=False)
            network = TwoLayerReLU(state.output_signs, dtype=p["dtype"], threshold=threshold,
                                   block_rows=p["block_size"], n_jobs=p["n_jobs"],
                                   tile_rows=p["tile_rows"],
                                   half_threads=(p["half_threads"] if p["block_size"] is None
                                                 else None))
        else:
            index = None
            if pattern == "indexed":
                index = FiredNeuronIndex(X_tilde, state.weights, threshold,
                                         band=_INDEX_BAND * p["init_scale"])
            network = SparseTwoLayerReLU(state.output_signs, threshold, index=index)
        if state.centered:
            network = CenteredNetwork(network, state.initial_weights)
        return network, X_tilde

    def _initial_state(self, p, X, Y, sample_weight, y_ndim, init_seed, selection_seed):
        """The state this fit starts from: the previous fit's (warm start) or a new one.

        A new state resolves ``alpha='auto'`` and ``input_scale='auto'`` (the only place
        they are resolved) by leave-one-out scores of the network's tangent kernel. With
        ``p['space_by_spectrum']`` the same spectrum decides whether the steps are solved
        in parameter space: ``p['curvature_rows']`` is then set to every row.
        """
        n_inputs, n_outputs = X.shape[1] + p["fit_intercept"], Y.shape[1]
        if p["warm_start"] and hasattr(self, "weights_"):
            # (_fit checked that the weights fit this data.) Keep the anchor, signs,
            # scalings and alpha the weights were trained for.
            return FitState.from_estimator(self)
        # 'centered' subtracts the initial output at every depth; 'symmetric' pairs the
        # neurons of the two-layer network and means 'centered' for deeper ones.
        centered = p["init"] == "centered" or (p["depth"] > 1 and p["init"] == "symmetric")
        if p["depth"] == 1 and centered:
            network, W0 = CenteredNetwork.initialize(
                np.random.RandomState(init_seed), n_inputs, n_outputs,
                n_neurons=p["n_neurons"], init_scale=p["init_scale"])
        elif p["depth"] == 1:
            network, W0 = TwoLayerReLU.initialize(
                np.random.RandomState(init_seed), n_inputs, n_outputs,
                n_neurons=p["n_neurons"], init=p["init"], init_scale=p["init_scale"])
        else:
            network, W0 = DeepReLU.initialize(
                np.random.RandomState(init_seed), n_inputs, n_outputs,
                n_neurons=p["n_neurons"], depth=p["depth"], init=p["init"],
                init_scale=p["init_scale"])
        y_mean, y_scale = self._target_scaling(Y, sample_weight, p)
        alphas, scales = self._candidates(p)
        scores = None
        shift = _resolve_shift(p)
        if p["alpha"] == "auto" or p["input_scale"] == "auto":
            kernel = None
            if shift and p["depth"] > 1:
                # No closed form: the drawn network's own tangent kernel, the Gram of
                # its first output (every output's has the same limit).
                drawn = DeepReLU(network.signs[:, :1], n_inputs, p["depth"], shift=shift,
                                 init_scale=p["init_scale"])

                def drawn_kernel(X_scaled):
                    X_tilde = add_bias_feature(X_scaled, p["fit_intercept"])
                    return drawn.jacobian(W0, X_tilde).gram()

                kernel = drawn_kernel

            selection = self._select(p, X, Y, sample_weight, y_mean, y_scale,
                                     selection_seed, kernel=kernel)
            alpha, input_scale, scores = (selection.alpha, selection.input_scale,
                                          selection.scores)
        else:
            alpha, input_scale = p["alpha"], p["input_scale"]
        n_landmarks = p["n_landmarks"]
        n_params = n_inputs + (p["depth"] - 1) * p["n_neurons"]
        n_rows = (p["curvature_rows"] or Y.shape[0]) * Y.shape[1]
        if scores is not None and (n_landmarks == "auto" or p["space_by_spectrum"]):
            # The selection's spectrum prices each landmark count (cost model).
            price = functools.partial(
                nystrom_landmarks, selection.eigenvalues, n_rows, p["n_neurons"], n_params,
                alpha, rtol=INNER_RTOL_MAX, float32=p["dtype"] == np.float32,
                n_outputs=Y.shape[1])
            power = False
            if p["space_by_spectrum"]:
                # Whether the sample-space preconditioner's modelled iterations, at its
                # best (or the given) count, send the steps to parameter space.
                k = price() if n_landmarks == "auto" else n_landmarks
                slow = (nystrom_iterations(selection.eigenvalues, n_rows, alpha, k,
                                           rtol=INNER_RTOL_MAX, n_outputs=Y.shape[1])
                        > _PARAMETER_SPACE_ITERATIONS)
                if slow and exact_step_cheaper(
                        selection.eigenvalues, n_rows, p["n_neurons"], n_params, alpha,
                        price(parameter_space=True, power=True) if n_landmarks == "auto"
                        else n_landmarks, rtol=INNER_RTOL_MAX,
                        float32=p["dtype"] == np.float32, n_outputs=Y.shape[1],
                        memory=_memory_bytes(p["max_memory"])):
                    # The steps stay in sample space, where the cost model then takes
                    # the exact step over the slow Nystrom-PCG.
                    slow = False
                if slow:
                    p["curvature_rows"] = Y.shape[0]
                    # Fewer rows than parameters: few steps, whose first one the
                    # powered iteration count describes.
                    power = True
            if n_landmarks == "auto":
                # Priced as a fit on every curvature row even when it runs on fewer: the
                # fit sample bounds what more landmarks resolve (37,500 rows, 224
                # neurons: 3.0 s with 100, 4.3 s with the 500 a sample-priced fit chose).
                n_landmarks = price(parameter_space=p["curvature_rows"] is not None,
                                    power=power)
        if n_landmarks == "auto":
            n_landmarks = _DEFAULT_LANDMARKS
        priced_iterations = None
        if (scores is not None and p["curvature_rows"] is None
                and n_rows <= p["n_neurons"] * n_params):
            # With fewer rows than parameters the steps are few and each costs about the
            # first (the kernel regime): the sample-space path is priced at the cap of a
            # later inner solve, twice the first step's modelled PCG iterations at this
            # landmark count (gauss_newton's inner_max_iter). (Star in benchmarks/wide.md,
            # 4,311 rows, 91 inputs after one-hot encoding, alpha_ 0.32: 4 modelled
            # iterations, 5 and 8 taken; priced at 25, the exact step won, and the fit
            # took 3.82 s against 0.74 s on Nystrom-PCG, at the same test R^2; with the
            # refinement of a step that would stop the fit, 4.18 s against 1.81 s.)
            priced_iterations = _LATER_SOLVE_BUDGET * nystrom_iterations(
                selection.eigenvalues, n_rows, alpha, n_landmarks, rtol=INNER_RTOL_MAX,
                n_outputs=Y.shape[1])
        return FitState(
            weights=W0, initial_weights=W0, output_signs=network.signs, y_mean=y_mean,
            y_scale=y_scale, y_ndim=y_ndim, n_features_in=self.n_features_in_,
            n_outputs=n_outputs, n_neurons=p["n_neurons"], alpha=alpha,
            input_scale=input_scale,
            alphas=np.asarray(alphas), input_scales=np.asarray(scales),
            selection_scores=scores, shift=float(shift), n_landmarks=int(n_landmarks),
            priced_iterations=priced_iterations,
            centered=centered)

    def _candidates(self, p):
        """The candidate ``(alphas, input_scales)`` (one value each when given)."""
        alphas = (p["alpha"],) if p["alpha"] != "auto" else p["alphas"] or self._default_alphas
        scales = ((p["input_scale"],) if p["input_scale"] != "auto"
                  else p["input_scales"] or DEFAULT_INPUT_SCALES)
        return alphas, scales

    def _select(self, p, X, Y, sample_weight, y_mean, y_scale, seed, kernel=None,
                max_rows=SELECTION_ROWS):
        """Score the candidate pairs by leave-one-out on at most ``max_rows`` rows of
        ``X`` (:func:`select`): a :class:`Selection`."""
        alphas, scales = self._candidates(p)
        # Its eigendecompositions run on one BLAS thread each, two scales side by side
        # when two threads are free (p["selection_threads"], read at the fit's start).
        with single_blas_thread():
            return select(
                X, self._selection_targets(Y, y_mean, y_scale, sample_weight),
                sample_weight, alphas=alphas, input_scales=scales,
                bias=float(p["fit_intercept"]), rng=np.random.RandomState(seed),
                max_rows=max_rows, kernel=kernel, threads=p["selection_threads"],
                shift=_resolve_shift(p), depth=p["depth"], init_scale=p["init_scale"])

    def _probe_features(self, p, state, X, Y, sample_weight, W, seed, selection_seed):
        """The feature map of ``agop_rounds='auto'``, learned from the network at ``W``.

        As one round of :meth:`_agop_transform`, from the weights of the fit's first
        step: ``T`` is the root of the average gradient outer product over at most
        ``_AGOP_ROWS`` rows. The candidates of the fit's selection are scored on ``X``
        and on ``X T`` (the same ``_PROBE_ROWS`` rows); the map is kept when the best
        leave-one-out error falls to at most ``_AGOP_ERROR_RATIO`` times.

        Returns
        -------
        learned : LearnedFeatures or None
            ``None`` when the network is constant (no gradient).
        """
        X_rows, weights = _agop_rows(X, sample_weight, seed)
        network = _trained_network(p["depth"], state, p["init_scale"], X.shape[1]
                                   + p["fit_intercept"])
        G = _feature_gradients(network, W, X_rows, state.input_scale, p["fit_intercept"])
        transform = agop_feature_map(gradient_outer_product(G, weights), X_rows, weights)
        if transform is None:
            return None
        scores = np.array([np.max(self._select(p, X_at, Y, sample_weight, state.y_mean,
                                               state.y_scale, selection_seed,
                                               max_rows=_PROBE_ROWS).scores)
                           for X_at in (X, X @ transform)])
        return LearnedFeatures(transform, scores, _AGOP_ERROR_RATIO)

    def _fitted_network(self):
        """The trained network, float64 and dense (predictions do not depend on how
        ``X`` is batched)."""
        return _trained_network(self.depth, FitState.from_estimator(self), self.init_scale,
                                self.n_features_in_ + self.fit_intercept)

    def _input_gradients(self, X):
        """Gradients of :meth:`_decision` in the (mapped) features at the rows of ``X``,
        shape (n, n_outputs, n_features): exact for the two-layer network, by central
        differences for deeper ones."""
        if self.depth > 1:
            return finite_difference_gradients(
                lambda Z: self._decision(Z, mapped=True), X)
        return _feature_gradients(self._fitted_network(), self.weights_, X,
                                  self.input_scale_, self.fit_intercept)

    def _decision(self, X, mapped=False):
        """Network outputs on validated ``X`` in the fitted units, shape (n, n_outputs)
        (``X`` already standardized and mapped by ``feature_transform_`` with
        ``mapped``)."""
        if not mapped:
            X = standardized(X, self.X_mean_, self.X_scale_)
            if self.feature_transform_ is not None:
                X = X @ self.feature_transform_
        network = self._fitted_network()
        m = self.n_neurons_
        # Rows per chunk so the n x m activations stay within working_memory (MiB).
        chunk = max(1, int(get_config()["working_memory"] * 2**20 // (8 * m)))
        out = np.empty((X.shape[0], self.n_outputs_))
        with blas_threads_for(X.shape[0], m, self.depth):
            for rows in gen_batches(X.shape[0], chunk):
                X_tilde = _network_inputs(X[rows], self.input_scale_, self.fit_intercept)
                out[rows] = network.predict(self.weights_, X_tilde)
        return out


class SketchedGNRegressor(RegressorMixin, _SketchedGNBase):
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
    n_neurons : int or 'auto', default='auto'
        Width ``m`` of the hidden layer. Must be even with ``init='symmetric'`` and
        ``depth=1``. ``'auto'`` means 1024 up to 8,192 training samples, and beyond that
        the even width nearest above ``2**23 / n_samples`` (at least 128), so that the
        ``n x m`` work of a step stays that of 8,192 samples at 1024 neurons (224 neurons
        at 37,500 samples, 128 from 65,536). The width used is ``n_neurons_``.
    depth : int, default=1
        Number of hidden layers, each of width ``n_neurons``. ``depth=1`` is the
        two-layer network above (bit for bit); ``depth >= 2`` adds ``m x m`` layers
        ``h_l = relu(sqrt(2/m) W_l h_{l-1})`` (He scaling, ``W_l ~ N(0, 1)``, all trained)
        whose Jacobian is applied by forward mode and back-propagation, with the Gram by
        the per-layer tensor trick (``O(L n^2 m)``). Its tangent kernel is
        ``skgn.ntk(X, depth=L, init_scale=...)``. Deep networks use float64; a step costs
        ``O(n m^2)`` per Jacobian product, ``O(n m^1.5)`` with the shifted ReLU, whose
        layer outputs are sparse (``benchmarks/deep.md``).
    activation : {'relu', 'shifted_relu'}, default='relu'
        ``'shifted_relu'`` is ``relu(w . x~ - t sigma ||x~||)`` with ``sigma =
        init_scale`` and ``t = shift``: at initialization each sample fires a fraction
        ``P(N(0, 1) > t)`` of the neurons (Song, Yang and Zhang 2021), so the Jacobian is
        sparse. Its tangent kernel is ``skgn.ntk(..., shift=t)``. With ``depth >= 2``
        every layer is shifted by ``t`` times its input's spread and fires that fraction
        (user guide, "Sparse activations"); ``alpha='auto'`` then scores the drawn
        network's own tangent kernel.
    shift : 'auto' or float, default='auto'
        ``t`` of ``'shifted_relu'`` (ignored by ``'relu'``); ``'auto'`` is
        ``sqrt(0.4 log m)``, the papers' choice (about 2% of the neurons fire at
        ``m = 1024``); with ``depth >= 2`` the ``t`` at which about ``sqrt(m)`` neurons
        of each layer fire (user guide).
    pattern : {'auto', 'dense', 'sparse', 'indexed'}, default='auto'
        Storage of the activation pattern with ``'shifted_relu'``: ``'dense'`` (an
        ``n x m`` array, BLAS products), ``'sparse'`` (only the fired pairs; products in
        ``O(nnz d)``, the pattern still found from ``X~ W^T`` by row blocks),
        ``'indexed'`` (sparse, and a fired-neuron index finds the pattern of new
        weights by recomputing only the pairs near the threshold). All give the same
        fit to rounding. ``'auto'`` is ``'indexed'``, the fastest path at every width
        measured in ``benchmarks/sparse.md`` (2.9x the dense step at ``m = 4,096``,
        3.1x to 6.1x from ``m = 16,384`` to ``131,072``). The plain ReLU always uses
        ``'dense'``. ``dtype`` applies to the dense pattern only.
    alpha : 'auto' or float, default='auto'
        Strength of the ridge penalty toward the initial weights, in the units of
        ``KernelRidge(kernel=NTKKernel(), alpha=...)`` on the scaled inputs. ``'auto'``
        chooses it from ``alphas`` (with ``input_scale`` when that is ``'auto'`` too) by
        exact leave-one-out error of the network's tangent-kernel ridge regression on at
        most 500 training rows: one eigendecomposition per input scale (about 0.04 s at
        500 rows on two cores), the same way ``RidgeCV`` chooses its ``alpha``. A number
        is used as given; ``alpha=0`` lets the network interpolate.
    alphas : array-like of float, default=None
        Candidates for ``alpha='auto'``; ``None`` means ``logspace(-2, 2, 9)``. Smaller values
        can score well on the closed-form kernel, but at finite width they make the
        Gauss-Newton system ill-conditioned (hundreds of inner iterations per step).
    input_scale : 'auto' or float, default='auto'
        Shape of the tangent kernel: the network sees ``[s x, 1]`` (inputs against the
        bias feature) and its output is divided by ``s``, which keeps a small ``s`` in the
        lazy regime; the kernel is then that of ``skgn.ntk(s * X)``. Smaller values
        flatten the kernel toward a smoother fit. ``'auto'`` chooses it with ``alpha``
        (the scale whose best leave-one-out score is highest); a number is used as given,
        and ``input_scale=1.0`` is the network of earlier releases.
    input_scales : array-like of float, default=None
        Candidates for ``input_scale='auto'``; ``None`` means ``(1.0, 0.5, 0.25)``.
        Smaller scales were measured too (``benchmarks/selection.md``): their kernels can
        score well, but at 1,024 neurons the finite network follows them poorly.
    agop_rounds : 'auto' or int, default='auto'
        Feature learning by the average gradient outer product (a Recursive Feature
        Machine, Radhakrishnan et al., *Science* 2024). A round fits one Gauss-Newton
        step on the mapped inputs ``X T`` (``T = I`` at first), takes ``M``, the
        weighted mean of ``grad f(x) grad f(x)^T`` over at most 2,000 training rows, and
        sets ``T = M^(1/2)``, scaled to keep the mean squared norm of the rows. The fit
        then runs on ``X T``, and ``predict`` maps its inputs alike. The map stretches
        the directions the first fit uses and shrinks the rest, so the tangent kernel
        learns which features matter, as a narrow trained network would.

        - An int runs that many rounds before the fit (0: none); each costs about one
          Gauss-Newton step and a selection.
        - ``'auto'`` learns one map from the fit's own first step and keeps it only if
          it promises much: the best leave-one-out error of the ``alpha`` /
          ``input_scale`` candidates on ``X T`` must be at most 0.75 times that on
          ``X`` (both on the same 250 rows). The fit then starts over on ``X T``
          (about one more fit's time); otherwise it goes on, at the cost of the probe
          (about one selection on 250 rows). The two scores are ``agop_scores_``.
          ``'auto'`` learns no map with a numeric ``alpha`` and ``input_scale``,
          with ``depth >= 2`` (the gradients would cost ``2 d`` forward passes), or
          with fewer than ``5 d (d + 1)`` rows (10 per entry of the map, which is
          fitted to the rows it is scored on).

        From a dask ``X`` the rows of the gradients are gathered from the chunks, and
        the map is applied lazily, chunk by chunk.

        In ``benchmarks/RESULTS.md`` the map pays on data with irrelevant features:
        Friedman #1 (5 of 10) and a ``make_classification`` set (10 of 20 informative);
        where every feature counts, a map (``agop_rounds=1``) can cost a little, and
        ``'auto'`` does not keep it. A warm start keeps the map of the fit it
        continues. The map is learned from every row given to ``fit`` with
        ``agop_rounds >= 1``, from the training rows with ``'auto'`` (not the
        validation rows of ``early_stopping``).
    solver : {'auto', 'cholesky', 'normal', 'cg', 'lsqr'}, default='auto'
        Inner solver of the Gauss-Newton system ``(J J^T + lam I) g = b``:

        - ``'cholesky'``: forms ``J J^T`` by the tensor trick and factors it (the
          exact Gram-Gauss-Newton step; memory ``n^2``).
        - ``'normal'``: the same exact step from the ``P x P`` normal matrix ``J^T J``
          (``P = m (d + 1)`` parameters; ``2 n P^2`` flops, memory ``P^2``): the
          classical Gauss-Newton step, cheaper than the sample space when there are
          more rows than parameters.
        - ``'cg'``: matrix-free (preconditioned) conjugate gradients on the implicit
          Jacobian.
        - ``'lsqr'``: LSQR on the row-preconditioned augmented operator
          ``R^{-T} [J, sqrt(lam) I]``, returning the minimum-norm step.
        - ``'auto'``: the cheapest path in flops whose memory fits in half the
          machine's memory, by the cost model (see the developer guide). With fewer
          rows than parameters and ``alpha`` or ``input_scale`` chosen in ``fit``, the
          PCG iterations are priced from the tangent kernel's spectrum (user guide,
          "Solvers, preconditioners, and how 'auto' chooses").
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
    n_landmarks : 'auto' or int, default='auto'
        Landmarks of the ``'nystrom'`` preconditioner (capped at ``n``). ``'auto'``
        prices every count from 10 to 1000 with the cost model, using the tangent
        kernel's spectrum that the choice of ``alpha`` computed anyway (predicted inner
        iterations against the Nystrom fit's flops), and takes the cheapest; without that
        spectrum (``alpha`` and ``input_scale`` both given) it means 500. The value used
        is ``n_landmarks_``. Either way, a later inner solve that the truncated-Newton
        cap cuts short at twice its reference pace or more doubles the landmarks (up to
        1000, and no more than ``max_memory`` holds) for the next step: the count was
        priced for a first step.
    dtype : {'auto', numpy.float64, numpy.float32}, default='auto'
        Precision of the ``n x m`` work: the pre-activations, the Jacobian products of the
        iterative solvers and the Nystrom columns. ``'auto'`` means float32 for a two-layer
        network with at least ``2**20`` (sample, neuron) pairs (the fitted value is in
        ``dtype_``) and float64 otherwise: on the benchmark sets float32 fits took 15-63%
        less time at the same test R^2 to four digits (their predictions differ by
        up to 1.5e-3 relative: ``benchmarks/float32.md``), and on smaller problems saved
        nothing. With ``numpy.float32`` these run about
        twice as fast in half the memory, while the weights, the residuals, the solver
        vectors and every factorization (the Gram's Cholesky factor, the small Nystrom
        and sketch cores) stay float64 and the Gram's activation counts stay exact.
        Objectives are then accurate to about ``1e-6`` relative, so a ``tol`` below that
        is not meaningful. ``predict`` computes in float64 either way, so predictions do
        not depend on how ``X`` is batched. Measured effects are in
        ``benchmarks/RESULTS.md`` (float32 section).
    block_size : 'auto' or int, default='auto'
        Rows per block of the two-layer network's ``n x m`` work in ``fit`` (the
        pre-activations, the activation pattern and the Jacobian products). With blocks
        the pattern is kept as bits (``n m / 8`` bytes instead of ``4 n m`` or ``8 n m``)
        and every product runs over row blocks, in parallel with ``n_jobs``; the flops
        are the same, and each product also unpacks its blocks' bits. ``'auto'`` keeps
        the whole pattern as floats (no blocks) while it takes at most scikit-learn's
        ``working_memory`` (``sklearn.set_config``, 1024 MiB by default) and otherwise
        uses cache-sized blocks of about 4 MiB. Inside a block the work goes by tiles of
        ``max(256, 2**18 // n_neurons)`` rows (a multiple of 256; a number is rounded up
        to whole tiles): every BLAS call covers one tile and ``J^T z`` adds the tiles'
        parts in row order, so with blocks the results do not depend on the block size
        or ``n_jobs`` (bit for bit in the tests, which ask ``1e-10``, on the default
        inexact path too). The float pattern's single GEMMs round differently. The
        sparse patterns of the shifted ReLU and deeper networks ignore it.
    curvature_rows : 'auto', int or None, default='auto'
        Rows the Gauss-Newton curvature ``J^T J`` is taken from; a number also means
        that each step's damped system is solved in parameter space, by preconditioned
        CG (whose iterates all lower the step's model) with a Nystrom preconditioner
        built from ``n_landmarks`` of the rows. Below the row count it is a uniform
        sample drawn once from ``random_state`` (sub-sampled Newton): each step still
        computes the gradient and tests the step on every row, but solves and fits its
        preconditioner on the sample, its Jacobian rescaled so that it estimates the
        full curvature; the fixed point is the same (the gradient is exact), the steps
        somewhat less accurate. The row count or more: every row (the exact step), in
        parameter space. ``None``: every row, the exact step solved in sample space on
        the chosen ``solver`` path. ``'auto'``, for the dense two-layer network with
        ``solver='auto'`` and ``preconditioner='auto'``: a sample of
        ``s = max(200,000, 4 m d~)`` rows (``d~`` the inputs with the bias) from ``2 s``
        rows on; below, every row, in parameter space while the rows times the outputs
        outnumber the ``m d~`` parameters (on a 37,500-row teacher with ``d~ = 11``,
        7.0 s against 21.4 s in sample space, test R^2 0.9842 against 0.9828), else
        ``None``, unless the spectrum of the ``alpha`` selection models more than 50
        PCG iterations for a sample-space step (small ``alpha``: digits, 10 classes,
        ``alpha_ = 1e-4``) and the cost model does not find the exact step cheaper
        than a parameter-space one (with its ``n x n`` Gram in ``max_memory``), when
        every row is solved in parameter space too (a warm
        start keeps the space of the fit it continues; the shifted ReLU's sparse
        patterns and deeper networks always take ``None``). A number therefore needs
        the ``'auto'`` solver and preconditioner. The number of rows used is
        ``curvature_rows_``.
    max_memory : float or None, default=None
        Memory budget in MiB of one Gauss-Newton step (the cost model's peak: pattern,
        Gram or normal matrix, preconditioner, sketch): ``solver='auto'`` never picks a
        path above it (below every costed path it takes CG with the diagonal
        preconditioner), and an explicit path above it is refused before anything is
        allocated; the Nystrom landmarks grow during the fit only as far as it holds.
        ``None``: half the machine's physical memory, a fixed budget, so that the chosen
        path (and the fit) does not depend on what other processes hold at the moment.
    max_iter : int, default=100
        Maximum number of Gauss-Newton steps (accepted or rejected).
    tol : float, default=3e-3
        Stop when an accepted step decreased the objective by at most ``tol`` times the
        total decrease since the start (the fit has made ``1 - tol`` of its progress),
        when both the actual and the predicted decrease of a step are at most ``tol``
        times the objective, or when the objective has fallen to machine precision times
        its starting value. A step that meets either ``tol`` rule is first refined (its
        inner solve continued for up to 5 iterations), so that a loose inner solve does
        not pass for convergence. On the benchmark sets the default stops after 2
        to 6 steps (``benchmarks/RESULTS.md``).
    init : {'auto', 'centered', 'symmetric', 'random'}, default='auto'
        How the network starts from zero. ``'auto'`` is ``'centered'`` when the network
        has at least as many parameters as fitted values (``n_neurons * (n_features +
        fit_intercept) >= n_samples * n_outputs``) and ``'symmetric'`` otherwise (or with
        an odd width), by what each does best below. ``'centered'`` draws every neuron
        independently and subtracts the initial network's output,
        ``f(x; W) = g(x; W) - g(x; W0)``, so the network starts identically zero and a
        wide, regularized fit approaches neural-tangent kernel ridge regression; it
        costs one extra forward pass per fit and per prediction. ``'symmetric'`` draws
        neurons in pairs with equal weights and opposite output signs: also zero at the
        start without the extra pass, but with only ``m / 2`` distinct neurons its
        tangent kernel is as far from the infinite-width one as a centered network's
        of half the width (kernel ridge with the empirical kernel at ``m = 1024``,
        teacher data: test R^2 0.960 paired, 0.974 centered, 0.982 in the limit), and
        the default fits scored 0.001-0.003 lower on three benchmark sets (4 seeds).
        But the centered network's output is not odd in the step, so its linearization
        error is of second order where the pairs' is of third: with more fitted values
        than parameters, where the steps are large, pairs do better (teacher data,
        37,500 rows: exact first step R^2 0.969 paired against 0.953 centered at
        ``m = 1024``; mean final R^2 over 3 seeds 0.975 against 0.951 at ``m = 256``;
        200,000 rows, ``m = 64``: 0.988 against 0.986). ``'random'`` keeps the
        initial output, a random function added to the fit. With
        ``depth >= 2`` ``'symmetric'`` means ``'centered'`` (pairing the last layer
        would cancel the gradients of every layer below it).
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
    standardize : bool, default=True
        Fit the network on the features centered and scaled to unit variance by their
        (weighted) means and standard deviations, as ``StandardScaler`` would, and apply
        the same map in ``predict``. Columns whose entries are all 0 or 1 (indicators,
        as from ``OneHotEncoder``) are kept as they are, and a constant column is only
        centered. The network's tangent kernel depends on the features' offset and
        size, so without this the fit depends on their units: with ``False``,
        min-max scaled features fitted PSID's earnings to test R^2 0.670 where
        standardized ones reach 0.920 (see the user guide). On features already
        standardized it changes nothing but rounding. ``False`` fits ``X`` as given.
    warm_start : bool, default=False
        Continue from the previous ``fit``: its weights, the ridge anchor ``W0``, the
        feature and target scalings, ``alpha_`` and ``input_scale_`` (not chosen again), the
        Levenberg-Marquardt damping and inner tolerance, and the stopping rule's
        reference; ``n_iter_``, ``loss_curve_`` and ``history_`` then accumulate. With
        ``solver='cholesky'`` or ``preconditioner='none'`` two warm fits of ``k`` steps
        equal one fit of ``2 k`` steps to rounding. A preconditioner (``'jacobi'``,
        ``'sketch'``, ``'nystrom'``) is not stored on the estimator (it can hold an
        ``n x n`` factor), so each warm fit fits it anew: its inexact inner solves then
        take other iterates than one long fit, and only the continuation is guaranteed
        (the objective never rises across warm fits).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data, score every step on it
        (R^2), stop when the score has not improved by ``tol`` for ``n_iter_no_change``
        steps, and keep the weights of the best step.
    validation_fraction : float, default=0.1
        Share of the training data held out when ``early_stopping`` is True.
    n_iter_no_change : int, default=10
        Patience of early stopping, in Gauss-Newton steps.
    n_jobs : int, default=None
        Parallel jobs for sketch blocks and row blocks (through joblib, so
        ``joblib.parallel_config(backend="dask")`` reaches a dask cluster); for row
        blocks ``None`` means as many threads as BLAS uses, since they stand in for its
        multithreaded products. Below ``2**23`` (row, neuron) pairs, where BLAS runs on
        one thread, it also decides whether the two row halves of every product run
        side by side (from 2 jobs; ``None``: when BLAS would use two threads or more).
        Results do not depend on ``n_jobs``.
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
    alpha_ : float
        The ridge strength used (chosen by ``alpha='auto'``, or the given number).
    input_scale_ : float
        The input scale used (chosen or given).
    shift_ : float
        The shifted ReLU's ``t`` (0 with ``activation='relu'``).
    dtype_ : numpy.dtype
        The precision of the ``n x m`` work (``dtype`` resolved).
    curvature_rows_ : int
        Rows the curvature of the Gauss-Newton steps came from (``curvature_rows``
        resolved; the number of training rows when it is every row). Whether the steps
        were solved in parameter space shows in ``history_`` (solver
        ``'parameter_cg'``).
    n_landmarks_ : int
        The Nystrom landmark count (``n_landmarks`` resolved), that of the first
        step; where the later inner solves outrun it the fit doubles it (each step's
        count is ``history_``'s ``landmarks``).
    alphas_, input_scales_ : ndarray
        The candidates scored (one value each for a parameter given as a number).
    selection_scores_ : ndarray of shape (n_input_scales, n_alphas) or None
        Negative mean leave-one-out squared error of each candidate pair, in standardized
        target units (``None`` when both ``alpha`` and ``input_scale`` were numbers).
    n_neurons_ : int
        The hidden width ``m`` (``n_neurons`` resolved).
    weights_ : ndarray of shape (n_neurons, n_features + fit_intercept)
        Trained hidden weights; the last column is the bias if ``fit_intercept``. With
        ``depth >= 2`` a flat vector ``[vec(W_1), vec(W_2^T), ..., vec(W_L^T)]`` of length
        ``m (d + fit_intercept) + (L - 1) m^2``.
    initial_weights_ : ndarray of shape (n_neurons, n_features + fit_intercept)
        The initialization ``W0`` (the anchor of the ridge penalty), shaped like
        ``weights_``.
    centered_ : bool
        Whether the network subtracts its output at ``initial_weights_`` (``init``
        ``'centered'``, or ``'symmetric'`` with ``depth >= 2``); a warm start keeps it.
    output_signs_ : ndarray of shape (n_neurons, n_outputs)
        The fixed output signs.
    n_outputs_ : int
        Number of targets.
    X_mean_ : ndarray of shape (n_features,)
        Mean subtracted from each feature (zeros for indicator columns and if
        ``standardize=False``).
    X_scale_ : ndarray of shape (n_features,)
        Scale each centered feature was divided by (ones for indicator and constant
        columns and if ``standardize=False``).
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
        ``inner_iterations``, ``inner_residual``, ``inner_tol`` and ``seconds``; with a
        sparse ``pattern`` also ``fired_fraction``, and with ``'indexed'``
        ``index_rebuilt`` (neurons re-indexed because they moved farther than the band)
        and ``index_borderline`` (pairs recomputed).
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
    feature_transform_ : ndarray of shape (n_features, n_features) or None
        The feature map ``T`` learned by ``agop_rounds`` (``None`` without); it acts on
        the standardized features, ``(X - X_mean_) / X_scale_``.
    agop_scores_ : ndarray of shape (2,) or None
        With ``agop_rounds='auto'``: the best leave-one-out score of the candidates
        (negative mean squared error of the standardized targets, as
        ``selection_scores_``) without and with the map learned after the first step,
        on the same rows; ``None`` when no map was learned.
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
        n_neurons="auto",
        *,
        depth=1,
        activation="relu",
        shift="auto",
        pattern="auto",
        alpha="auto",
        alphas=None,
        input_scale="auto",
        input_scales=None,
        agop_rounds="auto",
        solver="auto",
        preconditioner="auto",
        sketch="tensor_srht",
        sketch_size=3.0,
        n_landmarks="auto",
        dtype="auto",
        block_size="auto",
        curvature_rows="auto",
        max_memory=None,
        max_iter=100,
        tol=3e-3,
        init="auto",
        init_scale=1.0,
        fit_intercept=True,
        normalize_y=True,
        standardize=True,
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
        self.depth = depth
        self.activation = activation
        self.shift = shift
        self.pattern = pattern
        self.alpha = alpha
        self.alphas = alphas
        self.input_scale = input_scale
        self.input_scales = input_scales
        self.agop_rounds = agop_rounds
        self.solver = solver
        self.preconditioner = preconditioner
        self.sketch = sketch
        self.sketch_size = sketch_size
        self.n_landmarks = n_landmarks
        self.dtype = dtype
        self.block_size = block_size
        self.curvature_rows = curvature_rows
        self.max_memory = max_memory
        self.max_iter = max_iter
        self.tol = tol
        self.init = init
        self.init_scale = init_scale
        self.fit_intercept = fit_intercept
        self.normalize_y = normalize_y
        self.standardize = standardize
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

    @with_callbacks
    def fit(self, X, y, sample_weight=None):
        """Fit the network by Gauss-Newton steps.

        Parameters
        ----------
        X : {array-like, sparse matrix} or dask collection of shape (n_samples, n_features)
            Training data (standardized inside ``fit``, see ``standardize``). A sparse
            matrix is densified (the products are dense whatever its sparsity). A dask array or
            dataframe stays on the workers of the current ``dask.distributed`` client
            (see the user guide).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets (a dask collection is gathered to the client).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights ``s_i`` of the squared errors. Their scale counts, as
            in ``Ridge``: ``c s_i`` fits like ``s_i`` with ``alpha / c``, and the
            ``alphas`` grid is not rescaled (weights with mean 1 suit it).

        Returns
        -------
        self : SketchedGNRegressor
            The fitted estimator.
        """
        p = self._validate_params()
        if _dask.is_dask_collection(X):
            # The rows stay on the dask workers (skgn._dask); y and the weights do not.
            _dask.check_fit_params(p)
            X, y, sample_weight = _dask.validate_fit_data(self, X, y, sample_weight)
        else:
            X, y = validate_input(self, X, y, multi_output=True, y_numeric=True,
                                  ensure_min_samples=2)
            check_squared_norms(X)
        sample_weight = check_sample_weight(sample_weight, X.shape[0])
        Y = np.array(y, dtype=np.float64, copy=True).reshape(X.shape[0], -1)
        return self._fit(p, X, y, Y, sample_weight, y_ndim=np.ndim(y), loss=SquaredLoss())

    def predict(self, X):
        """Predict with the trained network.

        Parameters
        ----------
        X : {array-like, sparse matrix} or dask collection of shape (n_samples, n_features)
            Samples (a sparse matrix is densified; a dask array or dataframe gives a lazy
            result).

        Returns
        -------
        y_pred : ndarray or dask array of shape (n_samples,) or (n_samples, n_outputs)
            Predictions, shaped like the ``y`` given to ``fit``; a lazy dask array, chunked
            like ``X``, for a dask ``X``.
        """
        check_is_fitted(self)
        if _dask.is_dask_collection(X):
            return _dask.predict(self, X)
        X = validate_input(self, X, reset=False)
        return self._predict_validated(X)

    def _predict_validated(self, X):
        """Predictions for validated ``X``, shaped like the ``y`` given to ``fit``."""
        out = self._decision(X)
        out = out * self.y_scale_ + self.y_mean_
        return out.ravel() if self._y_ndim == 1 else out

    def _predict_array(self, X):
        """Predictions for one row chunk of a dask array (checked here, on the worker)."""
        return self._predict_validated(check_array(X, dtype=[np.float64, np.float32]))
