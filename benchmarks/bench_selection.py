"""Which rule picks ``alpha`` and the input scale best? Measured with the closed-form NTK.

Usage::

    python benchmarks/bench_selection.py [--quick]

For each data set (75/25 split, at most 4,500 training rows, features and target
standardized on the training part), exact kernel ridge regression with skgn's closed-form
tangent kernel (:func:`skgn.ntk`) on inputs multiplied by a scale ``s`` (the bias feature
stays 1) is fitted for every (scale, alpha) on the grid, and its test R^2 recorded. Each
selection rule then picks one pair from training data only; the table gives the test R^2
of its pick, the best pair in hindsight, and the rule's cost in eigendecompositions.

Rules: generalized cross-validation (GCV) and exact leave-one-out (LOO) on the full
training Gram, LOO and MacKay's evidence on a random subsample of ``--subsample`` rows,
and a 20% hold-out.

A second table measures the subsample size of the estimator's own rule: for each set and
``random_state`` in {0, 1, 2}, the pair ``skgn._selection.select`` picks from
``--rows`` subsample sizes (with the selection seed ``SketchedGNRegressor`` draws), then
the test R^2 of ``SketchedGNRegressor`` fitted at that pair, which is the fit at defaults
with that many selection rows. It writes ``benchmarks/selection.md``.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import linalg
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state

import datasets
from skgn import SketchedGNRegressor, ntk
from skgn._selection import DEFAULT_ALPHAS, DEFAULT_INPUT_SCALES, select

HERE = Path(__file__).parent
SCALES = (1.0, 0.5, 0.25, 0.1, 0.05)
ALPHAS = np.logspace(-4, 2, 13)


def split(X, y, seed=0, max_train=4500):
    train = min(0.75, max_train / len(y))
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, train_size=train, test_size=0.25,
                                              random_state=seed)
    mu, sd = X_tr.mean(0), X_tr.std(0)
    sd[sd == 0] = 1
    ym, ys = y_tr.mean(), y_tr.std()
    return (X_tr - mu) / sd, (X_te - mu) / sd, (y_tr - ym) / ys, (y_te - ym) / ys


def r2(y, pred):
    return 1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2)


def spectral_scores(K, y):
    """GCV, LOO mean squared errors and log-evidence for every alpha, from one eigh."""
    lam, Q = linalg.eigh(K)
    lam = np.maximum(lam, 0)
    Qy = Q.T @ y
    Q2 = Q**2
    n = len(y)
    gcv, loo, evidence = [], [], []
    for a in ALPHAS:
        shrink = lam / (lam + a)
        fitted = Q @ (shrink * Qy)
        hat_diag = Q2 @ shrink
        resid = y - fitted
        gcv.append(np.mean(resid**2) / (1 - hat_diag.mean()) ** 2)
        loo.append(np.mean((resid / (1 - hat_diag)) ** 2))
        # y ~ N(0, c (K + a I)), c at its maximum-likelihood value.
        quad = np.sum(Qy**2 / (lam + a))
        evidence.append(-0.5 * n * np.log(quad / n) - 0.5 * np.sum(np.log(lam + a)))
    return np.array(gcv), np.array(loo), np.array(evidence)


def holdout_scores(X, y, s, seed=0):
    """Validation MSE of every alpha on a 20% hold-out, from one eigh of the 80% Gram."""
    X_a, X_b, y_a, y_b = train_test_split(X, y, test_size=0.2, random_state=seed)
    lam, Q = linalg.eigh(ntk(s * X_a))
    C = ntk(s * X_b, s * X_a) @ Q
    Qy = Q.T @ y_a
    return np.array([np.mean((y_b - C @ (Qy / (np.maximum(lam, 0) + a))) ** 2)
                     for a in ALPHAS])


def subsample_rows_table(names, row_counts, seeds=(0, 1, 2)):
    """Markdown lines: the defaults' selection on each subsample size, over seeds."""
    lines = ["| data set | n_train | " + " | ".join(
        f"{r} rows: test R^2 (mean of {len(seeds)} seeds) | {r} rows: selection s"
        for r in row_counts) + " |", "|---|---|" + "---|---|" * len(row_counts)]
    means = {r: [] for r in row_counts}
    for name in names:
        X_tr, X_te, y_tr, y_te = split(*datasets.load(name))
        cells = []
        for r in row_counts:
            r2s, seconds = [], 0.0
            for seed in seeds:
                # The fourth of the four seeds fit draws is the selection subsample's.
                selection_seed = check_random_state(seed).randint(2**31 - 1, size=4)[3]
                t = time.perf_counter()
                pick = select(X_tr, y_tr[:, None], None, alphas=DEFAULT_ALPHAS,
                              input_scales=DEFAULT_INPUT_SCALES, bias=1.0,
                              rng=np.random.RandomState(selection_seed), max_rows=r)
                seconds += time.perf_counter() - t
                model = SketchedGNRegressor(alpha=pick.alpha, input_scale=pick.input_scale,
                                            random_state=seed).fit(X_tr, y_tr)
                r2s.append(r2(y_te, model.predict(X_te)))
            means[r].append(np.mean(r2s))
            cells.append(f"{np.mean(r2s):.4f} | {seconds / len(seeds):.2f}")
            print(name, r, [round(v, 4) for v in r2s], round(seconds / len(seeds), 2),
                  flush=True)
        lines.append(f"| {name} | {len(y_tr)} | " + " | ".join(cells) + " |")
    lines += ["", "Mean test R^2 over sets: " + ", ".join(
        f"{r} rows {np.mean(means[r]):.4f}" for r in row_counts) + "."]
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--subsample", type=int, default=1000)
    parser.add_argument("--rows", type=int, nargs="+", default=[500, 1000])
    args = parser.parse_args(argv)
    names = ["computers", "affairs", "nox", "seattle", "diabetes", "friedman1"]
    if args.quick:
        names = ["seattle", "diabetes"]
    rules = ["GCV (full)", "LOO (full)", f"LOO (sub {args.subsample})",
             f"evidence (sub {args.subsample})", "hold-out 20%"]
    rows = []
    for name in names:
        X_tr, X_te, y_tr, y_te = split(*datasets.load(name))
        rng = np.random.RandomState(0)
        sub = rng.choice(len(y_tr), size=min(args.subsample, len(y_tr)), replace=False)
        test = np.empty((len(SCALES), len(ALPHAS)))
        scores = {rule: np.empty_like(test) for rule in rules}
        seconds = {rule: 0.0 for rule in rules}
        for i, s in enumerate(SCALES):
            t = time.perf_counter()
            K = ntk(s * X_tr)
            lam, Q = linalg.eigh(K)
            full_seconds = time.perf_counter() - t
            Kte = ntk(s * X_te, s * X_tr) @ Q
            Qy = Q.T @ y_tr
            test[i] = [r2(y_te, Kte @ (Qy / (np.maximum(lam, 0) + a))) for a in ALPHAS]
            gcv, loo, _ = spectral_scores(K, y_tr)
            scores["GCV (full)"][i], scores["LOO (full)"][i] = -gcv, -loo
            seconds["GCV (full)"] += full_seconds
            seconds["LOO (full)"] += full_seconds
            t = time.perf_counter()
            _, loo_s, ev_s = spectral_scores(ntk(s * X_tr[sub]), y_tr[sub])
            seconds[rules[2]] += time.perf_counter() - t
            seconds[rules[3]] += time.perf_counter() - t
            scores[rules[2]][i], scores[rules[3]][i] = -loo_s, ev_s
            t = time.perf_counter()
            scores["hold-out 20%"][i] = -holdout_scores(X_tr, y_tr, s)
            seconds["hold-out 20%"] += time.perf_counter() - t
        best = np.unravel_index(np.argmax(test), test.shape)
        row = {"name": name, "n": len(y_tr), "best": test[best],
               "best_pair": (SCALES[best[0]], ALPHAS[best[1]])}
        for rule in rules:
            pick = np.unravel_index(np.argmax(scores[rule]), test.shape)
            row[rule] = (test[pick], SCALES[pick[0]], ALPHAS[pick[1]], seconds[rule])
        rows.append(row)
        print(name, {k: (round(v[0], 4), v[1], v[2]) if isinstance(v, tuple) and len(v) == 4
                     else v for k, v in row.items()}, flush=True)
    cmd = f"python benchmarks/bench_selection.py {' '.join(argv if argv is not None else sys.argv[1:])}"
    lines = [f"Command: `{cmd}`", "",
             f"Scales {list(SCALES)} x {len(ALPHAS)} alphas from 1e-4 to 1e2; test R^2 of "
             "exact NTK kernel ridge at each rule's pick (pick: scale, alpha; seconds of its "
             "eigendecompositions on this machine).", "",
             "| data set | n_train | best in hindsight | " + " | ".join(rules) + " |",
             "|---|---|---|" + "---|" * len(rules)]
    for row in rows:
        cells = [f"{row[r][0]:.4f} ({row[r][1]}, {row[r][2]:.0e}; {row[r][3]:.1f} s)"
                 for r in rules]
        lines.append(f"| {row['name']} | {row['n']} | {row['best']:.4f} "
                     f"({row['best_pair'][0]}, {row['best_pair'][1]:.0e}) | "
                     + " | ".join(cells) + " |")
    lines += ["", "Mean shortfall from the best pair: " + ", ".join(
        f"{r} {np.mean([row['best'] - row[r][0] for row in rows]):.4f}" for r in rules) + "."]
    lines += ["", "Selection rows of the estimator's own rule (leave-one-out on a subsample; "
              "`SELECTION_ROWS`): test R^2 of `SketchedGNRegressor` fitted at the pair each "
              "subsample size picks, and the seconds of the selection.", ""]
    lines += subsample_rows_table(names, args.rows)
    (HERE / "selection.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
