"""Per-step reporting and stopping of one fit: verbose lines, a progress bar, early
stopping on a validation split, and scikit-learn's callback hooks.

The Gauss-Newton loop calls ``step_begin(step, W)`` and ``step_end(record, W)``; it
knows nothing of what the monitor does. Inside a long step, the network's row-block
products report their rows to :meth:`FitMonitor.rows_done`, which prints (``verbose``)
or shows on the bar how many passes over the rows the step has made.
"""

import threading
import time

import numpy as np
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.model_selection import train_test_split

try:  # scikit-learn 1.9 ships an experimental callback API; its names were in flux.
    from sklearn.callback import CallbackSupportMixin, with_callbacks
except ImportError:  # pragma: no cover - older scikit-learn

    class _NoCallbacks:
        """The callback context of a scikit-learn without callbacks: every hook is a no-op."""

        def call_on_fit_task_begin(self, **kwargs):
            """Do nothing."""

        def call_on_fit_task_end(self, **kwargs):
            """Do nothing; never stop the fit."""
            return False

        def subcontext(self, **kwargs):
            """This context again."""
            return self

    class CallbackSupportMixin:
        """Stand-in when ``sklearn.callback`` is missing: a context with no callbacks."""

        def _init_callback_context(self, **kwargs):
            return _NoCallbacks()

    def with_callbacks(method):
        """Identity decorator when ``sklearn.callback`` is missing."""
        return method


def split_validation(X, Y, sample_weight, fraction, seed):
    """Hold out ``fraction`` of the rows (for early stopping).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Inputs.
    Y : ndarray of shape (n_samples, n_outputs)
        Targets.
    sample_weight : ndarray of shape (n_samples,) or None
        Weights.
    fraction : float
        Share held out.
    seed : int
        Seed of the split.

    Returns
    -------
    X_train, X_val, Y_train, Y_val, sw_train, sw_val
        The two parts (weights ``None`` when ``sample_weight`` is).
    """
    arrays = [X, Y] + ([] if sample_weight is None else [sample_weight])
    parts = train_test_split(*arrays, test_size=fraction, random_state=seed)
    if sample_weight is None:
        parts += [None, None]
    X_tr, X_val, Y_tr, Y_val, sw_tr, sw_val = parts
    if X_tr.shape[0] < 2:
        raise ValueError(
            f"early_stopping leaves {X_tr.shape[0]} training sample(s) with "
            f"validation_fraction={fraction}; need at least 2. Use more data or a "
            "smaller validation_fraction."
        )
    return X_tr, X_val, Y_tr, Y_val, sw_tr, sw_val


class EarlyStopping:
    """Score each step on a held-out split; stop when it stops improving.

    Parameters
    ----------
    predict : callable
        ``predict(W, X_tilde)`` in the units of ``y``.
    X_val : ndarray of shape (n_val, n_inputs)
        Validation inputs, bias column included.
    Y_val : ndarray of shape (n_val, n_outputs)
        Validation targets (original units).
    sample_weight : ndarray of shape (n_val,) or None
        Validation weights.
    tol : float
        Minimum improvement of the validation R^2 that resets the patience.
    n_iter_no_change : int
        Accepted steps without such an improvement before stopping (a rejected
        Levenberg-Marquardt step leaves the weights unchanged and spends no patience).
    W_start : ndarray
        Weights before the first step (the fallback best).
    metrics : tuple of callable, default=None
        ``(score, loss)``, each ``f(Y_val, prediction, sample_weight)``; ``None`` means
        R^2 and the mean squared error (regression).

    Attributes
    ----------
    scores : list of float
        Validation R^2 after each step.
    losses : list of float
        Validation mean squared error after each step.
    best_score, best_W, stopped
        The best score, its weights, and whether patience ran out.
    """

    def __init__(self, predict, X_val, Y_val, sample_weight, tol, n_iter_no_change, W_start,
                 metrics=None):
        self.predict, self.X_val, self.Y_val = predict, X_val, Y_val
        self.metrics = (r2_score, mean_squared_error) if metrics is None else metrics
        self.sample_weight, self.tol, self.patience = sample_weight, tol, n_iter_no_change
        self.scores, self.losses = [], []
        self.best_score, _ = self._evaluate(W_start)
        self.best_W = np.array(W_start, copy=True)
        self._no_improvement, self.stopped = 0, False

    def _evaluate(self, W):
        pred = self.predict(W, self.X_val)
        score, loss = self.metrics
        return (score(self.Y_val, pred, sample_weight=self.sample_weight),
                loss(self.Y_val, pred, sample_weight=self.sample_weight))

    def update(self, record, W):
        """Record the score after a step; return True to stop.

        Parameters
        ----------
        record : StepRecord
            The step (a rejected step leaves ``W`` unchanged).
        W : ndarray
            Current weights.

        Returns
        -------
        stop : bool
        """
        if self.scores and not record.accepted:
            # A rejected step leaves W unchanged: same score, and no patience spent.
            self.scores.append(self.scores[-1])
            self.losses.append(self.losses[-1])
            record.validation_score = self.scores[-1]
            return self.stopped
        score, loss = self._evaluate(W)
        self.scores.append(float(score))
        self.losses.append(float(loss))
        record.validation_score = float(score)
        if score > self.best_score + self.tol:
            self._no_improvement = 0
        else:
            self._no_improvement += 1
        if score > self.best_score:
            self.best_score, self.best_W = float(score), np.array(W, copy=True)
        self.stopped = self._no_improvement >= self.patience
        return self.stopped


