"""Choosing alpha and the input scale by leave-one-out on the tangent kernel."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import make_friedman1

from skgn import SketchedGNRegressor, ntk
from skgn._selection import SELECTION_ROWS, loo_scores, select


def _brute_force_loo(K, Y, alpha, sw):
    """Refit without each row of the weighted problem diag(sqrt(s)) (K, Y)."""
    root = np.sqrt(sw)
    Ks, Ys = K * np.outer(root, root), root[:, None] * Y
    n, total = len(Y), 0.0
    for i in range(n):
        keep = np.arange(n) != i
        coef = np.linalg.solve(Ks[np.ix_(keep, keep)] + alpha * np.eye(n - 1), Ys[keep])
        total += np.sum((Ys[i] - Ks[i, keep] @ coef) ** 2)
    return -total / sw.sum()


@pytest.mark.parametrize("weighted", [False, True])
def test_loo_scores_equal_refitting_without_each_row(weighted):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((25, 3))
    K, Y = ntk(X), rng.standard_normal((25, 2))
    sw = rng.uniform(0.5, 2.0, 25) if weighted else np.ones(25)
    alphas = [1e-3, 0.1, 3.0]
    expected = [_brute_force_loo(K, Y, a, sw) for a in alphas]
    assert_allclose(loo_scores(K, Y, alphas, sw if weighted else None), expected, rtol=1e-8)


def test_loo_is_finite_at_alpha_zero_on_a_singular_kernel():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 2))
    K = X @ X.T  # rank 2
    assert np.all(np.isfinite(loo_scores(K, rng.standard_normal((20, 1)), [0.0, 1.0])))


def test_select_returns_the_best_pair_and_subsamples_large_data():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((SELECTION_ROWS + 200, 2))
    Y = np.sin(3 * X[:, :1]) + 0.1 * rng.standard_normal((len(X), 1))
    chosen = select(X, Y, None, alphas=[1e-3, 1e-1, 10.0], input_scales=[1.0, 0.1],
                    bias=1.0, rng=rng)
    assert chosen.n_rows == SELECTION_ROWS and chosen.scores.shape == (2, 3)
    i, j = np.unravel_index(np.argmax(chosen.scores), chosen.scores.shape)
    assert (chosen.input_scale, chosen.alpha) == ([1.0, 0.1][i], [1e-3, 1e-1, 10.0][j])
    # A smooth, nearly noiseless target wants little regularization and wide-angle inputs.
    assert chosen.alpha < 10.0


def test_estimator_exposes_the_choice_and_respects_numbers():
    X, y = make_friedman1(n_samples=150, n_features=5, noise=0.5, random_state=0)
    reg = SketchedGNRegressor(n_neurons=64, random_state=0).fit(X, y)
    assert reg.alpha_ in reg.alphas_ and reg.input_scale_ in reg.input_scales_
    assert reg.selection_scores_.shape == (len(reg.input_scales_), len(reg.alphas_))
    assert reg.selection_scores_.max() == reg.selection_scores_[
        list(reg.input_scales_).index(reg.input_scale_), list(reg.alphas_).index(reg.alpha_)]
    fixed = SketchedGNRegressor(n_neurons=64, alpha=0.5, input_scale=0.25,
                                random_state=0).fit(X, y)
    assert (fixed.alpha_, fixed.input_scale_, fixed.selection_scores_) == (0.5, 0.25, None)
    scale_only = SketchedGNRegressor(n_neurons=64, alpha=0.5, input_scales=[1.0, 0.5],
                                     random_state=0).fit(X, y)
    assert scale_only.alpha_ == 0.5 and scale_only.selection_scores_.shape == (2, 1)
    grid = SketchedGNRegressor(n_neurons=64, alphas=[0.1, 1.0], input_scale=1.0,
                               random_state=0).fit(X, y)
    assert grid.alpha_ in (0.1, 1.0) and grid.input_scale_ == 1.0
