"""The features' units: skgn with and without ``standardize``, beside MLPRegressor.

Usage::

    python benchmarks/bench_units.py            # five real sets
    python benchmarks/bench_units.py --quick    # seattle and psid

The tangent kernel of a ReLU network depends on the features' offset and size, so a fit
on raw or min-max scaled features is another model than one on standardized features.
Five real sets (``benchmarks/datasets.py``: nox, computers, seattle, psid, wages), one
75/25 split each (at most 4,500 training rows), the target standardized; the columns that
are not 0/1 are either standardized (``StandardScaler``), scaled to [0, 1]
(``MinMaxScaler``) or left raw, and the 0/1 columns are passed through, as a user's
pipeline would do. It fits skgn at its defaults (``standardize=True``), skgn with
``standardize=False`` (the estimator of earlier releases) and ``MLPRegressor()`` at its
defaults, and reports test R^2, fit time (the least of up to three fits within 8 s,
``timing.timed_fit``) and Gauss-Newton steps. It writes ``benchmarks/units.md``.
"""

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

import datasets
from bench_e2e import MAX_TRAIN, TIMING_BUDGET
from timing import timed_fit
from skgn import SketchedGNRegressor

HERE = Path(__file__).parent
SETS = ["nox", "computers", "seattle", "psid", "wages"]
QUICK_SETS = ["seattle", "psid"]
SCALERS = {"standardized": StandardScaler, "min-max": MinMaxScaler, "raw": None}
MODELS = {
    "skgn (defaults)": lambda: SketchedGNRegressor(random_state=0),
    "skgn (standardize=False)": lambda: SketchedGNRegressor(standardize=False,
                                                             random_state=0),
    "MLPRegressor()": lambda: MLPRegressor(random_state=0),
}


def pipeline(model, X, scaler):
    """Scale the columns that are not 0/1 by ``scaler`` (``None``: raw), pass the 0/1
    ones, and standardize the target."""
    numeric = np.flatnonzero(~np.all(np.isin(X, (0.0, 1.0)), axis=0))
    steps = [] if scaler is None else [ColumnTransformer(
        [("numeric", scaler(), numeric)], remainder="passthrough")]
    return TransformedTargetRegressor(make_pipeline(*steps, model),
                                      transformer=StandardScaler())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    rows, found = [], {}
    for name in QUICK_SETS if args.quick else SETS:
        X, y = datasets.load(name)
        X_tr, X_te, y_tr, y_te = train_test_split(
            X, y, train_size=min(0.75, MAX_TRAIN / len(y)), test_size=0.25, random_state=0)
        for scaling, scaler in SCALERS.items():
            for label, make in MODELS.items():
                pipe = pipeline(make(), X_tr, scaler)
                with warnings.catch_warnings():
                    # A fit that stops short is reported by its score and steps.
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    seconds, _ = timed_fit(pipe, X_tr, y_tr, trace_memory=False,
                                           budget=TIMING_BUDGET)
                r2 = r2_score(y_te, pipe.predict(X_te))
                found[name, scaling, label] = r2
                rows.append(f"| {name} | {len(y_tr)} | {scaling} | {label} | {r2:.4f} | "
                            f"{seconds:.2f} | {pipe.regressor_[-1].n_iter_} |")
                print(rows[-1], flush=True)
    names = QUICK_SETS if args.quick else SETS
    summary = []
    for label in MODELS:
        spreads = [max(found[n, s, label] for s in SCALERS)
                   - min(found[n, s, label] for s in SCALERS) for n in names]
        summary.append(f"| {label} | " + " | ".join(f"{v:.4f}" for v in spreads) +
                       f" | {max(spreads):.4f} |")
    command = "python benchmarks/bench_units.py" + (" --quick" if args.quick else "")
    text = "\n".join([
        f"Command: `{command}`", "",
        "| dataset | n_train | numeric columns | method | test R^2 | fit s | steps |",
        "|---|---|---|---|---|---|---|", *rows, "",
        "How much each method's test R^2 depends on the units (largest minus smallest over "
        "the three scalings, per set):", "",
        "| method | " + " | ".join(names) + " | largest |",
        "|---|" + "---|" * (len(names) + 1), *summary, ""])
    (HERE / "units.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
