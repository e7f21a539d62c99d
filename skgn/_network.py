"""Two-layer ReLU network and its Jacobian as an implicit linear operator.

The network is

    f_j(x) = (1/sqrt(m)) * sum_r A[r, j] * relu(w_r . x~),      x~ = [x, c],

with trained first-layer weights ``W`` of shape ``(m, d~)`` and fixed output signs
``A`` of shape ``(m, k)`` in {-1, +1}. Only ``W`` is trained, so a parameter vector is
``vec(W) = W.ravel()`` (C order) of length ``P = m * d~``.

Rows of the Jacobian are ordered output-major: row ``j * n + i`` holds the derivative of
``f_j(x_i)``. For one output this is the usual sample order.
"""

from abc import ABC, abstractmethod

import numpy as np

from ._operators import JacobianOperator


def add_bias_feature(X, fit_intercept, bias=1.0):
    """Return ``X~ = [X, bias]`` if ``fit_intercept`` else ``X`` (as float64).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Input samples.
    fit_intercept : bool
        Whether to append the constant bias feature.
    bias : float, default=1.0
        Value of the appended feature.

    Returns
    -------
    X_tilde : ndarray of shape (n_samples, n_features + fit_intercept)
        A new float64 array; ``X`` is never modified.
    """
    X = np.asarray(X, dtype=np.float64)
    if not fit_intercept:
        return np.array(X, dtype=np.float64, order="C", copy=True)
    X_tilde = np.empty((X.shape[0], X.shape[1] + 1), dtype=np.float64)
    X_tilde[:, :-1] = X
    X_tilde[:, -1] = bias
    return X_tilde


class Network(ABC):
    """The protocol the Gauss-Newton loop trains: parameters in, outputs and a Jacobian out.

    A network holds its fixed structure (for example untrained output weights) and no
    data; trained parameters ``params`` and inputs ``X`` are passed to every method. A new
    architecture (sparse activations, more layers) is a new subclass; nothing above it
    changes.
    """

    @classmethod
    @abstractmethod
    def initialize(cls, rng, n_inputs, n_outputs, **options):
        """Draw a network's fixed structure and its initial parameters.

        Parameters
        ----------
        rng : numpy.random.RandomState
            The only source of randomness.
        n_inputs : int
            Input width (bias feature included).
        n_outputs : int
            Number of outputs ``k``.
        **options
            Architecture options (width, initialization scheme and scale).

        Returns
        -------
        network : Network
            The network.
        params : ndarray
            Initial parameters.
        """

    @abstractmethod
    def predict(self, params, X):
        """Outputs of shape ``(n_samples, n_outputs)`` at ``params``."""

    @abstractmethod
    def jacobian(self, params, X, row_weights=None):
        """The Jacobian at ``params`` as a :class:`~skgn._operators.JacobianOperator`.

        Rows are ordered output-major (row ``j * n + i`` is output ``j`` of sample ``i``)
        and scaled by ``row_weights``; columns follow ``params.ravel()``.
        """


