"""``python -m skgn demo``: skgn against KernelRidge and MLPRegressor on one split."""

import argparse
import time
import warnings

from sklearn.datasets import load_diabetes, make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.kernel_ridge import KernelRidge
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ._estimators import SketchedGNRegressor


def _load(name, n_samples, random_state):
    if name == "diabetes":
        return load_diabetes(return_X_y=True)
    return make_friedman1(n_samples=n_samples, noise=1.0, random_state=random_state)


def run_demo(dataset="friedman1", n_samples=2000, random_state=0, out=print):
    """Fit skgn, KernelRidge and MLPRegressor on one train/test split and print a table.

    Parameters
    ----------
    dataset : {'friedman1', 'diabetes'}, default='friedman1'
        ``make_friedman1`` with noise 1.0, or scikit-learn's bundled diabetes data.
    n_samples : int, default=2000
        Number of generated samples (``friedman1`` only).
    random_state : int, default=0
        Seed of the data, the split and the models.
    out : callable, default=print
        Where the lines of the table go.

    Returns
    -------
    rows : list of dict
        One dict per model with keys ``model``, ``fit_seconds`` and ``test_r2``.
    """
    X, y = _load(dataset, n_samples, random_state)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=random_state
    )
    models = {
        "skgn SketchedGNRegressor()": SketchedGNRegressor(random_state=random_state),
        "KernelRidge(kernel='rbf')": KernelRidge(kernel="rbf"),
        "MLPRegressor()": MLPRegressor(random_state=random_state),
    }
    out(f"dataset: {dataset}  n_train={len(y_train)}  n_test={len(y_test)}  d={X.shape[1]}")
    out(f"{'model':<30} {'fit time (s)':>12} {'test R^2':>9}")
    rows = []
    for name, model in models.items():
        pipe = make_pipeline(StandardScaler(), model)
        start = time.perf_counter()
        with warnings.catch_warnings():
            # MLPRegressor at defaults often stops at max_iter; the table shows its score.
            warnings.simplefilter("ignore", ConvergenceWarning)
            pipe.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        r2 = pipe.score(X_test, y_test)
        rows.append({"model": name, "fit_seconds": seconds, "test_r2": r2})
        out(f"{name:<30} {seconds:>12.2f} {r2:>9.4f}")
    return rows


def main(argv=None):
    """Command-line entry point of ``python -m skgn``.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments; ``None`` reads ``sys.argv``.

    Returns
    -------
    status : int
        Exit status (0 on success).
    """
    parser = argparse.ArgumentParser(prog="python -m skgn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="compare skgn with KernelRidge and MLPRegressor")
    demo.add_argument("--dataset", choices=["friedman1", "diabetes"], default="friedman1")
    demo.add_argument("--n-samples", type=int, default=2000)
    demo.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)
    run_demo(args.dataset, args.n_samples, args.random_state)
    return 0
