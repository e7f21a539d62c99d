"""The sparse activation pattern, the fired-neuron index and the shifted-ReLU kernel."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from skgn import SketchedGNRegressor, ntk
from skgn._gauss_newton import gauss_newton
from skgn._network import TwoLayerReLU, add_bias_feature
from skgn._preconditioners import NO_PRECONDITIONER
from skgn._sketching import SKETCHES
from skgn._solvers import solve_cholesky
from skgn._sparse import (
    FiredNeuronIndex,
    SparseReLUJacobian,
    SparseTwoLayerReLU,
    dense_fired_pairs,
)


def _problem(n=40, d=4, m=64, k=1, weighted=False, seed=0):
    rng = np.random.default_rng(seed)
    X_tilde = add_bias_feature(rng.standard_normal((n, d)), True)
    W = rng.standard_normal((m, d + 1))
    signs = rng.choice([-1.0, 1.0], size=(m, k))
    row_weights = np.sqrt(rng.uniform(0.5, 2.0, n)) if weighted else None
    return X_tilde, W, signs, row_weights


# m > n runs the products through the transposed (CSC) pattern, m < n through CSR rows.
CASES = [
    {"k": 1, "weighted": False, "threshold": 0.0},
    {"k": 1, "weighted": True, "threshold": 1.0},
    {"k": 3, "weighted": True, "threshold": 0.6},
    {"k": 2, "weighted": True, "threshold": 0.3, "n": 90, "m": 24},
]


def _pair(case):
    threshold = case["threshold"]
    X_tilde, W, signs, rw = _problem(n=case.get("n", 40), m=case.get("m", 64), k=case["k"],
                                     weighted=case["weighted"])
    dense = TwoLayerReLU(signs, threshold=threshold).jacobian(W, X_tilde, row_weights=rw)
    sparse = SparseTwoLayerReLU(signs, threshold).jacobian(W, X_tilde, row_weights=rw)
    return dense, sparse


@pytest.mark.parametrize("case", CASES)
def test_sparse_jacobian_equals_dense(case):
    dense, sparse = _pair(case)
    assert isinstance(sparse, SparseReLUJacobian)
    assert_array_equal(sparse.pattern01.toarray(), dense.pattern > 0)
    rng = np.random.default_rng(1)
    V = rng.standard_normal((dense.shape[1], 3))
    Z = rng.standard_normal((dense.shape[0], 2))
    assert_allclose(sparse.matmat(V), dense.matmat(V), rtol=1e-10, atol=1e-12)
    assert_allclose(sparse.rmatmat(Z), dense.rmatmat(Z), rtol=1e-10, atol=1e-12)
    assert_allclose(sparse.matvec(V[:, 0]), dense.matvec(V[:, 0]), rtol=1e-10, atol=1e-12)
    assert_allclose(sparse.gram(), dense.gram(), rtol=1e-10, atol=1e-12)
    columns = [0, 5, dense.shape[0] - 1]
    assert_allclose(sparse.gram_columns(columns), dense.gram()[:, columns], rtol=1e-10,
                    atol=1e-12)
    assert_allclose(sparse.squared_row_norms(), dense.squared_row_norms(), rtol=1e-12)
    U, V_ = sparse.kron_factors()
    U_d, V_d = dense.kron_factors()
    assert_allclose(U.toarray(), U_d, rtol=1e-12)
    assert_allclose(V_, V_d, rtol=1e-12)
    # Dot test.
    v, z = V[:, 0], Z[:, 0]
    lhs, rhs = z @ sparse.matvec(v), sparse.rmatvec(z) @ v
    assert abs(lhs - rhs) <= 1e-12 * max(abs(lhs), 1.0)


@pytest.mark.parametrize("case", CASES)
def test_sparse_gram_columns_without_cached_gram(case):
    dense, sparse = _pair(case)
    columns = np.array([1, 7, dense.shape[0] - 2])
    assert_allclose(sparse.gram_columns(columns), dense.gram()[:, columns], rtol=1e-10,
                    atol=1e-12)


@pytest.mark.parametrize("name", sorted(SKETCHES))
def test_sketches_of_a_sparse_pattern_equal_the_dense_ones(name):
    dense, sparse = _pair(CASES[2])
    U_d, V_d = dense.kron_factors()
    U_s, V_s = sparse.kron_factors()
    spec = SKETCHES[name](50, random_state=0)
    sketch = spec.draw((U_d.shape[1], V_d.shape[1]))
    assert_allclose(sketch.sketch_kron(U_s, V_s), sketch.sketch_kron(U_d, V_d), rtol=1e-10,
                    atol=1e-12)


@pytest.mark.parametrize("k", [1, 2])
def test_shifted_relu_jacobian_matches_finite_differences(k):
    X_tilde, W, signs, _ = _problem(n=20, d=4, m=40, k=k, seed=3)
    net = TwoLayerReLU(signs, threshold=0.5)
    J = net.jacobian(W, X_tilde)
    rng = np.random.default_rng(4)
    h = 1e-6
    for _ in range(3):
        V = rng.standard_normal(W.shape)
        fd = (net.predict(W + h * V, X_tilde) - net.predict(W - h * V, X_tilde)) / (2 * h)
        assert_allclose(J.matvec(V.ravel()), fd.T.ravel(), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("n, m", [(30, 50), (50, 30)])
def test_shifted_predict_matches_definition_and_sparse_outputs(n, m):
    X_tilde, W, signs, _ = _problem(n=n, d=3, m=m, k=2)
    beta = 0.7
    norms = np.linalg.norm(X_tilde, axis=1)
    expected = np.maximum(X_tilde @ W.T - beta * norms[:, None], 0) @ signs / np.sqrt(m)
    assert_allclose(TwoLayerReLU(signs, threshold=beta).predict(W, X_tilde), expected,
                    rtol=1e-13, atol=1e-14)
    assert_allclose(SparseTwoLayerReLU(signs, beta).predict(W, X_tilde), expected,
                    rtol=1e-12, atol=1e-14)


def _dense_pairs(W, X_tilde, threshold):
    rows, cols = dense_fired_pairs(W, X_tilde, threshold)
    return set(zip(rows.tolist(), cols.tolist()))


def test_index_gives_the_dense_pattern_at_every_step_of_a_feature_learning_fit():
    """30 steps from init_scale=0.1: neurons move, the index rebuilds, and stays exact."""
    rng = np.random.default_rng(0)
    n, d, m = 150, 4, 256
    X = rng.standard_normal((n, d))
    y = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2]
    X_tilde = add_bias_feature(X, True)
    network, W0 = TwoLayerReLU.initialize(np.random.RandomState(0), d + 1, 1, n_neurons=m,
                                          init_scale=0.1)
    threshold = 1.0 * 0.1
    index = FiredNeuronIndex(X_tilde, W0, threshold, band=0.01)
    sparse = SparseTwoLayerReLU(network.signs, threshold, index=index)
    checked, rebuilt = [], []
    query = index.query

    def checked_query(W):
        pairs = query(W)
        assert set(zip(pairs.rows.tolist(), pairs.cols.tolist())) == _dense_pairs(
            W, X_tilde, threshold)
        assert_allclose(pairs.outputs(W, X_tilde, network.signs, threshold),
                        TwoLayerReLU(network.signs, threshold=threshold).predict(W, X_tilde),
                        rtol=1e-10, atol=1e-12)
        checked.append(1)
        rebuilt.append(index.n_rebuilt_)
        return pairs

    index.query = checked_query
    result = gauss_newton(sparse, W0, W0, X_tilde, y[:, None], solve=solve_cholesky,
                          preconditioner=NO_PRECONDITIONER, alpha=1e-3, max_iter=30, tol=0.0)
    assert result.n_iter == 30 and len(checked) >= 30
    # Features moved: some neurons left their band and were rebuilt, others were not.
    assert sum(rebuilt) > 0
    assert any(0 < r < m for r in rebuilt)
    assert np.linalg.norm(result.params - W0) > 0.5 * np.linalg.norm(W0)
    assert all("index_rebuilt" in h and "fired_fraction" in h for h in result.history)


def test_shifted_ntk_matches_monte_carlo_and_reduces_to_the_relu_kernel():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 3))
    t = 0.8
    Xt = add_bias_feature(X, True)
    w = rng.standard_normal((400_000, 4))
    fires = (Xt @ w.T) > t * np.linalg.norm(Xt, axis=1)[:, None]
    K_mc = (Xt @ Xt.T) * (fires.astype(float) @ fires.T.astype(float)) / w.shape[0]
    assert_allclose(ntk(X, shift=t), K_mc, rtol=0.02, atol=0.01)
    assert_allclose(ntk(X, shift=1e-12), ntk(X), rtol=1e-9)
    # Antipodal inputs never fire together for t > 0.
    assert ntk(np.array([[1.0, 0.0]]), np.array([[-1.0, 0.0]]), bias=0.0, shift=t)[0, 0] == 0


@pytest.mark.parametrize("pattern", ["sparse", "indexed"])
@pytest.mark.parametrize("solver, preconditioner",
                         [("cholesky", "none"), ("cg", "nystrom"), ("lsqr", "sketch")])
def test_sparse_fits_equal_dense_fits(pattern, solver, preconditioner):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 5))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] ** 2
    kw = dict(n_neurons=512, activation="shifted_relu", alpha=0.1, input_scale=1.0,
              solver=solver, preconditioner=preconditioner, max_iter=5, tol=1e-8,
              random_state=0)
    dense = SketchedGNRegressor(pattern="dense", **kw)
    fast = SketchedGNRegressor(pattern=pattern, **kw)
    with warnings.catch_warnings():
        # Five steps at tol 1e-8 may stop short; both paths must stop alike.
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense.fit(X, y)
        fast.fit(X, y)
    assert dense.shift_ == pytest.approx(np.sqrt(0.4 * np.log(512)))
    assert_allclose(fast.weights_, dense.weights_, rtol=1e-10, atol=1e-12)
    assert_allclose(fast.predict(X), dense.predict(X), rtol=1e-10, atol=1e-12)
    assert [h["accepted"] for h in fast.history_] == [h["accepted"] for h in dense.history_]
    assert 0 < fast.history_[0]["fired_fraction"] < 0.1
