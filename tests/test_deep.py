"""Deep ReLU networks: Jacobian against dense and finite differences, Gram, steps, kernel."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import sparse, stats
from sklearn.exceptions import ConvergenceWarning

from skgn import SketchedGNRegressor, ntk
from skgn._deep import DeepReLU
from skgn._gauss_newton import gauss_newton_step
from skgn._network import add_bias_feature
from skgn._preconditioners import make_preconditioner
from skgn._solvers import SOLVERS


def _problem(depth, n=9, d=3, m=6, k=1, weighted=False, seed=0, shift=0.0):
    rng = np.random.RandomState(seed)
    X_tilde = add_bias_feature(rng.standard_normal((n, d)), True)
    network, params = DeepReLU.initialize(rng, d + 1, k, n_neurons=m, depth=depth,
                                          init="random", init_scale=0.8, shift=shift)
    row_weights = np.sqrt(rng.uniform(0.5, 2.0, n)) if weighted else None
    return network, params, X_tilde, row_weights


def _fd_jacobian(network, params, X_tilde, row_weights, h=1e-6):
    """Dense Jacobian by central differences, rows output-major and row-weighted."""
    cols = []
    for q in range(params.size):
        e = np.zeros_like(params)
        e[q] = h
        diff = (network.predict(params + e, X_tilde) - network.predict(params - e, X_tilde))
        cols.append((diff / (2 * h)).T.ravel())
    J = np.array(cols).T
    if row_weights is not None:
        J *= np.tile(row_weights, network.signs.shape[1])[:, None]
    return J


CASES = [{"depth": 2, "k": 1, "weighted": False}, {"depth": 2, "k": 2, "weighted": True},
         {"depth": 3, "k": 1, "weighted": True}, {"depth": 3, "k": 3, "weighted": False},
         # The shifted ReLU: sparse layer outputs (about a third of the neurons fire).
         {"depth": 2, "k": 2, "weighted": True, "m": 12, "shift": 0.4},
         {"depth": 3, "k": 1, "weighted": False, "m": 12, "shift": 0.4}]


@pytest.mark.parametrize("case", CASES)
def test_deep_jacobian_matches_finite_differences_and_its_dense_form(case):
    network, params, X_tilde, rw = _problem(**case)
    J = network.jacobian(params, X_tilde, row_weights=rw)
    dense = J.matmat(np.eye(J.shape[1]))
    assert_allclose(dense, _fd_jacobian(network, params, X_tilde, rw), rtol=1e-6, atol=1e-7)
    # The adjoint is the transpose of the forward map (dot test on whole blocks).
    assert_allclose(J.rmatmat(np.eye(J.shape[0])), dense.T, rtol=1e-12, atol=1e-14)
    rng = np.random.default_rng(0)
    v, z = rng.standard_normal(J.shape[1]), rng.standard_normal(J.shape[0])
    assert abs(z @ J.matvec(v) - J.rmatvec(z) @ v) <= 1e-12 * abs(z @ J.matvec(v))
    # The per-layer tensor trick gives J J^T, its columns and its diagonal.
    K = dense @ dense.T
    assert_allclose(J.gram(), K, rtol=1e-12, atol=1e-14)
    assert_allclose(J.squared_row_norms(), np.diag(K), rtol=1e-12)
    columns = [0, 4, J.shape[0] - 1]
    fresh = network.jacobian(params, X_tilde, row_weights=rw)
    assert_allclose(fresh.gram_columns(columns), K[:, columns], rtol=1e-12, atol=1e-14)
    # Kronecker blocks rebuild the rows exactly.
    rows = np.hstack([np.einsum("qa,qb->qab", U, V).reshape(U.shape[0], -1)
                      for U, V in J.kron_blocks()])
    assert_allclose(rows, dense, rtol=1e-12, atol=1e-14)


PATHS = [("cg", "none", {}), ("cg", "jacobi", {}), ("cg", "nystrom", {"n_landmarks": 12}),
         ("cg", "sketch", {"sketch_size": 3.0}), ("lsqr", "sketch", {"sketch_size": 3.0}),
         ("lsqr", "nystrom", {"n_landmarks": 12}), ("cg", "sketch", {"sketch": "gaussian"})]


@pytest.mark.parametrize("depth, shift", [(2, 0.0), (3, 0.0), (2, 0.4)])
@pytest.mark.parametrize("solver, name, options", PATHS)
def test_every_solver_path_gives_the_cholesky_step(depth, shift, solver, name, options):
    network, params, X_tilde, rw = _problem(depth, n=20, m=12 if shift else 8, k=2,
                                            weighted=True, shift=shift)
    J = network.jacobian(params, X_tilde, row_weights=rw)
    rng = np.random.default_rng(1)
    r, u = rng.standard_normal(J.shape[0]), 0.1 * rng.standard_normal(J.shape[1])
    ref, _ = gauss_newton_step(J, r, u, 0.3, 0.05, SOLVERS["cholesky"])
    precond = make_preconditioner(name, random_state=0, **options).fit(J, 0.35)
    delta, inner = gauss_newton_step(J, r, u, 0.3, 0.05, SOLVERS[solver], rtol=1e-13,
                                     maxiter=2000, preconditioner=precond)
    assert_allclose(delta, ref, rtol=1e-8, atol=1e-10 * np.abs(ref).max())


@pytest.mark.parametrize("shift", [0.5, 1.5, 2.5])
def test_every_shifted_layer_fires_the_same_fraction_and_stores_it_sparse(shift):
    """The thresholds follow each layer's spread: a fraction Q(t) fires in every layer."""
    rng = np.random.RandomState(0)
    X_tilde = add_bias_feature(3.0 * rng.standard_normal((40, 5)), True)
    network, params = DeepReLU.initialize(rng, 6, 1, n_neurons=3000, depth=3,
                                          init="random", init_scale=0.6, shift=shift)
    H, _ = network.forward(params, X_tilde)
    expected = stats.norm.sf(shift)
    for H_l in H[1:]:
        assert sparse.isspmatrix_csr(H_l)
        assert_allclose(H_l.nnz / np.prod(H_l.shape), expected, rtol=0.2)


