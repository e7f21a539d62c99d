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
from ._parallel import (blas_thread_count, block_map, block_sum, pair_map,
                        ordered_sum, row_halves)

# Below this many (row, neuron) pairs a product's row blocks run in the calling thread
# whatever n_jobs: starting joblib's threads costs about 12 ms per call on 2 cores, more
# than such a product takes (a fit at n = 2,100, m = 256 went from 0.31 s to 4.3 s).
_PARALLEL_PAIRS = 2**22


# Rows per tile of the blocked products: about 2**18 pattern values (1 MiB in float32),
# at least 256 rows. Every BLAS call of a blocked product covers one tile, and the parts
# of J^T z are added tile by tile in row order, so the rounding is fixed by the tiles,
# which depend on n and m only: results do not depend on the block size or n_jobs.
_TILE_PAIRS = 2**18
_MIN_TILE_ROWS = 256
# Rows per tile of the unblocked pattern's fused normal product J^T J V: about 2**20
# pattern values (4 MiB in float32). At n = 37,500, m = 1024, d~ = 11 a product took
# 47 ms unfused, 38 / 32 / 40 ms fused in tiles of 2**18 / 2**20 / 2**22 values.
_NORMAL_TILE_PAIRS = 2**20


def tile_rows(n_neurons):
    """Rows per tile of the blocked products for width ``n_neurons`` (a multiple of 256).

    Parameters
    ----------
    n_neurons : int
        Hidden width ``m``.

    Returns
    -------
    rows : int
        ``max(256, 2**18 // m)`` rounded down to a multiple of 256.
    """
    per_tile = _TILE_PAIRS // max(int(n_neurons), 1)
    return max(_MIN_TILE_ROWS, per_tile // _MIN_TILE_ROWS * _MIN_TILE_ROWS)


def _row_jobs(n_jobs, n_rows, n_neurons):
    """Threads for row blocks over ``n_rows x n_neurons`` pairs (``None``: one).

    ``n_jobs=None`` takes the BLAS thread count: the blocks replace one multithreaded
    GEMM by many cache-sized ones, which a single BLAS call would not spread over the
    cores (``m = 2048``, ``n = 10**5``, float32, 2 cores: 0.39 s per ``J v`` and
    ``J^T g`` pair on one thread, 0.26 s on two, 0.27 s for the float pattern's GEMMs).
    """
    if n_rows * n_neurons < _PARALLEL_PAIRS:
        return None
    return blas_thread_count() if n_jobs is None else n_jobs


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


def thresholds(X_tilde, threshold):
    """Per-sample activation thresholds ``beta ||x~_i||`` of the shifted ReLU.

    Parameters
    ----------
    X_tilde : ndarray of shape (n_samples, n_inputs)
        Inputs with the bias column appended.
    threshold : float
        ``beta``.

    Returns
    -------
    c : ndarray of shape (n_samples,)
        In the dtype of ``X_tilde``.
    """
    return threshold * np.sqrt(np.einsum("ic,ic->i", X_tilde, X_tilde))


# Row kernels: the work of one block of rows, as functions of that block's arrays and the
# small shared operands. The in-memory operators call them on slices; the dask operators
# (skgn._dask) call the same functions on the workers, so both compute the same numbers.


def unpack_rows(bits, rows, n_neurons, dtype):
    """Rows ``rows`` of a bit-packed 0/1 pattern (``np.packbits``) as ``dtype``."""
    return np.unpackbits(bits[rows], axis=1, count=n_neurons).astype(dtype, copy=False)


def forward_rows(X, W, signs, threshold):
    """``relu(X~ W^T - beta ||x~||) A`` for a block of rows (unscaled by ``1/sqrt(m)``)."""
    Z = X @ W.T
    if threshold:
        Z -= thresholds(X, threshold)[:, None]
    np.maximum(Z, 0.0, out=Z)
    return Z @ signs


def pack_rows(X, W, shift):
    """The bits of ``1[x~_i . w_r > shift_i]`` for a block of rows (``np.packbits``)."""
    Z = X @ W.T
    if shift is not None:
        Z -= shift[:, None]
    return np.packbits(Z > 0, axis=1)


def outer_form(n_outputs, n_inputs):
    """Whether the products with ``k`` outputs go vector by vector (the outer form).

    Per block of ``b`` rows and per vector, the per-output form costs ``2 k b m d~`` flops
    in one GEMM per output; the outer form ``2 b m (d~ + k)`` flops in two GEMMs plus one
    pass over the ``b x m`` block. Measured on 2 cores (float32, ``m = 1024``) the outer
    form wins from ``k = 3`` (7.5x at ``k = 10``, ``d~ = 65``) and loses 1.5x at ``k = 1``;
    it is taken when ``k d~ > 2 (d~ + k)``, the pass over the block counted as ``2 d~``.
    """
    return n_outputs * n_inputs > 2 * (n_inputs + n_outputs)


def matmat_rows(D, scale, X, row_weights, signs, Vs, signed=None):
    """A block's rows of ``J V``, shape ``(k, b, p)``.

    ``D`` is the block's pattern (b x m), ``Vs[r, q]`` row ``r`` of the ``q``-th vector's
    ``V_q`` (m x p x d~), ``signed`` (per-output form) the matrices ``A[:, j] o V_q`` for
    every ``q`` as ``(m, p d~)`` per output ``j``, or ``None`` for the outer form (see
    :func:`outer_form`); ``scale`` (or ``None``) multiplies the result.
    """
    b, d = X.shape
    p = Vs.shape[1]
    out = np.empty((signs.shape[1], b, p), dtype=D.dtype)
    if signed is None:
        for q in range(p):
            # T = D o (X~ V_q^T); out[j, i, q] = (T A)[i, j]
            T = X @ Vs[:, q, :].T
            T *= D
            out[:, :, q] = (T @ signs).T
    else:
        for j, signed_j in enumerate(signed):
            # G = D (A[:, j] o V_q) for all q at once: (b x m) @ (m x p d~)
            G = D @ signed_j
            # out[j, i, q] = sum_c X~[i, c] G[i, q, c]
            out[j] = np.einsum("iqc,ic->iq", G.reshape(b, p, d), X)
    if scale is not None:
        out *= scale
    if row_weights is not None:
        out *= row_weights[None, :, None]
    return out


def rmatmat_rows(D, scale, X, Z, signs):
    """A block's part of ``J^T Z``, shape ``(m, d~, p)``, for its (weighted) ``Z`` (k, b, p).

    Vector by vector when :func:`outer_form` says so, else output by output.
    """
    b, d = X.shape
    (m, k), p = signs.shape, Z.shape[2]
    if outer_form(k, d):
        part = np.empty((m, d, p), dtype=D.dtype)
        for q in range(p):
            # S = D o (Z_q A^T) (b x m); part[:, :, q] = S^T X~
            S = Z[:, :, q].T @ signs.T
            S *= D
            part[:, :, q] = S.T @ X
    else:
        part = np.zeros((m, d, p), dtype=D.dtype)
        for j in range(k):
            # B[i, q, c] = Z[j, i, q] X~[i, c]; M = D^T B: (m x b) @ (b x p d~)
            B = Z[j][:, :, None] * X[:, None, :]
            M = (D.T @ B.reshape(b, p * d)).reshape(m, p, d)
            part += signs[:, j, None, None] * M.transpose(0, 2, 1)
    if scale is not None:
        part *= scale
    return part


def count_columns_rows(D, X, row_weights, X_columns, weights_columns, E, signs):
    """A block's rows of the Gram columns from exact float32 co-firing counts, (k, b, c).

    ``D`` is the block's 0/1 pattern in float32, ``X`` its float64 inputs, ``E`` the signed
    patterns of the requested columns (c x m, float32) and ``X_columns`` their inputs.
    """
    m = D.shape[1]
    XX = X @ X_columns.T
    if row_weights is not None:
        XX *= np.outer(row_weights, weights_columns)
    out = np.empty((signs.shape[1], X.shape[0], E.shape[0]))
    for j in range(signs.shape[1]):
        # counts = (D diag(A[:, j])) E^T, with the signs on the small E: exact integers
        # either way, without a b x m temporary.
        counts = D @ (E * signs[:, j]).T
        # out[j] = XX o (counts / m), in place (no float64 copies of counts).
        np.divide(counts, m, out=out[j], dtype=np.float64)
        out[j] *= XX
    return out


def _counted(func, n_rows, on_rows):
    """``func(rows)`` that also reports the block's row count to ``on_rows`` (if any)."""
    if on_rows is None:
        return func

    def counted(rows):
        out = func(rows)
        on_rows(len(range(*rows.indices(n_rows))))
        return out

    return counted


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

    def trainable(self, params, anchor, n_samples):
        """The parameters the Gauss-Newton loop updates, starting at ``params``.

        Parameters
        ----------
        params : ndarray
            Starting parameters (not modified).
        anchor : ndarray
            The ridge term's anchor ``W0``.
        n_samples : int
            Training samples.

        Returns
        -------
        params : ndarray
            A float64 copy; a network may return another representation that supports
            the loop's arithmetic (the deep network's lazy low-rank weights).
        """
        return np.array(params, dtype=np.float64, copy=True)

    def diagnostics(self):
        """Counters of the work done since the last call, for the step history.

        Returns
        -------
        counters : dict
            Empty for networks without internal data structures.
        """
        return {}


class TwoLayerReLU(Network):
    """A two-layer ReLU network with trained hidden weights and fixed output signs.

    Parameters
    ----------
    signs : ndarray of shape (n_neurons, n_outputs)
        Fixed output-layer signs ``A`` (entries +1 or -1).
    dtype : {numpy.float64, numpy.float32}, default=numpy.float64
        Precision of the ``n x m`` products (pre-activations, Jacobian products). The
        parameters, the outputs and every vector the solvers see stay float64.
    threshold : float, default=0.0
        ``beta`` of the shifted ReLU ``relu(w . x~ - beta ||x~||)``: neuron ``r`` fires on
        ``x`` when ``w_r . x~ / ||x~|| > beta``. With ``W0 ~ sigma N(0, I)`` the fired
        fraction at initialization is ``P(N(0, 1) > beta / sigma)``; ``beta = 0`` is the
        plain ReLU. The shift scales with ``||x~||`` so that the network stays positively
        homogeneous (the input scale keeps its meaning) and every sample fires the same
        fraction of neurons, as for the unit-norm inputs of the sparse-training papers.
    block_rows : int, default=None
        Rows per block of the ``n x m`` products: the outputs are computed block by
        block and the Jacobian is a :class:`BlockedReLUJacobian` (bit-packed pattern);
        ``None`` computes on all rows at once with a float pattern
        (:class:`ReLUJacobian`).
    tile_rows : int, default=None
        Rows per BLAS call inside a block (:func:`tile_rows`), ``block_rows`` a multiple
        of it; ``None`` makes each block one tile.
    n_jobs : int, default=None
        Threads for the row blocks (joblib) from ``2**22`` (row, neuron) pairs; ``None``
        means as many as BLAS uses. Results do not depend on it.
    on_rows : callable, default=None
        With row blocks, called with each block's row count once the block is done (the
        fit's progress report inside a step); it must be thread-safe.
    half_threads : {1, 2}, default=None
        Without ``block_rows``: split every ``n x m`` product (forward pass, pattern,
        Jacobian products, Gram columns) into two row halves from ``2**20`` pairs
        (:func:`~skgn._parallel.row_halves`) and run them on this many threads
        (:func:`~skgn._parallel.half_threads` chooses it for a fit). The results do not
        depend on it. ``None`` computes on all rows at once.

    Notes
    -----
    The object holds no data-dependent state: parameters ``W`` and inputs ``X~`` (with
    the bias column already appended) are passed to every method.
    """

    def __init__(self, signs, dtype=np.float64, threshold=0.0, block_rows=None, n_jobs=None,
                 on_rows=None, tile_rows=None, half_threads=None):
        self.signs = np.asarray(signs, dtype=np.float64)
        self.dtype = np.dtype(dtype)
        self.threshold = float(threshold)
        self.block_rows, self.tile_rows, self.n_jobs = block_rows, tile_rows, n_jobs
        self.on_rows = on_rows
        self.half_threads = half_threads

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
        dtype = self.dtype
        X_tilde = np.asarray(X_tilde, dtype=dtype)
        W, signs = np.asarray(W, dtype=dtype), np.asarray(self.signs, dtype=dtype)

        def rows_out(rows):
            return forward_rows(X_tilde[rows], W, signs, self.threshold)

        if self.block_rows is not None:
            n_jobs = _row_jobs(self.n_jobs, X_tilde.shape[0], self.n_neurons)
            out = np.concatenate(block_map(_counted(rows_out, X_tilde.shape[0], self.on_rows),
                                           X_tilde.shape[0], self.block_rows, n_jobs,
                                           tile_size=self.tile_rows))
        elif self.half_threads is not None:
            out = np.concatenate(pair_map(
                rows_out, row_halves(X_tilde.shape[0], self.n_neurons), self.half_threads))
        else:
            out = rows_out(slice(None))
        return np.asarray(out, dtype=np.float64) / np.sqrt(self.n_neurons)

    def input_gradients(self, W, X_tilde):
        """Gradients of the outputs in the inputs, ``G[i, j] = d f_j(x~_i) / d x~_i``.

        ``d f_j / d x~ = sum_r A[r, j] 1[z_r > 0] (w_r - beta x~ / ||x~||) / sqrt(m)``,
        ``z_r = w_r . x~ - beta ||x~||`` (the threshold's term only with the shift).

        Parameters
        ----------
        W : ndarray of shape (n_neurons, n_inputs)
            Hidden weights.
        X_tilde : ndarray of shape (n_samples, n_inputs)
            Inputs with the bias column appended.

        Returns
        -------
        G : ndarray of shape (n_samples, n_outputs, n_inputs)
        """
        X_tilde = np.asarray(X_tilde, dtype=np.float64)
        W = np.asarray(W, dtype=np.float64)
        Z = X_tilde @ W.T
        if self.threshold:
            Z -= thresholds(X_tilde, self.threshold)[:, None]
        D = (Z > 0).astype(np.float64)
        # G[:, j] = (D diag(A[:, j])) W = D (A[:, j] * W): no n x m temporary per output.
        G = np.stack([D @ (self.signs[:, j, None] * W) for j in range(self.n_outputs)],
                     axis=1)
        if self.threshold:
            # - beta (sum_r A[r, j] 1[z_r > 0]) x~ / ||x~||
            fired = D @ self.signs
            unit = X_tilde / np.linalg.norm(X_tilde, axis=1, keepdims=True)
            G -= self.threshold * fired[:, :, None] * unit[:, None, :]
        return G / np.sqrt(self.n_neurons)

    def jacobian(self, W, X_tilde, row_weights=None):
        """The Jacobian at ``W`` (see :meth:`Network.jacobian`).

        A :class:`BlockedReLUJacobian` with ``block_rows``, else a :class:`ReLUJacobian`.
        """
        if self.block_rows is not None:
            return BlockedReLUJacobian(W, X_tilde, self.signs, row_weights=row_weights,
                                       dtype=self.dtype, threshold=self.threshold,
                                       block_rows=self.block_rows, n_jobs=self.n_jobs,
                                       on_rows=self.on_rows, tile_rows=self.tile_rows)
        return ReLUJacobian(W, X_tilde, self.signs, row_weights=row_weights,
                            dtype=self.dtype, threshold=self.threshold,
                            half_threads=self.half_threads)


class CenteredNetwork(Network):
    """A network less its output at fixed reference parameters.

    ``f(x; W) = g(x; W) - g(x; W_ref)``: zero at ``W = W_ref``, with the Jacobian of ``g``.
    Drawn with independent neurons and ``W_ref = W0`` (``init='centered'``) the network
    starts at zero, as the symmetric pairing does, but its tangent kernel averages ``m``
    independent neurons instead of ``m / 2`` distinct pairs, so at a given width it is
    closer to its infinite-width limit (:func:`~skgn.ntk`). The price is one forward
    pass at ``W_ref`` per input array: once per fit on the training inputs (cached) and
    once per prediction.

    Parameters
    ----------
    network : Network
        The network ``g``.
    reference : ndarray
        Parameters ``W_ref`` whose output is subtracted.
    """

    # Input arrays whose reference outputs are kept (the training and validation inputs),
    # most recent first, matched by identity: the fit never changes an array in place.
    _CACHED_INPUTS = 2

    def __init__(self, network, reference):
        self.network = network
        self.reference = np.asarray(reference, dtype=np.float64)
        self._cache = []

    @property
    def signs(self):
        """Fixed output signs of the wrapped network."""
        return self.network.signs

    @classmethod
    def initialize(cls, rng, n_inputs, n_outputs, **options):
        """Draw a :class:`TwoLayerReLU` with independent neurons and center it at its draw.

        Parameters
        ----------
        rng : numpy.random.RandomState
            Source of the draws.
        n_inputs : int
            Input width ``d~`` (bias feature included).
        n_outputs : int
            Number of outputs ``k``.
        **options
            Further keywords of :meth:`TwoLayerReLU.initialize` (``n_neurons``,
            ``init_scale``); the neurons are drawn with ``init='random'``.

        Returns
        -------
        network : CenteredNetwork
            The drawn network less its initial output.
        params : ndarray
            Initial parameters (the reference).
        """
        inner, params = TwoLayerReLU.initialize(rng, n_inputs, n_outputs, init="random",
                                                **options)
        return cls(inner, params), params

    def reference_outputs(self, X):
        """``g(X; W_ref)``, from the cache when ``X`` is one of the last input arrays."""
        for cached_X, outputs in self._cache:
            if cached_X is X:
                return outputs
        outputs = self.network.predict(self.reference, X)
        self._cache = [(X, outputs)] + self._cache[: self._CACHED_INPUTS - 1]
        return outputs

    def predict(self, params, X):
        """Outputs ``g(X; params) - g(X; W_ref)``, shape (n_samples, n_outputs)."""
        return self.network.predict(params, X) - self.reference_outputs(X)

    def input_gradients(self, params, X):
        """Gradients in the inputs: the wrapped network's, less the reference's.

        Parameters
        ----------
        params : ndarray
            Parameters.
        X : ndarray of shape (n_samples, n_inputs)
            Inputs with the bias column appended.

        Returns
        -------
        G : ndarray of shape (n_samples, n_outputs, n_inputs)
        """
        return (self.network.input_gradients(params, X)
                - self.network.input_gradients(self.reference, X))

    def jacobian(self, params, X, row_weights=None):
        """The Jacobian of the wrapped network (the subtracted term is constant)."""
        return self.network.jacobian(params, X, row_weights=row_weights)

    def diagnostics(self):
        """The wrapped network's counters."""
        return self.network.diagnostics()


def _count_dtype(n_neurons):
    """The dtype of a GEMM that sums 0/1 (or +-1) products over ``n_neurons`` terms exactly:
    float32 (about twice as fast) while the counts stay below ``2**24``."""
    return np.dtype(np.float32 if n_neurons < 2**24 else np.float64)


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
    vectors is one GEMM (``_matmat`` / ``_rmatmat``). With ``dtype=float32`` the GEMMs
    run in single precision (about twice as fast, half the memory) while the operator
    still takes and returns float64 vectors, so the solvers and factorizations stay in
    double precision; the 0/1 activation pattern and its counts in the Gram are exact.

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
    dtype : {numpy.float64, numpy.float32}, default=numpy.float64
        Precision of the products with the ``n x m`` pattern.
    threshold : float, default=0.0
        Shift ``beta`` of the activation: ``D[i, r] = 1[w_r . x~_i > beta ||x~_i||]``.
    half_threads : {1, 2}, default=None
        Run every pass over the pattern (its construction, the products, the Gram
        columns) on two row halves from ``2**20`` pairs
        (:func:`~skgn._parallel.row_halves`), on this many threads; the parts of
        ``J^T z`` are added in row order, so the results do not depend on it. ``None``
        makes one pass over all rows.
    """

    def __init__(self, W, X_tilde, signs, row_weights=None, dtype=np.float64, threshold=0.0,
                 half_threads=None):
        self._setup(X_tilde, signs, row_weights, dtype)
        self._half_threads = half_threads
        self._parts = ([slice(0, self.n_samples)] if half_threads is None
                       else row_halves(self.n_samples, self.n_neurons))
        W_c = np.asarray(W, dtype=self.compute_dtype)
        scale = self.compute_dtype.type(1.0 / np.sqrt(self.n_neurons))
        self.pattern = np.empty((self.n_samples, self.n_neurons), dtype=self.compute_dtype)

        def build(rows):
            # D = 1[z > beta ||x~||] / sqrt(m), the scaled activation pattern.
            Z = self.X_tilde[rows] @ W_c.T
            if threshold:
                Z -= thresholds(self.X_tilde[rows], threshold)[:, None]
            D = self.pattern[rows]
            np.greater(Z, 0, out=D, casting="unsafe")
            D *= scale

        self._map(build)

    def _setup(self, X_tilde, signs, row_weights, dtype):
        """Store the inputs, signs and row weights in the compute precision; set the shape."""
        self.X_tilde = np.asarray(X_tilde, dtype=dtype)
        self._setup_shape(X_tilde.shape, signs, row_weights, dtype)

    def _setup_shape(self, input_shape, signs, row_weights, dtype):
        """Store the signs and row weights in the compute precision; set the shape."""
        n, d = input_shape
        m, k = np.shape(signs)
        self.compute_dtype = dtype = np.dtype(dtype)
        self.signs = np.asarray(signs, dtype=dtype)
        self.row_weights = None if row_weights is None else np.asarray(row_weights, np.float64)
        # The weights in the compute precision, for the products (float64 for the Gram).
        self._row_weights_c = (None if row_weights is None
                               else self.row_weights.astype(dtype, copy=False))
        self.n_samples, self.n_inputs = n, d
        self.n_neurons, self.n_outputs = m, k
        self._gram = None
        super().__init__(shape=(k * n, m * d))

    capabilities = frozenset({"gram", "gram_columns", "squared_row_norms", "kron_factors",
                              "output_blocks"})

    def _map(self, func):
        """``[func(rows)]`` over the row parts (every row, or the two halves), in order."""
        return pair_map(func, self._parts, self._half_threads or 1)

    def _sum(self, func):
        """``func(rows)`` summed over the row parts in order."""
        return ordered_sum(self._map(func))

    def _pattern_rows(self, rows):
        """Rows of the pattern for the products, and the factor to apply to their results.

        Returns ``(D[rows], None)``: the stored pattern already carries ``1/sqrt(m)``.
        """
        return self.pattern[rows], None

    def _pattern01(self, rows, dtype):
        """Rows ``rows`` of the 0/1 pattern in ``dtype``."""
        return (self.pattern[rows] > 0).astype(dtype)

    def _right_operands(self, V):
        """``V`` as ``Vs`` (m, p, d~) in the compute precision, and the per-output matrices
        ``[A[:, j] o V_q for all q]`` as ``(m, p d~)`` (``None`` in the outer form)."""
        d, m, p = self.n_inputs, self.n_neurons, V.shape[1]
        # V[:, q] = vec(V_q); Vs[r, q, :] = V_q[r, :]
        Vs = np.asarray(V, dtype=self.compute_dtype).reshape(m, d, p).transpose(0, 2, 1)
        if outer_form(self.n_outputs, d):
            return Vs, None
        return Vs, [(self.signs[:, j, None, None] * Vs).reshape(m, p * d)
                    for j in range(self.n_outputs)]

    def _weighted_outputs(self, Z):
        """``Z`` as ``(k, n, p)`` in the compute precision, times the row weights."""
        Z = np.asarray(Z, dtype=self.compute_dtype).reshape(
            self.n_outputs, self.n_samples, Z.shape[1])
        if self._row_weights_c is not None:
            Z = Z * self._row_weights_c[None, :, None]
        return Z

    def _matmat(self, V):
        n, k, p = self.n_samples, self.n_outputs, V.shape[1]
        Vs, signed = self._right_operands(V)

        def block(rows):
            D, scale = self._pattern_rows(rows)
            weights = None if self._row_weights_c is None else self._row_weights_c[rows]
            return matmat_rows(D, scale, self.X_tilde[rows], weights, self.signs, Vs, signed)

        out = np.concatenate(self._map(block), axis=1)
        return np.asarray(out.reshape(k * n, p), dtype=np.float64)

    def _rmatmat(self, Z):
        d, m, p = self.n_inputs, self.n_neurons, Z.shape[1]
        Z = self._weighted_outputs(Z)

        def block(rows):
            D, scale = self._pattern_rows(rows)
            return rmatmat_rows(D, scale, self.X_tilde[rows], Z[:, rows], self.signs)

        # J^T z = sum over blocks, added in block order.
        out = self._sum(block)
        return np.asarray(out.reshape(m * d, p), dtype=np.float64)

    def normal_matmat(self, V):
        """The normal product ``J^T J V`` in one pass over the pattern.

        Tile by tile, ``J_t^T diag(s_t^2) (J_t V)`` while the tile's pattern is in cache,
        the parts added in row order: the pattern is read once per product instead of
        twice (34 ms against 46 ms for ``J^T (J V)`` at n = 37,500, m = 1024, d~ = 11 in
        float32, tiles of 1,024 rows; the products are memory-bound).

        Parameters
        ----------
        V : ndarray of shape (m * d~, p)

        Returns
        -------
        out : ndarray of shape (m * d~, p)
        """
        d, m, p = self.n_inputs, self.n_neurons, V.shape[1]
        Vs, signed = self._right_operands(V)
        squares = None if self._row_weights_c is None else self._row_weights_c**2

        def tile(rows):
            D, scale = self._pattern_rows(rows)
            X = self.X_tilde[rows]
            JV = matmat_rows(D, scale, X, None if squares is None else squares[rows],
                             self.signs, Vs, signed)
            return rmatmat_rows(D, scale, X, JV, self.signs)

        out = self._tile_sum(tile)
        return np.asarray(out.reshape(m * d, p), dtype=np.float64)

    def _tile_sum(self, func):
        """``func(rows)`` summed over tiles of :data:`_NORMAL_TILE_PAIRS` pairs, in order
        (the tiles of each row part, the parts' sums added in order)."""
        tile = max(_MIN_TILE_ROWS, _NORMAL_TILE_PAIRS // self.n_neurons)

        def part_sum(part):
            return ordered_sum(func(slice(start, min(start + tile, part.stop)))
                               for start in range(part.start, part.stop, tile))

        return self._sum(part_sum)

    def gram(self):
        r"""The Gram matrix ``J J^T`` by the tensor trick, cached.

        Block ``(j, l)`` of the (k n x k n) Gram is

            s s^T o (X~ X~^T) o (D diag(A[:, j] o A[:, l]) D^T)

        (``D`` already carries ``1/sqrt(m)``). The count matrix ``D D^T`` holds integers
        up to ``m``, exact in a float32 GEMM while ``m < 2**24``, which is about twice as
        fast as float64; the rest is float64 whatever the operator's ``dtype``.

        Returns
        -------
        K : ndarray of shape (n_outputs * n_samples, n_outputs * n_samples)
            The Gram matrix (cached on the operator).
        """
        if self._gram is not None:
            return self._gram
        n, m, k = self.n_samples, self.n_neurons, self.n_outputs
        X_tilde = np.asarray(self.X_tilde, dtype=np.float64)
        XX = X_tilde @ X_tilde.T
        if self.row_weights is not None:
            w = np.asarray(self.row_weights, dtype=np.float64)
            XX *= np.outer(w, w)
        D = self._pattern01(slice(None), _count_dtype(m))
        K = np.empty((k * n, k * n))
        for j in range(k):
            for l in range(j, k):
                prod = np.asarray(self.signs[:, j] * self.signs[:, l], dtype=np.float64)
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
        use them to avoid P-long vectors; ``U`` is dense, ``n m`` values per output.

        Returns
        -------
        U : ndarray of shape (n_outputs * n_samples, n_neurons)
            Neuron factors: row weight times sign times activation pattern.
        V : ndarray of shape (n_outputs * n_samples, n_inputs)
            Input factors: the inputs with the bias column.
        """
        D, scale = self._pattern_rows(slice(None))
        if scale is not None:
            D = D * scale
        if self.row_weights is not None:
            D = D * self._row_weights_c[:, None]
        U = np.vstack([D * self.signs[:, j] for j in range(self.n_outputs)])
        return U, np.tile(self.X_tilde, (self.n_outputs, 1))

    def _gram_columns(self, columns):
        """Columns ``K[:, columns]`` by the tensor trick.

        For Kronecker rows ``K[q, q'] = (U[q] . U[q']) (V[q] . V[q'])``, so ``c`` columns
        cost ``2 c k n (m + d~)`` flops and ``k n c`` memory.
        """
        if self.compute_dtype == np.float64:
            U, V = self.kron_factors()
            return (U @ U[columns].T) * (V @ V[columns].T)
        return self._gram_columns_counts(np.asarray(columns))

    def _gram_columns_counts(self, columns):
        """``K[:, columns]`` from exact float32 counts of shared active neurons, by blocks.

        ``K[(j, i), (l, i')] = s_i s_i' (x~_i . x~_i') (1/m) sum_r A[r, j] A[r, l]
        1[z_ir > 0] 1[z_i'r > 0]``: the signed count is an integer below ``m``, exact in a
        float32 GEMM; the input products and weights are float64. Each row block writes
        its rows of the result.
        """
        n, k = self.n_samples, self.n_outputs
        outputs, samples = np.divmod(columns, n)
        X_tilde = np.asarray(self.X_tilde, dtype=np.float64)
        signs = self.signs.astype(np.float32)
        # E[:, c] = A[:, j_c] o D[i_c]: the signed pattern of each requested column.
        E = self._pattern01(samples, np.float32) * signs.T[outputs]
        C = np.empty((k, n, len(columns)))
        X_columns = X_tilde[samples]
        weights = self.row_weights
        weights_columns = None if weights is None else weights[samples]

        def block(rows):
            first, last = rows.indices(n)[:2]
            C[:, first:last] = count_columns_rows(
                self._pattern01(rows, np.float32), X_tilde[rows],
                None if weights is None else weights[rows], X_columns, weights_columns, E,
                signs)

        self._map(block)
        return C.reshape(k * n, len(columns))

    def squared_row_norms(self):
        """Diagonal of ``J J^T`` (squared norms of the rows), in O(n (m + d~)) flops.

        Returns
        -------
        diag : ndarray of shape (n_outputs * n_samples,)
            Squared norms of the rows of ``J``.
        """
        # ||row(j, i)||^2 = s_i^2 ||x~_i||^2 (active neurons of i) / m  (A[r, j]^2 = 1)
        X_tilde = np.asarray(self.X_tilde, dtype=np.float64)
        per_sample = np.einsum("ic,ic->i", X_tilde, X_tilde) * self._fired_fraction()
        if self.row_weights is not None:
            per_sample *= np.asarray(self.row_weights, dtype=np.float64) ** 2
        return np.tile(per_sample, self.n_outputs)

    def output_blocks(self):
        r"""Per sample, the ``k x k`` block of ``J J^T`` between its outputs.

        ``K[(a, i), (b, i)] = s_i^2 ||x~_i||^2 sum_r D01[i, r] A[r, a] A[r, b] / m``, one
        GEMM of the 0/1 pattern with the ``m x k^2`` sign products: ``O(n m k^2)`` flops
        and no ``k n x m`` factor. The sums are integers of at most ``m``, exact in
        float32 while ``m < 2**24``.

        Returns
        -------
        blocks : ndarray of shape (n_samples, n_outputs, n_outputs)
            ``blocks[i, a, b] = K[(a, i), (b, i)]``.
        """
        n, m, k = self.n_samples, self.n_neurons, self.n_outputs
        dtype = _count_dtype(m)
        signs = np.asarray(self.signs, dtype=dtype)
        pairs = (signs[:, :, None] * signs[:, None, :]).reshape(m, k * k)
        counts = np.concatenate(self._map(lambda rows: self._pattern01(rows, dtype) @ pairs))
        X_tilde = np.asarray(self.X_tilde, dtype=np.float64)
        per_sample = np.einsum("ic,ic->i", X_tilde, X_tilde) / m
        if self.row_weights is not None:
            per_sample *= np.asarray(self.row_weights, dtype=np.float64) ** 2
        return counts.astype(np.float64).reshape(n, k, k) * per_sample[:, None, None]

    def _fired_fraction(self):
        """Per sample, the active neurons over ``m`` (``sum_r D[i, r]^2``)."""
        if self.compute_dtype == np.float64:
            return np.einsum("ir,ir->i", self.pattern, self.pattern)
        # Counted exactly (float32 squares of 1/sqrt(m) would round).
        return np.count_nonzero(self.pattern, axis=1) / self.n_neurons


class BlockedReLUJacobian(ReLUJacobian):
    r"""The Jacobian of :class:`ReLUJacobian`, by row blocks over a bit-packed pattern.

    The same forward and adjoint maps as :class:`ReLUJacobian` (see there), for inputs
    whose ``n x m`` activation pattern should not be held as a float array (``4 n m``
    bytes in float32, 8 GiB at ``n = 10**6``, ``m = 2048``). The pattern is stored as
    bits, ``n m / 8`` bytes, and every product runs the parent's code over blocks of
    ``block_rows`` rows: each block unpacks its rows of the 0/1 pattern, applies them
    with the same GEMMs (``1/sqrt(m)`` goes on the block's small result), and writes its
    rows of ``J v`` or adds its part of ``J^T z = sum_b J_b^T z_b`` (in block order, so
    the result does not depend on ``n_jobs``). With ``tile_rows``, each block runs its
    work tile by tile and the parts of ``J^T z`` are the tiles', added in row order: every
    BLAS call then sees one tile, and the results do not depend on ``block_rows``
    either. The flops are those of the float pattern;
    the extra work is one unpacking of the block's bits per product, and the memory is
    the bits plus one ``block_rows x m`` block per job. The Gram columns come from exact
    float32 co-firing counts by blocks, the Gram (small ``n`` only) from all of them.

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
    dtype : {numpy.float64, numpy.float32}, default=numpy.float64
        Precision of the products with the pattern.
    threshold : float, default=0.0
        Shift ``beta`` of the activation.
    block_rows : int, default=512
        Rows per block: about 512 keep a block's unpacked pattern in cache (4 MiB in
        float32 at ``m = 2048``), where unpacking costs about 15% of the block's GEMM and
        a product runs as fast as on the float pattern.
    n_jobs : int, default=None
        Blocks run in parallel threads through joblib from ``2**22`` (row, neuron)
        pairs (below, starting the threads costs more than the product); ``None`` means
        as many threads as BLAS uses. Results do not depend on it.
    on_rows : callable, default=None
        Called with each tile's row count when the tile is done (progress reports).
    tile_rows : int, default=None
        Rows per tile (:func:`tile_rows`), ``block_rows`` a multiple of it; ``None``
        makes each block one tile.
    """

    def __init__(self, W, X_tilde, signs, row_weights=None, dtype=np.float64, threshold=0.0,
                 block_rows=512, n_jobs=None, on_rows=None, tile_rows=None):
        self._setup(X_tilde, signs, row_weights, dtype)
        self.on_rows = on_rows
        self.block_rows = max(1, int(block_rows))
        self.tile_rows = None if tile_rows is None else int(tile_rows)
        self._jobs = _row_jobs(n_jobs, self.n_samples, self.n_neurons)
        # 1/sqrt(m), applied to each block's (small) result instead of its pattern.
        self._scale = self.compute_dtype.type(1.0 / np.sqrt(self.n_neurons))
        W_c = np.asarray(W, dtype=self.compute_dtype)
        shift = thresholds(self.X_tilde, threshold) if threshold else None

        def pack(rows):
            # The bits of 1[x~_i . w_r > beta ||x~_i||] for the block's rows.
            return pack_rows(self.X_tilde[rows], W_c, None if shift is None else shift[rows])

        self.bits = np.concatenate(self._map(pack))

    def _map(self, func):
        """``[func(rows)]`` over consecutive blocks of ``block_rows`` rows, in order."""
        return block_map(_counted(func, self.n_samples, self.on_rows), self.n_samples,
                         self.block_rows, self._jobs, tile_size=self.tile_rows)

    # The fused normal product runs on the blocks (their tiles), in parallel.
    def _tile_sum(self, func):
        return self._sum(func)

    def _sum(self, func):
        # Each part of J^T z is m x d~ x p: summed as they come, never all held.
        return block_sum(_counted(func, self.n_samples, self.on_rows), self.n_samples,
                         self.block_rows, self._jobs, tile_size=self.tile_rows)

    def _pattern_rows(self, rows):
        return self._pattern01(rows, self.compute_dtype), self._scale

    def _pattern01(self, rows, dtype):
        return unpack_rows(self.bits, rows, self.n_neurons, dtype)

    def _fired_fraction(self):
        counts = np.concatenate(self._map(
            lambda rows: np.count_nonzero(self._pattern01(rows, np.uint8), axis=1)))
        return counts / self.n_neurons

    def gram(self):
        """The Gram matrix ``J J^T`` (cached), from the Gram columns of every row.

        It is ``k n x k n``: only small ``n`` take this path.

        Returns
        -------
        K : ndarray of shape (n_outputs * n_samples, n_outputs * n_samples)
        """
        if self._gram is None:
            self._gram = self._gram_columns_counts(np.arange(self.shape[0]))
        return self._gram

    def _gram_columns(self, columns):
        return self._gram_columns_counts(np.asarray(columns))
