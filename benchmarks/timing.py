"""The timed fit every benchmark script uses: wall-clock seconds and peak NumPy memory."""

import time
import tracemalloc
import warnings

from sklearn.exceptions import ConvergenceWarning


def timed_fit(model, X, y):
    """Fit ``model`` (convergence warnings silenced); return seconds and peak MiB.

    Peak memory is NumPy's allocations as tracemalloc sees them during the fit.

    Parameters
    ----------
    model : estimator
        Fitted in place.
    X, y : array-like
        Training data.

    Returns
    -------
    seconds : float
        Wall-clock time of ``fit``.
    peak_mib : float
        Peak traced memory in MiB.
    """
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    return seconds, peak
