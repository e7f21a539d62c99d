"""The squared loss against its definition."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from skgn._losses import SquaredLoss


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
