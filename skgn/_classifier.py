"""The scikit-learn classifier :class:`SketchedGNClassifier`.

The same network, solvers and outer loop as the regressor; only the targets (class labels
encoded as one logit for two classes, ``k`` logits for ``k``) and the loss (cross-entropy,
through its generalized Gauss-Newton curvature factor) differ.
"""

import numpy as np
from scipy.special import expit, log_expit, log_softmax, softmax
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ._estimators import _SketchedGNBase
from ._monitor import with_callbacks
from ._losses import LogLoss, ShiftedLoss, SoftmaxLoss
from ._validation import check_sample_weight, check_squared_norms, validate_input

# alpha='auto' candidates, two decades below the regressor's: the selection's proxy
# (squared error on one-hot labels) has unit curvature where the log-loss has
# p (1 - p) <= 1/4 (1/k at a uniform softmax), falling as the fit separates, so the same
# alpha holds the log-loss fit closer to its start.
CLASSIFIER_ALPHAS = tuple(np.logspace(-4, 2, 13))
# Smallest class share whose logit the prior offset takes (a class can have zero total
# weight): the logits stay within log(1e-12), about -27.6.
_PRIOR_FLOOR = 1e-12


def _log_proba(decision):
    """Log-probabilities of every class from the logits, shape (n, n_classes)."""
    if decision.shape[1] == 1:
        return np.hstack([log_expit(-decision), log_expit(decision)])
    return log_softmax(decision, axis=1)


def _accuracy(Y, decision, sample_weight=None):
    """Early stopping's score: accuracy of the logits against encoded targets."""
    truth = Y[:, 0] > 0.5 if Y.shape[1] == 1 else Y.argmax(1)
    pred = decision[:, 0] > 0 if decision.shape[1] == 1 else decision.argmax(1)
    return accuracy_score(truth, pred, sample_weight=sample_weight)


def _log_loss(Y, decision, sample_weight=None):
    """Early stopping's loss: the mean cross-entropy of the logits."""
    onehot = np.hstack([1 - Y, Y]) if Y.shape[1] == 1 else Y
    losses = -np.einsum("ij,ij->i", onehot, _log_proba(decision))
    return float(np.average(losses, weights=sample_weight))


