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
    # The map acts on the standardized features.
    Z = (X - model.X_mean_) / model.X_scale_
    first = _quiet_fit(SketchedGNRegressor(max_iter=1, agop_rounds=0, standardize=False,
                                           **kw), Z, y, sample_weight=w)
    T = agop_feature_map(gradient_outer_product(first._input_gradients(Z), w), Z, w)
    assert_allclose(model.feature_transform_, T, rtol=1e-10, atol=1e-12)
    plain = _quiet_fit(SketchedGNRegressor(agop_rounds=0, standardize=False, **kw), Z @ T,
                       y, sample_weight=w)
    assert_allclose(model.predict(X), plain.predict(Z @ T), rtol=1e-9, atol=1e-10)
    assert SketchedGNRegressor(agop_rounds=0, **kw).fit(X, y).feature_transform_ is None


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


def _all_relevant(n=600, seed=0):
    """Every feature matters alike: a learned map has little to gain."""
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, 6))
    return X, np.sin(X).sum(axis=1)


def test_auto_keeps_a_promising_map_and_is_then_one_round():
    """agop_rounds='auto' learns the map from the fit's own first step: when it keeps
    it, the fit is agop_rounds=1's (the same first step, map and fit)."""
    X, y = _irrelevant(n=600)
    kw = dict(n_neurons=64, random_state=0)
    auto = _quiet_fit(SketchedGNRegressor(**kw), X, y)
    assert auto.feature_transform_ is not None
    plain_score, mapped_score = auto.agop_scores_
    assert mapped_score / plain_score <= 0.75
    one = _quiet_fit(SketchedGNRegressor(agop_rounds=1, **kw), X, y)
    assert one.agop_scores_ is None
    assert_allclose(auto.feature_transform_, one.feature_transform_, rtol=1e-10, atol=1e-12)
    assert_allclose(auto.predict(X), one.predict(X), rtol=1e-9, atol=1e-10)
    assert auto.n_iter_ == one.n_iter_ and len(auto.history_) == auto.n_iter_


@pytest.mark.parametrize("Estimator", [SketchedGNRegressor, SketchedGNClassifier])
def test_auto_drops_a_map_that_promises_little_and_continues_the_fit(Estimator):
    X, y = _all_relevant()
    if Estimator is SketchedGNClassifier:
        y = (y > np.median(y)).astype(int)
    kw = dict(n_neurons=64, random_state=0)
    auto = _quiet_fit(Estimator(**kw), X, y)
    assert auto.feature_transform_ is None
    plain_score, mapped_score = auto.agop_scores_
    assert mapped_score / plain_score > 0.75
    # Nothing else changed: the fit is agop_rounds=0's, step for step.
    none = _quiet_fit(Estimator(agop_rounds=0, **kw), X, y)
    assert none.agop_scores_ is None
    assert np.array_equal(auto.weights_, none.weights_)
    assert auto.n_iter_ == none.n_iter_


@pytest.mark.parametrize("kw, n", [
    (dict(alpha=1.0, input_scale=1.0), 600),  # nothing selected: no score to beat
    (dict(depth=2), 600),  # the gradients would cost 2 d forward passes
    ({}, 5 * 6 * 7 - 1),  # fewer than 10 rows per entry of the 6 x 6 map
])
def test_auto_learns_no_map_where_it_cannot_judge_one(kw, n):
    X, y = _irrelevant(n=n)
    kw = dict(n_neurons=32, random_state=0, **kw)
    auto = _quiet_fit(SketchedGNRegressor(**kw), X, y)
    none = _quiet_fit(SketchedGNRegressor(agop_rounds=0, **kw), X, y)
    assert auto.agop_scores_ is None and auto.feature_transform_ is None
    assert np.array_equal(auto.weights_, none.weights_)


def test_auto_with_early_stopping_learns_from_the_training_rows(capsys):
    X, y = _irrelevant(n=800)
    model = _quiet_fit(SketchedGNRegressor(n_neurons=64, early_stopping=True, verbose=1,
                                           random_state=0), X, y)
    assert model.feature_transform_ is not None and model.validation_scores_
    out = capsys.readouterr().out
    assert "learned features" in out and "starting over" in out


def test_auto_restart_keeps_the_callbacks_balanced():
    callback = pytest.importorskip("sklearn.callback")

    class Recorder:
        def __init__(self):
            self.events = []

        def setup(self, estimator, context):
            self.events.append("setup")

        def teardown(self, estimator, context):
            self.events.append("teardown")

        def on_fit_task_begin(self, estimator, context, **kw):
            self.events.append(("begin", context.task_name))

        def on_fit_task_end(self, estimator, context, **kw):
            self.events.append(("end", context.task_name))
            return False

    assert isinstance(Recorder(), callback.FitCallback)
    X, y = _irrelevant(n=600)
    rec = Recorder()
    model = _quiet_fit(SketchedGNRegressor(n_neurons=64, random_state=0).set_callbacks(rec),
                       X, y)
    assert model.feature_transform_ is not None
    begins = [e for e in rec.events if e == ("begin", "gauss-newton step")]
    ends = [e for e in rec.events if e == ("end", "gauss-newton step")]
    # The probed first step is reported as it ran, then the fit on the mapped inputs.
    assert len(begins) == len(ends) == model.n_iter_ + 1
    assert rec.events[0] == "setup" and rec.events[-1] == "teardown"
