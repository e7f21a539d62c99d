"""Johnson-Lindenstrauss sketches, with a fast path for Kronecker-structured columns.

A sketch spec (``GaussianSketch``, ``SRHTSketch``, ``CountSketch``, ``TensorSketch``,
``TensorSRHTSketch``) holds ``n_components`` (the sketch size ``s``) and a
``random_state``. ``spec.draw((m, d))`` returns a frozen :class:`DrawnSketch` ``S`` of shape
``(s, m * d)``, whose main product is

    S.sketch_kron(U, V) = S @ [u_1 (x) v_1, ..., u_n (x) v_n]        (s x n)

for factor matrices ``U`` (n x m) and ``V`` (n x d), where ``u (x) v`` is the Kronecker
product in C order (index ``r * d + c``), the shape of a Jacobian row of a ReLU layer.
Every draw happens in ``draw``: blocks of work then use seeds fixed up front, so results
do not depend on ``n_jobs`` or the joblib backend.
"""

import numbers
from dataclasses import dataclass
from math import ceil

import numpy as np
import scipy.sparse as sp
from scipy.fft import dct, irfft, rfft
from sklearn.utils import check_random_state

from ._parallel import block_map
from ._validation import Interval, InvalidParameterError

# Columns (samples) or sketch rows handled per block.
_BLOCK = 512


_N_COMPONENTS = Interval(numbers.Integral, low=1)


def dense_rows(U, rows):
    """``U[rows]`` as a dense array (the neuron factor of a sparse pattern is CSR)."""
    block = U[rows]
    return block.toarray() if sp.issparse(block) else block


def khatri_rao_rows(U, V):
    """Row-wise Kronecker products of ``U`` (n x m) and ``V`` (n x d), shape (n, m * d).

    Row ``i`` is ``U[i] (x) V[i]`` in C order (index ``r * d + c``).
    """
    return (U[:, :, None] * V[:, None, :]).reshape(U.shape[0], -1)


@dataclass(kw_only=True, eq=False)
class DrawnSketch:
    """A drawn sketch ``S`` of shape ``(n_components, m * d)``; subclasses fill it in.

    Attributes
    ----------
    n_components : int
        Sketch size ``s``.
    factor_shape : tuple of int
        ``(m, d)``; the sketched vectors have length ``m * d``.
    """

    n_components: int
    factor_shape: tuple
    n_jobs: int = None

    @property
    def shape(self):
        """``(n_components, m * d)``."""
        return (self.n_components, self.factor_shape[0] * self.factor_shape[1])

    def sketch_kron(self, U, V):
        """``S @ [u_i (x) v_i]_i`` for factors ``U`` (n x m) and ``V`` (n x d).

        Parameters
        ----------
        U : ndarray of shape (n, m)
        V : ndarray of shape (n, d)

        Returns
        -------
        Y : ndarray of shape (n_components, n)
        """
        blocks = block_map(
            self._sketch_columns, U.shape[0], _BLOCK, self.n_jobs, U=U, V=V
        )
        return np.hstack(blocks)

    def _sketch_columns(self, rows, U, V):
        return self.matmat(khatri_rao_rows(dense_rows(U, rows), V[rows]).T)

    def matmat(self, A):
        """``S @ A`` for a dense ``A`` of shape (m * d, p).

        Parameters
        ----------
        A : ndarray of shape (m * d, p)

        Returns
        -------
        SA : ndarray of shape (n_components, p)
        """
        raise NotImplementedError

    def toarray(self):
        """The dense matrix ``S`` (for tests at small sizes).

        Returns
        -------
        S : ndarray of shape (n_components, m * d)
        """
        return self.matmat(np.eye(self.shape[1]))


@dataclass(kw_only=True, eq=False)
class _DrawnGaussian(DrawnSketch):
    seeds: np.ndarray

    def _block_rows(self, b):
        start = b * _BLOCK
        count = min(_BLOCK, self.n_components - start)
        rng = np.random.default_rng(self.seeds[b])
        # S = G / sqrt(s), G with iid N(0, 1) entries, generated block by block.
        return rng.standard_normal((count, self.shape[1])) / np.sqrt(self.n_components)

    def matmat(self, A):
        return np.vstack([self._block_rows(b) @ A for b in range(len(self.seeds))])

    def sketch_kron(self, U, V):
        blocks = block_map(self._kron_block, len(self.seeds), 1, self.n_jobs, U=U, V=V)
        return np.vstack(blocks)

    def _kron_block(self, block, U, V):
        m, d = self.factor_shape
        S = self._block_rows(block.start).reshape(-1, m, d)
        # Y[t, i] = u_i^T S_t v_i = sum_c (U S_t)[i, c] V[i, c]; one GEMM for the block.
        G = U @ S.transpose(1, 0, 2).reshape(m, -1)
        return np.einsum("itc,ic->ti", G.reshape(U.shape[0], S.shape[0], d), V)


