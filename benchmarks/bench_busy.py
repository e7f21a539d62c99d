"""A fit beside a busy neighbour: how much slower than on an idle machine?

Usage::

    python benchmarks/bench_busy.py [--dataset nox] [--seconds 120]

Times ``SketchedGNRegressor()`` at its defaults (and with its one-BLAS-thread rule for
small problems lifted, to show what the rule buys) and ``MLPRegressor()`` on a 75/25 split of
a benchmark set (standardized in a pipeline), first on the idle machine, then beside the
project's standard busy neighbour (``../shared/tools/busy_neighbour.py``, a BLAS loop in
another process), each the best of three fits, and prints the busy/idle ratios. It writes
``benchmarks/busy.md``.
"""

import argparse
import subprocess
import sys
import time
import warnings
from pathlib import Path

from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import datasets
from skgn import SketchedGNRegressor, _parallel

HERE = Path(__file__).parent
NEIGHBOUR = HERE.parents[1] / "shared" / "tools" / "busy_neighbour.py"


# skgn runs BLAS on one thread below this many sample-neuron pairs; 0 lets it use all.
FORCED_THREADS = "skgn (defaults, BLAS on every core)"


def best_of(name, model, X, y, repeat=3):
    times = []
    # The comparison row lifts skgn's one-thread rule (a private constant) for its fits.
    saved = _parallel._SINGLE_THREAD_PAIRS
    _parallel._SINGLE_THREAD_PAIRS = 0 if name == FORCED_THREADS else saved
    try:
        for _ in range(repeat):
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                make_pipeline(StandardScaler(), model).fit(X, y)
            times.append(time.perf_counter() - start)
    finally:
        _parallel._SINGLE_THREAD_PAIRS = saved
    return min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="nox")
    parser.add_argument("--seconds", type=float, default=120)
    args = parser.parse_args(argv)
    X, y = datasets.load(args.dataset)
    X_tr, _, y_tr, _ = train_test_split(X, y, train_size=min(0.75, 4500 / len(y)),
                                        random_state=0)
    models = {"skgn (defaults)": SketchedGNRegressor(random_state=0),
              FORCED_THREADS: SketchedGNRegressor(random_state=0),
              "MLP adam (defaults)": MLPRegressor(random_state=0)}
    idle = {name: best_of(name, model, X_tr, y_tr) for name, model in models.items()}
    neighbour = subprocess.Popen([sys.executable, str(NEIGHBOUR), str(args.seconds)])
    try:
        time.sleep(2.0)
        busy = {name: best_of(name, model, X_tr, y_tr) for name, model in models.items()}
    finally:
        neighbour.terminate()
        neighbour.wait()
    cmd = f"python benchmarks/bench_busy.py {' '.join(argv if argv is not None else sys.argv[1:])}"
    lines = [f"Command: `{cmd}`", "", f"Data set {args.dataset}, n_train = {len(y_tr)}; best "
             "of three fits each.", "", "| model | idle s | beside a busy process s | ratio |",
             "|---|---|---|---|"]
    for name in models:
        lines.append(f"| {name} | {idle[name]:.2f} | {busy[name]:.2f} | "
                     f"{busy[name] / idle[name]:.2f} |")
    (HERE / "busy.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
