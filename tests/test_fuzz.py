"""Property-based fuzzing of fit/predict and ntk with generated hostile inputs (hypothesis).

Property: the outcome is a fitted model whose predictions are finite, float64 and shaped
like ``y``, or a ``ValueError``/``TypeError`` whose message names the problem; never another
exception, never NaN. The default run draws a few hundred examples; ``pytest -m slow``
draws 5,000 more.
"""

import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from skgn import SketchedGNRegressor, ntk  # noqa: E402

PATHS = [("auto", "auto"), ("cholesky", "none"), ("normal", "none")] + [
    (s, p) for s in ("cg", "lsqr") for p in ("none", "jacobi", "nystrom", "sketch")]
DTYPES = [np.float64, np.float32, np.float16, np.int64, bool, object]
# Words a clear message uses: the faulty input or parameter, or what to do.
NAMES_THE_PROBLEM = ("X", "y", "sample", "weight", "parameter", "feature", "Standardize",
                     "NaN", "infinity", "finite", "needs", "GiB", "convert", "dtype")


@st.composite
def problems(draw):
    n = draw(st.integers(1, 25))
    d = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = 10.0 ** draw(st.integers(-300, 300))
    X = rng.standard_normal((n, d)) * scale
    y = rng.standard_normal(n) * 10.0 ** draw(st.integers(-300, 300))
    for target in draw(st.lists(st.sampled_from(["X", "y"]), max_size=2)):
        bad = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        (X.flat if target == "X" else y)[draw(st.integers(0, n - 1))] = bad
    dtype = draw(st.sampled_from(DTYPES))
    with np.errstate(all="ignore"):
        X = X.astype(dtype) if dtype is not object else X.astype(object)
    weight = draw(st.sampled_from(["none", "scalar", "array"]))
    if weight == "scalar":
        sw = draw(st.sampled_from([1.0, 0.0, -1.0, 2.5, np.nan]))
    elif weight == "array":
        sw = rng.choice([0.0, 0.5, 1.0, 3.0, -1.0], size=n, p=[0.2, 0.2, 0.3, 0.25, 0.05])
    else:
        sw = None
    solver, preconditioner = draw(st.sampled_from(PATHS))
    params = {
        "n_neurons": draw(st.sampled_from([2, 8, 16])),
        "alpha": draw(st.sampled_from(["auto", 0.0, 1e-3, 1.0, 1e3])),
        "solver": solver, "preconditioner": preconditioner, "n_landmarks": 5,
        "max_iter": draw(st.integers(1, 4)), "random_state": 0,
        "fit_intercept": draw(st.booleans()),
    }
    return X, y, sw, params


def _check_outcome(X, y, sw, params):
    reg = SketchedGNRegressor(**params)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reg.fit(X, y, sample_weight=sw)
    except (ValueError, TypeError) as exc:
        assert any(word in str(exc) for word in NAMES_THE_PROBLEM), str(exc)
        return
    pred = reg.predict(X)
    assert pred.shape == y.shape and pred.dtype == np.float64
    assert np.all(np.isfinite(pred)), (params, pred)


@given(problems())
@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
def test_fit_gives_a_finite_model_or_a_clear_error(problem):
    _check_outcome(*problem)


@pytest.mark.slow
@given(problems())
@settings(max_examples=5000, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
def test_fit_gives_a_finite_model_or_a_clear_error_many(problem):
    _check_outcome(*problem)


@given(st.integers(1, 12), st.integers(1, 4), st.integers(-300, 300),
       st.sampled_from([None, np.nan, np.inf]), st.sampled_from(DTYPES))
@settings(max_examples=150, deadline=None, database=None)
def test_ntk_is_finite_or_refuses(n, d, exponent, bad, dtype):
    X = np.random.default_rng(n * d).standard_normal((n, d)) * 10.0**exponent
    if bad is not None:
        X[0, 0] = bad
    with np.errstate(all="ignore"):
        X = X.astype(dtype)
    try:
        K = ntk(X)
    except (ValueError, TypeError) as exc:
        assert any(word in str(exc) for word in NAMES_THE_PROBLEM), str(exc)
        return
    assert K.shape == (n, n) and np.all(np.isfinite(K))
