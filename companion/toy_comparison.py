r"""The published 2-D toy of the optimiser comparison, and what the chapter *Comparing the optimisers on a nonlinear toy* reuses.

The toy is :math:`y(x) = (x_1, x_2^2)` (:func:`companion.problems.square_second`)
with the target :math:`y^* = 0`.  The published comparison uses the loss
:math:`L = |y|^2`, twice the course's :math:`\tfrac12 |y - y^*|^2`;
:func:`published_problem` reproduces it exactly with
``squared_error(scale=2)``.  In :math:`x` the loss reads
:math:`L = x_1^2 + x_2^4`: quadratic in one direction, quartic in the other.

The published set-up starts at :math:`(3, 3)` and runs ten iterations of GD,
Newton and the inverse simulator with the step sizes :data:`PUBLISHED_ETAS`.
:func:`toy_task` draws other starts (validation and test instances) for the
tuned comparison, :func:`toy_rules` gives every method's rule and step-size grid;
the loops themselves live in the chapter and in :mod:`companion.bench_inverse`.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from . import rules
from ._checks import as_vector, check_int, check_positive
from .driver import MinimizeResult, minimize
from .errors import InverseError
from .problems import Problem, square_second, squared_error

__all__ = [
    "X0",
    "toy_task",
    "TOY_GRIDS",
    "toy_rules",
    "STEPS",
    "PUBLISHED_ETAS",
    "METHODS",
    "published_problem",
    "make_rule",
    "step_angle",
    "angle_between",
    "step_table",
    "format_step_table",
    "equal_first_step_eta",
    "equal_length_etas",
    "draw_paths",
    "line_deviation",
    "contraction_deviation",
    "NumericalInverse",
    "numerical_inverse_problem",
    "numerical_vs_analytic",
    "exercise_pg_distance",
    "exercise_pg_distance_closed_form",
    "exercise_iterations_below",
    "exercise_iterations_below_closed_form",
]

#: Start of the published comparison.
X0 = (3.0, 3.0)
#: Iterations of the published comparison.
STEPS = 10
#: Step sizes of the published comparison (loss :math:`|y|^2`).
PUBLISHED_ETAS = {"GD": 0.01, "Newton": 1.0 / 3.0, "PG": 0.3}
#: The six methods, in the order of the tables.
METHODS = ("GD", "Newton", "PG", "Adam", "IG", "BFGS")


def published_problem() -> Problem:
    r"""The published toy: :math:`y = (x_1, x_2^2)`, :math:`y^* = 0`, :math:`L = |y|^2 = x_1^2 + x_2^4`.

    ``squared_error(scale=2)`` gives :math:`\tfrac22 |y - y^*|^2 = |y|^2`; the
    gradient is twice that of the course's convention, so a GD step size
    :math:`\eta` here equals :math:`2\eta` there.  Newton, IG and PG do not
    notice the factor (it cancels between gradient and Hessian).

    >>> float(published_problem().loss_at([3.0, 3.0]))
    90.0
    """
    return square_second(loss=squared_error(scale=2.0))


#: Step sizes swept in the tuned comparison (BFGS sets its step by a line search and has no grid).
TOY_GRIDS = {
    "GD": (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3),
    "Newton": (0.5, 1.0, 1.5, 2.0, 3.0),
    "PG": (0.5, 0.75, 1.0, 1.25),
    "Adam": (0.03, 0.1, 0.3, 1.0, 3.0, 10.0),
    "IG": (0.5, 1.0, 1.5, 2.0),
    "BFGS": (),
}


def toy_task(seed: int, *, low: float = 1.0, high: float = 4.0, tol: float = 1e-24):
    r"""An instance of the published toy: start :math:`x_0 \sim U[\text{low}, \text{high}]^2` from ``np.random.default_rng(seed)``.

    The optimum is :math:`x^* = 0` (``x_true``), so the error of a run is the distance
    :math:`|x - x^*|/\sqrt 2` (rms); the tolerance ``tol`` on :math:`L = x_1^2 + x_2^4`
    (default :math:`10^{-24}`, i.e. :math:`|x_2| \le 10^{-6}`) ends runs that converge
    linearly, whose error would otherwise fall until it underflows.

    >>> task = toy_task(0)
    >>> task.name, bool(np.all((task.x0 >= 1) & (task.x0 <= 4)))
    ('toy', True)
    """
    from .inverse_setups import Task

    if not high > low:
        raise ValueError(f"high must exceed low, got low={low}, high={high}")
    x0 = np.random.default_rng(seed).uniform(low, high, 2)
    problem = published_problem()
    return Task("toy", problem, np.zeros(2), x0, np.zeros(2), check_positive(tol, "tol"), {"seed": int(seed)}, 0.0, None)


def toy_rules(grids: Optional[dict] = None) -> dict:
    """``{method: (make, grid, note)}`` for the tuned comparison on the toy, as :func:`companion.inverse_setups.method_rules`.

    >>> list(toy_rules())
    ['GD', 'Newton', 'PG', 'Adam', 'IG', 'BFGS']
    """
    grids = {**TOY_GRIDS, **(grids or {})}
    notes = {"BFGS": "line search", "PG": "analytic inverse", "Newton": "exact Hessian"}
    return {m: ((lambda eta, m=m: make_rule(m, eta)), tuple(grids[m]), notes.get(m, "")) for m in METHODS}


def make_rule(method: str, eta: float) -> rules.Rule:
    """The companion rule of ``method`` with step size ``eta`` (BFGS uses a Wolfe line search and ignores ``eta``).

    >>> make_rule("IG", 0.5).name
    'IG'
    """
    builders = {
        "GD": rules.gd,
        "Newton": rules.newton,
        "PG": rules.pg,
        "Adam": rules.adam,
        "IG": rules.ig,
        "BFGS": lambda eta: rules.bfgs(),
    }
    if method not in builders:
        raise ValueError(f"method must be one of {tuple(builders)}, got {method!r}")
    return builders[method](check_positive(eta, "eta"))


def step_angle(dx) -> float:
    r"""Direction of a 2-D step in degrees, measured from the :math:`+x_1` axis, in :math:`(-180, 180]`.

    >>> step_angle([-1.0, -1.0])
    -135.0
    """
    dx = as_vector(dx, "dx", size=2)
    if not np.any(dx):
        raise ValueError("dx is zero: a zero step has no direction")
    return float(np.degrees(np.arctan2(dx[1], dx[0])))


def angle_between(a, b) -> float:
    r"""The angle in degrees between two non-zero vectors, in :math:`[0, 180]`.

    >>> round(angle_between([1.0, 0.0], [1.0, 1.0]), 10)
    45.0
    """
    a, b = as_vector(a, "a"), as_vector(b, "b", size=np.size(a))
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        raise ValueError("both vectors must be non-zero to have an angle")
    return float(np.degrees(np.arccos(np.clip(a @ b / (na * nb), -1.0, 1.0))))


def step_table(runs: dict, etas: dict, x_opt=(0.0, 0.0)) -> list[dict]:
    r"""One row per run: :math:`\eta`, length and direction of the first step, its angle to the straight line towards ``x_opt``, and the final distance :math:`|x_{10} - x_{\text{opt}}|` and loss."""
    x_opt = as_vector(x_opt, "x_opt", size=2)
    rows = []
    for method, run in runs.items():
        dx = run.steps()[0]
        rows.append({
            "method": method,
            "eta": float(etas.get(method, float("nan"))),
            "length": float(np.linalg.norm(dx)),
            "angle": step_angle(dx),
            "off_target": angle_between(dx, x_opt - run.xs[0]),
            "distance": float(np.linalg.norm(run.x - x_opt)),
            "loss": float(run.fun),
        })
    return rows


def format_step_table(rows: Sequence[dict]) -> str:
    """Fixed-format text of :func:`step_table` rows (``eta`` of BFGS shown as ``l.s.``: line search)."""
    lines = [f"{'method':7s} {'eta':>8s} {'|dx_0|':>8s} {'angle':>8s} {'off':>7s} {'|x_10|':>10s} {'L(x_10)':>10s}"]
    for r in rows:
        eta = "l.s." if r["method"] == "BFGS" else f"{r['eta']:.4g}"
        lines.append(f"{r['method']:7s} {eta:>8s} {r['length']:8.4f} {r['angle']:8.2f} {r['off_target']:7.2f} "
                     f"{r['distance']:10.3e} {r['loss']:10.3e}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- step-size rules
def equal_first_step_eta(make, length: float, *, problem: Optional[Problem] = None, x0=X0,
                         bracket: tuple = (1e-8, 1e2)) -> float:
    r"""The :math:`\eta` for which the rule ``make(eta)`` takes a first step of the given ``length``.

    For rules whose first step is proportional to :math:`\eta` (GD, Newton,
    IG, Adam) one rescaling of a trial step is exact; otherwise (PG, whose
    step bends with :math:`\eta`) Brent's method refines
    :math:`|\Delta x_0(\eta)| = \text{length}` within ``bracket``.

    >>> round(equal_first_step_eta(rules.ig, 1.0), 6)   # |dx_IG| = eta |(-3, -1.5)|
    0.298142
    """
    from scipy.optimize import brentq

    problem = problem or published_problem()
    length = check_positive(length, "length")
    x0 = as_vector(x0, "x0")

    def step_length(eta):
        return float(np.linalg.norm(make(eta).first_step(problem, x0)))

    trial = step_length(1e-3)
    if trial == 0:
        raise ValueError("the first step is zero at eta = 1e-3: its length cannot be matched")
    eta = 1e-3 * length / trial
    try:
        if abs(step_length(eta) - length) <= 1e-12 * length:
            return float(eta)
    except InverseError:
        pass
    low, high = bracket

    def mismatch(log_eta):
        try:
            return math.log(step_length(math.exp(log_eta)) / length)
        except InverseError:  # no preimage: the requested step overshoots
            return math.inf
    return float(math.exp(brentq(mismatch, math.log(low), math.log(high), xtol=1e-14, rtol=1e-14)))


def equal_length_etas(methods: Sequence[str] = ("Newton", "PG", "Adam", "IG"), *, reference: str = "GD",
                      reference_eta: float = PUBLISHED_ETAS["GD"], problem: Optional[Problem] = None,
                      x0=X0) -> dict:
    r"""Step sizes such that every method's first step is as long as the reference's (GD with :math:`\eta = 0.01`).

    This is the rule behind the published step sizes, "first steps of about
    equal length", made exact.  Returns ``{method: eta}`` including the reference.
    """
    problem = problem or published_problem()
    length = float(np.linalg.norm(make_rule(reference, reference_eta).first_step(problem, as_vector(x0, "x0"))))
    etas = {reference: float(reference_eta)}
    for method in methods:
        if method == "BFGS":
            raise ValueError("BFGS chooses its step length by a line search; it has no eta to match")
        etas[method] = equal_first_step_eta(lambda eta, m=method: make_rule(m, eta), length, problem=problem, x0=x0)
    return etas


def draw_paths(axes, runs: dict, *, problem: Optional[Problem] = None, xlim=(-1.5, 3.5), ylim=(-1.5, 3.5),
               ylim_y=(-1.0, 10.0), title: str = ""):
    r"""Two panels: the iterates in :math:`x` over the loss landscape, and in :math:`y` over the circles :math:`|y| = 	ext{const}`."""
    from .plots import MARKERS, color_of, loss_landscape

    problem = problem or published_problem()
    ax_x, ax_y = axes
    loss_landscape(ax_x, problem, xlim, ylim, resolution=101, levels=12)
    y1, y2 = np.meshgrid(np.linspace(*xlim, 101), np.linspace(*ylim_y, 101))
    ax_y.contour(y1, y2, np.log10(y1**2 + y2**2 + 1e-12), levels=12, colors="k", linewidths=0.3, alpha=0.5)
    for i, (method, run) in enumerate(runs.items()):
        style = dict(color=color_of(method, i), marker=MARKERS.get(method, "o"), markersize=4, lw=1.2, label=method)
        ax_x.plot(run.xs[:, 0], run.xs[:, 1], **style)
        ax_y.plot(run.ys[:, 0], run.ys[:, 1], **style)
    for ax in axes:
        ax.plot([0.0], [0.0], marker="*", color="k", markersize=11, ls="none")
    ax_x.set_xlim(*xlim)
    ax_x.set_ylim(*ylim)
    ax_y.set_xlim(*xlim)
    ax_y.set_ylim(*ylim_y)
    ax_x.set_title(f"{title} in $x$ (contours of $\\log_{{10}} L$)" if title else "iterates in $x$")
    ax_y.set_title(f"{title} in $y = (x_1, x_2^2)$" if title else "iterates in $y$")
    ax_y.set_xlabel("$y_1$")
    ax_y.set_ylabel("$y_2$")
    ax_y.legend(loc="upper left", fontsize=9)


# --------------------------------------------------------------------------- the path in y
def line_deviation(result: MinimizeResult, target=(0.0, 0.0)) -> float:
    r"""Largest distance of the iterates :math:`y_k` from the straight line through :math:`y_0` and :math:`y^*`, relative to :math:`|y_0 - y^*|`.

    Zero (to rounding) for PG with the L2 loss, whose :math:`y_k` all lie on the segment.
    """
    target = as_vector(target, "target")
    ys = np.asarray(result.ys, dtype=float)
    direction = ys[0] - target
    scale = float(np.linalg.norm(direction))
    if scale == 0:
        raise ValueError("the run starts at the target: there is no line")
    unit = direction / scale
    offsets = ys - target
    perpendicular = offsets - np.outer(offsets @ unit, unit)
    return float(np.max(np.linalg.norm(perpendicular, axis=1)) / scale)


def contraction_deviation(result: MinimizeResult, eta: float, target=(0.0, 0.0)) -> float:
    r""":math:`\max_k |(y_k - y^*) - (1 - \eta)^k (y_0 - y^*)| / |y_0 - y^*|`: how far the run is from the PG law :math:`y_{k+1} = y_k + \eta (y^* - y_k)`."""
    eta = check_positive(eta, "eta")
    target = as_vector(target, "target")
    ys = np.asarray(result.ys, dtype=float)
    k = np.arange(ys.shape[0])[:, None]
    predicted = (1.0 - eta) ** k * (ys[0] - target)
    scale = float(np.linalg.norm(ys[0] - target))
    return float(np.max(np.linalg.norm((ys - target) - predicted, axis=1)) / scale)


# --------------------------------------------------------------------------- numerical inverse
class NumericalInverse:
    r"""A local inverse by numerical minimisation: :math:`P^{-1}(y; x_0) = \arg\min_x |P(x) - y|^2`, L-BFGS-B started at :math:`x_0`.

    The start makes the inverse *local*: for :math:`y = (x_1, x_2^2)` the
    minimiser found from :math:`x_0` is the preimage on the side of
    :math:`x_{0,2}`.  With ``gradient=True`` the objective's gradient
    :math:`2 J^\top (P(x) - y)` is supplied; otherwise SciPy differentiates
    by finite differences (and counts those evaluations too).
    ``evaluations`` records the function evaluations (``nfev``) of every
    inversion.
    """

    def __init__(self, problem: "companion.problems.Problem", *, gradient: bool = True, ftol: float = 1e-15, gtol: float = 1e-12,
                 maxiter: int = 500):
        if not isinstance(problem, Problem):
            raise TypeError(f"problem must be a companion.Problem, got {type(problem).__name__}")
        if not isinstance(gradient, bool):
            raise TypeError("gradient must be True or False")
        self.problem = problem
        self.gradient = gradient
        self.options = {"ftol": check_positive(ftol, "ftol"), "gtol": check_positive(gtol, "gtol"),
                        "maxiter": check_int(maxiter, "maxiter", minimum=1)}
        self.evaluations: list[int] = []

    def __call__(self, y, x0) -> np.ndarray:
        from scipy.optimize import minimize as scipy_minimize

        y = as_vector(y, "y")
        x0 = as_vector(x0, "x0")
        problem = self.problem

        def objective(x):
            r = problem.output(x) - y
            value = float(r @ r)
            if self.gradient:
                return value, 2.0 * problem.jacobian_at(x).T @ r
            return value

        result = scipy_minimize(objective, x0, jac=self.gradient, method="L-BFGS-B", options=self.options)
        self.evaluations.append(int(result.nfev))
        return np.asarray(result.x, dtype=float)


def numerical_inverse_problem(problem: Optional[Problem] = None, **options) -> tuple[Problem, NumericalInverse]:
    r"""``problem`` with its analytic inverse replaced by :class:`NumericalInverse` (``options`` passed on).

    Returns the new problem and the inverse object (whose ``evaluations`` count the cost).

    >>> p, inverse = numerical_inverse_problem()
    >>> x = p.invert(np.array([2.1, 6.3]), np.array([3.0, 3.0]))
    >>> bool(np.allclose(x, [2.1, np.sqrt(6.3)], atol=1e-9)), len(inverse.evaluations)
    (True, 1)
    """
    problem = problem or published_problem()
    inverse = NumericalInverse(problem, **options)
    numerical = Problem(problem.simulator, problem.jacobian, problem.target, problem.loss,
                        problem.second_derivatives, problem.hessian, inverse,
                        name=f"{problem.name} (numerical inverse)")
    return numerical, inverse


def numerical_vs_analytic(eta: float = PUBLISHED_ETAS["PG"], *, problem: Optional[Problem] = None, x0=X0,
                          steps: int = STEPS, **options) -> dict:
    r"""The PG steps with the L-BFGS-B inverse against those with the analytic inverse.

    ``step_deviation``: :math:`\max_k |\Delta x_{\text{num}}(x_k) - \Delta x_{\text{analytic}}(x_k)|_\infty`
    over the iterates :math:`x_k` of the analytic run (same points, so only the
    inverses differ); ``path_deviation``: the largest distance between the two
    runs' iterates; ``evaluations``: function evaluations of each inversion of
    the numerical run.
    """
    problem = problem or published_problem()
    steps = check_int(steps, "steps", minimum=1)
    numerical, inverse = numerical_inverse_problem(problem, **options)
    analytic_run = minimize(problem, x0, rules.pg(eta), steps=steps)
    deviations = [float(np.max(np.abs(rules.pg_step(numerical, x, eta) - rules.pg_step(problem, x, eta))))
                  for x in analytic_run.xs[:-1]]
    inverse.evaluations.clear()
    numerical_run = minimize(numerical, x0, rules.pg(eta), steps=steps)
    evaluations = np.array(inverse.evaluations)
    return {
        "analytic": analytic_run,
        "numerical": numerical_run,
        "step_deviation": max(deviations),
        "path_deviation": float(np.max(np.abs(numerical_run.xs - analytic_run.xs))),
        "evaluations": evaluations,
        "mean_evaluations": float(evaluations.mean()),
    }


# --------------------------------------------------------------------------- exercises
def exercise_pg_distance(eta: float = PUBLISHED_ETAS["PG"], steps: int = STEPS, x0=X0) -> float:
    r"""Exercise 1: :math:`|x_k|` after ``steps`` PG iterations on the published toy, computed with companion.

    >>> round(exercise_pg_distance(), 6)
    0.511282
    """
    run = minimize(published_problem(), x0, rules.pg(eta), steps=steps)
    return float(np.linalg.norm(run.x))


def exercise_pg_distance_closed_form(eta: float = PUBLISHED_ETAS["PG"], steps: int = STEPS, x0=X0) -> float:
    r"""Exercise 1 in closed form: :math:`y_k = (1-\eta)^k y_0`, so :math:`x_k = ((1-\eta)^k x_{0,1},\ (1-\eta)^{k/2} x_{0,2})`.

    >>> round(exercise_pg_distance_closed_form(), 6)
    0.511282
    """
    a, b = x0
    q = 1.0 - eta
    if q < 0:
        raise ValueError("eta > 1 overshoots y2 below zero, where y = x2^2 has no preimage")
    return float(math.hypot(q**steps * a, math.sqrt(q**steps) * b))


def exercise_iterations_below(threshold: float = 1e-3, *, eta_newton: float = PUBLISHED_ETAS["Newton"],
                              eta_pg: float = PUBLISHED_ETAS["PG"], x0=X0, max_steps: int = 1000) -> dict:
    r"""Exercise 2: iterations until :math:`|x_2| <` ``threshold`` for Newton and PG, counted on companion runs.

    >>> exercise_iterations_below(1e-3)
    {'Newton': 68, 'PG': 45}
    """
    problem = published_problem()
    out = {}
    for method, eta in (("Newton", eta_newton), ("PG", eta_pg)):
        run = minimize(problem, x0, make_rule(method, eta), steps=max_steps)
        below = np.flatnonzero(np.abs(run.xs[:, 1]) < threshold)
        if below.size == 0:
            raise RuntimeError(f"{method} did not bring |x2| below {threshold} in {max_steps} steps")
        out[method] = int(below[0])
    return out


def exercise_iterations_below_closed_form(threshold: float = 1e-3, *, eta_newton: float = PUBLISHED_ETAS["Newton"],
                                          eta_pg: float = PUBLISHED_ETAS["PG"], x2: float = X0[1]) -> dict:
    r"""Exercise 2 in closed form: per step Newton multiplies :math:`x_2` by :math:`1 - \eta/3`, PG by :math:`\sqrt{1 - \eta}`.

    Newton on :math:`L = x_1^2 + x_2^4` divides :math:`4x_2^3` by :math:`12 x_2^2`;
    PG shrinks :math:`y_2 = x_2^2` by :math:`1 - \eta`.  The count is the
    smallest :math:`k` with :math:`|x_2|\, q^k <` ``threshold``.

    >>> exercise_iterations_below_closed_form(1e-3)
    {'Newton': 68, 'PG': 45}
    """
    out = {}
    for method, q in (("Newton", 1.0 - eta_newton / 3.0), ("PG", math.sqrt(1.0 - eta_pg))):
        k = math.log(threshold / abs(x2)) / math.log(q)
        out[method] = int(math.floor(k) + 1)
    return out