@pytest.mark.parametrize("depth", [2, 3])
def test_deep_ntk_is_the_limit_of_the_finite_gram(depth):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((6, 3))
    X_tilde = add_bias_feature(X, True)
    K = ntk(X, depth=depth, init_scale=0.7)
    errors = []
    for m in (128, 2048):
        grams = [DeepReLU.initialize(np.random.RandomState(seed), 4, 1, n_neurons=m,
                                     depth=depth, init="random", init_scale=0.7)
                 for seed in range(3)]
        G = np.mean([net.jacobian(p, X_tilde).gram() for net, p in grams], axis=0)
        errors.append(np.abs(G - K).max() / np.abs(K).max())
    assert errors[1] < 0.5 * errors[0] and errors[1] < 0.08


def test_deep_ntk_depth_one_is_the_two_layer_kernel():
    X = np.random.RandomState(0).standard_normal((5, 2))
    assert_allclose(ntk(X, depth=1, init_scale=3.0), ntk(X), rtol=0, atol=0)


def test_deep_fit_approaches_deep_ntk_kernel_ridge_as_width_grows():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((60, 3))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2]
    X_test = rng.standard_normal((30, 3))
    K, K_test = ntk(X, depth=2), ntk(X_test, X, depth=2)
    ref = K_test @ np.linalg.solve(K + 1.0 * np.eye(60), y - y.mean()) + y.mean()
    differences = []
    for m in (64, 1024):
        reg = SketchedGNRegressor(m, depth=2, alpha=1.0, input_scale=1.0, solver="cholesky",
                                  normalize_y=False, max_iter=1, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            reg.fit(X, y - y.mean())
        pred = reg.predict(X_test) + y.mean()
        differences.append(np.linalg.norm(pred - ref) / np.linalg.norm(ref - y.mean()))
    assert differences[1] < 0.6 * differences[0]


def test_depth_one_is_the_two_layer_network_bit_for_bit():
    rng = np.random.RandomState(0)
    X, y = rng.standard_normal((80, 4)), rng.standard_normal(80)
    a = SketchedGNRegressor(64, random_state=0).fit(X, y)
    b = SketchedGNRegressor(64, depth=1, random_state=0).fit(X, y)
    assert np.array_equal(a.weights_, b.weights_)
    assert np.array_equal(a.predict(X), b.predict(X))


@pytest.mark.parametrize("solver", ["cholesky", "cg", "lsqr"])
def test_deep_estimator_fits_and_predicts(solver):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((150, 3))
    y = np.sin(2 * X[:, 0]) + X[:, 1]
    reg = SketchedGNRegressor(64, depth=2, alpha=0.1, input_scale=1.0, solver=solver,
                              random_state=0).fit(X, y)
    assert reg.weights_.shape == (64 * 4 + 64 * 64,)
    assert reg.score(X, y) > 0.9
    assert reg.loss_curve_ == sorted(reg.loss_curve_, reverse=True)


def test_shifted_deep_estimator_scores_its_own_kernel_and_predicts_its_network():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((200, 3))
    y = np.sin(2 * X[:, 0]) + X[:, 1]
    reg = SketchedGNRegressor(128, depth=2, activation="shifted_relu", shift=0.6,
                              random_state=0).fit(X, y)
    assert reg.shift_ == 0.6 and reg.selection_scores_.shape == (3, 9)
    assert reg.score(X, y) > 0.9
    assert reg.loss_curve_ == sorted(reg.loss_curve_, reverse=True)
    # predict runs the trained shifted network (less its initial output) on the
    # standardized features.
    net = DeepReLU(reg.output_signs_, 4, 2, reference=reg.initial_weights_, shift=0.6)
    Z = (X - reg.X_mean_) / reg.X_scale_
    X_tilde = add_bias_feature(Z, True, bias=1.0 / reg.input_scale_)  # [z, 1/s]
    expected = net.predict(reg.weights_, X_tilde)[:, 0] * reg.y_scale_[0] + reg.y_mean_[0]
    assert_allclose(reg.predict(X), expected, rtol=1e-12)
    # 'auto': about sqrt(m) neurons of each layer fire.
    auto = SketchedGNRegressor(128, depth=2, activation="shifted_relu", max_iter=1)
    with pytest.warns(ConvergenceWarning):
        auto.fit(X, y)
    assert_allclose(stats.norm.sf(auto.shift_), 128**-0.5, rtol=1e-12)


def test_symmetric_deep_network_starts_at_zero_and_keeps_every_layer_gradient():
    """init='symmetric' subtracts the initial output: f(W0) = 0 and the tangent kernel
    keeps the terms of the lower layers (pairing the last layer would cancel them)."""
    rng = np.random.RandomState(0)
    X = rng.standard_normal((6, 3))
    X_tilde = add_bias_feature(X, True)
    network, params = DeepReLU.initialize(np.random.RandomState(1), 4, 2, n_neurons=64,
                                          depth=3)
    assert np.array_equal(network.predict(params, X_tilde), np.zeros((6, 2)))
    J = network.jacobian(params, X_tilde)
    assert all(np.linalg.norm(U) > 0 for U, _ in J.kron_blocks())
    # The symmetric network's Gram at initialization approaches the deep NTK.
    errors = []
    for m in (128, 2048):
        net, p = DeepReLU.initialize(np.random.RandomState(2), 4, 1, n_neurons=m, depth=2,
                                     init_scale=0.7)
        G = net.jacobian(p, X_tilde).gram()
        K = ntk(X, depth=2, init_scale=0.7)
        errors.append(np.abs(G - K).max() / np.abs(K).max())
    assert errors[1] < 0.5 * errors[0] and errors[1] < 0.1


def test_forward_and_reference_caches_follow_their_arrays():
    """The cached forward pass and reference outputs are those of the arrays passed."""
    rng = np.random.RandomState(0)
    X1 = add_bias_feature(rng.standard_normal((15, 3)), True)
    X2 = add_bias_feature(rng.standard_normal((9, 3)), True)
    net, p1 = DeepReLU.initialize(rng, 4, 2, n_neurons=12, depth=3)
    p2 = p1 + 0.3 * rng.standard_normal(p1.shape)

    def fresh():
        return DeepReLU(net.signs, 4, 3, reference=net.reference)

    H, D = net.forward(p1, X1)
    assert net.forward(p1, X1)[0] is H  # the same pass, not recomputed
    assert net.forward(p1.copy(), X1)[0] is not H  # an equal copy is a new key
    for params, X in [(p2, X1), (p1, X2), (p2, X2), (p1, X1)]:
        assert_allclose(net.predict(params, X), fresh().predict(params, X), rtol=1e-14,
                        atol=1e-14)
        for got, want in zip(net.forward(params, X)[0], fresh().forward(params, X)[0]):
            assert_allclose(got, want, rtol=1e-14)
    # Predicting at the reference itself is zero (symmetric init) whatever was cached.
    assert_allclose(net.predict(net.reference, X2), 0.0, atol=1e-14)
