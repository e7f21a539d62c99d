"""Levenberg-Marquardt damped Gauss-Newton in sample space.

Objective (``s`` sample weights, ``W0`` the initial weights, ``l`` the loss)::

    L(W) = sum_i s_i l(f(x_i), y_i) + alpha/2 ||W - W0||^2

With the weighted Jacobian ``J_s = diag(sqrt(s)) J``, weighted residual ``r_s``,
``u = vec(W - W0)``, damping ``mu`` and ``lam = alpha + mu``, the step solves

    (J_s^T J_s + lam I) delta = -(J_s^T r_s + alpha u)

and by the Woodbury identity, with ``c = alpha / lam``,

    delta = -c u - J_s^T (J_s J_s^T + lam I)^{-1} (r_s - c J_s u),

so only an n x n system is solved (``n`` times the number of outputs). With
``curvature_rows`` the curvature comes from a sample of rows instead and the step's system
is solved in parameter space (see :func:`gauss_newton_step`). The loop is
assembled from named pieces: :class:`NielsenDamping` (the damping rule),
:class:`PreconditionerCache` (fit once, reuse until it degrades), :func:`inner_tolerance`
(inexact Newton) and :class:`StepRecord` (one row of the history).
"""

import copy
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ._losses import SquaredLoss
from ._operators import MixedRowsJacobian, SampledRowsJacobian
from ._preconditioners import NO_PRECONDITIONER
from ._solvers import solver_name

# Initial damping relative to the mean diagonal of J_s J_s^T (Nielsen's tau).
_INITIAL_DAMPING = 1e-3
# Inner tolerance of the first step and the loosest one (inexact Newton). At 0.1 the
# default fits' test R^2 strayed from the exact (Cholesky) steps' by up to 0.007 on the
# e2e sets (teacher 0.9704 against 0.9760); at 0.03 by at most 0.004.
INNER_RTOL_MAX = 3e-2
_INNER_RTOL_MIN = 1e-10
_EPS = np.finfo(np.float64).eps
# A new fit whose first Gauss-Newton model decreases the objective by at most this
# fraction is at a stationary point (the model's rounding is about eps times the
# objective; any real first step promises orders of magnitude more).
_STATIONARY_START = 1e-10
# Step lengths tried along a Gauss-Newton direction before the step is rejected.
_STEP_LENGTHS = (1.0, 0.5, 0.25)
# A later inner solve stops after this many times the first solve's iterations, or a
# cut-short solve's pace (see gauss_newton's inner_max_iter and _revised_reference).
_LATER_SOLVE_BUDGET = 2.0
# A step that would end the fit is checked by continuing its inner solve for at most
# this many iterations, toward this fraction of its tolerance: the model decrease the
# extra iterations add bounds from below what the loose iterate left (the delayed
# error estimate of CG, Strakos and Tichy 2002), at a small, fixed cost.
_VERIFY_ITERATIONS = 5
_VERIFY_RTOL_FACTOR = 0.1


@dataclass
class _Trial:
    """A trial point along a Gauss-Newton direction, after backtracking."""

    accepted: bool
    step_length: float
    predicted: float
    actual: float
    objective: float
    W: object
    terms: object


@dataclass
class NielsenDamping:
    """Levenberg-Marquardt damping by Nielsen's rule (Madsen, Nielsen and Tingleff 2004).

    Parameters
    ----------
    mu : float or None
        Current damping; ``None`` until :meth:`start` sets
        ``mu_0 = tau * trace(J_s J_s^T) / (k sum(s))`` (invariant to repeating rows).
    nu : float
        Growth factor after a rejected step.
    """

    mu: float = None
    nu: float = 2.0

    def start(self, J, n_outputs, weight_sum):
        """Set the initial damping from the Jacobian's mean squared row norm (once)."""
        if self.mu is None:
            mean_diag = J.squared_row_norms().sum() / (n_outputs * weight_sum)
            self.mu = _INITIAL_DAMPING * max(mean_diag, _EPS)

    def accept(self, gain_ratio):
        """After an accepted step: ``mu <- mu * max(1/3, 1 - (2 rho - 1)^3)``."""
        self.mu *= max(1.0 / 3.0, 1.0 - (2.0 * gain_ratio - 1.0) ** 3)
        self.nu = 2.0

    def shrink(self, step_length, alpha=0.0):
        """After a step accepted at ``step_length < 1``: ``lam <- lam / step_length``.

        The damped step is about ``1 / lam`` long where ``lam`` dominates, so the next
        one is about as long as the step that was accepted.
        """
        self.mu = (alpha + self.mu) / step_length - alpha

    def reject(self, alpha=0.0):
        """After a rejected step: grow the shift ``lam = alpha + mu`` by ``nu``, double ``nu``.

        ``mu <- nu (alpha + mu) - alpha``; with ``alpha = 0`` this is Nielsen's
        ``mu <- nu mu``. Growing ``mu`` alone would barely shorten the step while
        ``mu << alpha``, so rejections would repeat until ``mu`` caught up with ``alpha``.
        """
        with np.errstate(over="ignore"):
            # Overflow to inf ends the loop ("damping overflowed").
            self.mu = self.nu * (alpha + self.mu) - alpha
            self.nu *= 2.0


