"""The closed-form NTK against its definition and against wide networks."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.kernel_ridge import KernelRidge

from skgn import NTKKernel, SketchedGNRegressor, ntk
from skgn._network import TwoLayerReLU, add_bias_feature


def test_ntk_matches_the_arc_cosine_formula():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((6, 3)), rng.standard_normal((4, 3))
    K = ntk(X, Y)
    for i in range(6):
        for j in range(4):
            x, y = np.r_[X[i], 1.0], np.r_[Y[j], 1.0]
            theta = np.arccos(x @ y / np.linalg.norm(x) / np.linalg.norm(y))
            assert K[i, j] == pytest.approx(x @ y * (np.pi - theta) / (2 * np.pi), rel=1e-12)
    assert_allclose(ntk(X), ntk(X, X))
    assert_allclose(np.diag(ntk(X)), NTKKernel().diag(X), rtol=1e-12)
    assert_allclose(ntk(X, bias=0.0)[0, 0], X[0] @ X[0] / 2)


def test_empirical_gram_approaches_the_ntk():
    """n = 200: relative spectral distance < 5% at width 20000, falling with width."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 5))
    K_inf = ntk(X)
    errors = []
    for m in (500, 2000, 20000):
        W = rng.standard_normal((m, 6))
        J = TwoLayerReLU(np.ones((m, 1))).jacobian(W, add_bias_feature(X, True))
        errors.append(np.linalg.norm(J.gram() - K_inf, 2) / np.linalg.norm(K_inf, 2))
    assert errors[-1] < 0.05
    assert errors[0] > errors[1] > errors[2]


def test_kernel_object_in_kernel_ridge_and_wide_fit_approaches_it():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((150, 4))
    y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(150)
    y_c = (y - y.mean()) / y.std()
    krr = KernelRidge(kernel=NTKKernel(), alpha=1.0).fit(X, y_c)
    # The kernel limit is the lazy regime: initial weights of unit scale.
    # (On the inputs as given: no learned feature map.)
    reg = SketchedGNRegressor(n_neurons=8192, alpha=1.0, init_scale=1.0, agop_rounds=0,
                              random_state=0)
    reg.fit(X, y)
    X_test = rng.standard_normal((50, 4))
    pred_krr = krr.predict(X_test) * y.std() + y.mean()
    rel = np.linalg.norm(reg.predict(X_test) - pred_krr) / np.linalg.norm(pred_krr - y.mean())
    assert rel < 0.1
    K, grad = NTKKernel()(X[:5], eval_gradient=True)
    assert grad.shape == (5, 5, 0)
    with pytest.raises(ValueError, match="Y is None"):
        NTKKernel()(X[:5], X[:3], eval_gradient=True)
