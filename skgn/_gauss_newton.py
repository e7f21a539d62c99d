"""Levenberg-Marquardt damped Gauss-Newton in sample space.

Objective (``s`` sample weights, ``W0`` the initial weights)::

    L(W) = 1/2 sum_i s_i ||f(x_i) - y_i||^2 + alpha/2 ||W - W0||^2

With the weighted Jacobian ``J_s = diag(sqrt(s)) J``, weighted residual ``r_s``,
``u = vec(W - W0)``, damping ``mu`` and ``lam = alpha + mu``, the step solves

    (J_s^T J_s + lam I) delta = -(J_s^T r_s + alpha u)

and by the Woodbury identity, with ``c = alpha / lam``,

    delta = -c u - J_s^T (J_s J_s^T + lam I)^{-1} (r_s - c J_s u),

so only an n x n system is solved (``n`` times the number of outputs).
"""

import time
from dataclasses import dataclass, field

import numpy as np

from ._solvers import SOLVERS

# Initial damping relative to the mean diagonal of J_s J_s^T (Nielsen's tau).
_INITIAL_DAMPING = 1e-3
# Inner tolerance of the first step and the tightest inner tolerance (inexact Newton).
_INNER_RTOL_MAX = 1e-1
_INNER_RTOL_MIN = 1e-10


@dataclass
class GNResult:
    """Outcome of :func:`gauss_newton`.

    Parameters
    ----------
    params : ndarray of shape (n_neurons, n_inputs)
        Final weights.
    loss : float
        Objective at ``params``.
    n_iter : int
        Gauss-Newton steps attempted (accepted or rejected).
    loss_curve : list of float
        Objective after each accepted step.
    history : list of dict
        One dict per attempted step (see :func:`gauss_newton`).
    converged : bool
        Whether a stopping criterion other than ``max_iter`` was met.
    message : str
        Why the iteration stopped.
    state : dict
        Levenberg-Marquardt state (``mu``, ``nu``, ``inner_rtol``) at the end; passing
        it back to :func:`gauss_newton` continues the iteration exactly.
    """

    params: np.ndarray
    loss: float
    n_iter: int
    loss_curve: list = field(default_factory=list)
    history: list = field(default_factory=list)
    converged: bool = False
    message: str = ""
    state: dict = field(default_factory=dict)


def objective(residuals, sample_weight, U, alpha):
    """The regularized weighted least-squares objective.

    Parameters
    ----------
    residuals : ndarray of shape (n_samples, n_outputs)
        ``f(x_i) - y_i``.
    sample_weight : ndarray of shape (n_samples,) or None
    U : ndarray
        ``W - W0``.
    alpha : float

    Returns
    -------
    value : float
        ``1/2 sum_i s_i ||r_i||^2 + alpha/2 ||U||^2``.
    """
    sq = np.einsum("ij,ij->i", residuals, residuals)
    data = sq.sum() if sample_weight is None else sample_weight @ sq
    return float(0.5 * data + 0.5 * alpha * np.vdot(U, U))


def _flat_output_major(A):
    """Flatten an (n, k) array output-major (index ``j * n + i``)."""
    return np.ascontiguousarray(A.T).ravel()


def gauss_newton_step(J, r, u, alpha, mu, solve, *, rtol=1e-6, maxiter=None,
                      preconditioner=None):
    """One damped Gauss-Newton step, solved in sample space.

    Solves ``(J^T J + (alpha + mu) I) delta = -(J^T r + alpha u)`` through the Woodbury
    identity, with ``lam = alpha + mu`` and ``c = alpha / lam``::

        g     = (J J^T + lam I)^{-1} (r - c J u)
        delta = -c u - J^T g

    Parameters
    ----------
    J : LinearOperator of shape (n, P)
        Weighted Jacobian ``diag(sqrt(s)) J``.
    r : ndarray of shape (n,)
        Weighted residual ``sqrt(s) (f - y)``.
    u : ndarray of shape (P,)
        ``vec(W - W0)``.
    alpha : float
        Ridge strength.
    mu : float
        Levenberg-Marquardt damping; ``alpha + mu`` must be positive.
    solve : callable
        ``solve(J, b, lam, rtol=..., maxiter=...) -> SolverResult``.
    rtol : float, default=1e-6
        Inner tolerance (for iterative solvers).
    maxiter : int, default=None
        Inner iteration cap (for iterative solvers).
    preconditioner : fitted preconditioner, default=None
        Passed to iterative solvers.

    Returns
    -------
    delta : ndarray of shape (P,)
        The step.
    inner : SolverResult
        The inner solve of ``g``.
    """
    lam = alpha + mu
    c = alpha / lam
    # b = r - c J u
    b = r - c * J.matvec(u) if c > 0 else r
    inner = solve(J, b, lam, rtol=rtol, maxiter=maxiter, preconditioner=preconditioner)
    jtg = inner.jtx if inner.jtx is not None else J.rmatvec(inner.x)
    return -c * u - jtg, inner


