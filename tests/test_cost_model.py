"""The cost model behind solver='auto' and preconditioner='auto'."""

import numpy as np
import pytest

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


def test_auto_falls_back_to_the_diagonal_preconditioner_when_no_costed_path_fits():
    from skgn._cost_model import check_memory, peak_bytes

    sizes = (400, 256, 51, 3.0, 500)
    diagonal = peak_bytes("cg", "jacobi", *sizes)
    costed = min(peak_bytes(*path, *sizes) for path in path_costs(*sizes[:3]))
    assert diagonal < costed
    budget = 0.5 * (diagonal + costed)
    assert resolve_paths("auto", "auto", *sizes, memory=budget) == ("cg", "jacobi")
    assert resolve_paths("cg", "auto", *sizes, memory=budget) == ("cg", "jacobi")
    check_memory("cg", "jacobi", *sizes, memory=budget)
    # An explicit path other than that keeps the costed fallback, which is refused, in
    # MiB at this size.
    solver, preconditioner = resolve_paths("lsqr", "auto", *sizes, memory=budget)
    with pytest.raises(ValueError, match=r"MiB at n_rows=400.*MiB budget"):
        check_memory(solver, preconditioner, *sizes, memory=budget)


def test_refit_iterations_is_the_fit_cost_in_inner_iterations():
    from skgn._cost_model import refit_iterations

    N, m, d, L = 37500, 1024, 11, 500
    fit = 2 * N * L * (m + d) + 2 * N * L**2
    iteration = 2.0 * 4 * N * m * d
    assert refit_iterations("nystrom", N, m, d, 3.0, L) == int(np.ceil(fit / iteration))
    assert refit_iterations("sketch", 2000, 64, 5, 3.0, L) >= 1
    assert refit_iterations("none", N, m, d, 3.0, L) is None
    assert refit_iterations("jacobi", N, m, d, 3.0, L) is None


def _spectrum(r=500, decay=1.5, top=1e3):
    return top * np.arange(1, r + 1, dtype=float) ** -decay


def _model_flops(k, mu, N, m, d, alpha, rtol, parameter_space=False):
    """The flops of a Nystrom-PCG step with ``k`` landmarks, written out from the model."""
    lam = alpha + 1e-3 * mu.mean()
    lambda_k = N / len(mu) * mu[min(k, len(mu) - 1)]
    iters = 0.5 * np.sqrt(1 + lambda_k / lam) * np.log(2 / rtol)
    flops = 2 * N * k * (m + d) + 4 * N * k**2 + 8 * k**3 + iters * 8 * N * m * d
    if parameter_space:
        flops += 2 * N * k * m * d + 4 * m * d * k**2
    return flops


def test_nystrom_landmarks_grow_with_rows_and_shrink_with_alpha():
    from skgn._cost_model import _LANDMARK_GRID, nystrom_landmarks

    mu = _spectrum()
    args = dict(rtol=0.03)
    small = nystrom_landmarks(mu, 2000, 1024, 11, 1e-2, **args)
    large = nystrom_landmarks(mu, 40000, 1024, 11, 1e-2, **args)
    assert large >= small
    loose = nystrom_landmarks(mu, 2000, 1024, 11, 10.0, **args)
    assert loose <= small
    # 450 eigenvalues far above alpha are worth 500 landmarks (they take the rest
    # away); a flat spectrum gains nothing from more landmarks; a tiny one needs few.
    cliff = np.r_[np.full(450, 1e6), np.full(50, 1e-8)]
    assert nystrom_landmarks(cliff, 40000, 1024, 11, 1e-3, **args) == 500
    fewest = _LANDMARK_GRID[0]
    assert nystrom_landmarks(np.full(500, 1e6), 40000, 1024, 11, 1e-3, **args) == fewest
    assert nystrom_landmarks(np.full(500, 1e-8), 40000, 1024, 11, 1.0, **args) == fewest


