"""skgn: train wide two-layer ReLU networks by sketched Gauss-Newton steps."""

from ._estimators import SketchedGNRegressor
from ._gauss_newton import GNResult
from ._network import ReLUJacobian, TwoLayerReLU
from ._solvers import SolverResult, solve_cg, solve_cholesky
from ._validation import InvalidParameterError

__version__ = "0.1.0"

__all__ = [
    "GNResult",
    "InvalidParameterError",
    "ReLUJacobian",
    "SketchedGNRegressor",
    "SolverResult",
    "TwoLayerReLU",
    "solve_cg",
    "solve_cholesky",
]
