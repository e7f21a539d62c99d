"""The network, its implicit Jacobian and the tensor-trick Gram against dense references."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from skgn._network import (
    BlockedReLUJacobian,
    CenteredNetwork,
    TwoLayerReLU,
    add_bias_feature,
    outer_form,
)


def _problem(n=7, d=3, m=10, k=1, weighted=False, seed=0):
    rng = np.random.default_rng(seed)
    X_tilde = add_bias_feature(rng.standard_normal((n, d)), True)
    W = rng.standard_normal((m, d + 1))
    signs = rng.choice([-1.0, 1.0], size=(m, k))
    row_weights = np.sqrt(rng.uniform(0.5, 2.0, n)) if weighted else None
    return X_tilde, W, signs, row_weights


def _dense_jacobian(X_tilde, W, signs, row_weights):
    """J[(j, i), (r, c)] = s_i A[r, j] 1[w_r . x_i > 0] x_ic / sqrt(m), by definition."""
    n, d = X_tilde.shape
    m, k = signs.shape
    s = np.ones(n) if row_weights is None else row_weights
    J = np.zeros((k * n, m * d))
    for j in range(k):
        for i in range(n):
            for r in range(m):
                if W[r] @ X_tilde[i] > 0:
                    J[j * n + i, r * d : (r + 1) * d] = s[i] * signs[r, j] * X_tilde[i] / np.sqrt(m)
    return J


CASES = [
    {"k": 1, "weighted": False},
    {"k": 1, "weighted": True},
    {"k": 3, "weighted": True},
    # k d~ > 2 (d~ + k): the products go vector by vector (outer_form).
    {"k": 6, "weighted": True},
]


@pytest.mark.parametrize("case", CASES)
def test_jacobian_products_match_dense(case):
    X_tilde, W, signs, rw = _problem(**case)
    J = TwoLayerReLU(signs).jacobian(W, X_tilde, row_weights=rw)
    J_dense = _dense_jacobian(X_tilde, W, signs, rw)
    assert J.shape == J_dense.shape and J.dtype == np.float64
    rng = np.random.default_rng(1)
    v = rng.standard_normal(J.shape[1])
    z = rng.standard_normal(J.shape[0])
    V = rng.standard_normal((J.shape[1], 4))
    Z = rng.standard_normal((J.shape[0], 5))
    assert_allclose(J.matvec(v), J_dense @ v, rtol=1e-12, atol=1e-14)
    assert_allclose(J.rmatvec(z), J_dense.T @ z, rtol=1e-12, atol=1e-14)
    assert_allclose(J.matmat(V), J_dense @ V, rtol=1e-12, atol=1e-14)
    assert_allclose(J.rmatmat(Z), J_dense.T @ Z, rtol=1e-12, atol=1e-14)
    # The adjoint operator uses the same block products.
    assert_allclose(J.T @ Z, J_dense.T @ Z, rtol=1e-12, atol=1e-14)
    assert_allclose(J.H.T @ V, J_dense @ V, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", CASES)
def test_jacobian_dot_test(case):
    X_tilde, W, signs, rw = _problem(n=30, d=5, m=50, **case)
    J = TwoLayerReLU(signs).jacobian(W, X_tilde, row_weights=rw)
    rng = np.random.default_rng(2)
    for _ in range(3):
        v = rng.standard_normal(J.shape[1])
        z = rng.standard_normal(J.shape[0])
        lhs, rhs = z @ J.matvec(v), J.rmatvec(z) @ v
        assert abs(lhs - rhs) <= 1e-12 * max(abs(lhs), 1.0)


@pytest.mark.parametrize("k", [1, 2])
def test_jacobian_matches_central_finite_differences(k):
    X_tilde, W, signs, _ = _problem(n=20, d=4, m=40, k=k, seed=3)
    _assert_jacobian_matches_finite_differences(TwoLayerReLU(signs), W, X_tilde)


def _assert_jacobian_matches_finite_differences(net, W, X_tilde):
    """``J v`` against central differences of ``net.predict`` along 3 random ``v``."""
    J = net.jacobian(W, X_tilde)
    rng = np.random.default_rng(4)
    h = 1e-6
    for _ in range(3):
        V = rng.standard_normal(W.shape)
        fd = (net.predict(W + h * V, X_tilde) - net.predict(W - h * V, X_tilde)) / (2 * h)
        # Rows are output-major: index j * n + i.
        assert_allclose(J.matvec(V.ravel()), fd.T.ravel(), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("case", CASES)
def test_tensor_trick_gram_matches_dense(case):
    X_tilde, W, signs, rw = _problem(n=12, d=4, m=30, **case)
    J = TwoLayerReLU(signs).jacobian(W, X_tilde, row_weights=rw)
    J_dense = _dense_jacobian(X_tilde, W, signs, rw)
    K = J_dense @ J_dense.T
    assert_allclose(J.gram(), K, rtol=1e-12, atol=1e-14)
    assert J.gram() is J.gram()  # cached per linearization point
    assert_allclose(J.squared_row_norms(), np.diag(K), rtol=1e-12)


def test_predict_matches_definition_and_symmetric_pairs_cancel():
    X_tilde, W, signs, _ = _problem(n=9, d=3, m=6, k=2)
    out = TwoLayerReLU(signs).predict(W, X_tilde)
    expected = np.maximum(X_tilde @ W.T, 0) @ signs / np.sqrt(6)
    assert_allclose(out, expected, rtol=1e-14)
    W_sym = np.repeat(W[:3], 2, axis=0)
    signs_sym = np.repeat(signs[:3], 2, axis=0)
    signs_sym[1::2] *= -1
    assert_allclose(TwoLayerReLU(signs_sym).predict(W_sym, X_tilde), 0.0, atol=1e-15)


@pytest.mark.parametrize("k", [1, 3])
def test_centered_network_subtracts_its_reference_and_keeps_the_jacobian(k):
    X_tilde, W, signs, rw = _problem(n=15, d=3, m=24, k=k, weighted=True, seed=5)
    W0 = W + 0.3 * np.random.default_rng(6).standard_normal(W.shape)
    inner = TwoLayerReLU(signs)
    net = CenteredNetwork(inner, W0)
    assert_allclose(net.predict(W, X_tilde),
                    inner.predict(W, X_tilde) - inner.predict(W0, X_tilde), rtol=1e-13)
    assert_allclose(net.predict(W0, X_tilde), 0.0, atol=1e-15)
    # The subtracted term is constant in W: the Jacobian is the wrapped network's.
    assert_allclose(net.jacobian(W, X_tilde, row_weights=rw).matmat(np.eye(W.size)),
                    _dense_jacobian(X_tilde, W, signs, rw), rtol=1e-12, atol=1e-14)
    _assert_jacobian_matches_finite_differences(net, W, X_tilde)


def test_centered_network_caches_reference_outputs_by_input_array():
    X_tilde, W, signs, _ = _problem(n=10, d=3, m=12, k=2, seed=7)
    net = CenteredNetwork(TwoLayerReLU(signs), W)
    first = net.reference_outputs(X_tilde)
    assert net.reference_outputs(X_tilde) is first
    # Another array, even with equal values, is computed anew; the cache keeps the last two.
    others = [X_tilde.copy(), 2.0 * X_tilde]
    for X in others:
        assert_allclose(net.reference_outputs(X), TwoLayerReLU(signs).predict(W, X),
                        rtol=1e-14)
    assert net.reference_outputs(others[1]) is net.reference_outputs(others[1])
    assert net.reference_outputs(X_tilde) is not first
    assert_allclose(net.reference_outputs(X_tilde), first, rtol=0, atol=0)
    assert len(net._cache) == 2


def test_centered_initialize_draws_independent_neurons_at_zero_output():
    rng = np.random.RandomState(0)
    net, W0 = CenteredNetwork.initialize(rng, 4, 2, n_neurons=64, init_scale=0.5)
    assert isinstance(net.network, TwoLayerReLU) and net.signs.shape == (64, 2)
    assert len(np.unique(W0, axis=0)) == 64  # no pairs
    assert_allclose(W0.std(), 0.5, rtol=0.15)
    X_tilde = add_bias_feature(np.random.default_rng(0).standard_normal((9, 3)), True)
    assert_allclose(net.predict(W0, X_tilde), 0.0, atol=1e-15)
    assert np.abs(net.network.predict(W0, X_tilde)).max() > 0.1


def test_add_bias_feature_copies():
    X = np.arange(6.0).reshape(3, 2)
    X_orig = X.copy()
    Xt = add_bias_feature(X, True)
    assert_allclose(Xt, np.c_[X_orig, np.ones(3)])
    Xt[:] = -1
    assert_allclose(X, X_orig)
    X_plain = add_bias_feature(X, False)
    assert X_plain is not X
    assert_allclose(X_plain, X_orig)


@pytest.mark.parametrize("case", CASES)
def test_float32_products_match_dense_to_single_precision(case):
    """dtype=float32: the same operator to float32 rounding, float64 in and out."""
    X_tilde, W, signs, rw = _problem(n=30, d=5, m=50, **case)
    J = TwoLayerReLU(signs, dtype=np.float32).jacobian(W, X_tilde, row_weights=rw)
    J_dense = _dense_jacobian(X_tilde, W, signs, rw)
    assert J.dtype == np.float64 and J.pattern.dtype == np.float32
    rng = np.random.default_rng(5)
    V = rng.standard_normal((J.shape[1], 3))
    Z = rng.standard_normal((J.shape[0], 2))
    out, back = J.matmat(V), J.rmatmat(Z)
    assert out.dtype == back.dtype == np.float64
    assert_allclose(out, J_dense @ V, rtol=1e-5, atol=1e-5)
    assert_allclose(back, J_dense.T @ Z, rtol=1e-5, atol=1e-5)
    # The dot test holds to single precision.
    v, z = V[:, 0], Z[:, 0]
    assert abs(z @ J.matvec(v) - J.rmatvec(z) @ v) <= 1e-5 * abs(z @ J.matvec(v))


@pytest.mark.parametrize("case", CASES)
def test_float32_gram_and_nystrom_columns_are_double_precision(case):
    """The activation counts are exact in float32, so the Gram keeps float64 accuracy.

    The operator holds its inputs and weights rounded to float32; the Gram is that of the
    rounded inputs to float64 rounding.
    """
    X_tilde, W, signs, rw = _problem(n=12, d=4, m=30, **case)
    X_tilde, W = (A.astype(np.float32).astype(np.float64) for A in (X_tilde, W))
    K = (lambda D: D @ D.T)(_dense_jacobian(X_tilde, W, signs, rw))
    J32 = TwoLayerReLU(signs, dtype=np.float32).jacobian(W, X_tilde, row_weights=rw)
    columns = [0, 3, K.shape[0] - 1]
    assert_allclose(J32.gram_columns(columns), K[:, columns], rtol=1e-12, atol=1e-14)
    assert_allclose(J32.squared_row_norms(), np.diag(K), rtol=1e-12)
    n, k = X_tilde.shape[0], signs.shape[1]
    blocks = K.reshape(k, n, k, n)[:, np.arange(n), :, np.arange(n)]
    assert_allclose(J32.output_blocks(), blocks, rtol=1e-12, atol=1e-14)
    assert_allclose(J32.gram(), K, rtol=1e-12, atol=1e-14)


def test_float32_predict_agrees_with_float64():
    X_tilde, W, signs, _ = _problem(n=40, d=5, m=64, k=2)
    out32 = TwoLayerReLU(signs, dtype=np.float32).predict(W, X_tilde)
    out64 = TwoLayerReLU(signs).predict(W, X_tilde)
    assert out32.dtype == np.float64
    assert_allclose(out32, out64, rtol=1e-5, atol=1e-6)


# Row blocks of 4 over 11 rows: three blocks, the last one short.
BLOCKED = [
    {"k": 1, "weighted": False, "threshold": 0.0, "n_jobs": None},
    {"k": 3, "weighted": True, "threshold": 0.0, "n_jobs": 2},
    {"k": 2, "weighted": True, "threshold": 0.4, "n_jobs": None},
    {"k": 6, "weighted": True, "threshold": 0.4, "n_jobs": 2},
]


def _dense_shifted_jacobian(X_tilde, W, signs, row_weights, threshold):
    """As :func:`_dense_jacobian`, with the pattern ``1[w_r . x~_i > beta ||x~_i||]``."""
    norms = np.linalg.norm(X_tilde, axis=1)
    fired = (X_tilde @ W.T - threshold * norms[:, None]) > 0
    n, d = X_tilde.shape
    m, k = signs.shape
    s = np.ones(n) if row_weights is None else row_weights
    J = np.zeros((k * n, m * d))
    for j in range(k):
        for i, r in zip(*np.nonzero(fired)):
            J[j * n + i, r * d : (r + 1) * d] = s[i] * signs[r, j] * X_tilde[i] / np.sqrt(m)
    return J


@pytest.mark.parametrize("case", BLOCKED)
def test_blocked_jacobian_matches_dense_matrix(case):
    X_tilde, W, signs, rw = _problem(n=11, d=3, m=21, k=case["k"], weighted=case["weighted"])
    net = TwoLayerReLU(signs, threshold=case["threshold"], block_rows=4, n_jobs=case["n_jobs"])
    J = net.jacobian(W, X_tilde, row_weights=rw)
    assert isinstance(J, BlockedReLUJacobian)
    assert J.bits.nbytes == 11 * 3  # 21 bits per row in 3 bytes
    J_dense = _dense_shifted_jacobian(X_tilde, W, signs, rw, case["threshold"])
    rng = np.random.default_rng(5)
    V = rng.standard_normal((J.shape[1], 3))
    Z = rng.standard_normal((J.shape[0], 2))
    assert_allclose(J.matmat(V), J_dense @ V, rtol=1e-12, atol=1e-14)
    assert_allclose(J.rmatmat(Z), J_dense.T @ Z, rtol=1e-12, atol=1e-14)
    assert_allclose(J.matvec(V[:, 0]), J_dense @ V[:, 0], rtol=1e-12, atol=1e-14)
    K = J_dense @ J_dense.T
    assert_allclose(J.gram(), K, rtol=1e-12, atol=1e-14)
    assert_allclose(J.gram_columns([0, 6, J.shape[0] - 1]), K[:, [0, 6, J.shape[0] - 1]],
                    rtol=1e-12, atol=1e-14)
    assert_allclose(J.squared_row_norms(), np.diag(K), rtol=1e-12)
    n, k = X_tilde.shape[0], J.n_outputs
    blocks = K.reshape(k, n, k, n)[:, np.arange(n), :, np.arange(n)]
    assert_allclose(J.output_blocks(), blocks, rtol=1e-12, atol=1e-14)
    U, V_ = J.kron_factors()
    assert_allclose(np.einsum("qa,qb->qab", U, V_).reshape(J.shape), J_dense, atol=1e-15)
    # Dot test.
    v, z = V[:, 0], Z[:, 0]
    lhs, rhs = z @ J.matvec(v), J.rmatvec(z) @ v
    assert abs(lhs - rhs) <= 1e-12 * max(abs(lhs), 1.0)


# Row halves over 11 rows (6 and 5), forced at this size; k = 3 takes the outer form.
HALVED = [
    {"k": 1, "weighted": False, "threshold": 0.0},
    {"k": 3, "weighted": True, "threshold": 0.0},
    {"k": 2, "weighted": True, "threshold": 0.4},
]


@pytest.mark.parametrize("case", HALVED)
def test_halved_jacobian_matches_dense_matrix_on_one_or_two_threads(case, monkeypatch):
    import skgn._parallel

    monkeypatch.setattr(skgn._parallel, "_HALVES_PAIRS", 0)
    X_tilde, W, signs, rw = _problem(n=11, d=3, m=21, k=case["k"], weighted=case["weighted"])
    J_dense = _dense_shifted_jacobian(X_tilde, W, signs, rw, case["threshold"])
    K = J_dense @ J_dense.T
    rng = np.random.default_rng(5)
    V = rng.standard_normal((J_dense.shape[1], 3))
    Z = rng.standard_normal((J_dense.shape[0], 2))
    results = {}
    for threads in (1, 2):
        net = TwoLayerReLU(signs, threshold=case["threshold"], half_threads=threads)
        J = net.jacobian(W, X_tilde, row_weights=rw)
        assert J._parts == [slice(0, 6), slice(6, 11)]
        results[threads] = [J.matmat(V), J.rmatmat(Z), J.normal_matmat(V),
                            J.gram_columns([0, 6, J.shape[0] - 1]), net.predict(W, X_tilde)]
        assert_allclose(results[threads][0], J_dense @ V, rtol=1e-12, atol=1e-14)
        assert_allclose(results[threads][1], J_dense.T @ Z, rtol=1e-12, atol=1e-14)
        assert_allclose(results[threads][2], J_dense.T @ (J_dense @ V), rtol=1e-12,
                        atol=1e-13)
        assert_allclose(results[threads][3], K[:, [0, 6, J.shape[0] - 1]], rtol=1e-12,
                        atol=1e-14)
        whole = TwoLayerReLU(signs, threshold=case["threshold"]).predict(W, X_tilde)
        assert_allclose(results[threads][4], whole, rtol=1e-14,
                        atol=1e-14 * np.abs(whole).max())
        assert_allclose(J.gram(), K, rtol=1e-12, atol=1e-14)
        # Dot test.
        v, z = V[:, 0], Z[:, 0]
        lhs, rhs = z @ J.matvec(v), J.rmatvec(z) @ v
        assert abs(lhs - rhs) <= 1e-12 * max(abs(lhs), 1.0)
    # The threads change nothing, bit for bit.
    for one, two in zip(results[1], results[2]):
        assert np.array_equal(one, two)


def test_halved_network_matches_finite_differences(monkeypatch):
    import skgn._parallel

    monkeypatch.setattr(skgn._parallel, "_HALVES_PAIRS", 0)
    X_tilde, W, signs, _ = _problem(n=20, d=4, m=40, k=2, seed=3)
    _assert_jacobian_matches_finite_differences(TwoLayerReLU(signs, half_threads=2), W,
                                                X_tilde)


@pytest.mark.parametrize("threshold", [0.0, 0.4])
def test_blocked_network_matches_finite_differences_and_unblocked_outputs(threshold):
    X_tilde, W, signs, _ = _problem(n=20, d=4, m=40, k=2, seed=3)
    net = TwoLayerReLU(signs, threshold=threshold, block_rows=6)
    whole = TwoLayerReLU(signs, threshold=threshold)
    # (atol: entries near 0 round differently in blocks; under the Prescott OpenBLAS
    # kernel one of 40, at -0.035, differs by 4.9e-16.)
    pred = whole.predict(W, X_tilde)
    assert_allclose(net.predict(W, X_tilde), pred, rtol=1e-14,
                    atol=1e-14 * np.abs(pred).max())
    _assert_jacobian_matches_finite_differences(net, W, X_tilde)


def test_blocked_float32_products_match_unblocked_float32():
    X_tilde, W, signs, rw = _problem(n=50, d=5, m=64, k=2, weighted=True)
    blocked = TwoLayerReLU(signs, np.float32, block_rows=7).jacobian(W, X_tilde, rw)
    whole = TwoLayerReLU(signs, np.float32).jacobian(W, X_tilde, rw)
    rng = np.random.default_rng(6)
    v, z = rng.standard_normal(blocked.shape[1]), rng.standard_normal(blocked.shape[0])
    assert blocked.matvec(v).dtype == np.float64
    assert_allclose(blocked.matvec(v), whole.matvec(v), rtol=1e-6, atol=1e-6)
    assert_allclose(blocked.rmatvec(z), whole.rmatvec(z), rtol=1e-5, atol=1e-5)
    # Co-firing counts are exact in float32: the Gram columns are double precision.
    assert_allclose(blocked.gram_columns([3, 60]), whole.gram()[:, [3, 60]], rtol=1e-12)


def test_outer_form_only_from_three_outputs():
    """The per-output form for one or two outputs, the outer form for many (cost rule)."""
    assert not any(outer_form(k, d) for k in (1, 2) for d in range(1, 200))
    assert outer_form(3, 11) and outer_form(10, 65) and outer_form(6, 4)
    assert not outer_form(3, 5) and not outer_form(3, 4)


@pytest.mark.parametrize("k", [3, 6])
def test_both_product_forms_agree(k, monkeypatch):
    """The outer and per-output forms give the same products (to rounding)."""
    import skgn._network as network

    X_tilde, W, signs, rw = _problem(n=40, d=8, m=30, k=k, weighted=True)
    J = TwoLayerReLU(signs).jacobian(W, X_tilde, row_weights=rw)
    rng = np.random.default_rng(3)
    V = rng.standard_normal((J.shape[1], 3))
    Z = rng.standard_normal((J.shape[0], 2))
    products = []
    for outer in (False, True):
        monkeypatch.setattr(network, "outer_form", lambda k, d, outer=outer: outer)
        products.append((J.matmat(V), J.rmatmat(Z)))
    assert_allclose(products[0][0], products[1][0], rtol=1e-12, atol=1e-14)
    assert_allclose(products[0][1], products[1][1], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("blocked", [None, {"block_rows": 4}, {"block_rows": 8, "tile_rows": 4}])
def test_normal_product_matches_dense(case, blocked, monkeypatch):
    """``normal_matmat`` (one fused pass over the tiles) is ``J_dense^T J_dense V``."""
    import skgn._network as network

    # Tiles of a few rows, so that the unblocked product adds several parts too.
    monkeypatch.setattr(network, "_NORMAL_TILE_PAIRS", 3 * 50)
    monkeypatch.setattr(network, "_MIN_TILE_ROWS", 1)
    X_tilde, W, signs, rw = _problem(n=30, d=5, m=50, **case)
    net = TwoLayerReLU(signs, **(blocked or {}))
    J = net.jacobian(W, X_tilde, row_weights=rw)
    J_dense = _dense_jacobian(X_tilde, W, signs, rw)
    V = np.random.default_rng(7).standard_normal((J.shape[1], 3))
    assert_allclose(J.normal_matmat(V), J_dense.T @ (J_dense @ V), rtol=1e-12, atol=1e-13)
    assert_allclose(J.normal_matvec(V[:, 0]), J_dense.T @ (J_dense @ V[:, 0]),
                    rtol=1e-12, atol=1e-13)
