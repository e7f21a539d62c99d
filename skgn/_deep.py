"""Deep ReLU networks (``depth`` hidden layers of width ``m``) and their Jacobian.

The network (Song, Zhang and Zhang 2021, in the NTK parametrization)::

    z_1 = W_1 x~,            h_1 = relu(z_1)                     W_1: (m, d~)
    z_l = c W_l h_{l-1},     h_l = relu(z_l),  c = sqrt(2 / m)   W_l: (m, m), l = 2..L
    f_j(x) = (1 / sqrt(m)) A[:, j] . h_L

with ``W_1 ~ sigma N(0, 1)``, ``W_l ~ N(0, 1)`` for ``l >= 2`` (He scaling keeps the
variance of ``z_l`` across layers) and fixed output signs ``A``. All ``W_l`` are trained;
the parameter vector is ``[vec(W_1), vec(W_2), ..., vec(W_L)]`` (C order).

Back-propagated vectors ``beta_l = df_j / dz_l``::

    beta_L = D_L o A[:, j] / sqrt(m),    beta_{l-1} = D_{l-1} o (c W_l^T beta_l)

(``D_l = 1[z_l > 0]``), so the Jacobian row of output ``j``, sample ``i`` is, layer by
layer, ``beta_1 (x) x~`` and ``c beta_l (x) h_{l-1}``: each layer's block is a Kronecker
product, and the Gram is the per-layer tensor trick

    J J^T = sum_l (V_l V_l^T) o (H_{l-1} H_{l-1}^T),

with ``V_1 = beta_1``, ``V_l = c beta_l``, ``H_0 = X~``, in ``O(L n^2 m)`` after the
``O(L n m^2)`` passes, never forming the ``n x (m d~ + (L - 1) m^2)`` Jacobian.
"""

import numpy as np

from ._network import Network
from ._operators import JacobianOperator


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
    """

    def __init__(self, signs, n_inputs, depth, reference=None):
        self.signs = np.asarray(signs, dtype=np.float64)
        self.n_inputs = int(n_inputs)
        self.depth = int(depth)
        self.reference = None if reference is None else np.asarray(reference, np.float64)
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
        """Split the flat parameter vector into the layer matrices (views)."""
        params = np.asarray(params, dtype=np.float64).ravel()
        out, start = [], 0
        for shape in self.shapes:
            size = shape[0] * shape[1]
            out.append(params[start : start + size].reshape(shape))
            start += size
        return out

    @classmethod
    def initialize(cls, rng, n_inputs, n_outputs, *, n_neurons, depth, init="centered",
                   init_scale=1.0):
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

        Returns
        -------
        network : DeepReLU
        params : ndarray of shape (m d~ + (L - 1) m^2,)
        """
        m = n_neurons
        layers = [init_scale * rng.standard_normal((m, n_inputs))]
        layers += [rng.standard_normal((m, m)) for _ in range(depth - 1)]
        signs = rng.choice([-1.0, 1.0], size=(m, n_outputs))
        params = np.concatenate([W.ravel() for W in layers])
        reference = params.copy() if init in ("centered", "symmetric") else None
        return cls(signs, n_inputs, depth, reference=reference), params

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
            Z = H[-1] @ W.T
            if l > 0:
                Z *= c
            D.append(Z > 0)
            H.append(np.maximum(Z, 0.0, out=Z))
        self._last_forward = (params, X_tilde, H, D)
        return H, D

    def predict(self, params, X_tilde):
        """Outputs ``h_L A / sqrt(m)`` (less the reference's), shape (n_samples, n_outputs)."""
        H, _ = self.forward(params, X_tilde)
        out = (H[-1] @ self.signs) / np.sqrt(self.n_neurons)
        if self.reference is not None:
            cached = self._reference_outputs
            if cached is None or cached[0] is not X_tilde:
                # Not through forward(): the reference must not evict the trained pass.
                saved = self._last_forward
                H0, _ = self.forward(self.reference, X_tilde)
                self._last_forward = saved
                cached = self._reference_outputs = (
                    X_tilde, (H0[-1] @ self.signs) / np.sqrt(self.n_neurons))
            out -= cached[1]
        return out

    def jacobian(self, params, X_tilde, row_weights=None):
        """The Jacobian at ``params``: a :class:`DeepReLUJacobian`."""
        return DeepReLUJacobian(self, params, X_tilde, row_weights=row_weights)


