"""The cost model that resolves ``solver='auto'`` and ``preconditioner='auto'``.

Every path is costed in flops and bytes from the problem's sizes alone (no data is
touched); :func:`resolve_paths` takes the cheapest path whose memory fits.
"""

import math
import os

import numpy as np

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


def path_costs(n_rows, n_neurons, n_inputs, *, sketch_size=3.0, n_landmarks=500,
               block_rows=None, nystrom_iterations=None):
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
    - ``('cg', 'nystrom')``: ``L`` Gram columns, an SVD of ``N x L`` and ``t`` PCG
      iterations (``nystrom_iterations``, else 25), ``2 N L (m + d) + 2 N L^2 +
      t (4 N P)`` flops, ``24 N L`` bytes.
    - ``('lsqr', 'sketch')``: a tensor sketch, the Cholesky factor of the ``s x N`` sketch
      and about 20 LSQR iterations, ``2 s N^2 + N^3 / 3 + 20 (4 N P)`` flops,
      ``8 (min(s, P) + N) N`` bytes.

    Every path also holds the ``N x m`` activation pattern (``8 N m`` bytes, or its bits
    and one row block with ``block_rows``). The bytes are :func:`peak_bytes`, the same
    model that refuses an explicit path.

    Parameters
    ----------
    n_rows, n_neurons, n_inputs : int
        ``N``, ``m`` and ``d``.
    sketch_size : float, default=3.0
        ``s / N``.
    n_landmarks : int, default=500
        Nystrom landmarks.
    block_rows : int, default=None
        Rows per block of a bit-packed pattern; ``None`` for a float pattern.
    nystrom_iterations : float, default=None
        PCG iterations of a step on the ``L``-landmark preconditioner (a spectral
        estimate, :func:`nystrom_iterations`); ``None``: 25, measured to rtol ``1e-6``.

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
        ("cg", "nystrom"): fit["nystrom"] + (
            _ITERS_NYSTROM if nystrom_iterations is None else nystrom_iterations) * jac,
        ("lsqr", "sketch"): fit["sketch"] + _ITERS_SKETCH * jac,
    }
    sizes = (n_rows, n_neurons, n_inputs, sketch_size, n_landmarks)
    return {path: (f, peak_bytes(*path, *sizes, block_rows=block_rows))
            for path, f in flops.items()}


def _iteration_flops(N, P, penalty=_JAC_PRODUCT_PENALTY):
    """Flops of one inner iteration (a ``J`` and a ``J^T`` product, weighted)."""
    return penalty * 4 * N * P


def _fit_flops(N, m, d, sketch_size, n_landmarks):
    """Flops of fitting each preconditioner that has a fit cost."""
    s, L = sketch_size * N, float(min(n_landmarks, N))
    nystrom = 2 * N * L * (m + d) + 2 * N * L**2
    # The parameter-space Nystrom adds C^T times L columns and the SVD of a P x L basis.
    return {"nystrom": nystrom,
            "parameter_nystrom": nystrom + 2 * N * L * m * d + 4 * m * d * L**2,
            "sketch": 2 * s * N**2 + N**3 / 3}


# Candidate landmark counts of n_landmarks='auto'.
_LANDMARK_GRID = (10, 20, 30, 50, 100, 150, 200, 300, 400, 500, 700, 1000)
# Initial Levenberg-Marquardt damping over the mean Gram diagonal (NielsenDamping's tau).
_TAU = 1e-3


