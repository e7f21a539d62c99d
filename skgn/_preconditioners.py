"""Preconditioners for ``K = J J^T + lam I``, each with a fit phase and ``apply``/``apply_t``.

A preconditioner represents a factor ``R`` with ``R^T R ~ K``: ``apply(x) = R^{-1} x`` and
``apply_t(x) = R^{-T} x``. Preconditioned CG uses ``M^{-1} = R^{-1} R^{-T}``; LSQR works on
the row-preconditioned augmented operator ``R^{-T} [J, sqrt(lam) I]``. They know only the
operator ``J`` (and its optional ``kron_factors``, ``gram_columns`` and
``squared_row_norms`` hooks), never the network.
"""

from math import ceil

import numpy as np
from scipy import linalg
from sklearn.utils import check_random_state

from ._sketching import SKETCHES


def _gram_columns(J, columns):
    if hasattr(J, "gram_columns"):
        return J.gram_columns(columns)
    E = np.zeros((J.shape[0], len(columns)))
    E[columns, np.arange(len(columns))] = 1.0
    return J.matmat(J.rmatmat(E))


class IdentityPreconditioner:
    """No preconditioning: ``R = I``."""

    name = "none"

    def fit(self, J, lam):
        """Nothing to fit.

        Parameters
        ----------
        J : LinearOperator of shape (n, P)
            The (weighted) Jacobian.
        lam : float
            Shift of ``K = J J^T + lam I``.

        Returns
        -------
        self : IdentityPreconditioner
            The fitted preconditioner.
        """
        return self

    def apply(self, x):
        """Return ``x``.

        Parameters
        ----------
        x : ndarray of shape (n,) or (n, p)
            Vector or block of vectors in sample space.

        Returns
        -------
        y : ndarray, same shape as ``x``
            The preconditioned vector(s).
        """
        return x

    apply_t = apply


class JacobiPreconditioner:
    """Diagonal scaling ``R = diag(sqrt(diag(J J^T) + lam))``.

    Attributes
    ----------
    scale_ : ndarray of shape (n,)
        The diagonal of ``R``.
    """

    name = "jacobi"

    def fit(self, J, lam):
        """Compute ``diag(J J^T) + lam``.

        Parameters
        ----------
        J : LinearOperator of shape (n, P)
            The (weighted) Jacobian.
        lam : float
            Shift of ``K = J J^T + lam I``.

        Returns
        -------
        self : JacobiPreconditioner
            The fitted preconditioner.
        """
        if hasattr(J, "squared_row_norms"):
            diag = J.squared_row_norms()
        else:
            diag = np.array([_gram_columns(J, [q])[q, 0] for q in range(J.shape[0])])
        self.scale_ = np.sqrt(np.maximum(diag + lam, np.finfo(np.float64).tiny))
        return self

    def apply(self, x):
        """``R^{-1} x``.

        Parameters
        ----------
        x : ndarray of shape (n,) or (n, p)
            Vector or block of vectors in sample space.

        Returns
        -------
        y : ndarray, same shape as ``x``
            The preconditioned vector(s).
        """
        return x / (self.scale_ if x.ndim == 1 else self.scale_[:, None])

    apply_t = apply


