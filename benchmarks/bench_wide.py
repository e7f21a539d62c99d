"""Wide one-hot inputs: the solver path ``'auto'`` picks, against the exact step and rivals.

Usage::

    python benchmarks/bench_wide.py            # star and males
    python benchmarks/bench_wide.py --quick    # males only

Two real sets with categorical columns, one-hot encoded (``benchmarks/datasets.py``):
``star`` (4,311 training rows, 91 inputs) and ``males`` (3,270 rows, 45 inputs). Each
Jacobian product costs ``2 n m d``, so wide inputs make the inner iterations dear, and the
exact step's ``2 n^2 (m + d) + n^3 / 3`` the cheaper path at the cost model's fixed 25
iterations. With fewer rows than parameters ``solver='auto'`` prices the iterations from
the tangent kernel's spectrum instead (user guide, "Solvers, preconditioners, and how
'auto' chooses"). One train/test split (75/25, at most 4,500 training rows), the target
standardized and the two numeric columns of each set standardized by a
``ColumnTransformer``, the 0/1 columns passed through, as a user's pipeline would do with
``OneHotEncoder``. It fits skgn at its defaults, skgn with ``solver='cholesky'`` (the
exact step, the path the fixed price chose on both sets), MLPRegressor at its defaults,
RBF KernelRidge tuned as in ``bench_e2e.py`` and HistGradientBoostingRegressor at its
defaults, and reports test R^2, fit time (the least of up to three fits within 8 s,
``timing.timed_fit``), Gauss-Newton steps and the path of the first step. It writes
``benchmarks/wide.md``.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import datasets
from bench_e2e import ADAM, DEFAULTS, MAX_TRAIN, RBF, TIMING_BUDGET, models as e2e_models
from timing import timed_fit
from skgn import SketchedGNRegressor

HERE = Path(__file__).parent
EXACT = "skgn (solver='cholesky')"
HGB = "HistGradientBoosting (defaults)"


def models(n_train, d):
    rivals = e2e_models(n_train, d)
    return {DEFAULTS: rivals[DEFAULTS],
            EXACT: SketchedGNRegressor(solver="cholesky", random_state=0),
            ADAM: rivals[ADAM], RBF: rivals[RBF], HGB: rivals[HGB]}


def pipeline(model, X):
    """Standardize the columns that are not 0/1 and the target; pass the 0/1 ones."""
    numeric = np.flatnonzero(~np.all(np.isin(X, (0.0, 1.0)), axis=0))
    columns = ColumnTransformer([("numeric", StandardScaler(), numeric)],
                                remainder="passthrough")
    return TransformedTargetRegressor(make_pipeline(columns, model),
                                      transformer=StandardScaler())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    rows, ratios = [], []
    for name in ["males"] if args.quick else ["star", "males"]:
        X, y = datasets.load(name)
        X_tr, X_te, y_tr, y_te = train_test_split(
            X, y, train_size=min(0.75, MAX_TRAIN / len(y)), test_size=0.25, random_state=0)
        found = {}
        for label, model in models(len(y_tr), X.shape[1]).items():
            pipe = pipeline(model, X_tr)
            seconds, _ = timed_fit(pipe, X_tr, y_tr, trace_memory=False,
                                   budget=TIMING_BUDGET)
            final = pipe.regressor_[-1]
            r2 = r2_score(y_te, pipe.predict(X_te))
            steps, path = "", ""
            if isinstance(final, SketchedGNRegressor):
                first = final.history_[0]
                steps = final.n_iter_
                path = f"{first['solver']} / {first['preconditioner']}"
            elif not isinstance(final, GridSearchCV):
                steps = final.n_iter_
            found[label] = (r2, seconds)
            rows.append(f"| {name} | {len(y_tr)} | {X.shape[1]} | {label} | {r2:.4f} | "
                        f"{seconds:.2f} | {steps} | {path} |")
            print(rows[-1], flush=True)
        best = max((found[k][0], k) for k in (ADAM, RBF))
        ratios.append(f"| {name} | {found[DEFAULTS][0] - best[0]:+.4f} ({best[1]}) | "
                      f"{found[DEFAULTS][1] / found[EXACT][1]:.2f} | "
                      f"{found[DEFAULTS][1] / found[ADAM][1]:.2f} | "
                      f"{found[HGB][0] - found[DEFAULTS][0]:+.4f} |")
    command = "python benchmarks/bench_wide.py" + (" --quick" if args.quick else "")
    text = "\n".join([
        f"Command: `{command}`", "",
        "| dataset | n_train | inputs | method | test R^2 | fit s | steps | first step's "
        "path |", "|---|---|---|---|---|---|---|---|", *rows, "",
        "skgn at its defaults against the best of MLPRegressor() and tuned KernelRidge, "
        "its time against the exact step's and MLPRegressor()'s, and how far "
        "HistGradientBoosting is ahead:", "",
        "| dataset | R^2 - best rival | time / exact step | time / MLPRegressor() | "
        "HGB R^2 - skgn |", "|---|---|---|---|---|", *ratios, ""])
    (HERE / "wide.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
