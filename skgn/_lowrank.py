"""Deep-network weights as the initialization plus sparse low-rank factors (lazy updates).

A Gauss-Newton step of the deep network (module ``_deep``) changes the stored block
``S_l = W_l^T`` (``m x m``) of every square layer by ``a H^T B``: ``H`` the layer's
inputs and ``B`` the back-propagated vectors at the linearization point, both ``n x m``
(``n k`` rows for ``k`` outputs), so the change has rank at most ``n k``. With the
shifted ReLU both factors are sparse (``s`` entries per row), and
Song, Zhang and Zhang (arXiv 2112.07628) keep the weights lazily,

    S_l = S_l0 + sum_t a_t H_t^T B_t,

so that a step never pays ``m^2``: a product ``X S_l`` costs ``X S_l0`` (``n' s m``,
the sparse product of the initial weights) plus, per term,

    X H_t^T B_t = (X H_t^T) B_t,      ``n' n s^2 / m`` for ``X H_t^T`` and ``n' n s`` for the rest,

instead of materializing ``S_l``, copying it into column blocks and adding ``m^2``-sized
parameter vectors at every step. :class:`LowRankWeights` is such a parameter vector
(the flat ``[vec(W_1), vec(S_2), ...]`` of the deep network, in factored form) with the
arithmetic the Gauss-Newton loop does on parameters; :class:`FactoredLayer` is one
layer's ``S_l`` with its products. When a vector would hold more terms than its
``max_terms`` (chosen by cost, :func:`lazy_max_terms`), it is folded: materialized into a
dense vector, and the fit continues on the dense path.
"""

import numpy as np
from scipy import sparse

from ._parallel import blas_thread_count, block_map

# Columns per block of a sparse x dense product: a 256-column slice of the dense operand
# stays in cache while the sparse rows gather from it (2x to 3.5x faster at m = 2,048 to
# 4,096, n = 2,000, sqrt(m) entries per row, on two cores with the blocks in threads).
_SPMM_COLUMNS = 256
# Below this many multiply-adds (stored entries times columns) the blocks run in the
# calling thread: joblib's threads cost more than they save (m = 512: 0.34 -> 0.49 s a step).
_SPMM_PARALLEL_WORK = 2**26


def column_blocks(R):
    """Contiguous copies of the consecutive ``_SPMM_COLUMNS``-column blocks of ``R``."""
    return [np.ascontiguousarray(R[:, j : j + _SPMM_COLUMNS])
            for j in range(0, R.shape[1], _SPMM_COLUMNS)]


def sparse_dense(H, R, blocks=None):
    """``H @ R`` for a CSR ``H`` and a dense ``R``, by column blocks of ``R`` in threads.

    ``blocks`` are ``column_blocks(R)`` when already made (a matrix used by many
    products). Every entry is summed over its row's stored entries in the same order
    whatever the blocks and threads, so the result is the same to the bit.
    """
    if R.shape[1] <= _SPMM_COLUMNS:
        return H @ R
    out = np.empty((H.shape[0], R.shape[1]))

    def block(cols):
        b = cols.start // _SPMM_COLUMNS
        out[:, cols] = H @ (blocks[b] if blocks is not None
                            else np.ascontiguousarray(R[:, cols]))

    parallel = H.nnz * R.shape[1] >= _SPMM_PARALLEL_WORK
    block_map(block, R.shape[1], _SPMM_COLUMNS, n_jobs=blas_thread_count() if parallel else 1)
    return out


def _add_product(out, G, A):
    """``out += G A^T`` for a dense ``G`` (``n' x R``) and a CSR ``A`` (``m x R``).

    Computed as ``(A G^T)^T`` by blocks of ``_SPMM_COLUMNS`` rows of ``G`` (in threads
    for large products), each block added into its own rows of ``out``; the blocks are
    fixed by the sizes, so the result does not depend on the threads.
    """
    def block(rows):
        out[rows] += (A @ np.ascontiguousarray(G[rows].T)).T

    parallel = A.nnz * G.shape[0] >= _SPMM_PARALLEL_WORK
    block_map(block, G.shape[0], _SPMM_COLUMNS,
              n_jobs=blas_thread_count() if parallel else 1)