def inner_tolerance(actual, loss_before):
    """Inexact Newton: the inner tolerance follows the relative decrease of the objective.

    Parameters
    ----------
    actual : float
        Decrease of the objective in the accepted step.
    loss_before : float
        Objective before that step.

    Returns
    -------
    rtol : float
        ``sqrt(actual / loss_before)`` clipped to ``[1e-10, 3e-2]``.
    """
    return float(np.clip(np.sqrt(actual / loss_before), _INNER_RTOL_MIN, INNER_RTOL_MAX))


def _revised_reference(reference, n_iter, residual):
    """The later solves' reference after a solve that their cap cut short.

    A first solve whose right-hand side lies in the preconditioner's head converges in
    a few iterations, and the damping decays after it: the later solves, chasing the
    tail, can need several times its iterations. A cap from the first solve alone then
    cuts every one of them short.

    Parameters
    ----------
    reference : float
        Iterations of a solve to ``INNER_RTOL_MAX``, the unit of the cap.
    n_iter : int
        Iterations the cut-short solve spent.
    residual : float
        Relative residual it reached.

    Returns
    -------
    reference : float
        ``n_iter ln(INNER_RTOL_MAX) / ln(residual) / _LATER_SOLVE_BUDGET``, the solve's
        pace (CG's residual falls about geometrically), so that the next cap covers a
        solve like it; clipped to ``[reference, _LATER_SOLVE_BUDGET * reference]``: at
        most doubling, since one residual (not monotone in CG) is a noisy pace, and
        doubled when the solve made no progress (``residual >= 1``).
    """
    # Iterations to INNER_RTOL_MAX at this solve's pace; without progress, no bound.
    pace = (n_iter * np.log(INNER_RTOL_MAX) / np.log(residual) if residual < 1.0
            else np.inf)
    return float(np.clip(pace / _LATER_SOLVE_BUDGET, reference,
                         _LATER_SOLVE_BUDGET * reference))


@dataclass
class LMState:
    """What a later call needs to continue an iteration exactly (warm start).

    Parameters
    ----------
    damping : NielsenDamping
        Damping rule and its state.
    inner_rtol : float
        Inner tolerance of the next step.
    first_objective : float or None
        Objective before the first step (the reference of the stopping rule).
    first_iterations : float or None
        Iterations of the first inner solve, at the inner tolerance ``INNER_RTOL_MAX``
        (the reference of the later solves' cap), raised by every solve that the cap cut
        short (:func:`_revised_reference`).
    """

    damping: NielsenDamping = field(default_factory=NielsenDamping)
    inner_rtol: float = INNER_RTOL_MAX
    first_objective: float = None
    first_iterations: float = None