class SketchedGNClassifier(ClassifierMixin, _SketchedGNBase):
    """Over-parametrized ReLU network classifier trained by generalized Gauss-Newton steps.

    The network of :class:`SketchedGNRegressor` outputs one logit for two classes and
    ``k`` logits for ``k`` classes, added to the logits of the weighted class prior
    (``y_mean_``), as the regressor's outputs are added to the mean target; ``fit``
    minimizes the weighted cross-entropy plus
    ``alpha/2 ||W - W0||^2`` by Levenberg-Marquardt steps on the generalized Gauss-Newton
    model ``J^T H J`` (``H = p (1 - p)`` for two classes, ``diag(p) - p p^T`` per sample for
    ``k``), solved in sample space by the same solvers and preconditioners. A step is
    accepted only if the true objective falls.

    Parameters
    ----------
    n_neurons : int or 'auto', default='auto'
        Width ``m`` (even with ``init='symmetric'``); ``'auto'`` as in
        :class:`SketchedGNRegressor` (1024 up to 8,192 samples, then ``2**23 /
        n_samples``, at least 128). The width used is ``n_neurons_``.
    depth : int, default=1
        Hidden layers (see :class:`SketchedGNRegressor`).
    activation : {'relu', 'shifted_relu'}, default='relu'
        Activation (see :class:`SketchedGNRegressor`).
    shift : 'auto' or float, default='auto'
        Threshold of ``'shifted_relu'``.
    pattern : {'auto', 'dense', 'sparse', 'indexed'}, default='auto'
        Storage of the shifted ReLU's activation pattern.
    alpha : 'auto' or float, default='auto'
        Ridge strength toward the initialization. ``'auto'`` chooses it from ``alphas``
        (with the input scale) by leave-one-out error of the tangent-kernel ridge fit to
        the centered one-hot labels on at most 500 rows (a least-squares proxy of the
        classification fit).
    alphas : array-like of float, default=None
        Candidates for ``'auto'``; ``None`` means ``logspace(-4, 2, 13)``, two decades
        below the regressor's: the proxy's squared error has unit curvature where the
        log-loss has ``p (1 - p) <= 1/4`` (``1/k`` at a uniform softmax), so the same
        ``alpha`` regularizes the classifier more (on digits the proxy then picked
        ``1e-4``: test accuracy 0.9867 against 0.9800 at the former floor ``1e-2``).
    input_scale : 'auto' or float, default='auto'
        Kernel shape (see :class:`SketchedGNRegressor`).
    input_scales : array-like of float, default=None
        Candidates; ``None`` means ``(1.0, 0.5, 0.25)``.
    agop_rounds : 'auto' or int, default='auto'
        Feature learning (see :class:`SketchedGNRegressor`), with the gradients of the
        logits; ``'auto'`` scores the candidates on the encoded targets, as
        ``alpha='auto'`` does.
    solver : {'auto', 'cholesky', 'normal', 'cg', 'lsqr'}, default='auto'
        Inner solver (see :class:`SketchedGNRegressor`); the system has ``n`` rows for two
        classes and ``k n`` for ``k``.
    preconditioner : {'auto', 'none', 'jacobi', 'sketch', 'nystrom'}, default='auto'
        Preconditioner of the iterative solvers. With ``k > 2`` classes the curvature mixes
        each sample's ``k`` rows, so the sketch preconditioner sketches ``J^T`` densely.
    sketch : str, default='tensor_srht'
        Sketch of the ``'sketch'`` preconditioner.
    sketch_size : float, default=3.0
        Sketch rows per Gram row.
    n_landmarks : 'auto' or int, default='auto'
        Nystrom landmarks (``'auto'``: see :class:`SketchedGNRegressor`; the value used
        is ``n_landmarks_``).
    dtype : {'auto', numpy.float64, numpy.float32}, default='auto'
        Precision of the ``n x m`` products; ``'auto'`` means float32 from ``2**20``
        (row, neuron) pairs, rows counted once per output column (fitted value in
        ``dtype_``).
    block_size : 'auto' or int, default='auto'
        Rows per block of the ``n x m`` work in ``fit`` (see
        :class:`SketchedGNRegressor`).
    curvature_rows : 'auto', int or None, default='auto'
        Rows the Gauss-Newton curvature is taken from, a number meaning a step solved
        in parameter space (see :class:`SketchedGNRegressor`; the number used is
        ``curvature_rows_``).
    max_memory : float or None, default=None
        Memory budget in MiB of one step's path (see :class:`SketchedGNRegressor`).
    max_iter : int, default=100
        Maximum number of Gauss-Newton steps.
    tol : float, default=3e-3
        Stopping tolerance (see :class:`SketchedGNRegressor`).
    init : {'auto', 'centered', 'symmetric', 'random'}, default='auto'
        ``'centered'`` and ``'symmetric'`` start from the class prior (zero network
        outputs), by subtracting the initial output or by pairing the neurons;
        ``'auto'`` chooses between them by the parameter count (see
        :class:`SketchedGNRegressor`).
    init_scale : float, default=1.0
        Standard deviation of ``W0``.
    fit_intercept : bool, default=True
        Append the constant feature 1.
    standardize : bool, default=True
        Fit on the features centered and scaled to unit variance, indicator columns
        (entries all 0 or 1) kept, as in :class:`SketchedGNRegressor`.
    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes, multiplied into ``sample_weight`` (as in
        :func:`sklearn.utils.class_weight.compute_sample_weight`).
    warm_start : bool, default=False
        Continue from the previous fit (same classes).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, score every step by accuracy and
        keep the best weights.
    validation_fraction : float, default=0.1
        Held-out share for early stopping.
    n_iter_no_change : int, default=10
        Early-stopping patience.
    n_jobs : int, default=None
        Parallel jobs for sketch blocks, row blocks and the row halves of small
        problems' products (as in :class:`SketchedGNRegressor`); results do not depend
        on it.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialization, sketches, landmarks and splits.
    verbose : int, default=0
        Per-step printing.
    progress_bar : bool, default=False
        A tqdm progress bar.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    alpha_, input_scale_, shift_ : float
        The values used (chosen or given).
    n_neurons_ : int
        The hidden width (``n_neurons`` resolved).
    dtype_ : numpy.dtype
        The precision of the ``n x m`` work (``dtype`` resolved).
    curvature_rows_ : int
        Rows the curvature of the Gauss-Newton steps came from.
    n_landmarks_ : int
        The Nystrom landmark count (``n_landmarks`` resolved), that of the first
        step; where the later inner solves outrun it the fit doubles it (each step's
        count is ``history_``'s ``landmarks``).
    alphas_, input_scales_, selection_scores_
        The candidates and their leave-one-out scores.
    weights_, initial_weights_, output_signs_ : ndarray
        Trained weights, their initialization and the fixed output signs.
    centered_ : bool
        Whether the logits subtract the network's output at ``initial_weights_``.
    y_mean_, y_scale_ : ndarray of shape (n_outputs,)
        The logits of the weighted class prior (``log(q / (1 - q))`` for two classes,
        ``log q_c`` for ``k``), added to the network's outputs, and ones (logits are
        not scaled).
    n_outputs_ : int
        Logits: 1 for two classes, ``k`` for ``k``.
    n_iter_, loss_curve_, history_, converged_
        As in :class:`SketchedGNRegressor` (the objective is the weighted cross-entropy
        plus the ridge term).
    validation_scores_, validation_loss_curve_, best_validation_score_
        Validation accuracy and log-loss with early stopping, else ``None``.
    X_mean_, X_scale_ : ndarray of shape (n_features,)
        The network sees ``(X - X_mean_) / X_scale_`` (``standardize``).
    feature_transform_ : ndarray of shape (n_features, n_features) or None
        The feature map ``T`` learned by ``agop_rounds`` (``None`` without).
    agop_scores_ : ndarray of shape (2,) or None
        ``agop_rounds='auto'``'s scores without and with the map (see
        :class:`SketchedGNRegressor`).
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features,)
        Names of features seen in ``fit``, when ``X`` has string column names.

    See Also
    --------
    SketchedGNRegressor : The regressor on the same machinery.
    sklearn.neural_network.MLPClassifier : A network trained by first-order methods.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from skgn import SketchedGNClassifier
    >>> X, y = make_moons(200, noise=0.1, random_state=0)
    >>> clf = SketchedGNClassifier(n_neurons=256, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    """

    _default_alphas = CLASSIFIER_ALPHAS

    def __init__(
        self,
        n_neurons="auto",
        *,
        depth=1,
        activation="relu",
        shift="auto",
        pattern="auto",
        alpha="auto",
        alphas=None,
        input_scale="auto",
        input_scales=None,
        agop_rounds="auto",
        solver="auto",
        preconditioner="auto",
        sketch="tensor_srht",
        sketch_size=3.0,
        n_landmarks="auto",
        dtype="auto",
        block_size="auto",
        curvature_rows="auto",
        max_memory=None,
        max_iter=100,
        tol=3e-3,
        init="auto",
        init_scale=1.0,
        fit_intercept=True,
        standardize=True,
        class_weight=None,
        warm_start=False,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        n_jobs=None,
        random_state=None,
        verbose=0,
        progress_bar=False,
    ):
        self.n_neurons = n_neurons
        self.depth = depth
        self.activation = activation
        self.shift = shift
        self.pattern = pattern
        self.alpha = alpha
        self.alphas = alphas
        self.input_scale = input_scale
        self.input_scales = input_scales
        self.agop_rounds = agop_rounds
        self.solver = solver
        self.preconditioner = preconditioner
        self.sketch = sketch
        self.sketch_size = sketch_size
        self.n_landmarks = n_landmarks
        self.dtype = dtype
        self.block_size = block_size
        self.curvature_rows = curvature_rows
        self.max_memory = max_memory
        self.max_iter = max_iter
        self.tol = tol
        self.init = init
        self.init_scale = init_scale
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.progress_bar = progress_bar

    def _target_scaling(self, Y, sample_weight, p):
        # The logits start at the (weighted) class prior's, the constant model: y_mean is
        # the prior's logit log(q / (1 - q)) for two classes, log q_c for k (softmax
        # ignores a common constant); the network learns the rest, as the regressor's
        # learns y - mean(y). Logits are not scaled.
        prior = np.clip(np.average(Y, axis=0, weights=sample_weight), _PRIOR_FLOOR,
                        1.0 - _PRIOR_FLOOR)
        offset = np.log(prior) - (np.log1p(-prior) if Y.shape[1] == 1 else 0.0)
        return offset, np.ones(Y.shape[1])

    @staticmethod
    def _selection_targets(Y, y_mean, y_scale, sample_weight):
        return Y - np.average(Y, axis=0, weights=sample_weight)

    @staticmethod
    def _training_problem(Y, loss, y_mean, y_scale):
        # The labels stay the targets; the logits are the outputs plus the prior's.
        return Y, ShiftedLoss(loss, y_mean)

    @with_callbacks
    def fit(self, X, y, sample_weight=None):
        """Fit the network by generalized Gauss-Newton steps on the cross-entropy.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data (standardized inside ``fit``, see ``standardize``). A sparse
            matrix is densified (the products are dense whatever its sparsity).
        y : array-like of shape (n_samples,)
            Class labels (strings or integers).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples' losses. Their scale counts, as in
            ``LogisticRegression``: ``c s_i`` fits like ``s_i`` with ``alpha / c``, and
            the ``alphas`` grid is not rescaled (weights with mean 1 suit it).

        Returns
        -------
        self : SketchedGNClassifier
            The fitted estimator.
        """
        p = self._validate_params()
        X, y = validate_input(self, X, y, ensure_min_samples=2)
        check_classification_targets(y)
        sample_weight = check_sample_weight(sample_weight, X.shape[0])
        check_squared_norms(X)
        classes, encoded = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"SketchedGNClassifier needs samples of at least 2 classes; got 1 class "
                f"({classes[0]!r}). Pass data of several classes."
            )
        if p["warm_start"] and hasattr(self, "classes_") and not np.array_equal(
                classes, self.classes_):
            raise ValueError(
                f"warm_start=True needs the classes of the previous fit, {self.classes_!r}; "
                f"got {classes!r}. Set warm_start=False to start over."
            )
        self.classes_ = classes
        if self.class_weight is not None:
            weights = compute_sample_weight(self.class_weight, y)
            sample_weight = weights if sample_weight is None else sample_weight * weights
        if len(classes) == 2:
            Y, loss = encoded[:, None].astype(np.float64), LogLoss()
        else:
            Y, loss = np.eye(len(classes))[encoded], SoftmaxLoss()
        return self._fit(p, X, y, Y, sample_weight, y_ndim=1, loss=loss,
                         metrics=(_accuracy, _log_loss))

    def decision_function(self, X):
        """Compute the logits of the trained network.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples (a sparse matrix is densified).

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes the logit of ``classes_[1]``; else one logit per class.
        """
        check_is_fitted(self)
        X = validate_input(self, X, reset=False)
        decision = self._decision(X) + self.y_mean_
        return decision[:, 0] if decision.shape[1] == 1 else decision

    def predict_proba(self, X):
        """Compute the class probabilities (sigmoid of the logit, softmax of the logits).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples (a sparse matrix is densified).

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities in the order of ``classes_``; rows sum to 1.
        """
        decision = self.decision_function(X)
        if decision.ndim == 1:
            positive = expit(decision)
            return np.column_stack([1.0 - positive, positive])
        return softmax(decision, axis=1)

    def predict_log_proba(self, X):
        """Compute the logarithms of the class probabilities without underflow.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples (a sparse matrix is densified).

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probabilities in the order of ``classes_``.
        """
        decision = self.decision_function(X)
        return _log_proba(decision[:, None] if decision.ndim == 1 else decision)

    def predict(self, X):
        """Predict the most probable class.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples (a sparse matrix is densified).

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        decision = self.decision_function(X)
        index = (decision > 0).astype(int) if decision.ndim == 1 else decision.argmax(1)
        return self.classes_[index]
