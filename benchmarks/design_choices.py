"""The measurements behind skgn's defaults and the figures quoted in its docs.

Usage::

    python benchmarks/design_choices.py

Prints Markdown tables and writes ``benchmarks/design.md``:

1. ``normalize_y``: diabetes, 5-fold CV R^2 over an alpha grid, with and without it.
2. ``tol``: test R^2, time and steps on diabetes and Friedman #1 for tol 1e-2 .. 1e-6.
3. ``init_scale``: test R^2 and time on Friedman #1, diabetes and a teacher network.
4. The wide regime (n=200, d=8, n_neurons=4096, alpha=0, defaults otherwise): the
   objective after each step.
5. Sketch quality on an ill-conditioned Gram at the acceptance size (n=2000, d=2,
   n_neurons=20000): the preconditioned condition number and the CG / LSQR iterations
   to a true relative residual of 1e-10.
6. Early stopping on a noisy problem: the validation R^2 per step.
7. The NTK: relative spectral distance between J J^T at initialization and the
   closed-form kernel (n=200, d=5) as the width grows.
"""

import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_diabetes, make_friedman1
from sklearn.model_selection import KFold, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from datasets import teacher
from skgn import SketchedGNRegressor, ntk
from skgn._network import TwoLayerReLU, add_bias_feature
from skgn._preconditioners import SketchPreconditioner
from skgn._solvers import solve_cg, solve_lsqr
from skgn._sketching import SKETCHES

HERE = Path(__file__).parent


def fit_score(params, X_tr, X_te, y_tr, y_te):
    start = time.perf_counter()
    pipe = make_pipeline(StandardScaler(), SketchedGNRegressor(random_state=0, **params))
    pipe.fit(X_tr, y_tr)
    return pipe.score(X_te, y_te), time.perf_counter() - start, pipe[-1].n_iter_


def normalize_y_table():
    X, y = load_diabetes(return_X_y=True)
    cv = KFold(5, shuffle=True, random_state=0)
    lines = ["| alpha | normalize_y=True | normalize_y=False |", "|---|---|---|"]
    for alpha in np.logspace(-2, 3, 6):
        cells = []
        for normalize in (True, False):
            est = make_pipeline(StandardScaler(), SketchedGNRegressor(
                alpha=alpha, normalize_y=normalize, random_state=0))
            cells.append(f"{cross_val_score(est, X, y, cv=cv).mean():.4f}")
        lines.append(f"| {alpha:g} | " + " | ".join(cells) + " |")
    return "5-fold CV R^2 on diabetes (n_neurons=1024):\n\n" + "\n".join(lines)


def splits():
    Xd, yd = load_diabetes(return_X_y=True)
    Xf, yf = make_friedman1(n_samples=4000, noise=1.0, random_state=0)
    Xt, yt = teacher(4000)
    return {name: train_test_split(X, y, test_size=0.25, random_state=0)
            for name, (X, y) in {"diabetes": (Xd, yd), "friedman1": (Xf, yf),
                                 "teacher": (Xt, yt)}.items()}


def tol_table(data):
    lines = ["| dataset | tol | test R^2 | seconds | steps |", "|---|---|---|---|---|"]
    for name in ("diabetes", "friedman1"):
        for tol in (1e-2, 1e-3, 1e-4, 1e-6):
            r2, sec, steps = fit_score({"tol": tol}, *data[name])
            lines.append(f"| {name} | {tol:g} | {r2:.4f} | {sec:.2f} | {steps} |")
    return "Test R^2 against tol (defaults otherwise, 75/25 split):\n\n" + "\n".join(lines)


def init_scale_table(data):
    lines = ["| dataset | init_scale | alpha | test R^2 | seconds | steps |",
             "|---|---|---|---|---|---|"]
    for name in ("friedman1", "diabetes", "teacher"):
        for scale in (0.1, 1.0):
            for alpha in (0.1, 1.0, 10.0):
                r2, sec, steps = fit_score({"init_scale": scale, "alpha": alpha}, *data[name])
                lines.append(f"| {name} | {scale} | {alpha} | {r2:.4f} | {sec:.2f} | {steps} |")
    return "Test R^2 against init_scale and alpha:\n\n" + "\n".join(lines)


