"""The timed fit every benchmark script uses: wall-clock seconds and peak NumPy memory."""

import time
import tracemalloc
import warnings

from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning


def timed_fit(model, X, y, trace_memory=True):
    """Fit ``model`` (convergence warnings silenced); return seconds and peak MiB.

    The seconds come from an untraced fit of ``model``; the peak memory from a second
    fit of a clone under tracemalloc. Tracing every allocation slows Python-heavy code:
    ``MLPRegressor().fit`` took 2.1-2.5x longer traced on three benchmark sets (seattle
    0.17 s against 0.41 s) where skgn's fit barely changed, so timing a traced fit
    flattered skgn's ratios.

    Parameters
    ----------
    model : estimator
        Fitted in place (the timed fit).
    X, y : array-like
        Training data.
    trace_memory : bool, default=True
        Whether to run the traced second fit (it runs beside the fitted ``model``, so a
        fit near the machine's memory would not have room for it).

    Returns
    -------
    seconds : float
        Wall-clock time of ``fit``.
    peak_mib : float
        Peak traced memory in MiB (NumPy's allocations as tracemalloc sees them); NaN
        without ``trace_memory``.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - start
        if not trace_memory:
            return seconds, float("nan")
        traced = clone(model)
        tracemalloc.start()
        try:
            traced.fit(X, y)
            peak = tracemalloc.get_traced_memory()[1] / 2**20
        finally:
            tracemalloc.stop()
    return seconds, peak
