"""Deep ReLU networks (``depth`` hidden layers of width ``m``) and their Jacobian.

The network (Song, Zhang and Zhang 2021, in the NTK parametrization)::

    z_1 = W_1 x~,            h_1 = relu(z_1)                     W_1: (m, d~)
    z_l = c W_l h_{l-1},     h_l = relu(z_l),  c = sqrt(2 / m)   W_l: (m, m), l = 2..L
    f_j(x) = (1 / sqrt(m)) A[:, j] . h_L

with ``W_1 ~ sigma N(0, 1)``, ``W_l ~ N(0, 1)`` for ``l >= 2`` (He scaling keeps the
variance of ``z_l`` across layers) and fixed output signs ``A``. All ``W_l`` are trained;
the parameter vector is ``[vec(W_1), vec(W_2^T), ..., vec(W_L^T)]`` (C order): the square
layers are stored transposed, so that ``W_l^T``, the right operand of ``H_{l-1} W_l^T``
and of its sparse form, is contiguous without a copy of ``m^2`` entries per product.

Back-propagated vectors ``beta_l = df_j / dz_l``::

    beta_L = D_L o A[:, j] / sqrt(m),    beta_{l-1} = D_{l-1} o (c W_l^T beta_l)

(``D_l = 1[z_l > 0]``), so the Jacobian row of output ``j``, sample ``i`` is, layer by
layer, ``beta_1 (x) x~`` and ``c beta_l (x) h_{l-1}``: each layer's block is a Kronecker
product, and the Gram is the per-layer tensor trick

    J J^T = sum_l (V_l V_l^T) o (H_{l-1} H_{l-1}^T),

with ``V_1 = beta_1``, ``V_l = c beta_l``, ``H_0 = X~``, in ``O(L n^2 m)`` after the
``O(L n m^2)`` passes, never forming the ``n x (m d~ + (L - 1) m^2)`` Jacobian.

Shifted ReLU (``shift = t > 0``, the sparse path of Song, Zhang and Zhang)::

    h_l = relu(z_l - t s_l ||h_{l-1}|| 1),     s_1 = sigma,  s_l = c  (l >= 2),

the two-layer network's ``relu(w . x~ - t sigma ||x~||)`` at every layer: ``s_l ||h_{l-1}||``
is the standard deviation of each entry of ``z_l`` given ``h_{l-1}`` at initialization,
so every layer fires a fraction ``Q(t)`` (the normal upper tail) of its neurons on every
sample, and the network stays positively homogeneous in ``x~``. For ``l >= 2`` the
threshold depends on the layer below, which adds a rank-one term to each layer's
derivative: with ``u_l = h_{l-1} / ||h_{l-1}||``,

    dZ_l = c (H_{l-1} Delta_l^T + dH_{l-1} W_l^T) - t c <u_l, dH_{l-1}> 1,
    B_{l-1} = D_{l-1} o (c B_l W_l - t c (B_l 1) u_l^T).

The layer outputs ``H_l`` (``l >= 1``) are then sparse, with ``s = Q(t) m`` entries per
row, and every product through an ``m x m`` layer costs ``O(n s m)`` instead of
``O(n m^2)``: ``H_{l-1} W_l^T`` and ``(D_l o dZ_l) W_l^T`` multiply sparse rows, and the
back-propagated ``B_l W_l`` starts from rows with ``s`` entries. The Gram's per-layer
factors stay sparse, and their products cost ``O(L n^2 s^2 / m)`` instead of
``O(L n^2 m)``.

With the shift, a fit that starts at its initialization keeps the weights lazily
(:mod:`skgn._lowrank`): ``W_l^T = W_l0^T + sum_t a_t H_t^T B_t``. The square layers are
then :class:`~skgn._lowrank.FactoredLayer` objects, whose products the same code
calls through :func:`_right` and :func:`_left`.
"""

import numpy as np
from scipy import sparse
from scipy.stats import norm

