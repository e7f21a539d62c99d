"""The Jacobian operator protocol: a LinearOperator with declared structured products.

Solvers and preconditioners see a Jacobian only through :class:`JacobianOperator`. Besides
the products ``J V`` and ``J^T Z`` it offers four structured quantities, each with a
generic implementation from those products:

=====================  ===========================================  =====================
method                 returns                                      generic cost
=====================  ===========================================  =====================
``gram()``             ``J J^T`` (n x n)                            ``n`` adjoint products
``gram_columns(c)``    ``(J J^T)[:, c]``                            ``len(c)`` products
``squared_row_norms``  ``diag(J J^T)``                              ``n`` products
``kron_factors()``     ``U``, ``V`` with row ``q`` = ``U_q (x) V_q``  none (not available)
=====================  ===========================================  =====================

A subclass that computes one of them faster (the ReLU Jacobian forms its Gram by the
tensor trick) overrides it and lists it in :attr:`JacobianOperator.capabilities`; callers
that choose an algorithm by cost read that declaration instead of probing attributes.
:func:`as_jacobian` wraps any :class:`scipy.sparse.linalg.LinearOperator` with the generic
implementations.
"""

import numpy as np
from scipy.sparse.linalg import LinearOperator, aslinearoperator


class JacobianOperator(LinearOperator):
    """Base class of Jacobian operators (float64, shape ``(n, P)``).

    Subclasses implement ``_matmat`` and ``_rmatmat`` (and may override the structured
    methods below, declaring them in ``capabilities``).

    Attributes
    ----------
    capabilities : frozenset of str
        The structured methods this operator computes faster than the generic products:
        a subset of ``{'gram', 'gram_columns', 'squared_row_norms', 'kron_factors',
        'kron_blocks', 'mixed_rows', 'output_blocks'}``. ``output_blocks()`` gives, per
        sample, the ``k x k`` block of ``J J^T`` between its outputs (the ReLU
        networks); ``kron_blocks()`` is a list of ``(U_l, V_l)``, the
        columns of ``J`` split into blocks whose rows are Kronecker products (deep
        networks); ``'mixed_rows'`` marks a :class:`MixedRowsJacobian`;
        ``normal_matrix()`` uses the Kronecker structure when present.
    """

    capabilities = frozenset()

    def __init__(self, shape):
        super().__init__(dtype=np.float64, shape=shape)

    def _matvec(self, v):
        return self._matmat(np.reshape(v, (-1, 1))).ravel()

    def _rmatvec(self, z):
        return self._rmatmat(np.reshape(z, (-1, 1))).ravel()

    def _adjoint(self):
        return _AdjointOperator(self)

    def normal_matmat(self, V):
        """The normal product ``J^T J V`` (here ``J^T (J V)``).

        Parameters
        ----------
        V : ndarray of shape (P, p)

        Returns
        -------
        out : ndarray of shape (P, p)
        """
        return self.rmatmat(self.matmat(V))

    def normal_matvec(self, v):
        """The normal product ``J^T J v`` of one vector (:meth:`normal_matmat`).

        Parameters
        ----------
        v : ndarray of shape (P,)

        Returns
        -------
        out : ndarray of shape (P,)
        """
        return self.normal_matmat(np.reshape(v, (-1, 1))).ravel()

    def gram(self):
        """The Gram matrix ``J J^T``.

        Returns
        -------
        K : ndarray of shape (n, n)
            ``J (J^T I)``, symmetrized.
        """
        K = self.matmat(self.rmatmat(np.eye(self.shape[0])))
        # J (J^T I) is symmetric in exact arithmetic; symmetrize the rounding.
        return 0.5 * (K + K.T)

    # The Gram ``J J^T`` once an operator has formed it (``gram()`` caches it there).
    _gram = None

    def gram_columns(self, columns):
        """The columns ``(J J^T)[:, columns]``, from the cached Gram when there is one.

        Subclasses compute them in ``_gram_columns``.

        Parameters
        ----------
        columns : array-like of int
            Row indices of ``J``.

        Returns
        -------
        C : ndarray of shape (n, len(columns))
            The requested Gram columns.
        """
        if self._gram is not None:
            return self._gram[:, columns]
        return self._gram_columns(columns)

    def _gram_columns(self, columns):
        """``J (J^T E)`` for the unit vectors ``E`` of ``columns``."""
        E = np.zeros((self.shape[0], len(columns)))
        E[columns, np.arange(len(columns))] = 1.0
        return self.matmat(self.rmatmat(E))

    def squared_row_norms(self):
        """The diagonal of ``J J^T``.

        Returns
        -------
        diag : ndarray of shape (n,)
            Squared norms of the rows of ``J``.
        """
        return np.array([self.gram_columns([q])[q, 0] for q in range(self.shape[0])])

    def normal_matrix(self):
        """The normal matrix ``J^T J`` (P x P), for problems with fewer parameters than rows.

        Operators with Kronecker rows accumulate ``sum_q (U_q (x) V_q)(U_q (x) V_q)^T`` over
        row blocks (``2 n P^2`` flops, ``P^2`` memory plus one block); others apply ``J``
        to the identity (``n P`` memory).

        Returns
        -------
        G : ndarray of shape (P, P)
        """
        if "kron_factors" in self.capabilities:
            return kron_normal_matrix([self.kron_factors()])
        if "kron_blocks" in self.capabilities:
            return kron_normal_matrix(self.kron_blocks())
        dense = self.matmat(np.eye(self.shape[1]))
        return dense.T @ dense

    def kron_factors(self):
        """Factors ``U`` (n x a) and ``V`` (n x b) with row ``q`` of ``J`` = ``U[q] (x) V[q]``.

        Only operators that declare ``'kron_factors'`` in :attr:`capabilities` have them.

        Returns
        -------
        U, V : ndarray
            The Kronecker factors of the rows.
        """
        raise NotImplementedError(f"{type(self).__name__} has no Kronecker-structured rows.")


