"""Inner solvers against a dense reference solve."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.sparse.linalg import LinearOperator, aslinearoperator

from skgn._solvers import (
    SOLVERS,
    SolverResult,
    solve_cg,
    solve_cholesky,
    solve_parameter_cg,
)


def _operator(n=25, P=60, seed=0):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, P))
    return M, aslinearoperator(M), rng.standard_normal(n)


@pytest.mark.parametrize("name", sorted(SOLVERS))
@pytest.mark.parametrize("lam", [0.0, 1e-3, 2.0])
def test_solvers_match_dense_solve(name, lam):
    M, J, b = _operator()
    expected = np.linalg.solve(M @ M.T + lam * np.eye(M.shape[0]), b)
    if name == "normal" and lam == 0:
        # The push-through identity divides by lam: the normal equations need lam > 0.
        with pytest.raises(np.linalg.LinAlgError, match="lam > 0"):
            SOLVERS[name](J, b, lam)
        return
    result = SOLVERS[name](J, b, lam, rtol=1e-13, maxiter=500)
    assert isinstance(result, SolverResult)
    assert result.solver == name and result.preconditioner == "none"
    assert result.converged
    if result.x is not None:
        assert_allclose(result.x, expected, rtol=1e-9, atol=1e-12)
    else:  # LSQR at lam = 0 returns only the step J^T g
        assert name == "lsqr" and lam == 0
    if result.jtx is not None:
        assert_allclose(result.jtx, M.T @ expected, rtol=1e-9, atol=1e-12)
    assert result.residual_norm <= 1e-12
    if result.residual is not None:
        # The residual the result carries is b - J p - lam x, whose norm it reports.
        p = result.jtx if result.jtx is not None else M.T @ result.x
        own = b - M @ p - (0.0 if result.x is None else lam * result.x)
        assert_allclose(result.residual, own, atol=1e-13 * np.linalg.norm(b))
        assert np.isclose(np.linalg.norm(result.residual) / np.linalg.norm(b),
                          result.residual_norm, rtol=1e-6)
    else:
        assert name in ("cholesky", "normal")


@pytest.mark.parametrize("lam", [1e-6, 1e-2, 3.0])
def test_normal_equations_match_the_sample_space_solve_with_more_rows_than_parameters(lam):
    M, J, b = _operator(n=300, P=40, seed=2)
    result = SOLVERS["normal"](J, b, lam)
    # The step J^T g = (M^T M + lam I)^{-1} M^T b, referenced in the well-conditioned
    # parameter space (M M^T + lam I has condition number ~ 1 / lam here).
    step = np.linalg.solve(M.T @ M + lam * np.eye(40), M.T @ b)
    assert_allclose(result.jtx, step, rtol=1e-10, atol=1e-13)
    if lam >= 1e-2:
        expected = np.linalg.solve(M @ M.T + lam * np.eye(300), b)
        assert_allclose(result.x, expected, rtol=1e-8, atol=1e-10)
    assert result.residual_norm <= 1e-10


def test_cholesky_raises_on_indefinite_system():
    M, J, b = _operator(n=10, P=3)  # rank 3: M M^T is singular
    with pytest.raises(np.linalg.LinAlgError):
        solve_cholesky(J, b, -1e-3)


def test_cg_reports_non_convergence():
    rng = np.random.default_rng(0)
    # Singular values spread over 1e-4 .. 1: condition number 1e8 after squaring.
    U, _ = np.linalg.qr(rng.standard_normal((80, 80)))
    M = U * np.logspace(-4, 0, 80)
    result = solve_cg(aslinearoperator(M), rng.standard_normal(80), 0.0, rtol=1e-10, maxiter=5)
    assert result.n_iter == 5
    assert not result.converged
    assert result.residual_norm > 1e-10


def test_zero_rhs():
    M, J, b = _operator()
    for name, solve in SOLVERS.items():
        result = solve(J, np.zeros_like(b), 1.0, rtol=1e-8)
        assert_allclose(result.x, 0.0)
        assert result.jtx is None or not np.any(result.jtx)
        assert result.residual_norm == 0.0


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_starting_guess_gives_the_same_solution(name):
    # (More rows than CG needs at most: at n = 40, P = 30 the Gram has 31 distinct
    # eigenvalues and reorthogonalized CG ends in 31 iterations from either start.)
    M, J, b = _operator(n=200, P=150, seed=3)
    lam = 1e-2
    expected = np.linalg.solve(M @ M.T + lam * np.eye(M.shape[0]), b)
    start = expected + 1e-3 * np.random.default_rng(1).standard_normal(len(b))
    cold = SOLVERS[name](J, b, lam, rtol=1e-10, maxiter=500)
    warm = SOLVERS[name](J, b, lam, rtol=1e-10, maxiter=500, x0=start)
    assert warm.converged
    assert_allclose(warm.x, expected, rtol=1e-7, atol=1e-10)
    assert_allclose(warm.jtx if warm.jtx is not None else M.T @ warm.x, M.T @ expected,
                    rtol=1e-7, atol=1e-10)
    if name in ("cg", "lsqr"):
        # A guess near the solution leaves less to do than a start from zero.
        assert warm.n_iter < cold.n_iter


def test_cg_started_at_the_solution_does_no_iteration():
    M, J, b = _operator()
    lam = 0.5
    expected = np.linalg.solve(M @ M.T + lam * np.eye(M.shape[0]), b)
    result = solve_cg(J, b, lam, rtol=1e-8, x0=expected)
    assert result.n_iter == 0 and result.converged
    assert_allclose(result.x, expected)


class _CountingOperator:
    """``M`` as a LinearOperator that counts its products with ``M`` and ``M^T``."""

    def __init__(self, M):
        self.M, self.products = M, 0
        self.op = LinearOperator(M.shape, matvec=self._mv, rmatvec=self._rmv,
                                 dtype=np.float64)

    def _mv(self, v):
        self.products += 1
        return self.M @ v

    def _rmv(self, v):
        self.products += 1
        return self.M.T @ v


@pytest.mark.parametrize("name", ["cg", "lsqr", "parameter_cg"])
def test_a_solve_continued_from_its_result_recomputes_nothing(name):
    # Cut short after 3 iterations, then continued to rtol 1e-11 from the result: the
    # dense solution, and the CG continuations pay only for their own iterations (an
    # array x0 costs J^T and J once more in sample space, and one normal product in
    # parameter space, to rebuild what the result carries). LSQR reuses the result's
    # J^T g, but SciPy's iteration count from the two starts can differ by one.
    M, _, b = _operator(n=40, P=60, seed=5)
    lam = 0.1
    if name == "parameter_cg":
        b = np.random.default_rng(5).standard_normal(M.shape[1])
        expected = np.linalg.solve(M.T @ M + lam * np.eye(M.shape[1]), b)
        solve, per_start = solve_parameter_cg, 2
    else:
        expected = np.linalg.solve(M @ M.T + lam * np.eye(M.shape[0]), b)
        solve, per_start = SOLVERS[name], {"cg": 2, "lsqr": None}[name]
    counted = _CountingOperator(M)
    short = solve(counted.op, b, lam, rtol=1e-11, maxiter=3)
    assert short.n_iter == 3 and not short.converged
    spent = []
    for x0 in (short, short.x):
        counted.products = 0
        rest = solve(counted.op, b, lam, rtol=1e-11, maxiter=500, x0=x0)
        spent.append(counted.products)
        assert rest.converged
        assert_allclose(rest.x, expected, rtol=1e-8, atol=1e-10 * np.abs(expected).max())
    assert per_start is None or spent[1] - spent[0] == per_start


@pytest.mark.parametrize("lam", [1e-4, 0.5])
def test_parameter_cg_matches_the_dense_solve_and_continues_from_x0(lam):
    from skgn._network import TwoLayerReLU, add_bias_feature

    rng = np.random.default_rng(0)
    X_tilde = add_bias_feature(rng.standard_normal((50, 3)), True)
    W = rng.standard_normal((16, 4))
    C = TwoLayerReLU(rng.choice([-1.0, 1.0], size=(16, 1))).jacobian(W, X_tilde)
    dense = C.matmat(np.eye(W.size))
    g = rng.standard_normal(W.size)
    exact = np.linalg.solve(dense.T @ dense + lam * np.eye(W.size), g)
    full = solve_parameter_cg(C, g, lam, rtol=1e-11, maxiter=2000)
    assert full.converged and full.solver == "parameter_cg" and full.jtx is None
    assert_allclose(full.x, exact, rtol=1e-6, atol=1e-8 * np.abs(exact).max())
    assert full.residual_norm <= 1e-11 * (1 + 1e-8)
    # Cut short, then continued from the iterate: the same solution.
    short = solve_parameter_cg(C, g, lam, rtol=1e-11, maxiter=3)
    assert short.n_iter == 3 and not short.converged
    rest = solve_parameter_cg(C, g, lam, rtol=1e-11, maxiter=2000, x0=short.x)
    assert_allclose(rest.x, exact, rtol=1e-6, atol=1e-8 * np.abs(exact).max())
    zero = solve_parameter_cg(C, np.zeros(W.size), lam)
    assert zero.converged and zero.n_iter == 0 and not zero.x.any()


def _spread_spectrum(n=300, P=400, seed=4):
    """``M`` with singular values from 1 down to 1e-4: CG loses orthogonality fast."""
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    V, _ = np.linalg.qr(rng.standard_normal((P, n)))
    return (U * np.logspace(0, -4, n)) @ V.T, rng.standard_normal(n)


class _Reordered:
    """``M``'s products summed in another order: a BLAS kernel that rounds differently."""

    def __init__(self, M, seed):
        rng = np.random.default_rng(seed)
        self.shape, self.dtype = M.shape, M.dtype
        self.cols, self.rows = rng.permutation(M.shape[1]), rng.permutation(M.shape[0])
        self.Mc, self.Mr = M[:, self.cols], M[self.rows]

    def matvec(self, v):
        return self.Mc @ v[self.cols]

    def rmatvec(self, z):
        return self.Mr.T @ z[self.rows]