from ._network import Network
from ._operators import JacobianOperator
from ._lowrank import (FactoredLayer, LowRankWeights, Term, column_blocks, lazy_max_terms,
                       sparse_dense)

def _right(X, layer, blocks=None):
    """``X W_l^T`` for a dense ``W_l`` (``blocks``: the column blocks of ``W_l^T``) or a
    :class:`~skgn._lowrank.FactoredLayer` (whose stored block is ``W_l^T``)."""
    if isinstance(layer, FactoredLayer):
        return layer.right(X)
    return sparse_dense(X, layer.T, blocks) if sparse.issparse(X) else X @ layer.T


def _left(B, layer, blocks=None):
    """``B W_l`` for a dense ``W_l`` (``blocks``: the column blocks of ``W_l``) or a
    :class:`~skgn._lowrank.FactoredLayer`."""
    if isinstance(layer, FactoredLayer):
        return layer.left(B)
    return sparse_dense(B, layer, blocks) if sparse.issparse(B) else B @ layer


def _rows_of(H):
    """The row index of every stored entry of CSR ``H``."""
    return np.repeat(np.arange(H.shape[0]), np.diff(H.indptr))


def _on_pattern(H, rows, values):
    """``values`` (dense n x m) restricted to the sparsity pattern of CSR ``H``, whose
    stored entries lie in ``rows`` (``_rows_of(H)``)."""
    data = values[rows, H.indices]
    return sparse.csr_matrix((data, H.indices, H.indptr), shape=H.shape)


def _row_norms(H):
    """Euclidean norm of each row of a dense or CSR matrix."""
    if sparse.issparse(H):
        return np.sqrt(np.asarray(H.multiply(H).sum(axis=1)).ravel())
    return np.linalg.norm(H, axis=1)


def _safe_inverse(norms):
    """``1 / norms`` with 0 for a zero row (nothing fired: the layer above is zero)."""
    return np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)


def _outer(A, rows=None):
    """``A A[rows]^T`` (every row without ``rows``) as a dense array, ``A`` dense or CSR."""
    product = A @ (A if rows is None else A[rows]).T
    return product.toarray() if sparse.issparse(product) else product


def _squared_rows(A):
    """Squared Euclidean norm of each row of a dense or CSR matrix."""
    if sparse.issparse(A):
        return np.asarray(A.multiply(A).sum(axis=1)).ravel()
    return np.einsum("qa,qa->q", A, A)


def _dense(A):
    """A dense ndarray of a sparse or dense matrix."""
    return A.toarray() if sparse.issparse(A) else A


