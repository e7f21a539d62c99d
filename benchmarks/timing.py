"""The timed fit every benchmark script uses: wall-clock seconds and peak NumPy memory."""

import time
import tracemalloc
import warnings

from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning


def timed_fit(model, X, y, trace_memory=True, repeat=3, budget=2.0):
    """Fit ``model`` (convergence warnings silenced); return seconds and peak MiB.

    The seconds are the least of up to ``repeat`` untraced fits of ``model``, repeated
    while the fits so far took less than ``budget`` seconds in all (a slower fit runs
    once). Python's ``timeit`` takes the minimum for the same reason: the spread above
    it comes from other processes, not from the code, and on this project's shared
    machines one fit of a sub-second model varied by 30% between runs. Every model of a
    benchmark is timed alike. The peak memory comes from one more fit, of a clone under
    tracemalloc. Tracing every allocation slows Python-heavy code:
    ``MLPRegressor().fit`` took 2.1-2.5x longer traced on three benchmark sets (seattle
    0.17 s against 0.41 s) where skgn's fit barely changed, so timing a traced fit
    flattered skgn's ratios.

    Parameters
    ----------
    model : estimator
        Fitted in place (the timed fits; each starts over).
    X, y : array-like
        Training data.
    trace_memory : bool, default=True
        Whether to run the traced extra fit (it runs beside the fitted ``model``, so a
        fit near the machine's memory would not have room for it).
    repeat : int, default=3
        Most timed fits.
    budget : float, default=2.0
        Seconds of timed fits after which no more are started.

    Returns
    -------
    seconds : float
        Least wall-clock time of ``fit``.
    peak_mib : float
        Peak traced memory in MiB (NumPy's allocations as tracemalloc sees them); NaN
        without ``trace_memory``.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        times = []
        while len(times) < repeat and sum(times) < budget:
            start = time.perf_counter()
            model.fit(X, y)
            times.append(time.perf_counter() - start)
        seconds = min(times)
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
