"""Block maps over rows with joblib, deterministic whatever ``n_jobs`` or the backend, the
two row halves of a small problem's products, and the BLAS thread policy of a fit."""

import functools
import os
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import nullcontext

from joblib import effective_n_jobs
from sklearn.utils import gen_batches
from sklearn.utils.parallel import Parallel, delayed
from threadpoolctl import ThreadpoolController


@functools.cache
def _controller():
    """The process's ``ThreadpoolController``, built at the first use and reused.

    Building one scans every loaded shared library: ``threadpool_limits`` and
    ``threadpool_info`` build a new one per call, which cost 6 ms each, four to six times
    per fit (25 ms of a 0.22 s fit on seattle). threadpoolctl's documentation recommends one
    controller, and scikit-learn keeps one per process too. The BLAS libraries that
    matter (numpy's and scipy's) are loaded when skgn is imported, before the first use;
    the thread counts it reports are read live.
    """
    return ThreadpoolController()


def block_map(func, n_items, block_size, n_jobs=None, tile_size=None, **arrays):
    """Apply ``func(slice, **arrays)`` to consecutive blocks of ``range(n_items)``.

    Blocks are fixed by ``n_items`` and ``block_size`` alone and results come back in
    order, so the output does not depend on ``n_jobs`` or the joblib backend (which
    ``joblib.parallel_config`` may set, e.g. to dask). Threads are preferred (the work is
    BLAS and FFT, which release the GIL); BLAS threads are limited around the call so the
    workers do not oversubscribe the cores.

    With ``tile_size``, each job applies ``func`` to the consecutive tiles of
    ``tile_size`` items of its block and the results are per tile: the tiles, and so the
    shapes every BLAS call sees, depend on ``n_items`` and ``tile_size`` only, not on
    ``block_size`` (a multiple of ``tile_size``).

    Parameters
    ----------
    func : callable
        ``func(block: slice, **arrays) -> result``.
    n_items : int
        Number of items to split.
    block_size : int
        Items per block.
    n_jobs : int, default=None
        Joblib's ``n_jobs``; ``None`` and 1 run in the calling thread.
    tile_size : int, default=None
        Items per call of ``func`` inside a block (``None``: the whole block).
    **arrays
        Passed to every call.

    Returns
    -------
    results : list
        One result per block (per tile with ``tile_size``), in order.
    """
    return list(_block_results(func, n_items, block_size, n_jobs, tile_size, **arrays))


def block_sum(func, n_items, block_size, n_jobs=None, tile_size=None):
    """The sum of ``func(slice)`` over consecutive blocks, added in block order.

    As :func:`block_map`, but each result is added to the total as soon as it is its turn
    (joblib's ``return_as='generator'`` yields them in order), so at most a few results
    are held at once whatever the number of blocks, and the sum is the same for every
    ``n_jobs``. With ``tile_size`` the parts are the tiles', added one by one in order, so
    the sum is also the same for every ``block_size`` (a multiple of ``tile_size``).

    Parameters
    ----------
    func : callable
        ``func(block: slice) -> ndarray``, all of one shape.
    n_items : int
        Number of items to split.
    block_size : int
        Items per block.
    n_jobs : int, default=None
        Joblib's ``n_jobs``; ``None`` and 1 run in the calling thread.
    tile_size : int, default=None
        Items per call of ``func`` inside a block (``None``: the whole block).

    Returns
    -------
    total : ndarray
        ``func(block_1) + func(block_2) + ...`` (of the tiles with ``tile_size``), left
        to right.
    """
    return ordered_sum(_block_results(func, n_items, block_size, n_jobs, tile_size))


