"""Lazy low-rank deep weights: factored arithmetic, products and fits against dense ones."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from skgn import SketchedGNRegressor
from skgn._deep import DeepReLU
from skgn._gauss_newton import gauss_newton
from skgn._lowrank import (FactoredLayer, LowRankWeights, Term, _add_product, column_blocks,
                           lazy_max_terms, sparse_dense)
from skgn._network import add_bias_feature
from skgn._preconditioners import make_preconditioner
from skgn._solvers import SOLVERS


def _problem(depth=2, n=15, d=3, m=16, k=1, seed=0, shift=0.4):
    rng = np.random.RandomState(seed)
    X_tilde = add_bias_feature(rng.standard_normal((n, d)), True)
    network, W0 = DeepReLU.initialize(rng, d + 1, k, n_neurons=m, depth=depth,
                                      init="random", init_scale=0.8, shift=shift)
    return network, W0, X_tilde


def _steps(network, W0, X_tilde, max_terms=10, n_steps=2, seed=1):
    """Lazy weights ``W0 + sum`` of factored steps ``J^T z`` at successive points, the
    vectors dense beside them."""
    rng = np.random.default_rng(seed)
    W = LowRankWeights.start(network.shapes, W0, max_terms)
    steps = []
    for _ in range(n_steps):
        J = network.jacobian(W, X_tilde)
        step = J.factored_rmatvec(rng.standard_normal(J.shape[0]) * 0.3)
        steps.append(step)
        W = W + step
    return W, steps


def test_blocked_sparse_products_match_plain_ones_bit_for_bit(monkeypatch):
    """Column blocks, in the calling thread or in threads, sum each entry alike."""
    rng = np.random.default_rng(0)
    H = sparse.random(50, 700, density=0.05, format="csr", random_state=1)
    R = rng.standard_normal((700, 600))
    plain = H @ R
    assert np.array_equal(sparse_dense(H, R), plain)
    assert np.array_equal(sparse_dense(H, R, column_blocks(R)), plain)
    # The F-ordered transpose of a square layer, in threads.
    monkeypatch.setattr("skgn._lowrank._SPMM_PARALLEL_WORK", 0)
    with threadpool_limits(2, user_api="blas"):
        assert np.array_equal(sparse_dense(H, R.T.T), plain)
    assert np.array_equal(sparse_dense(H, np.asfortranarray(R)), plain)


def test_added_product_is_the_dense_one_and_the_same_in_threads(monkeypatch):
    rng = np.random.default_rng(0)
    G = rng.standard_normal((600, 40))
    A = sparse.random(70, 40, density=0.2, format="csr", random_state=2)
    start = rng.standard_normal((600, 70))
    serial = start.copy()
    _add_product(serial, G, A)
    assert_allclose(serial, start + G @ A.toarray().T, rtol=1e-13, atol=1e-13)
    monkeypatch.setattr("skgn._lowrank._SPMM_PARALLEL_WORK", 0)
    threaded = start.copy()
    with threadpool_limits(2, user_api="blas"):
        _add_product(threaded, G, A)
    assert np.array_equal(threaded, serial)


@pytest.mark.parametrize("depth, k", [(2, 1), (2, 2), (3, 1)])
def test_factored_arithmetic_matches_the_dense_vectors(depth, k):
    network, W0, X_tilde = _problem(depth=depth, k=k)
    W, (s1, s2) = _steps(network, W0, X_tilde)
    dense = {name: np.asarray(v) for name, v in {"W": W, "s1": s1, "s2": s2}.items()}
    assert isinstance(W, LowRankWeights) and len(W.terms) == 2 * (depth - 1)
    assert_allclose(dense["W"], W0 + dense["s1"] + dense["s2"], rtol=1e-13, atol=1e-14)
    u = W - W0
    assert isinstance(u, LowRankWeights) and u.base is None
    assert_allclose(np.asarray(u), dense["W"] - W0, rtol=1e-12, atol=1e-13)
    combo = -0.7 * u - 2.5 * s2
    assert_allclose(np.asarray(combo), -0.7 * (dense["W"] - W0) - 2.5 * dense["s2"],
                    rtol=1e-12, atol=1e-13)
    assert_allclose(combo.squared_norm(), np.vdot(np.asarray(combo), np.asarray(combo)),
                    rtol=1e-12)
    # A combination that cancels a term drops it; the reflected forms are the dense ones.
    assert len((u - s2).terms) == depth - 1
    assert_allclose(np.asarray(W0 - W), -np.asarray(u), rtol=1e-13, atol=1e-14)
    assert_allclose(np.asarray(2.0 * W + s1), 2 * dense["W"] + dense["s1"], rtol=1e-13)
    assert W.reshape(W.shape) is W and W.ravel() is W
    with pytest.raises(ValueError, match="cannot take shape"):
        W.reshape((3, -1))
    # A dense vector that is not the base makes the result dense.
    other = np.full(W.shape, 0.5)
    assert_allclose(W + other, dense["W"] + other, rtol=1e-13)


def test_a_combination_over_max_terms_folds_into_a_dense_vector():
    network, W0, X_tilde = _problem()
    W, (s1,) = _steps(network, W0, X_tilde, max_terms=1, n_steps=1)
    J = network.jacobian(W, X_tilde)
    s2 = J.factored_rmatvec(np.ones(J.shape[0]))
    folded = W + s2
    assert isinstance(folded, np.ndarray)
    assert_allclose(folded, W0 + np.asarray(s1) + np.asarray(s2), rtol=1e-13, atol=1e-14)


def test_factored_layer_products_match_the_dense_block():
    network, W0, X_tilde = _problem(m=20)
    W, _ = _steps(network, W0, X_tilde)
    layer = network.unpack(W)[1]
    assert isinstance(layer, FactoredLayer)
    S = network.unpack(np.asarray(W))[1].T
    X = sparse.random(7, 20, density=0.3, format="csr", random_state=3)
    assert_allclose(layer.right(X), X @ S, rtol=1e-12, atol=1e-13)
    assert_allclose(layer.left(X), X @ S.T, rtol=1e-12, atol=1e-13)
    # Without base: the terms alone.
    no_base = network.unpack(W - W0)[1]
    S_terms = S - network.unpack(W0)[1].T
    assert_allclose(no_base.right(X), X @ S_terms, rtol=1e-12, atol=1e-12)


def test_term_inner_products_are_the_dense_ones_and_symmetric():
    terms = [Term(1, sparse.random(6, 9, density=0.4, random_state=i),
                  sparse.random(6, 9, density=0.4, random_state=10 + i)) for i in range(2)]
    blocks = [t.block().toarray() for t in terms]
    assert_allclose(blocks[0], terms[0].H.toarray().T @ terms[0].B.toarray(), rtol=1e-14)
    assert_allclose(terms[0].inner(terms[1]), np.sum(blocks[0] * blocks[1]), rtol=1e-12)
    assert terms[1].inner(terms[0]) == terms[0].inner(terms[1])
    assert Term(2, terms[0].H, terms[0].B).inner(terms[0]) == 0.0


@pytest.mark.parametrize("depth, k, weighted", [(2, 2, True), (3, 1, False)])
def test_jacobian_at_lazy_weights_is_the_dense_jacobian(depth, k, weighted):
    network, W0, X_tilde = _problem(depth=depth, k=k)
    W, (s1, _) = _steps(network, W0, X_tilde)
    rw = np.sqrt(np.random.default_rng(2).uniform(0.5, 2.0, X_tilde.shape[0])) if weighted else None
    lazy = network.jacobian(W, X_tilde, row_weights=rw)
    reference = DeepReLU(network.signs, network.n_inputs, depth, shift=network.shift,
                         init_scale=0.8)
    dense = reference.jacobian(np.asarray(W), X_tilde, row_weights=rw)
    assert "factored_adjoint" in lazy.capabilities
    assert "factored_adjoint" not in dense.capabilities
    eye = np.eye(dense.shape[1])
    J = dense.matmat(eye)
    assert_allclose(lazy.matmat(eye), J, rtol=1e-11, atol=1e-12)
    assert_allclose(lazy.rmatmat(np.eye(J.shape[0])), J.T, rtol=1e-11, atol=1e-12)
    assert_allclose(network.predict(W, X_tilde), reference.predict(np.asarray(W), X_tilde),
                    rtol=1e-12, atol=1e-13)
    # A factored direction, and the factored adjoint (dot test against the forward map).
    assert_allclose(lazy.matvec(s1), J @ np.asarray(s1), rtol=1e-11, atol=1e-12)
    z = np.random.default_rng(3).standard_normal(J.shape[0])
    step = lazy.factored_rmatvec(z)
    assert_allclose(np.asarray(step), J.T @ z, rtol=1e-11, atol=1e-12)
    v = np.random.default_rng(4).standard_normal(J.shape[1])
    assert abs(z @ lazy.matvec(v) - np.asarray(step) @ v) <= 1e-11 * abs(z @ (J @ v))


@pytest.mark.parametrize("depth, k, max_terms, solver", [
    (2, 1, 10, "cholesky"), (2, 2, 10, "cholesky"), (3, 1, 10, "cholesky"),
    (2, 1, 1, "cholesky"),
    # CG returns J^T g dense: the weights fold after the first step.
    (2, 2, 10, "cg")])
def test_lazy_fit_equals_the_dense_fit(depth, k, max_terms, solver):
    """The same steps with the weights kept lazily (folded after one term with
    ``max_terms=1``) as with dense weights."""
    network, W0, X_tilde = _problem(depth=depth, k=k, n=30, m=24)
    Y = np.sin(X_tilde[:, :k] * 2.0) + X_tilde[:, 1:2]
    fits = {}
    for terms in (0, max_terms):
        network.max_terms = terms
        preconditioner = (make_preconditioner("none") if solver == "cholesky" else
                          make_preconditioner("nystrom", n_landmarks=10, random_state=0))
        fits[terms] = gauss_newton(network, W0, W0, X_tilde, Y, solve=SOLVERS[solver],
                                   preconditioner=preconditioner, alpha=0.3,
                                   max_iter=4, tol=0.0)
    lazy, dense = fits[max_terms], fits[0]
    assert isinstance(lazy.params, np.ndarray)
    assert [h["accepted"] for h in lazy.history] == [h["accepted"] for h in dense.history]
    assert sum(h["accepted"] for h in lazy.history) >= 3
    assert_allclose([h["loss"] for h in lazy.history], [h["loss"] for h in dense.history],
                    rtol=1e-10)
    assert_allclose(lazy.params, dense.params, rtol=1e-9, atol=1e-12)


def test_trainable_is_lazy_only_from_the_anchor_of_a_shifted_network():
    network, W0, X_tilde = _problem()
    network.max_terms = 3
    assert isinstance(network.trainable(W0, W0, 15), LowRankWeights)
    moved = W0 + 0.1
    copy = network.trainable(moved, W0, 15)
    assert isinstance(copy, np.ndarray) and copy is not moved
    assert_allclose(copy, moved)
    plain, V0, _ = _problem(shift=0.0)
    plain.max_terms = 3
    assert isinstance(plain.trainable(V0, V0, 15), np.ndarray)
    network.max_terms = 0
    assert isinstance(network.trainable(W0, W0, 15), np.ndarray)


def test_lazy_max_terms_grows_with_the_width_against_the_rows():
    counts = [lazy_max_terms(2000, m, np.sqrt(m)) for m in (512, 4096, 8192, 16384, 65536)]
    assert counts[0] == 0 and counts[1] == 0
    assert counts == sorted(counts) and counts[-1] > 1
    # Many rows make each term dearer.
    assert lazy_max_terms(20000, 16384, 128.0) == 0


def test_estimator_fit_is_the_same_with_lazy_weights(monkeypatch):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((40, 3))
    y = np.sin(X[:, 0]) + X[:, 1]
    kwargs = dict(n_neurons=32, depth=2, activation="shifted_relu", alpha=0.5,
                  input_scale=1.0, max_iter=3, tol=0.0, random_state=0)
    predictions = {}
    for terms in (0, 5):
        monkeypatch.setattr("skgn._deep.lazy_max_terms", lambda *a, terms=terms: terms)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = SketchedGNRegressor(**kwargs).fit(X, y)
        assert isinstance(model.weights_, np.ndarray)
        predictions[terms] = model.predict(X)
    assert_allclose(predictions[5], predictions[0], rtol=1e-10, atol=1e-12)
