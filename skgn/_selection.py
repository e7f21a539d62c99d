"""Choosing ``alpha`` and the input scale inside ``fit``, as ``RidgeCV`` chooses ``alpha``.

In the lazy regime the network's first Gauss-Newton step from its initialization is
kernel ridge regression with its tangent kernel, and the kernel of a wide network is the
closed-form NTK (:func:`skgn.ntk`). The kernel's shape depends on how large the inputs are
against the bias feature: ``x~ = [s x, 1]`` with the input scale ``s``. So both knobs are
chosen by exact leave-one-out (LOO) error of NTK kernel ridge regression, for every pair on
the grid, from one eigendecomposition per scale:

    K = Q diag(l) Q^T,    H(a) = Q diag(l / (l + a)) Q^T,
    LOO residual_i = (y_i - (H y)_i) / (1 - H_ii),

(equivalently ``e_i = [G y]_i / G_ii`` with ``G = (K + a I)^{-1}``, the form used, which
stays finite at ``a = 0``), so each ``alpha`` costs ``O(n^2)`` after an ``O(n^3)``
eigendecomposition. To keep that
cost bounded, the scores are computed on a random subsample of at most
``SELECTION_ROWS`` rows (an exact eigendecomposition at 4,500 rows takes about 9 s on two
cores; at 1,000 rows about 0.15 s, at 500 rows 0.04 s). ``benchmarks/bench_selection.py``
measures this rule against GCV, the evidence and a hold-out on real data, and the
defaults' test R^2 with 500 and 1,000 selection rows (``benchmarks/selection.md``).

Sample weights follow ``RidgeCV``: rows are scaled by ``sqrt(s_i)``, and the LOO errors
are weighted by ``s_i``.
"""

from dataclasses import dataclass

import numpy as np

from ._kernels import ntk
from ._parallel import pair_map

# Rows used to score the candidates (a random subsample beyond this). 500 rows cost a
# quarter of 1,000 rows' time at the same mean test R^2 of the default fits
# (benchmarks/selection.md).
SELECTION_ROWS = 500
DEFAULT_ALPHAS = tuple(np.logspace(-2, 2, 9))
DEFAULT_INPUT_SCALES = (1.0, 0.5, 0.25)


@dataclass
class Selection:
    """The chosen pair of ``select`` and the scores of every candidate.

    Parameters
    ----------
    alpha : float
        Chosen ridge strength.
    input_scale : float
        Chosen input scale.
    alphas : ndarray of shape (n_alphas,)
        Candidate ridge strengths.
    input_scales : ndarray of shape (n_scales,)
        Candidate input scales.
    scores : ndarray of shape (n_scales, n_alphas)
        Negative weighted mean LOO squared error (higher is better), in standardized
        target units.
    n_rows : int
        Rows the scores were computed on.
    eigenvalues : ndarray of shape (n_rows,)
        Eigenvalues of the (weighted) kernel of the chosen input scale on those rows,
        descending: the spectrum the Nystrom landmark count is chosen from.
    """

    alpha: float
    input_scale: float
    alphas: np.ndarray
    input_scales: np.ndarray
    scores: np.ndarray
    n_rows: int
    eigenvalues: np.ndarray


