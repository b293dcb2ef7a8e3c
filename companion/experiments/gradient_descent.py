r"""The computations of the chapter *Gradient descent*.

Gradient descent (GD) takes the step :math:`\Delta x_{GD} = -\eta\,\nabla_x L`.
This module derives it as the minimiser of a penalised first-order model and
measures three of its properties:

* **units** -- a ball thrown straight up, with its apex height in metres and
  its apex time in seconds (:func:`ball_apex`); the GD step has the units
  :math:`[L]/[x_i]` (:class:`Unit`, :func:`gd_step_units`), so the best
  :math:`\eta` of a parameter moves with the square of its unit
  (:func:`units_experiment`);
* **sensitivity** -- the scalar loss :math:`L = \alpha x`
  (:func:`linear_loss`), exploding and vanishing steps on the
  :math:`\alpha`-scaled toy, and the first-order loss decrease
  :math:`\eta |\nabla L|^2` (:func:`decrease_ratios`);
* **near the optimum** -- linear convergence with the rate
  :math:`\max_i |1 - \eta\lambda_i|` (:func:`near_optimum`);

and Adam's per-component normalisation (:func:`adam_comparison`).  The
exercises' answers are computed by the ``exercise_*`` functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .. import problems, rules
from .._checks import as_vector, check_int, check_positive
from ..driver import MinimizeResult, minimize
from ..problems import Loss, Problem
from ..tuning import SweepResult, log_grid, sweep_step_size

__all__ = [
    "Unit",
    "ONE",
    "KILOGRAM",
    "METRE",
    "SECOND",
    "JOULE",
    "gd_step_units",
    "eta_unit_for",
    "model_step",
    "GRAVITY",
    "BALL_TIMES",
    "BALL_TRUTH",
    "BALL_START",
    "ball_apex",
    "restrict",
    "UnitChoice",
    "units_experiment",
    "predicted_iterations",
    "physical_paths",
    "iterations_for_rate",
    "linear_loss",
    "linear_loss_first_steps",
    "loglog_slope",
    "divergent_run",
    "halving_steps",
    "decrease_ratios",
    "decrease_coefficient",
    "linear_rate",
    "measured_rate",
    "iterations_to_distance",
    "SQUARE_TARGET",
    "SQUARE_START",
    "SQUARE_OPTIMUM",
    "near_optimum",
    "rotated_alpha_scaled",
    "adam_comparison",
    "exercise_units",
    "exercise_quadratic_ratio",
    "exercise_optimal_rate",
]


# =========================================================================== units
@dataclass(frozen=True)
class Unit:
    r"""A physical unit as integer exponents of kilogram, metre and second.

    Units multiply, divide and take integer powers; ``str`` writes them as
    ``kg^a m^b s^c`` (``1`` when dimensionless).

    >>> str(KILOGRAM * METRE**2 / SECOND**2)
    'kg m^2 s^-2'
    >>> str(METRE / METRE)
    '1'
    """

    kg: int = 0
    m: int = 0
    s: int = 0

    def __mul__(self, other: "Unit") -> "Unit":
        if not isinstance(other, Unit):
            return NotImplemented
        return Unit(self.kg + other.kg, self.m + other.m, self.s + other.s)

    def __truediv__(self, other: "Unit") -> "Unit":
        if not isinstance(other, Unit):
            return NotImplemented
        return Unit(self.kg - other.kg, self.m - other.m, self.s - other.s)

    def __pow__(self, power: int) -> "Unit":
        power = check_int(power, "power", minimum=-(10**6))
        return Unit(self.kg * power, self.m * power, self.s * power)

    def latex(self) -> str:
        r"""The unit in LaTeX, e.g. ``\mathrm{kg\,m^{2}\,s^{-2}}``.

        >>> (METRE**2 / SECOND).latex()
        '\\mathrm{m^{2}\\,s^{-1}}'
        """
        parts = []
        for symbol, exponent in (("kg", self.kg), ("m", self.m), ("s", self.s)):
            if exponent == 1:
                parts.append(symbol)
            elif exponent != 0:
                parts.append(f"{symbol}^{{{exponent}}}")
        return r"\mathrm{" + r"\,".join(parts) + "}" if parts else "1"

    def unicode(self) -> str:
        """The unit with superscript exponents, e.g. ``kg·m²·s⁻²`` (for plain text).

        >>> JOULE.unicode()
        'kg·m²·s⁻²'
        """
        digits = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
        parts = []
        for symbol, exponent in (("kg", self.kg), ("m", self.m), ("s", self.s)):
            if exponent == 1:
                parts.append(symbol)
            elif exponent != 0:
                parts.append(symbol + str(exponent).translate(digits))
        return "·".join(parts) if parts else "1"

    @property
    def dimensionless(self) -> bool:
        return self.kg == 0 and self.m == 0 and self.s == 0

    def __str__(self) -> str:
        parts = []
        for symbol, exponent in (("kg", self.kg), ("m", self.m), ("s", self.s)):
            if exponent == 1:
                parts.append(symbol)
            elif exponent != 0:
                parts.append(f"{symbol}^{exponent}")
        return " ".join(parts) if parts else "1"


ONE = Unit()
KILOGRAM = Unit(kg=1)
METRE = Unit(m=1)
SECOND = Unit(s=1)
JOULE = KILOGRAM * METRE**2 / SECOND**2


def _check_unit(value, name: str) -> Unit:
    if not isinstance(value, Unit):
        raise TypeError(f"{name} must be a companion.experiments.gradient_descent.Unit, got {type(value).__name__}")
    return value


def gd_step_units(loss_unit: Unit, param_units: Sequence[Unit], eta_unit: Unit = ONE) -> list[Unit]:
    r"""Units of the components of :math:`\Delta x_{GD} = -\eta\,\nabla_x L`.

    :math:`[\Delta x_i] = [\eta]\,[L]/[x_i]`: the parameter sits in the
    *denominator* of :math:`\partial L/\partial x_i`.

    >>> [str(u) for u in gd_step_units(METRE**2, [METRE, SECOND])]
    ['m', 'm^2 s^-1']
    """
    loss_unit = _check_unit(loss_unit, "loss_unit")
    eta_unit = _check_unit(eta_unit, "eta_unit")
    if isinstance(param_units, Unit) or len(param_units) == 0:
        raise TypeError("param_units must be a non-empty sequence of Unit, one per parameter")
    return [eta_unit * loss_unit / _check_unit(u, f"param_units[{i}]") for i, u in enumerate(param_units)]


def eta_unit_for(loss_unit: Unit, param_unit: Unit) -> Unit:
    r"""The unit :math:`[x_i]^2/[L]` that :math:`\eta` needs for :math:`[\Delta x_i] = [x_i]`.

    >>> str(eta_unit_for(METRE**2, SECOND))
    'm^-2 s^2'
    """
    return _check_unit(param_unit, "param_unit") ** 2 / _check_unit(loss_unit, "loss_unit")


def model_step(gradient, eta: float) -> np.ndarray:
    r"""Minimise the penalised first-order model numerically.

    .. math::
        m(\Delta x) = L(x) + \nabla L^\top \Delta x + \frac{|\Delta x|^2}{2\eta}

    with ``scipy.optimize.minimize`` (BFGS), independently of the closed form
    :math:`-\eta\nabla L` that the chapter derives.

    >>> model_step([2.0, -1.0], 0.5).round(6)
    array([-1. ,  0.5])
    """
    from scipy.optimize import minimize as scipy_minimize

    gradient = as_vector(gradient, "gradient")
    eta = check_positive(eta, "eta")
    scale = max(eta * float(np.linalg.norm(gradient)), 1e-300)

    def model(u):  # in units of the expected step length, so the tolerance is relative
        dx = scale * u
        return (float(gradient @ dx) + float(dx @ dx) / (2.0 * eta)) / (scale * scale / eta)

    def model_gradient(u):
        dx = scale * u
        return (gradient + dx / eta) * scale / (scale * scale / eta)

    found = scipy_minimize(model, np.zeros_like(gradient), jac=model_gradient, method="BFGS",
                           options={"gtol": 1e-12})
    return scale * found.x


# =========================================================================== the ball
#: Gravitational acceleration in m/s^2.
GRAVITY = 9.81
#: Times (s) at which a camera records the height of the ball.
BALL_TIMES = np.linspace(0.0, 1.2, 7)
#: True apex height (m) and apex time (s): the optimum.
BALL_TRUTH = (2.0, 0.6)
#: The first guess of apex height (m) and apex time (s).
BALL_START = (1.0, 0.3)


def ball_apex(times=BALL_TIMES, truth=BALL_TRUTH, gravity: float = GRAVITY) -> Problem:
    r"""A ball thrown straight up: find its apex height :math:`x_1` (m) and apex time :math:`x_2` (s).

    The camera sees the heights :math:`y_j = x_1 - \tfrac{g}{2}(t_j - x_2)^2`
    (m) at the times :math:`t_j`; the target is the height record of the
    ball with apex ``truth``, and :math:`L = \tfrac12\sum_j (y_j - y_j^*)^2`
    is in :math:`\mathrm{m}^2`.  Jacobian columns: :math:`\partial y_j/\partial x_1 = 1`
    (dimensionless), :math:`\partial y_j/\partial x_2 = g\,(t_j - x_2)` (m/s);
    the only second derivative is :math:`\partial^2 y_j/\partial x_2^2 = -g`.

    >>> p = ball_apex()
    >>> float(p.loss_at(np.array(BALL_TRUTH)))
    0.0
    >>> float(p.output(np.array([2.0, 0.6]))[3])
    2.0
    """
    times = as_vector(times, "times")
    truth = as_vector(truth, "truth", size=2)
    gravity = check_positive(gravity, "gravity")

    def simulator(x):
        return x[0] - 0.5 * gravity * (times - x[1]) ** 2

    def jacobian(x):
        return np.column_stack([np.ones_like(times), gravity * (times - x[1])])

    def second(x):
        d2 = np.zeros((times.size, 2, 2))
        d2[:, 1, 1] = -gravity
        return d2

    return Problem(simulator, jacobian, simulator(truth), second_derivatives=second,
                   name="ball apex (height in m, time in s)")


def restrict(problem: Problem, index: int, at) -> Problem:
    r"""The one-parameter problem in :math:`x_{\text{index}}` with all other parameters fixed to ``at``.

    ``at`` is the full parameter vector; its component ``index`` is ignored.

    >>> p = restrict(ball_apex(), 0, BALL_TRUTH)
    >>> float(p.loss_at(np.array([2.0])))
    0.0
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a companion.Problem, got {type(problem).__name__}")
    at = as_vector(at, "at")
    index = check_int(index, "index")
    if index >= at.size:
        raise ValueError(f"index must be below the number of parameters {at.size}, got {index}")

    def full(z):
        x = at.copy()
        x[index] = z[0]
        return x

    second = hessian = None
    if problem.second_derivatives is not None:
        def second(z):
            return problem.second_derivatives(full(z))[:, index:index + 1, index:index + 1]
    if problem.hessian is not None:
        def hessian(z):
            return problem.hessian(full(z))[index:index + 1, index:index + 1]

    return Problem(
        simulator=lambda z: problem.simulator(full(z)),
        jacobian=lambda z: problem.jacobian_at(full(z))[:, index:index + 1],
        target=problem.target,
        loss=problem.loss,
        second_derivatives=second,
        hessian=hessian,
        name=f"{problem.name}, only x_{index + 1}",
    )


