"""
Solver paths and their inner iterations
=======================================

Each Gauss-Newton step solves ``(J J^T + lam I) g = b``. The exact path factors the Gram
matrix; the matrix-free paths run CG or LSQR on the implicit Jacobian. Without a
preconditioner CG needs many iterations on the ill-conditioned Gram of a low-dimensional
input; the sketch preconditioner (van den Brand et al.) keeps the count flat, and
``history_`` shows what each path did.
"""

import matplotlib.pyplot as plt
import numpy as np

from skgn import SketchedGNRegressor

# %%
# A low-dimensional input: an ill-conditioned Gram
# ------------------------------------------------
# With two input features the tangent-kernel Gram has a fast-decaying spectrum, the case
# where an unpreconditioned inner solver struggles.
rng = np.random.RandomState(0)
X = rng.uniform(-2, 2, (600, 2))
y = np.sin(X[:, 0] * X[:, 1]) + 0.05 * rng.standard_normal(600)

# %%
# The same fit on four solver paths
# ---------------------------------
# Every path solves the same Gauss-Newton system; they differ in how many inner
# iterations, and how much time, each step costs.
paths = {
    "cholesky": {"solver": "cholesky"},
    "cg, none": {"solver": "cg", "preconditioner": "none"},
    "cg, nystrom": {"solver": "cg", "preconditioner": "nystrom", "n_landmarks": 200},
    "lsqr, sketch": {"solver": "lsqr", "preconditioner": "sketch"},
}
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
for name, params in paths.items():
    reg = SketchedGNRegressor(n_neurons=2048, alpha=1e-3, max_iter=12, tol=1e-4,
                              random_state=0, **params).fit(X, y)
    steps = [h["step"] for h in reg.history_]
    inner = [h["inner_iterations"] for h in reg.history_]
    seconds = np.cumsum([h["seconds"] for h in reg.history_])
    print(f"{name:14s} steps {reg.n_iter_:2d}  inner iterations {inner}  "
          f"train R^2 {reg.score(X, y):.4f}  {seconds[-1]:.2f}s")
    ax1.plot(steps, inner, "o-", label=name)
    ax2.semilogy(seconds, [h["loss"] for h in reg.history_], "o-", label=name)
# %%
# Inner iterations per step, and the objective against time
# ---------------------------------------------------------
ax1.set_xlabel("Gauss-Newton step")
ax1.set_ylabel("inner iterations")
ax1.legend()
ax2.set_xlabel("seconds")
ax2.set_ylabel("objective")
fig.tight_layout()
plt.show()
