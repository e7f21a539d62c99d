"""The cost model behind solver='auto' and preconditioner='auto'."""

import numpy as np

from skgn._cost_model import path_costs, resolve_paths


def test_auto_prefers_exact_when_small_and_matrix_free_when_large():
    assert resolve_paths("auto", "auto", 1000, 4096, 21, 3.0, 500) == ("cholesky", "none")
    assert resolve_paths("auto", "auto", 16000, 4096, 21, 3.0, 500) == ("cg", "nystrom")
    # An explicit solver takes the cheapest preconditioner, whichever solver it is.
    assert resolve_paths("lsqr", "auto", 16000, 4096, 21, 3.0, 500) == ("lsqr", "nystrom")
    # The sketch pays when the network is much wider than sketch_size * n.
    assert resolve_paths("cg", "auto", 500, 65536, 21, 3.0, 500) == ("cg", "sketch")
    # An explicit preconditioner asks for an iterative solver.
    assert resolve_paths("auto", "jacobi", 1000, 4096, 21, 3.0, 500)[0] != "cholesky"
    # Memory decides when the n x n Gram does not fit.
    assert resolve_paths("auto", "auto", 2000, 4096, 21, 3.0, 500, memory=1e7)[0] != "cholesky"
    costs = path_costs(16000, 4096, 21)
    assert costs[("cg", "nystrom")][1] < 16 * 16000**2


def test_refit_iterations_is_the_fit_cost_in_inner_iterations():
    from skgn._cost_model import refit_iterations

    N, m, d, L = 37500, 1024, 11, 500
    fit = 2 * N * L * (m + d) + 2 * N * L**2
    iteration = 2.0 * 4 * N * m * d
    assert refit_iterations("nystrom", N, m, d, 3.0, L) == int(np.ceil(fit / iteration))
    assert refit_iterations("sketch", 2000, 64, 5, 3.0, L) >= 1
    assert refit_iterations("none", N, m, d, 3.0, L) is None
    assert refit_iterations("jacobi", N, m, d, 3.0, L) is None