class PreconditionerCache:
    """Fit a preconditioner once and reuse it across steps until it degrades.

    The preconditioner is refitted (in place) when an inner solve needs more than
    ``1.5 x + 5`` iterations, ``x`` those of the first solve :meth:`record` saw after the
    last fit (the loop does not record a parameter-space fit's first). With a
    ``refit_iterations`` budget, a solve on a reused preconditioner is also cut short
    once it has spent ``x + refit_iterations`` iterations, the iterations one refit
    costs (a ski-rental rule: a stale preconditioner never wastes more than a refit
    would have cost); the caller then refits and continues from the iterate. After
    that the Jacobian is known to drift faster than reuse pays for, and the
    preconditioner is refitted at every step.

    Parameters
    ----------
    preconditioner : Preconditioner
        The (unfitted) preconditioner.
    refit_iterations : int, default=None
        Inner iterations that cost as much as one fit of the preconditioner (the cost
        model's ratio); ``None`` never cuts a solve short.
    refit_on_growth : bool, default=True
        Whether ``1.5 x + 5`` iterations mark the preconditioner stale. ``False`` leaves
        refits to the budget alone (a preconditioner that costs hundreds of iterations
        to fit and a few to use).
    max_landmarks : int, default=None
        Landmarks :meth:`grow` may double a Nystrom preconditioner's to, at most (the
        caller's memory budget); ``None`` never grows them.
    """

    def __init__(self, preconditioner, refit_iterations=None, refit_on_growth=True,
                 max_landmarks=None):
        self.preconditioner = preconditioner
        self.refit_iterations = refit_iterations
        self.max_landmarks = max_landmarks
        self.refit_on_growth = refit_on_growth
        self._stale = True
        self._baseline = None
        self._refit_always = False

    def get(self, J, lam):
        """The preconditioner for ``J J^T + lam I``, and whether it was fitted now.

        Parameters
        ----------
        J : JacobianOperator
            The weighted Jacobian of this step.
        lam : float
            The shift ``alpha + mu``.

        Returns
        -------
        preconditioner : Preconditioner
            Fitted.
        fitted_now : bool
            Whether :meth:`Preconditioner.fit` ran in this call.
        """
        if not (self._stale or self._refit_always):
            return self.preconditioner, False
        self.preconditioner.fit(J, lam)
        self._stale, self._baseline = False, None
        return self.preconditioner, True

    def budget(self, maxiter):
        """The iteration cap of a solve on the preconditioner as :meth:`get` returned it.

        Parameters
        ----------
        maxiter : int or None
            The caller's cap.

        Returns
        -------
        cap : int or None
            ``min(maxiter, x + refit_iterations)`` on a reused preconditioner with a
            budget, else ``maxiter``.
        """
        if self.refit_iterations is None or self._baseline is None:
            return maxiter
        cap = self._baseline + self.refit_iterations
        return cap if maxiter is None else min(maxiter, cap)

    def refit(self, J, lam):
        """Refit now, and at every later step: a solve on the reused preconditioner ran
        out of its budget. Takes ``J`` and ``lam`` as :meth:`get` does and returns the
        fitted preconditioner."""
        self._stale = self._refit_always = True
        return self.get(J, lam)[0]

    def grow(self):
        """Double the preconditioner's landmarks (at most ``max_landmarks``), to be
        refitted by the next :meth:`get`.

        The preconditioner is copied first: the caller's object is not changed.

        Returns
        -------
        grown : bool
            ``False`` for a preconditioner without landmarks, without a limit
            (``max_landmarks=None``) or at it.
        """
        k = getattr(self.preconditioner, "n_landmarks", None)
        if k is None or self.max_landmarks is None or k >= self.max_landmarks:
            return False
        self.preconditioner = copy.copy(self.preconditioner)
        self.preconditioner.n_landmarks = min(2 * int(k), self.max_landmarks)
        self._stale = True
        return True

    def record(self, n_iter):
        """Record an inner solve's iterations; mark the preconditioner stale if degraded."""
        if self._baseline is None:
            self._baseline = n_iter
        self._stale = self.refit_on_growth and n_iter > 1.5 * self._baseline + 5


@dataclass
class StepRecord:
    """One attempted step; ``GNResult.history`` holds them as dicts.

    Parameters
    ----------
    step : int
        Step number within this call, from 1.
    loss : float
        Objective after the step is accepted or rejected.
    trial_loss : float
        Objective at the trial point (inf when the inner solve failed).
    accepted : bool
        Whether the step was taken.
    damping : float
        The Levenberg-Marquardt ``mu`` used.
    step_length : float
        Fraction of the Gauss-Newton step taken (1, or 1/2 or 1/4 after backtracking;
        the last one tried for a rejected step, NaN when the inner solve failed).
    solver, preconditioner : str
        Names of the inner solver and preconditioner.
    preconditioner_fitted : bool
        Whether the preconditioner was fitted at this step rather than reused.
    landmarks : int or None
        The Nystrom preconditioner's ``n_landmarks`` at this step (it draws at most
        its rows; ``None`` for the other preconditioners); it doubles when the later
        solves outrun it.
    inner_iterations : int
        Iterations of the inner solve (0 for the direct solver).
    inner_residual : float
        Its relative residual (NaN when it failed).
    inner_tol : float
        Tolerance of the next inner solve (NaN for the direct solver).
    seconds : float
        Wall-clock time of the step.
    validation_score : float or None
        Set by early stopping; left out of the dict when ``None``.
    network : dict
        The network's :meth:`~skgn._network.Network.diagnostics` for the step (for
        example the fired-neuron index's rebuilds), merged into the dict.
    """

    step: int
    loss: float
    trial_loss: float
    accepted: bool
    damping: float
    step_length: float
    solver: str
    preconditioner: str
    preconditioner_fitted: bool
    landmarks: int
    inner_iterations: int
    inner_residual: float
    inner_tol: float
    seconds: float
    validation_score: float = None
    network: dict = field(default_factory=dict)

    def as_dict(self):
        """The record as a dict (without ``validation_score`` when it is unset)."""
        entry = asdict(self)
        if entry["validation_score"] is None:
            del entry["validation_score"]
        entry.update(entry.pop("network"))
        return entry


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
        One :class:`StepRecord` per attempted step, as a dict.
    converged : bool
        Whether a stopping criterion other than ``max_iter`` was met.
    message : str
        Why the iteration stopped.
    state : LMState
        Damping and inner tolerance at the end; passing it back to :func:`gauss_newton`
        continues the iteration exactly.
    """

    params: np.ndarray
    loss: float
    n_iter: int
    loss_curve: list = field(default_factory=list)
    history: list = field(default_factory=list)
    converged: bool = False
    message: str = ""
    state: LMState = field(default_factory=LMState)


def _take_rows(X_tilde, rows):
    """Rows ``rows`` of the network inputs (an array, or dask rows that stay on the workers)."""
    return X_tilde.subset(rows) if hasattr(X_tilde, "subset") else X_tilde[rows]


def _squared_norm(v, dense):
    """``||v||^2``: from a factored vector's own ``squared_norm``, else ``dense(v)``."""
    return v.squared_norm() if hasattr(v, "squared_norm") else dense(v)


