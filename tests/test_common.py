"""scikit-learn's estimator checks on SketchedGNRegressor."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skgn import SketchedGNClassifier, SketchedGNRegressor
from skgn._estimators import expected_failed_checks

# Small widths keep the ~50 checks fast; the defaults are exercised elsewhere.
ESTIMATORS = [
    SketchedGNRegressor(n_neurons=64, random_state=0),
    SketchedGNRegressor(n_neurons=64, alpha=1.0, input_scale=1.0, random_state=0),
    SketchedGNRegressor(n_neurons=64, solver="cg", preconditioner="nystrom", init="random",
                        random_state=0),
    SketchedGNRegressor(n_neurons=64, solver="lsqr", preconditioner="sketch", random_state=0),
    SketchedGNRegressor(n_neurons=64, alpha=1.0, input_scale=1.0, solver="cg",
                        preconditioner="nystrom", dtype="float32", random_state=0),
    SketchedGNRegressor(n_neurons=64, activation="shifted_relu", random_state=0),
    SketchedGNRegressor(n_neurons=64, activation="shifted_relu", pattern="indexed",
                        alpha=1.0, input_scale=1.0, random_state=0),
    SketchedGNRegressor(n_neurons=32, depth=2, random_state=0),
    SketchedGNRegressor(n_neurons=32, depth=2, alpha=1.0, input_scale=1.0, solver="cg",
                        preconditioner="nystrom", random_state=0),
    SketchedGNRegressor(n_neurons=32, depth=2, activation="shifted_relu", shift=0.5,
                        random_state=0),
    SketchedGNRegressor(n_neurons=64, agop_rounds=1, random_state=0),
    SketchedGNClassifier(n_neurons=64, random_state=0),
    SketchedGNClassifier(n_neurons=64, alpha=1.0, input_scale=1.0, solver="cg",
                         preconditioner="nystrom", random_state=0),
    SketchedGNClassifier(n_neurons=64, agop_rounds=1, random_state=0),
]


def _expected_failed_checks(estimator):
    """The documented expected failures (README, 'Reliability')."""
    return expected_failed_checks(estimator)


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


# Every solver x preconditioner path, with numbers for alpha and input_scale (slow).
ALL_PATHS = [
    SketchedGNRegressor(n_neurons=64, alpha=1.0, input_scale=1.0, solver=solver,
                        preconditioner=preconditioner, random_state=0)
    for solver, preconditioner in [("cholesky", "none"), ("normal", "none")] + [
        (s, p) for s in ("cg", "lsqr") for p in ("none", "jacobi", "nystrom", "sketch")]
]


@pytest.mark.slow
@parametrize_with_checks(ALL_PATHS, expected_failed_checks=_expected_failed_checks)
def test_every_path_is_sklearn_compatible(estimator, check):
    check(estimator)
