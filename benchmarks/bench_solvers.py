"""Solver-level figures: inner iterations against the condition number, and the share of
the machine's GEMM rate that the Jacobian products reach.

Usage::

    python benchmarks/bench_solvers.py            # n = 1000 for kappa; n = 8000 for GEMM
    python benchmarks/bench_solvers.py --quick    # n = 500; n = 4000

Part 1 builds an ill-conditioned Gram (d = 2 inputs, width 10 n) and sweeps the shift
``lam`` so that ``cond(J J^T + lam I)`` spans many decades; it counts the CG iterations to
a relative residual of 1e-8 without a preconditioner, with the sketch preconditioner
(TensorSRHT, sketch_size 3) and with Nystrom (n / 10 landmarks). Part 2 measures the
float64 GEMM rate of this machine, then times ``J v``, ``J^T z`` and 16-vector blocks of
both at m = 4096, d = 20. Writes ``benchmarks/solvers.md`` and
``benchmarks/iterations_vs_kappa.png``.
"""

import argparse
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from skgn._network import TwoLayerReLU, add_bias_feature
from skgn._preconditioners import (
    NO_PRECONDITIONER,
    NystromPreconditioner,
    SketchPreconditioner,
)
from skgn._solvers import solve_cg

HERE = Path(__file__).parent


def jacobian(n, m, d, seed=0):
    rng = np.random.default_rng(seed)
    X_tilde = add_bias_feature(rng.standard_normal((n, d)), True)
    half = rng.standard_normal((m // 2, d + 1))
    W = np.repeat(half, 2, axis=0)
    signs = np.repeat(rng.choice([-1.0, 1.0], size=(m // 2, 1)), 2, axis=0)
    signs[1::2] *= -1
    return TwoLayerReLU(signs).jacobian(W, X_tilde), rng.standard_normal(n)


def iterations_vs_kappa(n):
    J, b = jacobian(n, 10 * n, 2)
    ev = np.linalg.eigvalsh(J.gram())
    rows = []
    for lam in 10.0 ** np.arange(0, -10, -1.5):
        kappa = (ev[-1] + lam) / (max(ev[0], 0) + lam)
        its = {}
        for name, pre in (
            ("cg", NO_PRECONDITIONER),
            ("cg+sketch", SketchPreconditioner(random_state=0).fit(J, lam)),
            ("cg+nystrom", NystromPreconditioner(n_landmarks=n // 10, random_state=0).fit(J, lam)),
        ):
            res = solve_cg(J, b, lam, rtol=1e-8, maxiter=2000, preconditioner=pre)
            its[name] = res.n_iter if res.converged else np.nan
        rows.append((lam, kappa, its))
        print(f"lam {lam:.1e}  kappa {kappa:.2e}  {its}", flush=True)
    return rows


def best_time(func, repeat=5):
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def gemm_share(n, m=4096, d=20):
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((2048, 2048)), rng.standard_normal((2048, 2048))
    gemm = 2 * 2048**3 / best_time(lambda: A @ B)
    pattern = rng.standard_normal((n, m))
    J, _ = jacobian(n, m, d)
    P = J.shape[1]
    v, z = rng.standard_normal(P), rng.standard_normal(n)
    V, Z = rng.standard_normal((P, 16)), rng.standard_normal((n, 16))
    rows = []
    # Each product is one GEMM of the n x m pattern with an m x (d+1) p block (p vectors):
    # compare it with a plain GEMM of exactly that shape.
    for label, func, vectors in (
        ("J v", lambda: J.matvec(v), 1),
        ("J^T z", lambda: J.rmatvec(z), 1),
        ("J V (16 vectors)", lambda: J.matmat(V), 16),
        ("J^T Z (16 vectors)", lambda: J.rmatmat(Z), 16),
    ):
        seconds = best_time(func)
        rate = 2 * n * P * vectors / seconds
        block = rng.standard_normal((m, (d + 1) * vectors))
        same_shape = 2 * n * P * vectors / best_time(lambda: pattern @ block)
        rows.append((label, seconds, rate / 1e9, rate / gemm, same_shape / gemm))
        print(f"{label:20s} {seconds:.4f}s  {rate / 1e9:.1f} GF/s  {rate / gemm:.0%} of GEMM",
              flush=True)
    return gemm, rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    n_kappa, n_gemm = (500, 4000) if args.quick else (1000, 8000)
    kappa_rows = iterations_vs_kappa(n_kappa)
    gemm, gemm_rows = gemm_share(n_gemm)
    cmd = f"python benchmarks/bench_solvers.py {' '.join(argv if argv is not None else sys.argv[1:])}"
    lines = [f"Command: `{cmd}`", "",
             f"Inner CG iterations to relative residual 1e-8 (cap 2000; blank = not reached), "
             f"n = {n_kappa}, d = 2, n_neurons = {10 * n_kappa}:", "",
             "| lam | cond(K + lam I) | cg | cg+sketch | cg+nystrom |", "|---|---|---|---|---|"]
    for lam, kappa, its in kappa_rows:
        cells = " | ".join("" if np.isnan(its[k]) else str(int(its[k]))
                           for k in ("cg", "cg+sketch", "cg+nystrom"))
        lines.append(f"| {lam:.1e} | {kappa:.2e} | {cells} |")
    lines += ["", f"Jacobian products at n = {n_gemm}, m = 4096, d = 20 (float64, best of 5); "
              f"this machine's float64 GEMM (2048^3): {gemm / 1e9:.1f} GF/s. Each product is "
              "one GEMM of the n x m activation pattern with an m x (d+1)p block (p vectors); "
              "the last column is a plain GEMM of exactly that shape, the bound BLAS sets for "
              "a product of width (d+1)p.", "",
              "| product | seconds | GF/s | share of GEMM | same-shape GEMM (share of GEMM) |",
              "|---|---|---|---|---|"]
    lines += [f"| {label} | {s:.4f} | {r:.1f} | {share:.0%} | {b:.0%} |"
              for label, s, r, share, b in gemm_rows]
    text = "\n".join(lines)
    (HERE / "solvers.md").write_text(text + "\n")
    print(text)

    fig, ax = plt.subplots(figsize=(6, 4))
    kappas = [k for _, k, _ in kappa_rows]
    for name in ("cg", "cg+sketch", "cg+nystrom"):
        ax.loglog(kappas, [its[name] for _, _, its in kappa_rows], "o-", label=name)
    ax.set_xlabel("cond(J J^T + lam I)")
    ax.set_ylabel("CG iterations to 1e-8")
    ax.legend()
    fig.tight_layout()
    fig.savefig(HERE / "iterations_vs_kappa.png", dpi=100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
