"""Block maps over rows with joblib, deterministic whatever ``n_jobs`` or the backend."""

import os

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
    blocks = [slice(i, min(i + block_size, n_items)) for i in range(0, n_items, block_size)]
    if n_jobs in (None, 1) or len(blocks) == 1:
        return [func(b, **arrays) for b in blocks]
    n_workers = min(len(blocks), os.cpu_count() or 1) if n_jobs < 0 else n_jobs
    with threadpool_limits(limits=max(1, (os.cpu_count() or 1) // max(n_workers, 1))):
        return Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(func)(b, **arrays) for b in blocks
        )
