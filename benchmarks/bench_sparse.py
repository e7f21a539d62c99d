"""Shifted ReLU: per-step time of the dense, sparse and indexed activation patterns.

Usage::

    python benchmarks/bench_sparse.py                  # m in 2^12 .. 2^17
    python benchmarks/bench_sparse.py --quick          # m in 2^12, 2^13
    python benchmarks/bench_sparse.py --max-log-m 16

A random teacher problem, n = 4,000, d = 20, ``activation='shifted_relu'``,
``shift='auto'`` (``sqrt(0.4 log m)``), float64, ``solver='cg'`` with the Nystrom
preconditioner, ``alpha=1``, four Gauss-Newton steps. The per-step time is the median of
steps 2-4 (step 1 also fits the preconditioner; the index is built before it); the
exponent in m is the least-squares slope of log time against log m. Peak memory is
NumPy's allocations (tracemalloc) over a second, traced fit (times come from an
untraced one). Prints a Markdown table, writes it
to ``benchmarks/sparse.md`` and the plot to ``benchmarks/sparse_step_time.png``.
"""

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

import datasets
from timing import timed_fit
from skgn import SketchedGNRegressor

HERE = Path(__file__).parent
PATTERNS = ("dense", "sparse", "indexed")
N, D = 4000, 20


def run(X, y, m, pattern):
    model = SketchedGNRegressor(
        m, activation="shifted_relu", pattern=pattern, solver="cg", preconditioner="nystrom",
        alpha=1.0, input_scale=1.0, max_iter=4, tol=0.0, dtype=np.float64, random_state=0)
    seconds, peak = timed_fit(model, X, y)
    steps = model.history_
    return {
        "step": float(np.median([h["seconds"] for h in steps[1:]])),
        "fit": seconds,
        "peak": peak,
        "fired": steps[-1].get("fired_fraction", np.nan),
        "borderline": (np.mean([h["index_borderline"] for h in steps[1:]]) / (N * m)
                       if pattern == "indexed" else np.nan),
        "rebuilt": (sum(h["index_rebuilt"] for h in steps[1:]) if pattern == "indexed"
                    else np.nan),
        "predict": model.predict(X[:500]),
    }


def slope(ms, times):
    ok = np.isfinite(times)
    if ok.sum() < 2:
        return np.nan
    return float(np.polyfit(np.log(np.asarray(ms)[ok]), np.log(np.asarray(times)[ok]), 1)[0])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--max-log-m", type=int, default=17)
    parser.add_argument("--max-dense-log-m", type=int, default=17,
                        help="largest m for the dense pattern (its n x m arrays: 8 n m "
                             "bytes each, several at once)")
    args = parser.parse_args(argv)
    top = 13 if args.quick else args.max_log_m
    ms = [2**k for k in range(12, top + 1)]
    X, y = datasets.teacher(N, d=D, seed=0)
    X = (X - X.mean(0)) / X.std(0)
    y = (y - y.mean()) / y.std()
    results = {p: {} for p in PATTERNS}
    rows = []
    for m in ms:
        for pattern in PATTERNS:
            if pattern == "dense" and m > 2**args.max_dense_log_m:
                continue
            results[pattern][m] = run(X, y, m, pattern)
        ref = results["dense"].get(m) or results["sparse"][m]
        for pattern in PATTERNS:
            r = results[pattern].get(m)
            if r is None:
                rows.append(f"| {m} | {pattern} | | | | | | | skipped: memory |")
                continue
            dense_step = results["dense"][m]["step"] if m in results["dense"] else np.nan
            diff = np.linalg.norm(r["predict"] - ref["predict"]) / np.linalg.norm(ref["predict"])
            rows.append(
                f"| {m} | {pattern} | {r['step']:.3f} | {dense_step / r['step']:.2f} | "
                f"{r['fit']:.2f} | {r['peak']:.0f} | {r['fired']:.4f} | "
                f"{r['borderline']:.4f} | {r['rebuilt']:.0f} | {diff:.1e} |")
            print(rows[-1], flush=True)
    exponents = {p: slope(list(results[p]), [results[p][m]["step"] for m in results[p]])
                 for p in PATTERNS}
    head = [
        "| m | pattern | step s | dense / this | fit s | peak MiB | fired fraction | "
        "borderline fraction | neurons rebuilt (steps 2-4) | prediction difference from "
        "dense |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    exps = ", ".join(f"{p} {e:.2f}" for p, e in exponents.items())
    command = "python benchmarks/bench_sparse.py" + (" --quick" if args.quick else "")
    text = "\n".join([
        f"Command: `{command}`", "",
        f"n = {N}, d = {D}, shift 'auto', cg + Nystrom (500 landmarks), alpha = 1, float64; "
        "step s is the median of steps 2-4.", "", *head, *rows, "",
        f"Exponent of the per-step time in m: {exps}.", "",
    ])
    (HERE / "sparse.md").write_text(text)
    fig, ax = plt.subplots(figsize=(6, 4))
    for p in PATTERNS:
        if results[p]:
            ax.loglog(list(results[p]), [results[p][m]["step"] for m in results[p]], "o-",
                      label=f"{p} (slope {exponents[p]:.2f})")
    ax.set_xlabel("m (neurons)")
    ax.set_ylabel("seconds per Gauss-Newton step")
    ax.set_title(f"Shifted ReLU, n = {N}, d = {D}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(HERE / "sparse_step_time.png", dpi=120)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