def _flat_output_major(A):
    """Flatten an (n, k) array output-major (index ``j * n + i``)."""
    return np.ascontiguousarray(A.T).ravel()


def gauss_newton_step(J, r, u, alpha, mu, solve, *, rtol=1e-6, maxiter=None,
                      preconditioner=NO_PRECONDITIONER, x0=None, curvature=None):
    """One damped Gauss-Newton step, solved in sample space (in parameter space when the
    curvature is sub-sampled).

    Solves ``(J^T J + (alpha + mu) I) delta = -(J^T r + alpha u)`` through the Woodbury
    identity, with ``lam = alpha + mu`` and ``c = alpha / lam``::

        g     = (J J^T + lam I)^{-1} (r - c J u)
        delta = -c u - J^T g

    With a sub-sampled ``curvature`` Jacobian ``C`` (rows of ``J`` scaled so that
    ``C^T C`` estimates ``J^T J``) it solves ``(C^T C + lam I) delta = -grad`` for the
    full gradient ``grad = J^T r + alpha u`` (a sub-sampled Newton step) in parameter
    space: ``solve`` is then :func:`~skgn._solvers.solve_parameter_cg`. (The
    sample-space form ``delta = -(grad - C^T (C C^T + lam I)^{-1} C grad) / lam``
    divides the inner solve's error by ``lam``: at ``rtol = 0.03`` its first steps were
    all rejected.)

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
        ``solve(J, b, lam, rtol=..., maxiter=..., preconditioner=...) -> SolverResult``.
    rtol : float, default=1e-6
        Inner tolerance (for iterative solvers).
    maxiter : int, default=None
        Inner iteration cap (for iterative solvers).
    preconditioner : fitted Preconditioner, default=NO_PRECONDITIONER
        Passed to iterative solvers.
    x0 : ndarray or SolverResult, default=None
        Starting guess for ``g`` (for ``delta`` with ``curvature``), or the inner
        result of an earlier call on the same system, which an iterative solver
        continues from (its iterate and residual); passed to the solver only when
        given (a solve continued on a refitted preconditioner, or to verify a step).
    curvature : LinearOperator of shape (s, P), default=None
        The sub-sampled, rescaled Jacobian ``C`` whose ``C^T C`` stands for ``J^T J``;
        ``None`` means ``J`` itself.

    Returns
    -------
    delta : ndarray of shape (P,)
        The step.
    inner : SolverResult
        The inner solve of ``g``.
    """
    lam = alpha + mu
    extra = {} if x0 is None else {"x0": x0}
    if curvature is not None:
        grad = J.rmatvec(r) + alpha * u
        inner = solve(curvature, -grad, lam, rtol=rtol, maxiter=maxiter,
                      preconditioner=preconditioner, **extra)
        return inner.x, inner
    c = alpha / lam
    # b = r - c J u
    b = r - c * J.matvec(u) if c > 0 else r
    inner = solve(J, b, lam, rtol=rtol, maxiter=maxiter, preconditioner=preconditioner,
                  **extra)
    if inner.jtx is not None:
        jtg = inner.jtx
    elif "factored_adjoint" in J.capabilities:
        # Lazy weights: the step stays in factored form (the deep network's low rank).
        jtg = J.factored_rmatvec(inner.x)
    else:
        jtg = J.rmatvec(inner.x)
    return -c * u - jtg, inner


