"""
Quickstart: skgn against KernelRidge on a noisy 1-D function
============================================================

A wide network trained by a few Gauss-Newton steps, next to kernel ridge regression with
an RBF kernel, on a noisy sine. The plot shows both fits and the objective after each
accepted Gauss-Newton step.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.kernel_ridge import KernelRidge

from skgn import SketchedGNRegressor

# %%
# Data: a noisy sine
# ------------------
# 200 points in one dimension, the kind of curve a wide ReLU network fits in a few
# Gauss-Newton steps.
rng = np.random.RandomState(0)
X = np.sort(rng.uniform(-3, 3, 200))[:, None]
y = np.sin(2 * X.ravel()) + 0.2 * rng.standard_normal(200)
X_plot = np.linspace(-3, 3, 400)[:, None]

# %%
# Fit both models
# ---------------
# ``alpha`` plays the same role in both: the ridge penalty (for skgn, toward the
# initial weights), so the two fits are comparable at the same value.
reg = SketchedGNRegressor(n_neurons=2048, alpha=0.1, random_state=0).fit(X, y)
krr = KernelRidge(kernel="rbf", alpha=0.1, gamma=1.0).fit(X, y)
print(f"skgn: {reg.n_iter_} Gauss-Newton steps, train R^2 {reg.score(X, y):.4f}")
print(f"KernelRidge: train R^2 {krr.score(X, y):.4f}")

# %%
# Plot the fits and the objective
# -------------------------------
# ``loss_curve_`` holds the objective after each accepted step: the first step does most
# of the work, as the Gauss-Newton step from the initialization is (up to damping) the
# tangent-kernel ridge solution.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
ax1.scatter(X, y, s=8, color="0.6", label="data")
ax1.plot(X_plot, reg.predict(X_plot), label="skgn")
ax1.plot(X_plot, krr.predict(X_plot), "--", label="KernelRidge (rbf)")
ax1.legend()
ax1.set_title("fits")
ax2.semilogy(np.arange(1, len(reg.loss_curve_) + 1), reg.loss_curve_, "o-")
ax2.set_xlabel("accepted Gauss-Newton step")
ax2.set_ylabel("objective")
ax2.set_title("training objective")
fig.tight_layout()
plt.show()