# Inside a step, row-block progress is reported once the step has run this long, and then
# at most this often (seconds).
PROGRESS_AFTER = 5.0
PROGRESS_EVERY = 5.0


class FitMonitor:
    """Compose the per-step reporters of one fit.

    Parameters
    ----------
    verbose : int, default=0
        0 silent; 1 one line per step; 2 adds the inner solver's detail.
    progress : object, default=None
        A tqdm-like bar (``update``, ``set_postfix``, ``close``).
    early_stopping : EarlyStopping, default=None
        Validation scoring and stopping.
    callback_context : object
        The fit's callback context (scikit-learn's ``CallbackContext``, or a no-op one).
    callback_kwargs : dict, default=None
        ``estimator``, ``X``, ``y``, ``metadata`` for the callback hooks.
    reconstruct : callable, default=None
        ``reconstruct(W)`` returns the fitted attributes of an estimator stopped there.
    step_offset : int, default=0
        Steps of earlier (warm-started) fits, for the printed step numbers.
    print_fn : callable, default=print
        Where the verbose lines go.
    n_rows : int, default=None
        Rows of one pass over the data, for the progress inside a step.
    """

    def __init__(self, *, callback_context, verbose=0, progress=None, early_stopping=None,
                 callback_kwargs=None, reconstruct=None, step_offset=0, print_fn=print,
                 n_rows=None):
        self.verbose, self.progress, self.early_stopping = verbose, progress, early_stopping
        self.callback_context, self.callback_kwargs = callback_context, callback_kwargs or {}
        self.reconstruct, self.step_offset, self.print_fn = reconstruct, step_offset, print_fn
        self.n_rows = n_rows
        self._task = None
        self._step, self._rows, self._started, self._reported = 0, 0, 0.0, 0.0
        self._lock = threading.Lock()

    @property
    def reports_rows(self):
        """Whether :meth:`rows_done` shows anything (verbose or a progress bar)."""
        return bool(self.verbose or self.progress is not None) and bool(self.n_rows)

    def rows_done(self, n_rows):
        """Count rows processed by a row-block product of the current step.

        Once the step has run ``PROGRESS_AFTER`` seconds, reports at most every
        ``PROGRESS_EVERY`` seconds the passes over the rows made so far (a Jacobian
        product or forward pass is one pass). Thread-safe: the row blocks may run in
        joblib threads.

        Parameters
        ----------
        n_rows : int
            Rows just processed.
        """
        with self._lock:
            if not self._step:
                return  # the initial objective, before the first step
            self._rows += n_rows
            now = time.perf_counter()
            elapsed = now - self._started
            if elapsed < PROGRESS_AFTER or now - self._reported < PROGRESS_EVERY:
                return
            self._reported = now
            passes = self._rows / self.n_rows
        if self.verbose:
            self.print_fn(f"[skgn] step {self._step + self.step_offset:3d}  ... "
                          f"{passes:.1f} passes over the {self.n_rows} rows in {elapsed:.0f}s")
        if self.progress is not None:
            self.progress.set_postfix(passes=f"{passes:.0f}", refresh=True)

    def step_begin(self, step, W):
        """Open the callback subtask of a step.

        Parameters
        ----------
        step : int
            Step number within this fit (from 1).
        W : ndarray
            Weights before the step.
        """
        with self._lock:
            self._step, self._rows = step, 0
            self._started = self._reported = time.perf_counter()
        self._task = self.callback_context.subcontext(task_name="gauss-newton step")
        self._task.call_on_fit_task_begin(
            **self.callback_kwargs, reconstruction_attributes=lambda: self.reconstruct(W)
        )

    def step_end(self, record, W):
        """Report a finished step; return True to stop the fit.

        Parameters
        ----------
        record : StepRecord
            The step.
        W : ndarray
            Weights after the step.

        Returns
        -------
        stop : bool
        """
        stop = False
        if self.early_stopping is not None:
            stop = self.early_stopping.update(record, W)
        if self.verbose:
            self.print_fn(self._line(record))
        if self.progress is not None:
            self.progress.update(1)
            self.progress.set_postfix(loss=f"{record.loss:.4g}", refresh=False)
        stop |= bool(self._task.call_on_fit_task_end(
            **self.callback_kwargs, reconstruction_attributes=lambda: self.reconstruct(W)
        ))
        return stop

    def _line(self, record):
        line = (
            f"[skgn] step {record.step + self.step_offset:3d}  loss {record.loss:.6e}  "
            f"damping {record.damping:.2e}  "
            f"{'accepted' if record.accepted else 'rejected'}  solver {record.solver}  "
            f"inner {record.inner_iterations}  {record.seconds:.3f}s"
        )
        if self.early_stopping is not None and self.early_stopping.scores:
            line += f"  val_r2 {self.early_stopping.scores[-1]:.5f}"
        if self.verbose >= 2:
            line += (
                f"\n        preconditioner {record.preconditioner}"
                f"{' (fitted)' if record.preconditioner_fitted else ''}  "
                f"inner residual {record.inner_residual:.2e}  "
                f"inner tol {record.inner_tol:.1e}  trial loss {record.trial_loss:.6e}"
            )
        return line

    def close(self):
        """Close the progress bar."""
        if self.progress is not None:
            self.progress.close()


