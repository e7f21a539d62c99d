"""Predictions of every solver path, bitwise against arrays stored from a fixed commit.

The arrays in ``tests/data/reference_predictions.npz`` were written once by
``python tests/test_reference.py --write`` at commit c9bf546 (before the architecture
refactor of issue 9), on this project's CI machine kind (x86-64, OpenBLAS from the numpy
wheel). A refactor must reproduce them to the last bit. A change that is meant to change
results (a new step schedule, a new default) regenerates them in its own commit and says
why.

The file also stores the numerical fingerprint of the machine that wrote it (numpy's and
scipy's versions, and each loaded BLAS library's API, version and kernel architecture, as
threadpoolctl reports them). Where the fingerprint differs, as on a user's laptop, under
another OpenBLAS kernel (``OPENBLAS_CORETYPE=Haswell`` on the writing machine) or after a
new numpy wheel, the BLAS sums round differently and the test compares to 1e-9 of the
largest prediction instead: measured under the Haswell kernel on the writing machine, the
22 cases differ from the stored arrays by at most 6.5e-13 of it, and a change of behaviour
(a step schedule, a default) moves predictions by far more than 1e-9.

The case ``sub-sampled-parameter-cg`` was added later, at the commit whose CG loop became
parameter-space CG's too; the other cases' arrays were unchanged by that rewrite.
"""

import pathlib
import sys
import warnings

import numpy as np
import pytest
import scipy
import scipy.linalg  # noqa: F401 (loads scipy's BLAS, so the fingerprint names it)
from numpy.testing import assert_array_equal
from sklearn.datasets import make_friedman1
from threadpoolctl import threadpool_info

from skgn import SketchedGNRegressor

REFERENCE = pathlib.Path(__file__).parent / "data" / "reference_predictions.npz"
# Key of the machine fingerprint in REFERENCE (not a case name).
FINGERPRINT = "_fingerprint"
# Largest difference, relative to the largest stored prediction, accepted where the
# fingerprint differs (module docstring).
RTOL_OTHER_MACHINE = 1e-9

_BASE = {"n_neurons": 64, "alpha": 0.3, "input_scale": 1.0, "max_iter": 5, "tol": 0.0,
         "random_state": 0}
_PATHS = [("cholesky", "none")] + [
    (solver, pre) for solver in ("cg", "lsqr") for pre in ("none", "jacobi", "nystrom")
] + [
    ("lsqr", "sketch", sketch)
    for sketch in ("tensor_srht", "tensorsketch", "gaussian", "srht", "countsketch")
] + [("cg", "sketch", "tensor_srht")]


def _path_params(path):
    params = {"solver": path[0], "preconditioner": path[1], "n_landmarks": 30}
    if len(path) == 3:
        params["sketch"] = path[2]
    return params


# name -> (estimator parameters, fit variant)
CASES = {"-".join(path): (_path_params(path), "plain") for path in _PATHS}
CASES.update({
    "weighted-cholesky": (_path_params(("cholesky", "none")), "weighted"),
    "weighted-cg-nystrom": (_path_params(("cg", "nystrom")), "weighted"),
    "multioutput-cholesky": (_path_params(("cholesky", "none")), "multioutput"),
    "multioutput-lsqr-sketch": (_path_params(("lsqr", "sketch")), "multioutput"),
    "random-init": ({"init": "random", "fit_intercept": False}, "plain"),
    "raw-targets": ({"normalize_y": False, "solver": "cg", "preconditioner": "jacobi"}, "plain"),
    "early-stopping": ({"early_stopping": True, "n_iter_no_change": 2}, "plain"),
    "warm-start": ({"warm_start": True, "solver": "cg", "preconditioner": "none"}, "warm"),
    "defaults-auto": ({"max_iter": 100, "tol": 1e-3}, "plain"),
    # The sub-sampled step: parameter-space CG on a Nystrom preconditioner.
    "sub-sampled-parameter-cg": ({"curvature_rows": 80, "n_landmarks": 30}, "plain"),
})


def _data():
    X, y = make_friedman1(n_samples=150, n_features=6, noise=0.5, random_state=0)
    return X[:120], y[:120], X[120:]


def predictions(name):
    """Fit the case ``name`` and return its predictions on the held-out rows."""
    params, variant = CASES[name]
    X, y, X_test = _data()
    reg = SketchedGNRegressor(**{**_BASE, **params})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if variant == "weighted":
            reg.fit(X, y, sample_weight=1.0 + (np.arange(len(y)) % 3))
        elif variant == "multioutput":
            reg.fit(X, np.c_[y, np.sin(2 * X[:, 0])])
        elif variant == "warm":
            reg.fit(X, y).fit(X, y)
        else:
            reg.fit(X, y)
    return reg.predict(X_test)


def fingerprint():
    """What decides the rounding of this machine's sums, as one string.

    Returns
    -------
    fingerprint : str
        numpy's and scipy's versions, then each loaded BLAS library's internal API,
        version and kernel architecture, sorted.
    """
    blas = sorted({f"{info['internal_api']} {info['version']} {info.get('architecture')}"
                   for info in threadpool_info() if info["user_api"] == "blas"})
    return "; ".join([f"numpy {np.__version__}", f"scipy {scipy.__version__}", *blas])


@pytest.fixture(scope="module")
def stored():
    with np.load(REFERENCE) as data:
        return dict(data)


@pytest.mark.parametrize("name", sorted(CASES))
def test_predictions_equal_the_reference(stored, name):
    """Bitwise on the writing machine's fingerprint, to 1e-9 elsewhere (module docstring)."""
    got, want = predictions(name), stored[name]
    if str(stored[FINGERPRINT]) == fingerprint():
        assert_array_equal(got, want)
    else:
        assert got.shape == want.shape
        assert np.max(np.abs(got - want)) <= RTOL_OTHER_MACHINE * np.max(np.abs(want))


def test_every_case_is_stored(stored):
    assert set(stored) == set(CASES) | {FINGERPRINT}


if __name__ == "__main__" and "--write" in sys.argv:
    REFERENCE.parent.mkdir(exist_ok=True)
    arrays = {name: predictions(name) for name in sorted(CASES)}
    np.savez(REFERENCE, **arrays, **{FINGERPRINT: np.array(fingerprint())})
    print(f"wrote {len(CASES)} arrays to {REFERENCE}, fingerprint: {fingerprint()}")
