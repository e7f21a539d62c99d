"""Results do not depend on n_jobs or the joblib backend."""

import os
import time

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


def test_a_fit_scans_the_loaded_libraries_at_most_once_per_process(monkeypatch):
    """The thread rules reuse one ThreadpoolController (each new one scans every loaded
    library, 6 ms, four times per fit), and its limits still act (tests above)."""
    import numpy as np
    import threadpoolctl

    from skgn import SketchedGNRegressor

    built = []
    init = threadpoolctl.ThreadpoolController.__init__

    def counted(self):
        built.append(1)
        init(self)

    monkeypatch.setattr(threadpoolctl.ThreadpoolController, "__init__", counted)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4))
    y = np.sin(X[:, 0])
    SketchedGNRegressor(n_neurons=64, random_state=0).fit(X, y)
    assert len(built) <= 1
    SketchedGNRegressor(n_neurons=64, random_state=0).fit(X, y).predict(X)
    assert len(built) <= 1


def test_row_blocks_take_the_blas_thread_count_when_n_jobs_is_none():
    from skgn._network import _PARALLEL_PAIRS, _row_jobs
    from skgn._parallel import blas_thread_count, single_blas_thread

    assert _row_jobs(None, _PARALLEL_PAIRS // 64 - 1, 64) is None
    assert _row_jobs(None, _PARALLEL_PAIRS // 64, 64) == blas_thread_count()
    assert _row_jobs(3, _PARALLEL_PAIRS // 64, 64) == 3
    with single_blas_thread():
        assert _row_jobs(None, _PARALLEL_PAIRS // 64, 64) == 1


def test_block_sum_adds_in_block_order_whatever_n_jobs():
    import numpy as np

    from skgn._parallel import block_map, block_sum

    rng = np.random.default_rng(0)
    values = rng.standard_normal((1000, 3)) * np.logspace(-8, 8, 1000)[:, None]

    def part(rows):
        return values[rows].sum(axis=0)

    expected = np.zeros(3)
    for piece in block_map(part, 1000, 37):
        expected += piece
    for n_jobs in (None, 1, 2):
        # Bit-for-bit: the same additions in the same order.
        assert np.array_equal(block_sum(part, 1000, 37, n_jobs), expected)


def test_block_size_is_whole_tiles_with_a_minimum_of_rows():
    import numpy as np
    import sklearn

    from skgn._estimators import _MIN_BLOCK_ROWS, _resolve_block_size
    from skgn._network import tile_rows

    # 2**18 pattern values per tile, at least 256 rows, a multiple of 256.
    assert tile_rows(64) == 4096 and tile_rows(100) == 2560 and tile_rows(2048) == 256
    assert tile_rows(2**17) == 256
    assert _resolve_block_size("auto", 1000, 64, np.float32) is None
    # A number is rounded up to whole tiles, and is used even above n_samples.
    assert _resolve_block_size(300, 1000, 64, np.float32) == 4096
    assert _resolve_block_size(300, 1000, 1024, np.float32) == 512
    assert _resolve_block_size(1000, 1000, 1024, np.float32) == 1024
    with sklearn.config_context(working_memory=1):
        # 2**20 bytes: 4,096 rows of 64 float32 fit, 100,000 do not.
        assert _resolve_block_size("auto", 4096, 64, np.float32) is None
        # The cache rule's 13,107 rows, rounded up to whole tiles of 4,096.
        assert _resolve_block_size("auto", 100_000, 64, np.float32) == 16384
        assert _resolve_block_size("auto", 100_000, 2**17, np.float64) == _MIN_BLOCK_ROWS


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_tiles_fix_the_sum_whatever_the_block_size(n_jobs):
    """With tiles, parts are per tile and added in order: the same bits for every block."""
    import numpy as np

    from skgn._parallel import block_map, block_sum

    rng = np.random.default_rng(0)
    data = rng.standard_normal((1000, 3))

    def part(rows):
        return data[rows].sum(axis=0)

    expected = data[:8].sum(axis=0).copy()
    for start in range(8, 1000, 8):
        expected += data[start:start + 8].sum(axis=0)
    for block in (8, 16, 40, 1000, 1008):
        assert np.array_equal(block_sum(part, 1000, block, n_jobs, tile_size=8), expected)
    tiles = block_map(part, 1000, 40, n_jobs, tile_size=8)
    assert len(tiles) == 125 and np.array_equal(tiles[3], part(slice(24, 32)))
    with pytest.raises(ValueError, match="multiple of tile_size"):
        block_sum(part, 1000, 20, n_jobs, tile_size=8)


def test_row_halves_split_from_the_pair_threshold():
    from skgn._parallel import _HALVES_PAIRS, row_halves

    assert row_halves(_HALVES_PAIRS // 64 - 1, 64) == [slice(0, _HALVES_PAIRS // 64 - 1)]
    assert row_halves(_HALVES_PAIRS // 64, 64) == [slice(0, _HALVES_PAIRS // 128),
                                                   slice(_HALVES_PAIRS // 128,
                                                         _HALVES_PAIRS // 64)]
    # An odd count: the first half takes the extra row.
    n = _HALVES_PAIRS // 64 + 1
    assert row_halves(n, 64) == [slice(0, n // 2 + 1), slice(n // 2 + 1, n)]
    assert row_halves(1, 2 * _HALVES_PAIRS) == [slice(0, 1)]


@pytest.mark.parametrize("threads", [1, 2])
def test_pair_map_returns_results_in_order(threads):
    import threading

    from skgn._parallel import pair_map

    seen = {}
    started = threading.Event()

    def func(part):
        if part.start % 2:
            started.set()
        elif threads == 2 and part.start == 0:
            # Hold the calling thread until the worker has an item, so that both run.
            started.wait(5.0)
        seen[part.start] = threading.get_ident()
        return part.start

    assert pair_map(func, [slice(0, 3), slice(3, 5)], threads) == [0, 3]
    assert len(set(seen.values())) == threads
    assert pair_map(func, [slice(0, 5)], threads) == [0]
    # More items: the worker takes those at odd positions, the results stay in order.
    seen.clear()
    started.clear()
    assert pair_map(func, [slice(i, i + 1) for i in range(5)], threads) == [0, 1, 2, 3, 4]
    caller = threading.get_ident()
    assert all(seen[i] == caller for i in (0, 2, 4))
    assert (seen[1] != caller) == (threads == 2)


def test_pair_map_takes_back_an_item_the_worker_has_not_started():
    import threading

    import skgn._parallel as parallel

    release = threading.Event()
    # Keep the worker busy, so that it cannot start the second item.
    blocker = parallel._worker().submit(release.wait, 5.0)
    caller = threading.get_ident()
    try:
        ran_on = parallel.pair_map(lambda part: threading.get_ident(),
                                   [slice(0, 1), slice(1, 2)], 2)
    finally:
        release.set()
        blocker.result()
    assert ran_on == [caller, caller]


def test_pair_map_lets_the_worker_finish_before_it_raises():
    import threading

    from skgn._parallel import pair_map

    started, done = threading.Event(), threading.Event()

    def func(part):
        if part.start == 0:
            started.wait(5.0)
            raise ValueError("first half")
        started.set()
        time.sleep(0.2)
        done.set()
        return part.start

    with pytest.raises(ValueError, match="first half"):
        pair_map(func, [slice(0, 1), slice(1, 2)], 2)
    assert done.is_set()


def test_a_forked_process_gets_its_own_worker(monkeypatch):
    import os

    import skgn._parallel as parallel

    pool = parallel._worker()
    assert parallel._worker() is pool
    monkeypatch.setattr(os, "getpid", lambda: -1)
    child = parallel._worker()
    assert child is not pool
    assert child.submit(lambda: 7).result() == 7


def test_half_threads_rules():
    from skgn._parallel import (_SINGLE_THREAD_PAIRS, blas_thread_count, half_threads,
                                single_blas_thread)

    small = _SINGLE_THREAD_PAIRS // 1024 - 1
    assert half_threads(small, 1024, n_jobs=2) == 2
    assert half_threads(small, 1024, n_jobs=-1) == (2 if (os.cpu_count() or 1) > 1 else 1)
    assert half_threads(small, 1024, n_jobs=1) == 1
    assert half_threads(small, 1024) == min(2, blas_thread_count())
    with single_blas_thread():
        assert half_threads(small, 1024) == 1
    # BLAS threads the larger products itself, and the deep network has no halves.
    assert half_threads(small + 1, 1024, n_jobs=2) == 1
    assert half_threads(small, 1024, depth=2, n_jobs=2) == 1


def test_a_fit_gives_the_same_model_on_one_or_two_half_threads(monkeypatch):
    """The default path's products split in row halves from 2**20 pairs (1,100 rows at
    1,024 neurons); n_jobs only decides whether they run side by side."""
    import numpy as np
    from sklearn.datasets import make_friedman1

    import skgn._parallel as parallel

    submitted = []
    pool = parallel._worker()

    class Counting:
        def submit(self, *args):
            submitted.append(1)
            return pool.submit(*args)

    monkeypatch.setattr(parallel, "_worker", lambda: Counting())
    X, y = make_friedman1(1100, noise=1.0, random_state=0)
    fits = {}
    for n_jobs in (1, 2):
        submitted.clear()
        model = SketchedGNRegressor(n_jobs=n_jobs, random_state=0).fit(X, y)
        fits[n_jobs] = (model.predict(X), model.weights_, len(submitted))
    assert fits[1][2] == 0 and fits[2][2] > 0
    assert np.array_equal(fits[1][0], fits[2][0])
    assert np.array_equal(fits[1][1], fits[2][1])
