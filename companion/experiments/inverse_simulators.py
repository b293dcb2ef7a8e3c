r"""Computations of the chapter *Inverse simulators* (``book/inverse_simulators.ipynb``).

The inverse-simulator step {eq}`eq-pg`,

.. math::
    \Delta x_{PG} = P^{-1}(y_0 + \Delta y;\, x_0) - x_0 ,

with :math:`\Delta y` the Newton step of the loss in :math:`y` ({eq}`eq-dy`), is
examined here from six sides: its exactness in :math:`y`, the choice of root of
a non-injective simulator, the relation between local and global inverses,
the averaged-gradient view (fundamental theorem of calculus), time reversal
of a reversible and of a dissipative simulator, and losses other than the
squared error together with the fall-back to a gradient.

Every function is small and pure; seeds are passed in explicitly.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from .. import problems, rules
from .._checks import as_vector, check_int, check_positive
from ..driver import MinimizeResult, minimize
from ..problems import Loss, Problem

__all__ = [
    "Exactness",
    "exactness",
    "one_shot",
    "square_runs",
    "geometric_deviation",
    "exercise_square_step",
    "exercise_square_step_closed_form",
    "linearised_inverse",
    "local_vs_global",
    "fit_slope",
    "inverse_derivative_1d",
    "averaged_inverse_derivative",
    "pg_quotient",
    "quotient_errors",
    "path_integral_step",
    "exercise_exp_average",
    "pendulum_setup",
    "reversal_error",
    "pendulum_comparison",
    "HeatSetup",
    "heat_setup",
    "rms",
    "naive_inversion",
    "regularised_inversion",
    "relative_noise_level",
    "cutoff_sweep",
    "weighted_loss",
    "quartic_loss",
    "newton_dy_vs_residual",
    "fallback_runs",
]


# --------------------------------------------------------------------------- 1. exactness in y
class Exactness(NamedTuple):
    """The PG and IG steps from one point and how far each lands from :math:`y_0 + \\Delta y`."""

    dy: np.ndarray
    dx_pg: np.ndarray
    dx_ig: np.ndarray
    residual_pg: float
    residual_ig: float


def exactness(problem: Problem, x0, eta: float = 0.5) -> Exactness:
    r"""Compare :math:`P(x_0 + \Delta x)` with the requested :math:`y_0 + \Delta y` for PG and IG.

    The residuals are :math:`\max_i |P(x_0 + \Delta x)_i - (y_0 + \Delta y)_i|`.
    PG hits the requested output exactly (up to rounding), whatever the
    nonlinearity of :math:`P`; the linearised IG step misses by
    :math:`O(|\Delta y|^2)`.

    >>> e = exactness(problems.square_second(), [3.0, 3.0], 0.5)
    >>> e.residual_pg < 1e-14, round(e.residual_ig, 4)
    (True, 0.5625)
    """
    eta = check_positive(eta, "eta")
    x0 = as_vector(x0, "x0")
    y0 = problem.output(x0)
    dy = problem.newton_step_in_y(y0, eta)
    dx_pg = rules.pg_step(problem, x0, eta)
    dx_ig = rules.ig_direction(problem, x0, dy)
    wanted = y0 + dy
    residual_pg = float(np.max(np.abs(problem.output(x0 + dx_pg) - wanted)))
    residual_ig = float(np.max(np.abs(problem.output(x0 + dx_ig) - wanted)))
    return Exactness(dy, dx_pg, dx_ig, residual_pg, residual_ig)


def one_shot(problem: Problem, x0, *, tol: float = 1e-24) -> MinimizeResult:
    r"""PG with :math:`\eta = 1`: a single evaluation of the inverse reaches a reachable target.

    >>> one_shot(problems.square_second(target=(1.0, 4.0)), [3.0, 3.0]).nit
    1
    """
    return minimize(problem, x0, rules.pg(1.0), steps=5, tol=tol)


# --------------------------------------------------------------------------- 2. y = x^2
def square_runs(starts: Sequence[float], target: float = 4.0, eta: float = 0.5,
                steps: int = 40) -> list[MinimizeResult]:
    r"""PG on :math:`y = x^2` from each start; the local inverse keeps the sign of the start.

    >>> [float(r.x[0]) for r in square_runs([-3.0, 0.5], target=4.0, eta=1.0, steps=3)]
    [-2.0, 2.0]
    """
    eta = check_positive(eta, "eta")
    steps = check_int(steps, "steps")
    problem = problems.scalar_square(target=target)
    return [minimize(problem, [float(s)], rules.pg(eta), steps=steps) for s in starts]


def geometric_deviation(result: MinimizeResult, target, eta: float) -> float:
    r"""Largest relative deviation of the PG path in :math:`y` from the straight line.

    For the L2 loss, :math:`y_{k+1} = y_k + \eta (y^* - y_k)`, hence
    :math:`y_k - y^* = (1 - \eta)^k (y_0 - y^*)`: the path runs straight to the
    target and the distance shrinks geometrically.  Returned:
    :math:`\max_k |(y_k - y^*) - (1-\eta)^k (y_0 - y^*)| / |y_0 - y^*|`.
    """
    eta = check_positive(eta, "eta")
    target = as_vector(target, "target")
    ys = np.asarray(result.ys, dtype=float)
    k = np.arange(ys.shape[0])[:, None]
    predicted = (1.0 - eta) ** k * (ys[0] - target)
    scale = float(np.max(np.abs(ys[0] - target)))
    if scale == 0:
        raise ValueError("the run starts at the target: nothing to compare")
    return float(np.max(np.abs((ys - target) - predicted)) / scale)


def exercise_square_step(x0: float = -3.0, target: float = 4.0, eta: float = 0.5) -> float:
    r"""Exercise 1: the PG step on :math:`y = x^2`, computed with the companion rule.

    >>> f"{exercise_square_step():.6f}"
    '0.450490'
    """
    problem = problems.scalar_square(target=target)
    return float(rules.pg_step(problem, np.array([float(x0)]), eta)[0])


def exercise_square_step_closed_form(x0: float = -3.0, target: float = 4.0, eta: float = 0.5) -> float:
    r"""Exercise 1 in closed form: :math:`\operatorname{sign}(x_0)\sqrt{x_0^2 + \eta (y^* - x_0^2)} - x_0`.

    >>> f"{exercise_square_step_closed_form():.6f}"
    '0.450490'
    """
    y = x0**2 + eta * (target - x0**2)
    if y < 0:
        raise ValueError(f"x0^2 + eta (target - x0^2) = {y:.3g} < 0: no real root")
    sign = 1.0 if x0 >= 0 else -1.0
    return float(sign * np.sqrt(y) - x0)


# --------------------------------------------------------------------------- 3. local vs global inverse
def linearised_inverse(problem: Problem, y, x0) -> np.ndarray:
    r"""The first-order local inverse :math:`x_0 + J(x_0)^{-1} (y - P(x_0))` (one IG step).

    >>> linearised_inverse(problems.exponential(), [np.e], [1.0])
    array([1.])
    """
    x0 = as_vector(x0, "x0")
    y = as_vector(y, "y", size=problem.output_size)
    return x0 + rules.ig_direction(problem, x0, y - problem.output(x0))


def local_vs_global(x0: float, dys: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    r"""Errors of two local inverses of :math:`y = e^x` against the global inverse :math:`\log y`.

    Returns ``(exact, linear)``: for each :math:`\Delta y`, the distance
    :math:`|P^{-1}(y_0+\Delta y; x_0) - \log(y_0+\Delta y)|` of the problem's own
    local inverse (which *is* the logarithm, so the errors are zero) and of the
    linearised inverse :func:`linearised_inverse`, whose error is
    :math:`\tfrac12 (\Delta y / y_0)^2 + O(\Delta y^3)`.

    >>> exact, linear = local_vs_global(0.0, [1e-2])
    >>> float(exact[0]), round(float(linear[0]) / 0.5e-4, 2)
    (0.0, 0.99)
    """
    problem = problems.exponential()
    x0v = np.array([float(x0)])
    y0 = float(problem.output(x0v)[0])
    exact, linear = [], []
    for dy in np.asarray(dys, dtype=float):
        y = np.array([y0 + dy])
        truth = np.log(y[0])
        exact.append(abs(problem.invert(y, x0v)[0] - truth))
        linear.append(abs(linearised_inverse(problem, y, x0v)[0] - truth))
    return np.array(exact), np.array(linear)


def fit_slope(h, error) -> float:
    r"""Slope of :math:`\log(\mathrm{error})` against :math:`\log h` by least squares (the convergence order).

    >>> round(fit_slope([1e-3, 1e-2, 1e-1], [1e-6, 1e-4, 1e-2]), 6)
    2.0
    """
    h = np.abs(as_vector(h, "h"))
    error = np.abs(as_vector(error, "error", size=h.size))
    if np.any(h == 0) or np.any(error == 0):
        raise ValueError("h and error must be non-zero to take logarithms")
    return float(np.polyfit(np.log(h), np.log(error), 1)[0])


# --------------------------------------------------------------------------- 4. averaged gradient
def inverse_derivative_1d(problem: Problem, y: float, x0) -> float:
    r"""The derivative of the local inverse, :math:`\mathrm{d}x/\mathrm{d}y = 1/P'(x)` at :math:`x = P^{-1}(y; x_0)`."""
    x = problem.invert(np.array([float(y)]), as_vector(x0, "x0", size=1))
    return 1.0 / float(problem.jacobian_at(x)[0, 0])


def averaged_inverse_derivative(problem: Problem, x0, dy: float) -> float:
    r"""The path average :math:`\frac{1}{\Delta y}\int_{y_0}^{y_0+\Delta y} \frac{\mathrm{d}x}{\mathrm{d}y}(y')\,\mathrm{d}y'` by quadrature.

    By the fundamental theorem of calculus it equals
    :math:`\Delta x_{PG} / \Delta y` (:func:`pg_quotient`).

    >>> p = problems.scalar_square()
    >>> round(averaged_inverse_derivative(p, [1.0], 3.0), 12)
    0.333333333333
    """
    from scipy.integrate import quad

    x0 = as_vector(x0, "x0", size=1)
    if dy == 0:
        raise ValueError("dy must be non-zero")
    y0 = float(problem.output(x0)[0])
    value, _ = quad(lambda y: inverse_derivative_1d(problem, y, x0), y0, y0 + dy, epsabs=0.0, epsrel=1e-13)
    return value / dy


def pg_quotient(problem: Problem, x0, dy: float) -> float:
    r""":math:`\Delta x_{PG}/\Delta y = (P^{-1}(y_0 + \Delta y; x_0) - x_0)/\Delta y` for a scalar problem.

    >>> round(pg_quotient(problems.scalar_square(), [1.0], 3.0), 12)
    0.333333333333
    """
    x0 = as_vector(x0, "x0", size=1)
    if dy == 0:
        raise ValueError("dy must be non-zero")
    y0 = problem.output(x0)
    return float((problem.invert(y0 + dy, x0) - x0)[0]) / dy


def quotient_errors(problem: Problem, x0, dys: Sequence[float]) -> np.ndarray:
    r""":math:`|\Delta x_{PG}/\Delta y - \mathrm{d}x/\mathrm{d}y(y_0)|` for each :math:`\Delta y`.

    The PG step is :math:`\Delta x_{PG} = \frac{\mathrm{d}x}{\mathrm{d}y}\Delta y + O(\Delta y^2)`, so the
    quotient differs from the local derivative by :math:`O(\Delta y)`, first order.
    """
    x0 = as_vector(x0, "x0", size=1)
    local = 1.0 / float(problem.jacobian_at(x0)[0, 0])
    return np.array([abs(pg_quotient(problem, x0, float(dy)) - local) for dy in np.asarray(dys, float)])


def path_integral_step(problem: Problem, x0, dy) -> np.ndarray:
    r"""The PG step as a path integral of the inverse Jacobian along the straight line in :math:`y`.

    .. math::
        \Delta x_{PG} = \int_0^1 J\big(x(t)\big)^{-1} \Delta y \,\mathrm{d}t ,
        \qquad x(t) = P^{-1}(y_0 + t\,\Delta y;\, x_0),

    because :math:`\mathrm{d}x/\mathrm{d}t = J^{-1}\,\mathrm{d}y/\mathrm{d}t = J^{-1}\Delta y` along the path.

    >>> p = problems.square_second()
    >>> path_integral_step(p, [3.0, 3.0], [-1.5, -4.5]).round(10)
    array([-1.5       , -0.87867966])
    """
    from scipy.integrate import quad_vec

    x0 = as_vector(x0, "x0")
    y0 = problem.output(x0)
    dy = as_vector(dy, "dy", size=y0.size)

    def integrand(t):
        x = problem.invert(y0 + t * dy, x0)
        return np.linalg.solve(problem.jacobian_at(x), dy)

    value, _ = quad_vec(integrand, 0.0, 1.0, epsabs=1e-14, epsrel=1e-13)
    return value


def exercise_exp_average(x0: float = 0.0, target: float = float(np.exp(2.0)), eta: float = 1.0) -> dict:
    r"""Exercise 2: the averaged gradient of :math:`y = e^x` over one PG step.

    With :math:`y_0 = e^{x_0}` and :math:`\Delta y = \eta (y^* - y_0)`, the average of
    :math:`\mathrm{d}x/\mathrm{d}y = 1/y'` over :math:`[y_0, y_0 + \Delta y]` is
    :math:`\ln(1 + \Delta y/y_0)/\Delta y`.  Returned: the quadrature value
    (``average``), the PG quotient (``quotient``), the local derivative at
    :math:`y_0` (``local``, the IG quotient) and the PG step (``dx_pg``).

    >>> a = exercise_exp_average()
    >>> round(a["dx_pg"], 12), round(a["average"], 6)
    (2.0, 0.313035)
    """
    problem = problems.exponential(target=target)
    x0v = np.array([float(x0)])
    y0 = float(problem.output(x0v)[0])
    dy = float(problem.newton_step_in_y(np.array([y0]), eta)[0])
    return {
        "dy": dy,
        "dx_pg": float(rules.pg_step(problem, x0v, eta)[0]),
        "average": averaged_inverse_derivative(problem, x0v, dy),
        "quotient": pg_quotient(problem, x0v, dy),
        "local": 1.0 / y0,
    }


# --------------------------------------------------------------------------- 5. time reversal
def pendulum_setup(n: int = 6, *, coupling: float = 4.0, dt: float = 0.1, steps: int = 50,
                   seed: int = 0) -> tuple[Problem, np.ndarray, np.ndarray]:
    r"""A leapfrog pendulum chain, a random true initial state and the start :math:`x_0 = 0`.

    The true state has angles :math:`q_i \sim U[-1, 1]` and momenta
    :math:`p_i \sim U[-\tfrac12, \tfrac12]` from ``np.random.default_rng(seed)``;
    the target is the state after ``steps`` leapfrog steps of ``dt``
    (:func:`companion.physics.pendulum_chain_problem`).  Returns
    ``(problem, x_true, x0)``.
    """
    from ..physics import leapfrog, pendulum_chain_problem

    n = check_int(n, "n", minimum=1)
    rng = np.random.default_rng(seed)
    x_true = np.concatenate([rng.uniform(-1.0, 1.0, n), rng.uniform(-0.5, 0.5, n)])
    target = leapfrog(x_true, dt=dt, steps=steps, coupling=coupling)
    problem = pendulum_chain_problem(n, dt=dt, steps=steps, target=target, coupling=coupling)
    return problem, x_true, np.zeros(2 * n)


def reversal_error(problem: Problem, x) -> float:
    r""":math:`\max_i |P^{-1}(P(x); x)_i - x_i|`: how exactly running the simulator backwards undoes it."""
    x = as_vector(x, "x")
    return float(np.max(np.abs(problem.invert(problem.output(x), x) - x)))


def pendulum_comparison(problem: Problem, x0, etas: Sequence[float], *, steps: int = 100,
                        tol: float = 1e-20) -> dict:
    r"""PG with :math:`\eta = 1` against gradient descent with its best step size, same start and budget.

    Returns ``{"pg": MinimizeResult, "sweep": SweepResult}``; the sweep runs
    :func:`companion.rules.gd` for every ``eta`` with the same ``steps`` and ``tol``.
    """
    from ..tuning import sweep_step_size

    x0 = as_vector(x0, "x0")
    pg_run = minimize(problem, x0, rules.pg(1.0), steps=steps, tol=tol)
    sweep = sweep_step_size(problem, x0, rules.gd, etas, steps=steps, tol=tol)
    return {"pg": pg_run, "sweep": sweep}


class HeatSetup(NamedTuple):
    """A heat-equation inversion task: the operator, the true initial state, the clean and the noisy observation."""

    operator: object
    x_true: np.ndarray
    y_clean: np.ndarray
    y_noisy: np.ndarray
    noise_level: float


def heat_setup(n: int = 64, *, nu_t: float = 1e-3, noise_level: float = 1e-3, boxes: int = 3,
               seed: int = 1) -> HeatSetup:
    r"""Random hot boxes, diffused over :math:`\nu t`, observed with Gaussian noise of std ``noise_level``.

    Uses :func:`companion.physics.random_boxes`, :func:`~companion.physics.heat_operator`
    and :func:`~companion.physics.add_noise` with ``np.random.default_rng(seed)``.
    """
    from ..physics import add_noise, heat_operator, random_boxes

    rng = np.random.default_rng(seed)
    x_true = random_boxes(n, boxes, rng)
    op = heat_operator(n, nu_t)
    y_clean = op.apply(x_true)
    return HeatSetup(op, x_true, y_clean, add_noise(y_clean, noise_level, rng), float(noise_level))


def rms(a) -> float:
    r"""Root mean square :math:`\sqrt{\tfrac1n \sum_i a_i^2}`.

    >>> rms([3.0, -3.0])
    3.0
    """
    a = np.asarray(a, dtype=float)
    return float(np.sqrt(np.mean(a * a)))


def naive_inversion(setup: HeatSetup) -> tuple[np.ndarray, float]:
    r"""Run the heat flow backwards on the noisy data, every mode (``cutoff = 0``).

    Returns the reconstruction and the noise amplification
    :math:`\mathrm{rms}(x_{\text{naive}} - x_{\text{true}}) / \mathrm{rms}(\tilde y - y)`.
    """
    x = setup.operator.apply_inverse(setup.y_noisy, cutoff=0.0)
    return x, rms(x - setup.x_true) / rms(setup.y_noisy - setup.y_clean)


def relative_noise_level(setup: HeatSetup) -> float:
    r"""The noise level relative to the data, :math:`\sigma / \mathrm{rms}(\tilde y)`: the suggested cutoff."""
    return setup.noise_level / rms(setup.y_noisy)


def regularised_inversion(setup: HeatSetup, cutoff: float) -> dict:
    r"""One PG step (:math:`\eta = 1`) from :math:`x_0 = 0` with the regularised local inverse.

    Uses :func:`companion.physics.heat_problem` with the given ``cutoff``: modes
    with gain :math:`g_m \le` ``cutoff`` keep the guess' (zero) component.
    Returns the reconstruction ``x``, its relative error
    :math:`\mathrm{rms}(x - x_{\text{true}})/\mathrm{rms}(x_{\text{true}})`, the
    relative error ``floor`` of the best reconstruction from the same modes
    (the true state with the dropped modes removed: what is lost to damping,
    not to noise) and the number of retained modes.
    """
    from ..physics import heat_problem

    op = setup.operator
    problem = heat_problem(op.n, op.nu_t, setup.y_noisy, cutoff=cutoff)
    result = minimize(problem, np.zeros(op.n), rules.pg(1.0), steps=1)
    keep = op.retained(cutoff)
    x_hat = np.fft.rfft(setup.x_true)
    x_hat[~keep] = 0.0
    projection = np.fft.irfft(x_hat, n=op.n)
    scale = rms(setup.x_true)
    return {
        "x": result.x,
        "error": rms(result.x - setup.x_true) / scale,
        "floor": rms(projection - setup.x_true) / scale,
        "modes": int(np.count_nonzero(keep)),
    }


def cutoff_sweep(setup: HeatSetup, cutoffs: Sequence[float]) -> np.ndarray:
    """Relative reconstruction error of :func:`regularised_inversion` for each cutoff."""
    return np.array([regularised_inversion(setup, float(c))["error"] for c in cutoffs])


# --------------------------------------------------------------------------- 6. losses and fall-back
def weighted_loss(weights) -> Loss:
    r"""The weighted squared error :math:`L = \tfrac12 \sum_i w_i (y_i - y^*_i)^2` (all :math:`w_i > 0`).

    Its Newton step in :math:`y` is :math:`\eta (y^* - y)` whatever the weights:
    they cancel between gradient and Hessian.

    >>> float(weighted_loss([1.0, 4.0]).value(np.array([1.0, 1.0]), np.zeros(2)))
    2.5
    """
    w = as_vector(weights, "weights")
    if np.any(w <= 0):
        raise ValueError("weights must all be positive")

    def value(y, target):
        r = y - target
        return 0.5 * float(np.sum(w * r * r))

    return Loss(value, lambda y, t: w * (y - t), lambda y, t: np.diag(w), name="weighted squared error")


def quartic_loss(weights) -> Loss:
    r"""A non-quadratic loss :math:`L = \sum_i \big[\tfrac12 r_i^2 + \tfrac{w_i}{4} r_i^4\big]`, :math:`r = y - y^*`.

    Gradient :math:`r_i + w_i r_i^3`, Hessian :math:`\mathrm{diag}(1 + 3 w_i r_i^2)`,
    so the Newton step in :math:`y` is
    :math:`\Delta y_i = -\eta\, r_i (1 + w_i r_i^2)/(1 + 3 w_i r_i^2)`: between a
    third of and the full residual, differently in each component.

    >>> quartic_loss([1.0, 0.0]).gradient(np.array([2.0, 2.0]), np.zeros(2))
    array([10.,  2.])
    """
    w = as_vector(weights, "weights")
    if np.any(w < 0):
        raise ValueError("weights must be >= 0 (the loss must stay convex)")

    def value(y, target):
        r = y - target
        return float(np.sum(0.5 * r * r + 0.25 * w * r**4))

    def gradient(y, target):
        r = y - target
        return r + w * r**3

    def hessian(y, target):
        r = y - target
        return np.diag(1.0 + 3.0 * w * r * r)

    return Loss(value, gradient, hessian, name="quadratic + quartic")


def newton_dy_vs_residual(problem: Problem, x, eta: float = 1.0) -> dict:
    r"""The step in :math:`y` of {eq}`eq-dy` against :math:`\eta (y^* - y)`.

    Returns ``dy`` (the Newton step used by PG and IG), ``residual_step``
    (:math:`\eta (y^* - y)`), the angle between them in degrees and
    ``pg_consistent``: the largest difference between the companion PG step and
    :math:`P^{-1}(y + \Delta y; x) - x` built by hand from this ``dy``.
    """
    eta = check_positive(eta, "eta")
    x = as_vector(x, "x")
    y = problem.output(x)
    dy = problem.newton_step_in_y(y, eta)
    naive = eta * (problem.target - y)
    cosine = float(dy @ naive / (np.linalg.norm(dy) * np.linalg.norm(naive)))
    by_hand = problem.invert(y + dy, x) - x
    return {
        "dy": dy,
        "residual_step": naive,
        "angle_deg": float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))),
        "pg_consistent": float(np.max(np.abs(rules.pg_step(problem, x, eta) - by_hand))),
    }


def fallback_runs(target=(1.0, -1.0), x0=(3.0, 3.0), eta: float = 0.5, gd_eta: float = 0.2,
                  steps: int = 100) -> dict:
    r"""PG on :math:`y = (x_1, x_2^2)` with an unreachable target (:math:`y^*_2 < 0`), with and without fall-back.

    Returns the runs ``"pg"`` (no fall-back: stops with ``rule_failed``),
    ``"pg+ig"`` (falls back to the linearised inverse, which also aims at the
    unreachable target) and ``"pg+gd"`` (falls back to gradient descent, which
    settles at the best reachable point :math:`(y^*_1, 0)`).
    """
    problem = problems.square_second(target=target)
    return {
        "pg": minimize(problem, x0, rules.pg(eta), steps=steps),
        "pg+ig": minimize(problem, x0, rules.pg(eta, fallback=rules.ig(eta)), steps=steps),
        "pg+gd": minimize(problem, x0, rules.pg(eta, fallback=rules.gd(gd_eta)), steps=steps),
    }
