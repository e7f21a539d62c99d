"""float32 against float64: per-step time of the matrix-free path, and fits at defaults.

Usage::

    python benchmarks/bench_float32.py            # n = 16,000, m = 4,096, d = 20
    python benchmarks/bench_float32.py --quick    # n = 4,000, m = 1,024
    python benchmarks/bench_float32.py --kink     # part 3 only, printed

Part 1 times one Gauss-Newton step (pattern, Nystrom preconditioner fit, inner CG solve
to the first step's tolerance 0.03, trial evaluation) and one unpreconditioned CG step on
a random teacher problem, ``dtype`` float64 then float32, best of two runs taken in
alternation. Part 2 fits ``SketchedGNRegressor(dtype=...)`` at its defaults on the
benchmark sets (75/25 split, features and target standardized as in ``bench_e2e``;
both with the Nystrom landmark count a float32 fit at defaults chose, so that only the
precision differs) and compares the test predictions. As yardsticks it also fits
float64 on the training inputs rounded to float32 (what float32 does to the data,
before any arithmetic), float64 from another seed (``random_state=1``: other initial
weights, landmarks and selection rows, the spread a user sees between two runs), and
float64 with exact inner steps (``solver='cholesky'``): the
difference between the two float64 fits is how much the fit's own inner tolerance
moves the predictions. And it fits float32 with exact steps too: float32 against
float64, both with exact steps, is what the precision alone moves when no inner
tolerance decides when a solve stops. The last yardstick refits the float64 fit in a
child process under another OpenBLAS kernel (``OPENBLAS_CORETYPE``: Sandybridge, or
Haswell where the kernel in use is Sandybridge; x86-64 OpenBLAS only, "n/a" elsewhere):
how far the fit moves when only float64's ``1e-16`` rounding changes, against float32's
``6e-8``. Part 3 shows why even exact steps differ: it perturbs
the friedman1 fit's mapped inputs by a relative ``1e-6`` (float32 rounding is ``6e-8``),
takes one exact float64 step from the same initialization, and counts the
(sample, neuron) pairs whose pre-activation at the initialization crossed the ReLU's
kink. Prints Markdown tables and writes them, with the command, to
``benchmarks/float32.md``.
"""

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info

import datasets
from skgn import SketchedGNRegressor
from skgn._estimators import _network_inputs
from skgn._gauss_newton import gauss_newton
from skgn._network import TwoLayerReLU, add_bias_feature
from skgn._preconditioners import NO_PRECONDITIONER, NystromPreconditioner
from skgn._solvers import solve_cg

HERE = Path(__file__).parent
PATHS = {
    "cg+nystrom": lambda: NystromPreconditioner(n_landmarks=500, random_state=0),
    "cg+none": lambda: NO_PRECONDITIONER,
}
SETS = ("teacher", "friedman1", "diabetes", "computers", "affairs", "nox", "seattle")


def one_step(X_tilde, y, W0, signs, dtype, preconditioner):
    """Seconds and inner iterations of the first Gauss-Newton step in ``dtype``."""
    network = TwoLayerReLU(signs, dtype=dtype)
    X_cast = X_tilde.astype(dtype)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = gauss_newton(network, W0, W0, X_cast, y[:, None], solve=solve_cg,
                              preconditioner=preconditioner, alpha=1.0, max_iter=1)
    return time.perf_counter() - start, result.history[0]["inner_iterations"]


def step_table(n, m, d):
    X, y = datasets.teacher(n, d=d, seed=0)
    X = StandardScaler().fit_transform(X)
    y = (y - y.mean()) / y.std()
    X_tilde = add_bias_feature(X, True)
    network, W0 = TwoLayerReLU.initialize(np.random.RandomState(0), d + 1, 1, n_neurons=m)
    rows = []
    for path, make in PATHS.items():
        best = {np.float64: (np.inf, 0), np.float32: (np.inf, 0)}
        for _ in range(2):
            for dtype in (np.float64, np.float32):
                seconds, iters = one_step(X_tilde, y, W0, network.signs, dtype, make())
                best[dtype] = min(best[dtype], (seconds, iters))
        (t64, i64), (t32, i32) = best[np.float64], best[np.float32]
        rows.append(f"| {path} | {n} | {m} | {d} | {t64:.2f} | {t32:.2f} | {t64 / t32:.2f} "
                    f"| {i64} / {i32} |")
        print(rows[-1], flush=True)
    head = ["| path | n | m | d | float64 s | float32 s | float64 / float32 | inner iterations "
            "(64 / 32) |", "|---|---|---|---|---|---|---|---|"]
    return head + rows


