"""Solvers for the sample-space Gauss-Newton system ``(J J^T + lam I) g = b``.

The solvers know nothing about networks: they receive a
:class:`scipy.sparse.linalg.LinearOperator` ``J`` of shape (n, P), a right-hand side of
length n, the shift ``lam`` and a fitted preconditioner. Every solver has the signature
``solve(J, b, lam, *, rtol, maxiter, preconditioner, x0) -> SolverResult`` and is
registered in :data:`SOLVERS`: ``J`` is the (weighted) Jacobian, ``b`` the right-hand side
and ``lam >= 0`` the shift; ``maxiter=None`` means ``max(n, 50)`` iterations; ``x0`` is a
starting guess for ``g``, or the :class:`SolverResult` of an earlier solve of the same
system (iterative solvers continue from it, direct ones ignore it). The direct solver
``'cholesky'`` forms the Gram through
:meth:`~skgn._operators.JacobianOperator.gram` (the tensor trick for the ReLU Jacobian,
``J (J^T I)`` for a generic operator); ``'normal'`` solves the same system through the
``P x P`` normal matrix instead. :func:`solve_parameter_cg`, with the same signature, is
not registered: it solves the parameter-space system ``(C^T C + lam I) x = g`` of the
sub-sampled Gauss-Newton step, which the estimator chooses through ``curvature_rows``.
"""

from dataclasses import dataclass

import numpy as np
from scipy import linalg
from scipy.sparse.linalg import LinearOperator, lsqr

from ._operators import as_jacobian
from ._preconditioners import NO_PRECONDITIONER


@dataclass(frozen=True)
class SolverResult:
    """Outcome of one inner solve of ``(J J^T + lam I) g = b``.

    Parameters
    ----------
    x : ndarray of shape (n,)
        The computed solution ``g``.
    n_iter : int
        Inner iterations (0 for a direct solver).
    residual_norm : float
        Relative residual ``||b - J p - lam x|| / ||b||`` with ``p = J^T x`` (``jtx``
        where the solver returns it), that is ``||b - (J J^T + lam I) x|| / ||b||`` in
        exact arithmetic; 0 where ``b = 0``.
    converged : bool
        Whether the requested tolerance was met.
    solver : str
        Name of the solver that produced ``x``.
    preconditioner : str
        Name of the preconditioner used (``'none'`` if none).
    jtx : ndarray of shape (P,) or None
        ``J^T x`` when the solver accumulates it (CG and LSQR). It is the Gauss-Newton
        step itself and stays accurate where ``lam`` is tiny and ``x`` is not; ``None``
        for the direct solver.
    residual : ndarray or None
        The true residual vector whose norm ``residual_norm`` reports, where the solver
        keeps it (the iterative ones): a solve continued from this result (``x0``) starts
        from it instead of recomputing it.
    """

    x: np.ndarray
    n_iter: int
    residual_norm: float
    converged: bool
    solver: str
    preconditioner: str = "none"
    jtx: np.ndarray = None
    residual: np.ndarray = None


# Residual replacements (restarts from the true residual) allowed per CG solve.
_MAX_REPLACEMENTS = 4
# Bytes of residuals (and their preconditioned copies) CG keeps to reorthogonalize:
# 2 * 8 * N bytes per iteration for residuals of length N (n rows in sample space, P
# parameters in parameter space), so 100 iterations at N = 80,000; beyond it the later
# residuals are projected off the first ones only.
_REORTHOGONALIZATION_BYTES = 2**27


