"""SketchedGNClassifier as a scikit-learn classifier."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from sklearn.datasets import make_blobs, make_moons
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils.class_weight import compute_sample_weight

from skgn import SketchedGNClassifier


@pytest.fixture(scope="module")
def moons():
    return make_moons(200, noise=0.2, random_state=0)


@pytest.fixture(scope="module")
def blobs4():
    X, y = make_blobs(240, centers=4, cluster_std=1.5, random_state=0)
    return StandardScaler().fit_transform(X), y


def test_binary_string_labels_probabilities_and_decision(moons):
    X, y = moons
    labels = np.array(["no", "yes"])[y]
    clf = SketchedGNClassifier(128, alpha=0.01, input_scale=1.0, random_state=0).fit(X, labels)
    assert_array_equal(clf.classes_, ["no", "yes"])
    assert clf.n_outputs_ == 1
    proba = clf.predict_proba(X)
    assert proba.shape == (200, 2)
    assert_allclose(proba.sum(1), 1.0)
    decision = clf.decision_function(X)
    assert decision.shape == (200,)
    assert_array_equal(clf.predict(X), clf.classes_[(decision > 0).astype(int)])
    assert_allclose(np.exp(clf.predict_log_proba(X)), proba, rtol=1e-12)
    assert clf.score(X, labels) > 0.9


def test_multiclass_softmax(blobs4):
    X, y = blobs4
    clf = SketchedGNClassifier(128, random_state=0).fit(X, y)
    assert clf.n_outputs_ == 4
    proba = clf.predict_proba(X)
    assert proba.shape == (240, 4)
    assert_allclose(proba.sum(1), 1.0)
    assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(1)])
    assert_allclose(clf.predict_log_proba(X), np.log(proba), rtol=1e-10, atol=1e-12)
    # The blobs overlap: an RBF SVC fits 0.854 of this training set.
    assert clf.score(X, y) > SVC().fit(X, y).score(X, y) - 0.03


@pytest.mark.parametrize("k", [2, 3])
def test_wide_regime_separates_separable_data_within_ten_steps(k):
    X, y = make_blobs(90, centers=k, cluster_std=0.5, random_state=1)
    X = StandardScaler().fit_transform(X)
    clf = SketchedGNClassifier(512, alpha=1e-3, input_scale=1.0, max_iter=10, tol=1e-8,
                               random_state=0)
    with warnings.catch_warnings():
        # max_iter=10 at tol 1e-8 may stop short of convergence: the test is separation.
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.score(X, y) == 1.0
    assert clf.n_iter_ <= 10
    curve = clf.loss_curve_
    assert all(b <= a for a, b in zip(curve, curve[1:]))


def test_class_weight_equals_the_corresponding_sample_weight(moons):
    X, y = moons
    y = y.copy()
    y[:60] = 0  # imbalance
    kw = dict(n_neurons=64, alpha=0.1, input_scale=1.0, solver="cholesky", random_state=0)
    balanced = SketchedGNClassifier(class_weight="balanced", **kw).fit(X, y)
    weighted = SketchedGNClassifier(**kw).fit(X, y, sample_weight=compute_sample_weight(
        "balanced", y))
    assert_allclose(balanced.decision_function(X), weighted.decision_function(X), rtol=1e-10)


def test_one_class_and_changed_classes_raise(moons):
    X, y = moons
    with pytest.raises(ValueError, match="at least 2 classes"):
        SketchedGNClassifier(16).fit(X, np.zeros(len(y)))
    clf = SketchedGNClassifier(16, alpha=1.0, input_scale=1.0, warm_start=True,
                               random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="classes of the previous fit"):
        clf.fit(X, y + 1)


def test_early_stopping_scores_accuracy(moons):
    X, y = moons
    clf = SketchedGNClassifier(64, early_stopping=True, random_state=0).fit(X, y)
    assert all(0.0 <= s <= 1.0 for s in clf.validation_scores_)
    assert clf.best_validation_score_ >= max(clf.validation_scores_)
    assert all(v > 0 for v in clf.validation_loss_curve_)


def test_pipeline_and_grid_search(moons):
    X, y = moons
    pipe = make_pipeline(StandardScaler(), SketchedGNClassifier(64, random_state=0))
    search = GridSearchCV(pipe, {"sketchedgnclassifier__alpha": [0.1, 1.0]}, cv=3).fit(X, y)
    assert search.best_score_ > 0.8


def test_auto_alpha_candidates_reach_below_the_regressors():
    from skgn import SketchedGNRegressor
    from skgn._classifier import CLASSIFIER_ALPHAS
    from skgn._selection import DEFAULT_ALPHAS

    # The log-loss has at most a quarter of its squared-error proxy's curvature, so the
    # classifier's default candidates go two decades lower; the regressor's are unchanged.
    X, y = make_blobs(120, centers=3, random_state=0)
    clf = SketchedGNClassifier(n_neurons=32, max_iter=2, random_state=0).fit(X, y)
    assert_allclose(clf.alphas_, np.logspace(-4, 2, 13))
    assert_allclose(CLASSIFIER_ALPHAS, np.logspace(-4, 2, 13))
    reg = SketchedGNRegressor(n_neurons=32, max_iter=2, random_state=0).fit(X, y)
    assert_allclose(reg.alphas_, DEFAULT_ALPHAS)
    assert clf.alpha_ in clf.alphas_


def test_sparse_input_fits_the_model_of_its_dense_copy(blobs4):
    X, y = blobs4
    X = np.where(np.abs(X) < 0.5, 0.0, X)
    dense = SketchedGNClassifier(n_neurons=32, random_state=0).fit(X, y)
    clf = SketchedGNClassifier(n_neurons=32, random_state=0).fit(sparse.csr_matrix(X), y)
    X_test = sparse.csc_matrix(X)
    assert_array_equal(clf.predict_proba(X_test), dense.predict_proba(X))
    assert_array_equal(clf.predict(X_test), dense.predict(X))


@pytest.mark.parametrize("k", [2, 3])
def test_logits_start_at_the_weighted_class_prior(k):
    # Features without signal and a huge alpha: the network hardly moves from its start,
    # so the probabilities are the weighted class shares (they were 1/k before the logits
    # started at the prior's: 0.39 for a 10% class).
    rng = np.random.RandomState(0)
    X = rng.randn(400, 4)
    y = rng.choice(k, size=400, p=[0.7, 0.3] if k == 2 else [0.6, 0.3, 0.1])
    sw = rng.uniform(0.5, 2.0, 400)
    clf = SketchedGNClassifier(n_neurons=64, alpha=1e8, random_state=0)
    clf.fit(X, y, sample_weight=sw)
    shares = np.array([sw[y == c].sum() for c in range(k)]) / sw.sum()
    assert_allclose(clf.predict_proba(X), np.tile(shares, (400, 1)), atol=1e-4)
    # A class of zero total weight keeps a finite logit at the floor of its share.
    sw[y == 1] = 0.0
    clf.fit(X, y, sample_weight=sw)
    proba = clf.predict_proba(X)
    assert np.isfinite(clf.decision_function(X)).all() and proba[:, 1].max() < 1e-9
