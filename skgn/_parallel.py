"""Block maps over rows with joblib, deterministic whatever ``n_jobs`` or the backend."""

import os

from joblib import effective_n_jobs
from sklearn.utils import gen_batches
from sklearn.utils.parallel import Parallel, delayed
from threadpoolctl import threadpool_limits


def block_map(func, n_items, block_size, n_jobs=None, **arrays):
    """Apply ``func(slice, **arrays)`` to consecutive blocks of ``range(n_items)``.

    Blocks are fixed by ``n_items`` and ``block_size`` alone and results come back in
    order, so the output does not depend on ``n_jobs`` or the joblib backend (which
    ``joblib.parallel_config`` may set, e.g. to dask). Threads are preferred (the work is
    BLAS and FFT, which release the GIL); BLAS threads are limited around the call so the
    workers do not oversubscribe the cores.

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
    **arrays
        Passed to every call.

    Returns
    -------
    results : list
        One result per block, in order.
    """
    blocks = list(gen_batches(n_items, block_size))
    if n_jobs in (None, 1) or len(blocks) == 1:
        return [func(b, **arrays) for b in blocks]
    n_workers = min(len(blocks), effective_n_jobs(n_jobs))
    with threadpool_limits(limits=max(1, (os.cpu_count() or 1) // n_workers)):
        return Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(func)(b, **arrays) for b in blocks
        )
