"""Parameter specs, sample-weight checks and input validation."""

import numbers

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from scipy import sparse
from sklearn.base import BaseEstimator

from skgn._validation import (
    BOOLEAN,
    Interval,
    InvalidParameterError,
    Options,
    check_sample_weight,
    validate_input,
    validate_params,
)


@pytest.mark.parametrize(
    "spec, value, match",
    [
        (Interval(numbers.Real, low=0.0), -1.0, "'p' parameter must be >= 0.0, got -1.0"),
        (Interval(numbers.Real, low=0.0, closed="neither"), 0.0, "must be > 0.0"),
        (Interval(numbers.Real, low=0.0, high=0.5, closed="right"), 0.9, "must be <= 0.5"),
        (Interval(numbers.Real), np.inf, "must be finite"),
        (Interval(numbers.Real), "1", "must be a real number"),
        (Interval(numbers.Integral, low=1), 2.0, "must be an integer"),
        (Interval(numbers.Integral, low=1), True, "must be an integer"),
        (Interval(numbers.Integral, low=1), 0, "must be >= 1"),
        (Options(("a", "b")), "c", "must be one of 'a', 'b'"),
        (BOOLEAN, 1, "must be one of True, False"),
    ],
)
def test_bad_values_name_the_parameter(spec, value, match):
    with pytest.raises(InvalidParameterError, match=match):
        spec.check(value, "p")


def test_validate_params_converts_and_passes_unknown_names():
    specs = {"n": Interval(numbers.Integral, low=1), "x": Interval(numbers.Real)}
    out = validate_params({"n": np.int64(3), "x": 2, "other": object}, specs)
    assert out["n"] == 3 and type(out["n"]) is int
    assert out["x"] == 2.0 and type(out["x"]) is float
    assert out["other"] is object
    assert validate_params({"j": None}, {"j": Interval(numbers.Integral, allow_none=True)}) == {
        "j": None}


def test_invalid_parameter_error_is_value_and_type_error():
    assert issubclass(InvalidParameterError, ValueError)
    assert issubclass(InvalidParameterError, TypeError)


def test_sample_weight_is_copied_and_checked():
    sw = np.array([1.0, 2.0, 0.5])
    out = check_sample_weight(sw, 3)
    assert out is not sw and np.array_equal(out, sw)
    with pytest.raises(ValueError, match="shape \\(4,\\)"):
        check_sample_weight(sw, 4)
    with pytest.raises(ValueError, match="non-negative"):
        check_sample_weight(-sw, 3)
    with pytest.raises(ValueError, match="all weights are zero"):
        check_sample_weight(np.zeros(3), 3)


@pytest.mark.parametrize("container", [sparse.csr_matrix, sparse.csc_matrix, sparse.coo_matrix,
                                       sparse.csr_array])
@pytest.mark.parametrize("dtype, expected", [(np.float32, np.float32), (np.float64, np.float64),
                                             (np.int64, np.float64)])
def test_validate_input_densifies_sparse_x_in_its_precision(container, dtype, expected):
    rng = np.random.default_rng(0)
    dense = (rng.standard_normal((7, 5)) * (rng.random((7, 5)) < 0.3) * 4).astype(dtype)
    X = container(dense)
    before = X.copy()
    estimator = BaseEstimator()
    X_out, y_out = validate_input(estimator, X, np.arange(7.0))
    assert isinstance(X_out, np.ndarray) and X_out.dtype == expected
    assert_array_equal(X_out, dense.astype(expected))
    assert_array_equal(y_out, np.arange(7.0))
    assert estimator.n_features_in_ == 5
    # The caller's matrix is unchanged, and predict-time validation densifies alike.
    assert_array_equal(X.toarray(), before.toarray())
    assert_array_equal(validate_input(estimator, X, reset=False), X_out)
    with pytest.raises(ValueError, match="expecting 5 features"):
        validate_input(estimator, container(dense[:, :4]), reset=False)


def test_validate_input_refuses_nan_in_sparse_x():
    X = sparse.csr_matrix(np.array([[0.0, np.nan], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="Input X contains NaN"):
        validate_input(BaseEstimator(), X, np.zeros(2))