class _SketchSpec:
    """Shared parameters and ``draw`` of the sketch specs; subclasses implement ``_draw``.

    Every spec takes ``n_components`` (the sketch size ``s``), ``random_state`` and
    ``n_jobs``; each public subclass documents what they mean for it.
    """

    def __init__(self, n_components, *, random_state=None, n_jobs=None):
        self.n_components = n_components
        self.random_state = random_state
        self.n_jobs = n_jobs

    def draw(self, factor_shape):
        """Draw ``S`` of shape ``(n_components, m * d)``.

        Parameters
        ----------
        factor_shape : tuple of int
            ``(m, d)``.

        Returns
        -------
        sketch : DrawnSketch
        """
        try:
            s = _N_COMPONENTS.check(self.n_components, "n_components")
        except InvalidParameterError as exc:
            raise InvalidParameterError(
                f"{type(self).__name__}: n_components must be a positive integer, got "
                f"{self.n_components!r}."
            ) from exc
        m, d = factor_shape
        if self._max_is_dimension and s > m * d:
            raise ValueError(
                f"{type(self).__name__}: n_components={s} exceeds the dimension {m * d}."
            )
        return self._draw(s, (m, d), check_random_state(self.random_state))

    _max_is_dimension = False


class GaussianSketch(_SketchSpec):
    """Dense Gaussian sketch ``S = G / sqrt(s)`` (the reference JL transform).

    Applying it to ``n`` Kronecker columns costs ``2 n m d s`` flops; its rows are
    generated in blocks from seeds drawn up front and never all held at once.

    Parameters
    ----------
    n_components : int
        Sketch size ``s``.
    random_state : int, RandomState instance or None, default=None
        Seeds the draw.
    n_jobs : int, default=None
        Parallel jobs over blocks of sketch rows.
    """

    def _draw(self, s, factor_shape, rng):
        seeds = rng.randint(0, 2**31 - 1, size=ceil(s / _BLOCK))
        return _DrawnGaussian(n_components=s, factor_shape=factor_shape, n_jobs=self.n_jobs,
                             seeds=seeds)


@dataclass(kw_only=True, eq=False)
class _DrawnSRHT(DrawnSketch):
    signs: object
    rows: np.ndarray

    def matmat(self, A):
        P = self.shape[1]
        # S A = sqrt(P/s) R H (sigma o A), H the orthonormal DCT-II along axis 0.
        HA = dct(self.signs[:, None] * A, type=2, axis=0, norm="ortho")
        return np.sqrt(P / self.n_components) * HA[self.rows]


class SRHTSketch(_SketchSpec):
    """Subsampled randomized trigonometric transform ``sqrt(P/s) R H diag(sigma)``.

    ``sigma`` random signs, ``H`` the orthonormal DCT-II of length ``P = m d`` (any length,
    no padding), ``R`` samples ``s`` rows without replacement. Costs ``n P log P`` on
    ``n`` columns, which it forms block by block.

    Parameters
    ----------
    n_components : int
        Sketch size ``s`` (at most ``m * d``).
    random_state : int, RandomState instance or None, default=None
        Seeds the draw.
    n_jobs : int, default=None
        Parallel jobs over blocks of columns.
    """

    _max_is_dimension = True

    def _draw(self, s, factor_shape, rng):
        P = factor_shape[0] * factor_shape[1]
        signs = rng.choice([-1.0, 1.0], size=P)
        rows = np.sort(rng.choice(P, size=s, replace=False))
        return _DrawnSRHT(n_components=s, factor_shape=factor_shape, n_jobs=self.n_jobs,
                         signs=signs, rows=rows)


@dataclass(kw_only=True, eq=False)
class _DrawnCountSketch(DrawnSketch):
    matrix: object

    def matmat(self, A):
        return np.asarray(self.matrix @ A)


class CountSketch(_SketchSpec):
    """Sparse JL (CountSketch): coordinate ``p`` goes to bucket ``h(p)`` with sign ``sigma(p)``.

    One nonzero per column of ``S``, so applying it costs ``nnz`` of the input.

    Parameters
    ----------
    n_components : int
        Number of buckets ``s``.
    random_state : int, RandomState instance or None, default=None
        Seeds the hash and the signs.
    n_jobs : int, default=None
        Parallel jobs over blocks of columns.
    """

    def _draw(self, s, factor_shape, rng):
        P = factor_shape[0] * factor_shape[1]
        buckets = rng.randint(0, s, size=P)
        signs = rng.choice([-1.0, 1.0], size=P)
        matrix = sp.csr_matrix((signs, (buckets, np.arange(P))), shape=(s, P))
        return _DrawnCountSketch(n_components=s, factor_shape=factor_shape, n_jobs=self.n_jobs,
                                matrix=matrix)


