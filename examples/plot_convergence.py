"""
Convergence against MLPRegressor
================================

Training loss against wall-clock time for skgn (one point per Gauss-Newton step, read from
``history_``) and ``MLPRegressor`` at the same width: Adam one epoch at a time through
``partial_fit`` (which keeps the optimizer's state), and L-BFGS as separate fits with a
growing ``max_iter`` (restarting L-BFGS each iteration would discard its curvature memory).
"""

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler

from skgn import SketchedGNRegressor

# %%
# Data and the shared training-error measure
# ------------------------------------------
X, y = make_friedman1(n_samples=1000, noise=0.5, random_state=0)
X = StandardScaler().fit_transform(X)
y = (y - y.mean()) / y.std()
width = 512


def train_mse(model):
    return np.mean((model.predict(X) - y) ** 2)


# %%
# skgn: one point per Gauss-Newton step
# -------------------------------------
# ``history_`` records the seconds and the objective of every step.
reg = SketchedGNRegressor(n_neurons=width, alpha=1e-3, random_state=0, normalize_y=False)
start = time.perf_counter()
reg.fit(X, y)
total = time.perf_counter() - start
skgn_time = np.cumsum([h["seconds"] for h in reg.history_])
skgn_mse = [2 * h["loss"] / len(y) for h in reg.history_]
print(f"skgn: {reg.n_iter_} steps, {total:.2f}s, train MSE {train_mse(reg):.4f}")

# %%
# MLPRegressor: Adam epoch by epoch, L-BFGS at growing budgets
# ------------------------------------------------------------
curves = {}
adam = MLPRegressor(hidden_layer_sizes=(width,), solver="adam", random_state=0)
times, losses, elapsed = [], [], 0.0
for _ in range(150):
    t0 = time.perf_counter()
    adam.partial_fit(X, y)
    elapsed += time.perf_counter() - t0
    times.append(elapsed)
    losses.append(train_mse(adam))
curves["adam"] = (times, losses)

times, losses = [], []
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    for max_iter in (5, 10, 20, 40, 80, 160):
        lbfgs = MLPRegressor(hidden_layer_sizes=(width,), solver="lbfgs", max_iter=max_iter,
                             random_state=0)
        t0 = time.perf_counter()
        lbfgs.fit(X, y)
        times.append(time.perf_counter() - t0)
        losses.append(train_mse(lbfgs))
curves["lbfgs"] = (times, losses)
for solver, (times, losses) in curves.items():
    print(f"MLPRegressor({solver}): {times[-1]:.2f}s, train MSE {losses[-1]:.4f}")

# %%
# Training error against time
# ---------------------------
fig, ax = plt.subplots(figsize=(6, 4))
ax.semilogy(skgn_time, skgn_mse, "o-", label="skgn (Gauss-Newton)")
for solver, (times, losses) in curves.items():
    ax.semilogy(times, losses, "-" if solver == "adam" else "s-",
                label=f"MLPRegressor ({solver})")
ax.set_xlabel("seconds")
ax.set_ylabel("training MSE (+ ridge term for skgn)")
ax.legend()
fig.tight_layout()
plt.show()
