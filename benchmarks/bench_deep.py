"""Deep networks: per-step time against the width m, depth 2 against depth 1.

Usage::

    python benchmarks/bench_deep.py                 # m in 512 .. 4096
    python benchmarks/bench_deep.py --quick         # m in 512, 1024
    python benchmarks/bench_deep.py --max-log-m 13  # up to m = 8192

A random teacher problem, n = 2,000, d = 20, float64, ``solver='cg'`` with the Nystrom
preconditioner (500 landmarks), ``alpha=1``, ``input_scale=1``, three Gauss-Newton steps;
the per-step time is the median of steps 2-3 (step 1 also fits the preconditioner). Only
the dense path exists (every Jacobian product costs ``O(n m^2)`` for depth 2); the
exponent in m is the least-squares slope of log time against log m. Peak memory is
NumPy's allocations (tracemalloc, from a second fit; times come from an untraced
one). Writes ``benchmarks/deep.md``.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

import datasets
from timing import timed_fit
from skgn import SketchedGNRegressor

HERE = Path(__file__).parent
N, D = 2000, 20


def run(X, y, m, depth):
    model = SketchedGNRegressor(m, depth=depth, solver="cg", preconditioner="nystrom",
                                alpha=1.0, input_scale=1.0, max_iter=3, tol=0.0,
                                dtype=np.float64, random_state=0)
    seconds, peak = timed_fit(model, X, y)
    steps = model.history_
    return {"step": float(np.median([h["seconds"] for h in steps[1:]])), "fit": seconds,
            "peak": peak, "inner": [h["inner_iterations"] for h in steps]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--max-log-m", type=int, default=12)
    args = parser.parse_args(argv)
    top = 10 if args.quick else args.max_log_m
    ms = [2**k for k in range(9, top + 1)]
    X, y = datasets.teacher(N, d=D, seed=0)
    X = (X - X.mean(0)) / X.std(0)
    y = (y - y.mean()) / y.std()
    rows, times = [], {1: [], 2: []}
    for m in ms:
        for depth in (1, 2):
            r = run(X, y, m, depth)
            times[depth].append(r["step"])
            rows.append(f"| {m} | {depth} | {r['step']:.3f} | {r['fit']:.2f} | "
                        f"{r['peak']:.0f} | {r['inner']} |")
            print(rows[-1], flush=True)
    slopes = {depth: float(np.polyfit(np.log(ms), np.log(t), 1)[0]) for depth, t in times.items()}
    command = "python benchmarks/bench_deep.py" + (" --quick" if args.quick else "")
    text = "\n".join([
        f"Command: `{command}`", "",
        f"n = {N}, d = {D}, cg + Nystrom, alpha = 1, float64; step s is the median of "
        "steps 2-3 (dense path: no low-rank weight maintenance yet).", "",
        "| m | depth | step s | fit s | peak MiB | inner iterations per step |",
        "|---|---|---|---|---|---|", *rows, "",
        f"Exponent of the per-step time in m: depth 1 {slopes[1]:.2f}, depth 2 "
        f"{slopes[2]:.2f}.", "",
    ])
    (HERE / "deep.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
