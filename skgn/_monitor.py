"""Per-step reporting and stopping of one fit: verbose lines, a progress bar, early
stopping on a validation split, and scikit-learn's callback hooks.

The Gauss-Newton loop calls ``step_begin(step, W)`` and ``step_end(entry, W)``; it
knows nothing of what the monitor does.
"""

import numpy as np
from sklearn.metrics import mean_squared_error, r2_score


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

    Attributes
    ----------
    scores : list of float
        Validation R^2 after each step.
    losses : list of float
        Validation mean squared error after each step.
    best_score, best_W, stopped
        The best score, its weights, and whether patience ran out.
    """

    def __init__(self, predict, X_val, Y_val, sample_weight, tol, n_iter_no_change, W_start):
        self.predict, self.X_val, self.Y_val = predict, X_val, Y_val
        self.sample_weight, self.tol, self.patience = sample_weight, tol, n_iter_no_change
        self.scores, self.losses = [], []
        self.best_score, _ = self._evaluate(W_start)
        self.best_W = np.array(W_start, copy=True)
        self._no_improvement, self.stopped = 0, False

    def _evaluate(self, W):
        pred = self.predict(W, self.X_val)
        return (
            r2_score(self.Y_val, pred, sample_weight=self.sample_weight),
            mean_squared_error(self.Y_val, pred, sample_weight=self.sample_weight),
        )

    def update(self, entry, W):
        """Record the score after a step; return True to stop.

        Parameters
        ----------
        entry : dict
            The step's history entry (a rejected step leaves ``W`` unchanged).
        W : ndarray
            Current weights.

        Returns
        -------
        stop : bool
        """
        if self.scores and not entry["accepted"]:
            # A rejected step leaves W unchanged: same score, and no patience spent.
            self.scores.append(self.scores[-1])
            self.losses.append(self.losses[-1])
            entry["validation_score"] = self.scores[-1]
            return self.stopped
        score, loss = self._evaluate(W)
        self.scores.append(float(score))
        self.losses.append(float(loss))
        entry["validation_score"] = float(score)
        if score > self.best_score + self.tol:
            self._no_improvement = 0
        else:
            self._no_improvement += 1
        if score > self.best_score:
            self.best_score, self.best_W = float(score), np.array(W, copy=True)
        self.stopped = self._no_improvement >= self.patience
        return self.stopped


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
    callback_context : object, default=None
        scikit-learn's ``CallbackContext`` of the fit (1.9+).
    callback_kwargs : dict, default=None
        ``estimator``, ``X``, ``y``, ``metadata`` for the callback hooks.
    reconstruct : callable, default=None
        ``reconstruct(W)`` returns the fitted attributes of an estimator stopped there.
    step_offset : int, default=0
        Steps of earlier (warm-started) fits, for the printed step numbers.
    print_fn : callable, default=print
        Where the verbose lines go.
    """

    def __init__(self, *, verbose=0, progress=None, early_stopping=None,
                 callback_context=None, callback_kwargs=None, reconstruct=None,
                 step_offset=0, print_fn=print):
        self.verbose, self.progress, self.early_stopping = verbose, progress, early_stopping
        self.callback_context, self.callback_kwargs = callback_context, callback_kwargs or {}
        self.reconstruct, self.step_offset, self.print_fn = reconstruct, step_offset, print_fn
        self._task = None

    def step_begin(self, step, W):
        """Open the callback subtask of a step.

        Parameters
        ----------
        step : int
            Step number within this fit (from 1).
        W : ndarray
            Weights before the step.
        """
        if self.callback_context is not None:
            self._task = self.callback_context.subcontext(task_name="gauss-newton step")
            self._task.call_on_fit_task_begin(
                **self.callback_kwargs, reconstruction_attributes=lambda: self.reconstruct(W)
            )

    def step_end(self, entry, W):
        """Report a finished step; return True to stop the fit.

        Parameters
        ----------
        entry : dict
            The step's history entry.
        W : ndarray
            Weights after the step.

        Returns
        -------
        stop : bool
        """
        stop = False
        if self.early_stopping is not None:
            stop = self.early_stopping.update(entry, W)
        if self.verbose:
            self.print_fn(self._line(entry))
        if self.progress is not None:
            self.progress.update(1)
            self.progress.set_postfix(loss=f"{entry['loss']:.4g}", refresh=False)
        if self._task is not None:
            stop |= bool(self._task.call_on_fit_task_end(
                **self.callback_kwargs, reconstruction_attributes=lambda: self.reconstruct(W)
            ))
            self._task = None
        return stop

    def _line(self, e):
        line = (
            f"[skgn] step {e['step'] + self.step_offset:3d}  loss {e['loss']:.6e}  "
            f"damping {e['damping']:.2e}  {'accepted' if e['accepted'] else 'rejected'}  "
            f"solver {e['solver']}  inner {e['inner_iterations']}  {e['seconds']:.3f}s"
        )
        if self.early_stopping is not None and self.early_stopping.scores:
            line += f"  val_r2 {self.early_stopping.scores[-1]:.5f}"
        if self.verbose >= 2:
            line += (
                f"\n        preconditioner {e['preconditioner']}"
                f"{' (fitted)' if e['preconditioner_fitted'] else ''}  "
                f"inner residual {e['inner_residual']:.2e}  inner tol {e['inner_tol']:.1e}  "
                f"trial loss {e['trial_loss']:.6e}"
            )
        return line

    def close(self):
        """Close the progress bar."""
        if self.progress is not None:
            self.progress.close()