def test_nystrom_iterations_follow_the_condition_number_left_by_the_landmarks():
    from skgn._cost_model import nystrom_iterations

    mu, N, alpha, rtol = _spectrum(), 5000, 1e-2, 0.03
    lam = alpha + 1e-3 * mu.mean()
    for k in (1, 50, 499, 800):
        kappa = 1 + N / len(mu) * mu[min(k, len(mu) - 1)] / lam
        expected = 0.5 * np.sqrt(kappa) * np.log(2 / rtol)
        assert nystrom_iterations(mu, N, alpha, k, rtol=rtol) == pytest.approx(expected)
        # The powered preconditioner: kappa = 1 + sqrt(lambda_k / lam).
        powered = 0.5 * np.sqrt(1 + np.sqrt(kappa - 1)) * np.log(2 / rtol)
        assert (nystrom_iterations(mu, N, alpha, k, rtol=rtol, power=True)
                == pytest.approx(powered))
    counts = [nystrom_iterations(mu, N, alpha, k, rtol=rtol) for k in (50, 100, 200, 400)]
    assert counts == sorted(counts, reverse=True)
    assert (nystrom_iterations(mu, N, 10 * alpha, 100, rtol=rtol)
            < nystrom_iterations(mu, N, alpha, 100, rtol=rtol))