def wide_regime():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 8))
    y = np.sin(X @ rng.standard_normal(8)) + 0.5 * X[:, 0] ** 2
    reg = SketchedGNRegressor(n_neurons=4096, alpha=0.0, random_state=0).fit(X, y)
    curve = ", ".join(f"{v:.2e}" for v in reg.loss_curve_)
    return (f"Wide regime (n=200, d=8, n_neurons=4096, alpha=0): objective (standardized "
            f"units, start {0.5 * len(y):.0f}) after each accepted step: {curve}; "
            f"{reg.n_iter_} steps, training R^2 {reg.score(X, y):.6f}.")


def sketch_quality():
    rng = np.random.default_rng(0)
    n, m = 2000, 20000
    X_tilde = add_bias_feature(rng.standard_normal((n, 2)), True)
    W = np.repeat(rng.standard_normal((m // 2, 3)), 2, axis=0)
    signs = np.repeat(rng.choice([-1.0, 1.0], size=(m // 2, 1)), 2, axis=0)
    signs[1::2] *= -1
    J = TwoLayerReLU(signs).jacobian(W, X_tilde)
    b = rng.standard_normal(n)
    K = J.gram()
    ev = np.linalg.eigvalsh(K)
    plain = solve_cg(J, b, 0.0, rtol=1e-6, maxiter=500)
    lines = [f"n={n}, d=2, n_neurons={m}: cond(K) = {ev[-1] / ev[0]:.2e}; plain CG after 500 "
             f"iterations: relative residual {plain.residual_norm:.1e}.", "",
             "| sketch | gamma | cond([J, sqrt(lam) I]^T R^-1) | bound | CG iterations | "
             "LSQR iterations | true residual (CG) | true residual (LSQR) |",
             "|---|---|---|---|---|---|---|---|"]
    for name in sorted(SKETCHES):
        for gamma in (2, 3, 4):
            pre = SketchPreconditioner(sketch=name, sketch_size=gamma, random_state=0).fit(J, 0.0)
            R_inv = pre.apply(np.eye(n))
            A = R_inv.T @ K @ R_inv
            e = np.linalg.eigvalsh(0.5 * (A + A.T))
            cg = solve_cg(J, b, 0.0, rtol=1e-10, maxiter=200, preconditioner=pre)
            ls = solve_lsqr(J, b, 0.0, rtol=1e-10, maxiter=200, preconditioner=pre)
            bound = (1 + gamma**-0.5) / (1 - gamma**-0.5)
            lines.append(f"| {name} | {gamma} | {np.sqrt(e[-1] / e[0]):.3f} | {bound:.3f} | "
                         f"{cg.n_iter} | {ls.n_iter} | {cg.residual_norm:.1e} | "
                         f"{ls.residual_norm:.1e} |")
    return "Sketch preconditioner quality (lam = 0):\n\n" + "\n".join(lines)


def early_stopping():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, (150, 2))
    y = np.sin(3 * X[:, 0]) + 0.5 * rng.standard_normal(150)
    reg = SketchedGNRegressor(n_neurons=2048, alpha=0.0, tol=0.0, max_iter=30,
                              early_stopping=True, validation_fraction=0.25,
                              n_iter_no_change=3, random_state=0).fit(X, y)
    scores = ", ".join(f"{s:.3f}" for s in reg.validation_scores_)
    return (f"Early stopping (n=150, noise 0.5, alpha=0): validation R^2 per step: {scores}; "
            f"best {reg.best_validation_score_:.3f} at step "
            f"{int(np.argmax(reg.validation_scores_)) + 1}.")


def ntk_distance():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 5))
    K_inf = ntk(X)
    cells = []
    for m in (1000, 5000, 20000):
        W = rng.standard_normal((m, 6))
        J = TwoLayerReLU(np.ones((m, 1))).jacobian(W, add_bias_feature(X, True))
        err = np.linalg.norm(J.gram() - K_inf, 2) / np.linalg.norm(K_inf, 2)
        cells.append(f"{err:.1%} at width {m}")
    return "NTK (n=200, d=5): ||J J^T - K_NTK||_2 / ||K_NTK||_2 = " + ", ".join(cells) + "."


def main():
    warnings.simplefilter("ignore")
    data = splits()
    start = time.perf_counter()
    sections = [normalize_y_table(), tol_table(data), init_scale_table(data), wide_regime(),
                sketch_quality(), early_stopping(), ntk_distance()]
    text = (f"Command: `python benchmarks/design_choices.py` "
            f"({time.perf_counter() - start:.0f} s)\n\n" + "\n\n".join(sections))
    print(text)
    (HERE / "design.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