@dataclass(frozen=True)
class UnitChoice:
    r"""What one choice of units does to GD on the ball.

    ``scale`` is :math:`D` in :math:`x = D z` (``(1e-3, 1)``: height in mm);
    ``sweeps`` holds the step-size sweeps for the height alone, the time alone
    (the other parameter held at its optimum) and both together;
    ``best_etas`` the three best step sizes; ``hessian_eigenvalues`` those of
    the Hessian at the optimum in these units.
    """

    name: str
    scale: np.ndarray
    sweeps: dict
    best_etas: dict
    hessian_eigenvalues: np.ndarray

    @property
    def joint(self) -> MinimizeResult:
        """The best run of the joint sweep."""
        return self.sweeps["both"].best


def units_experiment(units: dict | None = None, *, etas=None, steps: int = 100, joint_steps: int = 300,
                     tol: float = 1e-12) -> dict:
    r"""Sweep :math:`\eta` for GD on the ball in several unit choices.

    ``units`` maps a name to the scale :math:`D` of :math:`x = D z`; default
    ``{"m, s": (1, 1), "mm, s": (1e-3, 1)}``.  For each choice three sweeps
    over the same grid: the height alone, the time alone (the other
    parameter at its optimum) and both, all with the *physical* tolerance
    ``tol`` on :math:`L` (in :math:`\mathrm{m}^2`, whatever the units of
    :math:`x`).  Returns ``{name: UnitChoice}``.
    """
    if units is None:
        units = {"m, s": (1.0, 1.0), "mm, s": (1e-3, 1.0)}
    if not isinstance(units, dict) or not units:
        raise TypeError("units must be a non-empty dict {name: (scale of x_1, scale of x_2)}")
    etas = log_grid(1e-4, 1e7, 2) if etas is None else np.asarray(etas, dtype=float)
    ball = ball_apex()
    truth = np.asarray(BALL_TRUTH)
    start = np.asarray(BALL_START)
    out = {}
    for name, scale in units.items():
        scale = as_vector(scale, f"units[{name!r}]", size=2)
        q = problems.reparametrize(ball, scale)
        z_truth, z_start = truth / scale, start / scale
        sweeps = {}
        for label, index in (("height", 0), ("time", 1)):
            sub = restrict(q, index, z_truth)
            sweeps[label] = sweep_step_size(sub, z_start[index:index + 1], rules.gd, etas, steps=steps, tol=tol)
        sweeps["both"] = sweep_step_size(q, z_start, rules.gd, etas, steps=joint_steps, tol=tol)
        eigenvalues = np.linalg.eigvalsh(q.hessian_at(z_truth))
        best = {label: sweep.best_eta for label, sweep in sweeps.items()}
        out[name] = UnitChoice(name, scale, sweeps, best, eigenvalues)
    return out


