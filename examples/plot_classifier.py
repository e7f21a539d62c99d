"""
Classification: decision boundaries against MLP, SVC and logistic regression
=============================================================================

``SketchedGNClassifier`` trains the same wide ReLU network as the regressor on the
cross-entropy, by generalized Gauss-Newton steps. On the two interleaved half-moons,
a linear model cannot separate the classes; the network, an RBF support vector machine
and ``MLPClassifier`` can. Each panel shows the predicted probability of the second class,
the training points, and the test accuracy with the fit time.
"""

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import make_moons
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from skgn import SketchedGNClassifier

# %%
# Data
# ----
X, y = make_moons(n_samples=400, noise=0.25, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, random_state=0)

# %%
# Four classifiers, each standardized in a pipeline
# -------------------------------------------------
# skgn chooses ``alpha`` and the input scale itself; SVC's probabilities come from
# Platt scaling (``CalibratedClassifierCV``).
models = {
    "skgn (256 neurons)": SketchedGNClassifier(n_neurons=256, random_state=0),
    "MLPClassifier": MLPClassifier(random_state=0, max_iter=500),
    "SVC (rbf)": CalibratedClassifierCV(SVC(), ensemble=False),
    "LogisticRegression": LogisticRegression(),
}
grid = np.stack(np.meshgrid(np.linspace(-2, 3, 150), np.linspace(-1.5, 2, 150)), axis=-1)
fig, axes = plt.subplots(1, 4, figsize=(16, 4), sharey=True)
for ax, (name, model) in zip(axes, models.items()):
    pipe = make_pipeline(StandardScaler(), model)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    proba = pipe.predict_proba(grid.reshape(-1, 2))[:, 1].reshape(grid.shape[:2])
    ax.contourf(grid[..., 0], grid[..., 1], proba, levels=20, cmap="RdBu_r", alpha=0.7)
    ax.contour(grid[..., 0], grid[..., 1], proba, levels=[0.5], colors="k")
    ax.scatter(X_train[:, 0], X_train[:, 1], c=y_train, cmap="RdBu_r", edgecolors="k", s=15)
    ax.set_title(f"{name}\naccuracy {pipe.score(X_test, y_test):.3f}, {seconds:.2f} s")
    print(f"{name:20s} test accuracy {pipe.score(X_test, y_test):.3f}  fit {seconds:.2f} s")
fig.tight_layout()
plt.show()

# %%
# The Gauss-Newton steps of the classifier
# ----------------------------------------
# ``history_`` has one row per step; the objective is the weighted cross-entropy plus the
# ridge term, and an accepted step never raises it.
clf = models["skgn (256 neurons)"]
print(f"alpha_={clf.alpha_:g}, input_scale_={clf.input_scale_:g}, steps={clf.n_iter_}")
for entry in clf.history_:
    print(f"step {entry['step']:2d}  objective {entry['loss']:9.4f}  "
          f"{'accepted' if entry['accepted'] else 'rejected'}  solver {entry['solver']}")
