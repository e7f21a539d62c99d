"""Bad or extreme input gets a clear error or a correct model (one test per fault class).

Each case was reproduced with ``X = rng.standard_normal((40, 3))``,
``y = sin(X[:, 0]) + X[:, 1]**2`` and ``n_neurons=32`` before it was fixed.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning

from skgn import NTKKernel, SketchedGNClassifier, SketchedGNRegressor, ntk
from skgn._cost_model import check_memory


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    return X, np.sin(X[:, 0]) + X[:, 1] ** 2


# 1. A scalar sample_weight is validated like an array.
@pytest.mark.parametrize("weight, match", [
    (-1.0, "non-negative"), (0.0, "all weights are zero"), (np.nan, "contains NaN"),
    (np.inf, "contains infinity"),
])
def test_bad_scalar_sample_weight_raises(data, weight, match):
    with pytest.raises(ValueError, match=match):
        SketchedGNRegressor(n_neurons=32).fit(*data, sample_weight=weight)


def test_positive_scalar_sample_weight_equals_the_constant_array(data):
    X, y = data
    kw = {"n_neurons": 32, "random_state": 0}
    a = SketchedGNRegressor(**kw).fit(X, y, sample_weight=2.0).predict(X)
    b = SketchedGNRegressor(**kw).fit(X, y, sample_weight=np.full(len(y), 2.0)).predict(X)
    assert_allclose(a, b, rtol=1e-12)


# 2. Target scaling neither overflows nor calls tiny targets constant.
@pytest.mark.parametrize("factor", [1e160, 1e-16, 1e-200])
def test_target_scale_does_not_matter(data, factor):
    X, y = data
    kw = {"n_neurons": 32, "random_state": 0}
    base = SketchedGNRegressor(**kw).fit(X, y).predict(X)
    scaled = SketchedGNRegressor(**kw).fit(X, y * factor).predict(X)
    assert np.all(np.isfinite(scaled))
    assert_allclose(scaled / factor, base, rtol=1e-6, atol=1e-9)


# 3. Inputs of extreme scale: a clear error, or an honest non-converged warning.
def test_inputs_whose_squares_overflow_raise(data):
    X, y = data
    with pytest.raises(ValueError, match="squares overflow float64. Standardize"):
        SketchedGNRegressor(n_neurons=32).fit(X * 1e200, y)


def test_no_accepted_step_is_not_convergence(data):
    X, y = data
    reg = SketchedGNRegressor(n_neurons=32, standardize=False, random_state=0)
    with pytest.warns(ConvergenceWarning, match="accepted no Gauss-Newton step"):
        reg.fit(X * 1e20, y)
    assert not reg.converged_ and reg.loss_curve_ == []
    # Standardized (the default), the same inputs fit as the unscaled ones do.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        scaled = SketchedGNRegressor(n_neurons=32, random_state=0).fit(X * 1e20, y)
    plain = SketchedGNRegressor(n_neurons=32, random_state=0).fit(X, y)
    assert scaled.converged_
    assert scaled.score(X * 1e20, y) == pytest.approx(plain.score(X, y), abs=1e-6)


# 4. warm_start: exact continuation without a preconditioner; with one, a monotone
# continuation (the preconditioner is fitted anew, so the iterates differ).
@pytest.mark.parametrize("solver, preconditioner", [
    ("cholesky", "none"), ("cg", "none"), ("cg", "nystrom"), ("lsqr", "sketch"),
])
def test_warm_start_guarantee(data, solver, preconditioner):
    X, y = data
    kw = {"n_neurons": 32, "alpha": 0.01, "tol": 0.0, "random_state": 0, "solver": solver,
          "preconditioner": preconditioner, "n_landmarks": 10}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm = SketchedGNRegressor(max_iter=3, warm_start=True, **kw).fit(X, y)
        first_loss = warm.loss_curve_[-1]
        warm.fit(X, y)
        long = SketchedGNRegressor(max_iter=6, **kw).fit(X, y)
    assert warm.n_iter_ == 6 and np.all(np.diff(warm.loss_curve_) <= 0)
    assert warm.loss_curve_[-1] <= first_loss
    if preconditioner == "none":
        assert_allclose(warm.predict(X), long.predict(X), rtol=1e-12, atol=1e-12)


# 6. An explicit path that cannot fit in memory is refused before it allocates.
def test_explicit_path_too_large_is_refused_before_allocating():
    with pytest.raises(ValueError, match="needs about 596.1 GiB.*'nystrom' needs"):
        check_memory("cholesky", "none", 200_000, 64, 6, 3.0, 500, memory=12 * 2**30)
    with pytest.raises(ValueError, match="preconditioner='sketch' needs about 298.7 GiB"):
        check_memory("lsqr", "sketch", 200_000, 64, 6, 3.0, 500, memory=12 * 2**30)
    check_memory("cg", "nystrom", 200_000, 64, 6, 3.0, 500, memory=12 * 2**30)


# 7. ntk and NTKKernel validate their inputs.
@pytest.mark.parametrize("make, match", [
    (lambda X: (np.where(X > 1, np.nan, X), None), "Input X contains NaN"),
    (lambda X: (X, np.full_like(X, np.inf)), "Input Y contains infinity"),
    (lambda X: (X, X[:, :2]), "same number of features; got 3 and 2"),
    (lambda X: (X.astype(complex), None), "Complex data not supported"),
])
def test_ntk_validates(data, make, match):
    A, B = make(data[0])
    for kernel in (lambda a, b: ntk(a, b), lambda a, b: NTKKernel()(a, b)):
        with pytest.raises(ValueError, match=match):
            kernel(A, B)


def test_ntk_rejects_sparse(data):
    sp = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match="Sparse data was passed for X"):
        ntk(sp.csr_matrix(data[0]))


# 8. n_jobs=0 is refused.
def test_n_jobs_zero_is_refused(data):
    with pytest.raises(ValueError, match="'n_jobs' parameter must be an integer <= -1 or an "
                                         "integer >= 1; got 0"):
        SketchedGNRegressor(n_neurons=32, n_jobs=0).fit(*data)


# Numerical faults: no exception, a monotone objective, and converged_ only when a stopping
# rule held (its message is recorded; max_iter is not convergence).
def _faults():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 4))
    U, _, Vt = np.linalg.svd(X, full_matrices=False)
    return {
        "duplicated rows": np.vstack([X[:30], X[:30]]),
        "collinear columns": np.c_[X[:, :2], X[:, :1] * 3.0, X[:, 1:2] - X[:, :1]],
        "cond 1e16": U @ np.diag(np.logspace(0, -16, 4)) @ Vt,
        "columns 1e-8 to 1e4": X * np.array([1e-8, 1e-3, 1.0, 1e4]),
    }


@pytest.mark.parametrize("name", sorted(_faults()))
@pytest.mark.parametrize("alpha", [0.0, "auto"])
@pytest.mark.parametrize("solver, preconditioner", [
    ("cholesky", "none"), ("cg", "jacobi"), ("cg", "nystrom"), ("lsqr", "sketch")])
def test_numerical_faults(name, alpha, solver, preconditioner):
    X = _faults()[name]
    y = np.sin(X[:, 0] / (np.abs(X[:, 0]).max() + 1e-300)) + 0.1 * np.arange(len(X)) % 3
    reg = SketchedGNRegressor(n_neurons=32, alpha=alpha, solver=solver,
                              preconditioner=preconditioner, n_landmarks=10, max_iter=15,
                              random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reg.fit(X, y)
    assert np.all(np.isfinite(reg.predict(X)))
    assert np.all(np.diff(reg.loss_curve_) <= 0)
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    assert reg.converged_ != warned


def test_constant_target_converges_without_warning(data):
    X, _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg = SketchedGNRegressor(n_neurons=32, random_state=0).fit(X, np.full(len(X), 3.0))
    assert reg.converged_
    assert_allclose(reg.predict(X), 3.0)


def test_constant_inputs_converge_at_the_constant_model_without_warning(data):
    # The centered start already predicts the mean (the classifier: the class prior),
    # the best any network of constant inputs can do.
    X, y = data
    constant = np.ones_like(X)
    labels = (y > np.quantile(y, 0.8)).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg = SketchedGNRegressor(n_neurons=32, random_state=0).fit(constant, y)
        clf = SketchedGNClassifier(n_neurons=32, random_state=0).fit(constant, labels)
    assert reg.converged_ and reg.n_iter_ == 1 and clf.converged_ and clf.n_iter_ == 1
    assert_allclose(reg.predict(constant), y.mean(), rtol=1e-10)
    assert_allclose(clf.predict_proba(constant)[:, 1], labels.mean(), rtol=1e-10)


def test_max_memory_bounds_the_auto_path_and_refuses_an_explicit_one():
    from skgn._cost_model import peak_bytes

    rng = np.random.RandomState(0)
    X = rng.standard_normal((1000, 4))
    y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(1000)
    kw = {"n_neurons": 512, "alpha": 0.1, "input_scale": 1.0, "random_state": 0}
    free = SketchedGNRegressor(**kw).fit(X, y)
    assert free.history_[0]["solver"] == "cholesky"
    # A budget below the n x n Gram (and its factor) but above the Nystrom path's peak.
    exact = peak_bytes("cholesky", "none", 1000, 512, 5, 3.0, 500) / 2**20
    nystrom = peak_bytes("cg", "nystrom", 1000, 512, 5, 3.0, 500) / 2**20
    assert nystrom < exact
    budget = 0.5 * (nystrom + exact)
    bounded = SketchedGNRegressor(max_memory=budget, **kw).fit(X, y)
    assert bounded.history_[0]["solver"] != "cholesky"
    with pytest.raises(ValueError, match=r"MiB budget \(max_memory\).*raise max_memory"):
        SketchedGNRegressor(max_memory=budget, solver="cholesky", **kw).fit(X, y)
    with pytest.raises(ValueError, match="max_memory"):
        SketchedGNRegressor(max_memory=-1.0, **kw).fit(X, y)
    # Below every costed path's peak 'auto' still fits, on the diagonal preconditioner.
    jacobi = peak_bytes("cg", "jacobi", 1000, 512, 5, 3.0, 500) / 2**20
    tight = SketchedGNRegressor(max_memory=0.5 * (jacobi + nystrom), **kw).fit(X, y)
    assert (tight.history_[0]["solver"], tight.history_[0]["preconditioner"]) == (
        "cg", "jacobi")
    assert tight.score(X, y) == pytest.approx(free.score(X, y), abs=0.02)