def split(name):
    """The set's 75/25 split (at most 4,500 training rows), standardized."""
    X, y = datasets.load(name, n=4000)
    train = min(0.75, 4500 / len(y))
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, train_size=train, random_state=0)
    scaler = StandardScaler().fit(X_tr)
    mean, scale = y_tr.mean(), y_tr.std()
    return (scaler.transform(X_tr), scaler.transform(X_te), (y_tr - mean) / scale,
            (y_te - mean) / scale)


def float64_predictions(name, landmarks):
    """Test predictions of the table's float64 fit at defaults."""
    X_tr, X_te, y_tr, _ = split(name)
    model = SketchedGNRegressor(dtype=np.float64, n_landmarks=landmarks, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X_tr, y_tr).predict(X_te)


def blas_kernel():
    """The OpenBLAS kernel numpy uses, or None for another BLAS or a non-x86 machine."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    for info in threadpool_info():
        if info["user_api"] == "blas" and info["internal_api"] == "openblas":
            return info.get("architecture")
    return None


def other_kernel_predictions(name, landmarks):
    """``float64_predictions`` in a child process under another OpenBLAS kernel.

    Returns the predictions and the kernel's name, or ``(None, None)`` where the kernel
    cannot be switched (another BLAS, a build without runtime kernel choice).
    """
    here = blas_kernel()
    if here is None:
        return None, None
    other = "Haswell" if here.lower() == "sandybridge" else "Sandybridge"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pred.npy"
        env = {**os.environ, "OPENBLAS_CORETYPE": other}
        subprocess.run([sys.executable, __file__, "--float64-child", name, str(landmarks),
                        str(out)], env=env, check=True, cwd=HERE)
        ran = out.with_suffix(".kernel").read_text()
        if ran.lower() == here.lower():
            return None, None
        return np.load(out), ran


def fit_table(quick):
    rows = []
    for name in SETS:
        X_tr, X_te, y_tr, y_te = split(name)
        # The same fit but for precision: n_landmarks='auto' prices iterations at the
        # products' speed, so both fits take the count a float32 fit at defaults chose.
        # (Given to the float64 fit alone, that count would also replace the one a
        # float32 fit at defaults resolves anew for the fit before a learned feature map.)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            landmarks = SketchedGNRegressor(dtype=np.float32, random_state=0).fit(
                X_tr, y_tr).n_landmarks_
        result = {}
        for dtype in (np.float32, np.float64):
            model = SketchedGNRegressor(dtype=dtype, n_landmarks=landmarks, random_state=0)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X_tr, y_tr)
            seconds = time.perf_counter() - start
            result[dtype] = (seconds, model.predict(X_te), model.n_iter_)
        (t64, p64, s64), (t32, p32, s32) = result[np.float64], result[np.float32]
        # The data's yardstick: float64 on the training inputs rounded to float32, what
        # float32 does to the data before any arithmetic.
        on_rounded = SketchedGNRegressor(dtype=np.float64, n_landmarks=landmarks,
                                         random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            on_rounded.fit(X_tr.astype(np.float32).astype(np.float64), y_tr)
        rounded = on_rounded.predict(X_te)
        exact = {}
        for dtype in (np.float64, np.float32):
            model = SketchedGNRegressor(dtype=dtype, solver="cholesky", random_state=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                exact[dtype] = (model.fit(X_tr, y_tr).predict(X_te), model.n_iter_)
        (e64, n64), (e32, n32) = exact[np.float64], exact[np.float32]
        # The seed's yardstick: the same float64 fit from another random_state.
        other = SketchedGNRegressor(dtype=np.float64, random_state=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            seeded = other.fit(X_tr, y_tr).predict(X_te)
        # The rounding yardstick: the same float64 fit under another BLAS kernel.
        kernel_pred, kernel = other_kernel_predictions(name, landmarks)
        rel_kernel = ("n/a" if kernel_pred is None else
                      f"{np.linalg.norm(p64 - kernel_pred) / np.linalg.norm(p64):.1e} "
                      f"({kernel})")
        rel = np.linalg.norm(p64 - p32) / np.linalg.norm(p64)
        rel_exact = np.linalg.norm(p64 - e64) / np.linalg.norm(e64)
        rel_both = np.linalg.norm(e64 - e32) / np.linalg.norm(e64)
        rel_seed = np.linalg.norm(p64 - seeded) / np.linalg.norm(p64)
        rel_rounded = np.linalg.norm(p64 - rounded) / np.linalg.norm(p64)
        rows.append(f"| {name} | {len(y_tr)} | {landmarks} | {rel:.1e} | {rel_rounded:.1e} | "
                    f"{rel_kernel} | {rel_seed:.1e} | "
                    f"{rel_exact:.1e} | "
                    f"{rel_both:.1e} ({n64} / {n32} steps) | {r2_score(y_te, p64):.4f} | "
                    f"{r2_score(y_te, p32):.4f} | {t64:.2f} | {t32:.2f} | {s64} / {s32} |")
        print(rows[-1], flush=True)
        if quick and len(rows) == 2:
            break
    head = ["| dataset | n_train | n_landmarks | relative difference of test predictions | "
            "same, float64 against float64 on the training inputs rounded to float32 | "
            "same, float64 against float64 under another OpenBLAS kernel | same, float64 "
            "against float64 with random_state=1 | same, float64 "
            "against float64 with exact steps | same, float32 against float64, both with "
            "exact steps | R^2 float64 | R^2 float32 | fit s float64 | fit s float32 | "
            "steps (64 / 32) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    return head + rows


def kink_table(draws=6, relative=1e-6):
    """One exact float64 step on friedman1's mapped inputs, perturbed ``draws`` times."""
    X, y = datasets.load("friedman1", n=4000)
    X_tr, _, y_tr, _ = train_test_split(X, y, train_size=0.75, random_state=0)
    X_tr = StandardScaler().fit_transform(X_tr)
    y_tr = (y_tr - y_tr.mean()) / y_tr.std()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = SketchedGNRegressor(dtype=np.float64, solver="cholesky",
                                     random_state=0).fit(X_tr, y_tr)
    T = fitted.feature_transform_
    if T is None:
        return ["(the fit kept no feature map: nothing to perturb)"]
    options = dict(dtype=np.float64, solver="cholesky", agop_rounds=0, max_iter=1,
                   alpha=fitted.alpha_, input_scale=fitted.input_scale_, random_state=0)

    def step(transform):
        mapped = X_tr @ transform
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = SketchedGNRegressor(**options).fit(mapped, y_tr)
        X_tilde = _network_inputs(mapped, fitted.input_scale_, True)
        # The side of the kink of every (sample, neuron) pair at the initialization.
        side = X_tilde @ model.initial_weights_.T > 0
        return model.history_[0]["loss"], model.predict(mapped), side

    loss, pred, side = step(T)
    rng = np.random.RandomState(1)
    rows = []
    for draw in range(draws):
        T_draw = T * (1.0 + relative * rng.standard_normal(T.shape))
        loss_d, pred_d, side_d = step(T_draw)
        change = np.abs(pred_d - pred)
        rows.append(f"| {draw + 1} | {np.count_nonzero(side_d != side)} | "
                    f"{abs(loss_d - loss) / loss:.1e} | "
                    f"{np.linalg.norm(pred_d - pred) / np.linalg.norm(pred):.1e} | "
                    f"{change.max():.1e} |")
        print(rows[-1], flush=True)
    head = ["| draw | pairs across the kink at W0 | relative change of the step's loss | "
            "relative change of the training predictions | largest change of one "
            "prediction |", "|---|---|---|---|---|"]
    return head + rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--kink", action="store_true", help="only part 3, printed")
    parser.add_argument("--float64-child", nargs=3, metavar=("SET", "LANDMARKS", "OUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.float64_child:
        name, landmarks, out = args.float64_child
        np.save(out, float64_predictions(name, int(landmarks)))
        Path(out).with_suffix(".kernel").write_text(str(blas_kernel()))
        return 0
    if args.kink:
        print("\n".join(kink_table()))
        return 0
    n, m = (4000, 1024) if args.quick else (16000, 4096)
    steps = step_table(n, m, 20)
    fits = fit_table(args.quick)
    kink = kink_table(draws=2 if args.quick else 6)
    command = "python benchmarks/bench_float32.py" + (" --quick" if args.quick else "")
    text = "\n".join([
        f"Command: `{command}`", "",
        "One Gauss-Newton step of the matrix-free path (alpha = 1, first-step inner "
        "tolerance 0.03), float64 against float32 (`dtype`), best of two:", "",
        *steps, "",
        "Fits at defaults (`SketchedGNRegressor(dtype=...)`, both with the `n_landmarks_` "
        "a float32 fit at defaults chose), test predictions compared:",
        "", *fits, "",
        "One exact float64 step (friedman1, 3,000 rows, its defaults' feature map, `alpha_` "
        "and `input_scale_`) on mapped inputs whose map is perturbed by a relative 1e-6 "
        "(float32 rounds at 6e-8), against the same step unperturbed:",
        "", *kink, "",
    ])
    (HERE / "float32.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
