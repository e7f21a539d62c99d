"""
skgn and kernel ridge regression with the neural tangent kernel
===============================================================

A wide, ridge-regularized skgn fit should approach kernel ridge regression with the
network's neural tangent kernel (NTK) and the same ``alpha``, in the lazy regime
(``init_scale=1.0``). As ``n_neurons`` grows, the empirical Gram matrix ``J J^T``
approaches the closed-form NTK and the two fits coincide.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.kernel_ridge import KernelRidge

from skgn import NTKKernel, SketchedGNRegressor, ntk

# %%
# Data and the kernel-ridge reference
# -----------------------------------
rng = np.random.RandomState(0)
X = rng.standard_normal((300, 4))
y = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(300)
X_test = rng.standard_normal((200, 4))
alpha = 1.0

# skgn standardizes y, so compare with kernel ridge on the standardized targets.
mean, std = y.mean(), y.std()
krr = KernelRidge(kernel=NTKKernel(), alpha=alpha).fit(X, (y - mean) / std)
pred_krr = krr.predict(X_test) * std + mean

# %%
# Finite widths
# -------------
# The tangent-kernel Gram at the initialization is
# ``(X~ X~^T) o (D D^T) / m`` with ``D = 1[X~ W0^T > 0]`` the activation pattern: two lines
# of NumPy from the fitted ``initial_weights_``.
X_tilde = np.hstack([X, np.ones((len(X), 1))])
K = ntk(X)
widths = [64, 256, 1024, 4096, 16384]
gram_error, pred_gap = [], []
for m in widths:
    # init_scale=1.0: the lazy regime, where the kernel limit applies.
    reg = SketchedGNRegressor(n_neurons=m, alpha=alpha, input_scale=1.0, init_scale=1.0,
                              random_state=0)
    reg.fit(X, y)
    diff = reg.predict(X_test) - pred_krr
    pred_gap.append(np.linalg.norm(diff) / np.linalg.norm(pred_krr - mean))
    D = (X_tilde @ reg.initial_weights_.T > 0).astype(float)
    gram = (X_tilde @ X_tilde.T) * (D @ D.T) / m
    gram_error.append(np.linalg.norm(gram - K, 2) / np.linalg.norm(K, 2))
    print(f"n_neurons={m:6d}  Gram error {gram_error[-1]:.4f}  prediction gap {pred_gap[-1]:.4f}")

# %%
# Both gaps shrink like ``1 / sqrt(m)``
# -------------------------------------
fig, ax = plt.subplots(figsize=(6, 4))
ax.loglog(widths, gram_error, "o-", label="||J J^T - K_NTK|| / ||K_NTK|| (at init)")
ax.loglog(widths, pred_gap, "s-", label="relative gap, skgn vs KernelRidge(NTK)")
ax.loglog(widths, 1 / np.sqrt(widths), "k--", label="1 / sqrt(m)")
ax.set_xlabel("n_neurons")
ax.legend()
ax.set_title("Finite width approaches the NTK limit")
fig.tight_layout()
plt.show()