def nystrom_landmarks(eigenvalues, n_rows, n_neurons, n_inputs, alpha, *, rtol,
                      float32=False, parameter_space=False, power=False, n_outputs=1):
    """The landmark count that minimizes a Nystrom-PCG step's modelled flops.

    The spectrum comes from the selection of ``alpha`` (the tangent kernel on a
    subsample of ``r`` rows): the Gram of all ``N`` rows has eigenvalues about
    ``lambda_i = (N / r) mu_i``, each ``n_outputs`` times over with several outputs
    (:func:`nystrom_iterations`). With ``k`` landmarks the preconditioned system has
    condition number about ``kappa_k = 1 + lambda_k / lam`` (``lam = alpha`` plus the
    initial damping ``1e-3`` times the mean diagonal), so PCG needs about
    ``sqrt(kappa_k) ln(2 / rtol) / 2`` iterations. The count minimizes the fit's flops
    (``2 N k (m + d)`` for the columns, ``4 N k^2 + 8 k^3`` for the factorization) plus
    those iterations', over ``10 ... 1000`` capped at ``N``. On four end-to-end sets this
    model predicted the first step's iterations within a factor 1.5 and picked the
    fastest count of ``{50, ..., 800}`` within 10%. The parameter-space preconditioner
    (``parameter_space``) adds ``2 N k m d`` flops per fit for its product of ``C^T``
    with ``k`` columns, half an iteration per landmark: it takes fewer landmarks (on
    the 37,500-row teacher, 150 landmarks fitted in 6.95 s against 11.53 s with 500, at
    test R^2 0.9842 against 0.9847).

    Parameters
    ----------
    eigenvalues : ndarray of shape (r,)
        Descending eigenvalues of the subsample's kernel (``Selection.eigenvalues``).
    n_rows, n_neurons, n_inputs : int
        ``N`` (samples times outputs), ``m`` and ``d``.
    alpha : float
        The ridge strength, in the kernel's units.
    rtol : float
        Inner tolerance of the first step.
    float32 : bool, default=False
        Whether the products run in float32 (half the memory traffic).
    parameter_space : bool, default=False
        Price :class:`~skgn._preconditioners.ParameterNystromPreconditioner`'s fit
        (the step solved in parameter space) instead of the sample-space one's.
    power : bool, default=False
        Count the iterations with the extra power of that preconditioner
        (:func:`nystrom_iterations`).
    n_outputs : int, default=1
        Outputs ``k_out`` per sample (:func:`nystrom_iterations`).

    Returns
    -------
    k : int
        The landmark count.
    """
    best, best_flops = None, np.inf
    for k in _LANDMARK_GRID:
        k = min(k, int(n_rows))
        flops = nystrom_step_flops(eigenvalues, n_rows, n_neurons, n_inputs, alpha, k,
                                   rtol=rtol, float32=float32,
                                   parameter_space=parameter_space, power=power,
                                   n_outputs=n_outputs)
        if flops < best_flops:
            best, best_flops = k, flops
    return int(best)


def nystrom_step_flops(eigenvalues, n_rows, n_neurons, n_inputs, alpha, n_landmarks, *,
                       rtol, float32=False, parameter_space=False, power=False,
                       n_outputs=1):
    """Modelled flops of a first Nystrom-PCG step on ``k`` landmarks (its fit included).

    ``2 N k (m + d) + 4 N k^2 + 8 k^3`` for the fit, plus ``2 N k m d + 4 m d k^2`` in
    parameter space, plus :func:`nystrom_iterations` inner iterations of ``4 N m d``
    flops each (weighted by 2 in float64, where the products are memory-bound). The
    parameters are those of :func:`nystrom_landmarks`, with ``n_landmarks = k``.

    Returns
    -------
    flops : float
    """
    N, m, d, k = float(n_rows), float(n_neurons), float(n_inputs), float(n_landmarks)
    iteration = _iteration_flops(N, m * d, 1.0 if float32 else _JAC_PRODUCT_PENALTY)
    iterations = nystrom_iterations(eigenvalues, n_rows, alpha, n_landmarks, rtol=rtol,
                                    power=power, n_outputs=n_outputs)
    flops = 2 * N * k * (m + d) + 4 * N * k**2 + 8 * k**3 + iterations * iteration
    if parameter_space:
        flops += 2 * N * k * m * d + 4 * m * d * k**2
    return float(flops)


