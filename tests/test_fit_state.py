"""The fitted state: one list of attributes for fit, warm start and callbacks."""

import warnings

import numpy as np
from numpy.testing import assert_array_equal
from sklearn.datasets import make_friedman1

from skgn import SketchedGNRegressor
from skgn._fit_state import FitState, target_scaling


def test_state_round_trips_through_the_estimator():
    X, y = make_friedman1(n_samples=60, n_features=5, random_state=0)
    reg = SketchedGNRegressor(n_neurons=16, max_iter=3, tol=0.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg.fit(X, y)
    state = FitState.from_estimator(reg)
    for name, value in state.attributes().items():
        assert getattr(reg, name) is value
    # A callback's view of a fit stopped elsewhere changes only the weights (a copy).
    W = np.zeros_like(reg.weights_)
    view = state.attributes(W)
    assert_array_equal(view["weights_"], W)
    assert view["weights_"] is not W
    assert view["initial_weights_"] is reg.initial_weights_


def test_target_scaling_is_weighted_and_guards_constant_targets():
    Y = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    mean, scale = target_scaling(Y, np.array([1.0, 1.0, 2.0]), True)
    assert np.allclose(mean, [3.5, 5.0])
    assert np.isclose(scale[0], np.sqrt((2.5**2 + 0.5**2 + 2 * 1.5**2) / 4))
    assert scale[1] == 1.0
    mean, scale = target_scaling(Y, None, False)
    assert_array_equal(mean, 0.0)
    assert_array_equal(scale, 1.0)