@pytest.mark.parametrize("space", ["sample", "parameter"])
@pytest.mark.parametrize("budget, agree", [(None, True), (0, False)])
def test_cg_iterates_do_not_depend_on_the_products_rounding(monkeypatch, budget, agree,
                                                            space):
    """Reorthogonalized CG follows its exact-arithmetic path, so two roundings of the
    same products give the same truncated iterate; without it (one kept residual) they
    drift apart by far more than the rounding. Parameter-space CG solves the same system
    with ``C = M^T`` (``C^T C = M M^T``)."""
    import skgn._solvers

    if budget is not None:
        monkeypatch.setattr(skgn._solvers, "_REORTHOGONALIZATION_BYTES", budget)
    M, b = _spread_spectrum()
    lam = 1e-6
    # A truncated solve, as the Gauss-Newton steps make: 80 iterations, rtol not met.
    if space == "sample":
        runs = [solve_cg(op, b, lam, rtol=1e-12, maxiter=80)
                for op in (aslinearoperator(M), _Reordered(M, 1), _Reordered(M, 2))]
        iterates = [run.jtx for run in runs]
    else:
        runs = [solve_parameter_cg(op, b, lam, rtol=1e-12, maxiter=80)
                for op in (aslinearoperator(M.T), _Reordered(M.T, 1), _Reordered(M.T, 2))]
        iterates = [run.x for run in runs]
    assert all(run.n_iter == 80 and not run.converged for run in runs)
    gaps = [np.linalg.norm(it - iterates[0]) / np.linalg.norm(iterates[0])
            for it in iterates[1:]]
    if agree:
        assert max(gaps) < 1e-9
        # Still CG: the energy-norm error, which CG minimizes over a growing Krylov
        # space, falls from 40 to 80 iterations.
        A = M @ M.T + lam * np.eye(len(b))
        expected = np.linalg.solve(A, b)

        def energy_error(x):
            e = x - expected
            return np.sqrt(e @ A @ e / (expected @ A @ expected))

        if space == "sample":
            half = solve_cg(aslinearoperator(M), b, lam, rtol=1e-12, maxiter=40)
        else:
            half = solve_parameter_cg(aslinearoperator(M.T), b, lam, rtol=1e-12, maxiter=40)
        assert energy_error(runs[0].x) < energy_error(half.x) < 1.0
    else:
        assert min(gaps) > 1e-6


def test_residual_basis_keeps_residuals_within_its_byte_budget(monkeypatch):
    import skgn._solvers
    from skgn._solvers import _ResidualBasis

    monkeypatch.setattr(skgn._solvers, "_REORTHOGONALIZATION_BYTES", 16 * 50 * 3)
    basis = _ResidualBasis(50)
    assert basis.capacity == 3
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((50, 5)))
    for q in Q.T:
        basis.add(q, q, 1.0)
    assert basis.k == 3
    # The projection removes exactly the kept directions (identity preconditioner).
    r = rng.standard_normal(50)
    projected = basis.project(r)
    assert_allclose(Q[:, :3].T @ projected, 0.0, atol=1e-14)
    assert_allclose(Q[:, 3:].T @ projected, Q[:, 3:].T @ r, atol=1e-14)