def exact_step_cheaper(eigenvalues, n_rows, n_neurons, n_inputs, alpha, n_landmarks, *,
                       rtol, float32=False, n_outputs=1, memory=None):
    """Whether the exact step beats a parameter-space Nystrom-PCG step.

    The exact step costs ``2 N^2 (m + d) + N^3 / 3`` flops (:func:`path_costs`) and must
    fit its ``N x N`` Gram in the budget; the parameter-space step on ``k`` landmarks is
    :func:`nystrom_step_flops` with ``parameter_space`` and ``power``, its fit included.
    (2,000 rows of 100 Gaussian inputs, 1,024 neurons, ``alpha_ = 0.01``, ad hoc: the
    parameter-space fit took 4 steps in 1.88 s, the exact one 2 steps in 0.75 s, at the
    same test R^2.)

    Parameters
    ----------
    eigenvalues, n_rows, n_neurons, n_inputs, alpha, rtol, float32, n_outputs
        As in :func:`nystrom_landmarks`.
    n_landmarks : int
        The parameter-space preconditioner's landmarks ``k``.
    memory : float, default=None
        Budget in bytes; ``None`` means :func:`available_memory`.

    Returns
    -------
    cheaper : bool
    """
    parameter = nystrom_step_flops(eigenvalues, n_rows, n_neurons, n_inputs, alpha,
                                   n_landmarks, rtol=rtol, float32=float32,
                                   parameter_space=True, power=True, n_outputs=n_outputs)
    flops, peak = path_costs(n_rows, n_neurons, n_inputs,
                             n_landmarks=n_landmarks)[("cholesky", "none")]
    budget = available_memory() if memory is None else memory
    return peak <= budget and flops < parameter