def predicted_iterations(choice: UnitChoice, tol: float = 1e-12) -> float:
    r"""Steps the best joint GD run of ``choice`` needs to bring :math:`L` to ``tol``, from the Hessian at the optimum.

    The slow direction is the eigenvector :math:`v` of the smallest eigenvalue
    :math:`\lambda_{\min}`; its error :math:`e_0 = |v^\top (z_0 - z^*)|` must
    fall to :math:`\sqrt{2\,\mathrm{tol}/\lambda_{\min}}` at the rate
    :math:`1 - \eta\lambda_{\min}` (an asymptotic estimate that ignores the
    nonlinear start).
    """
    if not isinstance(choice, UnitChoice):
        raise TypeError(f"choice must be a UnitChoice from units_experiment, got {type(choice).__name__}")
    tol = check_positive(tol, "tol")
    q = problems.reparametrize(ball_apex(), choice.scale)
    z_truth = np.asarray(BALL_TRUTH) / choice.scale
    z_start = np.asarray(BALL_START) / choice.scale
    eigenvalues, vectors = np.linalg.eigh(q.hessian_at(z_truth))
    error = abs(float(vectors[:, 0] @ (z_start - z_truth)))
    reduction = math.sqrt(2.0 * tol / eigenvalues[0]) / error
    return iterations_for_rate(1.0 - choice.best_etas["both"] * eigenvalues[0], reduction)