class TwoLayerReLU(Network):
    """A two-layer ReLU network with trained hidden weights and fixed output signs.

    Parameters
    ----------
    signs : ndarray of shape (n_neurons, n_outputs)
        Fixed output-layer signs ``A`` (entries +1 or -1).

    Notes
    -----
    The object holds no data-dependent state: parameters ``W`` and inputs ``X~`` (with
    the bias column already appended) are passed to every method.
    """

    def __init__(self, signs):
        self.signs = np.asarray(signs, dtype=np.float64)

    @property
    def n_neurons(self):
        """Number of hidden neurons ``m``."""
        return self.signs.shape[0]

    @property
    def n_outputs(self):
        """Number of outputs ``k``."""
        return self.signs.shape[1]

    @classmethod
    def initialize(cls, rng, n_inputs, n_outputs, *, n_neurons, init="symmetric",
                   init_scale=1.0):
        """Draw ``W0 ~ init_scale * N(0, I)`` and output signs ``A`` in {-1, +1}.

        With ``init='symmetric'`` neurons come in pairs ``(w, a)``, ``(w, -a)`` so that the
        network is identically zero at initialization.

        Parameters
        ----------
        rng : numpy.random.RandomState
            Source of the draws.
        n_inputs : int
            Input width ``d~`` (bias feature included).
        n_outputs : int
            Number of outputs ``k``.
        n_neurons : int
            Width ``m`` (even with ``init='symmetric'``).
        init : {'symmetric', 'random'}, default='symmetric'
            Pairing of the neurons.
        init_scale : float, default=1.0
            Standard deviation of ``W0``.

        Returns
        -------
        network : TwoLayerReLU
            The network with its drawn signs.
        W0 : ndarray of shape (n_neurons, n_inputs)
            Initial hidden weights.
        """
        if init == "random":
            W0 = init_scale * rng.standard_normal((n_neurons, n_inputs))
            signs = rng.choice([-1.0, 1.0], size=(n_neurons, n_outputs))
            return cls(signs), W0
        half = n_neurons // 2
        W_half = init_scale * rng.standard_normal((half, n_inputs))
        signs_half = rng.choice([-1.0, 1.0], size=(half, n_outputs))
        W0 = np.repeat(W_half, 2, axis=0)
        signs = np.repeat(signs_half, 2, axis=0)
        signs[1::2] *= -1.0
        return cls(signs), W0

    def predict(self, W, X_tilde):
        """Network outputs ``relu(X~ W^T) A / sqrt(m)``, shape (n_samples, n_outputs).

        Parameters
        ----------
        W : ndarray of shape (n_neurons, n_inputs)
            Hidden weights.
        X_tilde : ndarray of shape (n_samples, n_inputs)
            Inputs with the bias column appended.

        Returns
        -------
        outputs : ndarray of shape (n_samples, n_outputs)
            Network outputs.
        """
        Z = X_tilde @ W.T
        np.maximum(Z, 0.0, out=Z)
        return (Z @ self.signs) / np.sqrt(self.n_neurons)

    def jacobian(self, W, X_tilde, row_weights=None):
        """The Jacobian at ``W`` (see :meth:`Network.jacobian`): a :class:`ReLUJacobian`."""
        return ReLUJacobian(W, X_tilde, self.signs, row_weights=row_weights)


