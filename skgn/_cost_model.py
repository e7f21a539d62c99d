"""The cost model that resolves ``solver='auto'`` and ``preconditioner='auto'``.

Every path is costed in flops and bytes from the problem's sizes alone (no data is
touched); :func:`resolve_paths` takes the cheapest path whose memory fits.
"""

import math
import os

# Inner iterations the cost model assumes for a preconditioned solve: measured 13-17
# (sketch, sketch_size 3) and 12-19 (Nystrom, 500 landmarks) to rtol 1e-6 at
# n = 1k..8k, m = 4096, d = 20 (benchmarks/bench_paths.py), with margin.
_ITERS_SKETCH, _ITERS_NYSTROM = 20, 25
# A Jacobian product runs at a fraction of GEMM speed (memory-bound); weight its flops.
_JAC_PRODUCT_PENALTY = 2.0


def available_memory():
    """Half the physical memory in bytes (the budget of the cost model).

    Returns
    -------
    budget : float
        Bytes.
    """
    try:
        return 0.5 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def path_costs(n_rows, n_neurons, n_inputs, *, sketch_size=3.0, n_landmarks=500):
    """Estimate the flops and bytes of one Gauss-Newton step on each solver path.

    ``N = n_rows`` (samples times outputs), ``m = n_neurons``, ``d = n_inputs``,
    ``P = m d``, ``s = sketch_size N``, ``L = min(n_landmarks, N)``; a Jacobian product
    (``2 N P`` flops) is weighted by 2 because it runs memory-bound.

    - ``('cholesky', 'none')``: Gram by the tensor trick and its Cholesky factor,
      ``2 N^2 (m + d) + N^3 / 3`` flops, ``16 N^2`` bytes.
    - ``('normal', 'none')``: the ``P x P`` normal matrix from Kronecker rows and its
      Cholesky factor, ``2 N P^2 + P^3 / 3`` flops and three Jacobian products,
      ``16 P^2`` bytes plus a 64 MiB block (cheaper than the sample space when
      ``P < N``).
    - ``('cg', 'nystrom')``: ``L`` Gram columns, an SVD of ``N x L`` and about 25 PCG
      iterations, ``2 N L (m + d) + 2 N L^2 + 25 (4 N P)`` flops, ``24 N L`` bytes.
    - ``('lsqr', 'sketch')``: a tensor sketch, the Cholesky factor of the ``s x N`` sketch
      and about 20 LSQR iterations, ``2 s N^2 + N^3 / 3 + 20 (4 N P)`` flops,
      ``8 (min(s, P) + N) N`` bytes.

    Every path also holds the ``N x m`` activation pattern (``8 N m`` bytes). The bytes
    are :func:`peak_bytes`, the same model that refuses an explicit path.

    Parameters
    ----------
    n_rows, n_neurons, n_inputs : int
        ``N``, ``m`` and ``d``.
    sketch_size : float, default=3.0
        ``s / N``.
    n_landmarks : int, default=500
        Nystrom landmarks.

    Returns
    -------
    costs : dict
        ``{(solver, preconditioner): (flops, bytes)}``.
    """
    N, m, d = float(n_rows), float(n_neurons), float(n_inputs)
    P = m * d
    jac = _iteration_flops(N, P)
    fit = _fit_flops(N, m, d, sketch_size, n_landmarks)
    flops = {
        ("cholesky", "none"): 2 * N**2 * (m + d) + N**3 / 3,
        ("normal", "none"): 2 * N * P**2 + P**3 / 3 + 3 * jac / 2,
        ("cg", "nystrom"): fit["nystrom"] + _ITERS_NYSTROM * jac,
        ("lsqr", "sketch"): fit["sketch"] + _ITERS_SKETCH * jac,
    }
    sizes = (n_rows, n_neurons, n_inputs, sketch_size, n_landmarks)
    return {path: (f, peak_bytes(*path, *sizes)) for path, f in flops.items()}


def _iteration_flops(N, P):
    """Flops of one inner iteration (a ``J`` and a ``J^T`` product, weighted)."""
    return _JAC_PRODUCT_PENALTY * 4 * N * P


def _fit_flops(N, m, d, sketch_size, n_landmarks):
    """Flops of fitting each preconditioner that has a fit cost."""
    s, L = sketch_size * N, float(min(n_landmarks, N))
    return {"nystrom": 2 * N * L * (m + d) + 2 * N * L**2,
            "sketch": 2 * s * N**2 + N**3 / 3}


def refit_iterations(preconditioner, n_rows, n_neurons, n_inputs, sketch_size,
                     n_landmarks):
    """Inner iterations that cost as much as one fit of ``preconditioner``.

    The Gauss-Newton loop stops a solve on a reused preconditioner after this many
    iterations beyond those of its first solve, refits it and continues
    (:class:`~skgn._gauss_newton.PreconditionerCache`).

    Parameters
    ----------
    preconditioner : str
        A resolved preconditioner name.
    n_rows, n_neurons, n_inputs, sketch_size, n_landmarks
        As in :func:`path_costs`.

    Returns
    -------
    iterations : int or None
        ``ceil(fit flops / iteration flops)``, at least 1; ``None`` for a preconditioner
        without a fit cost (``'none'``, ``'jacobi'``), which is never refitted early.
    """
    N, m, d = float(n_rows), float(n_neurons), float(n_inputs)
    fit = _fit_flops(N, m, d, sketch_size, n_landmarks).get(preconditioner)
    if fit is None:
        return None
    return max(1, math.ceil(fit / _iteration_flops(N, m * d)))