class _ResidualBasis:
    """CG's residuals ``r_j`` and ``z_j = M^{-1} r_j``, to keep new residuals
    ``M^{-1}``-orthogonal to them.

    In exact arithmetic preconditioned CG's residuals satisfy ``r_i^T z_j = 0`` for
    ``i != j``. In floating point they lose that orthogonality within a few tens of
    iterations on an ill-conditioned system, and the iterates then depend on how every
    product rounded: the same float64 fit under two OpenBLAS kernels (Haswell and
    Sandybridge) gave test predictions 9e-2 apart on friedman1 and 3e-2 on computers.
    Projecting each new residual off the kept ones (classical Gram-Schmidt, twice) keeps
    the iteration on its exact-arithmetic path: 4e-11 and 9e-11 apart
    (``benchmarks/float32.md``). It costs ``8 k N`` flops at iteration ``k`` for
    residuals of length ``N`` (``n`` in sample space, ``P`` in parameter space), against
    ``4 n P`` (``4 s P`` on ``s`` sampled rows) for the iteration's two products.

    Parameters
    ----------
    n : int
        Length of the residuals.
    """

    def __init__(self, n):
        self.capacity = max(1, _REORTHOGONALIZATION_BYTES // (16 * n))
        self.R = np.empty((0, n))
        self.Z = np.empty((0, n))
        self.rz = np.empty(0)
        self.k = 0

    def add(self, r, z, rz):
        """Keep ``r``, ``z = M^{-1} r`` and ``r^T z`` (until the byte budget is spent)."""
        if self.k == self.capacity:
            return
        if self.k == len(self.rz):
            # Grow by doubling: the iterations a solve takes are not known in advance.
            size = min(self.capacity, max(16, 2 * self.k))
            for name in ("R", "Z"):
                grown = np.empty((size, self.R.shape[1]))
                grown[:self.k] = getattr(self, name)[:self.k]
                setattr(self, name, grown)
            self.rz = np.resize(self.rz, size)
        self.R[self.k], self.Z[self.k], self.rz[self.k] = r, z, rz
        self.k += 1

    def project(self, r):
        """``r - sum_j (z_j^T r / r_j^T z_j) r_j``, twice (CGS2)."""
        R, Z, rz = self.R[:self.k], self.Z[:self.k], self.rz[:self.k]
        for _ in range(2):
            r = r - ((Z @ r) / rz) @ R
        return r


def _conjugate_gradients(product, true_residual, b, x, side, r, precondition, rtol,
                         maxiter):
    """Preconditioned CG on ``A x = b`` from ``x`` (residual ``r``), with reorthogonalized
    residuals and residual replacement; it knows nothing of the system but ``product``.

    Parameters
    ----------
    product : callable
        ``product(d) -> (A d, s_d)``; ``side`` accumulates ``s_d`` with the steps ``x``
        takes (``s_d`` is ``None`` when ``side`` is).
    true_residual : callable
        ``true_residual(x, side) -> b - A x``, recomputed at the end of each pass.
    b : ndarray
        Right-hand side (nonzero).
    x, side : ndarray
        Starting iterate and its side vector (``None`` for no side vector); updated in
        place.
    r : ndarray
        ``b - A x``.
    precondition : callable
        ``M^{-1}``.
    rtol : float
        Relative tolerance on the residual's norm.
    maxiter : int
        Maximum iterations, over every pass.

    Returns
    -------
    n_iter : int
        Iterations used.
    r : ndarray
        The true residual ``b - A x`` at the returned ``x``.
    """
    b_norm = np.linalg.norm(b)
    n_iter = 0
    target, breakdown = rtol * b_norm, False
    # The recurrence r <- r - step A d drifts from the true residual; when it meets the
    # tolerance the true residual replaces it, and CG restarts from there if needed.
    for _ in range(_MAX_REPLACEMENTS):
        z = precondition(r)
        d, rz = z, r @ z
        # (A restart begins a new Krylov space: the old residuals do not apply.)
        basis = _ResidualBasis(len(r))
        basis.add(r, z, rz)
        while n_iter < maxiter and np.linalg.norm(r) > target:
            ad, side_d = product(d)
            curvature = d @ ad
            if not curvature > 0.0:
                # A is not numerically positive definite along d.
                breakdown = True
                break
            step = rz / curvature
            x += step * d
            if side is not None:
                side += step * side_d
            # a new array: the preconditioner may return r itself as z = d
            r = basis.project(r - step * ad)
            n_iter += 1
            z = precondition(r)
            rz, rz_old = r @ z, rz
            basis.add(r, z, rz)
            d = z + (rz / rz_old) * d
        r = true_residual(x, side)
        if np.linalg.norm(r) / b_norm <= rtol or n_iter >= maxiter or breakdown:
            break
    return n_iter, r


def _shifted_cholesky_solve(A, lam, rhs):
    """``(A + lam I)^{-1} rhs`` by a Cholesky factor of a copy of the symmetric ``A``.

    Raises ``numpy.linalg.LinAlgError`` if ``A + lam I`` is not numerically positive
    definite or the solution is not finite.
    """
    shifted = A.copy()
    shifted.flat[:: shifted.shape[0] + 1] += lam
    factor = linalg.cho_factor(shifted, lower=True, overwrite_a=True, check_finite=False)
    x = linalg.cho_solve(factor, rhs, check_finite=False)
    if not np.all(np.isfinite(x)):
        raise np.linalg.LinAlgError("Cholesky solve produced non-finite values.")
    return x


def solve_cholesky(J, b, lam, *, rtol=None, maxiter=None, preconditioner=NO_PRECONDITIONER,
                   x0=None):
    """Solve ``(J J^T + lam I) g = b`` exactly by a Cholesky factorization.

    Forms the Gram matrix (``J.gram()`` when available: for the ReLU Jacobian this is
    the tensor trick, ``2 n^2 (m + d)`` flops), adds ``lam`` to its diagonal and
    factors it (``n^3 / 3`` flops). This is the exact Gram-Gauss-Newton step of
    Cai et al. (2019).

    Parameters
    ----------
    J, b, lam
        The system, as in every solver (module docstring).
    rtol, maxiter, preconditioner, x0 : ignored
        Accepted so that every solver has the same signature.

    Returns
    -------
    result : SolverResult
        The solution and its relative residual.

    Raises
    ------
    numpy.linalg.LinAlgError
        If ``J J^T + lam I`` is not numerically positive definite; the Gauss-Newton
        loop answers by raising the damping.
    """
    K = as_jacobian(J).gram()
    x = _shifted_cholesky_solve(K, lam, b)
    b_norm = np.linalg.norm(b)
    resid = 0.0 if b_norm == 0 else float(np.linalg.norm(b - K @ x - lam * x) / b_norm)
    return SolverResult(x=x, n_iter=0, residual_norm=resid, converged=True, solver="cholesky")


def solve_normal(J, b, lam, *, rtol=None, maxiter=None, preconditioner=NO_PRECONDITIONER,
                 x0=None):
    """Solve ``(J J^T + lam I) g = b`` exactly in parameter space (normal equations).

    With ``x = (J^T J + lam I)^{-1} J^T b`` (a Cholesky factor of the ``P x P`` normal
    matrix, ``2 n P^2 + P^3 / 3`` flops), the push-through identity gives
    ``g = (b - J x) / lam`` and ``J^T g = x``: the Gauss-Newton step itself, returned as
    ``jtx``. This is the classical Gauss-Newton step, cheaper than the sample-space one
    when the network has fewer parameters than rows (``P < n``); it needs ``lam > 0``.

    Parameters
    ----------
    J, b, lam
        The system, as in every solver (module docstring).
    rtol, maxiter, preconditioner, x0 : ignored
        Accepted so that every solver has the same signature.

    Returns
    -------
    result : SolverResult
        ``g``, ``J^T g`` and the relative residual of the normal equations
        ``||J^T b - (J^T J + lam I) x|| / ||J^T b||``.

    Raises
    ------
    numpy.linalg.LinAlgError
        If ``lam <= 0`` or ``J^T J + lam I`` is not numerically positive definite.
    """
    if not lam > 0:
        raise np.linalg.LinAlgError("The normal-equations solver needs lam > 0.")
    J = as_jacobian(J)
    G = J.normal_matrix()
    jtb = J.rmatvec(b)
    x = _shifted_cholesky_solve(G, lam, jtb)
    g = (b - J.matvec(x)) / lam
    # The residual of the system actually solved, (J^T J + lam I) x = J^T b.
    scale = np.linalg.norm(jtb)
    resid = 0.0 if scale == 0 else float(np.linalg.norm(jtb - G @ x - lam * x) / scale)
    return SolverResult(x=g, n_iter=0, residual_norm=resid, converged=True, solver="normal",
                        jtx=x)


def solve_cg(J, b, lam, *, rtol=1e-6, maxiter=None, preconditioner=NO_PRECONDITIONER,
             x0=None):
    """Solve ``(J J^T + lam I) g = b`` matrix-free by (preconditioned) conjugate gradients.

    Each iteration applies ``J`` and ``J^T`` once (``4 n P`` flops for the ReLU
    Jacobian). Without a preconditioner the number of iterations grows like
    ``sqrt(cond(J J^T + lam I))``; with a fitted preconditioner ``R`` it follows
    ``cond(R^{-T} (J J^T + lam I) R^{-1})``.

    Alongside ``g`` the iteration accumulates ``p = J^T g`` from the products
    ``J^T d`` it computes anyway (Craig's method, or CGNE, with a shift). The residual
    is then checked as ``b - J p - lam g``, whose rounding error is of order
    ``eps ||J|| ||p||``; recomputing it as ``b - J (J^T g) - lam g`` would cost
    ``eps ||J||^2 ||g||``, which on a Gram with condition number 1e8 stalls the true
    residual near 1e-10. SciPy's :func:`scipy.sparse.linalg.cg` neither exposes
    ``J^T d`` nor reorthogonalizes, hence skgn's own loop (``_conjugate_gradients``,
    shared with :func:`solve_parameter_cg`): each new residual is reorthogonalized
    against the earlier ones (``_ResidualBasis``), so that the iterates, and the fit, do
    not depend on the rounding of the BLAS in use.

    Parameters
    ----------
    J, b, lam
        The system, as in every solver (module docstring).
    rtol : float, default=1e-6
        Relative tolerance on the true residual ``||b - J p - lam g|| / ||b||``.
    maxiter : int, default=None
        Maximum iterations.
    preconditioner : fitted Preconditioner, default=NO_PRECONDITIONER
        CG applies its ``inverse``, ``M^{-1} = R^{-1} R^{-T}``.
    x0 : ndarray of shape (n,) or SolverResult, default=None
        Starting guess for ``g`` (zero if ``None``); an array costs one more ``J^T``
        and ``J`` product. A :class:`SolverResult` of CG on this same system continues
        from its ``x``, ``jtx`` and ``residual`` at no product, and the residual keeps
        the accuracy of ``b - J p - lam g`` (recomputed from ``g`` it would round at
        ``eps ||J||^2 ||g||``).

    Returns
    -------
    result : SolverResult
        The solution ``g``, ``jtx = J^T g``, the iterations used and the true
        residual, as a vector and relative to ``||b||``.
    """
    n, P = J.shape
    if maxiter is None:
        maxiter = max(n, 50)

    def product(d):
        jd = J.rmatvec(d)
        # K d = J (J^T d) + lam d, and J^T d for p = J^T g
        return J.matvec(jd) + lam * d, jd

    def true_residual(g, p):
        # of [J, sqrt(lam) I] [p; sqrt(lam) g] = b
        return b - J.matvec(p) - lam * g

    g, p, r = _starting_point(x0, b, true_residual, side_of=J.rmatvec, side_size=P)
    b_norm = np.linalg.norm(b)
    if b_norm == 0.0:
        return _iterative_result("cg", g, p, 0, r, 0.0, rtol, preconditioner)
    n_iter, r = _conjugate_gradients(product, true_residual, b, g, p, r,
                                     preconditioner.inverse, rtol, maxiter)
    return _iterative_result("cg", g, p, n_iter, r, b_norm, rtol, preconditioner)


def solve_lsqr(J, b, lam, *, rtol=1e-6, maxiter=None, preconditioner=NO_PRECONDITIONER,
               x0=None):
    """Minimum-norm solution of ``[J, sqrt(lam) I] z = b`` by row-preconditioned LSQR.

    The minimum-norm ``z = [p; q]`` is ``p = J^T g`` and ``q = sqrt(lam) g`` with
    ``g = (J J^T + lam I)^{-1} b``, so LSQR returns the Gauss-Newton step directly.
    With a preconditioner ``R`` it runs on ``R^{-T} [J, sqrt(lam) I] z = R^{-T} b``, which
    has the same solutions and singular values those of ``[J, sqrt(lam) I]^T R^{-1}``.
    (Passing ``damp=sqrt(lam)`` to LSQR on ``R^{-T} J`` would solve a different,
    ``R^T R``-weighted problem.)

    Parameters
    ----------
    J, b, lam
        The system, as in every solver (module docstring).
    rtol : float, default=1e-6
        Relative residual tolerance of ``[J, sqrt(lam) I] z = b`` (the true, not the
        preconditioned, residual).
    maxiter : int, default=None
        Maximum iterations.
    preconditioner : fitted Preconditioner, default=NO_PRECONDITIONER
        Provides ``apply`` (``R^{-1}``) and ``apply_t`` (``R^{-T}``).
    x0 : ndarray of shape (n,) or SolverResult, default=None
        Starting guess for ``g``: LSQR starts from ``z = [J^T g; sqrt(lam) g]``, which
        lies in the row space of the system, so the result stays minimum-norm (a
        :class:`SolverResult` of this system gives ``J^T g`` as its ``jtx``). Ignored
        when ``lam = 0``.

    Returns
    -------
    result : SolverResult
        ``x`` is ``q / sqrt(lam)`` (``None`` when ``lam == 0``) and ``jtx`` is ``p``.
    """
    n, P = J.shape
    if maxiter is None:
        maxiter = max(n, 50)
    root = np.sqrt(lam)
    left, right = preconditioner.apply_t, preconditioner.apply

    def matvec(z):
        return left(J.matvec(z[:P]) + root * z[P:])

    def rmatvec(y):
        w = right(y)
        return np.concatenate([J.rmatvec(w), root * w])

    A = LinearOperator((n, P + n), matvec=matvec, rmatvec=rmatvec, dtype=np.float64)
    b_norm = np.linalg.norm(b)
    z, n_iter, btol, r = np.zeros(P + n), 0, rtol, b
    if x0 is not None and lam > 0:
        g0 = np.asarray(_starting_guess(x0), dtype=np.float64)
        jtg0 = x0.jtx if getattr(x0, "jtx", None) is not None else J.rmatvec(g0)
        # z0 = [J^T g0; sqrt(lam) g0] = A^T (R g0): in range(A^T).
        z = np.concatenate([jtg0, root * g0])
    # LSQR stops on the preconditioned residual, which can understate the true one by
    # up to cond(R); restart from the iterate with a tighter btol until the true residual
    # meets rtol. Iterates stay in range(A^T), so the result is still minimum-norm.
    for _ in range(4):
        out = lsqr(A, left(b), atol=0.0, btol=btol, conlim=1e16,
                   iter_lim=maxiter - n_iter, x0=z)
        z, n_iter = out[0], n_iter + int(out[2])
        p, q = z[:P], z[P:]
        if b_norm == 0:
            break
        r = b - J.matvec(p) - root * q
        resid = float(np.linalg.norm(r) / b_norm)
        if resid <= rtol or n_iter >= maxiter:
            break
        btol *= 0.5 * rtol / resid
    return _iterative_result("lsqr", q / root if lam > 0 else None, p, n_iter, r, b_norm,
                             rtol, preconditioner)


def solve_parameter_cg(C, g, lam, *, rtol=1e-6, maxiter=None,
                       preconditioner=NO_PRECONDITIONER, x0=None):
    """Solve the parameter-space system ``(C^T C + lam I) x = g`` by preconditioned CG.

    The sub-sampled Gauss-Newton step (``C`` the Jacobian of sampled rows, ``g`` the
    gradient of every row) cannot go through the sample-space identity without
    dividing the inner solve's error by ``lam``; in parameter space every CG iterate,
    from ``x = 0``, lowers the quadratic model, so a truncated solve is still a descent
    step. Each iteration applies ``C`` and ``C^T`` once, as sample-space CG does (in one
    pass over the rows with the operator's ``normal_matvec``). The loop is
    :func:`solve_cg`'s, whose residuals are reorthogonalized: with
    :func:`scipy.sparse.linalg.cg`, which does not reorthogonalize, the same float64 fit
    on teacher-large under two OpenBLAS kernels (Haswell and Sandybridge) ended 2.5e-2
    apart; with this loop, 4e-14.

    Parameters
    ----------
    C : LinearOperator of shape (s, P)
        The (rescaled) Jacobian of the sampled rows.
    g : ndarray of shape (P,)
        Right-hand side.
    lam : float
        Shift, positive.
    rtol : float, default=1e-6
        Relative tolerance on ``||g - (C^T C + lam I) x|| / ||g||``.
    maxiter : int, default=None
        Maximum iterations; ``None`` means ``max(P, 50)``.
    preconditioner : fitted Preconditioner, default=NO_PRECONDITIONER
        Applied as ``inverse`` on parameter vectors
        (:class:`~skgn._preconditioners.ParameterNystromPreconditioner`).
    x0 : ndarray of shape (P,), default=None
        Starting guess (zero if ``None``).

    Returns
    -------
    result : SolverResult
        ``x`` in parameter space (``jtx`` is ``None``), the iterations and the true
        relative residual.
    """
    P = C.shape[1]
    if maxiter is None:
        maxiter = max(P, 50)
    # C^T C v in one pass over C when it has the fused product.
    normal = getattr(C, "normal_matvec", None) or (lambda v: C.rmatvec(C.matvec(v)))

    def product(d):
        return normal(d) + lam * d, None

    def true_residual(x, _):
        return g - normal(x) - lam * x

    g_norm = np.linalg.norm(g)
    if g_norm == 0:
        return _iterative_result("parameter_cg", np.zeros(P), None, 0, np.zeros(P), 0.0,
                                 rtol, preconditioner)
    x, _, r = _starting_point(x0, g, true_residual)
    n_iter, r = _conjugate_gradients(product, true_residual, g, x, None, r,
                                     preconditioner.inverse, rtol, maxiter)
    return _iterative_result("parameter_cg", x, None, n_iter, r, g_norm, rtol,
                             preconditioner)


def _starting_point(x0, b, true_residual, side_of=None, side_size=0):
    """CG's starting iterate, its side vector and its true residual, as new arrays.

    From zero without ``x0``. From an earlier :class:`SolverResult` of the same system
    that kept its residual (and ``jtx`` when there is a side vector), those, at no
    product. Otherwise from ``x0``'s iterate, with ``side_of(x)`` and
    ``true_residual(x, side)`` computed. ``side_of=None`` means no side vector
    (``None``); ``side_size`` is its length from zero.
    """
    if x0 is None:
        side = None if side_of is None else np.zeros(side_size)
        return np.zeros(len(b)), side, b.astype(np.float64, copy=True)
    if (isinstance(x0, SolverResult) and x0.x is not None and x0.residual is not None
            and (side_of is None or x0.jtx is not None)):
        side = None if side_of is None else np.array(x0.jtx, dtype=np.float64)
        return (np.array(x0.x, dtype=np.float64), side,
                np.array(x0.residual, dtype=np.float64))
    x = np.array(_starting_guess(x0), dtype=np.float64, copy=True)
    side = None if side_of is None else side_of(x)
    return x, side, true_residual(x, side)


def _starting_guess(x0):
    """The iterate of ``x0``: the array itself, or a :class:`SolverResult`'s ``x``."""
    return x0.x if isinstance(x0, SolverResult) else x0


def _iterative_result(solver, x, jtx, n_iter, r, b_norm, rtol, preconditioner):
    """The result of an iterative solve with true residual ``r`` (relative to
    ``b_norm``, 0 for ``b = 0``); converged means it met ``rtol``."""
    resid = float(np.linalg.norm(r) / b_norm) if b_norm > 0 else 0.0
    return SolverResult(x=x, n_iter=n_iter, residual_norm=resid,
                        converged=bool(resid <= rtol * (1 + 1e-8)), solver=solver,
                        preconditioner=preconditioner.name, jtx=jtx, residual=r)


SOLVERS = {"cholesky": solve_cholesky, "normal": solve_normal, "cg": solve_cg,
           "lsqr": solve_lsqr}


def solver_name(solve):
    """The name under which :data:`SOLVERS` registers ``solve`` (else its ``__name__``).

    Parameters
    ----------
    solve : callable
        A solver.

    Returns
    -------
    name : str
        Its registered name.
    """
    registered = {**SOLVERS, "parameter_cg": solve_parameter_cg}
    return next((name for name, f in registered.items() if f is solve), solve.__name__)