def physical_paths(eta: float, steps: int, units: dict | None = None) -> dict:
    r"""GD with the *same number* ``eta`` in each unit choice, its iterates converted back to (m, s).

    Returns ``{name: (steps + 1, 2) array}`` of apex height in metres and
    apex time in seconds.
    """
    if units is None:
        units = {"m, s": (1.0, 1.0), "mm, s": (1e-3, 1.0)}
    eta = check_positive(eta, "eta")
    steps = check_int(steps, "steps", minimum=1)
    ball = ball_apex()
    out = {}
    for name, scale in units.items():
        scale = as_vector(scale, f"units[{name!r}]", size=2)
        run = minimize(problems.reparametrize(ball, scale), np.asarray(BALL_START) / scale, rules.gd(eta),
                       steps=steps)
        out[name] = run.xs * scale
    return out


def iterations_for_rate(rate: float, reduction: float) -> float:
    r"""Steps :math:`k` with :math:`\text{rate}^k = \text{reduction}`: :math:`\ln(\text{reduction})/\ln(\text{rate})`.

    >>> round(iterations_for_rate(0.5, 1e-3), 3)
    9.966
    """
    rate = float(rate)
    reduction = float(reduction)
    if not 0 < rate < 1:
        raise ValueError(f"rate must lie in (0, 1) for a converging iteration, got {rate}")
    if not 0 < reduction < 1:
        raise ValueError(f"reduction must lie in (0, 1), got {reduction}")
    return math.log(reduction) / math.log1p(rate - 1.0)


