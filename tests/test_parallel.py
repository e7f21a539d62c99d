"""Results do not depend on n_jobs or the joblib backend."""

import joblib
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import make_friedman1

from skgn import SketchedGNRegressor


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


def _blas_threads():
    from threadpoolctl import threadpool_info

    return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}


def test_blas_thread_rules():
    from skgn._parallel import _SINGLE_THREAD_PAIRS, blas_threads_for, single_blas_thread

    outside = _blas_threads()
    with single_blas_thread():
        assert _blas_threads() == {1}
    with blas_threads_for(_SINGLE_THREAD_PAIRS // 1024 - 1, 1024):
        assert _blas_threads() == {1}
    with blas_threads_for(_SINGLE_THREAD_PAIRS // 1024, 1024):
        assert _blas_threads() == outside
    assert _blas_threads() == outside


def test_blas_thread_count_follows_the_limits():
    from skgn._parallel import blas_thread_count, single_blas_thread

    assert blas_thread_count() == max(_blas_threads(), default=1)
    with single_blas_thread():
        assert blas_thread_count() == 1


def test_row_blocks_take_the_blas_thread_count_when_n_jobs_is_none():
    from skgn._network import _PARALLEL_PAIRS, _row_jobs
    from skgn._parallel import blas_thread_count, single_blas_thread

    assert _row_jobs(None, _PARALLEL_PAIRS // 64 - 1, 64) is None
    assert _row_jobs(None, _PARALLEL_PAIRS // 64, 64) == blas_thread_count()
    assert _row_jobs(3, _PARALLEL_PAIRS // 64, 64) == 3
    with single_blas_thread():
        assert _row_jobs(None, _PARALLEL_PAIRS // 64, 64) == 1