class SketchPreconditioner:
    """The sketch-and-precondition factor of van den Brand, Peng, Song and Weinstein.

    Draws a sketch ``S`` with ``s = ceil(oversampling * n)`` rows and factors the sketched
    augmented matrix ``Y = [S J^T ; sqrt(lam) I]`` (``(s + n) x n``): ``R`` is its QR
    factor, so ``R^T R = J S^T S J^T + lam I ~ K`` and the singular values of
    ``[J, sqrt(lam) I]^T R^{-1}`` lie near ``[1 - oversampling^-1/2, 1 + oversampling^-1/2]``
    whatever the condition number of ``K``.

    Parameters
    ----------
    sketch : str or sketch spec, default='tensor_srht'
        One of 'gaussian', 'srht', 'countsketch', 'tensorsketch', 'tensor_srht', or a
        spec object with ``draw((m, d))`` (its ``n_components`` is then used as given).
    oversampling : float, default=3.0
        ``gamma = s / n``.
    method : {'auto', 'qr', 'cholesky'}, default='auto'
        ``'qr'`` factors ``Y`` (robust). ``'cholesky'`` factors ``Y^T Y`` (about 10x
        cheaper, but loses accuracy once ``cond(Y)^2`` nears ``1/eps``). ``'auto'`` uses
        Cholesky only where ``lam >= 1e3 eps ||S J^T||_F^2``, which bounds
        ``cond(Y^T Y) <= 1 / (1e3 eps)``, and QR otherwise (or if Cholesky fails).
    random_state : int, RandomState instance or None, default=None
        Seeds the sketch.
    n_jobs : int, default=None
        Parallel jobs over sketch blocks.

    Attributes
    ----------
    R_ : ndarray of shape (n, n)
        Upper-triangular factor.
    method_ : str
        Factorization used, ``'qr'`` or ``'cholesky'``.
    n_components_ : int
        Sketch size used.

    Notes
    -----
    When ``ceil(oversampling * n)`` is at least ``P`` (a network too narrow to be
    over-parametrized), a sketch would not compress and ``J^T`` itself is factored,
    giving the exact ``R``.
    """

    name = "sketch"

    def __init__(self, sketch="tensor_srht", *, oversampling=3.0, method="auto",
                 random_state=None, n_jobs=None):
        self.sketch = sketch
        self.oversampling = oversampling
        self.method = method
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _spec(self, n):
        if not isinstance(self.sketch, str):
            return self.sketch
        s = int(ceil(self.oversampling * n))
        return SKETCHES[self.sketch](s, random_state=self.random_state, n_jobs=self.n_jobs)

    def fit(self, J, lam):
        """Sketch ``J^T`` and factor the sketched augmented matrix.

        Parameters
        ----------
        J : LinearOperator of shape (n, P)
            Provides ``kron_factors()`` for the structured fast path; otherwise
            ``J^T`` is formed (small problems only).
        lam : float
            Shift of ``K = J J^T + lam I``.

        Returns
        -------
        self : SketchPreconditioner
            The fitted preconditioner.
        """
        n, P = J.shape
        spec = self._spec(n)
        if isinstance(self.sketch, str) and spec.n_components >= P:
            # A sketch with at least P rows would not compress: use J^T itself (exact R).
            Y = J.rmatmat(np.eye(n))
        elif hasattr(J, "kron_factors"):
            U, V = J.kron_factors()
            Y = spec.draw((U.shape[1], V.shape[1])).sketch_kron(U, V)
        else:
            Y = spec.draw((P, 1)).matmat(J.rmatmat(np.eye(n)))
        self.n_components_ = Y.shape[0]
        eps = np.finfo(np.float64).eps
        method = self.method
        if method == "auto":
            method = "cholesky" if lam >= 1e3 * eps * np.sum(Y * Y) else "qr"
        if method == "cholesky":
            G = Y.T @ Y
            G.flat[:: n + 1] += lam
            try:
                self.R_ = linalg.cholesky(G, lower=False, check_finite=False)
                self.method_ = "cholesky"
                return self
            except linalg.LinAlgError:
                if self.method == "cholesky":
                    raise
        A = np.vstack([Y, np.sqrt(lam) * np.eye(n)]) if lam > 0 else Y
        self.R_ = linalg.qr(A, mode="r", check_finite=False)[0][:n]
        self.method_ = "qr"
        return self

    def apply(self, x):
        """``R^{-1} x``.

        Parameters
        ----------
        x : ndarray of shape (n,) or (n, p)
            Vector or block of vectors in sample space.

        Returns
        -------
        y : ndarray, same shape as ``x``
            The preconditioned vector(s).
        """
        return linalg.solve_triangular(self.R_, x, check_finite=False)

    def apply_t(self, x):
        """``R^{-T} x``.

        Parameters
        ----------
        x : ndarray of shape (n,) or (n, p)
            Vector or block of vectors in sample space.

        Returns
        -------
        y : ndarray, same shape as ``x``
            The preconditioned vector(s).
        """
        return linalg.solve_triangular(self.R_, x, trans="T", check_finite=False)


