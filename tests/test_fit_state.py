"""The fitted state: one list of attributes for fit, warm start and callbacks."""

import warnings

import numpy as np
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_friedman1
from sklearn.preprocessing import StandardScaler

from skgn import SketchedGNRegressor
from skgn._fit_state import FitState, feature_scaling, standardized, target_scaling


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


def test_feature_scaling_is_standard_scalers_except_for_indicator_columns():
    rng = np.random.RandomState(0)
    n = 60
    X = np.c_[rng.normal(5.0, 3.0, n), rng.randint(0, 2, n), np.full(n, 7.0),
              1e-3 * rng.standard_normal(n), rng.randint(0, 3, n)]
    w = rng.uniform(0.5, 2.0, n)
    mean, scale = feature_scaling(X, w, True)
    reference = StandardScaler().fit(X, sample_weight=w)
    # Every column but the indicator (column 1) as StandardScaler's weighted fit: the
    # constant column 2 is only centered, the 0/1/2 column 4 is no indicator.
    others = [0, 2, 3, 4]
    assert_allclose(mean[others], reference.mean_[others], rtol=1e-13)
    assert_allclose(scale[others], reference.scale_[others], rtol=1e-13)
    assert mean[1] == 0.0 and scale[1] == 1.0 and scale[2] == 1.0
    # The same bits from a Fortran-ordered copy (a densified CSC matrix).
    for got, want in zip(feature_scaling(np.asfortranarray(X), w, True), (mean, scale)):
        assert_array_equal(got, want)
    # standardize=False is the identity, and standardized returns X itself.
    mean, scale = feature_scaling(X, w, False)
    assert_array_equal(mean, 0.0)
    assert_array_equal(scale, 1.0)
    assert standardized(X, mean, scale) is X
    Z = standardized(X.astype(np.float32), *feature_scaling(X, None, True))
    assert Z.dtype == np.float32
    assert_allclose(Z[:, 0].mean(), 0.0, atol=1e-6)
    assert_allclose(Z[:, 0].std(), 1.0, rtol=1e-6)