class Term:
    """The factors ``(H, B)`` of one rank-``n k`` change ``H^T B`` of layer ``layer``.

    Terms are compared by identity: two vectors that share a step share its term, and
    their combinations add its coefficients. Inner products between terms are cached
    (a step's vectors share their terms).

    Parameters
    ----------
    layer : int
        Index of the square layer (``>= 1``) in the network's ``shapes``.
    H, B : sparse matrix of shape (n, m)
        The factors (stored CSR).
    """

    def __init__(self, layer, H, B):
        self.layer = layer
        self.H = sparse.csr_matrix(H)
        self.B = sparse.csr_matrix(B)
        self._inner = {}

    def inner(self, other):
        """``<H^T B, H'^T B'> = sum((H H'^T) o (B B'^T))`` (0 across layers), cached.

        Parameters
        ----------
        other : Term

        Returns
        -------
        value : float
        """
        if other.layer != self.layer:
            return 0.0
        if other not in self._inner:
            value = float((self.H @ other.H.T).multiply(self.B @ other.B.T).sum())
            self._inner[other] = other._inner[self] = value
        return self._inner[other]

    def block(self):
        """``H^T B``, sparse ``m x m`` in COO form (canonical: no repeated entries)."""
        return (self.H.T @ self.B).tocoo()


class FactoredLayer:
    """One square layer's stored block ``S = a_0 S_0 + sum_t a_t H_t^T B_t`` (``m x m``).

    The terms are applied stacked: ``X sum_t a_t H_t^T B_t = (X [H_1; ...]^T)
    [a_1 B_1; ...]``, one sparse product of ``X`` with the stacked ``H`` (``n' x R``,
    ``R`` the terms' rows) and one of the result with the stacked ``B``.

    Parameters
    ----------
    base : ndarray of shape (m, m) or None
        ``S_0`` (``None``: no base term).
    base_blocks : tuple of list or None
        ``(column_blocks(S_0), column_blocks(S_0^T))``, made once per base.
    base_coef : float
        ``a_0``.
    terms : list of (float, Term)
        ``(a_t, term)``.
    """

    def __init__(self, base, base_blocks, base_coef, terms):
        self.base, self.base_blocks, self.base_coef = base, base_blocks, base_coef
        self.terms = terms
        self._stacks = {}

    def _stack(self, transpose):
        """``([H_1; ...]^T, [a_1 B_1; ...]^T)`` in CSR (``m x R`` each), with
        ``transpose`` the roles of ``H`` and ``B`` swapped (for ``S^T``)."""
        if transpose not in self._stacks:
            firsts = [t.B if transpose else t.H for _, t in self.terms]
            seconds = [c * (t.H if transpose else t.B) for c, t in self.terms]
            self._stacks[transpose] = (sparse.vstack(firsts, format="csr").T.tocsr(),
                                       sparse.vstack(seconds, format="csr").T.tocsr())
        return self._stacks[transpose]

    def _apply(self, X, base_product, transpose):
        """``X S`` (``X S^T`` with ``transpose``), the base's product by ``base_product``."""
        out = base_product(X) if self.base is not None else np.zeros(X.shape)
        if self.base is not None and self.base_coef != 1.0:
            out *= self.base_coef
        if self.terms:
            firsts_T, seconds_T = self._stack(transpose)
            # G = X [H_1; ...]^T (n' x R), then out += G [a_1 B_1; ...].
            G = (sparse.csr_matrix(X) @ firsts_T).toarray()
            _add_product(out, G, seconds_T)
        return out

    def right(self, X):
        """``X S`` for a sparse ``X`` of shape ``(n', m)``: the layer's forward product."""
        return self._apply(
            X, lambda X: sparse_dense(X, self.base, self.base_blocks[0]), transpose=False)

    def left(self, B):
        """``B S^T`` for a sparse ``B`` of shape ``(n', m)``: the back-propagated product."""
        return self._apply(
            B, lambda B: sparse_dense(B, self.base.T, self.base_blocks[1]), transpose=True)


# What the dense weights cost per step and m^2 entry, in multiply-adds of the sparse
# kernels (see lazy_max_terms).
_DENSE_STEP_COST = 100.0