def nystrom_iterations(eigenvalues, n_rows, alpha, n_landmarks, *, rtol, power=False,
                       n_outputs=1):
    """PCG iterations of a first step on a ``k``-landmark Nystrom preconditioner (model).

    ``sqrt(kappa_k) ln(2 / rtol) / 2`` with ``kappa_k = 1 + lambda_k / lam``, ``lambda_k``
    the ``k``-th eigenvalue of the Gram of all ``N`` rows estimated from the ``r``-row
    subsample's ``mu`` (its last one beyond ``r``) and ``lam = alpha`` plus the initial
    damping, ``1e-3`` times the mean diagonal (see :func:`nystrom_landmarks`). With
    ``k_out`` outputs the ``N = n k_out`` rows hold ``n`` samples, and the outputs of the
    two-layer network share its hidden layer with independent random signs: their
    Gram is about ``I_{k_out}`` times the kernel of the ``n`` samples, each eigenvalue
    ``(n / r) mu_i`` repeated ``k_out`` times, so ``lambda_k = (n / r) mu_{k // k_out}``.
    (Read as ``N`` samples of one output, ``lambda_k = (N / r) mu_k``, the model priced
    10 landmarks on digits at 49 iterations against 29 at 50 and chose 50; the first step
    took 28 and 27.)

    With ``power``, ``kappa_k = 1 + sqrt(lambda_k / lam)``: the parameter-space
    preconditioner's test matrix takes one more power of the curvature, and its error is
    about the geometric mean of ``lambda_k`` and ``lam``. On digits (1,347 rows, 10
    outputs, 1024 neurons, ``alpha = 1e-4``) the first step took 28, 27, 27, 27, 21 and 18
    iterations at 10, 20, 30, 50, 100 and 200 landmarks, where this count is 35, 35, 34,
    31, 28 and 23 and the count without ``power`` 581, 576, 543, 449, 366 and 249: the
    model is 1.3 times high, but its shape, flat up to 50 landmarks, is the measured
    one. It describes a first step; where the damping then decays over many steps (more
    rows than parameters) the count without ``power`` is the safer price.

    Parameters
    ----------
    eigenvalues : ndarray of shape (r,)
        Descending eigenvalues of the subsample's kernel.
    n_rows : int
        ``N``, samples times outputs.
    alpha : float
        The ridge strength, in the kernel's units.
    n_landmarks : int
        ``k``.
    rtol : float
        Inner tolerance of the step.
    power : bool, default=False
        The parameter-space preconditioner's extra power of the curvature.
    n_outputs : int, default=1
        Outputs ``k_out`` per sample: each kernel eigenvalue counts ``k_out`` times.

    Returns
    -------
    iterations : float
    """
    mu = np.maximum(np.asarray(eigenvalues, dtype=np.float64), 0.0)
    r = len(mu)
    lam = alpha + _TAU * mu.sum() / r
    # lambda_k of the full Gram of n_rows / n_outputs samples, each of the kernel's
    # eigenvalues once per output; beyond the subsample its last eigenvalue.
    outputs = int(n_outputs)
    lambda_k = (float(n_rows) / outputs / r) * mu[min(int(n_landmarks) // outputs, r - 1)]
    ratio = lambda_k / lam
    return float(0.5 * np.sqrt(1.0 + (np.sqrt(ratio) if power else ratio))
                 * np.log(2.0 / rtol))


def refit_iterations(preconditioner, n_rows, n_neurons, n_inputs, sketch_size,
                     n_landmarks, fit_rows=None):
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
    fit_rows : int, default=None
        Rows the fit runs on, when fewer than the ``n_rows`` an iteration runs on
        (:class:`~skgn._preconditioners.ParameterNystromPreconditioner`'s
        ``fit_samples``).

    Returns
    -------
    iterations : int or None
        ``ceil(fit flops / iteration flops)``, at least 1; ``None`` for a preconditioner
        without a fit cost (``'none'``, ``'jacobi'``), which is never refitted early.
    """
    N, m, d = float(n_rows), float(n_neurons), float(n_inputs)
    F = N if fit_rows is None else min(float(fit_rows), N)
    fit = _fit_flops(F, m, d, sketch_size, n_landmarks).get(preconditioner)
    if fit is None:
        return None
    # Priced at float64 speed whatever the dtype, so that dtype changes only precision.
    return max(1, math.ceil(fit / _iteration_flops(N, m * d)))


def resolve_paths(solver, preconditioner, n_rows, n_neurons, n_inputs, sketch_size,
                   n_landmarks, memory=None, block_rows=None, nystrom_iterations=None):
    """Resolve ``'auto'`` with the cost model: the cheapest path whose memory fits.

    A path is ``(solver, preconditioner)``; the preconditioner's cost does not depend on
    whether CG or LSQR runs on it. An explicit preconditioner asks for an iterative
    solver; an explicit iterative solver takes the cheapest preconditioner. When no
    costed path fits, CG with the diagonal preconditioner (the least memory) is taken if
    it fits and is allowed, else the costed path with the least memory, which
    :func:`check_memory` then refuses.

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
    block_rows : int, default=None
        Rows per block of a bit-packed pattern; ``None`` for a float pattern.
    nystrom_iterations : float, default=None
        PCG iterations of a Nystrom step (:func:`path_costs`).

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
                       n_landmarks=n_landmarks, block_rows=block_rows,
                       nystrom_iterations=nystrom_iterations)
    if solver != "auto" or preconditioner != "auto":
        costs = {k: v for k, v in costs.items() if k[0] not in ("cholesky", "normal")}
    budget = available_memory() if memory is None else memory
    fitting = {k: v for k, v in costs.items() if v[1] <= budget}
    diagonal = ("cg", "jacobi")
    if fitting:
        best = min(fitting, key=lambda k: fitting[k][0])
    elif (solver in ("auto", "cg") and preconditioner in ("auto", "jacobi")
          and peak_bytes(*diagonal, n_rows, n_neurons, n_inputs, sketch_size, n_landmarks,
                         block_rows=block_rows) <= budget):
        # No costed path fits: the diagonal preconditioner holds least beside the
        # pattern (a few n-vectors), and its CG converges, if slowly.
        best = diagonal
    else:
        best = min(costs, key=lambda k: costs[k][1])
    return (best[0] if solver == "auto" else solver,
            best[1] if preconditioner == "auto" else preconditioner)


def peak_bytes(solver, preconditioner, n_rows, n_neurons, n_inputs, sketch_size,
               n_landmarks, block_rows=None):
    """Peak memory in bytes of one Gauss-Newton step on a resolved path.

    The activation pattern (``8 N m``, or with ``block_rows`` its bits and one unpacked
    block, ``N m / 8 + 9 block_rows m``) plus: the Gram and its factor (``16 N^2``) for
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
    block_rows : int, default=None
        Rows per block of a bit-packed pattern; ``None`` for a float pattern.

    Returns
    -------
    bytes : float
        The estimate.
    """
    N, m, d = float(n_rows), float(n_neurons), float(n_inputs)
    P, s = m * d, sketch_size * N
    pattern = 8 * N * m if block_rows is None else N * m / 8 + 9 * block_rows * m
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
                 n_landmarks, memory=None, block_rows=None):
    """Refuse, before allocating, a path whose peak memory exceeds the budget.

    Parameters
    ----------
    solver, preconditioner, n_rows, n_neurons, n_inputs, sketch_size, n_landmarks
        As in :func:`peak_bytes`.
    memory : float, default=None
        Budget in bytes; ``None`` means :func:`available_memory`.
    block_rows : int, default=None
        Rows per block of a bit-packed pattern; ``None`` for a float pattern.

    Raises
    ------
    ValueError
        Naming the bytes the path needs, the budget, and the path that fits.
    """
    budget = available_memory() if memory is None else memory
    sizes = (n_rows, n_neurons, n_inputs, sketch_size, n_landmarks)
    need = peak_bytes(solver, preconditioner, *sizes, block_rows=block_rows)
    if need <= budget:
        return
    fits = [path for path in (("cg", "nystrom"), ("cg", "jacobi"), ("cg", "none"))
            if peak_bytes(*path, *sizes, block_rows=block_rows) <= budget]
    advice = (f"solver={fits[0][0]!r} with preconditioner={fits[0][1]!r} needs "
              f"{_readable(peak_bytes(*fits[0], *sizes, block_rows=block_rows))}"
              if fits
              else "no solver path fits; use fewer rows or neurons")
    source = "half the machine's memory" if memory is None else "max_memory"
    raise ValueError(
        f"solver={solver!r} with preconditioner={preconditioner!r} needs about "
        f"{_readable(need)} at n_rows={n_rows}, n_neurons={n_neurons}, more than the "
        f"{_readable(budget)} budget ({source}); {advice}. "
        "Or leave solver='auto' and preconditioner='auto', or raise max_memory."
    )


