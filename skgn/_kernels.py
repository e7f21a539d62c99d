"""The closed-form neural tangent kernel of skgn's network.

For ``f(x) = (1/sqrt(m)) sum_r a_r relu(w_r . x~)`` with ``w_r ~ N(0, I)``, ``a_r = +-1``
and only ``W`` trained, the Gram matrix ``J J^T = (X~ X~^T) o (D D^T) / m`` converges as
``m -> infinity`` to

    k(x, x') = <x~, x~'> (pi - theta) / (2 pi),     theta = angle(x~, x~'),

because ``P(w . x~ > 0 and w . x~' > 0) = (pi - theta) / (2 pi)`` for Gaussian ``w``.
Kernel ridge regression with this kernel and ``alpha`` is the limit of a wide,
ridge-regularized skgn fit with the same ``alpha`` (and ``init='symmetric'``).

With the shifted ReLU ``relu(w . x~ - beta ||x~||)`` and ``w ~ sigma N(0, I)``, a neuron
fires on both inputs with probability ``P(g > t, g' > t)`` for a standard bivariate normal
pair of correlation ``rho = cos(theta)`` and ``t = beta / sigma`` (the estimator's
``shift``). By Owen's T function (Owen 1956, eq. 2.1),

    P(g > t, g' > t) = Phi(-t) - 2 T(t, sqrt((1 - rho) / (1 + rho))),

which is ``(pi - theta) / (2 pi)`` at ``t = 0``.
"""

import numpy as np
from scipy.special import ndtr, owens_t
from sklearn.gaussian_process.kernels import Hyperparameter, Kernel
from sklearn.utils import check_array

from ._validation import check_squared_norms


def _augment(X, bias, name="X"):
    # A finite, real, dense 2-D float array, or scikit-learn's ValueError naming the problem.
    X = check_array(X, dtype=np.float64, input_name=name)
    check_squared_norms(X, name)
    if bias == 0:
        return X
    return np.hstack([X, np.full((X.shape[0], 1), float(bias))])


def co_firing_probability(cos, shift):
    """``P(g > t, g' > t)`` for standard normals of correlation ``cos`` and ``t = shift``.

    Parameters
    ----------
    cos : ndarray
        Correlations in ``[-1, 1]``.
    shift : float
        Threshold ``t >= 0``.

    Returns
    -------
    p : ndarray
        Same shape as ``cos``.
    """
    cos = np.clip(cos, -1.0, 1.0)
    with np.errstate(divide="ignore"):
        # a = sqrt((1 - rho) / (1 + rho)): 0 at rho = 1, inf at rho = -1 (T(t, inf) =
        # Phi(-t) / 2, so the probability is 0 there for t > 0).
        a = np.sqrt((1.0 - cos) / (1.0 + cos))
    return np.maximum(ndtr(-shift) - 2.0 * owens_t(shift, a), 0.0)