class NystromPreconditioner:
    """Nystrom preconditioner from ``k`` uniformly sampled landmark columns of ``K``.

    With ``C = K[:, L]`` (tensor trick, ``n k (m + d)`` flops) and ``W = K[L, L]``,
    ``K_hat = C W^+ C^T = B B^T`` with ``B = C W^{-1/2}`` (n x k). With the thin SVD
    ``B = Q diag(sigma) ...``, the preconditioner ``M = B B^T + lam I`` has the symmetric
    square root ``R = Q (sqrt(sigma^2 + lam) - sqrt(lam)) Q^T + sqrt(lam) I``; applying
    ``R^{-1}`` costs ``O(n k)``. Memory is ``n k``; no n x n array is formed.

    Parameters
    ----------
    n_components : int, default=500
        Number of landmarks ``k`` (capped at ``n``).
    random_state : int, RandomState instance or None, default=None
        Seeds the landmark sample.

    Attributes
    ----------
    landmarks_ : ndarray of shape (k,)
        Sampled rows.
    basis_ : ndarray of shape (n, r)
        ``Q``, orthonormal.
    sigma_ : ndarray of shape (r,)
        Singular values of ``B``.
    """

    name = "nystrom"

    def __init__(self, n_components=500, *, random_state=None):
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, J, lam):
        """Sample landmarks and factor the Nystrom approximation.

        Parameters
        ----------
        J : LinearOperator of shape (n, P)
            The (weighted) Jacobian; ``gram_columns`` is used when it has one.
        lam : float
            Shift of ``K = J J^T + lam I``; must be positive.

        Returns
        -------
        self : NystromPreconditioner
            The fitted preconditioner.
        """
        if lam <= 0:
            raise ValueError("The Nystrom preconditioner needs lam > 0.")
        n = J.shape[0]
        k = min(int(self.n_components), n)
        rng = check_random_state(self.random_state)
        self.landmarks_ = np.sort(rng.choice(n, size=k, replace=False))
        C = _gram_columns(J, self.landmarks_)
        evals, evecs = linalg.eigh(C[self.landmarks_])
        keep = evals > evals.max() * k * np.finfo(np.float64).eps
        # B = C W^{-1/2} on the numerically nonzero eigenspace of W.
        B = C @ (evecs[:, keep] / np.sqrt(evals[keep]))
        Q, sigma, _ = linalg.svd(B, full_matrices=False, check_finite=False)
        self.basis_, self.sigma_, self.lam_ = Q, sigma, lam
        # R^{-1} = Q diag(coef) Q^T + lam^{-1/2} I
        self._coef = 1.0 / np.sqrt(sigma**2 + lam) - 1.0 / np.sqrt(lam)
        return self

    def apply(self, x):
        """``R^{-1} x`` (``R`` is symmetric).

        Parameters
        ----------
        x : ndarray of shape (n,) or (n, p)
            Vector or block of vectors in sample space.

        Returns
        -------
        y : ndarray, same shape as ``x``
            The preconditioned vector(s).
        """
        coef = self._coef if x.ndim == 1 else self._coef[:, None]
        return self.basis_ @ (coef * (self.basis_.T @ x)) + x / np.sqrt(self.lam_)

    apply_t = apply


PRECONDITIONERS = {
    "none": IdentityPreconditioner,
    "jacobi": JacobiPreconditioner,
    "sketch": SketchPreconditioner,
    "nystrom": NystromPreconditioner,
}