def loo_scores(K, Y, alphas, sample_weight=None, *, return_eigenvalues=False):
    """Negative weighted mean LOO squared error of kernel ridge for every ``alpha``.

    Parameters
    ----------
    K : ndarray of shape (n, n)
        Kernel matrix.
    Y : ndarray of shape (n, k)
        Targets.
    alphas : array-like of shape (n_alphas,)
        Ridge strengths.
    sample_weight : ndarray of shape (n,), default=None
        Weights ``s_i``: the problem is ``diag(sqrt(s)) (K, Y)``, errors weighted by
        ``s_i``.
    return_eigenvalues : bool, default=False
        Also return the eigenvalues of the weighted kernel.

    Returns
    -------
    scores : ndarray of shape (n_alphas,)
        ``-sum_i s_i ||e_i||^2 / sum_i s_i`` with ``e_i`` the LOO residual of row ``i``.
    eigenvalues : ndarray of shape (n,)
        Descending eigenvalues of ``S^1/2 K S^1/2`` (only with ``return_eigenvalues``).
    """
    root = np.ones(len(K)) if sample_weight is None else np.sqrt(sample_weight)
    # The weighted problem: K_s = S^1/2 K S^1/2, Y_s = S^1/2 Y.
    # numpy's eigh is LAPACK's divide and conquer (syevd), about twice as fast as SciPy's
    # default driver here, and it releases the GIL (SciPy's wrapper does not), so that
    # the scales of select() can run side by side.
    evals, Q = np.linalg.eigh(K * np.outer(root, root))
    floor = np.finfo(np.float64).eps * max(evals[-1], np.finfo(np.float64).tiny)
    QY = Q.T @ (root[:, None] * Y)
    Q2 = Q**2
    weight_sum = np.sum(root**2)
    scores = []
    for alpha in alphas:
        # LOO residual e_i = [G Y_s]_i / G_ii with G = (K_s + alpha I)^{-1}; it is
        # already scaled by sqrt(s_i). The floor keeps alpha = 0 finite on a singular K.
        inverse = 1.0 / np.maximum(evals + alpha, floor)
        loo = (Q @ (inverse[:, None] * QY)) / (Q2 @ inverse)[:, None]
        scores.append(-np.sum(loo**2) / weight_sum)
    if return_eigenvalues:
        return np.array(scores), evals[::-1].copy()
    return np.array(scores)


def select(X, Y, sample_weight, *, alphas, input_scales, bias, rng,
           max_rows=SELECTION_ROWS, kernel=None, threads=1, **ntk_options):
    """Score every (input scale, alpha) pair by LOO on a subsample; return the best.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Inputs (before scaling).
    Y : ndarray of shape (n_samples, n_outputs)
        Standardized targets.
    sample_weight : ndarray of shape (n_samples,) or None
        Weights.
    alphas : array-like of shape (n_alphas,)
        Candidate ridge strengths (each ``> 0``).
    input_scales : array-like of shape (n_scales,)
        Candidate input scales.
    bias : float
        The bias feature (1 with ``fit_intercept``, else 0).
    rng : numpy.random.RandomState
        Draws the subsample.
    max_rows : int, default=SELECTION_ROWS
        Rows scored (a random subsample beyond this).
    kernel : callable, default=None
        ``kernel(s X_sub)`` gives the Gram to score at input scale ``s`` (the deep
        shifted ReLU has no closed form, so the drawn network's own tangent kernel);
        ``None`` uses :func:`~skgn.ntk`.
    threads : {1, 2}, default=1
        With 2, the input scales are scored on the calling thread and one worker
        (:func:`~skgn._parallel.pair_map`; three 500 x 500 eigendecompositions took
        40-45 ms instead of 60 ms on two cores). A ``kernel`` given here is always called
        in the calling thread. The scores do not depend on it.
    **ntk_options
        Further keywords of :func:`~skgn.ntk` (``shift``, ``depth``, ``init_scale``).

    Returns
    -------
    selection : Selection
        The chosen pair and all scores.
    """
    alphas = np.asarray(alphas, dtype=np.float64)
    input_scales = np.asarray(input_scales, dtype=np.float64)
    rows = np.arange(X.shape[0])
    if X.shape[0] > max_rows:
        rows = np.sort(rng.choice(X.shape[0], size=max_rows, replace=False))
    # np.asarray gathers the subsample when X is a dask array.
    X_sub, Y_sub = np.asarray(X[rows]), Y[rows]
    sw = None if sample_weight is None else sample_weight[rows]
    if kernel is None:
        def kernel(X_scaled):
            return ntk(X_scaled, bias=bias, **ntk_options)
    else:
        # (A given kernel, such as a drawn network's, need not be thread-safe.)
        threads = 1

    def score(s):
        return loo_scores(kernel(s * X_sub), Y_sub, alphas, sw, return_eigenvalues=True)

    scored = pair_map(score, list(input_scales), threads)
    scores = np.array([score for score, _ in scored])
    i, j = np.unravel_index(np.argmax(scores), scores.shape)
    return Selection(alpha=float(alphas[j]), input_scale=float(input_scales[i]),
                     alphas=alphas, input_scales=input_scales, scores=scores,
                     n_rows=len(rows), eigenvalues=scored[i][1])
