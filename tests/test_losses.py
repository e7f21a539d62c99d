"""The losses against their definitions and finite differences."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from skgn._losses import LogLoss, ShiftedLoss, SoftmaxLoss, SquaredLoss


@pytest.mark.parametrize("weighted", [False, True])
def test_squared_loss_value_and_residual(weighted):
    rng = np.random.default_rng(0)
    F, Y = rng.standard_normal((7, 2)), rng.standard_normal((7, 2))
    sw = rng.uniform(0.1, 2.0, 7) if weighted else None
    terms = SquaredLoss().evaluate(F, Y, sw)
    s = np.ones(7) if sw is None else sw
    expected = 0.5 * sum(s[i] * np.sum((F[i] - Y[i]) ** 2) for i in range(7))
    assert terms.value == pytest.approx(expected, rel=1e-14)
    assert_allclose(terms.residual, F - Y)
    assert terms.curvature is None


def _logits(n=12, k=4, seed=0):
    rng = np.random.default_rng(seed)
    F = 2.0 * rng.standard_normal((n, k))
    labels = rng.integers(0, k, n)
    return F, np.eye(k)[labels], rng.uniform(0.5, 2.0, n)


def _numeric_gradient(loss, F, Y, sw, h=1e-6):
    G = np.zeros_like(F)
    for idx in np.ndindex(F.shape):
        E = np.zeros_like(F)
        E[idx] = h
        G[idx] = (loss.evaluate(F + E, Y, sw).value - loss.evaluate(F - E, Y, sw).value) / (2 * h)
    return G


def test_log_loss_value_gradient_and_curvature():
    F, Y, sw = _logits(k=1)
    Y = (F + np.random.default_rng(1).standard_normal(F.shape) > 0).astype(float)
    terms = LogLoss().evaluate(F, Y, sw)
    p = 1 / (1 + np.exp(-F))
    expected = -(sw[:, None] * (Y * np.log(p) + (1 - Y) * np.log(1 - p))).sum()
    assert terms.value == pytest.approx(expected, rel=1e-12)
    # sqrt(h) r = g and (sqrt(h))^2 = p (1 - p); the weighted gradient matches differences.
    assert_allclose(terms.curvature * terms.residual, p - Y, rtol=1e-12, atol=1e-15)
    assert_allclose(terms.curvature**2, p * (1 - p), rtol=1e-12)
    assert_allclose(_numeric_gradient(LogLoss(), F, Y, sw), sw[:, None] * (p - Y), rtol=1e-6,
                    atol=1e-8)


def test_softmax_loss_factor_and_residual():
    F, Y, sw = _logits()
    terms = SoftmaxLoss().evaluate(F, Y, sw)
    p = np.exp(F) / np.exp(F).sum(1, keepdims=True)
    assert terms.value == pytest.approx(-(sw * np.log((p * Y).sum(1))).sum(), rel=1e-12)
    for i in range(F.shape[0]):
        L = terms.curvature[i]
        assert_allclose(L.T @ L, np.diag(p[i]) - np.outer(p[i], p[i]), atol=1e-15)
        assert_allclose(L.T @ terms.residual[i], p[i] - Y[i], atol=1e-15)
    assert_allclose(_numeric_gradient(SoftmaxLoss(), F, Y, sw), sw[:, None] * (p - Y),
                    rtol=1e-6, atol=1e-8)


def test_extreme_logits_stay_finite():
    F = np.array([[800.0], [-800.0], [0.0]])
    Y = np.array([[0.0], [1.0], [1.0]])
    terms = LogLoss().evaluate(F, Y)
    assert np.isfinite(terms.value) and terms.value == pytest.approx(1600 + np.log(2))
    assert np.all(np.isfinite(terms.residual)) and np.all(terms.curvature > 0)
    terms = SoftmaxLoss().evaluate(np.array([[900.0, -900.0, 0.0]]), np.array([[0.0, 1, 0]]))
    assert np.isfinite(terms.value) and np.all(np.isfinite(terms.residual))


@pytest.mark.parametrize("k", [1, 3])
def test_shifted_loss_is_the_loss_of_the_shifted_outputs(k):
    F, Y, sw = _logits(k=k)
    if k == 1:
        Y = (F > 0.3).astype(float)
    loss = LogLoss() if k == 1 else SoftmaxLoss()
    offset = np.linspace(-1.0, 2.0, k)
    shifted, direct = ShiftedLoss(loss, offset).evaluate(F, Y, sw), loss.evaluate(F + offset, Y, sw)
    assert shifted.value == direct.value
    assert_allclose(shifted.residual, direct.residual, rtol=0, atol=0)
    assert_allclose(shifted.curvature, direct.curvature, rtol=0, atol=0)
    # The gradient in the unshifted outputs is the weighted p(F + b) - Y.
    p = 1 / (1 + np.exp(-(F + offset))) if k == 1 else (
        np.exp(F + offset) / np.exp(F + offset).sum(1, keepdims=True))
    assert_allclose(_numeric_gradient(ShiftedLoss(loss, offset), F, Y, sw),
                    sw[:, None] * (p - Y), rtol=1e-6, atol=1e-8)