def _readable(n_bytes):
    """``n_bytes`` in GiB from 1 GiB on, else in MiB (a 3 MiB budget is not "0.0 GiB")."""
    if n_bytes >= 2**30:
        return f"{n_bytes / 2**30:.1f} GiB"
    return f"{n_bytes / 2**20:.1f} MiB"


def landmark_limit(solver, preconditioner, n_rows, n_neurons, n_inputs, sketch_size,
                   memory=None, block_rows=None):
    """The most landmarks a Nystrom preconditioner may grow to during a fit.

    The Gauss-Newton loop doubles the landmarks when later solves outrun the first
    step's preconditioner (:meth:`~skgn._gauss_newton.PreconditionerCache.grow`). The
    limit is the largest count of the landmark grid (at most ``1000``, the largest
    count :func:`nystrom_landmarks` prices) whose :func:`peak_bytes` fits the memory
    budget, the one :func:`check_memory` enforces.

    Parameters
    ----------
    solver, preconditioner, n_rows, n_neurons, n_inputs, sketch_size, block_rows
        As in :func:`peak_bytes`.
    memory : float, default=None
        Budget in bytes; ``None`` means :func:`available_memory`.

    Returns
    -------
    k : int
        The limit; ``0`` when no count of the grid fits (no growth).
    """
    budget = available_memory() if memory is None else memory
    sizes = (n_rows, n_neurons, n_inputs, sketch_size)
    fitting = [k for k in _LANDMARK_GRID
               if peak_bytes(solver, preconditioner, *sizes, k, block_rows=block_rows)
               <= budget]
    return max(fitting, default=0)