def _block_results(func, n_items, block_size, n_jobs, tile_size=None, **arrays):
    """Yield ``func(block, **arrays)`` for consecutive blocks (or their tiles), in order.

    In the calling thread for ``n_jobs`` None or 1 (or one block); otherwise joblib
    threads, with BLAS limited so that the workers share the cores, while the results
    are consumed.
    """
    if tile_size is not None:
        if block_size % tile_size:
            raise ValueError(f"block_size={block_size} is not a multiple of "
                             f"tile_size={tile_size}.")
        tiled = _per_tile(func, tile_size)
        for parts in _block_results(tiled, n_items, block_size, n_jobs, **arrays):
            yield from parts
        return
    blocks = list(gen_batches(n_items, block_size))
    if n_jobs in (None, 1) or len(blocks) == 1:
        yield from (func(b, **arrays) for b in blocks)
        return
    n_workers = min(len(blocks), effective_n_jobs(n_jobs))
    with _controller().limit(limits=max(1, (os.cpu_count() or 1) // n_workers)):
        yield from Parallel(n_jobs=n_jobs, prefer="threads", return_as="generator")(
            delayed(func)(b, **arrays) for b in blocks)


def _per_tile(func, tile_size):
    """``block -> [func(tile, **arrays) for the tiles of tile_size items of block]``."""

    def tiled(block, **arrays):
        return [func(slice(start, min(start + tile_size, block.stop)), **arrays)
                for start in range(block.start, block.stop, tile_size)]

    return tiled


def ordered_sum(parts):
    """``parts[0] + parts[1] + ...`` added left to right into a copy of the first.

    Parameters
    ----------
    parts : iterable of ndarray
        At least one array, all of one shape; consumed one at a time.

    Returns
    -------
    total : ndarray
        The sum, whose rounding depends only on the order of ``parts``.
    """
    parts = iter(parts)
    total = next(parts).copy()
    for part in parts:
        total += part
    return total


# Below this many (row, neuron) pairs a multithreaded BLAS call costs more in thread
# start-up and spin-waiting than it saves, and OpenBLAS threads that spin while a busy
# neighbour holds the other core multiply the fit time: on 2 cores a fit at defaults on
# nox's 4,500 rows took 0.45 s idle and 0.69 s beside a busy process under this rule,
# 0.45 s and 1.44 s with BLAS on both cores (benchmarks/bench_busy.py, benchmarks/busy.md;
# 0.60 s against 1.06 s beside a busy process the run before).
_SINGLE_THREAD_PAIRS = 2**23


def single_blas_thread():
    """Context manager limiting BLAS to one thread, whatever the problem size.

    For the choice of ``alpha``: its eigendecompositions are at most 500 x 500, where a
    second thread only slows them down (331 rows: 9 ms on one thread, 11-23 ms on two).
    For the ``k x k`` eigen, Cholesky and triangular problems of a Nystrom fit: right
    after a large threaded product, OpenBLAS's second thread made them wait tens of
    milliseconds on this project's 2-core machine (medians after a 2000 x 2000 product,
    two threads against one: eigh 90 ms against 17 ms and Cholesky 53 ms against 2 ms at
    ``k = 400``; 171 ms against 156 ms and 79 ms against 10 ms at ``k = 1000``).

    Returns
    -------
    context : context manager
        ``threadpool_limits(1, user_api='blas')``.
    """
    return _controller().limit(limits=1, user_api="blas")


def blas_threads_for(n_rows, n_neurons, depth=1):
    """Context manager limiting BLAS to one thread for problems too small to share.

    Parameters
    ----------
    n_rows : int
        Rows of the Jacobian (samples times outputs).
    n_neurons : int
        Hidden width ``m``.
    depth : int, default=1
        Hidden layers: from 2, every (row, neuron) pair costs ``m`` times more (the
        ``m x m`` layers), so the pairs are counted ``m`` times.

    Returns
    -------
    context : context manager
        ``threadpool_limits(1, user_api='blas')`` when ``n_rows * n_neurons`` (times
        ``n_neurons`` for ``depth >= 2``) is below ``2**23``; otherwise a no-op, leaving
        the user's BLAS setting in force.
    """
    if _one_blas_thread(n_rows, n_neurons, depth):
        return single_blas_thread()
    return nullcontext()


def _one_blas_thread(n_rows, n_neurons, depth):
    """Whether :func:`blas_threads_for` limits this problem's BLAS to one thread."""
    work = n_rows * n_neurons * (n_neurons if depth > 1 else 1)
    return work < _SINGLE_THREAD_PAIRS


# From this many (row, neuron) pairs the unblocked products of a fit split their rows in
# two halves. Below it a product takes about as long as handing a half to another thread
# (about 0.1 ms): at n = 1,095, m = 1024, float32, a J v and J^T g pair took 0.77 ms on
# one thread and 0.54 ms in two halves on two.
_HALVES_PAIRS = 2**20


def row_halves(n_rows, n_neurons):
    """The row halves of an unblocked product: fixed by the problem's size alone.

    Parameters
    ----------
    n_rows : int
        Rows of the ``n x m`` pattern.
    n_neurons : int
        Hidden width ``m``.

    Returns
    -------
    parts : list of slice
        ``[slice(0, h), slice(h, n)]`` with ``h = ceil(n / 2)`` from ``2**20`` pairs
        (:data:`_HALVES_PAIRS`), else ``[slice(0, n)]``. The split does not depend on the
        threads that run it, so neither do the products' rounding and the fit.
    """
    if n_rows < 2 or n_rows * n_neurons < _HALVES_PAIRS:
        return [slice(0, n_rows)]
    half = (n_rows + 1) // 2
    return [slice(0, half), slice(half, n_rows)]


_WORKER = {}


def _worker():
    """This process's one worker thread of :func:`pair_map` (created at the first use).

    Keyed by process id: a forked child inherits the executor but not its thread, and
    would wait forever on work handed to it.
    """
    pid = os.getpid()
    if pid not in _WORKER:
        _WORKER.clear()
        _WORKER[pid] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="skgn-worker")
    return _WORKER[pid]


def pair_map(func, items, threads=1):
    """``[func(item) for item in items]``, on the calling thread and one worker with
    ``threads=2``.

    The worker runs the items at odd positions, one after the other, while the calling
    thread runs the others: for the two row halves of a product, one half each. An item
    the worker has not started when the calling thread is done with its own is taken
    back and run on the calling thread rather than waited for (on a busy machine the
    worker may not be scheduled). The worker is a persistent
    :class:`concurrent.futures.ThreadPoolExecutor` of one thread: handing it work costs
    about 0.1 ms, where joblib's ``Parallel`` costs about 10 ms per
    call even when reused (its dispatch and result machinery; both measured on this
    project's 2-core machine), more than a product of a few thousand rows takes. The
    work must release the GIL to run side by side: BLAS, numpy's array arithmetic and
    ``numpy.linalg`` do; SciPy's LAPACK wrappers (``scipy.linalg.eigh``) do not.

    Parameters
    ----------
    func : callable
        ``func(item) -> result``; with ``threads=2`` it must be thread-safe.
    items : list
        The arguments, for example the parts of :func:`row_halves`.
    threads : int, default=1
        1 runs every item in the calling thread, 2 side by side as above. The results
        are the same.

    Returns
    -------
    results : list
        One result per item, in order.
    """
    if threads < 2 or len(items) < 2:
        return [func(item) for item in items]
    odd = [_worker().submit(func, item) for item in items[1::2]]
    results = [None] * len(items)
    try:
        results[0::2] = [func(item) for item in items[0::2]]
        # An item the worker has not started (its thread not scheduled: a busy
        # machine) is taken back and run here rather than waited for.
        results[1::2] = [func(item) if future.cancel() else future.result()
                         for item, future in zip(items[1::2], odd)]
    except BaseException:
        # The worker may still write into the caller's arrays: let it finish first.
        for future in odd:
            future.cancel()
        wait(odd)
        raise
    return results


def selection_threads(n_jobs=None):
    """Threads for the candidates of ``alpha='auto'``: 2 when two are free, else 1.

    The selection's eigendecompositions run on one BLAS thread each
    (:func:`single_blas_thread`), so two of them can run side by side whatever the size
    of the problem.

    Parameters
    ----------
    n_jobs : int, default=None
        The estimator's ``n_jobs``; ``None``: two when BLAS would use two threads or
        more (read before any limit).

    Returns
    -------
    threads : int
        1 or 2.
    """
    available = blas_thread_count() if n_jobs is None else effective_n_jobs(n_jobs)
    return 2 if available >= 2 else 1


def half_threads(n_rows, n_neurons, depth=1, n_jobs=None):
    """Threads for the row halves of a fit's products: 2 where BLAS runs on one thread.

    Where :func:`blas_threads_for` limits BLAS to one thread (two-layer problems below
    ``2**23`` pairs), the two halves of each product run side by side, if ``n_jobs``
    allows two threads (``None``: if BLAS would use two or more, read here, before the
    limit). Elsewhere BLAS threads every product itself, and the halves run one after
    the other. Unlike BLAS threads, an idle worker waits on a lock instead of spinning:
    beside a busy process the fits at defaults took about as long as on one thread, and
    idle 35-40% less (``benchmarks/busy.md``, the user guide's "Precision and threads").

    Parameters
    ----------
    n_rows : int
        Rows of the Jacobian (samples times outputs).
    n_neurons : int
        Hidden width ``m``.
    depth : int, default=1
        Hidden layers (the halves are for the two-layer network's products).
    n_jobs : int, default=None
        The estimator's ``n_jobs`` (joblib's convention for negative values).

    Returns
    -------
    threads : int
        1 or 2.
    """
    if depth > 1 or not _one_blas_thread(n_rows, n_neurons, depth):
        return 1
    return selection_threads(n_jobs)


def blas_thread_count():
    """Threads the loaded BLAS libraries would use (the largest count; 1 if none found).

    Returns
    -------
    n_threads : int
        Read live from threadpoolctl's controller, so it follows ``threadpool_limits`` and
        the ``OPENBLAS_NUM_THREADS``-style environment variables.
    """
    counts = [info.get("num_threads", 1) for info in _controller().info()
              if info.get("user_api") == "blas"]
    return max(counts, default=1)
