"""The Jacobian operator protocol: generic structured methods against dense matrices."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.sparse.linalg import aslinearoperator

from skgn._network import TwoLayerReLU, add_bias_feature
from skgn._operators import JacobianOperator, as_jacobian


def _dense(n=12, P=30, seed=0):
    M = np.random.default_rng(seed).standard_normal((n, P))
    return M, as_jacobian(aslinearoperator(M))


def test_gram_matrix_generic_operator():
    M, J = _dense()
    assert_allclose(J.gram(), M @ M.T, rtol=1e-12)


def test_generic_structured_methods_match_dense():
    M, J = _dense()
    K = M @ M.T
    assert_allclose(J.gram_columns([3, 0, 7]), K[:, [3, 0, 7]], rtol=1e-12)
    assert_allclose(J.squared_row_norms(), np.diag(K), rtol=1e-12)
    assert J.capabilities == frozenset()
    with pytest.raises(NotImplementedError, match="no Kronecker-structured rows"):
        J.kron_factors()


def test_wrapper_products_and_dot_test():
    M, J = _dense()
    rng = np.random.default_rng(1)
    v, z = rng.standard_normal(30), rng.standard_normal(12)
    V, Z = rng.standard_normal((30, 4)), rng.standard_normal((12, 4))
    assert_allclose(J.matvec(v), M @ v, rtol=1e-12)
    assert_allclose(J.rmatvec(z), M.T @ z, rtol=1e-12)
    assert_allclose(J.matmat(V), M @ V, rtol=1e-12)
    assert_allclose(J.H.matmat(Z), M.T @ Z, rtol=1e-12)
    # <J v, z> = <v, J^T z>
    assert np.dot(J.matvec(v), z) == pytest.approx(np.dot(v, J.rmatvec(z)), rel=1e-12)


def test_as_jacobian_returns_jacobians_unchanged():
    rng = np.random.default_rng(0)
    X_tilde = add_bias_feature(rng.standard_normal((6, 2)), True)
    net, W = TwoLayerReLU.initialize(np.random.RandomState(0), 3, 1, n_neurons=8)
    J = net.jacobian(W, X_tilde)
    assert isinstance(J, JacobianOperator) and as_jacobian(J) is J


@pytest.mark.parametrize("k, weighted", [(1, False), (2, True)])
def test_relu_capabilities_agree_with_the_generic_methods(k, weighted):
    """The tensor-trick methods a network declares give what the generic products give."""
    rng = np.random.default_rng(0)
    X_tilde = add_bias_feature(rng.standard_normal((9, 3)), True)
    W = rng.standard_normal((10, 4))
    signs = rng.choice([-1.0, 1.0], size=(10, k))
    rw = np.sqrt(rng.uniform(0.5, 2.0, 9)) if weighted else None
    J = TwoLayerReLU(signs).jacobian(W, X_tilde, row_weights=rw)
    generic = as_jacobian(aslinearoperator(J.matmat(np.eye(J.shape[1]))))
    assert J.capabilities == {"gram", "gram_columns", "squared_row_norms", "kron_factors",
                              "output_blocks"}
    assert_allclose(J.gram(), generic.gram(), rtol=1e-12, atol=1e-14)
    # blocks[i, a, b] = K[(a, i), (b, i)]
    K = generic.gram().reshape(k, 9, k, 9)
    assert_allclose(J.output_blocks(), K[:, np.arange(9), :, np.arange(9)], rtol=1e-12,
                    atol=1e-14)
    assert_allclose(J.gram_columns([1, 4]), generic.gram_columns([1, 4]), rtol=1e-12,
                    atol=1e-14)
    assert_allclose(J.squared_row_norms(), generic.squared_row_norms(), rtol=1e-12)
    U, V = J.kron_factors()
    rows = (U[:, :, None] * V[:, None, :]).reshape(U.shape[0], -1)
    assert_allclose(rows, J.matmat(np.eye(J.shape[1])), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("k", [1, 2])
def test_normal_matrix_of_kronecker_rows_matches_dense(k):
    from skgn._deep import DeepReLU
    from skgn._sparse import SparseTwoLayerReLU

    rng = np.random.default_rng(3)
    X_tilde = np.hstack([rng.standard_normal((30, 3)), np.ones((30, 1))])
    W = rng.standard_normal((8, 4))
    signs = rng.choice([-1.0, 1.0], size=(8, k))
    rw = np.sqrt(rng.uniform(0.5, 2.0, 30))
    deep, params = DeepReLU.initialize(np.random.RandomState(0), 4, k, n_neurons=6, depth=2)
    for J in (TwoLayerReLU(signs).jacobian(W, X_tilde, row_weights=rw),
              SparseTwoLayerReLU(signs, 0.3).jacobian(W, X_tilde, row_weights=rw),
              deep.jacobian(params, X_tilde, row_weights=rw)):
        dense = J.matmat(np.eye(J.shape[1]))
        assert_allclose(J.normal_matrix(), dense.T @ dense, rtol=1e-12, atol=1e-13)
    generic = as_jacobian(aslinearoperator(dense))
    assert_allclose(generic.normal_matrix(), dense.T @ dense, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kron", [True, False])
def test_mixed_rows_jacobian_matches_dense(kron):
    from skgn._operators import MixedRowsJacobian

    rng = np.random.default_rng(4)
    n, k = 15, 3
    X_tilde = np.hstack([rng.standard_normal((n, 3)), np.ones((n, 1))])
    W = rng.standard_normal((10, 4))
    signs = rng.choice([-1.0, 1.0], size=(10, k))
    J = TwoLayerReLU(signs).jacobian(W, X_tilde, row_weights=np.sqrt(rng.uniform(0.5, 2, n)))
    dense = J.matmat(np.eye(J.shape[1]))
    inner = J if kron else as_jacobian(aslinearoperator(dense))
    L = rng.standard_normal((n, k, k))
    mix = np.zeros((k * n, k * n))
    for i in range(n):
        idx = np.arange(k) * n + i
        mix[np.ix_(idx, idx)] = L[i]
    expected = mix @ dense
    JH = MixedRowsJacobian(inner, L)
    V = rng.standard_normal((J.shape[1], 2))
    Z = rng.standard_normal((J.shape[0], 2))
    assert_allclose(JH.matmat(V), expected @ V, rtol=1e-12, atol=1e-13)
    assert_allclose(JH.rmatmat(Z), expected.T @ Z, rtol=1e-12, atol=1e-13)
    K = expected @ expected.T
    assert_allclose(JH.squared_row_norms(), np.diag(K), rtol=1e-11)
    assert ("output_blocks" in inner.capabilities) == kron
    # Unsorted, with two outputs of sample 7 and a repeated column.
    columns = [n + 7, 0, 7, k * n - 1, 7]
    assert_allclose(JH.gram_columns(columns), K[:, columns], rtol=1e-11, atol=1e-12)
    assert_allclose(JH.gram(), K, rtol=1e-11, atol=1e-12)
    assert_allclose(JH.normal_matrix(), expected.T @ expected, rtol=1e-11, atol=1e-12)
    v, z = V[:, 0], Z[:, 0]
    assert abs(z @ JH.matvec(v) - JH.rmatvec(z) @ v) <= 1e-12 * abs(z @ JH.matvec(v))
