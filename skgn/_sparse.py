"""Sparse activation patterns of the shifted ReLU, and the fired-neuron index.

With the shifted ReLU ``relu(w . x~ - beta ||x~||)`` a sample fires only a fraction
``P(N(0, 1) > t)`` of the ``m`` neurons (``t = beta / sigma``; about 2-3% at
``t = sqrt(0.4 log m)``, ``m = 10**4``), so the activation pattern ``D`` is a sparse
``n x m`` matrix with ``nnz`` fired pairs and every Jacobian product costs ``O(nnz d)``
instead of ``O(n m d)`` (Song, Yang and Zhang 2021; Deng et al. 2022).

:class:`SparseReLUJacobian` is the Jacobian on a CSR pattern. :class:`FiredNeuronIndex`
finds the pattern at new weights without the ``n x m`` product ``X~ W^T``: for neuron
``r`` built at ``w_r_bar`` it keeps the samples whose normalized margin
``(x~_i . w_r_bar - beta ||x~_i||) / ||x~_i||`` lies above ``band`` (surely fired) and
those within ``[-band, band]`` (borderline). By Cauchy-Schwarz the margin at ``w_r``
differs from the stored one by at most ``||w_r - w_r_bar||``, so while that distance is at
most ``band`` only the borderline pairs can change sign and only they are recomputed; a
neuron that moved farther is rebuilt at its new weights (``O(n d)``). The result is the
exact pattern, always.
"""

import numpy as np
from scipy import sparse

from ._network import TwoLayerReLU, thresholds
from ._operators import JacobianOperator

# Rows per block when a pattern is computed densely (bounds the n x m temporaries).
_ROW_BLOCK_BYTES = 64 * 2**20