class DeepReLU(Network):
    """A ReLU network with ``depth`` trained hidden layers of equal width and fixed signs.

    Parameters
    ----------
    signs : ndarray of shape (n_neurons, n_outputs)
        Output signs ``A``.
    n_inputs : int
        Input width ``d~`` (bias feature included).
    depth : int
        Number of hidden layers ``L`` (at least 2; ``L = 1`` is
        :class:`~skgn._network.TwoLayerReLU`).
    reference : ndarray, default=None
        Parameters whose output is subtracted, ``f(x) = g(x; W) - g(x; reference)``, so
        that the network is zero at ``W = reference`` with the Jacobian of ``g``
        unchanged (``init='centered'``). Pairing the neurons of one layer, as the
        two-layer network does, would not do here: paired rows of ``W_L`` with opposite
        output signs cancel every back-propagated vector below layer ``L``, so the lower
        layers would get no gradient at initialization and the tangent kernel would lose
        their terms.
    shift : float, default=0.0
        The shifted ReLU's ``t``: every layer fires about a fraction ``Q(t)`` of its
        neurons and its outputs are stored sparse (module docstring); 0 is the ReLU.
    init_scale : float, default=1.0
        Standard deviation ``sigma`` of ``W_1`` at initialization (it sets the
        thresholds' scale).
    max_terms : int, default=None
        With the shift, the low-rank terms a lazy parameter vector may hold per layer
        before it is folded into dense weights (:mod:`skgn._lowrank`); ``None`` chooses
        by cost (:func:`~skgn._lowrank.lazy_max_terms`), 0 keeps the weights dense.
    """

    def __init__(self, signs, n_inputs, depth, reference=None, shift=0.0, init_scale=1.0,
                 max_terms=None):
        self.signs = np.asarray(signs, dtype=np.float64)
        self.max_terms = max_terms
        self.n_inputs = int(n_inputs)
        self.depth = int(depth)
        self.reference = None if reference is None else np.asarray(reference, np.float64)
        self.shift = float(shift)
        # tau_l = t s_l ||h_{l-1}||, s_1 = sigma, s_l = c (module docstring).
        c = np.sqrt(2.0 / self.n_neurons)
        self.threshold_scales = [self.shift * (init_scale if l == 0 else c)
                                 for l in range(depth)]
        # The last forward pass and the reference's outputs, keyed by the identity of the
        # arrays they were computed from (the Gauss-Newton loop never changes an array in
        # place): the Jacobian at an accepted trial point reuses the trial's forward pass,
        # and the reference's outputs on the training inputs are computed once. Each pass
        # through the m x m layers costs O(n m^2).
        self._last_forward = None
        self._reference_outputs = None

    @property
    def n_neurons(self):
        """Width ``m``."""
        return self.signs.shape[0]

    @property
    def shapes(self):
        """Shapes of ``W_1, ..., W_L``."""
        m = self.n_neurons
        return [(m, self.n_inputs)] + [(m, m)] * (self.depth - 1)

    def unpack(self, params):
        """Split the flat parameter vector into the layer matrices ``W_l`` (views; the
        square ones are the transposes of contiguous blocks).

        A :class:`~skgn._lowrank.LowRankWeights` vector gives its first layer dense and
        its square layers as :class:`~skgn._lowrank.FactoredLayer` (their stored blocks
        ``S_l = W_l^T``, not ``W_l``).
        """
        if isinstance(params, LowRankWeights):
            return params.layers(self.unpack)
        params = np.asarray(params, dtype=np.float64).ravel()
        out, start = [], 0
        for l, (rows, cols) in enumerate(self.shapes):
            block = params[start : start + rows * cols]
            out.append(block.reshape(rows, cols) if l == 0 else block.reshape(cols, rows).T)
            start += rows * cols
        return out

    @classmethod
    def initialize(cls, rng, n_inputs, n_outputs, *, n_neurons, depth, init="centered",
                   init_scale=1.0, shift=0.0):
        """Draw ``W_1 ~ init_scale N(0, 1)``, ``W_l ~ N(0, 1)`` and signs in {-1, +1}.

        With ``init='centered'`` (or its alias ``'symmetric'``) the network subtracts its
        initial output (``reference`` is the drawn parameters), so it is identically zero
        at initialization.

        Parameters
        ----------
        rng : numpy.random.RandomState
            Source of the draws.
        n_inputs, n_outputs : int
            ``d~`` and ``k``.
        n_neurons : int
            Width ``m``.
        depth : int
            Hidden layers ``L >= 2``.
        init : {'centered', 'symmetric', 'random'}, default='centered'
            Whether the network starts at zero (subtracting its initial output);
            ``'symmetric'`` means ``'centered'`` here.
        init_scale : float, default=1.0
            Standard deviation of ``W_1``.
        shift : float, default=0.0
            The shifted ReLU's ``t`` (0: the plain ReLU).

        Returns
        -------
        network : DeepReLU
        params : ndarray of shape (m d~ + (L - 1) m^2,)
        """
        m = n_neurons
        # The square layers are drawn in their stored (transposed) layout.
        blocks = [init_scale * rng.standard_normal(m * n_inputs)]
        blocks += [rng.standard_normal(m * m) for _ in range(depth - 1)]
        signs = rng.choice([-1.0, 1.0], size=(m, n_outputs))
        params = np.concatenate(blocks)
        reference = params.copy() if init in ("centered", "symmetric") else None
        return cls(signs, n_inputs, depth, reference=reference, shift=shift,
                   init_scale=init_scale), params

    def forward(self, params, X_tilde):
        """Layer inputs ``H_0 = X~, H_1, ..., H_L`` and patterns ``D_1, ..., D_L``.

        The result for the same ``params`` and ``X_tilde`` objects as the previous call
        is returned from a cache; the arrays must not be changed in place.
        """
        cached = self._last_forward
        if cached is not None and cached[0] is params and cached[1] is X_tilde:
            return cached[2], cached[3]
        layers = self.unpack(params)
        c = np.sqrt(2.0 / self.n_neurons)
        H, D = [np.asarray(X_tilde, dtype=np.float64)], []
        for l, W in enumerate(layers):
            Z = _right(H[-1], W, None) if l > 0 else H[-1] @ W.T
            if l > 0:
                Z *= c
            if self.shift:
                Z -= self.threshold_scales[l] * _row_norms(H[-1])[:, None]
            # With the shift, D_l is the pattern of the sparse H_l (not stored).
            D.append(None if self.shift else Z > 0)
            Z = np.maximum(Z, 0.0, out=Z)
            H.append(sparse.csr_matrix(Z) if self.shift else Z)
        self._last_forward = (params, X_tilde, H, D)
        return H, D

    def trainable(self, params, anchor, n_samples):
        """The parameters the Gauss-Newton loop starts from: lazy when it pays.

        With the shift, a fit that starts at its anchor keeps its weights as the anchor
        plus the steps' sparse low-rank factors (:mod:`skgn._lowrank`) when
        :func:`~skgn._lowrank.lazy_max_terms` (or ``max_terms``) allows a term;
        otherwise a dense copy.

        Parameters
        ----------
        params : ndarray
            Starting parameters.
        anchor : ndarray
            The ridge term's anchor ``W0``.
        n_samples : int
            Training samples ``n``.

        Returns
        -------
        params : ndarray or LowRankWeights
        """
        max_terms = self.max_terms
        if max_terms is None:
            fired = self.n_neurons * norm.sf(self.shift)
            max_terms = lazy_max_terms(n_samples, self.n_neurons, fired) if self.shift else 0
        if self.shift and max_terms > 0 and params is anchor:
            return LowRankWeights.start(self.shapes, anchor, max_terms)
        return super().trainable(params, anchor, n_samples)

    def predict(self, params, X_tilde):
        """Outputs ``h_L A / sqrt(m)`` (less the reference's), shape (n_samples, n_outputs)."""
        H, _ = self.forward(params, X_tilde)
        out = np.asarray(H[-1] @ self.signs) / np.sqrt(self.n_neurons)
        if self.reference is not None:
            cached = self._reference_outputs
            if cached is None or cached[0] is not X_tilde:
                # Not through forward(): the reference must not evict the trained pass.
                saved = self._last_forward
                H0, _ = self.forward(self.reference, X_tilde)
                self._last_forward = saved
                cached = self._reference_outputs = (
                    X_tilde, np.asarray(H0[-1] @ self.signs) / np.sqrt(self.n_neurons))
            out -= cached[1]
        return out

    def jacobian(self, params, X_tilde, row_weights=None):
        """The Jacobian at ``params``: a :class:`DeepReLUJacobian`."""
        return DeepReLUJacobian(self, params, X_tilde, row_weights=row_weights)


