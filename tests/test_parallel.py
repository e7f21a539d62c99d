"""Results do not depend on n_jobs or the joblib backend."""

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import make_friedman1

from skgn import SketchedGNRegressor
from skgn._estimators import _resolve_paths, path_costs


@pytest.fixture(scope="module")
def problem():
    return make_friedman1(n_samples=300, n_features=5, noise=0.3, random_state=0)


# Gaussian sketch rows come in blocks of 512 and tensor sketches in column blocks: both
# paths split into several blocks here (s = 3 * 300 = 900 rows).
KW = {"n_neurons": 256, "solver": "lsqr", "preconditioner": "sketch", "random_state": 0,
      "max_iter": 6}


@pytest.mark.parametrize("sketch", ["gaussian", "tensor_srht"])
def test_same_predictions_for_n_jobs_and_backends(problem, sketch):
    X, y = problem
    ref = SketchedGNRegressor(sketch=sketch, n_jobs=1, **KW).fit(X, y).predict(X)
    two = SketchedGNRegressor(sketch=sketch, n_jobs=2, **KW).fit(X, y).predict(X)
    with joblib.parallel_config(backend="threading"):
        threads = SketchedGNRegressor(sketch=sketch, n_jobs=2, **KW).fit(X, y).predict(X)
    assert_allclose(two, ref, rtol=1e-10)
    assert_allclose(threads, ref, rtol=1e-10)


def test_dask_backend_gives_the_same_predictions(problem):
    distributed = pytest.importorskip("distributed")
    X, y = problem
    ref = SketchedGNRegressor(sketch="gaussian", n_jobs=1, **KW).fit(X, y).predict(X)
    with distributed.LocalCluster(processes=False, n_workers=2, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster):
            with joblib.parallel_config(backend="dask"):
                pred = SketchedGNRegressor(sketch="gaussian", n_jobs=2, **KW).fit(X, y).predict(X)
    assert_allclose(pred, ref, rtol=1e-10)


@pytest.mark.parametrize(
    "solver, preconditioner",
    [("auto", "auto"), ("cg", "nystrom"), ("lsqr", "sketch"), ("cg", "jacobi"), ("cg", "none")],
)
def test_history_records_the_paths_used(problem, solver, preconditioner):
    X, y = problem
    reg = SketchedGNRegressor(n_neurons=128, solver=solver, preconditioner=preconditioner,
                              n_landmarks=50, random_state=0, max_iter=5, tol=0.0)
    with pytest.warns(Warning):
        reg.fit(X, y)
    expected = _resolve_paths(solver, preconditioner, len(y), 128, 6, 3.0, 50)
    for entry in reg.history_:
        assert (entry["solver"], entry["preconditioner"]) == expected
        assert entry["inner_iterations"] >= (0 if expected[0] == "cholesky" else 1)
    if expected[1] != "none":
        assert reg.history_[0]["preconditioner_fitted"]


def test_auto_prefers_exact_when_small_and_matrix_free_when_large():
    assert _resolve_paths("auto", "auto", 1000, 4096, 21, 3.0, 500) == ("cholesky", "none")
    assert _resolve_paths("auto", "auto", 16000, 4096, 21, 3.0, 500) == ("cg", "nystrom")
    # An explicit solver takes the cheapest preconditioner, whichever solver it is.
    assert _resolve_paths("lsqr", "auto", 16000, 4096, 21, 3.0, 500) == ("lsqr", "nystrom")
    # The sketch pays when the network is much wider than sketch_size * n.
    assert _resolve_paths("cg", "auto", 500, 65536, 21, 3.0, 500) == ("cg", "sketch")
    # An explicit preconditioner asks for an iterative solver.
    assert _resolve_paths("auto", "jacobi", 1000, 4096, 21, 3.0, 500)[0] != "cholesky"
    # Memory decides when the n x n Gram does not fit.
    assert _resolve_paths("auto", "auto", 2000, 4096, 21, 3.0, 500, memory=1e7)[0] != "cholesky"
    costs = path_costs(16000, 4096, 21)
    assert costs[("cg", "nystrom")][1] < 16 * 16000**2


def test_preconditioner_is_reused_across_steps(problem):
    X, y = problem
    reg = SketchedGNRegressor(n_neurons=256, solver="cg", preconditioner="sketch",
                              random_state=0, max_iter=8, tol=0.0)
    with pytest.warns(Warning):
        reg.fit(X, y)
    fitted = [h["preconditioner_fitted"] for h in reg.history_]
    assert fitted[0] and not all(fitted)