def ntk(X, Y=None, *, bias=1.0, shift=0.0):
    """Neural tangent kernel matrix of skgn's two-layer ReLU network.

    Parameters
    ----------
    X : array-like of shape (n_samples_X, n_features)
        Left argument.
    Y : array-like of shape (n_samples_Y, n_features), default=None
        Right argument; ``None`` means ``X``.
    bias : float, default=1.0
        The constant feature appended to the inputs (``fit_intercept=True`` uses 1;
        pass 0 for ``fit_intercept=False``).
    shift : float, default=0.0
        The shifted ReLU's ``t`` (``activation='shifted_relu'``, ``shift_`` of a fitted
        estimator): the kernel becomes ``<x~, y~> P(g > t, g' > t)``.

    Returns
    -------
    K : ndarray of shape (n_samples_X, n_samples_Y)
        ``<x~, y~> (pi - theta) / (2 pi)`` (``t = 0``).

    Examples
    --------
    >>> import numpy as np
    >>> from skgn import ntk
    >>> ntk(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])).round(4)
    array([[0.2902]])
    """
    Xt = _augment(X, bias)
    Yt = Xt if Y is None else _augment(Y, bias, "Y")
    if Yt.shape[1] != Xt.shape[1]:
        raise ValueError(
            f"X and Y must have the same number of features; got {X.shape[1]} and "
            f"{Yt.shape[1] - (bias != 0)}."
        )
    inner = Xt @ Yt.T
    norms = np.outer(np.linalg.norm(Xt, axis=1), np.linalg.norm(Yt, axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(norms > 0, inner / np.where(norms > 0, norms, 1.0), 1.0)
    if shift:
        if Y is None:
            np.fill_diagonal(cos, 1.0)
        return inner * co_firing_probability(cos, float(shift))
    theta = np.arccos(np.clip(cos, -1.0, 1.0))
    if Y is None:
        # arccos is ill-conditioned at cos = 1: the angle of x with itself is exactly 0.
        np.fill_diagonal(theta, 0.0)
    return inner * (np.pi - theta) / (2 * np.pi)


class NTKKernel(Kernel):
    """The neural tangent kernel of skgn's network as a scikit-learn kernel object.

    Usable as ``KernelRidge(kernel=NTKKernel())`` (vectorized, unlike a Python callable)
    and in :class:`~sklearn.gaussian_process.GaussianProcessRegressor`. It has no
    tunable hyperparameter: ``bias`` is fixed.

    Parameters
    ----------
    bias : float, default=1.0
        The constant feature appended to the inputs, as in :func:`ntk`.
    shift : float, default=0.0
        The shifted ReLU's threshold ``t``, as in :func:`ntk`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.kernel_ridge import KernelRidge
    >>> from skgn import NTKKernel
    >>> X = np.random.RandomState(0).randn(20, 3)
    >>> KernelRidge(kernel=NTKKernel(), alpha=0.1).fit(X, X[:, 0]).predict(X[:2]).shape
    (2,)
    """

    def __init__(self, bias=1.0, shift=0.0):
        self.bias = bias
        self.shift = shift

    @property
    def hyperparameter_bias(self):
        """The bias feature, fixed (not tuned by a Gaussian process)."""
        return Hyperparameter("bias", "numeric", "fixed")

    @property
    def hyperparameter_shift(self):
        """The activation threshold, fixed."""
        return Hyperparameter("shift", "numeric", "fixed")

    def __call__(self, X, Y=None, eval_gradient=False):
        """Kernel matrix ``k(X, Y)``.

        Parameters
        ----------
        X : ndarray of shape (n_samples_X, n_features)
            Left argument.
        Y : ndarray of shape (n_samples_Y, n_features), default=None
            Right argument; ``None`` means ``X``.
        eval_gradient : bool, default=False
            Whether to also return the gradient with respect to the (empty) set of
            tunable hyperparameters; only allowed when ``Y`` is None.

        Returns
        -------
        K : ndarray of shape (n_samples_X, n_samples_Y)
            Kernel matrix.
        K_gradient : ndarray of shape (n_samples_X, n_samples_X, 0)
            Only when ``eval_gradient`` is True.
        """
        if eval_gradient and Y is not None:
            raise ValueError("Gradient can only be evaluated when Y is None.")
        K = ntk(X, Y, bias=self.bias, shift=self.shift)
        if eval_gradient:
            return K, np.empty((K.shape[0], K.shape[0], 0))
        return K

    def diag(self, X):
        """Diagonal ``k(x, x) = ||x~||^2 P(g > t)`` (``||x~||^2 / 2`` at ``t = 0``).

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        diag : ndarray of shape (n_samples,)
            ``k(x_i, x_i)`` for each sample.
        """
        Xt = _augment(X, self.bias)
        return ndtr(-float(self.shift)) * np.einsum("ij,ij->i", Xt, Xt)

    def is_stationary(self):
        """Whether the kernel is stationary: it is not.

        Returns
        -------
        stationary : bool
            Always False.
        """
        return False
