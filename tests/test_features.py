"""The learned feature map of agop_rounds: AGOP pieces, network gradients, estimators."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning

from skgn import SketchedGNClassifier, SketchedGNRegressor
from skgn._features import (agop_feature_map, finite_difference_gradients,
                            gradient_outer_product)
from skgn._network import CenteredNetwork, TwoLayerReLU, add_bias_feature


def test_gradient_outer_product_is_the_weighted_mean_of_outer_products():
    rng = np.random.default_rng(0)
    G, w = rng.standard_normal((7, 3, 4)), rng.uniform(0.1, 2.0, 7)
    expected = sum(w[i] * G[i, k][:, None] * G[i, k][None, :]
                   for i in range(7) for k in range(3)) / w.sum()
    assert_allclose(gradient_outer_product(G, w), expected, rtol=1e-13)


def test_finite_differences_are_exact_on_a_linear_map():
    rng = np.random.default_rng(1)
    A, X = rng.standard_normal((4, 2)), rng.standard_normal((6, 4))
    G = finite_difference_gradients(lambda Z: Z @ A, X)
    assert G.shape == (6, 2, 4)
    assert_allclose(G, np.broadcast_to(A.T, (6, 2, 4)), rtol=1e-9, atol=1e-10)


def test_feature_map_is_the_scaled_square_root():
    rng = np.random.default_rng(2)
    B = rng.standard_normal((4, 4))
    M = B @ B.T
    X, w = rng.standard_normal((50, 4)), rng.uniform(0.5, 1.5, 50)
    T = agop_feature_map(M, X, w)
    assert_allclose(T, T.T, atol=1e-12)
    # T^2 is M up to the scale, and the mapped rows keep the mean squared norm d.
    scale = np.trace(T @ T) / np.trace(M)
    assert_allclose(T @ T, scale * M, rtol=1e-10, atol=1e-12)
    assert_allclose(np.average(np.sum((X @ T) ** 2, axis=1), weights=w), 4.0, rtol=1e-12)
    assert agop_feature_map(np.zeros((4, 4)), X, w) is None


@pytest.mark.parametrize("threshold, centered", [(0.0, False), (0.3, False), (0.0, True)])
def test_network_input_gradients_match_finite_differences(threshold, centered):
    rng = np.random.RandomState(0)
    X_tilde = add_bias_feature(rng.standard_normal((12, 3)), True)
    network, W = TwoLayerReLU.initialize(rng, 4, 2, n_neurons=16, init="random")
    network = TwoLayerReLU(network.signs, threshold=threshold)
    if centered:
        network = CenteredNetwork(network, W + 0.3 * rng.standard_normal(W.shape))
    G = network.input_gradients(W, X_tilde)
    assert G.shape == (12, 2, 4)
    assert_allclose(G, finite_difference_gradients(lambda Z: network.predict(W, Z), X_tilde,
                                                   step=1e-7), rtol=1e-5, atol=1e-7)


def _irrelevant(n=300, seed=0):
    """Two features that matter and four that do not."""
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, 6))
    return X, np.sin(1.5 * X[:, 0]) + X[:, 1] ** 2 / 2


def _quiet_fit(model, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y, **kwargs)


@pytest.mark.parametrize("depth", [1, 2])
def test_agop_round_is_one_step_fit_then_the_map_then_the_fit(depth):
    """agop_rounds=1 is, by definition: fit one step, map by the scaled root of the AGOP
    of its gradients, fit on the mapped inputs."""
    X, y = _irrelevant()
    w = np.random.RandomState(1).uniform(0.5, 2.0, len(y))
    kw = dict(n_neurons=64, depth=depth, random_state=0)
    model = _quiet_fit(SketchedGNRegressor(agop_rounds=1, **kw), X, y, sample_weight=w)
    first = _quiet_fit(SketchedGNRegressor(max_iter=1, **kw), X, y, sample_weight=w)
    T = agop_feature_map(gradient_outer_product(first._input_gradients(X), w), X, w)
    assert_allclose(model.feature_transform_, T, rtol=1e-10, atol=1e-12)
    plain = _quiet_fit(SketchedGNRegressor(**kw), X @ T, y, sample_weight=w)
    assert_allclose(model.predict(X), plain.predict(X @ T), rtol=1e-9, atol=1e-10)
    assert SketchedGNRegressor(**kw).fit(X, y).feature_transform_ is None


def test_the_map_shrinks_the_features_the_fit_does_not_use():
    X, y = _irrelevant(n=400)
    model = _quiet_fit(SketchedGNRegressor(n_neurons=128, agop_rounds=2, random_state=0),
                       X, y)
    relevance = np.linalg.norm(model.feature_transform_, axis=1)
    assert relevance[:2].min() > 2 * relevance[2:].max()


def test_warm_start_keeps_the_map_and_the_classifier_maps_its_logits():
    X, y = _irrelevant()
    reg = _quiet_fit(SketchedGNRegressor(n_neurons=32, agop_rounds=1, max_iter=2,
                                         warm_start=True, random_state=0), X, y)
    T = reg.feature_transform_.copy()
    _quiet_fit(reg, X, y)
    assert np.array_equal(reg.feature_transform_, T)
    labels = np.digitize(y, np.quantile(y, [0.33, 0.66]))
    clf = _quiet_fit(SketchedGNClassifier(n_neurons=32, agop_rounds=1, random_state=0),
                     X, labels)
    assert clf.feature_transform_.shape == (6, 6)
    assert clf.predict_proba(X).shape == (len(y), 3)
    assert clf.score(X, labels) > 0.8