# =========================================================================== sensitivity
def linear_loss(alpha: float) -> Problem:
    r"""The scalar loss :math:`L(x) = \alpha x`: simulator :math:`y = \alpha x`, loss :math:`L(y) = y`.

    It has no minimum; it only serves to look at one GD step.

    >>> float(linear_loss(3.0).gradient_at(np.array([0.5]))[0])
    3.0
    """
    if isinstance(alpha, bool) or not np.isscalar(alpha) or not np.isfinite(alpha) or alpha == 0:
        raise ValueError(f"alpha must be a finite non-zero number, got {alpha!r}")
    alpha = float(alpha)
    identity = Loss(
        value=lambda y, target: float(y[0]),
        gradient=lambda y, target: np.ones(1),
        hessian=lambda y, target: np.zeros((1, 1)),
        name="L(y) = y",
    )
    return Problem(lambda x: alpha * x, lambda x: np.array([[alpha]]), target=[0.0], loss=identity,
                   name=f"L = {alpha:g} x")


def linear_loss_first_steps(alphas, eta: float, x0: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    r"""One GD step on :math:`L = \alpha x` for each ``alpha``: ``(|dx|, |dL|)``.

    Expected: :math:`|\Delta x| = \eta\alpha`, :math:`|\Delta L| = \eta\alpha^2`.

    >>> dx, dl = linear_loss_first_steps([1.0, 10.0], 0.1)
    >>> dx.round(12), dl.round(12)
    (array([0.1, 1. ]), array([ 0.1, 10. ]))
    """
    alphas = as_vector(alphas, "alphas")
    rule = rules.gd(eta)
    x = np.array([float(x0)])
    dxs, dls = [], []
    for alpha in alphas:
        p = linear_loss(float(alpha))
        dx = rule.first_step(p, x)
        dxs.append(abs(dx[0]))
        dls.append(abs(p.loss_at(x + dx) - p.loss_at(x)))
    return np.array(dxs), np.array(dls)


def loglog_slope(x, y) -> float:
    r"""Least-squares slope of :math:`\log y` against :math:`\log x`.

    >>> round(loglog_slope([1, 10, 100], [2, 200, 20000]), 12)
    2.0
    """
    x = as_vector(x, "x")
    y = as_vector(y, "y", size=x.size)
    if x.size < 2 or np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("x and y need at least two points, all positive")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def divergent_run(alpha: float = 100.0, factor: float = 1.5, x0=(1.0, 1.0), steps: int = 500) -> MinimizeResult:
    r"""GD on ``alpha_scaled(alpha)`` with :math:`\eta = \text{factor}\cdot 2/\alpha^2`, above the stability limit.

    Along :math:`x_2` each step multiplies the error by :math:`1 - \eta\alpha^2`,
    of modulus ``2 * factor - 1`` > 1 for ``factor`` > 1.

    >>> divergent_run().status_name
    'diverged'
    """
    factor = check_positive(factor, "factor")
    eta = factor * 2.0 / float(alpha) ** 2
    return minimize(problems.alpha_scaled(alpha), x0, rules.gd(eta), steps=steps)


def halving_steps(alpha: float, eta: float, x0=(1.0, 1.0), max_steps: int = 100_000) -> tuple[int, float]:
    r"""Steps of GD on ``alpha_scaled(alpha)`` until :math:`|x_1|` has halved: ``(measured, predicted)``.

    Along :math:`x_1` the curvature is 1, so :math:`x_1 \mapsto (1-\eta) x_1`
    and the prediction is :math:`\ln 2 / (-\ln(1 - \eta))`; the measured
    count is the first integer :math:`k` at or above it.

    >>> measured, predicted = halving_steps(10.0, 0.01)
    >>> measured, round(predicted, 6)
    (69, 68.967564)
    """
    eta = check_positive(eta, "eta")
    if eta >= 1:
        raise ValueError(f"eta must be below 1 so that x_1 shrinks monotonically, got {eta}")
    x0 = as_vector(x0, "x0", size=2)
    half = 0.5 * abs(x0[0])
    run = minimize(problems.alpha_scaled(alpha), x0, rules.gd(eta), steps=max_steps,
                   callback=lambda it: abs(it.x[0]) <= half)
    if run.status != 5:
        raise RuntimeError(f"x_1 did not halve within max_steps={max_steps}: {run.message}")
    return run.nit, math.log(2.0) / -math.log1p(-eta)


def decrease_ratios(problem: Problem, x, etas) -> np.ndarray:
    r"""The measured loss decrease of one GD step over its first-order prediction.

    .. math::
        r(\eta) = \frac{L(x) - L(x - \eta\nabla L)}{\eta\,|\nabla L|^2}
                = 1 - \eta\,\frac{\nabla L^\top H \nabla L}{2|\nabla L|^2} + O(\eta^2)

    >>> decrease_ratios(problems.alpha_scaled(1.0), [1.0, 1.0], [0.1, 0.5]).round(12)
    array([0.95, 0.75])
    """
    x = as_vector(x, "x")
    etas = as_vector(etas, "etas")
    g = problem.gradient_at(x)
    g2 = float(g @ g)
    if g2 == 0:
        raise ValueError("the gradient vanishes at x: there is no first-order decrease to compare with")
    value = problem.loss_at(x)
    return np.array([(value - problem.loss_at(x - eta * g)) / (eta * g2) for eta in etas])


def decrease_coefficient(problem: Problem, x) -> float:
    r""":math:`c = \nabla L^\top H \nabla L / (2|\nabla L|^2)`: the ratio is :math:`1 - c\,\eta + O(\eta^2)`."""
    x = as_vector(x, "x")
    g = problem.gradient_at(x)
    return float(g @ problem.hessian_at(x) @ g) / (2.0 * float(g @ g))


# =========================================================================== near the optimum
#: ``square_second`` with this target has its optimum at ``SQUARE_OPTIMUM`` (for x_2 > 0).
SQUARE_TARGET = (1.0, 4.0)
SQUARE_START = (3.0, 3.0)
SQUARE_OPTIMUM = (1.0, 2.0)


def linear_rate(eta: float, eigenvalues) -> float:
    r"""The asymptotic rate :math:`\max_i |1 - \eta\lambda_i|` of GD near a minimum with Hessian eigenvalues :math:`\lambda_i`.

    >>> linear_rate(0.1, [1.0, 16.0])
    0.9
    """
    eta = check_positive(eta, "eta")
    eigenvalues = as_vector(eigenvalues, "eigenvalues")
    return float(np.max(np.abs(1.0 - eta * eigenvalues)))


def measured_rate(errors, last: int = 20) -> float:
    r"""Geometric mean of :math:`e_{k+1}/e_k` over the ``last`` ratios before the errors fall below ``1e-12``.

    >>> measured_rate(0.5 ** np.arange(30))
    0.5
    """
    errors = np.asarray(errors, dtype=float)
    last = check_int(last, "last", minimum=1)
    usable = errors[errors > 1e-12 * max(errors[0], 1e-300)]
    if usable.size < last + 1:
        raise ValueError(f"need at least {last + 1} errors above the noise floor, got {usable.size}")
    tail = usable[-(last + 1):]
    return float(np.exp(np.mean(np.log(tail[1:] / tail[:-1]))))


def iterations_to_distance(xs, optimum, tol: float) -> float:
    r"""First :math:`k` with :math:`|x_k - x^*| \le` ``tol``, ``inf`` if none.

    >>> iterations_to_distance(np.array([[1.0], [0.1], [0.01]]), [0.0], 0.05)
    2
    """
    xs = np.asarray(xs, dtype=float)
    optimum = as_vector(optimum, "optimum", size=xs.shape[1])
    tol = check_positive(tol, "tol")
    distance = np.linalg.norm(xs - optimum, axis=1)
    hits = np.flatnonzero(distance <= tol)
    return int(hits[0]) if hits.size else math.inf


def near_optimum(etas=None, *, steps: int = 600, tol: float = 1e-20,
                 tolerances: Sequence[float] = (1e-2, 1e-4, 1e-8)) -> dict:
    r"""GD near the optimum of ``square_second(target=SQUARE_TARGET)`` from ``SQUARE_START``.

    Sweeps :math:`\eta` (loss tolerance ``tol``), takes the best run and
    returns its distances :math:`|x_k - x^*|`, step lengths
    :math:`|\Delta x_k|`, the rate predicted from the Hessian at the optimum
    and the measured one, iterations to the distance ``tolerances``, and one
    Newton run from the same start for comparison.
    """
    etas = log_grid(0.01, 0.3, 8) if etas is None else np.asarray(etas, dtype=float)
    p = problems.square_second(target=SQUARE_TARGET)
    optimum = np.asarray(SQUARE_OPTIMUM)
    sweep = sweep_step_size(p, SQUARE_START, rules.gd, etas, steps=steps, tol=tol)
    run = sweep.best
    eigenvalues = np.linalg.eigvalsh(p.hessian_at(optimum))
    distances = np.linalg.norm(run.xs - optimum, axis=1)
    newton = minimize(p, SQUARE_START, rules.newton(), steps=50, tol=tol)
    return {
        "problem": p,
        "sweep": sweep,
        "eta": sweep.best_eta,
        "run": run,
        "distances": distances,
        "step_lengths": np.linalg.norm(run.steps(), axis=1),
        "eigenvalues": eigenvalues,
        "predicted_rate": linear_rate(sweep.best_eta, eigenvalues),
        "measured_rate": measured_rate(distances),
        "tolerances": tuple(float(t) for t in tolerances),
        "gd_iterations": [iterations_to_distance(run.xs, optimum, t) for t in tolerances],
        "newton": newton,
        "newton_iterations": [iterations_to_distance(newton.xs, optimum, t) for t in tolerances],
    }


# =========================================================================== Adam
def rotated_alpha_scaled(alpha: float, angle: float = math.pi / 4) -> Problem:
    r"""The :math:`\alpha`-scaled toy seen in coordinates rotated by ``angle``: :math:`P(x) = \mathrm{diag}(1, \alpha)\, R(\text{angle})\, x`.

    Same singular values :math:`1, \alpha` as ``alpha_scaled(alpha)``, but the
    sensitive direction is no longer a coordinate axis.

    >>> np.linalg.svd(rotated_alpha_scaled(10.0).jacobian_at(np.zeros(2)), compute_uv=False).round(12)
    array([10.,  1.])
    """
    c, s = math.cos(angle), math.sin(angle)
    matrix = np.diag([1.0, float(alpha)]) @ np.array([[c, -s], [s, c]])
    return problems.linear(matrix, np.zeros(2))


def adam_comparison(alphas=(1.0, 10.0, 100.0), *, x0=(1.0, 0.5), tol: float = 1e-3, etas=None,
                    steps: int = 2500) -> list[dict]:
    r"""Adam on the :math:`\alpha`-scaled toy, axis-aligned and rotated by 45 degrees.

    For each ``alpha``: Adam's first step divided by :math:`\eta`, and the
    fewest iterations to :math:`|x| \le` ``tol`` over a sweep of :math:`\eta`
    (``sweep_step_size``; each run stops at the tolerance through a
    callback, and the best :math:`\eta` is the one that gets there first).
    Each row also keeps the two sweeps (``"aligned_sweep"``, ``"rotated_sweep"``)
    as ``(eta, iterations)`` pairs, ``inf`` where the budget ran out.
    """
    etas = log_grid(0.01, 10.0, 2) if etas is None else np.asarray(etas, dtype=float)
    tol = check_positive(tol, "tol")
    x0 = as_vector(x0, "x0", size=2)

    def stop(iterate):
        return float(np.linalg.norm(iterate.x)) <= tol

    def counts(sweep: SweepResult):
        return [(float(e), r.nit if r.status == 5 else math.inf) for e, r in zip(sweep.etas, sweep.results)]

    rows = []
    for alpha in alphas:
        row = {"alpha": float(alpha),
               "first_step": rules.adam(1.0).first_step(problems.alpha_scaled(alpha), x0)}
        for label, p in (("aligned", problems.alpha_scaled(alpha)), ("rotated", rotated_alpha_scaled(alpha))):
            table = counts(sweep_step_size(p, x0, rules.adam, etas, steps=steps, callback=stop))
            best_eta, best_count = min(table, key=lambda pair: (pair[1], pair[0]))
            row[label], row[f"{label}_eta"], row[f"{label}_sweep"] = best_count, best_eta, table
        rows.append(row)
    return rows


# =========================================================================== exercises
def exercise_units() -> dict:
    r"""Exercise 1: :math:`L` in joules, :math:`x_1` in metres, :math:`x_2` in seconds.

    Returns the units of the two GD step components for a dimensionless
    :math:`\eta`, the unit of :math:`\eta` that makes :math:`\Delta x_1` a
    length, the unit :math:`\Delta x_2` then has, and the unit of the factor
    :math:`\eta_2/\eta_1` that the second parameter would need.

    >>> {k: str(v) for k, v in exercise_units().items()}["eta_for_x1"]
    'kg^-1 s^2'
    """
    step = gd_step_units(JOULE, [METRE, SECOND])
    eta1 = eta_unit_for(JOULE, METRE)
    eta2 = eta_unit_for(JOULE, SECOND)
    return {
        "step_x1": step[0],
        "step_x2": step[1],
        "eta_for_x1": eta1,
        "step_x2_with_eta1": gd_step_units(JOULE, [SECOND], eta1)[0],
        "eta_for_x2": eta2,
        "factor": eta2 / eta1,
    }


def exercise_quadratic_ratio(lam: float = 4.0, eta: float = 0.1, x0: float = 1.5) -> tuple[float, float]:
    r"""Exercise 2: the decrease ratio on :math:`L = \lambda x^2/2`, measured and in closed form :math:`1 - \eta\lambda/2`.

    >>> [round(v, 12) for v in exercise_quadratic_ratio(4.0, 0.1)]
    [0.8, 0.8]
    """
    lam = check_positive(lam, "lam")
    p = problems.linear([[math.sqrt(lam)]], [0.0])  # L = 1/2 (sqrt(lam) x)^2 = lam x^2 / 2
    measured = float(decrease_ratios(p, [x0], [eta])[0])
    return measured, 1.0 - eta * lam / 2.0


def exercise_optimal_rate(eigenvalues) -> tuple[float, float]:
    r"""Exercise 3: the :math:`\eta` that minimises :math:`\max_i|1-\eta\lambda_i|` and the rate it gives.

    :math:`\eta^\star = 2/(\lambda_{\min}+\lambda_{\max})`, rate
    :math:`(\kappa-1)/(\kappa+1)` with :math:`\kappa = \lambda_{\max}/\lambda_{\min}`.

    >>> [round(v, 12) for v in exercise_optimal_rate([1.0, 16.0])]
    [0.117647058824, 0.882352941176]
    """
    eigenvalues = as_vector(eigenvalues, "eigenvalues")
    if np.any(eigenvalues <= 0):
        raise ValueError("eigenvalues must all be positive (a minimum with positive curvature)")
    low, high = float(eigenvalues.min()), float(eigenvalues.max())
    return 2.0 / (low + high), (high - low) / (high + low)