def gauss_newton(
    network,
    W,
    W0,
    X_tilde,
    Y,
    *,
    sample_weight=None,
    alpha=1.0,
    solver="cholesky",
    preconditioner=None,
    max_iter=100,
    tol=1e-6,
    inner_max_iter=None,
    state=None,
    monitor=None,
):
    """Fit ``W`` by Levenberg-Marquardt damped Gauss-Newton steps.

    Parameters
    ----------
    network : TwoLayerReLU
        Provides ``predict(W, X)`` and ``jacobian(W, X, row_weights)``.
    W : ndarray of shape (n_neurons, n_inputs)
        Starting weights (not modified).
    W0 : ndarray of shape (n_neurons, n_inputs)
        Anchor of the ridge term.
    X_tilde : ndarray of shape (n_samples, n_inputs)
        Inputs with the bias column appended.
    Y : ndarray of shape (n_samples, n_outputs)
        Targets.
    sample_weight : ndarray of shape (n_samples,), default=None
        Non-negative weights ``s_i``.
    alpha : float, default=1.0
        Ridge strength toward ``W0``.
    solver : {'cholesky', 'cg', 'lsqr'}, default='cholesky'
        Inner solver of ``(J J^T + lam I) g = b``.
    preconditioner : callable, default=None
        Factory returning an unfitted preconditioner (``fit(J, lam)``, ``apply``,
        ``apply_t``) for the iterative solvers; ``None`` means none. A fitted
        preconditioner is reused across steps until an inner solve needs more than
        ``1.5 x + 5`` iterations, ``x`` those of the first solve after the last fit.
    max_iter : int, default=100
        Maximum number of attempted steps.
    tol : float, default=1e-6
        Stop when both the actual and the predicted decrease of a step are at most
        ``tol`` times the objective. The loop also stops when the objective falls to
        machine epsilon times its starting value.
    inner_max_iter : int, default=None
        Iteration cap of an iterative inner solver.
    state : dict, default=None
        ``GNResult.state`` of an earlier call, to continue it (warm start).
    monitor : object, default=None
        Receives ``step_begin(step, W)`` before each step and ``step_end(entry, W)``
        after it (``entry`` is the step's history dict, ``W`` the current weights); a
        true return value of ``step_end`` stops the iteration (early stopping,
        callbacks).

    Returns
    -------
    result : GNResult
        ``history`` has one dict per attempted step with keys ``step``, ``loss``
        (objective after the step is accepted or rejected), ``trial_loss``,
        ``accepted``, ``damping`` (the ``mu`` used), ``solver``, ``preconditioner``,
        ``preconditioner_fitted`` (whether it was fitted at this step rather than
        reused), ``inner_iterations``, ``inner_residual``, ``inner_tol`` and
        ``seconds``.
    """
    solve = SOLVERS[solver]
    W = np.array(W, dtype=np.float64, copy=True)
    row_weights = None if sample_weight is None else np.sqrt(sample_weight)
    weight_sum = float(Y.shape[0] if sample_weight is None else sample_weight.sum())

    residuals = network.predict(W, X_tilde) - Y
    loss = objective(residuals, sample_weight, W - W0, alpha)
    loss_start = loss
    eps = np.finfo(np.float64).eps

    history, loss_curve = [], []
    state = state or {}
    mu = state.get("mu")
    nu = state.get("nu", 2.0)
    inner_rtol = state.get("inner_rtol", _INNER_RTOL_MAX)
    J = None
    precond, precond_iters, refresh = None, None, True
    if solver == "cholesky":
        preconditioner = None
    converged, message = False, "max_iter reached"

    step = 0
    while not converged and step < max_iter:
        step += 1
        if monitor is not None:
            monitor.step_begin(step, W)
        t_start = time.perf_counter()
        if J is None:
            J = network.jacobian(W, X_tilde, row_weights=row_weights)
        if mu is None:
            # mu_0 = tau * trace(J_s J_s^T) / (k * sum(s)): invariant to repeating rows.
            mean_diag = J.squared_row_norms().sum() / (Y.shape[1] * weight_sum)
            mu = _INITIAL_DAMPING * max(mean_diag, eps)
        u = (W - W0).ravel()
        r_s = _flat_output_major(
            residuals if row_weights is None else residuals * row_weights[:, None]
        )
        fitted_now = False
        try:
            if preconditioner is not None and refresh:
                precond = preconditioner().fit(J, alpha + mu)
                precond_iters, refresh, fitted_now = None, False, True
            delta, inner = gauss_newton_step(
                J, r_s, u, alpha, mu, solve, rtol=inner_rtol, maxiter=inner_max_iter,
                preconditioner=precond,
            )
        except np.linalg.LinAlgError:
            inner = None
        if precond is not None and inner is not None:
            if precond_iters is None:
                precond_iters = inner.n_iter
            # Refit when the reused preconditioner has clearly degraded.
            refresh = inner.n_iter > 1.5 * precond_iters + 5
        if inner is None:
            accepted, trial_loss = False, np.inf
            predicted, actual = np.inf, -np.inf
        else:
            # Linear model of the objective at W + delta (without the damping term).
            lin_res = r_s + J.matvec(delta)
            model = 0.5 * lin_res @ lin_res + 0.5 * alpha * np.sum((u + delta) ** 2)
            predicted = loss - model
            W_trial = W + delta.reshape(W.shape)
            res_trial = network.predict(W_trial, X_tilde) - Y
            trial_loss = objective(res_trial, sample_weight, W_trial - W0, alpha)
            actual = loss - trial_loss
            accepted = bool(np.isfinite(trial_loss) and actual > 0)

        mu_used = mu
        if accepted:
            rho = actual / predicted if predicted > 0 else 0.0
            # Nielsen: mu <- mu * max(1/3, 1 - (2 rho - 1)^3)
            mu *= max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
            nu = 2.0
            loss_before = loss
            W, residuals, loss = W_trial, res_trial, trial_loss
            J = None
            loss_curve.append(loss)
            # Inexact Newton: the inner tolerance follows the relative decrease.
            inner_rtol = float(
                np.clip(np.sqrt(actual / loss_before), _INNER_RTOL_MIN, _INNER_RTOL_MAX)
            )
        else:
            mu *= nu
            nu *= 2.0

        history.append(
            {
                "step": step,
                "loss": loss,
                "trial_loss": float(trial_loss),
                "accepted": accepted,
                "damping": float(mu_used),
                "solver": solver,
                "preconditioner": "none" if inner is None else inner.preconditioner,
                "preconditioner_fitted": fitted_now,
                "inner_iterations": 0 if inner is None else inner.n_iter,
                "inner_residual": np.nan if inner is None else inner.residual_norm,
                "inner_tol": np.nan if solver == "cholesky" else inner_rtol,
                "seconds": time.perf_counter() - t_start,
            }
        )
        if monitor is not None and monitor.step_end(history[-1], W):
            message = "stopped by the monitor"
            break

        small = tol * loss_start if loss == 0 else tol * loss
        if loss <= eps * loss_start:
            converged, message = True, "objective below machine precision"
        elif inner is not None and predicted <= small and abs(actual) <= small:
            converged, message = True, "relative decrease below tol"
        elif not np.isfinite(mu):
            message = "damping overflowed"
            break

    return GNResult(
        params=W,
        loss=loss,
        n_iter=step,
        loss_curve=loss_curve,
        history=history,
        converged=converged,
        message=message,
        state={"mu": mu, "nu": nu, "inner_rtol": inner_rtol},
    )