def _row_blocks(n, m):
    rows = max(1, _ROW_BLOCK_BYTES // (8 * max(m, 1)))
    return [slice(i, min(i + rows, n)) for i in range(0, n, rows)]


def dense_fired_pairs(W, X_tilde, threshold):
    """Fired pairs ``(i, r)`` and their shifted pre-activations, by row blocks of ``X~ W^T``.

    Parameters
    ----------
    W : ndarray of shape (n_neurons, n_inputs)
        Weights.
    X_tilde : ndarray of shape (n_samples, n_inputs)
        Inputs with the bias column.
    threshold : float
        ``beta``.

    Returns
    -------
    rows, cols : ndarray of int64
        Fired pairs (``x~_i . w_r > beta ||x~_i||``), row-major.
    """
    c = thresholds(X_tilde, threshold)
    rows, cols = [], []
    for block in _row_blocks(X_tilde.shape[0], W.shape[0]):
        Z = X_tilde[block] @ W.T
        Z -= c[block, None]
        i, r = np.nonzero(Z > 0)
        rows.append(i + block.start)
        cols.append(r)
    return np.concatenate(rows), np.concatenate(cols)


class FiredPairs:
    """The fired pairs of a pattern.

    Parameters
    ----------
    rows, cols : ndarray of int
        Sample and neuron of each fired pair.
    shape : tuple of int
        ``(n_samples, n_neurons)``.
    """

    def __init__(self, rows, cols, shape):
        self.rows, self.cols, self.shape = rows, cols, shape
        self._pattern = self._pattern_t = None

    @property
    def nnz(self):
        """Number of fired pairs."""
        return self.rows.size

    def pattern(self):
        """The 0/1 pattern ``D01`` as a CSR matrix of float64 (built once)."""
        if self._pattern is None:
            ones = np.ones(self.nnz)
            self._pattern = sparse.csr_matrix((ones, (self.rows, self.cols)),
                                              shape=self.shape)
        return self._pattern

    def pattern_t(self):
        """The transposed pattern ``D01^T`` as a CSR matrix (built once)."""
        if self._pattern_t is None:
            self._pattern_t = self.pattern().T.tocsr()
        return self._pattern_t

    def outputs(self, W, X_tilde, signs, threshold):
        """``relu(X~ W^T - c) A / sqrt(m)`` from the fired pairs, shape (n_samples, k).

        On the fired pairs ``relu(z) = z``, so output ``j`` is
        ``rowsum((D01 (A_j o W)) o X~) - c o (D01 A_j)``: two sparse products, ``O(nnz d)``,
        and no per-pair gathers.
        """
        n, m = self.shape
        # CSC (the transpose's CSR) when m > n: see SparseReLUJacobian._matmat.
        D = self.pattern_t().T if m > n else self.pattern()
        c = thresholds(X_tilde, threshold)
        out = np.empty((self.shape[0], signs.shape[1]))
        for j in range(signs.shape[1]):
            out[:, j] = np.einsum("ic,ic->i", D @ (signs[:, j, None] * W), X_tilde)
            if threshold:
                out[:, j] -= c * (D @ signs[:, j])
        return out / np.sqrt(self.shape[1])


class FiredNeuronIndex:
    """The exact fired pattern of the shifted ReLU at any weights, from a banded index.

    Parameters
    ----------
    X_tilde : ndarray of shape (n_samples, n_inputs)
        The training inputs (the index answers for these rows only).
    W : ndarray of shape (n_neurons, n_inputs)
        Weights to build at (usually ``W0``).
    threshold : float
        ``beta`` of the shifted ReLU.
    band : float
        Half-width of the borderline band of normalized margins; a neuron that moves
        farther than ``band`` from where it was built is rebuilt.

    Attributes
    ----------
    n_rebuilt_ : int
        Neurons rebuilt by the last :meth:`query`.
    n_borderline_ : int
        Borderline pairs recomputed by the last :meth:`query`.
    """

    def __init__(self, X_tilde, W, threshold, band):
        self.X_tilde = X_tilde
        self.threshold = float(threshold)
        self.band = float(band)
        self.norms = np.sqrt(np.einsum("ic,ic->i", X_tilde, X_tilde))
        self._X_columns = np.ascontiguousarray(X_tilde.T)
        self.c = self.threshold * self.norms
        n, m = X_tilde.shape[0], W.shape[0]
        self.shape = (n, m)
        self.W_built = np.array(W, dtype=np.float64, copy=True)
        # int32 pair indices (n, m < 2**31): half the memory traffic of int64 when the
        # pair lists are filtered, gathered and concatenated at every step.
        empty = np.empty(0, dtype=np.int32)
        self._sure = (empty, empty)
        self._band = (empty, empty)
        self._last = None
        self._build(np.arange(m))
        self.n_rebuilt_, self.n_borderline_ = m, self._band[0].size
        self._totals = {"index_rebuilt": 0, "index_borderline": 0}

    def counters(self, reset=False):
        """Neurons rebuilt and borderline pairs recomputed by queries since the last reset.

        Parameters
        ----------
        reset : bool, default=False
            Start counting anew after reading.

        Returns
        -------
        counters : dict
            ``index_rebuilt`` and ``index_borderline``.
        """
        out = dict(self._totals)
        if reset:
            self._totals = {key: 0 for key in out}
        return out

    def _build(self, neurons):
        """Classify every sample for ``neurons`` at ``W_built``; replace their entries."""
        keep = np.ones(self.shape[1], dtype=bool)
        keep[neurons] = False
        sure_rows, sure_cols = self._sure
        band_rows, band_cols = self._band
        sure = [sure_rows[keep[sure_cols]]], [sure_cols[keep[sure_cols]]]
        near = [band_rows[keep[band_cols]]], [band_cols[keep[band_cols]]]
        W = self.W_built[neurons]
        for block in _row_blocks(self.shape[0], len(neurons)):
            # Normalized margins (x~_i . w_r - beta ||x~_i||) / ||x~_i||.
            margin = self.X_tilde[block] @ W.T
            margin -= self.c[block, None]
            margin /= np.maximum(self.norms[block, None], np.finfo(np.float64).tiny)
            # One pass finds every pair above -band; its margin splits sure from near.
            i, r = np.nonzero(margin >= -self.band)
            is_sure = margin[i, r] > self.band
            i = (i + block.start).astype(np.int32)
            r = neurons[r].astype(np.int32)
            for target, mask in ((sure, is_sure), (near, ~is_sure)):
                target[0].append(i[mask])
                target[1].append(r[mask])
        self._sure = (np.concatenate(sure[0]), np.concatenate(sure[1]))
        self._band = (np.concatenate(near[0]), np.concatenate(near[1]))

    def _dots(self, rows, cols, W):
        """``x~_i . w_r - c_i`` for the given pairs, one input coordinate at a time.

        Gathering from the columns of ``X~`` and ``W`` (small, cache-resident vectors)
        avoids ``len(rows) x d`` temporaries.
        """
        # Platform-size indices once, instead of a conversion in each of the 2 d~ gathers.
        rows, cols = rows.astype(np.intp), cols.astype(np.intp)
        out = -self.c[rows]
        for X_col, W_col in zip(self._X_columns, np.ascontiguousarray(W.T)):
            out += X_col[rows] * W_col[cols]
        return out

    def query(self, W):
        """The fired pairs at ``W`` (cached for the last ``W`` asked).

        Parameters
        ----------
        W : ndarray of shape (n_neurons, n_inputs)
            Weights.

        Returns
        -------
        pairs : FiredPairs
            Exactly the pairs with ``x~_i . w_r > beta ||x~_i||``.
        """
        if self._last is not None and np.array_equal(self._last[0], W):
            return self._last[1]
        moved = np.sqrt(np.sum((W - self.W_built) ** 2, axis=1))
        far = np.flatnonzero(moved > self.band)
        if far.size:
            self.W_built[far] = W[far]
            self._build(far)
        self.n_rebuilt_ = far.size
        sure_rows, sure_cols = self._sure
        band_rows, band_cols = self._band
        on = self._dots(band_rows, band_cols, W) > 0
        self.n_borderline_ = band_rows.size
        self._totals["index_rebuilt"] += self.n_rebuilt_
        self._totals["index_borderline"] += self.n_borderline_
        rows = np.concatenate([sure_rows, band_rows[on]])
        cols = np.concatenate([sure_cols, band_cols[on]])
        pairs = FiredPairs(rows, cols, self.shape)
        self._last = (np.array(W, copy=True), pairs)
        return pairs


class SparseReLUJacobian(JacobianOperator):
    """Jacobian of the (shifted) ReLU network on a sparse activation pattern.

    The same operator as :class:`~skgn._network.ReLUJacobian` (see there for the forward
    and adjoint maps), with the pattern ``D`` stored as a CSR matrix of its ``nnz``
    fired pairs: ``J v`` and ``J^T z`` cost ``O(nnz d~)`` per output and vector, the Gram
    ``O(n^2 d~ + sum_r c_r^2)`` (``c_r`` samples firing neuron ``r``) and ``c`` Gram
    columns ``O(c n d~ + sum_r c_r c'_r)`` (``c'_r`` of the ``c`` samples firing ``r``),
    through sparse products; no ``n x m`` array.

    Parameters
    ----------
    pattern : scipy.sparse.csr_matrix of shape (n_samples, n_neurons)
        The 0/1 activation pattern.
    X_tilde : ndarray of shape (n_samples, n_inputs)
        Inputs with the bias column.
    signs : ndarray of shape (n_neurons, n_outputs)
        Output signs.
    row_weights : ndarray of shape (n_samples,), default=None
        Row scaling (square roots of sample weights).
    pattern_t : scipy.sparse.csr_matrix of shape (n_neurons, n_samples), default=None
        The transposed 0/1 pattern, when the caller has it already; ``None`` builds it.
    """

    capabilities = frozenset({"gram", "gram_columns", "squared_row_norms", "kron_factors"})

    def __init__(self, pattern, X_tilde, signs, row_weights=None, pattern_t=None):
        n, d = X_tilde.shape
        m, k = signs.shape
        self.pattern01 = sparse.csr_matrix(pattern, dtype=np.float64)
        # D = pattern / sqrt(m), as in the dense operator.
        self.pattern = self.pattern01 * (1.0 / np.sqrt(m))
        self.pattern_t = (self.pattern.T.tocsr() if pattern_t is None
                          else sparse.csr_matrix(pattern_t, dtype=np.float64) * (1.0 / np.sqrt(m)))
        self.X_tilde = np.asarray(X_tilde, dtype=np.float64)
        self.signs = np.asarray(signs, dtype=np.float64)
        self.row_weights = None if row_weights is None else np.asarray(row_weights, np.float64)
        self.n_samples, self.n_inputs, self.n_neurons, self.n_outputs = n, d, m, k
        self._gram = None
        super().__init__(shape=(k * n, m * d))

    def _matmat(self, V):
        n, d, m, k = self.n_samples, self.n_inputs, self.n_neurons, self.n_outputs
        p = V.shape[1]
        Vs = np.asarray(V, dtype=np.float64).reshape(m, d, p).transpose(0, 2, 1)
        out = np.empty((k, n, p))
        # With more neurons than samples the (m x p d~) operand outgrows the cache: the
        # CSC form (pattern_t.T) streams it once and scatters into the smaller n x p d~
        # result, where CSR rows would gather from it at random (6x faster at n = 4,000,
        # m = 131,072; the sums run in the same order, so the results are identical).
        D = self.pattern_t.T if m > n else self.pattern
        for j in range(k):
            G = D @ (self.signs[:, j, None, None] * Vs).reshape(m, p * d)
            out[j] = np.einsum("iqc,ic->iq", G.reshape(n, p, d), self.X_tilde)
        if self.row_weights is not None:
            out *= self.row_weights[None, :, None]
        return out.reshape(k * n, p)

    def _rmatmat(self, Z):
        n, d, m, k = self.n_samples, self.n_inputs, self.n_neurons, self.n_outputs
        p = Z.shape[1]
        Z = np.asarray(Z, dtype=np.float64).reshape(k, n, p)
        if self.row_weights is not None:
            Z = Z * self.row_weights[None, :, None]
        out = np.zeros((m, d, p))
        for j in range(k):
            B = Z[j][:, :, None] * self.X_tilde[:, None, :]
            M = (self.pattern_t @ B.reshape(n, p * d)).reshape(m, p, d)
            out += self.signs[:, j, None, None] * M.transpose(0, 2, 1)
        return out.reshape(m * d, p)

    def _weighted_inner(self, rows=None):
        """``s s^T o (X~ X~[rows]^T)`` in float64."""
        cols = slice(None) if rows is None else rows
        XX = self.X_tilde @ self.X_tilde[cols].T
        if self.row_weights is not None:
            XX *= np.outer(self.row_weights, self.row_weights[cols])
        return XX

    def _counts(self, j, l, samples=None):
        """Signed co-firing counts ``(D01 diag(A_j o A_l) D01[samples]^T)``, dense."""
        left = self.pattern01 @ sparse.diags(self.signs[:, j] * self.signs[:, l])
        right = self.pattern01 if samples is None else self.pattern01[samples]
        return (left @ right.T).toarray()

    def gram(self):
        """The Gram matrix ``J J^T`` by the tensor trick on the sparse pattern, cached.

        Returns
        -------
        K : ndarray of shape (n_outputs * n_samples, n_outputs * n_samples)
        """
        if self._gram is not None:
            return self._gram
        n, m, k = self.n_samples, self.n_neurons, self.n_outputs
        XX = self._weighted_inner()
        K = np.empty((k * n, k * n))
        for j in range(k):
            for l in range(j, k):
                block = XX * (self._counts(j, l) / m)
                K[j * n : (j + 1) * n, l * n : (l + 1) * n] = block
                if l != j:
                    K[l * n : (l + 1) * n, j * n : (j + 1) * n] = block.T
        self._gram = K
        return K

    def _gram_columns(self, columns):
        """Columns ``K[:, columns]`` of ``K = J J^T`` from sparse co-firing counts."""
        n, m, k = self.n_samples, self.n_neurons, self.n_outputs
        outputs, samples = np.divmod(np.asarray(columns), n)
        XX = self._weighted_inner(samples)
        C = np.empty((k * n, len(samples)))
        for l in np.unique(outputs):
            chosen = np.flatnonzero(outputs == l)
            for j in range(k):
                counts = self._counts(j, l, samples[chosen])
                C[j * n : (j + 1) * n, chosen] = XX[:, chosen] * (counts / m)
        return C

    def squared_row_norms(self):
        """Diagonal of ``J J^T``: ``s_i^2 ||x~_i||^2 (fired neurons of i) / m``.

        Returns
        -------
        diag : ndarray of shape (n_outputs * n_samples,)
        """
        per_sample = np.einsum("ic,ic->i", self.X_tilde, self.X_tilde)
        per_sample *= np.diff(self.pattern01.indptr) / self.n_neurons
        if self.row_weights is not None:
            per_sample *= self.row_weights**2
        return np.tile(per_sample, self.n_outputs)

    def kron_factors(self):
        """Sparse neuron factors ``U`` (CSR, k n x m) and dense input factors ``V``.

        Returns
        -------
        U : scipy.sparse.csr_matrix of shape (n_outputs * n_samples, n_neurons)
        V : ndarray of shape (n_outputs * n_samples, n_inputs)
        """
        D = self.pattern
        if self.row_weights is not None:
            D = sparse.diags(self.row_weights) @ D
        U = sparse.vstack([D @ sparse.diags(self.signs[:, j]) for j in range(self.n_outputs)])
        return U.tocsr(), np.tile(self.X_tilde, (self.n_outputs, 1))


class SparseTwoLayerReLU(TwoLayerReLU):
    """The shifted-ReLU network computed on its fired pairs only.

    Outputs and Jacobians equal :class:`~skgn._network.TwoLayerReLU`'s (to rounding); the
    pattern is found by the ``index`` for the rows it was built on and by blocks of
    ``X~ W^T`` otherwise, and only the fired pairs are stored.

    Parameters
    ----------
    signs : ndarray of shape (n_neurons, n_outputs)
        Output signs.
    threshold : float
        ``beta`` of the shifted ReLU.
    index : FiredNeuronIndex, default=None
        Index over the training inputs; ``None`` recomputes the pattern densely by blocks.
    """

    def __init__(self, signs, threshold, index=None):
        super().__init__(signs, threshold=threshold)
        self.index = index
        self._fired = self._pairs = 0

    def diagnostics(self):
        """Fired pairs of the last pattern and the index's work since the last call.

        Returns
        -------
        counters : dict
            ``fired_fraction`` (of the ``n m`` pairs) and, with an index,
            ``index_rebuilt`` (neurons rebuilt) and ``index_borderline`` (pairs
            recomputed).
        """
        out = {"fired_fraction": self._fired / max(self._pairs, 1)}
        if self.index is not None:
            out.update(self.index.counters(reset=True))
        return out

    def fired_pairs(self, W, X_tilde):
        """The fired pairs at ``W`` on ``X~`` (from the index when it covers ``X~``)."""
        if self.index is not None and X_tilde is self.index.X_tilde:
            pairs = self.index.query(W)
        else:
            rows, cols = dense_fired_pairs(W, X_tilde, self.threshold)
            pairs = FiredPairs(rows, cols, (X_tilde.shape[0], W.shape[0]))
        self._fired, self._pairs = pairs.nnz, X_tilde.shape[0] * W.shape[0]
        return pairs

    def predict(self, W, X_tilde):
        """Outputs from the fired pairs, shape (n_samples, n_outputs)."""
        return self.fired_pairs(W, X_tilde).outputs(W, X_tilde, self.signs, self.threshold)

    def jacobian(self, W, X_tilde, row_weights=None):
        """The Jacobian at ``W`` on the sparse pattern: a :class:`SparseReLUJacobian`."""
        pairs = self.fired_pairs(W, X_tilde)
        return SparseReLUJacobian(pairs.pattern(), X_tilde, self.signs,
                                  row_weights=row_weights, pattern_t=pairs.pattern_t())
