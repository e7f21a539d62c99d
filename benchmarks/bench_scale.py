"""Large n: fit time, per-step time and peak RSS of skgn at its defaults, beside MLP.

Usage::

    python benchmarks/bench_scale.py                 # n in 10^4, 10^5, 10^6 (d = 20,
                                                     # m = 2048) and n = 200,000
                                                     # (d = 5, m = 64)
    python benchmarks/bench_scale.py --skip-million  # without n = 10^6
    python benchmarks/bench_scale.py --dask          # also fit from a dask array (d = 20,
                                                     # n <= 10^5 unless --dask-million)

Its own command, not part of ``run.py`` (RESULTS.md states its duration). Each
configuration runs in a fresh process (``--one``) so that its peak resident memory
(``ru_maxrss``) is its own. Targets: a random teacher network (``datasets.teacher``),
80/20 split, features standardized, targets standardized. A configuration whose
estimated peak memory (``skgn._cost_model``) exceeds the budget is reported as skipped
with that estimate. Writes ``benchmarks/scale.md`` and puts the table, with the command,
in its own section at the end of ``benchmarks/RESULTS.md`` (``run.py`` keeps it).

The dask rows fit the same data from a dask array persisted in 8 row chunks on a
``LocalCluster`` of 2 worker processes with one thread each (BLAS single-threaded in the
workers, dask's default); their RSS is the client process's only.
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
    if model_name.startswith("skgn"):
        model = SketchedGNRegressor(m, random_state=0)
    else:
        model = MLPRegressor(random_state=0)
    if model_name == "skgn-dask":
        import dask.array as da
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
        X_train = client.persist(da.from_array(X[:split], chunks=(-(-split // 8), d)))
    else:
        X_train = X[:split]
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y[:split])
    seconds = time.perf_counter() - start
    out = {"fit": seconds, "r2": float(model.score(X[split:], y[split:])),
           "rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
    if model_name == "skgn-dask":
        client.close()
        cluster.close()
    if model_name.startswith("skgn"):
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
    if big is None:
        lines.append("| n = 10^6 targets (time, RSS, R^2) | not run in this table | "
                     "not measured |")
    dask_rows = [(n, found[n, 20, 2048, "skgn-dask"], found[n, 20, 2048, "skgn"])
                 for n in ns if (n, 20, 2048, "skgn-dask") in found]
    for n, dask_row, memory_row in dask_rows:
        lines.append(f"| n = {n}: dask fit / in-memory fit (time), R^2 difference | "
                     f"{dask_row['fit'] / memory_row['fit']:.2f}, "
                     f"{dask_row['r2'] - memory_row['r2']:+.4f} | reported |")
    small = found.get((200_000, 5, 64, "skgn"))
    if small is not None:
        lines.append(f"| n = 200,000, d = 5, m = 64: fit time <= 2 min | {small['fit']:.1f} s | "
                     f"{'met' if small['fit'] <= 120 else 'MISSED'} |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-million", action="store_true")
    parser.add_argument("--dask", action="store_true")
    parser.add_argument("--dask-million", action="store_true")
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
            rows.append(f"| {n} | {d} | {m} | skgn (defaults) | | | | | | | not run "
                        "(--skip-million) |")
            continue
        need, fits = estimate(n, d, m)
        if not fits:
            rows.append(f"| {n} | {d} | {m} | skgn (defaults) | | | | | | | skipped: the "
                        f"cheapest path needs about {need / 2**30:.0f} GiB |")
            print(rows[-1], flush=True)
            continue
        names = ["skgn", "mlp"]
        if args.dask and d == 20 and (n < MILLION[0] or args.dask_million):
            names.insert(1, "skgn-dask")
        for name in names:
            cmd = [sys.executable, __file__, "--one", str(n), str(d), str(m), name]
            result = json.loads(subprocess.run(cmd, capture_output=True, text=True,
                                               check=True, cwd=HERE).stdout.splitlines()[-1])
            found[n, d, m, name] = result
            label = {"skgn": "skgn (defaults)", "skgn-dask": "skgn (defaults, dask array)",
                     "mlp": "MLP adam (defaults)"}[name]
            rows.append(
                f"| {n} | {d} | {m} | {label} | {result['fit']:.1f} | "
                f"{result.get('step', float('nan')):.2f} | {result.get('steps', '')} | "
                f"{result.get('path', '')} | {result['rss_gib']:.2f} | {result['r2']:.4f} | |")
            print(rows[-1], flush=True)
    command = "python benchmarks/bench_scale.py" + "".join(
        f" --{flag.replace('_', '-')}" for flag in ("skip_million", "dask", "dask_million")
        if getattr(args, flag))
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
