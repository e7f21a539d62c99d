"""Solvers for the sample-space Gauss-Newton system ``(J J^T + lam I) g = b``.

The solvers know nothing about networks: they receive a
:class:`scipy.sparse.linalg.LinearOperator` ``J`` of shape (n, P), a right-hand side of
length n and the shift ``lam``. An operator that can form its Gram matrix cheaply (as
the ReLU Jacobian can, by the tensor trick) exposes it as ``J.gram()``; otherwise the
direct solver forms ``J (J^T I)`` column block by column block.
"""

from dataclasses import dataclass

import numpy as np
from scipy import linalg
from scipy.sparse.linalg import LinearOperator, cg


@dataclass(frozen=True)
class SolverResult:
    """Outcome of one inner solve of ``(J J^T + lam I) g = b``.

    Attributes
    ----------
    x : ndarray of shape (n,)
        The computed solution ``g``.
    n_iter : int
        Inner iterations (0 for a direct solver).
    residual_norm : float
        Relative residual ``||b - (J J^T + lam I) x|| / ||b||`` of the returned ``x``
        (0 where ``b = 0``).
    converged : bool
        Whether the requested tolerance was met.
    solver : str
        Name of the solver that produced ``x``.
    preconditioner : str
        Name of the preconditioner used (``'none'`` if none).
    """

    x: np.ndarray
    n_iter: int
    residual_norm: float
    converged: bool
    solver: str
    preconditioner: str = "none"


def gram_matrix(J):
    """Dense ``J J^T`` of a linear operator.

    Uses ``J.gram()`` when the operator provides it, else ``J @ (J^T @ I)``.

    Parameters
    ----------
    J : LinearOperator of shape (n, P)

    Returns
    -------
    K : ndarray of shape (n, n)
    """
    if hasattr(J, "gram"):
        return J.gram()
    n = J.shape[0]
    K = J.matmat(J.rmatmat(np.eye(n)))
    # J (J^T I) is symmetric in exact arithmetic; symmetrize the rounding.
    return 0.5 * (K + K.T)


def _relative_residual(J, b, lam, x):
    b_norm = np.linalg.norm(b)
    if b_norm == 0.0:
        return 0.0
    return float(np.linalg.norm(b - J.matvec(J.rmatvec(x)) - lam * x) / b_norm)


def solve_cholesky(J, b, lam, *, rtol=None, maxiter=None):
    """Solve ``(J J^T + lam I) g = b`` exactly by a Cholesky factorization.

    Forms the Gram matrix (``J.gram()`` when available: for the ReLU Jacobian this is
    the tensor trick, ``2 n^2 (m + d)`` flops), adds ``lam`` to its diagonal and
    factors it (``n^3 / 3`` flops). This is the exact Gram-Gauss-Newton step of
    Cai et al. (2019).

    Parameters
    ----------
    J : LinearOperator of shape (n, P)
        The (weighted) Jacobian.
    b : ndarray of shape (n,)
        Right-hand side.
    lam : float
        Shift, ``lam >= 0``.
    rtol, maxiter : ignored
        Accepted so that every solver has the same signature.

    Returns
    -------
    result : SolverResult

    Raises
    ------
    numpy.linalg.LinAlgError
        If ``J J^T + lam I`` is not numerically positive definite; the Gauss-Newton
        loop answers by raising the damping.
    """
    K = gram_matrix(J)
    A = K.copy()
    A.flat[:: A.shape[0] + 1] += lam
    factor = linalg.cho_factor(A, lower=True, overwrite_a=True, check_finite=False)
    x = linalg.cho_solve(factor, b, check_finite=False)
    if not np.all(np.isfinite(x)):
        raise np.linalg.LinAlgError("Cholesky solve produced non-finite values.")
    b_norm = np.linalg.norm(b)
    resid = 0.0 if b_norm == 0 else float(np.linalg.norm(b - K @ x - lam * x) / b_norm)
    return SolverResult(x=x, n_iter=0, residual_norm=resid, converged=True, solver="cholesky")


def solve_cg(J, b, lam, *, rtol=1e-6, maxiter=None):
    """Solve ``(J J^T + lam I) g = b`` matrix-free by conjugate gradients.

    Each iteration applies ``J`` and ``J^T`` once (``4 n P`` flops for the ReLU
    Jacobian). Without a preconditioner the number of iterations grows like
    ``sqrt(cond(J J^T + lam I))``.

    Parameters
    ----------
    J : LinearOperator of shape (n, P)
        The (weighted) Jacobian.
    b : ndarray of shape (n,)
        Right-hand side.
    lam : float
        Shift, ``lam >= 0``.
    rtol : float, default=1e-6
        Relative residual tolerance.
    maxiter : int, default=None
        Maximum iterations; ``None`` means ``max(n, 50)``.

    Returns
    -------
    result : SolverResult
    """
    n = J.shape[0]
    if maxiter is None:
        maxiter = max(n, 50)
    K = LinearOperator(
        (n, n), matvec=lambda g: J.matvec(J.rmatvec(g)) + lam * g, dtype=np.float64
    )
    iterations = [0]

    def count(_):
        iterations[0] += 1

    x, _ = cg(K, b, rtol=rtol, atol=0.0, maxiter=maxiter, callback=count)
    resid = _relative_residual(J, b, lam, x)
    return SolverResult(
        x=x,
        n_iter=iterations[0],
        residual_norm=resid,
        converged=bool(resid <= rtol * (1 + 1e-8)),
        solver="cg",
    )


SOLVERS = {"cholesky": solve_cholesky, "cg": solve_cg}