class ReLUJacobian(JacobianOperator):
    r"""Jacobian of a two-layer ReLU network, applied without forming it.

    With the activation pattern ``D = 1[X~ W^T > 0] / sqrt(m)`` (n x m, scaled), output
    signs ``A`` (m x k) and row weights ``s`` (n,):

    Forward, ``v = vec(V)`` with ``V`` of shape (m, d~)::

        (J v)[j*n + i] = s_i * sum_r D[i, r] A[r, j] (x~_i . V_r)
                       = s_i * rowsum(X~ o (D (A[:, j] o V)))[i]

    Adjoint, ``z`` of length k*n reshaped to ``Z`` (k, n)::

        J^T z = vec( sum_j A[:, j] o (D^T diag(s o Z[j]) X~) )

    Both cost ``2 n m d~`` flops per output and vector, done as GEMMs; a block of
    vectors is one GEMM (``_matmat`` / ``_rmatmat``).

    Parameters
    ----------
    W : ndarray of shape (n_neurons, n_inputs)
        Hidden weights at the linearization point.
    X_tilde : ndarray of shape (n_samples, n_inputs)
        Inputs with the bias column appended.
    signs : ndarray of shape (n_neurons, n_outputs)
        Fixed output signs.
    row_weights : ndarray of shape (n_samples,), default=None
        Row scaling ``s`` (square roots of sample weights); ``None`` means ones.
    """

    def __init__(self, W, X_tilde, signs, row_weights=None):
        n, d = X_tilde.shape
        m, k = signs.shape
        self.X_tilde = X_tilde
        self.signs = signs
        self.row_weights = row_weights
        # D = 1[z > 0] / sqrt(m), the scaled activation pattern.
        self.pattern = (X_tilde @ W.T > 0).astype(np.float64)
        self.pattern *= 1.0 / np.sqrt(m)
        self.n_samples, self.n_inputs = n, d
        self.n_neurons, self.n_outputs = m, k
        self._gram = None
        super().__init__(shape=(k * n, m * d))

    capabilities = frozenset({"gram", "gram_columns", "squared_row_norms", "kron_factors"})

    def _matmat(self, V):
        n, d, m, k = self.n_samples, self.n_inputs, self.n_neurons, self.n_outputs
        p = V.shape[1]
        # V[:, q] = vec(V_q); Vs[r, q, :] = V_q[r, :]
        Vs = np.asarray(V, dtype=np.float64).reshape(m, d, p).transpose(0, 2, 1)
        out = np.empty((k, n, p))
        for j in range(k):
            # G = D (A[:, j] o V_q) for all q at once: (n x m) @ (m x p d~)
            G = self.pattern @ (self.signs[:, j, None, None] * Vs).reshape(m, p * d)
            # out[j, i, q] = sum_c X~[i, c] G[i, q, c]
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
            # B[i, q, c] = Z[j, i, q] X~[i, c]; M = D^T B: (m x n) @ (n x p d~)
            B = Z[j][:, :, None] * self.X_tilde[:, None, :]
            M = (self.pattern.T @ B.reshape(n, p * d)).reshape(m, p, d)
            out += self.signs[:, j, None, None] * M.transpose(0, 2, 1)
        return out.reshape(m * d, p)

    def gram(self):
        r"""The Gram matrix ``J J^T`` by the tensor trick, cached.

        Block ``(j, l)`` of the (k n x k n) Gram is

            s s^T o (X~ X~^T) o (D diag(A[:, j] o A[:, l]) D^T)

        (``D`` already carries ``1/sqrt(m)``). The count matrix ``D D^T`` holds integers
        up to ``m``, exact in a float32 GEMM while ``m < 2**24``, which is about twice as
        fast as float64; the rest is float64.

        Returns
        -------
        K : ndarray of shape (n_outputs * n_samples, n_outputs * n_samples)
            The Gram matrix (cached on the operator).
        """
        if self._gram is not None:
            return self._gram
        n, m, k = self.n_samples, self.n_neurons, self.n_outputs
        XX = self.X_tilde @ self.X_tilde.T
        if self.row_weights is not None:
            XX *= np.outer(self.row_weights, self.row_weights)
        exact_f32 = m < 2**24
        D = (self.pattern > 0).astype(np.float32 if exact_f32 else np.float64)
        K = np.empty((k * n, k * n))
        for j in range(k):
            for l in range(j, k):
                prod = self.signs[:, j] * self.signs[:, l]
                counts = (D * prod.astype(D.dtype)) @ D.T
                block = XX * (counts.astype(np.float64) / m)
                K[j * n : (j + 1) * n, l * n : (l + 1) * n] = block
                if l != j:
                    K[l * n : (l + 1) * n, j * n : (j + 1) * n] = block.T
        self._gram = K
        return K

    def kron_factors(self):
        """Return ``U`` (k n x m) and ``V`` (k n x d~) with row ``q`` of ``J`` = ``U[q] (x) V[q]``.

        ``U[j n + i] = s_i A[:, j] o D[i]`` and ``V[j n + i] = x~_i``. Sketches of ``J^T``
        use them to avoid P-long vectors.

        Returns
        -------
        U : ndarray of shape (n_outputs * n_samples, n_neurons)
            Neuron factors: row weight times sign times activation pattern.
        V : ndarray of shape (n_outputs * n_samples, n_inputs)
            Input factors: the inputs with the bias column.
        """
        D = self.pattern
        if self.row_weights is not None:
            D = D * self.row_weights[:, None]
        U = np.vstack([D * self.signs[:, j] for j in range(self.n_outputs)])
        return U, np.tile(self.X_tilde, (self.n_outputs, 1))

    def gram_columns(self, columns):
        """Compute the columns ``K[:, columns]`` of ``K = J J^T`` by the tensor trick.

        For Kronecker rows ``K[q, q'] = (U[q] . U[q']) (V[q] . V[q'])``, so ``c`` columns
        cost ``2 c k n (m + d~)`` flops and ``k n c`` memory.

        Parameters
        ----------
        columns : array-like of int
            Row indices of ``J`` (output-major).

        Returns
        -------
        C : ndarray of shape (n_outputs * n_samples, len(columns))
            The requested Gram columns.
        """
        if self._gram is not None:
            return self._gram[:, columns]
        U, V = self.kron_factors()
        return (U @ U[columns].T) * (V @ V[columns].T)

    def squared_row_norms(self):
        """Diagonal of ``J J^T`` (squared norms of the rows), in O(n (m + d~)) flops.

        Returns
        -------
        diag : ndarray of shape (n_outputs * n_samples,)
            Squared norms of the rows of ``J``.
        """
        # ||row(j, i)||^2 = s_i^2 ||x~_i||^2 sum_r D[i, r]^2 (A[r, j]^2 = 1)
        per_sample = np.einsum("ic,ic->i", self.X_tilde, self.X_tilde)
        per_sample *= np.einsum("ir,ir->i", self.pattern, self.pattern)
        if self.row_weights is not None:
            per_sample *= self.row_weights**2
        return np.tile(per_sample, self.n_outputs)

