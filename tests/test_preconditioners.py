"""Preconditioners and the preconditioned solvers against the exact Cholesky step."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from skgn._gauss_newton import gauss_newton_step
from skgn._network import TwoLayerReLU, add_bias_feature
from skgn._preconditioners import (
    PRECONDITIONERS,
    IdentityPreconditioner,
    NystromPreconditioner,
    SketchPreconditioner,
    make_preconditioner,
)
from skgn._sketching import SKETCHES
from skgn._solvers import SOLVERS, solve_cg, solve_cholesky, solve_lsqr


def _jacobian(n=40, d=3, m=64, k=1, weighted=True, seed=0):
    rng = np.random.default_rng(seed)
    X_tilde = add_bias_feature(rng.standard_normal((n, d)), True)
    W0 = rng.standard_normal((m, d + 1))
    W = W0 + 0.2 * rng.standard_normal(W0.shape)
    signs = rng.choice([-1.0, 1.0], size=(m, k))
    rw = np.sqrt(rng.uniform(0.5, 2.0, n)) if weighted else None
    J = TwoLayerReLU(signs).jacobian(W, X_tilde, row_weights=rw)
    r = rng.standard_normal(k * n)
    return J, r, (W - W0).ravel()


PRECOND_CASES = [("none", None), ("jacobi", None), ("nystrom", None)] + [
    ("sketch", (sketch, method)) for sketch in sorted(SKETCHES) for method in ("qr", "cholesky")
]


def _make(name, options):
    if name == "sketch":
        sketch, method = options
        return SketchPreconditioner(sketch=sketch, method=method, random_state=0)
    if name == "nystrom":
        return NystromPreconditioner(n_landmarks=20, random_state=0)
    return PRECONDITIONERS[name]()


@pytest.mark.parametrize("solver", ["cg", "lsqr"])
@pytest.mark.parametrize("name, options", PRECOND_CASES)
@pytest.mark.parametrize("alpha, mu", [(0.0, 1e-3), (0.5, 0.0), (0.3, 0.2)])
@pytest.mark.parametrize("k", [1, 2])
def test_every_path_equals_cholesky_step(solver, name, options, alpha, mu, k):
    J, r, u = _jacobian(k=k)
    exact, _ = gauss_newton_step(J, r, u, alpha, mu, solve_cholesky)
    pre = _make(name, options).fit(J, alpha + mu)
    delta, inner = gauss_newton_step(
        J, r, u, alpha, mu, SOLVERS[solver], rtol=1e-13, maxiter=2000, preconditioner=pre
    )
    assert inner.preconditioner == name and inner.solver == solver
    assert_allclose(delta, exact, rtol=1e-8, atol=1e-10 * np.abs(exact).max())


@pytest.mark.parametrize("alpha, mu", [(0.0, 1e-3), (0.5, 0.0), (0.3, 0.2)])
@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("n, m", [(40, 64), (300, 8)])
def test_normal_equations_step_equals_cholesky_step(alpha, mu, k, n, m):
    """Parameter space and sample space give one step, with fewer or more rows than P."""
    J, r, u = _jacobian(n=n, m=m, k=k)
    exact, _ = gauss_newton_step(J, r, u, alpha, mu, solve_cholesky)
    delta, inner = gauss_newton_step(J, r, u, alpha, mu, SOLVERS["normal"])
    assert inner.solver == "normal"
    assert_allclose(delta, exact, rtol=1e-8, atol=1e-10 * np.abs(exact).max())


@pytest.mark.parametrize("name, options", PRECOND_CASES)
def test_factor_matches_its_definition(name, options):
    J, _, _ = _jacobian(n=30)
    lam = 0.1
    pre = _make(name, options).fit(J, lam)
    I = np.eye(30)
    R_inv, R_inv_t = pre.apply(I), pre.apply_t(I)
    assert_allclose(R_inv_t, R_inv.T, atol=1e-12)
    # What CG applies: M^{-1} = R^{-1} R^{-T}, for blocks and vectors.
    M_inv = R_inv @ R_inv_t
    assert_allclose(pre.inverse(I), M_inv, rtol=1e-10, atol=1e-10 * np.abs(M_inv).max())
    assert_allclose(pre.inverse(np.arange(30.0)), M_inv @ np.arange(30.0), rtol=1e-10,
                    atol=1e-10 * np.abs(M_inv).max())
    # vector and block applications agree
    v = np.arange(30.0)
    assert_allclose(pre.apply(v), R_inv @ v, rtol=1e-12, atol=1e-12)
    if name == "sketch":
        # R^T R = Y^T Y + lam I with Y the sketch of J^T
        sketch, _ = options
        U, V = J.kron_factors()
        spec = SKETCHES[sketch](pre.n_components_, random_state=0)
        Y = spec.draw((U.shape[1], V.shape[1])).sketch_kron(U, V)
        assert_allclose(pre.R_.T @ pre.R_, Y.T @ Y + lam * I, rtol=1e-8, atol=1e-10)
    if name == "nystrom":
        # R^2 = B B^T + lam I, and B B^T matches K on the landmark columns
        M = np.linalg.inv(R_inv @ R_inv)
        K = J.gram()
        assert_allclose(M[:, pre.landmarks_], K[:, pre.landmarks_] + lam * I[:, pre.landmarks_],
                        rtol=1e-6, atol=1e-8 * np.abs(K).max())


def _kappa_preconditioned(J, lam, pre):
    n = J.shape[0]
    R_inv = pre.apply(np.eye(n))
    A = R_inv.T @ (J.gram() + lam * np.eye(n)) @ R_inv
    ev = np.linalg.eigvalsh(0.5 * (A + A.T))
    # Singular values of [J, sqrt(lam) I]^T R^{-1} are the square roots.
    return np.sqrt(ev[-1] / ev[0])


def _ill_conditioned(n, m):
    rng = np.random.default_rng(0)
    X_tilde = add_bias_feature(rng.standard_normal((n, 2)), True)
    half = rng.standard_normal((m // 2, 3))
    W = np.repeat(half, 2, axis=0)
    signs = np.repeat(rng.choice([-1.0, 1.0], size=(m // 2, 1)), 2, axis=0)
    signs[1::2] *= -1
    return TwoLayerReLU(signs).jacobian(W, X_tilde), rng.standard_normal(n)


def _check_sketch_quality(n, m, gammas, kappa_min, lam=0.0):
    J, b = _ill_conditioned(n, m)
    ev = np.linalg.eigvalsh(J.gram())
    assert ev[-1] / max(ev[0], 1e-300) >= kappa_min
    # Unpreconditioned CG does not reach even 1e-6 in more iterations than the
    # preconditioned solves below may take to 1e-10. (It needs 161 at n = 400 and 393 at
    # n = 2,000, with its residuals reorthogonalized; without that, not 500.)
    plain = solve_cg(J, b, lam, rtol=1e-6, maxiter=100)
    assert not plain.converged
    for name in sorted(SKETCHES):
        for gamma in gammas:
            pre = SketchPreconditioner(sketch=name, sketch_size=gamma, random_state=0).fit(J, lam)
            bound = (1 + gamma**-0.5) / (1 - gamma**-0.5)
            assert _kappa_preconditioned(J, lam, pre) <= 1.2 * bound, (name, gamma)
            # The true residual must reach 1e-10. CG's error falls by the factor
            # gamma^-1/2 per iteration (the edges of the preconditioned spectrum), so at
            # gamma = 2 (rate 0.707) theory alone needs about 66 iterations to 1e-10 and
            # the 60-iteration cap applies from gamma = 3.
            cap, tol = (60, 1e-10) if gamma >= 3 else (85, 1e-10)
            for solve in (solve_cg, solve_lsqr):
                res = solve(J, b, lam, rtol=tol, maxiter=cap, preconditioner=pre)
                assert res.converged and res.residual_norm <= tol, (name, gamma, solve)
                assert res.n_iter <= cap, (name, gamma, solve, res.n_iter)


def test_sketch_quality_on_an_ill_conditioned_gram():
    """Small version of the acceptance check (kappa >= 1e7), fast enough for every run."""
    _check_sketch_quality(n=400, m=4000, gammas=(2, 3, 4), kappa_min=1e7)


@pytest.mark.slow
def test_sketch_quality_acceptance_size():
    """n = 2000, d = 2, n_neurons = 20000: kappa(K) >= 1e8, the acceptance size."""
    _check_sketch_quality(n=2000, m=20000, gammas=(2, 3, 4), kappa_min=1e8)


def test_nystrom_rejects_zero_shift():
    J, _, _ = _jacobian()
    with pytest.raises(ValueError, match="lam > 0"):
        NystromPreconditioner(n_landmarks=5).fit(J, 0.0)


def test_sketch_falls_back_to_exact_factor_when_it_cannot_compress():
    J, _, _ = _jacobian(n=40, m=8)  # P = 32 < 3 * 40
    pre = SketchPreconditioner(sketch="tensor_srht", random_state=0).fit(J, 0.1)
    assert pre.n_components_ == J.shape[1]
    assert_allclose(pre.R_.T @ pre.R_, J.gram() + 0.1 * np.eye(40), rtol=1e-10, atol=1e-12)


def test_nystrom_never_forms_the_gram(monkeypatch):
    """Nystrom-PCG touches only n x k Gram columns: forming J J^T would fail here."""
    from skgn._network import ReLUJacobian

    def forbidden(self):
        raise AssertionError("the n x n Gram was formed")

    monkeypatch.setattr(ReLUJacobian, "gram", forbidden)
    J, r, u = _jacobian(n=60, m=128)
    pre = NystromPreconditioner(n_landmarks=10, random_state=0).fit(J, 0.5)
    assert pre.factor_.shape[0] == 60 and pre.factor_.shape[1] <= 10
    delta, inner = gauss_newton_step(J, r, u, 0.5, 0.0, solve_cg, rtol=1e-10, preconditioner=pre)
    assert inner.converged


@pytest.mark.parametrize("name", ["jacobi", "sketch", "nystrom"])
def test_unfitted_preconditioner_refuses_to_apply(name):
    from sklearn.exceptions import NotFittedError

    pre = PRECONDITIONERS[name]()
    with pytest.raises(NotFittedError, match="not fitted yet"):
        pre.apply(np.ones(3))
    with pytest.raises(NotFittedError, match="not fitted yet"):
        pre.apply_t(np.ones(3))


def test_factory_passes_each_class_its_own_options():
    options = {"sketch": "gaussian", "sketch_size": 4.0, "n_landmarks": 7, "random_state": 3,
               "n_jobs": 2}
    sketch = make_preconditioner("sketch", **options)
    assert (sketch.sketch, sketch.sketch_size, sketch.random_state, sketch.n_jobs) == (
        "gaussian", 4.0, 3, 2)
    nystrom = make_preconditioner("nystrom", **options)
    assert (nystrom.n_landmarks, nystrom.random_state) == (7, 3)
    assert isinstance(make_preconditioner("none", **options), IdentityPreconditioner)
    assert make_preconditioner("none").apply(np.ones(2)).tolist() == [1.0, 1.0]


@pytest.mark.parametrize("lam", [1e-8, 1e-2, 10.0])
def test_nystrom_inverse_root_equals_the_svd_formula(lam):
    """R^{-1} = B G B^T + lam^{-1/2} I equals Q diag(1/sqrt(s^2 + lam) - 1/sqrt(lam)) Q^T +
    lam^{-1/2} I from the thin SVD B = Q diag(s) V^T, also with tiny singular values."""
    J, _, _ = _jacobian(n=50, m=96)
    pre = NystromPreconditioner(n_landmarks=30, random_state=1).fit(J, lam)
    Q, s, _ = np.linalg.svd(pre.factor_, full_matrices=False)
    expected = (Q * (1 / np.sqrt(s**2 + lam) - 1 / np.sqrt(lam))) @ Q.T
    expected += np.eye(50) / np.sqrt(lam)
    R_inv = pre.apply(np.eye(50))
    assert_allclose(R_inv, expected, rtol=1e-9, atol=1e-9 * np.abs(expected).max())
    # M^{-1} = Q diag(1/(s^2 + lam) - 1/lam) Q^T + I / lam, in one pass.
    expected_inverse = (Q * (1 / (s**2 + lam) - 1 / lam)) @ Q.T + np.eye(50) / lam
    assert_allclose(pre.inverse(np.eye(50)), expected_inverse, rtol=1e-9,
                    atol=1e-9 * np.abs(expected_inverse).max())
    assert_allclose(pre.sigma_, s, rtol=1e-6, atol=1e-7 * s.max())
    if lam < 1e-3:
        return  # inverting R^{-2} (condition number s_max^2 / lam) is not accurate here
    # M = R^2 = B B^T + lam I
    M = np.linalg.inv(R_inv @ R_inv)
    assert_allclose(M, pre.factor_ @ pre.factor_.T + lam * np.eye(50), rtol=1e-6,
                    atol=1e-8 * np.abs(M).max())


def test_nystrom_takes_whole_samples_on_mixed_rows():
    """Multiclass curvature: landmarks are all k outputs of ceil(n_landmarks / k) samples."""
    from skgn._network import TwoLayerReLU
    from skgn._operators import MixedRowsJacobian

    rng = np.random.default_rng(5)
    n, k = 40, 3
    X_tilde = np.hstack([rng.standard_normal((n, 3)), np.ones((n, 1))])
    J = TwoLayerReLU(rng.choice([-1.0, 1.0], size=(30, k))).jacobian(
        rng.standard_normal((30, 4)), X_tilde)
    JH = MixedRowsJacobian(J, rng.standard_normal((n, k, k)))
    pre = NystromPreconditioner(n_landmarks=10, random_state=0).fit(JH, 0.5)
    outputs, samples = np.divmod(pre.landmarks_, n)
    assert len(set(samples)) == 4 and len(pre.landmarks_) == 12
    for sample in set(samples):
        assert sorted(outputs[samples == sample]) == list(range(k))
    # Still the Nystrom approximation of the mixed Gram on those columns.
    K = JH.gram()
    C = K[:, pre.landmarks_]
    K_hat = C @ np.linalg.pinv(C[pre.landmarks_]) @ C.T
    assert_allclose(pre.factor_ @ pre.factor_.T, K_hat, rtol=1e-6, atol=1e-8)


def test_refit_drops_the_previous_factor_first(monkeypatch):
    """A refit never holds the old factor beside the new one (memory at large n)."""
    J, _, _ = _jacobian(n=40)
    pre = NystromPreconditioner(n_landmarks=10, random_state=0).fit(J, 0.1)
    seen, columns_of = [], J.gram_columns

    def spy(columns):
        seen.append(hasattr(pre, "factor_") or hasattr(pre, "n_rows_"))
        return columns_of(columns)

    monkeypatch.setattr(J, "gram_columns", spy)
    pre.fit(J, 0.1)
    assert seen == [False] and pre.factor_.shape[0] == 40 and pre.n_rows_ == 40


def _sampled(n=60, d=3, m=24, k=1, weighted=True, seed=0):
    """A SampledRowsJacobian of all ``n`` rows, with its dense matrix."""
    from skgn._operators import SampledRowsJacobian

    rng = np.random.default_rng(seed)
    X_tilde = add_bias_feature(rng.standard_normal((n, d)), True)
    W = rng.standard_normal((m, d + 1))
    signs = rng.choice([-1.0, 1.0], size=(m, k))
    rw = np.sqrt(rng.uniform(0.5, 2.0, n)) if weighted else np.ones(n)
    net = TwoLayerReLU(signs)
    J = net.jacobian(W, X_tilde, row_weights=rw)
    C = SampledRowsJacobian(J, lambda s: net.jacobian(W, X_tilde[s], row_weights=rw[s]))
    return C, J.matmat(np.eye(W.size))


@pytest.mark.parametrize("k", [1, 2])
def test_sampled_rows_jacobian_rows_are_the_dense_rows(k):
    C, dense = _sampled(k=k)
    samples = np.array([3, 7, 41])
    rows = (np.arange(k)[:, None] * C.n_samples + samples).ravel()
    assert_allclose(C.rows(samples).matmat(np.eye(dense.shape[1])), dense[rows], rtol=1e-12,
                    atol=1e-14)
    assert_allclose(C.matmat(np.eye(dense.shape[1])), dense, rtol=1e-12, atol=1e-14)
    assert_allclose(C.gram_columns(rows), dense @ dense[rows].T, rtol=1e-10, atol=1e-13)
    # Dot test of the wrapped products.
    rng = np.random.default_rng(1)
    v, z = rng.standard_normal(C.shape[1]), rng.standard_normal(C.shape[0])
    assert np.isclose(z @ C.matvec(v), C.rmatvec(z) @ v, rtol=1e-12)


@pytest.mark.parametrize("k", [1, 2])
def test_parameter_nystrom_is_exact_when_the_landmarks_span_the_rows(k):
    from skgn._preconditioners import ParameterNystromPreconditioner

    # 60 samples, P = 24 * 4 = 96 parameters: every sample a landmark spans the row space.
    C, dense = _sampled(k=k)
    lam = 0.3
    pre = ParameterNystromPreconditioner(n_landmarks=k * C.n_samples, random_state=0)
    pre.fit(C, lam)
    A = dense.T @ dense + lam * np.eye(dense.shape[1])
    P = dense.shape[1]
    # On the span of the landmarks' gradients M is exact; off it M^{-1} is 1/(d_min + lam).
    rank = np.linalg.matrix_rank(dense)
    assert pre.basis_.shape[1] >= rank
    inverse = pre.inverse(np.eye(P))
    assert_allclose(inverse, inverse.T, atol=1e-10 * np.abs(inverse).max())
    U = pre.basis_[:, :rank]
    assert_allclose(U.T @ inverse @ A @ U, np.eye(rank), atol=1e-8)
    # R^{-1} R^{-T} = M^{-1}.
    assert_allclose(pre.apply(pre.apply_t(np.eye(P))), inverse, atol=1e-10 * np.abs(inverse).max())


@pytest.mark.parametrize("fit_samples", [None, 200])
def test_parameter_nystrom_with_few_landmarks_cuts_cg_iterations(fit_samples):
    from skgn._preconditioners import ParameterNystromPreconditioner
    from skgn._solvers import solve_parameter_cg

    # Also when it is fitted on half of the rows. (P = 256 unknowns, whose spectrum decays
    # slowly: 219, 34, 1.4, 0.58 and 0.24 at ranks 1, 5, 30, 60 and 100. Plain CG, its
    # residuals reorthogonalized, takes 66 iterations: 27 preconditioned on every row, 38
    # on half of them.)
    C, dense = _sampled(n=400, m=64, seed=2)
    lam = 0.1
    g = np.random.default_rng(3).standard_normal(C.shape[1])
    exact = np.linalg.solve(dense.T @ dense + lam * np.eye(C.shape[1]), g)
    pre = ParameterNystromPreconditioner(n_landmarks=100, random_state=0,
                                         fit_samples=fit_samples).fit(C, lam)
    plain = solve_parameter_cg(C, g, lam, rtol=1e-10, maxiter=5000)
    fast = solve_parameter_cg(C, g, lam, rtol=1e-10, maxiter=5000, preconditioner=pre)
    assert plain.converged and fast.converged and fast.preconditioner == "nystrom"
    assert_allclose(fast.x, exact, rtol=1e-7, atol=1e-9 * np.abs(exact).max())
    assert fast.n_iter < 2 / 3 * plain.n_iter


@pytest.mark.parametrize("k", [1, 2])
def test_parameter_nystrom_fit_samples_is_the_fit_on_the_rescaled_sample(k):
    from skgn._operators import SampledRowsJacobian
    from skgn._preconditioners import ParameterNystromPreconditioner

    # Fitted on t of the s samples, the preconditioner is the one fitted on those rows
    # scaled by sqrt(s / t): (s / t) C_T^T C_T estimates C^T C.
    C, dense = _sampled(k=k, weighted=True)
    s, t, lam = C.n_samples, 25, 0.3
    sub = ParameterNystromPreconditioner(n_landmarks=12, random_state=np.random.RandomState(4),
                                         fit_samples=t).fit(C, lam)
    rng = np.random.RandomState(4)
    fitted = np.sort(rng.choice(s, size=t, replace=False))
    root = np.sqrt(s / t)

    class Scaled(SampledRowsJacobian):
        def _matmat(self, V):
            return root * self.operator.matmat(V)

        def _rmatmat(self, Z):
            return root * self.operator.rmatmat(Z)

        def _gram_columns(self, columns):
            return s / t * self.operator.gram_columns(columns)

    scaled = Scaled(C.rows(fitted), lambda q: Scaled(C.rows(fitted[q]), None))
    plain = ParameterNystromPreconditioner(n_landmarks=12, random_state=rng).fit(scaled, lam)
    assert_allclose(sub.landmarks_, plain.landmarks_)
    P = dense.shape[1]
    assert_allclose(sub.inverse(np.eye(P)), plain.inverse(np.eye(P)), rtol=1e-8,
                    atol=1e-10 / lam)
    # Every sample (or more) is the plain fit.
    full = ParameterNystromPreconditioner(n_landmarks=12, random_state=0).fit(C, lam)
    again = ParameterNystromPreconditioner(n_landmarks=12, random_state=0,
                                           fit_samples=s).fit(C, lam)
    assert_allclose(again.inverse(np.eye(P)), full.inverse(np.eye(P)), rtol=1e-12)


def test_nystrom_on_landmarks_without_gradient_is_the_scaled_identity():
    from skgn._operators import SampledRowsJacobian
    from skgn._preconditioners import ParameterNystromPreconditioner

    # Every pre-activation is negative, so every neuron is dead and J = 0: the landmarks
    # span nothing and both spaces' M is lam I (found with n_neurons=1).
    rng = np.random.default_rng(0)
    X_tilde = add_bias_feature(np.abs(rng.standard_normal((30, 3))), True)
    W = -np.abs(rng.standard_normal((4, 4)))
    net = TwoLayerReLU(np.ones((4, 1)))
    J = net.jacobian(W, X_tilde)
    assert not J.matmat(np.eye(W.size)).any()
    lam = 0.5
    for pre, size in [
        (NystromPreconditioner(n_landmarks=5, random_state=0).fit(J, lam), J.shape[0]),
        (ParameterNystromPreconditioner(n_landmarks=5, random_state=0).fit(
            SampledRowsJacobian(J, lambda s: net.jacobian(W, X_tilde[s])), lam), J.shape[1]),
    ]:
        assert_allclose(pre.inverse(np.eye(size)), np.eye(size) / lam, atol=1e-15)
        assert_allclose(pre.apply(pre.apply_t(np.eye(size))), np.eye(size) / lam, atol=1e-15)


@pytest.mark.parametrize("parameter_space", [False, True])
def test_nystrom_factorizes_its_core_on_one_blas_thread(monkeypatch, parameter_space):
    # The k x k eigen, Cholesky and triangular problems run on one thread (a second
    # OpenBLAS thread made them several times slower after a threaded product); the
    # products with n or P rows keep the caller's threads.
    from scipy import linalg
    from threadpoolctl import threadpool_limits

    from skgn._parallel import blas_thread_count
    from skgn._preconditioners import ParameterNystromPreconditioner

    with threadpool_limits(2, user_api="blas"):
        if blas_thread_count() < 2:
            pytest.skip("this BLAS runs on one thread")
    seen = {}
    for name in ("eigh", "cholesky", "solve_triangular"):
        def spy(*args, _name=name, _original=getattr(linalg, name), **kwargs):
            seen.setdefault(_name, set()).add(blas_thread_count())
            return _original(*args, **kwargs)
        monkeypatch.setattr(linalg, name, spy)
    if parameter_space:
        C, _ = _sampled(n=80)
        pre = ParameterNystromPreconditioner(n_landmarks=20, random_state=0)
        expected = {"eigh", "cholesky", "solve_triangular"}
    else:
        C, _, _ = _jacobian(n=80)
        pre = NystromPreconditioner(n_landmarks=20, random_state=0)
        expected = {"eigh"}
    with threadpool_limits(2, user_api="blas"):
        pre.fit(C, 0.1)
        assert blas_thread_count() == 2
    assert set(seen) == expected and all(counts == {1} for counts in seen.values())
