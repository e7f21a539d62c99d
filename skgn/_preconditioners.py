"""Preconditioners for ``K = J J^T + lam I``, each with a fit phase and ``apply``/``apply_t``.

A preconditioner represents a factor ``R`` with ``R^T R ~ K``: ``apply(x) = R^{-1} x`` and
``apply_t(x) = R^{-T} x``. Preconditioned CG uses ``inverse(x) = M^{-1} x = R^{-1} R^{-T} x``
(in one pass where the factor allows it); LSQR works on
the row-preconditioned augmented operator ``R^{-T} [J, sqrt(lam) I]``. They see only a
:class:`~skgn._operators.JacobianOperator` and its declared capabilities, never the
network. Every constructor takes keyword arguments only, so :func:`make_preconditioner`
builds any of them from one set of options.
"""

import inspect
from math import ceil

import numpy as np
from scipy import linalg
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state, gen_batches

from ._operators import SampledRowsJacobian, as_jacobian
from ._parallel import single_blas_thread
from ._sketching import SKETCHES

# Rows per block when the Nystrom factor is formed in place.
_ROWS_PER_BLOCK = 8192
# Columns per product of the parameter-space Nystrom fit.
_PRODUCT_COLUMNS = 32


def _whole_samples(rng, n_samples, n_outputs, k):
    """``ceil(k / n_outputs)`` landmark samples, sorted, and their output-major rows.

    Every output's row of a sample is a landmark (a sample's ``n_outputs`` rows cost as
    much as one).
    """
    samples = np.sort(rng.choice(n_samples, size=min(n_samples, -(-k // n_outputs)),
                                 replace=False))
    return samples, (np.arange(n_outputs)[:, None] * n_samples + samples).ravel()


def _inverse_root(K_landmarks):
    """``E diag(e^{-1/2})`` on the numerically nonzero eigenspace of ``K_LL = E diag(e) E^T``.

    Returns the k x r factor and the mask of the kept eigenvalues. The eigensolver runs on
    one BLAS thread (:func:`~skgn._parallel.single_blas_thread` says why).
    """
    with single_blas_thread():
        evals, evecs = linalg.eigh(K_landmarks)
    keep = evals > evals.max() * len(evals) * np.finfo(np.float64).eps
    return evecs[:, keep] / np.sqrt(evals[keep]), keep


class Preconditioner:
    """Base class: ``fit(J, lam)``, then ``apply`` (``R^{-1}``) and ``apply_t`` (``R^{-T}``).

    Subclasses implement ``_fit(J, lam)``, ``_apply(x)`` and, unless ``R`` is symmetric,
    ``_apply_t(x)``, and may implement ``_inverse(x)`` when ``M^{-1} = R^{-1} R^{-T}``
    has a cheaper form than the two factors; the base class converts ``J`` with
    :func:`~skgn._operators.as_jacobian` and refuses to apply an unfitted factor.

    Attributes
    ----------
    name : str
        The name under which :data:`PRECONDITIONERS` registers the class.
    n_rows_ : int
        Rows ``n`` of the Jacobian it was fitted on.
    """

    name = None

    def fit(self, J, lam):
        """Fit the factor ``R`` of ``J J^T + lam I``.

        Parameters
        ----------
        J : LinearOperator of shape (n, P)
            The (weighted) Jacobian.
        lam : float
            Shift of ``K = J J^T + lam I``.

        Returns
        -------
        self : Preconditioner
            The fitted preconditioner.
        """
        J = as_jacobian(J)
        # Drop the previous fit first: a refit would otherwise hold two factors while it
        # builds the new one (two n x k Nystrom factors, 8 GB at n = 10**6, k = 500).
        for name in [key for key in vars(self) if key.endswith("_")]:
            delattr(self, name)
        self._fit(J, lam)
        self.n_rows_ = J.shape[0]
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
        self._check_fitted()
        return self._apply(x)

    def apply_t(self, x):
        """``R^{-T} x``, for ``x`` shaped as in :meth:`apply`."""
        self._check_fitted()
        return self._apply_t(x)

    def inverse(self, x):
        """``M^{-1} x = R^{-1} R^{-T} x`` (what CG applies), ``x`` shaped as in :meth:`apply`."""
        self._check_fitted()
        return self._inverse(x)

    def _inverse(self, x):
        return self._apply(self._apply_t(x))

    def _apply_t(self, x):
        # Symmetric factors (identity, diagonal, Nystrom) have R^{-T} = R^{-1}.
        return self._apply(x)

    def _check_fitted(self):
        if not hasattr(self, "n_rows_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet; call fit(J, lam) first."
            )


class IdentityPreconditioner(Preconditioner):
    """No preconditioning: ``R = I``. Nothing to fit; usable as is.

    :data:`NO_PRECONDITIONER` is the instance the solvers use by default.
    """

    name = "none"

    def _fit(self, J, lam):
        pass

    def _check_fitted(self):
        # R = I needs no fit: the identity is usable as constructed.
        pass

    def _apply(self, x):
        return x


class JacobiPreconditioner(Preconditioner):
    """Diagonal scaling ``R = diag(sqrt(diag(J J^T) + lam))``.

    Attributes
    ----------
    scale_ : ndarray of shape (n,)
        The diagonal of ``R``.
    """

    name = "jacobi"

    def _fit(self, J, lam):
        diag = J.squared_row_norms()
        self.scale_ = np.sqrt(np.maximum(diag + lam, np.finfo(np.float64).tiny))

    def _apply(self, x):
        return x / (self.scale_ if x.ndim == 1 else self.scale_[:, None])


class SketchPreconditioner(Preconditioner):
    """The sketch-and-precondition factor of van den Brand, Peng, Song and Weinstein.

    Draws a sketch ``S`` with ``s = ceil(sketch_size * n)`` rows and factors the sketched
    augmented matrix ``Y = [S J^T ; sqrt(lam) I]`` (``(s + n) x n``): ``R`` is its QR
    factor, so ``R^T R = J S^T S J^T + lam I ~ K`` and the singular values of
    ``[J, sqrt(lam) I]^T R^{-1}`` lie near ``[1 - sketch_size^-1/2, 1 + sketch_size^-1/2]``
    whatever the condition number of ``K``.

    Parameters
    ----------
    sketch : str or sketch spec, default='tensor_srht'
        One of 'gaussian', 'srht', 'countsketch', 'tensorsketch', 'tensor_srht', or a
        spec object with ``draw((m, d))`` (its ``n_components`` is then used as given).
    sketch_size : float, default=3.0
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
    When ``ceil(sketch_size * n)`` is at least ``P`` (a network too narrow to be
    over-parametrized), a sketch would not compress and ``J^T`` itself is factored,
    giving the exact ``R``.
    """

    name = "sketch"

    def __init__(self, *, sketch="tensor_srht", sketch_size=3.0, method="auto",
                 random_state=None, n_jobs=None):
        self.sketch = sketch
        self.sketch_size = sketch_size
        self.method = method
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _spec(self, n):
        if not isinstance(self.sketch, str):
            return self.sketch
        s = int(ceil(self.sketch_size * n))
        return SKETCHES[self.sketch](s, random_state=self.random_state, n_jobs=self.n_jobs)

    def _fit(self, J, lam):
        n, P = J.shape
        spec = self._spec(n)
        if isinstance(self.sketch, str) and spec.n_components >= P:
            # A sketch with at least P rows would not compress: use J^T itself (exact R).
            Y = J.rmatmat(np.eye(n))
        else:
            Y = self._sketch_transpose(J, spec, check_random_state(self.random_state))
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
                return
            except linalg.LinAlgError:
                if self.method == "cholesky":
                    raise
        A = np.vstack([Y, np.sqrt(lam) * np.eye(n)]) if lam > 0 else Y
        self.R_ = linalg.qr(A, mode="r", check_finite=False)[0][:n]
        self.method_ = "qr"

    def _sketch_transpose(self, J, spec, rng):
        """``S J^T`` by the cheapest structure ``J`` declares."""
        if "kron_factors" in J.capabilities:
            U, V = J.kron_factors()
            return spec.draw((U.shape[1], V.shape[1])).sketch_kron(U, V)
        if "kron_blocks" in J.capabilities:
            # Columns in blocks of Kronecker rows (deep networks): S = [S_1, ..., S_L]
            # with independent S_l, so S J^T = sum_l S_l J_l^T.
            Y = 0.0
            for U, V in J.kron_blocks():
                # A block narrower than the sketch gets a Gaussian sketch of itself.
                name = ("gaussian" if U.shape[1] * V.shape[1] < spec.n_components
                        else self.sketch)
                block_spec = (SKETCHES[name](spec.n_components,
                                             random_state=rng.randint(2**31 - 1),
                                             n_jobs=self.n_jobs)
                              if isinstance(self.sketch, str) else spec)
                Y = Y + block_spec.draw((U.shape[1], V.shape[1])).sketch_kron(U, V)
            return Y
        if "mixed_rows" in J.capabilities:
            # J_H = blockdiag(L_i) J: S J_H^T = (S J^T) blockdiag(L_i)^T, columns mixed.
            inner = self._sketch_transpose(J.inner, spec, rng)
            k, n = J.n_outputs, J.n_samples
            mixed = np.einsum("sai,ija->sji", inner.reshape(-1, k, n), J.factors)
            return mixed.reshape(inner.shape[0], k * n)
        return spec.draw((J.shape[1], 1)).matmat(J.rmatmat(np.eye(J.shape[0])))

    def _apply(self, x):
        return linalg.solve_triangular(self.R_, x, check_finite=False)

    def _apply_t(self, x):
        return linalg.solve_triangular(self.R_, x, trans="T", check_finite=False)


class NystromPreconditioner(Preconditioner):
    """Nystrom preconditioner from ``n_landmarks`` uniformly sampled columns of ``K``.

    For a Jacobian with mixed rows (:class:`~skgn._operators.MixedRowsJacobian`, the
    multiclass curvature), whose ``k_out`` columns of one sample cost as much as one of
    them, the landmarks are ``ceil(n_landmarks / k_out)`` uniformly sampled samples with
    all their outputs.

    With ``C = K[:, L]`` (tensor trick, ``n k (m + d)`` flops for ``k`` landmarks) and
    ``W = K[L, L]``, ``K_hat = C W^+ C^T = B B^T`` with ``B = C W^{-1/2}`` (n x k). The
    preconditioner ``M = B B^T + lam I`` has the symmetric square root ``R`` with

        R^{-1} = B G B^T + lam^{-1/2} I,    G = V diag(g(s)) V^T,
        g(s) = (1 / sqrt(s + lam) - 1 / sqrt(lam)) / s,

    where ``B^T B = V diag(s) V^T`` (``s`` the squared singular values of ``B``): with
    the thin SVD ``B = Q diag(sqrt(s)) V^T`` this is ``Q diag(s g(s)) Q^T + lam^{-1/2} I``,
    the inverse square root of ``M``. CG applies ``M^{-1} = R^{-2}`` in the same form with
    ``g_2(s) = (1 / (s + lam) - 1 / lam) / s = -1 / (lam (s + lam))``: one pass of
    ``B`` and ``B^T`` per iteration instead of two (at ``n = 37,500``, ``k = 500``:
    10 ms against 21 ms). ``B^T B`` costs ``n k^2`` flops (a symmetric
    product) and its eigendecomposition ``O(k^3)``, where the SVD of ``B`` took five times
    as long at ``n = 37,500``, ``k = 500``; ``g`` is evaluated in a form without
    cancellation and stays bounded (``|g| <= lam^{-3/2} / 2``), so directions of ``B``
    with tiny singular values need no truncation. Applying ``R^{-1}`` costs ``O(n k)``.
    Memory is ``n k``; no n x n array is formed.

    Parameters
    ----------
    n_landmarks : int, default=500
        Number of landmarks ``k`` (capped at ``n``).
    random_state : int, RandomState instance or None, default=None
        Seeds the landmark sample.

    Attributes
    ----------
    landmarks_ : ndarray of shape (k,)
        Sampled rows.
    factor_ : ndarray of shape (n, r)
        ``B``, on the numerically nonzero eigenspace of ``W``.
    core_ : ndarray of shape (r, r)
        ``G``.
    inverse_core_ : ndarray of shape (r, r)
        ``V diag(g_2(s)) V^T``, the core of ``M^{-1}``.
    sigma_ : ndarray of shape (r,)
        Singular values of ``B`` (square roots of the eigenvalues of ``B^T B``).
    """

    name = "nystrom"

    def __init__(self, *, n_landmarks=500, random_state=None):
        self.n_landmarks = n_landmarks
        self.random_state = random_state

    def _fit(self, J, lam):
        if lam <= 0:
            raise ValueError("The Nystrom preconditioner needs lam > 0.")
        n = J.shape[0]
        k = min(int(self.n_landmarks), n)
        rng = check_random_state(self.random_state)
        if "mixed_rows" in J.capabilities and J.n_outputs > 1:
            # Mixed rows (multiclass curvature): the k_out columns of one sample cost as
            # much as one, so the landmarks are whole samples, ceil(k / k_out) of them.
            self.landmarks_ = _whole_samples(rng, J.n_samples, J.n_outputs, k)[1]
        else:
            self.landmarks_ = np.sort(rng.choice(n, size=k, replace=False))
        C = J.gram_columns(self.landmarks_)
        # B = C W^{-1/2} on the numerically nonzero eigenspace of W, by row blocks into
        # C's own memory when W has full rank (one n x k array at large n, not two).
        root_inv, keep = _inverse_root(C[self.landmarks_])
        if keep.all():
            for rows in gen_batches(n, _ROWS_PER_BLOCK):
                C[rows] = C[rows] @ root_inv
            B = C
        else:
            B = C @ root_inv
        gram_B = B.T @ B
        with single_blas_thread():
            squared, V = linalg.eigh(gram_B, check_finite=False)
        squared = np.maximum(squared, 0.0)
        root, root_shifted = np.sqrt(lam), np.sqrt(squared + lam)
        # g(s) = (1/sqrt(s + lam) - 1/sqrt(lam)) / s, without the cancellation.
        g = -1.0 / (root * root_shifted * (root_shifted + root))
        # g_2(s) = (1/(s + lam) - 1/lam) / s, the same for M^{-1} = R^{-2}.
        g2 = -1.0 / (lam * (squared + lam))
        self.factor_, self.core_ = B, (V * g) @ V.T
        self.inverse_core_ = (V * g2) @ V.T
        self.sigma_, self.lam_ = np.sqrt(squared[::-1]), lam

    def _apply(self, x):
        return self.factor_ @ (self.core_ @ (self.factor_.T @ x)) + x / np.sqrt(self.lam_)

    def _inverse(self, x):
        return self.factor_ @ (self.inverse_core_ @ (self.factor_.T @ x)) + x / self.lam_


PRECONDITIONERS = {
    cls.name: cls
    for cls in (IdentityPreconditioner, JacobiPreconditioner, SketchPreconditioner,
                NystromPreconditioner)
}

NO_PRECONDITIONER = IdentityPreconditioner()


def make_preconditioner(name, **options):
    """Build the registered preconditioner ``name`` from a shared set of options.

    Parameters
    ----------
    name : str
        A key of :data:`PRECONDITIONERS`.
    **options
        Keyword options; each class takes those of its constructor's keywords it has
        (``sketch``, ``sketch_size``, ``n_landmarks``, ``random_state``, ``n_jobs``).

    Returns
    -------
    preconditioner : Preconditioner
        Unfitted.
    """
    cls = PRECONDITIONERS[name]
    accepted = inspect.signature(cls).parameters
    return cls(**{key: value for key, value in options.items() if key in accepted})


class ParameterNystromPreconditioner(NystromPreconditioner):
    """Nystrom preconditioner of the parameter-space system ``(C^T C + lam I) x = g``.

    The sub-sampled Gauss-Newton step solves in parameter space (``P`` unknowns) with
    the Jacobian ``C`` of ``s`` sampled rows. The test matrix is the span of ``k``
    landmark rows' gradients: with ``K_LL = C_L C_L^T = E diag(e) E^T``,
    ``Q = C_L^T E diag(e^{-1/2})`` is orthonormal, and ``Y = C^T C Q = C^T (K_{:L} E
    diag(e^{-1/2}))`` takes the Gram columns ``K_{:L} = C C_L^T`` (exact co-firing counts
    for the ReLU Jacobian) and one product of ``C^T`` with ``k`` columns. The Nystrom
    approximation ``C^T C ~ Y (Q^T Y)^{-1} Y^T = U diag(d) U^T`` (Frangella, Tropp and
    Udell 2023, with their stabilizing shift) gives

        M^{-1} x = U diag(1 / (d + lam)) U^T x + (x - U U^T x) / (d_min + lam),

    whose preconditioned condition number is at most ``(d_min + lam + ||E||) / lam``
    with ``E`` the approximation error. (Compressing ``C^T C`` onto ``Q`` alone, without
    ``Y``, leaves out the coupling between ``Q`` and the rest and took 5x the
    iterations of sample-space Nystrom PCG.) Every parameter-space CG iterate lowers the
    step's quadratic model, so a truncated solve is still a descent step. Memory is
    ``P k`` for ``U`` and ``s k`` during the fit.

    With ``fit_samples = t`` below the ``s`` samples, the fit runs on a uniform sample
    ``T`` of ``t`` of them: ``(s / t) C_T^T C_T`` estimates ``C^T C`` without bias, so
    its Nystrom eigenvalues are scaled by ``s / t``. Every cost of the fit but the
    ``k x k`` and ``P x k`` work falls by ``s / t``, and the preconditioner only has to
    capture the leading eigenspace, which a few rows per parameter already resolve
    (37,500 rows, ``P = 2,112``, ``k = 100``: 26 iterations after a 0.68 s fit on every
    row, 33 after a 0.17 s fit on 8,000).

    ``fit`` takes a :class:`~skgn._operators.SampledRowsJacobian` (it builds the
    landmarks' Jacobian, and the fit sample's, with ``rows``); ``apply`` and ``inverse``
    take vectors of length ``P``.

    Parameters
    ----------
    n_landmarks : int, default=500
        Landmark rows ``k`` (whole samples for several outputs, capped at ``s``).
    random_state : int, RandomState instance or None, default=None
        Seeds the landmark sample (and the fit sample).
    fit_samples : int, default=None
        Samples ``t`` the fit runs on; ``None`` (or at least ``s``) fits on every one.

    Attributes
    ----------
    landmarks_ : ndarray of shape (k,)
        The landmark samples (indices into the sampled rows, or into the fit sample).
    basis_ : ndarray of shape (P, r)
        ``U``, orthonormal.
    eigenvalues_ : ndarray of shape (r,)
        ``d``, descending.
    """

    def __init__(self, *, n_landmarks=500, random_state=None, fit_samples=None):
        super().__init__(n_landmarks=n_landmarks, random_state=random_state)
        self.fit_samples = fit_samples

    def _fit(self, J, lam):
        if lam <= 0:
            raise ValueError("The Nystrom preconditioner needs lam > 0.")
        rng = check_random_state(self.random_state)
        scale = 1.0
        if self.fit_samples is not None and self.fit_samples < J.n_samples:
            fitted = np.sort(rng.choice(J.n_samples, size=int(self.fit_samples),
                                        replace=False))
            # (s / t) C_T^T C_T estimates C^T C: fit on C_T, then scale the eigenvalues.
            scale = J.n_samples / len(fitted)
            every = J
            J = SampledRowsJacobian(every.rows(fitted),
                                    lambda samples: every.rows(fitted[samples]))
        samples, columns = _whole_samples(rng, J.n_samples, J.n_outputs,
                                          int(self.n_landmarks))
        self.landmarks_ = samples
        K_columns = J.gram_columns(columns)
        root_inv = _inverse_root(K_columns[columns])[0]
        self.lam_ = lam
        if root_inv.shape[1] == 0:
            # Every landmark's gradient is zero (its neurons are dead there): nothing to
            # capture, and M = lam I.
            self.basis_, self.eigenvalues_ = np.zeros((J.shape[1], 0)), np.zeros(0)
            return
        Q = J.rows(samples).rmatmat(root_inv)
        # Y = C^T C Q = C^T (K_{:L} E diag(e^{-1/2})), a few columns at a time: a product
        # with many columns holds a rows x columns x d~ temporary.
        CQ = K_columns @ root_inv
        del K_columns
        Y = np.empty_like(Q)
        for cols in gen_batches(CQ.shape[1], _PRODUCT_COLUMNS):
            Y[:, cols] = J.rmatmat(CQ[:, cols])
        del CQ
        # Frangella, Tropp and Udell's stable Nystrom: shift, Cholesky, then the SVD of
        # B. The shift takes the Frobenius norm, an upper bound of their 2-norm (at most
        # sqrt(k) times larger, still about 1e-12 ||Y||) that costs no SVD of Y.
        eps = np.finfo(np.float64).eps
        shift = np.sqrt(Y.shape[0]) * eps * np.linalg.norm(Y)
        Y += shift * Q
        core = Q.T @ Y
        gram_Y = Y.T @ Y
        # B = Y L^{-T} = U diag(sigma) V^T from B^T B = L^{-1} (Y^T Y) L^{-T} = V
        # diag(sigma^2) V^T and U = Y (L^{-T} V) / sigma: k x k eigen and triangular
        # problems beside two P x k x k products, instead of the P x k SVD (7x faster at
        # P = 12,288, k = 500, 13x at P = 45,056) or a triangular solve with P right-hand
        # sides (0.28 s of a 1.8 s fit at P = 66,560, k = 200). The squares lose what
        # lies below eps sigma_max^2, far under lam: those pairs get eigenvalue 0 and no
        # column (U V^T is then not orthonormal there, and their part of x goes to the
        # tail, 1 / lam).
        with single_blas_thread():
            factor = linalg.cholesky(0.5 * (core + core.T), lower=True)
            half = linalg.solve_triangular(factor, gram_Y, lower=True)
            gram_B = linalg.solve_triangular(factor, half.T, lower=True)
            sigma2, V = linalg.eigh(0.5 * (gram_B + gram_B.T), check_finite=False)
            sigma2, V = sigma2[::-1], V[:, ::-1]
            to_basis = linalg.solve_triangular(factor, V, lower=True, trans="T")
        lost = sigma2 <= Y.shape[1] * eps * sigma2[0]
        inverse_sigma = np.where(lost, 0.0, 1.0 / np.sqrt(np.where(lost, 1.0, sigma2)))
        self.basis_ = Y @ to_basis * inverse_sigma
        self.eigenvalues_ = scale * np.where(lost, 0.0, np.maximum(sigma2 - shift, 0.0))

    def _spectral(self, x, f):
        """``U diag(f(d + lam) - t) U^T x + t x`` with the tail ``t = f(d_min + lam)``."""
        shifted = self.eigenvalues_ + self.lam_
        tail = f(shifted[-1] if shifted.size else self.lam_)
        scale = (f(shifted) - tail).reshape((-1,) + (1,) * (x.ndim - 1))
        return tail * x + self.basis_ @ (scale * (self.basis_.T @ x))

    def _inverse(self, x):
        return self._spectral(x, lambda v: 1.0 / v)

    def _apply(self, x):
        # R^{-1} = M^{-1/2}.
        return self._spectral(x, lambda v: 1.0 / np.sqrt(v))