@dataclass(kw_only=True, eq=False)
class _DrawnTensorSketch(DrawnSketch):
    hashes: list
    signs: object

    def _count(self, factor, U):
        """CountSketch of the rows of ``U`` with hash/sign pair ``factor``: (n x s)."""
        s = self.n_components
        C = sp.csr_matrix(
            (self.signs[factor], (np.arange(U.shape[1]), self.hashes[factor])),
            shape=(U.shape[1], s),
        )
        out = U @ C
        # A sparse U (CSR pattern) costs O(nnz) here and gives a sparse product.
        return out.toarray() if sp.issparse(out) else np.asarray(out)

    def _sketch_columns(self, rows, U, V):
        s = self.n_components
        # TS(u (x) v) = IFFT(FFT(C1 u) o FFT(C2 v)): a circular convolution of the two
        # CountSketches, i.e. bucket (h1(r) + h2(c)) mod s with sign sigma1(r) sigma2(c).
        Fu = rfft(self._count(0, U[rows]), n=s, axis=1)
        Fv = rfft(self._count(1, V[rows]), n=s, axis=1)
        return irfft(Fu * Fv, n=s, axis=1).T

    def matmat(self, A):
        m, d = self.factor_shape
        s = self.n_components
        bucket = (self.hashes[0][:, None] + self.hashes[1][None, :]) % s
        sign = self.signs[0][:, None] * self.signs[1][None, :]
        S = sp.csr_matrix((sign.ravel(), (bucket.ravel(), np.arange(m * d))), shape=(s, m * d))
        return np.asarray(S @ A)


class TensorSketch(_SketchSpec):
    """TensorSketch (Pham and Pagh 2013): CountSketch per factor, combined by FFT.

    Sketches ``u (x) v`` in ``O(nnz(u) + nnz(v) + s log s)`` without forming it, so ``n``
    Jacobian columns cost ``O(n (m + d + s log s))``.

    Parameters
    ----------
    n_components : int
        Sketch size ``s``.
    random_state : int, RandomState instance or None, default=None
        Seeds the two hashes and sign vectors.
    n_jobs : int, default=None
        Parallel jobs over blocks of columns.
    """

    def _draw(self, s, factor_shape, rng):
        hashes = [rng.randint(0, s, size=k) for k in factor_shape]
        signs = [rng.choice([-1.0, 1.0], size=k) for k in factor_shape]
        return _DrawnTensorSketch(n_components=s, factor_shape=factor_shape, n_jobs=self.n_jobs,
                                 hashes=hashes, signs=signs)


@dataclass(kw_only=True, eq=False)
class _DrawnTensorSRHT(DrawnSketch):
    signs: object
    pairs: tuple

    def _sketch_columns(self, rows, U, V):
        m, d = self.factor_shape
        # (H1 sigma1 u)[a_t] * (H2 sigma2 v)[b_t] * sqrt(P / s) for sampled pairs (a_t, b_t).
        HU = dct(dense_rows(U, rows) * self.signs[0], type=2, axis=1, norm="ortho")
        HV = dct(V[rows] * self.signs[1], type=2, axis=1, norm="ortho")
        scale = np.sqrt(m * d / self.n_components)
        return scale * (HU[:, self.pairs[0]] * HV[:, self.pairs[1]]).T

    def matmat(self, A):
        m, d = self.factor_shape
        p = A.shape[1]
        # (H1 D1 (x) H2 D2) A with A's columns reshaped to m x d matrices.
        B = A.reshape(m, d, p) * self.signs[0][:, None, None] * self.signs[1][None, :, None]
        B = dct(dct(B, type=2, axis=0, norm="ortho"), type=2, axis=1, norm="ortho")
        scale = np.sqrt(m * d / self.n_components)
        return scale * B[self.pairs[0], self.pairs[1]]


class TensorSRHTSketch(_SketchSpec):
    """Tensor SRHT: an SRHT whose transform is ``H1 diag(sigma1) (x) H2 diag(sigma2)``.

    ``H1``, ``H2`` are orthonormal DCT-II transforms along each factor and ``s`` index
    pairs are sampled without replacement from the ``m d`` entries, so a column
    ``u (x) v`` costs ``O(m log m + d log d + s)`` and is never formed.

    Parameters
    ----------
    n_components : int
        Sketch size ``s`` (at most ``m * d``).
    random_state : int, RandomState instance or None, default=None
        Seeds the signs and the sampled pairs.
    n_jobs : int, default=None
        Parallel jobs over blocks of columns.
    """

    _max_is_dimension = True

    def _draw(self, s, factor_shape, rng):
        m, d = factor_shape
        signs = [rng.choice([-1.0, 1.0], size=k) for k in factor_shape]
        flat = rng.choice(m * d, size=s, replace=False)
        pairs = (flat // d, flat % d)
        return _DrawnTensorSRHT(n_components=s, factor_shape=factor_shape, n_jobs=self.n_jobs,
                               signs=signs, pairs=pairs)


SKETCHES = {
    "gaussian": GaussianSketch,
    "srht": SRHTSketch,
    "countsketch": CountSketch,
    "tensorsketch": TensorSketch,
    "tensor_srht": TensorSRHTSketch,
}