class DeepReLUJacobian(JacobianOperator):
    """Jacobian of :class:`DeepReLU`, applied by forward mode and back-propagation.

    Forward, ``v = [vec(Delta_1), ..., vec(Delta_L)]``::

        dZ_1 = X~ Delta_1^T,  dZ_l = c (H_{l-1} Delta_l^T + (D_{l-1} o dZ_{l-1}) W_l^T)
        (J v)[j n + i] = s_i (D_L o dZ_L)[i] . A[:, j] / sqrt(m)

    Adjoint, ``z`` reshaped to ``(k, n)``::

        B_L = D_L o (sum_j (s o z_j) A[:, j]^T) / sqrt(m),  B_{l-1} = D_{l-1} o (c B_l W_l)
        J^T z = [vec(B_1^T X~), vec(c B_2^T H_1), ..., vec(c B_L^T H_{L-1})]

    Each costs ``O(n (m d~ + (L - 1) m^2))`` per vector.

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
        self.inputs_, self.patterns_ = network.forward(params, X_tilde)
        self.row_weights = row_weights
        self.signs = network.signs
        self.c = np.sqrt(2.0 / network.n_neurons)
        n, k = X_tilde.shape[0], self.signs.shape[1]
        self.n_samples, self.n_outputs = n, k
        self._gram = None
        self._blocks = None
        P = sum(a * b for a, b in network.shapes)
        super().__init__(shape=(k * n, P))

    def _matmat(self, V):
        n, k, m = self.n_samples, self.n_outputs, self.network.n_neurons
        p = V.shape[1]
        out = np.empty((k, n, p))
        for q in range(p):
            deltas = self.network.unpack(V[:, q])
            dZ = self.inputs_[0] @ deltas[0].T
            for l in range(1, len(self.layers)):
                # dZ_l = c (H_{l-1} Delta_l^T + (D_{l-1} o dZ_{l-1}) W_l^T)
                through = (self.patterns_[l - 1] * dZ) @ self.layers[l].T
                dZ = self.c * (self.inputs_[l] @ deltas[l].T + through)
            out[:, :, q] = ((self.patterns_[-1] * dZ) @ self.signs).T / np.sqrt(m)
        if self.row_weights is not None:
            out *= self.row_weights[None, :, None]
        return out.reshape(k * n, p)

    def _rmatmat(self, Z):
        n, k, m = self.n_samples, self.n_outputs, self.network.n_neurons
        p = Z.shape[1]
        Z = np.asarray(Z, dtype=np.float64).reshape(k, n, p)
        if self.row_weights is not None:
            Z = Z * self.row_weights[None, :, None]
        out = np.empty((self.shape[1], p))
        for q in range(p):
            B = self.patterns_[-1] * (Z[:, :, q].T @ self.signs.T) / np.sqrt(m)
            grads = []
            for l in range(len(self.layers) - 1, -1, -1):
                scale = self.c if l > 0 else 1.0
                grads.append(scale * (B.T @ self.inputs_[l]))
                if l > 0:
                    B = self.patterns_[l - 1] * (self.c * (B @ self.layers[l]))
            out[:, q] = np.concatenate([g.ravel() for g in reversed(grads)])
        return out

    def kron_blocks(self):
        """Per-layer factors: row ``q`` of layer ``l``'s block is ``U_l[q] (x) V_l[q]``.

        Returns
        -------
        blocks : list of (U, V)
            ``U_l`` (k n x m) holds the scaled back-propagated vectors ``s_i c beta_l``
            (``beta_1`` unscaled), ``V_l`` (k n x width of the layer's input) the layer
            inputs; output-major rows.
        """
        if self._blocks is not None:
            return self._blocks
        k, m = self.n_outputs, self.network.n_neurons
        per_output = []
        for j in range(k):
            beta = self.patterns_[-1] * (self.signs[:, j] / np.sqrt(m))
            betas = [beta]
            for l in range(len(self.layers) - 1, 0, -1):
                beta = self.patterns_[l - 1] * (self.c * (beta @ self.layers[l]))
                betas.append(beta)
            per_output.append(betas[::-1])
        blocks = []
        for l in range(len(self.layers)):
            U = np.vstack([per_output[j][l] for j in range(k)])
            if l > 0:
                U *= self.c
            if self.row_weights is not None:
                U *= np.tile(self.row_weights, k)[:, None]
            blocks.append((U, np.tile(self.inputs_[l], (k, 1))))
        self._blocks = blocks
        return blocks

    def gram(self):
        """``J J^T`` by the per-layer tensor trick, cached.

        Returns
        -------
        K : ndarray of shape (n_outputs * n_samples, n_outputs * n_samples)
        """
        if self._gram is None:
            self._gram = sum((U @ U.T) * (V @ V.T) for U, V in self.kron_blocks())
        return self._gram

    def _gram_columns(self, columns):
        """Columns ``K[:, columns]`` by the per-layer tensor trick."""
        return sum((U @ U[columns].T) * (V @ V[columns].T) for U, V in self.kron_blocks())

    def squared_row_norms(self):
        """Diagonal of ``J J^T``: ``sum_l ||U_l[q]||^2 ||V_l[q]||^2``.

        Returns
        -------
        diag : ndarray of shape (n_outputs * n_samples,)
        """
        return sum(np.einsum("qa,qa->q", U, U) * np.einsum("qb,qb->q", V, V)
                   for U, V in self.kron_blocks())