# Rows per block when a normal matrix is accumulated from Kronecker rows.
_NORMAL_BLOCK_BYTES = 64 * 2**20


def kron_normal_matrix(blocks):
    """``J^T J`` for ``J`` whose columns are blocks of Kronecker rows ``U_l[q] (x) V_l[q]``.

    Parameters
    ----------
    blocks : list of (U, V)
        Per column block, the factors (dense or sparse ``U``) of its rows.

    Returns
    -------
    G : ndarray of shape (P, P)
        ``P = sum_l a_l b_l``.
    """
    n = blocks[0][0].shape[0]
    P = sum(U.shape[1] * V.shape[1] for U, V in blocks)
    G = np.zeros((P, P))
    rows = max(1, int(_NORMAL_BLOCK_BYTES // (8 * P)))
    for start in range(0, n, rows):
        part = slice(start, min(start + rows, n))
        pieces = []
        for U, V in blocks:
            Ub = U[part]
            Ub = Ub.toarray() if hasattr(Ub, "toarray") else np.asarray(Ub)
            # Row q of the block is U[q] (x) V[q] in C order (index a * b_l + c).
            pieces.append((Ub[:, :, None] * V[part][:, None, :]).reshape(Ub.shape[0], -1))
        R = np.hstack(pieces) if len(pieces) > 1 else pieces[0]
        G += R.T @ R
    return G


class _AdjointOperator(LinearOperator):
    """The adjoint ``J^T`` of a :class:`JacobianOperator`, with block products."""

    def __init__(self, jac):
        self._jac = jac
        super().__init__(dtype=np.float64, shape=(jac.shape[1], jac.shape[0]))

    def _matmat(self, Z):
        return self._jac._rmatmat(Z)

    def _rmatmat(self, V):
        return self._jac._matmat(V)

    def _matvec(self, z):
        return self._jac._rmatvec(z)

    def _rmatvec(self, v):
        return self._jac._matvec(v)

    def _adjoint(self):
        return self._jac


class _WrappedOperator(JacobianOperator):
    """A plain LinearOperator seen as a Jacobian: generic structured methods only."""

    def __init__(self, op):
        self._op = op
        super().__init__(op.shape)

    def _matmat(self, V):
        return self._op.matmat(V)

    def _rmatmat(self, Z):
        return self._op.rmatmat(Z)


def as_jacobian(J):
    """Return ``J`` as a :class:`JacobianOperator` (wrapping it if it is not one).

    Parameters
    ----------
    J : JacobianOperator, LinearOperator or array-like of shape (n, P)
        The operator.

    Returns
    -------
    J : JacobianOperator
        ``J`` itself, or a wrapper with the generic structured methods.
    """
    if isinstance(J, JacobianOperator):
        return J
    return _WrappedOperator(aslinearoperator(J))


class MixedRowsJacobian(JacobianOperator):
    """``J_H = blockdiag(L_1, ..., L_n) J``: each sample's ``k`` rows mixed by a ``k x k`` factor.

    The generalized Gauss-Newton matrix of a loss with per-sample output Hessian
    ``H_i = L_i^T L_i`` is ``J_H^T J_H`` (softmax cross-entropy: ``k`` outputs per sample).
    Rows of ``J`` are output-major (row ``a n + i``); so are those of ``J_H``:

    Forward: ``(J_H v)[j n + i] = sum_a L_i[j, a] (J v)[a n + i]``.

    Adjoint: ``J_H^T z = J^T z'`` with ``z'[a n + i] = sum_j L_i[j, a] z[j n + i]``.

    Parameters
    ----------
    jacobian : JacobianOperator of shape (k n, P)
        The (weighted) Jacobian.
    factors : ndarray of shape (n, k, k)
        ``L_i``.

    Notes
    -----
    The ``'mixed_rows'`` capability tells the sketch preconditioner to sketch the inner
    Jacobian by its own structure and mix the sketched columns by ``L_i^T``.
    """

    capabilities = frozenset({"gram", "gram_columns", "squared_row_norms", "mixed_rows"})

    def __init__(self, jacobian, factors):
        self.inner = as_jacobian(jacobian)
        self.factors = np.asarray(factors, dtype=np.float64)
        self.n_samples, self.n_outputs = self.factors.shape[:2]
        self._gram = None
        super().__init__(shape=self.inner.shape)

    def _split(self, A):
        return np.asarray(A).reshape(self.n_outputs, self.n_samples, -1)

    def _matmat(self, V):
        Y = self._split(self.inner.matmat(V))
        return np.einsum("ija,aip->jip", self.factors, Y).reshape(self.shape[0], -1)

    def _rmatmat(self, Z):
        mixed = np.einsum("ija,jip->aip", self.factors, self._split(Z))
        return self.inner.rmatmat(mixed.reshape(self.shape[0], -1))

    def normal_matrix(self):
        """``J_H^T J_H = sum_i J_i^T L_i^T L_i J_i`` over blocks of samples (``P x P``).

        With Kronecker rows inside, a block of ``b`` samples costs ``b k P`` memory;
        otherwise the generic product of ``J_H`` with the identity is used.

        Returns
        -------
        G : ndarray of shape (P, P)
        """
        U = V = None
        if "kron_factors" in self.inner.capabilities:
            U, V = self.inner.kron_factors()
        if not isinstance(U, np.ndarray):
            return super().normal_matrix()
        k, n, P = self.n_outputs, self.n_samples, self.shape[1]
        Ur, Vr = U.reshape(k, n, -1), V.reshape(k, n, -1)
        G = np.zeros((P, P))
        rows = max(1, int(_NORMAL_BLOCK_BYTES // (8 * k * P)))
        for start in range(0, n, rows):
            part = slice(start, min(start + rows, n))
            # R[a, i] = U[a n + i] (x) V[a n + i]; mixed rows R_H[j, i] = sum_a L_i[j, a] R[a, i]
            R = (Ur[:, part, :, None] * Vr[:, part, None, :]).reshape(k, -1, P)
            mixed = np.einsum("ija,aip->jip", self.factors[part], R).reshape(-1, P)
            G += mixed.T @ mixed
        return G

    def gram(self):
        """``J_H J_H^T = L K L^T`` from the inner Gram ``K``, cached.

        Returns
        -------
        K_H : ndarray of shape (k n, k n)
        """
        if self._gram is None:
            k, n = self.n_outputs, self.n_samples
            K = self.inner.gram().reshape(k, n, k, n)
            L = self.factors
            mixed = np.einsum("ija,aibq,qlb->jilq", L, K, L, optimize=True)
            self._gram = mixed.reshape(k * n, k * n)
        return self._gram

    def _gram_columns(self, columns):
        """Columns of ``J_H J_H^T`` from the ``k`` inner Gram columns of each requested sample.

        The ``k`` columns of one sample (all its outputs) share those inner columns, so
        they are computed once per distinct sample.
        """
        k, n = self.n_outputs, self.n_samples
        outputs, samples = np.divmod(np.asarray(columns), n)
        distinct, inverse = np.unique(samples, return_inverse=True)
        # Inner columns (b, q) for every output b of every distinct requested sample q.
        inner_cols = (np.arange(k)[:, None] * n + distinct[None, :]).ravel()
        C = self.inner.gram_columns(inner_cols).reshape(k * n, k, len(distinct))
        L = self.factors
        # C_H[(j, i), c] = sum_{a, b} L_i[j, a] K[(a, i), (b, q_c)] L_{q_c}[l_c, b]
        # right[u, (a, i), l] = sum_b K[(a, i), (b, q_u)] L_{q_u}[l, b], per distinct sample u
        right = C.transpose(2, 0, 1) @ L[distinct].transpose(0, 2, 1)
        inner = right[inverse, :, outputs].reshape(len(samples), k, n)
        # mixed[i, j, c] = sum_a L_i[j, a] inner[c, a, i]
        mixed = L @ inner.transpose(2, 1, 0)
        return mixed.transpose(1, 0, 2).reshape(k * n, len(samples))

    def squared_row_norms(self):
        """Diagonal of ``J_H J_H^T`` from the per-sample ``k x k`` blocks of ``K``.

        Returns
        -------
        diag : ndarray of shape (k n,)
        """
        if self._gram is not None:
            return np.diag(self._gram).copy()
        # blocks[i, a, b] = K[(a, i), (b, i)]
        blocks = self._output_blocks()
        return np.einsum("ija,iab,ijb->ji", self.factors, blocks, self.factors).ravel()

    def _output_blocks(self):
        """Per sample ``i``, the ``k x k`` block ``K[(a, i), (b, i)]`` of the inner Gram."""
        k, n = self.n_outputs, self.n_samples
        if "output_blocks" in self.inner.capabilities:
            return self.inner.output_blocks()
        U = V = None
        if "kron_factors" in self.inner.capabilities:
            U, V = self.inner.kron_factors()
        if isinstance(U, np.ndarray):
            # K[(a, i), (b, i)] = (U[a n + i] . U[b n + i]) (V[a n + i] . V[b n + i])
            Ur, Vr = U.reshape(k, n, -1), V.reshape(k, n, -1)
            return np.einsum("aim,bim->iab", Ur, Ur) * np.einsum("aic,bic->iab", Vr, Vr)
        K = self.inner.gram().reshape(k, n, k, n)
        return K[:, np.arange(n), :, np.arange(n)]


class SampledRowsJacobian(JacobianOperator):
    """A Jacobian of sampled rows that can also build the Jacobian of a few of its samples.

    The sub-sampled Gauss-Newton step (:func:`~skgn._gauss_newton.gauss_newton`'s
    ``curvature_rows``) solves in parameter space; its preconditioner
    (:class:`~skgn._preconditioners.ParameterNystromPreconditioner`) needs the rows of a
    few landmark samples as an operator of their own. The products and structured
    methods are those of ``operator``.

    Parameters
    ----------
    operator : JacobianOperator of shape (k s, P)
        The (rescaled) Jacobian of the ``s`` sampled rows, output-major for ``k`` outputs.
    rows : callable
        ``rows(samples)`` returns the Jacobian of the sorted sample indices ``samples``
        (into the ``s`` sampled rows), output-major, with the same row scaling.
    """

    def __init__(self, operator, rows):
        super().__init__(operator.shape)
        self.operator, self.rows = operator, rows
        self.capabilities = operator.capabilities - {"mixed_rows", "output_blocks"}
        self.n_outputs = getattr(operator, "n_outputs", 1)
        self.n_samples = operator.shape[0] // self.n_outputs

    def _matmat(self, V):
        return self.operator.matmat(V)

    def _rmatmat(self, Z):
        return self.operator.rmatmat(Z)

    def _gram_columns(self, columns):
        return self.operator.gram_columns(columns)

    def normal_matmat(self, V):
        """The normal product ``C^T C V`` (the operator's).

        Parameters
        ----------
        V : ndarray of shape (P, p)

        Returns
        -------
        out : ndarray of shape (P, p)
        """
        return self.operator.normal_matmat(V)

    def squared_row_norms(self):
        """The diagonal of ``J J^T`` (the operator's).

        Returns
        -------
        diag : ndarray of shape (n,)
        """
        return self.operator.squared_row_norms()
