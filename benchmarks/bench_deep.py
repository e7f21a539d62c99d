"""Deep networks: per-step time against the width m, depth 2 against depth 1.

Usage::

    python benchmarks/bench_deep.py                 # dense m in 512 .. 4096, sparse .. 16384
    python benchmarks/bench_deep.py --quick         # m in 512, 1024
    python benchmarks/bench_deep.py --max-log-m 13 --max-log-m-sparse 13

A random teacher problem, n = 2,000, d = 20, float64, ``alpha=1``, ``input_scale=1``,
three Gauss-Newton steps, on the path ``'auto'`` takes (recorded in the table: the exact
Cholesky step on the tensor-trick Gram at these sizes) and, for comparison, on CG with
the Nystrom preconditioner (500 landmarks); the per-step time is the median of steps 2-3
(step 1 also fits the preconditioner). The dense depth-2 path costs ``O(n m^2)`` per
forward pass and Jacobian product; the sparse one (``activation='shifted_relu'``, its
``'auto'`` shift firing about ``sqrt(m)`` neurons per layer and sample) costs
``O(n m^1.5)``. The dense path builds the Gram in ``O(n^2 m)`` per layer, the sparse
one from sparse factors in ``O(n^2 s^2 / m)``. The sparse path runs twice:
with dense weights (``m^2``-sized parameter vectors, column blocks of ``W_l`` copied at
every linearization) and with lazy weights (``skgn/_lowrank.py``: the initialization plus
the steps' sparse low-rank factors, never folded). The estimator chooses between them by
cost (``lazy_max_terms``, folding when a vector would hold more terms per layer than it
allows); the table lists that rule's count at each width, and the benchmark forces each
path by replacing it. Step 2 of a lazy fit holds one term, step 3 two. The exponent in m
is the least-squares slope of log time against log m. Peak memory is NumPy's
allocations (tracemalloc, from a second fit; times come from an untraced one). From
``m = 16,384`` the dense weights take 21 GiB resident for one fit, most of it
parameter-sized vectors of ``m^2`` float64, 2 GiB each. There is no room for a second
fit beside the first, and the column says n/a.
Writes ``benchmarks/deep.md``.
"""

import argparse
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from scipy.stats import norm

import datasets
import skgn._deep
from skgn import SketchedGNRegressor
from skgn._lowrank import lazy_max_terms
from timing import timed_fit

HERE = Path(__file__).parent
N, D = 2000, 20


SPARSE = {"activation": "shifted_relu"}
# path -> (estimator parameters, forced fold threshold: None leaves the cost rule).
PATHS = {"auto": ({}, None),
         "cg+nystrom": ({"solver": "cg", "preconditioner": "nystrom"}, None),
         "sparse, dense weights": (SPARSE, 0),
         "sparse, lazy weights": (SPARSE, 10**6)}


# Widths from which the traced second fit of dense sparse-path weights is skipped (no
# room beside the first).
UNTRACED_FROM = 16384


@contextmanager
def fold_threshold(max_terms):
    """Replace the cost rule of the lazy weights' fold (``None``: keep it)."""
    saved = skgn._deep.lazy_max_terms
    if max_terms is not None:
        skgn._deep.lazy_max_terms = lambda *args: max_terms
    try:
        yield
    finally:
        skgn._deep.lazy_max_terms = saved


def run(X, y, m, depth, path):
    params, max_terms = PATHS[path]
    model = SketchedGNRegressor(m, depth=depth, alpha=1.0, input_scale=1.0, max_iter=3,
                                tol=0.0, dtype=np.float64, random_state=0, **params)
    with fold_threshold(max_terms):
        seconds, peak = timed_fit(model, X, y,
                                  trace_memory=m < UNTRACED_FROM or max_terms != 0)
    steps = model.history_
    return {"step": float(np.median([h["seconds"] for h in steps[1:]])), "fit": seconds,
            "peak": peak, "inner": [h["inner_iterations"] for h in steps],
            "path": f"{steps[0]['solver']}+{steps[0]['preconditioner']}",
            "rule": (lazy_max_terms(X.shape[0], m, m * norm.sf(model.shift_))
                     if params is SPARSE else None)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--max-log-m", type=int, default=12)
    parser.add_argument("--max-log-m-sparse", type=int, default=14)
    args = parser.parse_args(argv)
    top = 10 if args.quick else args.max_log_m
    top_sparse = 10 if args.quick else args.max_log_m_sparse
    X, y = datasets.teacher(N, d=D, seed=0)
    X = (X - X.mean(0)) / X.std(0)
    y = (y - y.mean()) / y.std()
    # (depth, path) -> widths: the sparse path at depth 2 only, and to larger widths.
    widths = {(depth, path): [2**k for k in range(9, top + 1)]
              for depth in (1, 2) for path in PATHS if "sparse" not in path}
    for path in PATHS:
        if "sparse" in path:
            widths[2, path] = [2**k for k in range(9, top_sparse + 1)]
    rows, times = [], {key: [] for key in widths}
    for m in sorted({m for ms in widths.values() for m in ms}):
        for (depth, path), ms in widths.items():
            if m not in ms:
                continue
            r = run(X, y, m, depth, path)
            times[depth, path].append(r["step"])
            rule = "" if r["rule"] is None else str(r["rule"])
            rows.append(f"| {m} | {depth} | {path} ({r['path']}) | {r['step']:.3f} | "
                        f"{r['fit']:.2f} | {r['peak']:.0f} | {r['inner']} | {rule} |"
                        .replace("| nan |", "| n/a |"))
            print(rows[-1], flush=True)
    slopes = {key: float(np.polyfit(np.log(widths[key]), np.log(t), 1)[0])
              for key, t in times.items()}
    command = "python benchmarks/bench_deep.py" + (" --quick" if args.quick else "")
    text = "\n".join([
        f"Command: `{command}`", "",
        f"n = {N}, d = {D}, alpha = 1, float64; step s is the median of steps 2-3. The "
        "sparse path fires about sqrt(m) neurons per layer and sample. It runs with dense "
        "weights and with lazy ones (the initialization plus the steps' sparse low-rank "
        "factors, never folded: one term in step 2, two in step 3). The last column is "
        "the estimator's fold threshold at that width (lazy_max_terms: the terms per "
        "layer it keeps before it folds into dense weights; 0 keeps them dense).", "",
        "| m | depth | path | step s | fit s | peak MiB | inner iterations per step "
        "| terms by cost |",
        "|---|---|---|---|---|---|---|---|", *rows, "",
        "Exponent of the per-step time in m: " + "; ".join(
            f"depth {depth}, {path} {slope:.2f} (m = {widths[depth, path][0]}-"
            f"{widths[depth, path][-1]})" for (depth, path), slope in slopes.items())
        + ".", "",
    ])
    (HERE / "deep.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