def gauss_newton(
    network,
    W,
    W0,
    X_tilde,
    Y,
    *,
    solve,
    preconditioner,
    loss=None,
    sample_weight=None,
    alpha=1.0,
    max_iter=100,
    tol=1e-6,
    inner_max_iter=None,
    refit_iterations=None,
    max_landmarks=None,
    curvature_rows=None,
    state=None,
    monitor=None,
):
    """Fit ``W`` by Levenberg-Marquardt damped Gauss-Newton steps.

    Each step linearizes the network (``network.jacobian``), solves the damped system
    in sample space (``solve`` with the cached ``preconditioner``), evaluates the trial
    point with the true objective, and accepts it if the objective fell. The damping
    follows :class:`NielsenDamping`; the inner tolerance :func:`inner_tolerance`.

    Parameters
    ----------
    network : Network
        Provides ``predict(W, X)``, ``jacobian(W, X, row_weights)`` and
        ``trainable(W, W0, n_samples)``.
    W : ndarray of shape (n_neurons, n_inputs)
        Starting weights (not modified).
    W0 : ndarray of shape (n_neurons, n_inputs)
        Anchor of the ridge term.
    X_tilde : ndarray of shape (n_samples, n_inputs)
        Inputs with the bias column appended.
    Y : ndarray of shape (n_samples, n_outputs)
        Targets.
    solve : callable
        Inner solver of ``(J J^T + lam I) g = b`` (one of ``SOLVERS``).
    preconditioner : Preconditioner
        Unfitted preconditioner for iterative solvers, fitted and reused by a
        :class:`PreconditionerCache`; a direct solver ignores it.
    loss : Loss, default=None
        The loss in the outputs; ``None`` means :class:`~skgn._losses.SquaredLoss`.
    sample_weight : ndarray of shape (n_samples,), default=None
        Non-negative weights ``s_i``.
    alpha : float, default=1.0
        Ridge strength toward ``W0``.
    max_iter : int, default=100
        Maximum number of attempted steps.
    tol : float, default=1e-6
        Stop when an accepted step decreased the objective by at most ``tol`` times the
        total decrease since the first step (the fit has reached ``1 - tol`` of its
        progress), or when both the actual and the predicted decrease of a step are at
        most ``tol`` times the objective (a stationary point). The loop also stops when
        the objective falls to machine epsilon times its starting value, and, converged,
        after the first attempt of a new fit whose model promises at most
        ``_STATIONARY_START = 1e-10`` times the objective (a stationary start: constant
        inputs, whose centered start already predicts the mean). A step that meets
        either ``tol`` rule is refined first: its iterative inner solve is continued from
        its iterate for at most ``_VERIFY_ITERATIONS = 5`` iterations (toward
        ``_VERIFY_RTOL_FACTOR = 0.1`` times its tolerance), the better of the two steps
        is kept, and the rules are applied to it.
    inner_max_iter : int, default=None
        Iteration cap of an iterative inner solve. Every solve after the first is also
        capped at ``_LATER_SOLVE_BUDGET = 2`` times the first solve's iterations, scaled
        by ``log(rtol) / log(INNER_RTOL_MAX)`` for a tighter tolerance (kept in the
        warm-start state), plus ``refit_iterations``: a later step costs at most about
        twice the first, its preconditioner fit included. The first solve, from a
        freshly fitted preconditioner, shows what a well-preconditioned step costs; a
        later one that needs more is chasing the residual left in the preconditioner's
        tail, where the model decrease per iteration is small, and its truncated iterate
        is still a descent step that the acceptance test checks (truncated Newton). A
        step whose solve was cut short does not count for the ``tol`` stopping rule, and
        raises the reference to its own pace (at most doubling it): the first solve
        can understate every later one (a right-hand side in the preconditioner's head,
        a damping that then decays), and a cap that cut them all short would leave the
        fit crawling on steps that never count. A cut at the doubling also doubles a
        Nystrom preconditioner's landmarks for the next step (on a copy, at most
        ``max_landmarks``; :meth:`PreconditionerCache.grow`): they were priced for a
        first step.
    refit_iterations : int, default=None
        Inner iterations worth one fit of the preconditioner: a solve on a reused
        preconditioner that needs more is stopped, the preconditioner refitted and the
        solve continued from its iterate (:class:`PreconditionerCache`).
    max_landmarks : int, default=None
        Landmarks a Nystrom preconditioner may grow to when later solves outrun it (see
        ``inner_max_iter``); the estimators pass the most their memory budget holds
        (:func:`~skgn._cost_model.landmark_limit`). ``None`` keeps its count.
    curvature_rows : ndarray of int, default=None
        Sorted rows the curvature ``J^T J`` is estimated from (sub-sampled Newton,
        Roosta-Khorasani and Mahoney 2019; Pilanci and Wainwright 2017): every step uses
        the gradient and the acceptance test of all rows but solves its damped system on
        these rows only, their Jacobian rescaled by ``sqrt(sum(s) / sum(s[rows]))``, so
        the inner system and the preconditioner are ``len(curvature_rows)`` wide.
        ``None`` uses every row (the exact Gauss-Newton step). With rows, ``solve`` and
        ``preconditioner`` work in parameter space
        (:func:`~skgn._solvers.solve_parameter_cg`,
        :class:`~skgn._preconditioners.ParameterNystromPreconditioner`) on a
        :class:`~skgn._operators.SampledRowsJacobian`, and ``X_tilde`` must support
        ``X_tilde[rows]`` or ``X_tilde.subset(rows)``.
    state : LMState, default=None
        ``GNResult.state`` of an earlier call, to continue it (warm start).
    monitor : object, default=None
        Receives ``step_begin(step, W)`` before each step and ``step_end(record, W)``
        after it (``record`` a :class:`StepRecord`, ``W`` the current weights); a true
        return value of ``step_end`` stops the iteration (early stopping, callbacks).

    Returns
    -------
    result : GNResult
        The weights, objective, history and state.
    """
    loss = SquaredLoss() if loss is None else loss
    # A copy, or the network's own representation (lazy low-rank deep weights).
    W = network.trainable(W, W0, Y.shape[0])
    row_weights = None if sample_weight is None else np.sqrt(sample_weight)
    weight_sum = float(Y.shape[0] if sample_weight is None else sample_weight.sum())
    state = LMState() if state is None else state
    # A copy: the caller's state (a fitted estimator's) is never changed.
    damping, inner_rtol = replace(state.damping), state.inner_rtol
    name = solver_name(solve)
    # The sub-sampled step's preconditioner is refitted only when a solve on it has
    # spent a refit's worth of iterations.
    cache = PreconditionerCache(preconditioner, refit_iterations,
                                refit_on_growth=curvature_rows is None,
                                max_landmarks=max_landmarks)

    def evaluate(W_at):
        terms = loss.evaluate(network.predict(W_at, X_tilde), Y, sample_weight)
        ridge = _squared_norm(W_at - W0, lambda U: np.vdot(U, U))
        return terms, float(terms.value + 0.5 * alpha * ridge)

    def linearize(W_at, curvature, X=X_tilde, weights=row_weights):
        """The (curvature-weighted) Jacobian at ``W_at``: ``L diag(sqrt(s)) J``."""
        if curvature is None:
            return network.jacobian(W_at, X, row_weights=weights)
        if curvature.ndim == 2 and curvature.shape[1] == 1:
            # One output: the factor is a row scaling, folded into the row weights.
            scale = curvature[:, 0] if weights is None else weights * curvature[:, 0]
            return network.jacobian(W_at, X, row_weights=scale)
        J_s = network.jacobian(W_at, X, row_weights=weights)
        return MixedRowsJacobian(J_s, curvature)

    rows = None if curvature_rows is None else np.asarray(curvature_rows)
    # Every row (the exact step, solved in parameter space): C is J itself.
    every_row = rows is not None and len(rows) == Y.shape[0]
    if every_row:
        X_rows, rows_weights = X_tilde, row_weights
    elif rows is not None:
        X_rows = _take_rows(X_tilde, rows)
        # C^T C = (sum(s) / sum(s[rows])) J[rows]^T J[rows] estimates J^T J.
        rows_sum = float(len(rows) if sample_weight is None else sample_weight[rows].sum())
        rows_weights = np.full(len(rows), np.sqrt(weight_sum / rows_sum))
        if row_weights is not None:
            rows_weights *= row_weights[rows]

    def sampled(W_at, terms, J_at):
        """The rescaled Jacobian of the curvature rows at ``W_at``, with its samples'.

        ``J_at`` is the Jacobian of every row at ``W_at``, the operator when the
        curvature rows are all of them.
        """
        curvature = (terms.curvature if every_row or terms.curvature is None
                     else terms.curvature[rows])

        def samples_jacobian(samples):
            return linearize(W_at, None if curvature is None else curvature[samples],
                             _take_rows(X_rows, samples),
                             None if rows_weights is None else rows_weights[samples])

        operator = J_at if every_row else linearize(W_at, curvature, X_rows, rows_weights)
        return SampledRowsJacobian(operator, samples_jacobian)

    def try_step(J_at, W_at, objective_at, delta, weighted_residual, u, model_offset):
        """Backtrack along ``delta`` from ``W_at`` until the objective falls.

        A shorter step costs one forward pass, a larger damping a new inner solve.
        """
        J_delta = J_at.matvec(delta)
        for step_length in _STEP_LENGTHS:
            # Linear model of the objective at W + t delta (without the damping term).
            linear_residual = weighted_residual + step_length * J_delta
            model = (0.5 * linear_residual @ linear_residual
                     + 0.5 * alpha * _squared_norm(u + step_length * delta,
                                                   lambda v: np.sum(v**2))
                     + model_offset)
            W_trial = W_at + step_length * delta.reshape(W_at.shape)
            trial_terms, trial_objective = evaluate(W_trial)
            actual = objective_at - trial_objective
            if np.isfinite(trial_objective) and actual > 0:
                break
        return _Trial(accepted=bool(np.isfinite(trial_objective) and actual > 0),
                      step_length=step_length, predicted=objective_at - model,
                      actual=actual, objective=trial_objective, W=W_trial,
                      terms=trial_terms)

    def stop_reason(accepted, actual, predicted, objective_after, inner, any_accepted,
                    step_length):
        """Why the ``tol`` rules end the fit after this step, or ``None``."""
        small = tol * (objective_start if objective_after == 0 else objective_after)
        if (accepted and inner.converged and step_length == 1.0
                and actual <= tol * (first_objective - objective_after)):
            # (A truncated inner solve's small decrease says nothing of convergence, nor
            # does a backtracked step's: its model over-reached. On Wages, standardized,
            # a step accepted at half length lowered the objective by 0.1% and ended the
            # fit after 3 steps at test R^2 0.444, where it went on to 0.57.)
            return "step decrease below tol times the total decrease"
        if (predicted <= small and abs(actual) <= small
                and (any_accepted or objective_after == 0)):
            # A stationary point; before any accepted step only a zero objective counts
            # (a step too small to change anything is not convergence).
            return "relative decrease below tol"
        return None

    terms, objective = evaluate(W)
    objective_start = objective
    # The objective before the first step of the whole (possibly warm-started) fit.
    first_objective = objective if state.first_objective is None else state.first_objective
    first_iterations = state.first_iterations
    history, loss_curve = [], []
    J = C = None
    converged, message = False, "max_iter reached"

    step = 0
    while not converged and step < max_iter:
        step += 1
        if monitor is not None:
            monitor.step_begin(step, W)
        t_start = time.perf_counter()
        if J is None:
            J = linearize(W, terms.curvature)
            C = None if rows is None else sampled(W, terms, J)
        damping.start(J, Y.shape[1], weight_sum)
        u = (W - W0).ravel()
        weighted_residual = _flat_output_major(
            terms.residual if row_weights is None else terms.residual * row_weights[:, None]
        )
        # The Gauss-Newton model is loss + 1/2 ||r_w + J d||^2 - 1/2 ||r_w||^2; for the
        # squared error the first and last terms cancel (the offset is exactly 0).
        model_offset = (0.0 if terms.curvature is None
                        else terms.value - 0.5 * weighted_residual @ weighted_residual)
        fitted_now, inner, landmarks = False, None, None
        cap = inner_max_iter
        if first_iterations:
            # Later solves chase the residual left in the preconditioner's tail, where an
            # iteration buys little of the step's decrease: cap them (truncated Newton) so
            # that a step costs at most twice the first, its preconditioner fit included,
            # at this tolerance (CG's iterations grow like log(1 / rtol) at a fixed
            # condition number).
            later_cap = int(np.ceil(_LATER_SOLVE_BUDGET * first_iterations
                                    * np.log(inner_rtol) / np.log(INNER_RTOL_MAX)))
            later_cap += refit_iterations or 0
            cap = later_cap if cap is None else min(cap, later_cap)
        # The operator of the inner system: J, or the curvature rows' C.
        system = J if C is None else C
        try:
            precond, fitted_now = cache.get(system, alpha + damping.mu)
            landmarks = getattr(precond, "n_landmarks", None)
            budget = cap if fitted_now else cache.budget(cap)
            delta, inner = gauss_newton_step(
                J, weighted_residual, u, alpha, damping.mu, solve, rtol=inner_rtol,
                maxiter=budget, preconditioner=precond, curvature=C,
            )
            if not inner.converged and budget != cap:
                # The reused preconditioner spent a refit's worth of iterations: refit it
                # and continue from the iterate.
                spent = inner.n_iter
                precond, fitted_now = cache.refit(system, alpha + damping.mu), True
                delta, inner = gauss_newton_step(
                    J, weighted_residual, u, alpha, damping.mu, solve, rtol=inner_rtol,
                    maxiter=None if cap is None else cap - spent,
                    preconditioner=precond, x0=inner, curvature=C,
                )
                cache.record(inner.n_iter)
                inner = replace(inner, n_iter=inner.n_iter + spent)
            else:
                # In parameter space a fit's first solve, from W0, has its right-hand
                # side in the preconditioner's head and converges in a few iterations (2
                # on 20,000 rows of diamonds, where the later solves took 17-22): as a
                # baseline it made the budget cut the next solve short and refit, at
                # k products with C^T, at every later step. In sample space it stays the
                # baseline: its growth rule then refits the cheap preconditioner at the
                # later steps' shift (reusing it took friedman1 from 1.25 s to 1.85 s).
                if C is None or first_iterations is not None:
                    cache.record(inner.n_iter)
            if first_iterations is None and inner.n_iter > 0:
                # (In the first solve's units: at INNER_RTOL_MAX, unless a warm start
                # without this record began at a tighter tolerance.)
                first_iterations = inner.n_iter * np.log(INNER_RTOL_MAX) / np.log(inner_rtol)
            elif first_iterations and not inner.converged and inner.n_iter >= cap:
                # The cap cut this solve short, so the reference understated what a later
                # solve costs: learn this one's pace, so that the cap truncates an outlier
                # solve rather than every later one (cut-short steps do not count for the
                # tol rule, and the fit would crawl).
                revised = _revised_reference(first_iterations, inner.n_iter,
                                             inner.residual_norm)
                if revised >= _LATER_SOLVE_BUDGET * first_iterations:
                    # At twice the pace or more (the revision's clip), the later solves
                    # outrun what the preconditioner was priced for (a first step whose
                    # right-hand side lies in its head): double its landmarks, refitted
                    # at the next step.
                    cache.grow()
                first_iterations = revised
        except np.linalg.LinAlgError:
            inner = None
        if inner is None:
            accepted, trial_objective, step_length = False, np.inf, np.nan
            predicted, actual = np.inf, -np.inf
        else:
            trial = try_step(J, W, objective, delta, weighted_residual, u, model_offset)
            if inner.n_iter > 0 and inner.converged and stop_reason(
                    trial.accepted, trial.actual, trial.predicted,
                    trial.objective if trial.accepted else objective, inner,
                    bool(loss_curve) or trial.accepted, trial.step_length):
                # A loose inner solve can capture a small part of its model's decrease
                # (the residual's norm does not bound the model's error), and its step
                # then looks like convergence: continue the solve a few iterations, and
                # stop only if the refined step is small too.
                spent = inner.n_iter
                extra = (_VERIFY_ITERATIONS if cap is None
                         else max(min(_VERIFY_ITERATIONS, cap - spent), 1))
                refined_delta, refined = gauss_newton_step(
                    J, weighted_residual, u, alpha, damping.mu, solve,
                    rtol=_VERIFY_RTOL_FACTOR * inner_rtol, maxiter=extra,
                    preconditioner=precond, x0=inner, curvature=C,
                )
                retrial = try_step(J, W, objective, refined_delta, weighted_residual, u,
                                   model_offset)
                # (The refined solve continues one that reached its tolerance: it counts
                # as converged even if the cap cut the tighter one short.)
                if retrial.accepted and (not trial.accepted or retrial.actual > trial.actual):
                    trial = retrial
                    inner = replace(refined, n_iter=refined.n_iter + spent, converged=True)
                else:
                    inner = replace(inner, n_iter=refined.n_iter + spent)
            accepted, step_length = trial.accepted, trial.step_length
            predicted, actual = trial.predicted, trial.actual
            trial_objective, W_trial, trial_terms = trial.objective, trial.W, trial.terms

        mu_used = damping.mu
        if accepted:
            if step_length < 1.0:
                # Accepted only after backtracking: the model over-reached, so shrink the
                # next step as a rejection would (grow the shift by 1 / step_length).
                damping.shrink(step_length, alpha)
            else:
                damping.accept(actual / predicted if predicted > 0 else 0.0)
            objective_before = objective
            W, terms, objective = W_trial, trial_terms, trial_objective
            J = None
            loss_curve.append(objective)
            inner_rtol = inner_tolerance(actual, objective_before)
        else:
            damping.reject(alpha)

        record = StepRecord(
            step=step,
            loss=objective,
            trial_loss=float(trial_objective),
            accepted=accepted,
            damping=float(mu_used),
            step_length=float(step_length),
            solver=name,
            preconditioner="none" if inner is None else inner.preconditioner,
            preconditioner_fitted=fitted_now,
            landmarks=landmarks,
            inner_iterations=0 if inner is None else inner.n_iter,
            inner_residual=np.nan if inner is None else inner.residual_norm,
            inner_tol=np.nan if name == "cholesky" else inner_rtol,
            seconds=time.perf_counter() - t_start,
            network=network.diagnostics(),
        )
        stop = monitor is not None and monitor.step_end(record, W)
        history.append(record.as_dict())
        if stop:
            message = "stopped by the monitor"
            break

        reason = (None if inner is None else
                  stop_reason(accepted, actual, predicted, objective, inner, bool(loss_curve),
                              step_length))
        if objective <= _EPS * objective_start:
            converged, message = True, "objective below machine precision"
        elif (state.first_objective is None and step == 1 and inner is not None
              and predicted <= _STATIONARY_START * objective):
            # The first model of a new fit, at its initial damping, promises nothing
            # above rounding: the gradient vanishes at W0 (constant inputs: the centered
            # start already predicts the mean). No damping would find a decrease.
            converged, message = True, "stationary at the start"
        elif reason is not None:
            converged, message = True, reason
        elif not np.isfinite(damping.mu):
            message = "damping overflowed"
            break

    return GNResult(
        # Dense (lazy weights are materialized once, here).
        params=np.asarray(W),
        loss=objective,
        n_iter=step,
        loss_curve=loss_curve,
        history=history,
        converged=converged,
        message=message,
        state=LMState(damping=damping, inner_rtol=inner_rtol, first_objective=first_objective,
                      first_iterations=first_iterations),
    )
