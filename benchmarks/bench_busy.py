"""A fit beside a busy neighbour: how much slower than on an idle machine?

Usage::

    python benchmarks/bench_busy.py [--datasets nox,computers,friedman1] [--seconds 120]

Times ``SketchedGNRegressor()`` at its defaults (and with its one-BLAS-thread rule for
small problems lifted, to show what the rule buys: BLAS then threads every product, and
the row halves that the rule runs side by side run one after the other) and
``MLPRegressor()`` on a 75/25 split of
each benchmark set (at most 4,500 training rows, standardized in a pipeline, as in
``bench_e2e``), first on the idle machine, then beside the project's standard busy
neighbour (``../shared/tools/busy_neighbour.py``, a BLAS loop in another process, started
afresh for each set and stopped after it), each the best of three fits, and prints the
busy/idle ratios. It writes ``benchmarks/busy.md``; ``run.py`` runs it as one section.
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


def one_set(name, seconds):
    """Rows ``(model, n_train, idle s, busy s)`` of one data set."""
    X, y = datasets.load(name)
    X_tr, _, y_tr, _ = train_test_split(X, y, train_size=min(0.75, 4500 / len(y)),
                                        random_state=0)
    models = {"skgn (defaults)": SketchedGNRegressor(random_state=0),
              FORCED_THREADS: SketchedGNRegressor(random_state=0),
              "MLP adam (defaults)": MLPRegressor(random_state=0)}
    idle = {model: best_of(model, est, X_tr, y_tr) for model, est in models.items()}
    neighbour = subprocess.Popen([sys.executable, str(NEIGHBOUR), str(seconds)])
    try:
        # (Its 1500 x 1500 operands are drawn before the loop starts.)
        time.sleep(2.0)
        busy = {model: best_of(model, est, X_tr, y_tr) for model, est in models.items()}
    finally:
        neighbour.terminate()
        neighbour.wait()
    return [(model, len(y_tr), idle[model], busy[model]) for model in models]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="nox,computers,friedman1")
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--quick", action="store_true", help="nox only (run.py --quick)")
    args = parser.parse_args(argv)
    if not NEIGHBOUR.exists():
        raise SystemExit(f"bench_busy needs the project's busy neighbour at {NEIGHBOUR}; "
                         "run it from a checkout beside ../shared.")
    names = ["nox"] if args.quick else args.datasets.split(",")
    rows = {name: one_set(name, args.seconds) for name in names}
    cmd = f"python benchmarks/bench_busy.py {' '.join(argv if argv is not None else sys.argv[1:])}"
    lines = [f"Command: `{cmd}`", "", "Best of three fits each, idle and then beside one busy "
             "process (a BLAS loop on its own).", "",
             "| data set | n_train | model | idle s | beside a busy process s | ratio |",
             "|---|---|---|---|---|---|"]
    for name, table in rows.items():
        for model, n_train, idle, busy in table:
            lines.append(f"| {name} | {n_train} | {model} | {idle:.2f} | {busy:.2f} | "
                         f"{busy / idle:.2f} |")
    (HERE / "busy.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
