"""skgn: train wide ReLU networks by sketched Gauss-Newton steps.

The public API is what a user constructs or passes: the estimators, the network's
tangent kernel, the sketch specs, and the error raised for a bad parameter. The
machinery (networks, losses, solvers, preconditioners, the cost model) lives in private
modules described on the developer page of the documentation.
"""

from ._classifier import SketchedGNClassifier
from ._estimators import SketchedGNRegressor
from ._kernels import NTKKernel, ntk
from ._sketching import (
    CountSketch,
    GaussianSketch,
    SRHTSketch,
    TensorSketch,
    TensorSRHTSketch,
)
from ._validation import InvalidParameterError

__version__ = "0.1.0"

__all__ = [
    "CountSketch",
    "GaussianSketch",
    "InvalidParameterError",
    "NTKKernel",
    "SRHTSketch",
    "SketchedGNClassifier",
    "SketchedGNRegressor",
    "TensorSRHTSketch",
    "TensorSketch",
    "ntk",
]