def resolve_paths(solver, preconditioner, n_rows, n_neurons, n_inputs, sketch_size,
                   n_landmarks, memory=None):
    """Resolve ``'auto'`` with the cost model: the cheapest path whose memory fits.

    A path is ``(solver, preconditioner)``; the preconditioner's cost does not depend on
    whether CG or LSQR runs on it. An explicit preconditioner asks for an iterative
    solver; an explicit iterative solver takes the cheapest preconditioner.

    Parameters
    ----------
    solver : {'auto', 'cholesky', 'normal', 'cg', 'lsqr'}
        Requested solver.
    preconditioner : {'auto', 'none', 'jacobi', 'sketch', 'nystrom'}
        Requested preconditioner.
    n_rows, n_neurons, n_inputs : int
        ``N`` (samples times outputs), ``m`` and ``d``.
    sketch_size : float
        ``s / N``.
    n_landmarks : int
        Nystrom landmarks.
    memory : float, default=None
        Budget in bytes; ``None`` means :func:`available_memory`.

    Returns
    -------
    solver, preconditioner : str
        The resolved path.
    """
    if solver in ("cholesky", "normal"):
        return solver, "none"
    if solver != "auto" and preconditioner != "auto":
        return solver, preconditioner
    costs = path_costs(n_rows, n_neurons, n_inputs, sketch_size=sketch_size,
                       n_landmarks=n_landmarks)
    if solver != "auto" or preconditioner != "auto":
        costs = {k: v for k, v in costs.items() if k[0] not in ("cholesky", "normal")}
    budget = available_memory() if memory is None else memory
    fitting = {k: v for k, v in costs.items() if v[1] <= budget}
    if fitting:
        best = min(fitting, key=lambda k: fitting[k][0])
    else:
        best = min(costs, key=lambda k: costs[k][1])
    return (best[0] if solver == "auto" else solver,
            best[1] if preconditioner == "auto" else preconditioner)


def peak_bytes(solver, preconditioner, n_rows, n_neurons, n_inputs, sketch_size,
               n_landmarks):
    """Peak memory in bytes of one Gauss-Newton step on a resolved path.

    The activation pattern (``8 N m``) plus: the Gram and its factor (``16 N^2``) for
    ``'cholesky'``; ``N x n_landmarks`` columns and their factor for ``'nystrom'``; the
    stacked ``[S J^T; sqrt(lam) I]`` and its ``N x N`` factor (``8 (min(s, P) + N) N``;
    ``S J^T`` is ``J^T`` itself when the sketch would not compress) for ``'sketch'``;
    a few ``N``-vectors for ``'none'`` and ``'jacobi'``.

    Parameters
    ----------
    solver, preconditioner : str
        A resolved path.
    n_rows, n_neurons, n_inputs : int
        ``N``, ``m`` and ``d``.
    sketch_size : float
        ``s / N``.
    n_landmarks : int
        Nystrom landmarks.

    Returns
    -------
    bytes : float
        The estimate.
    """
    N, m, d = float(n_rows), float(n_neurons), float(n_inputs)
    P, s = m * d, sketch_size * N
    pattern = 8 * N * m
    if solver == "cholesky":
        return pattern + 16 * N**2
    if solver == "normal":
        return pattern + 16 * P**2 + 64 * 2**20
    if preconditioner == "nystrom":
        return pattern + 24 * N * min(n_landmarks, N)
    if preconditioner == "sketch":
        return pattern + 8 * (min(s, P) + N) * N
    return pattern + 8 * 8 * N


def check_memory(solver, preconditioner, n_rows, n_neurons, n_inputs, sketch_size,
                 n_landmarks, memory=None):
    """Refuse, before allocating, a path whose peak memory exceeds the budget.

    Parameters
    ----------
    solver, preconditioner, n_rows, n_neurons, n_inputs, sketch_size, n_landmarks
        As in :func:`peak_bytes`.
    memory : float, default=None
        Budget in bytes; ``None`` means :func:`available_memory`.

    Raises
    ------
    ValueError
        Naming the bytes the path needs, the budget, and the path that fits.
    """
    budget = available_memory() if memory is None else memory
    sizes = (n_rows, n_neurons, n_inputs, sketch_size, n_landmarks)
    need = peak_bytes(solver, preconditioner, *sizes)
    if need <= budget:
        return
    fits = [path for path in (("cg", "nystrom"), ("cg", "jacobi"), ("cg", "none"))
            if peak_bytes(*path, *sizes) <= budget]
    advice = (f"solver={fits[0][0]!r} with preconditioner={fits[0][1]!r} needs "
              f"{peak_bytes(*fits[0], *sizes) / 2**30:.2f} GiB" if fits
              else "no solver path fits; use fewer rows or neurons")
    raise ValueError(
        f"solver={solver!r} with preconditioner={preconditioner!r} needs about "
        f"{need / 2**30:.1f} GiB at n_rows={n_rows}, n_neurons={n_neurons}, more than the "
        f"{budget / 2**30:.1f} GiB budget (half the machine's memory); {advice}. "
        "Or leave solver='auto' and preconditioner='auto'."
    )