class FirstStepProbe:
    """A monitor that, after the first accepted step, asks whether to start over.

    Every step is reported to ``monitor`` as it happens; after the first accepted one,
    ``probe(W)`` runs once on its weights, and a true return value stops the fit (the
    caller then starts a new one).

    Parameters
    ----------
    monitor : FitMonitor
        The fit's monitor.
    probe : callable
        ``probe(W) -> bool``.
    """

    def __init__(self, monitor, probe):
        self.monitor, self.probe = monitor, probe
        self.probed = self.stopped = False

    @property
    def early_stopping(self):
        """The wrapped monitor's early stopping."""
        return self.monitor.early_stopping

    @property
    def reports_rows(self):
        """Whether the wrapped monitor shows the progress inside a step."""
        return self.monitor.reports_rows

    def rows_done(self, n_rows):
        """Forward the rows of a product (:meth:`FitMonitor.rows_done`)."""
        self.monitor.rows_done(n_rows)

    def step_begin(self, step, W):
        """Forward :meth:`FitMonitor.step_begin`."""
        self.monitor.step_begin(step, W)

    def step_end(self, record, W):
        """Forward :meth:`FitMonitor.step_end`; probe after the first accepted step.

        Returns
        -------
        stop : bool
        """
        stop = self.monitor.step_end(record, W)
        if record.accepted and not self.probed and not stop:
            self.probed = True
            self.stopped = stop = bool(self.probe(W))
        return stop

    def close(self):
        """Close the wrapped monitor."""
        self.monitor.close()


def build_monitor(*, callback_context, callback_kwargs, reconstruct, predict, validation,
                  tol, n_iter_no_change, start_weights, max_iter, verbose, progress_bar,
                  step_offset, metrics=None, n_rows=None):
    """Assemble the monitor of one fit from the estimator's settings.

    Parameters
    ----------
    callback_context : object
        The fit's callback context.
    callback_kwargs : dict
        ``estimator``, ``X``, ``y``, ``metadata`` for the callback hooks.
    reconstruct : callable
        ``reconstruct(W)`` -> fitted attributes of a fit stopped at ``W``.
    predict : callable
        ``predict(W, X_tilde)`` in the units of ``y`` (for early stopping).
    validation : tuple or None
        ``(X_val_tilde, Y_val, sw_val)`` with early stopping, else ``None``.
    tol : float
        Improvement that resets the early-stopping patience.
    n_iter_no_change : int
        Early-stopping patience.
    start_weights : ndarray
        Weights before the first step.
    max_iter : int
        Length of the progress bar.
    verbose : int
        Verbosity.
    progress_bar : bool
        Whether to show a tqdm bar.
    step_offset : int
        Steps of earlier warm-started fits.
    metrics : tuple of callable, default=None
        Early stopping's ``(score, loss)`` (see :class:`EarlyStopping`).
    n_rows : int, default=None
        Rows of one pass over the training data (progress inside a step).

    Returns
    -------
    monitor : FitMonitor
        The monitor; ``monitor.early_stopping`` is ``None`` without early stopping.
    """
    early = None
    if validation is not None:
        X_val, Y_val, sw_val = validation
        early = EarlyStopping(predict, X_val, Y_val, sw_val, tol, n_iter_no_change,
                              start_weights, metrics=metrics)
    progress = None
    if progress_bar:
        try:
            from tqdm.auto import tqdm
        except ImportError as exc:
            raise ImportError(
                "progress_bar=True needs tqdm: pip install 'skgn[progress]'."
            ) from exc
        progress = tqdm(total=max_iter, desc="Gauss-Newton", unit="step")
    return FitMonitor(callback_context=callback_context, verbose=verbose, progress=progress,
                      early_stopping=early, callback_kwargs=callback_kwargs,
                      reconstruct=reconstruct, step_offset=step_offset, n_rows=n_rows)
