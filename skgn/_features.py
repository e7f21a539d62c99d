"""A learned feature map: the average gradient outer product (AGOP) of a fitted model.

Radhakrishnan, Beaglehole, Pandit and Belkin (*Science* 383, 2024) observe that the
first-layer weights of a trained network align with the average gradient outer product
of its predictor, and that re-fitting a kernel machine on inputs mapped by
``M^(1/2)`` (a Recursive Feature Machine) gives kernels the feature learning of
networks. ``agop_rounds`` of the estimators does this with the network's own tangent
kernel: it fits, maps, and fits again.
"""

from dataclasses import dataclass

import numpy as np


@dataclass
class LearnedFeatures:
    """A feature map learned after a fit's first step, and whether it is kept.

    Parameters
    ----------
    transform : ndarray of shape (n_features, n_features)
        The map ``T``: the network would see ``X T``.
    scores : ndarray of shape (2,)
        Best leave-one-out score of the tangent kernel's candidates (negative mean
        squared error, higher is better) without and with the map.
    max_error_ratio : float
        The map is kept when the error with it is at most this times the error without.
    """

    transform: np.ndarray
    scores: np.ndarray
    max_error_ratio: float

    @property
    def error_ratio(self):
        """Best leave-one-out error with the map over that without it."""
        return float(self.scores[1] / self.scores[0]) if self.scores[0] else np.inf

    @property
    def kept(self):
        """Whether the fit starts over on ``X T``."""
        return self.error_ratio <= self.max_error_ratio


def gradient_outer_product(G, weights):
    """``M = sum_i w_i sum_j g_ij g_ij^T / sum_i w_i`` from gradients ``G[i, j] = g_ij``.

    Parameters
    ----------
    G : ndarray of shape (n_samples, n_outputs, n_features)
        Gradients of each output at each row.
    weights : ndarray of shape (n_samples,)
        Non-negative row weights with a positive sum.

    Returns
    -------
    M : ndarray of shape (n_features, n_features)
    """
    return np.einsum("ikj,ikl,i->jl", G, G, weights) / weights.sum()


def finite_difference_gradients(decision, X, step=1e-3):
    """Gradients of ``decision`` at the rows of ``X`` by central differences.

    Exact for a piecewise linear ``decision`` (a ReLU network) except on the rows that
    have a kink within ``step``; ``2 d`` calls of ``decision``.

    Parameters
    ----------
    decision : callable
        ``decision(X) -> ndarray of shape (n_samples, n_outputs)``.
    X : ndarray of shape (n_samples, n_features)
        Where the gradients are taken.
    step : float, default=1e-3
        Finite-difference step.

    Returns
    -------
    G : ndarray of shape (n_samples, n_outputs, n_features)
    """
    n, d = X.shape
    columns = []
    for j in range(d):
        shift = np.zeros(d)
        shift[j] = step
        columns.append((decision(X + shift) - decision(X - shift)) / (2.0 * step))
    return np.stack([np.reshape(c, (n, -1)) for c in columns], axis=-1)


def agop_feature_map(M, X, weights):
    """``T = M^(1/2)``, scaled so that the mapped rows ``X T`` keep the mean squared norm
    ``d`` of standardized inputs (``input_scale`` keeps its meaning).

    Parameters
    ----------
    M : ndarray of shape (n_features, n_features)
        A symmetric positive semi-definite AGOP.
    X : ndarray of shape (n_samples, n_features)
        Rows the scale is measured on.
    weights : ndarray of shape (n_samples,)
        Their weights.

    Returns
    -------
    T : ndarray of shape (n_features, n_features) or None
        ``None`` when ``M`` maps every row to zero (a constant fit has no gradient).
    """
    values, vectors = np.linalg.eigh(M)
    root = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    mapped = X @ root
    mean_square = np.average(np.einsum("ij,ij->i", mapped, mapped), weights=weights)
    if not mean_square > 0:
        return None
    return root * np.sqrt(X.shape[1] / mean_square)
