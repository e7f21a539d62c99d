"""Per-step time and peak memory of each solver path, and the growth exponent in n.

Usage::

    python benchmarks/bench_paths.py                 # n in 1k, 2k, 4k, 8k, 16k
    python benchmarks/bench_paths.py --quick         # n in 1k, 2k
    python benchmarks/bench_paths.py --sizes 1000 4000 --neurons 4096 --features 20

One Gauss-Newton step (forward pass, Jacobian, preconditioner fit, inner solve to the
first step's tolerance 0.1, trial evaluation) from a symmetric initialization on a
random teacher problem, float64. Peak memory is NumPy's allocations as seen by
tracemalloc. Prints a Markdown table and writes it, with the command, to
``benchmarks/paths.md``.
"""

import argparse
import platform
import sys
import time
import tracemalloc
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from skgn._cost_model import path_costs, resolve_paths
from skgn._gauss_newton import LMState, gauss_newton
from skgn._network import TwoLayerReLU, add_bias_feature
from skgn._preconditioners import (
    NO_PRECONDITIONER,
    NystromPreconditioner,
    SketchPreconditioner,
)
from skgn._solvers import solve_cg, solve_cholesky, solve_lsqr

PATHS = {
    "cholesky": (solve_cholesky, lambda: NO_PRECONDITIONER),
    "cg+nystrom": (solve_cg, lambda: NystromPreconditioner(n_landmarks=500, random_state=0)),
    "lsqr+sketch": (solve_lsqr, lambda: SketchPreconditioner(random_state=0)),
    "cg+none": (solve_cg, lambda: NO_PRECONDITIONER),
}
# Keys of skgn._cost_model.path_costs for the modelled paths.
MODEL = {"cholesky": ("cholesky", "none"), "cg+nystrom": ("cg", "nystrom"),
         "lsqr+sketch": ("lsqr", "sketch")}
INNER_RTOL, INNER_MAX_ITER = 1e-6, 500


def _init(m, n_inputs):
    """Symmetric initial weights and signs of width ``m``."""
    network, W0 = TwoLayerReLU.initialize(np.random.RandomState(0), n_inputs, 1, n_neurons=m)
    return W0, network.signs


def one_step(path, X_tilde, y, W0, signs):
    """Seconds (best of 2 below n = 4000), peak MiB and inner iterations of one step."""
    repeat = 2 if X_tilde.shape[0] < 4000 else 1
    runs = [_timed_step(path, X_tilde, y, W0, signs) for _ in range(repeat)]
    return min(r[0] for r in runs), runs[-1][1], runs[-1][2]


