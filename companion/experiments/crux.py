r"""Computations of the chapter *The crux of the matter*.

The toy problem is :func:`companion.problems.alpha_scaled`,

.. math::
    P(x) = (x_1,\ \alpha x_2), \qquad L(x) = \tfrac12 |P(x)|^2
    = \tfrac12 \left(x_1^2 + \alpha^2 x_2^2\right),

whose gradient :math:`\nabla_x L = (x_1,\ \alpha^2 x_2)` carries the square of
the scale :math:`\alpha`.  The functions here

1. describe gradient descent (GD) on it in closed form:
   :func:`gd_gradient`, :func:`direction_angle`, :func:`stability_limit`,
   :func:`optimal_step`, :func:`contraction`, :func:`predicted_iterations`,
   :func:`asymptotic_iterations`;
2. run the rules for the figures: :func:`landscape_runs`, :func:`gd_eta_runs`;
3. test scale-invariance through :func:`companion.problems.reparametrize`:
   :func:`scaled_problem`, :func:`matched_start`, :func:`same_problem_gap`,
   :func:`invariance_deviation`, :func:`invariance_table`;
4. count iterations to a tolerance: :func:`rule_iterations`, the exact
   k-step count of GD on a linear problem :func:`linear_gd_iterations` and its
   sweep :func:`linear_gd_sweep` (checked against
   :func:`companion.tuning.sweep_step_size` by :func:`compare_with_driver_sweep`),
   and the table :func:`iteration_table`;
5. answer the exercises: :func:`largest_stable_step`, :func:`exercise_iterations`.

The problem at scale :math:`\alpha`, started at :func:`matched_start`, is the
problem at :math:`\alpha = 1` written in other units (:math:`x_2 \to \alpha x_2`),
so its start loss, its target and its tolerance are the same for every
:math:`\alpha`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .. import problems, rules
from .._checks import as_vector, check_int, check_positive
from ..driver import MinimizeResult, minimize
from ..problems import Problem
from ..tuning import iterations_to_tolerance, log_grid, sweep_step_size

__all__ = [
    "START",
    "TOL_REL",
    "ALPHAS",
    "TABLE_ETAS",
    "gd_gradient",
    "direction_angle",
    "stability_limit",
    "optimal_step",
    "contraction",
    "predicted_iterations",
    "asymptotic_iterations",
    "landscape_runs",
    "gd_eta_runs",
    "scaled_problem",
    "matched_start",
    "same_problem_gap",
    "invariance_deviation",
    "invariance_table",
    "rule_iterations",
    "LinearCount",
    "linear_gd_iterations",
    "LinearSweep",
    "linear_gd_sweep",
    "compare_with_driver_sweep",
    "IterationRow",
    "iteration_table",
    "loglog_slope",
    "largest_stable_step",
    "exercise_iterations",
]

#: The start of the :math:`\alpha = 1` problem; other :math:`\alpha` use :func:`matched_start`.
START = (1.5, 1.5)
#: Convergence means :math:`L \le` ``TOL_REL`` :math:`\cdot L(x_0)`.
TOL_REL = 1e-8
#: The scales of the iteration table.
ALPHAS = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
#: The step sizes GD may choose from in the iteration table (20 per decade).
TABLE_ETAS = log_grid(1e-7, 1.0, per_decade=20)


def _alpha(alpha, name: str = "alpha") -> float:
    return check_positive(alpha, name)


def _tol_rel(tol_rel) -> float:
    tol_rel = check_positive(tol_rel, "tol_rel")
    if tol_rel >= 1:
        raise ValueError(f"tol_rel must lie in (0, 1): the loss has to fall below its start, got {tol_rel}")
    return tol_rel


# --------------------------------------------------------------------------- closed forms
def gd_gradient(alpha, x) -> np.ndarray:
    r"""The gradient :math:`\nabla_x L = (x_1,\ \alpha^2 x_2)` of the toy, in closed form.

    >>> gd_gradient(10.0, [1.0, 1.0])
    array([  1., 100.])
    """
    alpha = _alpha(alpha)
    x = as_vector(x, "x", size=2)
    return np.array([x[0], alpha**2 * x[1]])


def direction_angle(problem: Problem, x) -> float:
    r"""Angle in degrees between the GD direction :math:`-\nabla_x L` and Newton's direction.

    For the toy with target 0 Newton's direction is :math:`-x`, the straight
    line to the minimum, so the angle says how far GD points away from it.

    >>> round(direction_angle(problems.alpha_scaled(1.0), [1.0, 2.0]), 6)
    0.0
    """
    x = as_vector(x, "x")
    g = rules.gd_direction(problem, x)
    n = rules.newton_direction(problem, x)
    u, v = g / np.linalg.norm(g), n / np.linalg.norm(n)
    # 2 atan2(|u - v|, |u + v|) is accurate near 0 and 180 degrees, unlike arccos(u . v)
    return float(np.degrees(2.0 * np.arctan2(np.linalg.norm(u - v), np.linalg.norm(u + v))))


def stability_limit(alpha) -> float:
    r"""The largest stable GD step :math:`2/\lambda_{\max} = 2/\max(1, \alpha^2)`.

    GD multiplies :math:`x_1` by :math:`1-\eta` and :math:`x_2` by
    :math:`1-\eta\alpha^2`; both factors stay in :math:`(-1, 1)` only for
    :math:`0 < \eta < 2/\max(1,\alpha^2)`.

    >>> stability_limit(10.0)
    0.02
    """
    alpha = _alpha(alpha)
    return 2.0 / max(1.0, alpha**2)


def optimal_step(alpha) -> float:
    r"""The best fixed GD step :math:`\eta^* = 2/(\lambda_{\min} + \lambda_{\max}) = 2/(1 + \alpha^2)`.

    It balances the two factors: :math:`|1-\eta^*| = |1-\eta^*\alpha^2|`.

    >>> optimal_step(1.0), optimal_step(3.0)
    (1.0, 0.2)
    """
    alpha = _alpha(alpha)
    return 2.0 / (1.0 + alpha**2)


def contraction(alpha, eta=None) -> float:
    r"""GD's contraction factor per step, :math:`\rho = \max(|1-\eta|, |1-\eta\alpha^2|)`.

    With the default ``eta = None`` the optimal step is used, and
    :math:`\rho^* = |\alpha^2 - 1| / (\alpha^2 + 1)`.

    >>> contraction(3.0)
    0.8
    >>> contraction(3.0, 0.1)
    0.9
    """
    alpha = _alpha(alpha)
    if eta is None:
        return abs(alpha**2 - 1.0) / (alpha**2 + 1.0)
    eta = check_positive(eta, "eta")
    return max(abs(1.0 - eta), abs(1.0 - eta * alpha**2))


def predicted_iterations(alpha, tol_rel=TOL_REL) -> int:
    r"""Steps GD needs at :math:`\eta^*` to reach :math:`L \le` ``tol_rel`` :math:`L(x_0)`.

    At :math:`\eta^*` both components shrink by exactly :math:`\rho^*` per step,
    so :math:`L_k = \rho^{*2k} L_0` from *every* start, and

    .. math:: k = \left\lceil \frac{\ln(\text{tol}_\text{rel})}{2 \ln \rho^*} \right\rceil .

    At :math:`\alpha = 1`, :math:`\rho^* = 0` and one step suffices.

    >>> predicted_iterations(10.0, 1e-8)
    461
    >>> predicted_iterations(1.0)
    1
    """
    rho = contraction(alpha)
    tol_rel = _tol_rel(tol_rel)
    if rho == 0.0:
        return 1
    return max(1, math.ceil(math.log(tol_rel) / (2.0 * math.log(rho))))


def asymptotic_iterations(alpha, tol_rel=TOL_REL) -> float:
    r"""The large-:math:`\alpha` form :math:`k \approx \tfrac14 (\alpha^2 + 1) \ln(1/\text{tol}_\text{rel})`.

    From :math:`\ln \rho^* = \ln\!\left(1 - \tfrac{2}{\alpha^2+1}\right) \approx -\tfrac{2}{\alpha^2+1}`.

    >>> round(asymptotic_iterations(1000.0, 1e-8))
    4605175
    """
    alpha = _alpha(alpha)
    tol_rel = _tol_rel(tol_rel)
    return 0.25 * (alpha**2 + 1.0) * math.log(1.0 / tol_rel)


# --------------------------------------------------------------------------- figures
def landscape_runs(alpha, *, start=START, gd_steps: int = 40, steps: int = 12, eta: float = 0.5) -> dict:
    r"""GD at its best fixed step :math:`\eta^*` and Newton, PG at ``eta`` on the toy.

    Returns ``{"problem": ..., "GD": result, "Newton": result, "PG": result}``;
    all runs start at ``start`` and have ``tol = 0`` (no early stop unless the
    loss is exactly zero).
    """
    problem = problems.alpha_scaled(_alpha(alpha))
    start = as_vector(start, "start", size=2)
    gd_steps = check_int(gd_steps, "gd_steps", minimum=1)
    steps = check_int(steps, "steps", minimum=1)
    return {
        "problem": problem,
        "GD": minimize(problem, start, rules.gd(optimal_step(alpha)), steps=gd_steps),
        "Newton": minimize(problem, start, rules.newton(eta), steps=steps),
        "PG": minimize(problem, start, rules.pg(eta), steps=steps),
    }


def gd_eta_runs(alpha, factors: Sequence[float] = (0.5, 1.0, 1.9, 2.05), *, start=START,
                steps: int = 40) -> list[tuple[float, MinimizeResult]]:
    r"""GD with :math:`\eta = c/\alpha^2` for each factor :math:`c` in ``factors``.

    :math:`c < 2` is stable, :math:`c = 1` removes :math:`x_2` in one step,
    :math:`c > 2` diverges.  Returns ``[(eta, result), ...]``.
    """
    alpha = _alpha(alpha)
    problem = problems.alpha_scaled(alpha)
    start = as_vector(start, "start", size=2)
    out = []
    for c in factors:
        eta = check_positive(c, "factors") / alpha**2
        out.append((eta, minimize(problem, start, rules.gd(eta), steps=check_int(steps, "steps", minimum=1))))
    return out


# --------------------------------------------------------------------------- scale-invariance
def scaled_problem(alpha) -> Problem:
    r"""The :math:`\alpha = 1` toy in coordinates :math:`z`, :math:`x = D z`, :math:`D = \mathrm{diag}(1, \alpha)`.

    :math:`Q(z) = P_1(Dz) = (z_1, \alpha z_2)`: the same function as
    :func:`companion.problems.alpha_scaled` (see :func:`same_problem_gap`).

    >>> scaled_problem(4.0).output(np.array([1.0, 1.0]))
    array([1., 4.])
    """
    return problems.reparametrize(problems.alpha_scaled(1.0), [1.0, _alpha(alpha)])


def matched_start(alpha, start=START) -> np.ndarray:
    r"""The start :math:`z_0 = D^{-1} x_0 = (x_{0,1},\ x_{0,2}/\alpha)` matching ``start`` at :math:`\alpha = 1`.

    >>> matched_start(10.0, (1.5, 1.5))
    array([1.5 , 0.15])
    """
    alpha = _alpha(alpha)
    start = as_vector(start, "start", size=2)
    return start / np.array([1.0, alpha])


def same_problem_gap(alpha, *, samples: int = 20, seed: int = 0) -> float:
    r"""Largest difference of loss and gradient between ``alpha_scaled(alpha)`` and :func:`scaled_problem`.

    Evaluated at ``samples`` random points from ``np.random.default_rng(seed)``;
    zero (to rounding) means the reparametrised problem *is* the
    :math:`\alpha`-scaled toy.

    >>> same_problem_gap(7.0)
    0.0
    """
    alpha = _alpha(alpha)
    samples = check_int(samples, "samples", minimum=1)
    rng = np.random.default_rng(seed)
    direct, reparam = problems.alpha_scaled(alpha), scaled_problem(alpha)
    gap = 0.0
    for z in rng.uniform(-2.0, 2.0, size=(samples, 2)):
        gap = max(gap, abs(direct.loss_at(z) - reparam.loss_at(z)),
                  float(np.max(np.abs(direct.gradient_at(z) - reparam.gradient_at(z)))))
    return gap


def _padded(points: np.ndarray, length: int) -> np.ndarray:
    if len(points) >= length:
        return points[:length]
    return np.vstack([points, np.repeat(points[-1:], length - len(points), axis=0)])


def invariance_deviation(make_rule: Callable[[float], rules.Rule], alpha, *, start=START, steps: int = 20) -> float:
    r"""How far the mapped-back iterates at scale :math:`\alpha` stray from those at :math:`\alpha = 1`.

    Runs ``make_rule(1.0)`` on the :math:`\alpha = 1` toy from ``start`` (the
    reference :math:`x_k`) and ``make_rule(alpha)`` on :func:`scaled_problem`
    from :func:`matched_start` (iterates :math:`z_k`), both for ``steps`` steps,
    and returns

    .. math:: \max_k \frac{|D z_k - x_k|}{|x_0|}.

    A run that stopped at an exact minimum keeps its last point; a run that
    diverged or failed gives ``inf``.  A scale-invariant rule gives zero up to
    rounding.

    >>> invariance_deviation(lambda a: rules.newton(0.5), 100.0) < 1e-12
    True
    """
    alpha = _alpha(alpha)
    steps = check_int(steps, "steps", minimum=1)
    start = as_vector(start, "start", size=2)
    reference = minimize(problems.alpha_scaled(1.0), start, make_rule(1.0), steps=steps)
    scaled = minimize(scaled_problem(alpha), matched_start(alpha, start), make_rule(alpha), steps=steps)
    if reference.status not in (0, 1) or scaled.status not in (0, 1):
        return float("inf")
    mapped = scaled.xs * np.array([1.0, alpha])
    gap = _padded(mapped, steps + 1) - _padded(reference.xs, steps + 1)
    return float(np.max(np.linalg.norm(gap, axis=1)) / np.linalg.norm(start))


def invariance_table(alphas: Sequence[float] = ALPHAS, *, start=START, steps: int = 20,
                     eta: float = 0.5) -> dict[str, list[float]]:
    r"""Deviations (:func:`invariance_deviation`) of five set-ups for each :math:`\alpha` in ``alphas``.

    ``"GD, fixed eta"`` uses :math:`\eta = \eta^*(\alpha_{\max})`, stable for all
    ``alphas``; ``"GD, tuned eta"`` uses :math:`\eta^*(\alpha)` for each
    :math:`\alpha`; Newton, IG and PG use ``eta``.
    """
    alphas = [_alpha(a, "alphas") for a in alphas]
    fixed = optimal_step(max(alphas))
    setups = {
        "GD, fixed eta": lambda a: rules.gd(fixed),
        "GD, tuned eta": lambda a: rules.gd(optimal_step(a)),
        "Newton": lambda a: rules.newton(eta),
        "IG": lambda a: rules.ig(eta),
        "PG": lambda a: rules.pg(eta),
    }
    return {name: [invariance_deviation(make, a, start=start, steps=steps) for a in alphas]
            for name, make in setups.items()}


# --------------------------------------------------------------------------- iteration counts
def rule_iterations(problem: Problem, x0, rule: rules.Rule, *, tol: float, steps: int = 1000) -> float:
    """Steps the driver needs to reach ``tol`` (``inf`` if it does not within ``steps``)."""
    return iterations_to_tolerance(minimize(problem, x0, rule, steps=steps, tol=tol))


@dataclass(frozen=True)
class LinearCount:
    """Result of :func:`linear_gd_iterations`: the step count (``inf`` if none), status and the loss reached."""

    iterations: float
    status: str
    fun: float


def _linear_least_squares(problem: Problem, x0: np.ndarray):
    """Return ``(J, b)`` with ``P(x) = J x + b`` after checking that the problem is linear with the L2 loss."""
    jac = problem.jacobian_at(x0)
    offset = problem.output(x0) - jac @ x0
    probe = x0 + np.linspace(0.5, 1.5, x0.size)
    residual = jac @ probe + offset - problem.target
    checks = (
        np.allclose(problem.jacobian_at(probe), jac, rtol=1e-12, atol=1e-14),
        np.allclose(problem.output(probe), jac @ probe + offset, rtol=1e-12, atol=1e-14),
        np.allclose(problem.gradient_at(probe), jac.T @ residual, rtol=1e-12, atol=1e-14),
        math.isclose(problem.loss_at(probe), 0.5 * float(residual @ residual), rel_tol=1e-12, abs_tol=1e-14),
    )
    if not all(checks):
        raise ValueError(
            f"problem {problem.name!r} is not a linear least-squares problem (P(x) = J x + b, "
            f"L = 1/2 |P(x) - y*|^2); count its GD steps with companion.minimize instead"
        )
    return jac, offset


def linear_gd_iterations(problem: Problem, x0, eta, *, tol, max_steps: int = 10**7) -> LinearCount:
    r"""The number of GD steps to reach ``L <= tol`` on a *linear* least-squares problem, without looping.

    For :math:`P(x) = Jx + b` and :math:`L = \tfrac12|P(x) - y^*|^2` one GD step
    is the affine map

    .. math:: x_{k+1} = (I - \eta J^\top J)\, x_k - \eta J^\top (b - y^*),

    so :math:`x_k` is the :math:`k`-th power of one :math:`(n+1)\times(n+1)`
    matrix applied to :math:`(x_0, 1)`.  For a stable step
    (:math:`\eta \le 2/\lambda_{\max}(J^\top J)`) the loss never increases
    along the path, so the first :math:`k` with :math:`L_k \le` ``tol`` is found by
    binary lifting over the powers :math:`A^{2^j}` -- about
    :math:`2\log_2` ``max_steps`` small matrix products instead of :math:`k` steps.
    These are the iterates of :func:`companion.minimize` with ``rules.gd(eta)``,
    up to rounding.  An unstable step returns status ``"diverged"``.

    >>> count = linear_gd_iterations(problems.alpha_scaled(10.0), [1.5, 0.15], 2 / 101, tol=2.25e-8)
    >>> count.iterations, count.status
    (461.0, 'converged')
    """
    x0 = as_vector(x0, "x0")
    eta = check_positive(eta, "eta")
    if isinstance(tol, bool) or not np.isscalar(tol) or not np.isfinite(tol) or tol < 0:
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    max_steps = check_int(max_steps, "max_steps", minimum=1)
    jac, offset = _linear_least_squares(problem, x0)
    n = x0.size
    gram = jac.T @ jac
    drift = jac.T @ (offset - problem.target)

    def loss(v):
        r = jac @ v[:n] + offset - problem.target
        return 0.5 * float(r @ r)

    state = np.append(x0, 1.0)
    start_loss = loss(state)
    if start_loss <= tol:
        return LinearCount(0.0, "converged", start_loss)
    if eta * float(np.max(np.linalg.eigvalsh(gram))) > 2.0:
        return LinearCount(float("inf"), "diverged", float("inf"))
    step = np.eye(n + 1)
    step[:n, :n] -= eta * gram
    step[:n, n] = -eta * drift
    powers = [step]
    for _ in range(max_steps.bit_length() - 1):
        powers.append(powers[-1] @ powers[-1])
    k = 0  # the largest k <= max_steps with L_k > tol, found bit by bit
    for j in reversed(range(len(powers))):
        if k + (1 << j) > max_steps:
            continue
        candidate = powers[j] @ state
        if loss(candidate) > tol:
            state, k = candidate, k + (1 << j)
    if k == max_steps:
        return LinearCount(float("inf"), "max_steps", loss(state))
    return LinearCount(float(k + 1), "converged", loss(step @ state))


@dataclass(frozen=True)
class LinearSweep:
    """A step-size sweep of :func:`linear_gd_iterations`; ``best`` as in :func:`companion.tuning.sweep_step_size`."""

    etas: np.ndarray
    counts: tuple
    best_eta: float
    best: LinearCount

    @property
    def iterations(self) -> np.ndarray:
        """The step counts, ``inf`` where the tolerance was not reached."""
        return np.array([c.iterations for c in self.counts])


def linear_gd_sweep(problem: Problem, x0, etas, *, tol, max_steps: int = 10**7) -> LinearSweep:
    """Count GD steps for every ``eta`` in ``etas``; the best reaches ``tol`` in the fewest steps.

    Ties go to the lower final loss, as in :func:`companion.tuning.sweep_step_size`.

    >>> sweep = linear_gd_sweep(problems.alpha_scaled(10.0), [1.0, 1.0], [0.001, 0.01, 0.019, 0.05], tol=1e-10)
    >>> sweep.best_eta, sweep.best.iterations
    (0.019, 583.0)
    """
    etas = np.asarray(etas, dtype=float).reshape(-1)
    if etas.size == 0 or not np.all(np.isfinite(etas)) or np.any(etas <= 0):
        raise ValueError("etas must be a non-empty sequence of positive finite step sizes")
    counts = tuple(linear_gd_iterations(problem, x0, float(e), tol=tol, max_steps=max_steps) for e in etas)
    best = min(range(len(counts)), key=lambda i: (counts[i].iterations, counts[i].fun))
    return LinearSweep(etas, counts, float(etas[best]), counts[best])


def compare_with_driver_sweep(alpha, etas, *, start=START, tol_rel=TOL_REL, steps: int = 1000):
    r"""Sweep GD with :func:`companion.tuning.sweep_step_size` and with :func:`linear_gd_sweep`.

    Both on :func:`scaled_problem` from :func:`matched_start` with the same
    ``etas``, tolerance and budget.  Returns ``(driver_sweep, linear_sweep)``;
    their step counts should agree for every ``eta``.
    """
    problem = scaled_problem(alpha)
    x0 = matched_start(alpha, start)
    tol = _tol_rel(tol_rel) * problem.loss_at(x0)
    driver = sweep_step_size(problem, x0, rules.gd, etas, steps=steps, tol=tol)
    linear = linear_gd_sweep(problem, x0, etas, tol=tol, max_steps=steps)
    return driver, linear


@dataclass(frozen=True)
class IterationRow:
    """One row of :func:`iteration_table` (iteration counts; ``inf`` = not reached)."""

    alpha: float
    eta_star: float
    best_eta: float
    gd: float
    predicted: int
    asymptotic: float
    newton: float
    newton_half: float
    pg: float
    pg_half: float
    ig_half: float

    @property
    def ratio(self) -> float:
        """Measured over predicted GD iterations."""
        return self.gd / self.predicted


def iteration_table(alphas: Sequence[float] = ALPHAS, *, start=START, tol_rel=TOL_REL, etas=None,
                    max_steps: int = 10**7) -> list[IterationRow]:
    r"""GD's best iteration count (from a sweep over ``etas``) against :math:`\alpha`, next to Newton, PG and IG.

    Every problem is :func:`scaled_problem` from :func:`matched_start`, so
    :math:`L(x_0)` and the tolerance ``tol_rel * L(x_0)`` are the same for all
    :math:`\alpha`.  GD is counted with :func:`linear_gd_iterations` (default
    grid :data:`TABLE_ETAS`); Newton, PG and IG run in :func:`companion.minimize`
    at :math:`\eta = 1` and :math:`\eta = 1/2`.
    """
    tol_rel = _tol_rel(tol_rel)
    etas = TABLE_ETAS if etas is None else etas
    rows = []
    for alpha in alphas:
        alpha = _alpha(alpha, "alphas")
        problem = scaled_problem(alpha)
        x0 = matched_start(alpha, start)
        tol = tol_rel * problem.loss_at(x0)
        sweep = linear_gd_sweep(problem, x0, etas, tol=tol, max_steps=max_steps)
        rows.append(IterationRow(
            alpha=alpha,
            eta_star=optimal_step(alpha),
            best_eta=sweep.best_eta,
            gd=sweep.best.iterations,
            predicted=predicted_iterations(alpha, tol_rel),
            asymptotic=asymptotic_iterations(alpha, tol_rel),
            newton=rule_iterations(problem, x0, rules.newton(1.0), tol=tol),
            newton_half=rule_iterations(problem, x0, rules.newton(0.5), tol=tol),
            pg=rule_iterations(problem, x0, rules.pg(1.0), tol=tol),
            pg_half=rule_iterations(problem, x0, rules.pg(0.5), tol=tol),
            ig_half=rule_iterations(problem, x0, rules.ig(0.5), tol=tol),
        ))
    return rows


def loglog_slope(x, y) -> float:
    r"""Least-squares slope of :math:`\log y` against :math:`\log x`.

    >>> round(loglog_slope([1, 10, 100], [3, 300, 30000]), 6)
    2.0
    """
    x = as_vector(x, "x")
    y = as_vector(y, "y", size=x.size)
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("x and y must be positive for a log-log slope")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


# --------------------------------------------------------------------------- exercises
def largest_stable_step(alpha, *, start=(1.0, 1.0), steps: int = 200, high: float = 4.0,
                        iterations: int = 40) -> float:
    r"""The largest GD step size that does not blow up on the toy, found by bisection.

    A step size counts as stable when the loss after ``steps`` driver steps
    is below the start loss.  The bracket starts at ``(0, high)``; ``high``
    must be unstable.  The answer approaches :func:`stability_limit`,
    :math:`2/\alpha^2` for :math:`\alpha \ge 1`.

    >>> round(largest_stable_step(10.0), 4)
    0.02
    """
    alpha = _alpha(alpha)
    steps = check_int(steps, "steps", minimum=1)
    iterations = check_int(iterations, "iterations", minimum=1)
    high = check_positive(high, "high")
    problem = problems.alpha_scaled(alpha)
    start = as_vector(start, "start", size=2)
    start_loss = problem.loss_at(start)

    def stable(eta):
        result = minimize(problem, start, rules.gd(eta), steps=steps)
        return result.status in (0, 1) and result.fun < start_loss

    if stable(high):
        raise ValueError(f"high = {high} is still stable; pass a larger upper end of the bracket")
    low = 0.0
    for _ in range(iterations):
        middle = 0.5 * (low + high)
        if stable(middle):
            low = middle
        else:
            high = middle
    return low


def exercise_iterations(alpha=30.0, *, start=START, tol_rel=TOL_REL) -> tuple[int, int]:
    r"""Predicted (:func:`predicted_iterations`) and measured GD steps at :math:`\eta^*`.

    Measured step by step with :func:`companion.minimize` on
    :func:`scaled_problem` from :func:`matched_start`, to
    ``tol_rel`` :math:`\cdot L(x_0)`.

    >>> exercise_iterations(10.0)
    (461, 461)
    """
    alpha = _alpha(alpha)
    predicted = predicted_iterations(alpha, tol_rel)
    problem = scaled_problem(alpha)
    x0 = matched_start(alpha, start)
    result = minimize(problem, x0, rules.gd(optimal_step(alpha)), steps=2 * predicted + 10,
                      tol=tol_rel * problem.loss_at(x0))
    if not result.success:
        raise RuntimeError(f"GD did not converge: {result.message}")
    return predicted, result.nit
