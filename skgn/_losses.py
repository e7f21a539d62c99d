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
        Per-sample factor ``H_i^{1/2}`` of the loss Hessian in the outputs; ``None``
        means the identity (squared error).
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
