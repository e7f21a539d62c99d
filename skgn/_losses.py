"""Losses in the network's outputs, as the Gauss-Newton loop consumes them.

A loss turns outputs ``F`` (n x k), targets ``Y`` and sample weights ``s`` into
:class:`LossTerms`: the value, the Gauss-Newton residual ``r`` and the curvature factor.
The generalized Gauss-Newton model of a loss with Hessian ``H_i`` in the outputs of
sample ``i`` is ``1/2 sum_i s_i ||H_i^{1/2} (J_i delta) + r_i||^2``; for the squared error
``H_i = I`` and ``r_i = f(x_i) - y_i``. A classification loss is a new subclass with a
curvature factor; the loop does not change.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logsumexp


@dataclass(frozen=True)
class LossTerms:
    """A loss evaluated at some outputs.

    Parameters
    ----------
    value : float
        ``sum_i s_i l(f(x_i), y_i)``.
    residual : ndarray of shape (n_samples, n_outputs)
        The Gauss-Newton residual ``r``.
    curvature : ndarray or None
        Per-sample factor ``L_i`` of the loss Hessian in the outputs, ``H_i = L_i^T L_i``:
        shape (n_samples, 1) for one output (a row scaling), (n_samples, k, k) for ``k``
        outputs; ``None`` means the identity (squared error).
    """

    value: float
    residual: np.ndarray
    curvature: np.ndarray = None


class Loss(ABC):
    """A loss in the outputs: value, Gauss-Newton residual and curvature factor."""

    @abstractmethod
    def evaluate(self, outputs, Y, sample_weight=None):
        """Evaluate the loss.

        Parameters
        ----------
        outputs : ndarray of shape (n_samples, n_outputs)
            Network outputs ``f(x_i)``.
        Y : ndarray of shape (n_samples, n_outputs)
            Encoded targets.
        sample_weight : ndarray of shape (n_samples,) or None
            Weights ``s_i``.

        Returns
        -------
        terms : LossTerms
            Value, residual and curvature factor.
        """


class SquaredLoss(Loss):
    """Half the weighted squared error, ``1/2 sum_i s_i ||f(x_i) - y_i||^2``."""

    def evaluate(self, outputs, Y, sample_weight=None):
        """``value = 1/2 sum_i s_i ||r_i||^2``, ``r = outputs - Y``, identity curvature."""
        residual = outputs - Y
        sq = np.einsum("ij,ij->i", residual, residual)
        data = sq.sum() if sample_weight is None else sample_weight @ sq
        return LossTerms(value=0.5 * data, residual=residual)


# Smallest probability used in a curvature factor: keeps H^{1/2} and r = H^{-1/2} g finite
# where the model is confident (p(1 - p) underflows), at the cost of a bounded residual.
_P_FLOOR = 1e-12


class LogLoss(Loss):
    """Binary cross-entropy on one output (a logit), labels ``Y`` in {0, 1}.

    ``l(f, y) = log(1 + e^f) - y f`` has gradient ``g = p - y`` and Hessian ``h = p (1 - p)``
    in ``f`` (``p = sigmoid(f)``). The generalized Gauss-Newton model
    ``g delta + h delta^2 / 2`` equals ``1/2 (h^{1/2} delta + r)^2 - r^2 / 2`` with the
    curvature factor ``h^{1/2}`` (a row scaling of the Jacobian) and the residual
    ``r = g / h^{1/2}``.
    """

    def evaluate(self, outputs, Y, sample_weight=None):
        """Value, residual ``g / sqrt(h)`` and diagonal curvature factor ``sqrt(h)``."""
        F = outputs
        # log(1 + e^f) - y f, overflow-free.
        losses = (np.logaddexp(0.0, F) - Y * F).sum(axis=1)
        value = losses.sum() if sample_weight is None else sample_weight @ losses
        p = expit(F)
        root_h = np.sqrt(np.maximum(p * (1.0 - p), _P_FLOOR))
        return LossTerms(value=float(value), residual=(p - Y) / root_h, curvature=root_h)


class SoftmaxLoss(Loss):
    """Multinomial cross-entropy on ``k`` outputs (logits), one-hot ``Y``.

    With ``p = softmax(f)``: gradient ``g = p - y``, Hessian ``H = diag(p) - p p^T``. Its
    factor ``L = diag(sqrt(p)) - sqrt(p) p^T`` satisfies ``L^T L = H`` (because
    ``sum p = 1``), and ``r = g / sqrt(p)`` satisfies ``L^T r = g`` (because
    ``sum g = 0``), so the generalized Gauss-Newton model is
    ``1/2 ||L J delta + r||^2 - ||r||^2 / 2``: the Jacobian's ``k`` rows of each sample
    are mixed by ``L`` (a block-diagonal factor).
    """

    def evaluate(self, outputs, Y, sample_weight=None):
        """Value, residual ``g / sqrt(p)`` and per-sample factors ``L`` (n, k, k)."""
        F = outputs
        log_norm = logsumexp(F, axis=1)
        losses = log_norm - np.einsum("ij,ij->i", Y, F)
        value = losses.sum() if sample_weight is None else sample_weight @ losses
        p = np.exp(F - log_norm[:, None])
        root_p = np.sqrt(np.maximum(p, _P_FLOOR))
        factor = np.einsum("ij,jk->ijk", root_p, np.eye(F.shape[1]))
        factor -= root_p[:, :, None] * p[:, None, :]
        return LossTerms(value=float(value), residual=(p - Y) / root_p, curvature=factor)


class ShiftedLoss(Loss):
    """A loss of the outputs plus a constant: ``l(f(x_i) + b, y_i)``.

    The classifier's logits are the network's outputs plus the class prior's logits
    ``b``; the Jacobian of ``f + b`` is that of ``f``, so only the loss sees ``b``.

    Parameters
    ----------
    loss : Loss
        The loss of the shifted outputs.
    offset : ndarray of shape (n_outputs,)
        ``b``, added to every row of the outputs.
    """

    def __init__(self, loss, offset):
        self.loss = loss
        self.offset = np.asarray(offset, dtype=np.float64)

    def evaluate(self, outputs, Y, sample_weight=None):
        """``loss.evaluate(outputs + offset, Y, sample_weight)``."""
        return self.loss.evaluate(outputs + self.offset, Y, sample_weight)
