"""
Tuning skgn in a Pipeline with GridSearchCV
===========================================

``SketchedGNRegressor`` is a scikit-learn regressor: it goes in a Pipeline after a
``StandardScaler`` and is tuned by ``GridSearchCV`` like any other. Here on the bundled
diabetes data, next to ``KernelRidge`` with an RBF kernel tuned the same way.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.kernel_ridge import KernelRidge
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skgn import SketchedGNRegressor

# %%
# Two tuned pipelines
# -------------------
# The same 5-fold split and the same grid of ``alpha`` for both estimators; the
# estimator's parameters are reached with the usual ``step__parameter`` names.
X, y = load_diabetes(return_X_y=True)
cv = KFold(5, shuffle=True, random_state=0)
alphas = np.logspace(-2, 2, 5)

skgn = GridSearchCV(
    make_pipeline(StandardScaler(), SketchedGNRegressor(n_neurons=256, random_state=0)),
    {"sketchedgnregressor__alpha": alphas}, cv=cv,
).fit(X, y)
krr = GridSearchCV(
    make_pipeline(StandardScaler(), KernelRidge(kernel="rbf")),
    {"kernelridge__alpha": alphas}, cv=cv,
).fit(X, y)
print("skgn best", skgn.best_params_, f"CV R^2 {skgn.best_score_:.4f}")
print("KernelRidge best", krr.best_params_, f"CV R^2 {krr.best_score_:.4f}")

# %%
# Cross-validated score against alpha
# -----------------------------------
fig, ax = plt.subplots(figsize=(6, 4))
ax.semilogx(alphas, skgn.cv_results_["mean_test_score"], "o-", label="skgn")
ax.semilogx(alphas, krr.cv_results_["mean_test_score"], "s--", label="KernelRidge (rbf)")
ax.set_xlabel("alpha")
ax.set_ylabel("mean 5-fold CV R^2")
ax.set_ylim(-0.2, 0.6)
ax.legend()
fig.tight_layout()
plt.show()
