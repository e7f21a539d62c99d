"""skgn: train wide two-layer ReLU networks by sketched Gauss-Newton steps."""

from ._estimators import SketchedGNRegressor, path_costs
from ._gauss_newton import GNResult, gauss_newton_step
from ._kernels import NTKKernel, ntk
from ._network import ReLUJacobian, TwoLayerReLU
from ._preconditioners import (
    IdentityPreconditioner,
    JacobiPreconditioner,
    NystromPreconditioner,
    SketchPreconditioner,
)
from ._sketching import (
    CountSketch,
    GaussianSketch,
    SRHTSketch,
    TensorSketch,
    TensorSRHTSketch,
)
from ._solvers import SolverResult, solve_cg, solve_cholesky, solve_lsqr
from ._validation import InvalidParameterError

__version__ = "0.1.0"

__all__ = [
    "CountSketch",
    "GNResult",
    "GaussianSketch",
    "IdentityPreconditioner",
    "InvalidParameterError",
    "JacobiPreconditioner",
    "NTKKernel",
    "NystromPreconditioner",
    "ReLUJacobian",
    "SRHTSketch",
    "SketchPreconditioner",
    "SketchedGNRegressor",
    "SolverResult",
    "TensorSRHTSketch",
    "TensorSketch",
    "TwoLayerReLU",
    "gauss_newton_step",
    "ntk",
    "path_costs",
    "solve_cg",
    "solve_cholesky",
    "solve_lsqr",
]
