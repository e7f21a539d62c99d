"""
Deep networks approach kernel ridge regression with the deep tangent kernel
===========================================================================

With ``depth=L`` hidden layers of width ``m`` (He-scaled ``m x m`` layers, all trained), a
wide, ridge-regularized skgn fit in the lazy regime approaches kernel ridge regression
with the closed-form deep neural tangent kernel ``skgn.ntk(X, depth=L)`` and the same
``alpha``. The gap between the two predictions shrinks as the width grows, for every
depth.
"""

import matplotlib.pyplot as plt
import numpy as np

from skgn import SketchedGNRegressor, ntk

# %%
# Data and the kernel-ridge references
# ------------------------------------
# skgn standardizes ``y``; kernel ridge is solved on the same standardized targets.
rng = np.random.RandomState(0)
X = rng.standard_normal((150, 3))
y = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(150)
X_test = rng.standard_normal((100, 3))
alpha = 1.0
mean, std = y.mean(), y.std()


def kernel_ridge(depth):
    """Kernel ridge regression with the depth-``depth`` NTK, in the units of ``y``."""
    K, K_test = ntk(X, depth=depth), ntk(X_test, X, depth=depth)
    coef = np.linalg.solve(K + alpha * np.eye(len(X)), (y - mean) / std)
    return K_test @ coef * std + mean


# %%
# Relative gap against the width
# ------------------------------
# ``max_iter=1``: in the lazy regime the first Gauss-Newton step from the symmetric
# initialization (``f = 0``) is the tangent-kernel ridge fit at the initial weights.
widths = [64, 256, 1024, 2048]
fig, ax = plt.subplots(figsize=(6, 4))
for depth in (1, 2, 3):
    reference = kernel_ridge(depth)
    gaps = []
    for m in widths:
        reg = SketchedGNRegressor(n_neurons=m, depth=depth, alpha=alpha, input_scale=1.0,
                                  solver="cholesky", max_iter=1, random_state=0)
        reg.fit(X, y)
        gaps.append(np.linalg.norm(reg.predict(X_test) - reference)
                    / np.linalg.norm(reference - mean))
        print(f"depth={depth}  n_neurons={m:5d}  relative gap {gaps[-1]:.4f}")
    ax.loglog(widths, gaps, "o-", label=f"depth {depth}")
ax.loglog(widths, 1 / np.sqrt(widths), "k--", label="1 / sqrt(m)")
ax.set_xlabel("n_neurons (width of every hidden layer)")
ax.set_ylabel("||skgn - KernelRidge(NTK)|| / ||KernelRidge(NTK)||")
ax.set_title("Finite deep networks approach their NTK limit")
ax.legend()
fig.tight_layout()
plt.show()