class DeepReLUJacobian(JacobianOperator):
    """Jacobian of :class:`DeepReLU`, applied by forward mode and back-propagation.

    Forward, ``v = [vec(Delta_1), vec(Delta_2^T), ..., vec(Delta_L^T)]``::

        dZ_1 = X~ Delta_1^T,  dZ_l = c (H_{l-1} Delta_l^T + (D_{l-1} o dZ_{l-1}) W_l^T)
        (J v)[j n + i] = s_i (D_L o dZ_L)[i] . A[:, j] / sqrt(m)

    Adjoint, ``z`` reshaped to ``(k, n)``::

        B_L = D_L o (sum_j (s o z_j) A[:, j]^T) / sqrt(m),  B_{l-1} = D_{l-1} o (c B_l W_l)
        J^T z = [vec(B_1^T X~), vec(c H_1^T B_2), ..., vec(c H_{L-1}^T B_L)]

    Each costs ``O(n (m d~ + (L - 1) m^2))`` per vector, ``O(n (m d~ + (L - 1) s m))``
    with the shift (``s`` fired neurons per sample and layer; module docstring).

    Parameters
    ----------
    network : DeepReLU
        The network.
    params : ndarray
        Flat parameters at the linearization point.
    X_tilde : ndarray of shape (n_samples, n_inputs)
        Inputs with the bias column.
    row_weights : ndarray of shape (n_samples,), default=None
        Row scaling (square roots of sample weights).
    """

    capabilities = frozenset({"gram", "gram_columns", "squared_row_norms", "kron_blocks"})

    def __init__(self, network, params, X_tilde, row_weights=None):
        self.network = network
        self.layers = network.unpack(params)
        # Weights kept lazily give their steps in factored form too.
        if isinstance(params, LowRankWeights):
            self.capabilities = type(self).capabilities | {"factored_adjoint"}
            self.max_terms = params.max_terms
        self.inputs_, self.patterns_ = network.forward(params, X_tilde)
        self.row_weights = row_weights
        self.signs = network.signs
        self.c = np.sqrt(2.0 / network.n_neurons)
        n, k = X_tilde.shape[0], self.signs.shape[1]
        self.n_samples, self.n_outputs = n, k
        self._gram = None
        self._blocks = None
        # With the shift the layer outputs are sparse; the sparse products take column
        # blocks of W_l^T (forward) and W_l (back-propagation), copied once per
        # linearization.
        self.sparse = bool(network.shift)
        if self.sparse:
            # (A factored layer's base has its blocks made once, with the base.)
            self._blocks_T = [None] + [None if isinstance(W, FactoredLayer)
                                       else column_blocks(W.T) for W in self.layers[1:]]
            self._blocks_W = [None] + [None if isinstance(W, FactoredLayer)
                                       else column_blocks(W) for W in self.layers[1:]]
            # Entry rows of each sparse H_l and the unit rows u = h_l / ||h_l|| (same
            # pattern) of the thresholds' rank-one derivative terms.
            self._rows = [None] + [_rows_of(H) for H in self.inputs_[1:]]
            self._units = [None] + [
                sparse.csr_matrix((H.data * _safe_inverse(_row_norms(H))[rows], H.indices,
                                   H.indptr), shape=H.shape)
                for H, rows in zip(self.inputs_[1:], self._rows[1:])]
            self._tc = network.shift * self.c
        P = sum(a * b for a, b in network.shapes)
        super().__init__(shape=(k * n, P))

    def _mask(self, l, values):
        """``D_l o values`` for a layer ``l >= 1`` (sparse, on ``H_l``'s pattern, with the
        shift)."""
        if self.sparse:
            return _on_pattern(self.inputs_[l], self._rows[l], values)
        return self.patterns_[l - 1] * values

    def _forward(self, l, dZ, delta):
        """``dZ`` of the layer above ``H_l`` (``l >= 1``) from ``dZ_l`` and its ``Delta``."""
        dH = self._mask(l, dZ)
        if self.sparse:
            out = _right(self.inputs_[l], delta)
            out += _right(dH, self.layers[l], self._blocks_T[l])
            out *= self.c
        else:
            out = self.c * (self.inputs_[l] @ delta.T + dH @ self.layers[l].T)
        if self.sparse:
            # - t c <u_l, dH_l>: the threshold follows ||h_l||.
            dots = np.bincount(self._rows[l], self._units[l].data * dH.data,
                               minlength=self.n_samples)
            out -= self._tc * dots[:, None]
        return out

    def _back(self, l, B):
        """``B_l`` (``l >= 1``) from the back-propagated ``B`` of the layer above."""
        through = _left(B, self.layers[l], self._blocks_W[l] if self.sparse else None)
        out = self._mask(l, self.c * through)
        if self.sparse:
            # - t c (B 1) u_l^T, on H_l's pattern like the masked term.
            sums = np.asarray(B.sum(axis=1)).ravel()
            out.data -= self._tc * sums[self._rows[l]] * self._units[l].data
        return out

    def _column(self, v):
        """``J v`` of one flat (or factored) direction, shape ``(k, n)``, unweighted."""
        deltas = self.network.unpack(v)
        dZ = self.inputs_[0] @ deltas[0].T
        for l in range(1, len(self.layers)):
            dZ = self._forward(l, dZ, deltas[l])
        m = self.network.n_neurons
        return np.asarray(self._mask(len(self.layers), dZ) @ self.signs).T / np.sqrt(m)

    def _matmat(self, V):
        n, k = self.n_samples, self.n_outputs
        p = V.shape[1]
        out = np.empty((k, n, p))
        for q in range(p):
            out[:, :, q] = self._column(V[:, q])
        if self.row_weights is not None:
            out *= self.row_weights[None, :, None]
        return out.reshape(k * n, p)

    def matvec(self, v):
        """``J v``; a :class:`~skgn._lowrank.LowRankWeights` direction without base is
        applied from its factors (the forward mode of its factored layers).

        Parameters
        ----------
        v : ndarray of shape (P,) or LowRankWeights

        Returns
        -------
        out : ndarray of shape (n_outputs * n_samples,)
        """
        if not isinstance(v, LowRankWeights):
            return super().matvec(v)
        if v.base is not None:
            return super().matvec(np.asarray(v))
        out = self._column(v)
        if self.row_weights is not None:
            out = out * self.row_weights[None, :]
        return out.ravel()

    def _rmatmat(self, Z):
        n, k, m = self.n_samples, self.n_outputs, self.network.n_neurons
        p = Z.shape[1]
        Z = np.asarray(Z, dtype=np.float64).reshape(k, n, p)
        if self.row_weights is not None:
            Z = Z * self.row_weights[None, :, None]
        # Each layer's gradient goes straight into its rows of the output.
        out = np.empty((p, self.shape[1]))
        starts = np.cumsum([0] + [a * b for a, b in self.network.shapes])
        for q in range(p):
            B = self._mask(len(self.layers), (Z[:, :, q].T @ self.signs.T) / np.sqrt(m))
            for l in range(len(self.layers) - 1, -1, -1):
                target = out[q, starts[l] : starts[l + 1]]
                if l == 0:
                    target[:] = _dense(B.T @ self.inputs_[0]).ravel()
                    continue
                # Layer l >= 1 is stored as vec(W^T): its block is c H_{l-1}^T B_l.
                grad = target.reshape(m, m)
                if self.sparse:
                    (self.inputs_[l].T @ B).tocsr().toarray(out=grad)
                else:
                    np.matmul(self.inputs_[l].T, B, out=grad)
                grad *= self.c
                B = self._back(l, B)
        return out.T

    def factored_rmatvec(self, z):
        """``J^T z`` in factored form: the first layer dense, each square layer the term
        ``c H_{l-1}^T B_l`` (available on the lazy path, capability
        ``'factored_adjoint'``).

        Parameters
        ----------
        z : ndarray of shape (n_outputs * n_samples,)

        Returns
        -------
        step : LowRankWeights
            Without base; its terms are new.
        """
        n, k, m = self.n_samples, self.n_outputs, self.network.n_neurons
        Z = np.asarray(z, dtype=np.float64).reshape(k, n)
        if self.row_weights is not None:
            Z = Z * self.row_weights[None, :]
        B = self._mask(len(self.layers), (Z.T @ self.signs.T) / np.sqrt(m))
        terms = []
        for l in range(len(self.layers) - 1, 0, -1):
            terms.append((self.c, Term(l, self.inputs_[l], B)))
            B = self._back(l, B)
        head = _dense(B.T @ self.inputs_[0])
        return LowRankWeights(self.network.shapes, None, 0.0, head, terms[::-1],
                              self.max_terms)

    def _factors(self):
        """Per-layer factors ``(U_l, V_l)`` of :meth:`kron_blocks`, cached; sparse (CSR)
        where the layer's vectors are, with the shift (all but the inputs ``X~``)."""
        if self._blocks is not None:
            return self._blocks
        k, m = self.n_outputs, self.network.n_neurons
        per_output = []
        L, n = len(self.layers), self.n_samples
        for j in range(k):
            beta = self._mask(L, np.broadcast_to(self.signs[:, j] / np.sqrt(m), (n, m)))
            betas = [beta]
            for l in range(L - 1, 0, -1):
                beta = self._back(l, beta)
                betas.append(beta)
            per_output.append(betas[::-1])
        weights = None if self.row_weights is None else np.tile(self.row_weights, k)
        blocks = []
        for l in range(L):
            if self.sparse:
                # Sparse factors: the Gram's products cost O(n^2 s^2 / m) per layer.
                U = sparse.vstack([per_output[j][l] for j in range(k)], format="csr")
                U = U * self.c if l > 0 else U
                if weights is not None:
                    U = sparse.csr_matrix(U.multiply(weights[:, None]))
                V = (sparse.vstack([self.inputs_[l]] * k, format="csr") if l > 0
                     else np.tile(self.inputs_[l], (k, 1)))
            else:
                # Dense factors: the Gram's GEMMs cost O(n^2 m) per layer.
                U = np.vstack([per_output[j][l] for j in range(k)])
                if l > 0:
                    U *= self.c
                if weights is not None:
                    U *= weights[:, None]
                V = np.tile(self.inputs_[l], (k, 1))
            blocks.append((U, V) if l == 0 else (V, U))
        self._blocks = blocks
        return blocks

    def kron_blocks(self):
        """Per-layer factors: row ``q`` of layer ``l``'s block is ``U_l[q] (x) V_l[q]``.

        Returns
        -------
        blocks : list of (U, V)
            For the first layer ``U_1`` (k n x m) holds the scaled back-propagated
            vectors ``s_i beta_1`` and ``V_1`` (k n x d~) the inputs; for the square
            layers, stored transposed, ``U_l`` holds the layer inputs ``h_{l-1}`` and
            ``V_l`` the vectors ``s_i c beta_l``. Output-major rows, dense arrays.
        """
        return [(_dense(U), _dense(V)) for U, V in self._factors()]

    def gram(self):
        """``J J^T`` by the per-layer tensor trick, cached.

        Returns
        -------
        K : ndarray of shape (n_outputs * n_samples, n_outputs * n_samples)
        """
        if self._gram is None:
            self._gram = sum(_outer(U) * _outer(V) for U, V in self._factors())
        return self._gram

    def _gram_columns(self, columns):
        """Columns ``K[:, columns]`` by the per-layer tensor trick."""
        return sum(_outer(U, columns) * _outer(V, columns) for U, V in self._factors())

    def squared_row_norms(self):
        """Diagonal of ``J J^T``: ``sum_l ||U_l[q]||^2 ||V_l[q]||^2``.

        Returns
        -------
        diag : ndarray of shape (n_outputs * n_samples,)
        """
        return sum(_squared_rows(U) * _squared_rows(V) for U, V in self._factors())