def test_nystrom_iterations_count_each_kernel_eigenvalue_once_per_output():
    """With ``k_out`` outputs the ``N`` rows are ``N / k_out`` samples whose Gram repeats
    each kernel eigenvalue ``k_out`` times: ``lambda_k = (N / k_out / r) mu_{k // k_out}``."""
    from skgn._cost_model import nystrom_iterations, nystrom_landmarks

    mu, n, alpha, rtol, k_out = _spectrum(), 5000, 1e-2, 0.03, 10
    lam = alpha + 1e-3 * mu.mean()
    for k in (5, 10, 50, 4999, 8000):
        kappa = 1 + n / len(mu) * mu[min(k // k_out, len(mu) - 1)] / lam
        assert (nystrom_iterations(mu, n * k_out, alpha, k, rtol=rtol, n_outputs=k_out)
                == pytest.approx(0.5 * np.sqrt(kappa) * np.log(2 / rtol)))
    # One output is the single-output model; ten outputs of a steep spectrum want fewer
    # landmarks per output than one output of the same rows.
    assert (nystrom_iterations(mu, n, alpha, 50, rtol=rtol, n_outputs=1)
            == nystrom_iterations(mu, n, alpha, 50, rtol=rtol))
    ten = nystrom_landmarks(mu, n * k_out, 1024, 65, alpha, rtol=rtol, n_outputs=k_out)
    assert ten < k_out * nystrom_landmarks(mu, n, 1024, 65, alpha, rtol=rtol)


def test_nystrom_landmarks_are_capped_at_the_rows_and_minimize_the_model():
    from skgn._cost_model import _LANDMARK_GRID, nystrom_landmarks

    mu = _spectrum(r=80)
    assert nystrom_landmarks(mu, 80, 512, 6, 1e-6, rtol=0.03) <= 80

    N, m, d, alpha, rtol = 5000, 1024, 11, 1e-2, 0.03
    mu = _spectrum()
    chosen = nystrom_landmarks(mu, N, m, d, alpha, rtol=rtol)
    assert chosen == min(_LANDMARK_GRID,
                         key=lambda k: _model_flops(k, mu, N, m, d, alpha, rtol))



@pytest.mark.parametrize("parameter_space", [False, True])
def test_nystrom_step_flops_is_the_written_out_model(parameter_space):
    from skgn._cost_model import nystrom_step_flops

    N, m, d, alpha, rtol = 5000, 1024, 11, 1e-2, 0.03
    mu = _spectrum()
    for k in (10, 100, 700):
        assert nystrom_step_flops(mu, N, m, d, alpha, k, rtol=rtol,
                                  parameter_space=parameter_space) == pytest.approx(
            _model_flops(k, mu, N, m, d, alpha, rtol, parameter_space=parameter_space))
    # In float32 an iteration is weighted 1, not 2: the fit's flops are what remains.
    k = 100
    full = nystrom_step_flops(mu, N, m, d, alpha, k, rtol=rtol)
    half = nystrom_step_flops(mu, N, m, d, alpha, k, rtol=rtol, float32=True)
    fit = 2 * N * k * (m + d) + 4 * N * k**2 + 8 * k**3
    assert full - fit == pytest.approx(2 * (half - fit))


def test_exact_step_is_cheaper_only_below_the_parameter_space_step_and_in_memory():
    from skgn._cost_model import exact_step_cheaper, nystrom_step_flops, peak_bytes

    mu = _spectrum()
    options = dict(rtol=0.03, n_outputs=1)
    # 2,000 rows, 1,024 x 101 parameters: the exact step's 1.2e10 flops against a
    # parameter-space step whose fit alone multiplies C^T by the landmarks.
    N, m, d, k = 2000, 1024, 101, 50
    exact = path_costs(N, m, d, n_landmarks=k)[("cholesky", "none")]
    parameter = nystrom_step_flops(mu, N, m, d, 1e-2, k, parameter_space=True, power=True,
                                   **options)
    assert exact[0] < parameter
    assert exact_step_cheaper(mu, N, m, d, 1e-2, k, **options)
    # Its Gram over the budget: never.
    budget = 0.5 * peak_bytes("cholesky", "none", N, m, d, 3.0, k)
    assert not exact_step_cheaper(mu, N, m, d, 1e-2, k, memory=budget, **options)
    # 15,000 rows of 21 inputs: the N^3 / 3 factorization loses.
    assert not exact_step_cheaper(mu, 15000, m, 21, 1e-2, k, **options)


def test_parameter_space_landmarks_price_the_transposed_product():
    """The parameter-space fit adds ``2 N k m d + 4 m d k^2``: the minimizer of that model,
    fewer landmarks than the sample-space count on the same spectrum."""
    from skgn._cost_model import _LANDMARK_GRID, nystrom_landmarks

    N, m, d, alpha, rtol = 37500, 1024, 11, 1e-2, 0.03
    mu = _spectrum()
    chosen = nystrom_landmarks(mu, N, m, d, alpha, rtol=rtol, parameter_space=True)
    assert chosen == min(_LANDMARK_GRID, key=lambda k: _model_flops(
        k, mu, N, m, d, alpha, rtol, parameter_space=True))
    assert chosen < nystrom_landmarks(mu, N, m, d, alpha, rtol=rtol)


def test_landmark_limit_is_the_most_landmarks_the_memory_budget_holds():
    """The growth's limit: the largest priced count whose peak memory fits ``memory``,
    the budget :func:`check_memory` enforces; the largest priced count without one."""
    from skgn._cost_model import _LANDMARK_GRID, check_memory, landmark_limit, peak_bytes

    sizes = (100_000, 1024, 21, 3.0)
    assert landmark_limit("cg", "nystrom", *sizes, memory=np.inf) == max(_LANDMARK_GRID)
    # A budget that holds 300 landmarks and not 400, with a bit-packed pattern.
    blocked = 4096
    memory = peak_bytes("cg", "nystrom", *sizes, 350, block_rows=blocked)
    limit = landmark_limit("cg", "nystrom", *sizes, memory=memory, block_rows=blocked)
    assert limit == 300
    check_memory("cg", "nystrom", *sizes, limit, memory=memory, block_rows=blocked)
    with pytest.raises(ValueError, match="max_memory"):
        check_memory("cg", "nystrom", *sizes, 400, memory=memory, block_rows=blocked)
    # A budget that holds no count of the grid: no growth.
    assert landmark_limit("cg", "nystrom", *sizes, memory=1.0) == 0
