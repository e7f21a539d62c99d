"""Large n: fit time, per-step time and peak RSS of skgn at its defaults, beside MLP.

Usage::

    python benchmarks/bench_scale.py                 # n in 10^4, 10^5, 10^6 (d = 20,
                                                     # m = 2048) and n = 200,000
                                                     # (d = 5, m = 64)
    python benchmarks/bench_scale.py --skip-million  # without n = 10^6

Its own command, not part of ``run.py`` (RESULTS.md states its duration). Each
configuration runs in a fresh process (``--one``) so that its peak resident memory
(``ru_maxrss``) is its own. Targets: a random teacher network (``datasets.teacher``),
80/20 split, features standardized, targets standardized. A configuration whose
estimated peak memory (``skgn._cost_model``) exceeds the budget is reported as skipped
with that estimate. Writes ``benchmarks/scale.md`` and puts the table, with the command,
in its own section at the end of ``benchmarks/RESULTS.md`` (``run.py`` keeps it).
"""

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
MILLION = (1_000_000, 20, 2048)
CONFIGS = [(10_000, 20, 2048), (100_000, 20, 2048), (200_000, 5, 64), MILLION]
SECTION = "## Large n (`python benchmarks/bench_scale.py`, its own command)"


def one(n, d, m, model_name):
    import datasets
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    from skgn import SketchedGNRegressor

    X, y = datasets.teacher(int(n * 1.25), d=d, seed=0)
    split = n
    mean, scale = X[:split].mean(0), X[:split].std(0)
    X = (X - mean) / scale
    y = (y - y[:split].mean()) / y[:split].std()
    if model_name == "skgn":
        model = SketchedGNRegressor(m, random_state=0)
    else:
        model = MLPRegressor(random_state=0)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X[:split], y[:split])
    seconds = time.perf_counter() - start
    out = {"fit": seconds, "r2": float(model.score(X[split:], y[split:])),
           "rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
    if model_name == "skgn":
        steps = model.history_
        out.update(steps=len(steps), step=float(np.median([h["seconds"] for h in steps])),
                   path=f"{steps[0]['solver']}+{steps[0]['preconditioner']}",
                   alpha=model.alpha_, input_scale=model.input_scale_)
    return out


def estimate(n, d, m):
    """Peak bytes of the path 'auto' would take, and whether any path fits."""
    from skgn._cost_model import available_memory, path_costs
    from skgn._estimators import _resolve_block_size

    # float32, as dtype='auto' takes at these sizes; the row blocks block_size='auto' takes.
    block_rows = _resolve_block_size("auto", n, m, np.float32)
    costs = path_costs(n, m, d + 1, block_rows=block_rows)
    best = min(b for _, b in costs.values())
    return best, best <= available_memory()


def targets(found):
    """Markdown lines checking the large-n targets against the measured rows."""
    ns = [n for n, d, m in CONFIGS if d == 20 and (n, d, m, "skgn") in found]
    lines = ["| target | value | met |", "|---|---|---|"]
    if len(ns) >= 2:
        steps = [found[n, 20, 2048, "skgn"]["step"] for n in ns]
        slope = float(np.polyfit(np.log(ns), np.log(steps), 1)[0])
        lines.append(f"| per-step time exponent in n (n = {', '.join(map(str, ns))}) <= 1.1 | "
                     f"{slope:.2f} | {'met' if slope <= 1.1 else 'MISSED'} |")
    big, ref = found.get((*MILLION, "skgn")), found.get((100_000, 20, 2048, "skgn"))
    if big is not None:
        lines.append(f"| n = 10^6: fit time <= 30 min | {big['fit'] / 60:.1f} min | "
                     f"{'met' if big['fit'] <= 1800 else 'MISSED'} |")
        lines.append(f"| n = 10^6: peak RSS <= 8 GiB | {big['rss_gib']:.2f} GiB | "
                     f"{'met' if big['rss_gib'] <= 8 else 'MISSED'} |")
        if ref is not None:
            gap = big["r2"] - ref["r2"]
            lines.append(f"| n = 10^6: test R^2 >= (n = 10^5 value) - 0.005 | {gap:+.4f} | "
                         f"{'met' if gap >= -0.005 else 'MISSED'} |")
    small = found.get((200_000, 5, 64, "skgn"))
    if small is not None:
        lines.append(f"| n = 200,000, d = 5, m = 64: fit time <= 2 min | {small['fit']:.1f} s | "
                     f"{'met' if small['fit'] <= 120 else 'MISSED'} |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-million", action="store_true")
    parser.add_argument("--one", nargs=4, metavar=("N", "D", "M", "MODEL"))
    args = parser.parse_args(argv)
    if args.one:
        n, d, m, name = args.one
        print(json.dumps(one(int(n), int(d), int(m), name)))
        return 0
    start = time.perf_counter()
    rows, found = [], {}
    for n, d, m in CONFIGS:
        if (n, d, m) == MILLION and args.skip_million:
            continue
        need, fits = estimate(n, d, m)
        if not fits:
            rows.append(f"| {n} | {d} | {m} | skgn (defaults) | | | | | | | skipped: the "
                        f"cheapest path needs about {need / 2**30:.0f} GiB |")
            print(rows[-1], flush=True)
            continue
        for name in ("skgn", "mlp"):
            cmd = [sys.executable, __file__, "--one", str(n), str(d), str(m), name]
            result = json.loads(subprocess.run(cmd, capture_output=True, text=True,
                                               check=True, cwd=HERE).stdout.splitlines()[-1])
            found[n, d, m, name] = result
            label = "skgn (defaults)" if name == "skgn" else "MLP adam (defaults)"
            rows.append(
                f"| {n} | {d} | {m} | {label} | {result['fit']:.1f} | "
                f"{result.get('step', float('nan')):.2f} | {result.get('steps', '')} | "
                f"{result.get('path', '')} | {result['rss_gib']:.2f} | {result['r2']:.4f} | |")
            print(rows[-1], flush=True)
    command = "python benchmarks/bench_scale.py" + (" --skip-million"
                                                    if args.skip_million else "")
    text = "\n".join([
        f"Command: `{command}` ({time.perf_counter() - start:.0f} s)", "",
        "| n | d | m | method | fit s | median step s | steps | path | peak RSS GiB | "
        "test R^2 | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|", *rows, "", *targets(found), ""])
    (HERE / "scale.md").write_text(text)
    results = HERE / "RESULTS.md"
    old = results.read_text() if results.exists() else ""
    # Replace an earlier section rather than appending a second one.
    kept = old.split(SECTION)[0].rstrip()
    results.write_text(kept + "\n\n" + SECTION + "\n\n" + text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