def lazy_max_terms(n_samples, n_neurons, n_fired):
    """How many factored terms per layer lazy weights may hold before they are folded.

    Each term adds ``n' n s`` multiply-adds (``X H_t^T`` and then ``B_t``; ``n`` rows,
    ``s`` fired neurons per row) to each of the about 8 products through a square layer
    in a step. Dense weights instead pay passes over ``m^2``-sized arrays at every step
    (the parameter vectors, the column blocks of ``W_l`` copied at every
    linearization) and hold several of them. Measured per step (steps 1 / 2 / 3 of a
    fit, the lazy one holding 0 / 1 / 2 terms) at ``n = 2,000``, ``d = 20``, depth 2,
    about ``sqrt(m)`` fired neurons, the settings of ``benchmarks/bench_deep.py``:

    =======  ======================  ======================
    m        lazy weights (s)        dense weights (s)
    =======  ======================  ======================
    4,096    2.5 / 3.6 / 6.9         3.7 / 2.8 / 3.4
    8,192    5.6 / 7.3 / 12.0        15.0 / 12.2 / 14.6
    =======  ======================  ======================

    A term cost about 1 ns per multiply-add there, and dense weights about 100 ns per
    ``m^2`` entry and step: ``_DENSE_STEP_COST = 100`` multiply-adds per entry gives
    0 terms at ``m = 4,096`` and 2 at 8,192 (6 at 16,384, where dense weights also
    need 21 GiB).

    Parameters
    ----------
    n_samples : int
        Rows ``n`` of the factors (samples).
    n_neurons : int
        Width ``m``.
    n_fired : float
        Fired neurons per row and layer ``s``.

    Returns
    -------
    max_terms : int
        0 when a single term already costs more than dense weights (the fit then keeps
        them dense).
    """
    term = 8.0 * n_samples * n_samples * n_fired
    return int(_DENSE_STEP_COST * n_neurons * n_neurons // term)


class LowRankWeights:
    """A flat parameter vector of the deep network kept as a base plus low-rank factors.

    The vector is ``base_coef * base + [vec(head), 0, ...] + sum_t a_t vec(H_t^T B_t)``
    (each term in its own layer's block). It supports what the Gauss-Newton loop does
    with parameters: ``+``, ``-``, scalar ``*``, ``ravel``/``reshape`` to its own shape,
    :meth:`squared_norm` of a vector without base and ``np.asarray`` (the dense vector).
    A combination whose terms would exceed ``max_terms`` is returned dense (the fold).

    Parameters
    ----------
    shapes : list of tuple
        The layers' shapes ``[(m, d~), (m, m), ...]``.
    base : ndarray of shape (P,) or None
        The dense part (the initialization); never modified.
    base_coef : float
        Its coefficient (0 with ``base=None``).
    head : ndarray of shape (m, d~) or None
        A dense change of the first layer.
    terms : list of (float, Term)
        Coefficients and factors of the square layers' changes.
    max_terms : int
        Terms per layer above which a combination is folded.
    base_blocks : dict, default=None
        ``{layer: (column_blocks(S_0), column_blocks(S_0^T))}`` of the base, shared
        by every vector with this base.
    """

    # ndarray - LowRankWeights and friends call the reflected methods below.
    __array_ufunc__ = None

    def __init__(self, shapes, base, base_coef, head, terms, max_terms, base_blocks=None):
        self.shapes = shapes
        self.base = base
        self.base_coef = float(base_coef) if base is not None else 0.0
        self.head = head
        self.terms = list(terms)
        self.max_terms = max_terms
        self.base_blocks = {} if base_blocks is None else base_blocks
        self.size = sum(a * b for a, b in shapes)
        self.shape = (self.size,)
        self._layers = None

    ndim = 1
    dtype = np.dtype(np.float64)

    @classmethod
    def start(cls, shapes, base, max_terms):
        """The vector ``base`` itself, with no terms."""
        return cls(shapes, base, 1.0, None, [], max_terms)

    def _like(self, base, base_coef, head, terms):
        return LowRankWeights(self.shapes, base, base_coef, head, terms, self.max_terms,
                              self.base_blocks if base is self.base else None)

    def _combine(self, a, other, b):
        """``a self + b other``: factored, or dense when it must be (the fold)."""
        if isinstance(other, np.ndarray) and other.shape == self.shape:
            if other is not self.base:
                return a * np.asarray(self) + b * other
            other = self._like(other, 1.0, None, [])
        elif not isinstance(other, LowRankWeights):
            return NotImplemented
        if other.base is not None and self.base is not None and other.base is not self.base:
            return a * np.asarray(self) + b * np.asarray(other)
        base = self.base if self.base is not None else other.base
        base_coef = a * self.base_coef + b * other.base_coef
        if base_coef == 0.0:
            base = None
        head = _add(self.head, a, other.head, b)
        coefs = {}
        for scale, vector in ((a, self), (b, other)):
            for coef, term in vector.terms:
                coefs[term] = coefs.get(term, 0.0) + scale * coef
        terms = [(coef, term) for term, coef in coefs.items() if coef != 0.0]
        out = self._like(base, base_coef, head, terms)
        if base is not self.base and base is other.base:
            out.base_blocks = other.base_blocks
        per_layer = np.bincount([term.layer for _, term in terms], minlength=1)
        if per_layer.max() > self.max_terms:
            return np.asarray(out)
        return out

    def __add__(self, other):
        return self._combine(1.0, other, 1.0)

    __radd__ = __add__

    def __sub__(self, other):
        return self._combine(1.0, other, -1.0)

    def __rsub__(self, other):
        return self._combine(-1.0, other, 1.0)

    def __mul__(self, scalar):
        if not np.isscalar(scalar):
            return NotImplemented
        scalar = float(scalar)
        return self._like(
            self.base if scalar else None, scalar * self.base_coef,
            None if self.head is None else scalar * self.head,
            [(scalar * c, t) for c, t in self.terms] if scalar else [])

    __rmul__ = __mul__

    def __neg__(self):
        return self * -1.0

    def ravel(self):
        """The vector itself (it is flat)."""
        return self

    def reshape(self, shape):
        """The vector itself; ``shape`` must be its own."""
        if tuple(np.atleast_1d(shape)) not in (self.shape, (-1,)):
            raise ValueError(f"a factored vector of shape {self.shape} cannot take shape "
                             f"{shape}")
        return self

    def squared_norm(self):
        """``||v||^2`` of a vector without base, from the factors.

        ``<H_s^T B_s, H_t^T B_t> = sum((H_s H_t^T) o (B_s B_t^T))``: ``n x n`` products
        of sparse factors, never an ``m x m`` block.

        Returns
        -------
        value : float
        """
        if self.base is not None:
            return float(np.vdot(np.asarray(self), np.asarray(self)))
        total = 0.0 if self.head is None else float(np.vdot(self.head, self.head))
        for i, (a, s) in enumerate(self.terms):
            for b, t in self.terms[i:]:
                total += (1.0 if s is t else 2.0) * a * b * s.inner(t)
        return total

    def layers(self, unpack):
        """The layers: the first dense (``m x d~``), the square ones :class:`FactoredLayer`.

        Parameters
        ----------
        unpack : callable
            The network's ``unpack`` of a dense flat vector (for the base).
        """
        if self._layers is not None:
            return self._layers
        m, d = self.shapes[0]
        base_layers = unpack(self.base) if self.base is not None else None
        first = np.zeros((m, d)) if base_layers is None else self.base_coef * base_layers[0]
        if self.head is not None:
            first = first + self.head
        out = [first]
        for l in range(1, len(self.shapes)):
            S0 = None if base_layers is None else base_layers[l].T
            if S0 is not None and l not in self.base_blocks:
                self.base_blocks[l] = (column_blocks(S0), column_blocks(S0.T))
            out.append(FactoredLayer(S0, self.base_blocks.get(l), self.base_coef,
                                     [(c, t) for c, t in self.terms if t.layer == l]))
        self._layers = out
        return out

    def __array__(self, dtype=None, copy=None):
        """The dense flat vector (``m^2`` work and memory per square layer)."""
        out = (np.zeros(self.size) if self.base is None
               else self.base_coef * self.base)
        m, d = self.shapes[0]
        if self.head is not None:
            out[: m * d] += self.head.ravel()
        starts = np.cumsum([0] + [a * b for a, b in self.shapes])
        for coef, term in self.terms:
            block = out[starts[term.layer] : starts[term.layer + 1]].reshape(m, m)
            H_B = term.block()
            # The product is in canonical form (no repeated entries): one add per entry.
            block[H_B.row, H_B.col] += coef * H_B.data
        return out if dtype is None else out.astype(dtype, copy=False)


def _add(x, a, y, b):
    """``a x + b y`` for arrays that may be ``None`` (zero)."""
    if x is None and y is None:
        return None
    if x is None:
        return b * y
    if y is None:
        return a * x
    return a * x + b * y
