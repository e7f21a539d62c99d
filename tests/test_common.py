"""scikit-learn's estimator checks on SketchedGNRegressor."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skgn import SketchedGNRegressor

# Small widths keep the ~50 checks fast; the defaults are exercised elsewhere.
ESTIMATORS = [
    SketchedGNRegressor(n_neurons=64, random_state=0),
    SketchedGNRegressor(n_neurons=64, solver="cg", init="random", random_state=0),
]


def _expected_failed_checks(estimator):
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
