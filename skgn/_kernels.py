"""The closed-form neural tangent kernel of skgn's network.

For ``f(x) = (1/sqrt(m)) sum_r a_r relu(w_r . x~)`` with ``w_r ~ N(0, I)``, ``a_r = +-1``
and only ``W`` trained, the Gram matrix ``J J^T = (X~ X~^T) o (D D^T) / m`` converges as
``m -> infinity`` to

    k(x, x') = <x~, x~'> (pi - theta) / (2 pi),     theta = angle(x~, x~'),

because ``P(w . x~ > 0 and w . x~' > 0) = (pi - theta) / (2 pi)`` for Gaussian ``w``.
Kernel ridge regression with this kernel and ``alpha`` is the limit of a wide,
ridge-regularized skgn fit with the same ``alpha`` (and an initialization that starts at
``f = 0``: ``init='centered'`` or ``'symmetric'``).

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


def _deep_ntk(inner, sq_x, sq_y, depth, init_scale, same):
    """The NTK recursion of :class:`~skgn._deep.DeepReLU` (``depth >= 2``).

    ``K_1 = sigma^2 <x~, y~>`` is the covariance of ``z_1``; for ``l >= 2``
    ``K_l = 2 E[relu(u) relu(v)]`` and the co-firing probability ``P_l = E[1[u > 0]
    1[v > 0]]`` under ``(u, v) ~ N(0, K_{l-1})`` follow from the angle ``theta_l`` of
    ``K_{l-1}``: ``2 E[relu relu] = sqrt(K(x,x) K(y,y)) (sin t + (pi - t) cos t) / pi``,
    ``P = (pi - t) / (2 pi)``. The back-propagated products are ``B_L = P_L`` and
    ``B_{l-1} = 2 P_{l-1} B_l``; the kernel is ``B_1 <x~, y~> + sum_{l>=2} B_l K_l``.
    """
    K, kx, ky = init_scale**2 * inner, init_scale**2 * sq_x, init_scale**2 * sq_y
    covariances, probabilities = [K], []
    for _ in range(depth):
        norms = np.sqrt(np.outer(kx, ky))
        with np.errstate(invalid="ignore", divide="ignore"):
            cos = np.where(norms > 0, K / np.where(norms > 0, norms, 1.0), 1.0)
        theta = np.arccos(np.clip(cos, -1.0, 1.0))
        if same:
            # arccos is ill-conditioned at cos = 1: the angle of x with itself is 0.
            np.fill_diagonal(theta, 0.0)
        probabilities.append((np.pi - theta) / (2 * np.pi))
        # Covariance of the next pre-activation (the diagonal keeps theta = 0: K_l = K_{l-1}).
        K = norms * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / np.pi
        covariances.append(K)
    # probabilities[l] is P at hidden layer l + 1; covariances[l] is K_{l+1}.
    B = probabilities[-1]
    kernel = 0.0
    for l in range(depth - 1, 0, -1):
        kernel = kernel + B * covariances[l]
        B = 2.0 * probabilities[l - 1] * B
    return kernel + B * inner


def ntk(X, Y=None, *, bias=1.0, shift=0.0, depth=1, init_scale=1.0):
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
    depth : int, default=1
        Hidden layers (``SketchedGNRegressor(depth=...)``); ``depth >= 2`` uses the
        standard NTK recursion of the He-scaled network (plain ReLU only; a deep
        estimator with the shifted ReLU scores its drawn network's own Gram instead).
    init_scale : float, default=1.0
        Standard deviation of the first layer's weights; it matters for ``depth >= 2``
        only (the deeper layers' contributions scale with its square).

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
    if depth > 1:
        if shift:
            raise ValueError("The deep tangent kernel is implemented for the plain ReLU "
                             "(shift=0) only.")
        sq_x = np.einsum("ij,ij->i", Xt, Xt)
        sq_y = sq_x if Y is None else np.einsum("ij,ij->i", Yt, Yt)
        return _deep_ntk(inner, sq_x, sq_y, int(depth), float(init_scale), Y is None)
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
