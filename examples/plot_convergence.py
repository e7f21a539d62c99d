"""
Convergence against MLPRegressor
================================

Training loss against wall-clock time for skgn (one point per Gauss-Newton step, read from
``history_``) and ``MLPRegressor`` with Adam and L-BFGS at the same width (one point per
epoch or iteration, timed with ``warm_start``).
"""

import time
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler

from skgn import SketchedGNRegressor

X, y = make_friedman1(n_samples=1000, noise=0.5, random_state=0)
X = StandardScaler().fit_transform(X)
y = (y - y.mean()) / y.std()
width = 512


def train_mse(model):
    return np.mean((model.predict(X) - y) ** 2)


reg = SketchedGNRegressor(n_neurons=width, alpha=1e-3, random_state=0, normalize_y=False)
start = time.perf_counter()
reg.fit(X, y)
total = time.perf_counter() - start
skgn_time = np.cumsum([h["seconds"] for h in reg.history_])
skgn_mse = [2 * h["loss"] / len(y) for h in reg.history_]
print(f"skgn: {reg.n_iter_} steps, {total:.2f}s, train MSE {train_mse(reg):.4f}")

curves = {}
for solver, steps in (("adam", 150), ("lbfgs", 150)):
    mlp = MLPRegressor(hidden_layer_sizes=(width,), solver=solver, max_iter=1,
                       warm_start=True, random_state=0)
    times, losses, elapsed = [], [], 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(steps):
            t0 = time.perf_counter()
            mlp.fit(X, y)
            elapsed += time.perf_counter() - t0
            times.append(elapsed)
            losses.append(train_mse(mlp))
    curves[solver] = (times, losses)
    print(f"MLPRegressor({solver}): {steps} iterations, {elapsed:.2f}s, "
          f"train MSE {losses[-1]:.4f}")

fig, ax = plt.subplots(figsize=(6, 4))
ax.semilogy(skgn_time, skgn_mse, "o-", label="skgn (Gauss-Newton)")
for solver, (times, losses) in curves.items():
    ax.semilogy(times, losses, label=f"MLPRegressor ({solver})")
ax.set_xlabel("seconds")
ax.set_ylabel("training MSE (+ ridge term for skgn)")
ax.legend()
fig.tight_layout()