def _timed_step(path, X_tilde, y, W0, signs):
    solve, factory = PATHS[path]
    tracemalloc.start()
    start = time.perf_counter()
    result = gauss_newton(TwoLayerReLU(signs), W0, W0, X_tilde, y[:, None], alpha=1.0,
                          solve=solve, preconditioner=factory(), max_iter=1,
                          inner_max_iter=INNER_MAX_ITER, state=LMState(inner_rtol=INNER_RTOL))
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, peak, result.history[0]["inner_iterations"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000, 8000, 16000])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--neurons", type=int, default=4096)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--m-sweep-n", type=int, default=4000,
                        help="n of the sweep over n_neurons (cholesky and cg+nystrom)")
    args = parser.parse_args(argv)
    sizes = [1000, 2000] if args.quick else args.sizes
    m, d = args.neurons, args.features
    rng = np.random.default_rng(0)
    # Warm up BLAS, FFT and the import machinery before the first timing.
    Xw = add_bias_feature(rng.standard_normal((200, d)), True)
    Ww, sw = _init(256, d + 1)
    for path in PATHS:
        _timed_step(path, Xw, rng.standard_normal(200), Ww, sw)
    rows, times, autos = [], {p: [] for p in PATHS}, []
    for n in sizes:
        X = rng.standard_normal((n, d))
        teacher = rng.standard_normal((64, d))
        y = np.maximum(X @ teacher.T, 0).sum(1) / 8
        y = (y - y.mean()) / y.std()
        X_tilde = add_bias_feature(X, True)
        W0, signs = _init(m, d + 1)
        auto = resolve_paths("auto", "auto", n, m, d + 1, 3.0, 500)
        model = path_costs(n, m, d + 1)
        cheapest = min(f for f, _ in model.values())
        measured = {}
        for path in PATHS:
            if path in MODEL and model[MODEL[path]][0] > 10 * cheapest:
                rows.append((n, path, np.nan, np.nan, "skipped: model predicts "
                             f"{model[MODEL[path]][0] / cheapest:.0f}x the cheapest", np.nan))
                times[path].append(np.nan)
                continue
            sec, peak, iters = one_step(path, X_tilde, y, W0, signs)
            times[path].append(sec)
            measured[path] = sec
            rows.append((n, path, sec, peak / 2**20, iters, n * n * 8 / 2**20))
            print(f"n={n:6d} {path:12s} {sec:8.2f} s  peak {peak / 2**20:8.1f} MiB  inner {iters}",
                  flush=True)
        auto_name = {v: k for k, v in MODEL.items()}[auto]
        fastest = min(measured, key=measured.get)
        autos.append((n, auto_name, fastest, measured[auto_name] / measured[fastest]))
        print(f"n={n:6d} auto -> {auto_name}; fastest {fastest}", flush=True)
    lines = [
        f"Command: `python benchmarks/bench_paths.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
        f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}, Python "
        f"{platform.python_version()}, numpy {np.__version__}; m={m}, d={d}, float64; "
        f"one step at alpha=1, inner rtol {INNER_RTOL:g}, inner cap {INNER_MAX_ITER}.",
        "",
        "| n | path | seconds/step | peak MiB | inner iterations | n x n array MiB |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {n} | {p} | {s:.2f} | {mem:.1f} | {it} | {nn:.1f} |" for n, p, s, mem, it, nn in rows]
    lines += ["", "| n | 'auto' chose | fastest measured | auto / fastest |", "|---|---|---|---|"]
    lines += [f"| {n} | {a} | {f} | {r:.2f} |" for n, a, f, r in autos]
    if len(sizes) > 1:
        lines += ["", "| path | exponent in n (log-log fit over measured sizes) |", "|---|---|"]
        for path, ts in times.items():
            ok = np.isfinite(ts)
            if ok.sum() >= 2:
                slope = np.polyfit(np.log(np.array(sizes)[ok]), np.log(np.array(ts)[ok]), 1)[0]
                lines.append(f"| {path} | {slope:.2f} |")
    # Per-step time against m at fixed n, for the exact and the best matrix-free path.
    n_sweep = 1000 if args.quick else args.m_sweep_n
    widths = [1024, 2048, 4096] if args.quick else [1024, 2048, 4096, 8192]
    X = rng.standard_normal((n_sweep, d))
    y = np.maximum(X @ rng.standard_normal((64, d)).T, 0).sum(1)
    y = (y - y.mean()) / y.std()
    X_tilde = add_bias_feature(X, True)
    m_times = {"cholesky": [], "cg+nystrom": []}
    for width in widths:
        W0, signs = _init(width, d + 1)
        for path in m_times:
            m_times[path].append(one_step(path, X_tilde, y, W0, signs)[0])
    lines += ["", f"Per-step seconds against n_neurons at n = {n_sweep}:", "",
              "| path | " + " | ".join(f"m={w}" for w in widths) + " | exponent in m |",
              "|---|" + "---|" * (len(widths) + 1)]
    for path, ts in m_times.items():
        slope = np.polyfit(np.log(widths), np.log(ts), 1)[0]
        lines.append(f"| {path} | " + " | ".join(f"{t:.2f}" for t in ts) + f" | {slope:.2f} |")

    text = "\n".join(lines)
    print(text)
    Path(__file__).with_name("paths.md").write_text(text + "\n")

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for path, ts in times.items():
        ok = np.isfinite(ts)
        if ok.sum() >= 2:
            ns, tt = np.array(sizes)[ok], np.array(ts)[ok]
            slope = np.polyfit(np.log(ns), np.log(tt), 1)[0]
            ax1.loglog(ns, tt, "o-", label=f"{path} (slope {slope:.2f})")
    ax1.set_xlabel("n (samples)")
    ax1.set_ylabel("seconds per Gauss-Newton step")
    ax1.set_title(f"m = {m}, d = {d}")
    ax1.legend(fontsize=8)
    for path, ts in m_times.items():
        slope = np.polyfit(np.log(widths), np.log(ts), 1)[0]
        ax2.loglog(widths, ts, "o-", label=f"{path} (slope {slope:.2f})")
    ax2.set_xlabel("n_neurons m")
    ax2.set_title(f"n = {n_sweep}, d = {d}")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(Path(__file__).with_name("step_time.png"), dpi=100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
