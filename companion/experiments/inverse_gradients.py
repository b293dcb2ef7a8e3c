r"""Computations of the chapter *Inverse gradients*.

The inverse gradient (IG) takes the step :math:`\Delta x_{IG} = J^{-1}\Delta y`
with :math:`\Delta y = -\eta\, L_{yy}^{-1} (\partial L/\partial y)^\top`
(:math:`= \eta\,(y^* - y)` for the loss :math:`\tfrac12|y - y^*|^2`).  The
functions here produce the chapter's demonstrations: invariance under a change
of units, the :math:`1/\alpha` sensitivity, the behaviour near an optimum,
consistency in compositions, and what happens for non-square and singular
Jacobians.  Every step is taken with :mod:`companion.rules`.
"""

from __future__ import annotations

import time
from typing import Callable, NamedTuple, Sequence

import numpy as np

from .. import linalg, rules
from .._checks import as_vector, check_fraction, check_int, check_positive
from ..driver import minimize
from ..problems import Loss, Problem, alpha_scaled, exponential, linear, reparametrize, square_second
from ..tuning import log_grid, sweep_step_size

__all__ = [
    "loglog_slope",
    "weighted_squared_error",
    "newton_steps_in_y",
    "distance_time_problem",
    "unit_change_paths",
    "step_sizes_vs_alpha",
    "loss_decrease_vs_alpha",
    "near_optimum_table",
    "exponential_runs",
    "square_second_runs",
    "SmoothMap",
    "compose",
    "composition_maps",
    "composition_consistency",
    "overdetermined_ig_vs_gn",
    "underdetermined_min_norm",
    "jacobian_with_smallest_singular_value",
    "step_length_vs_smin",
    "svd_flops",
    "lu_flops",
    "gradient_flops",
    "time_svd",
    "exercise_ig_step",
    "exercise_truncated_step",
    "exercise_contraction",
]


# --------------------------------------------------------------------------- helpers
def loglog_slope(x, y) -> float:
    r"""Least-squares slope of :math:`\log y` against :math:`\log x`.

    >>> round(loglog_slope([1.0, 10.0, 100.0], [3.0, 300.0, 30000.0]), 12)
    2.0
    """
    x = as_vector(x, "x")
    y = as_vector(y, "y", size=x.size)
    if x.size < 2:
        raise ValueError("x needs at least two points to fit a slope")
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("x and y must be positive for a log-log fit")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def weighted_squared_error(weights) -> Loss:
    r"""The loss :math:`L(y) = \tfrac12 (y - y^*)^\top W (y - y^*)` with :math:`W = \mathrm{diag}(w)`.

    Its Newton step in :math:`y` is :math:`-L_{yy}^{-1}(\partial L/\partial y)^\top
    = -W^{-1} W (y - y^*) = y^* - y`, whatever the positive weights are.

    >>> loss = weighted_squared_error([1.0, 100.0])
    >>> float(loss.value(np.array([1.0, 1.0]), np.zeros(2)))
    50.5
    """
    w = as_vector(weights, "weights")
    if np.any(w <= 0):
        raise ValueError("weights must all be positive (the Newton step in y needs an invertible Hessian)")

    def value(y, target):
        r = y - target
        return 0.5 * float(r @ (w * r))

    def gradient(y, target):
        return w * (y - target)

    def hessian(y, target):
        return np.diag(w)

    return Loss(value, gradient, hessian, name="1/2 (y - y*)^T W (y - y*)")


def newton_steps_in_y(y, target, eta: float = 1.0, weights=(1.0, 100.0), scale: float = 2.0) -> dict:
    r"""The Newton step :math:`\Delta y` in y for three quadratic losses at the same ``y``.

    Returns ``{"half L2": ..., "L2 without 1/2": ..., "weighted": ..., "eta (y* - y)": ...}``:
    the Newton step of :math:`\tfrac12|y-y^*|^2`, of :math:`\tfrac{c}{2}|y - y^*|^2`
    (``scale = c``) and of the weighted loss, next to :math:`\eta\,(y^* - y)`.
    All four agree: the curvature in :math:`y` cancels the factor and the weights.

    >>> steps = newton_steps_in_y([1.0, 2.0], [0.0, 0.0], eta=0.5)
    >>> steps["weighted"]
    array([-0.5, -1. ])
    """
    from ..problems import squared_error

    y = as_vector(y, "y")
    target = as_vector(target, "target", size=y.size)
    eta = check_positive(eta, "eta")
    w = as_vector(weights, "weights", size=y.size)
    out = {}
    for key, loss in (("half L2", squared_error()), ("L2 without 1/2", squared_error(scale)),
                      ("weighted", weighted_squared_error(w))):
        problem = Problem(lambda x: x, lambda x: np.eye(x.size), target, loss=loss, name=key)
        out[key] = problem.newton_step_in_y(y, eta)
    out["eta (y* - y)"] = eta * (target - y)
    return out


# --------------------------------------------------------------------------- 1. units
def distance_time_problem(speeds=(3.0, 0.5), target=(4.0, 1.0)) -> Problem:
    r"""A linear problem from (distance [m], time [s]) to two positions [m].

    :math:`y_1 = d + v_1 t`, :math:`y_2 = d - v_2 t` with speeds :math:`v_i` in m/s, so
    :math:`J = \begin{pmatrix} 1 & v_1 \\ 1 & -v_2 \end{pmatrix}` mixes a dimensionless
    column with a column in m/s.

    >>> p = distance_time_problem()
    >>> p.output(np.array([1.0, 2.0]))
    array([7., 0.])
    """
    v1, v2 = as_vector(speeds, "speeds", size=2)
    if v1 + v2 == 0:
        raise ValueError("speeds must satisfy v1 + v2 != 0, otherwise J is singular")
    problem = linear([[1.0, v1], [1.0, -v2]], as_vector(target, "target", size=2))
    return Problem(problem.simulator, problem.jacobian, problem.target, problem.loss,
                   problem.second_derivatives, None, problem.inverse, name="distance-time")


def unit_change_paths(*, time_unit: float = 1e-3, eta_ig: float = 0.5, eta_gd: float = 0.1,
                      steps: int = 12, x0=(-1.0, 2.0), speeds=(3.0, 0.5), target=(4.0, 1.0)) -> dict:
    r"""Run IG and GD in seconds and in another time unit; map the second back to seconds.

    The new coordinates are :math:`z = D^{-1} x` with :math:`D = \mathrm{diag}(1, u)`, ``u = time_unit``
    (``1e-3``: time in milliseconds, :math:`t = 10^{-3}\tau`).  Both runs use the same
    :math:`\eta` per rule and start at the same physical point.  Returns the physical
    paths (``"IG s"``, ``"IG other"``, ``"GD s"``, ``"GD other"``, each ``(steps+1, 2)``),
    the solution ``"x_star"``, and the largest deviation between the two paths of each
    rule, ``"ig_deviation"`` and ``"gd_deviation"`` (in the physical units, m and s).
    """
    time_unit = check_positive(time_unit, "time_unit")
    steps = check_int(steps, "steps", minimum=1)
    problem = distance_time_problem(speeds, target)
    scale = np.array([1.0, time_unit])
    other = reparametrize(problem, scale)
    x0 = as_vector(x0, "x0", size=2)
    z0 = x0 / scale
    paths = {}
    for name, rule in (("IG", rules.ig(eta_ig)), ("GD", rules.gd(eta_gd))):
        paths[f"{name} s"] = minimize(problem, x0, rule, steps=steps).xs
        paths[f"{name} other"] = minimize(other, z0, rule, steps=steps).xs * scale
    x_star = linalg.solve(problem.jacobian_at(x0), problem.target)
    out = dict(paths)
    out["x_star"] = x_star
    out["ig_deviation"] = float(np.max(np.abs(paths["IG s"] - paths["IG other"])))
    out["gd_deviation"] = float(np.max(np.abs(paths["GD s"] - paths["GD other"])))
    out["final_distance"] = {k: float(np.linalg.norm(v[-1] - x_star)) for k, v in paths.items()}
    return out


def gd_sweep_in_units(*, time_unit: float = 1e-3, steps: int = 12, x0=(-1.0, 2.0),
                      etas: Sequence[float] | None = None) -> dict:
    r"""Best GD run (step size from a sweep) in seconds and in the other unit, same budget.

    Returns ``{"s": SweepResult, "other": SweepResult}``; the final losses tell how
    close the best-tuned GD gets in each unit after ``steps`` steps.
    """
    problem = distance_time_problem()
    scale = np.array([1.0, check_positive(time_unit, "time_unit")])
    other = reparametrize(problem, scale)
    x0 = as_vector(x0, "x0", size=2)
    etas = log_grid(1e-4, 1.0, per_decade=4) if etas is None else etas
    return {"s": sweep_step_size(problem, x0, rules.gd, etas, steps=steps),
            "other": sweep_step_size(other, x0 / scale, rules.gd, etas, steps=steps)}


# --------------------------------------------------------------------------- 2. sensitivity
def step_sizes_vs_alpha(alphas, eta: float = 0.5) -> dict:
    r"""First steps of IG and GD on two problems, for every :math:`\alpha` in ``alphas``.

    * scalar: :math:`y = \alpha x`, :math:`y^* = 1`, :math:`x_0 = 0`
      (IG step :math:`\eta/\alpha`, GD step :math:`\eta\alpha`);
    * ``alpha_scaled(alpha, target=(0, 1))`` from :math:`x_0 = (1, 0)`: the
      :math:`x_2` component of the first step (the same two laws).

    Returns arrays ``"alpha"``, ``"ig_scalar"``, ``"gd_scalar"``, ``"ig_x2"``,
    ``"gd_x2"`` (absolute step lengths) and the fitted log-log slopes.

    >>> out = step_sizes_vs_alpha([0.1, 1.0, 10.0], eta=1.0)
    >>> out["ig_x2"]
    array([10. ,  1. ,  0.1])
    """
    alphas = as_vector(alphas, "alphas")
    if np.any(alphas <= 0):
        raise ValueError("alphas must be positive")
    eta = check_positive(eta, "eta")
    ig, gd = rules.ig(eta), rules.gd(eta)
    rows = {"ig_scalar": [], "gd_scalar": [], "ig_x2": [], "gd_x2": []}
    for alpha in alphas:
        scalar = linear([[alpha]], [1.0])
        rows["ig_scalar"].append(abs(ig.first_step(scalar, [0.0])[0]))
        rows["gd_scalar"].append(abs(gd.first_step(scalar, [0.0])[0]))
        two = alpha_scaled(float(alpha), target=(0.0, 1.0))
        rows["ig_x2"].append(abs(ig.first_step(two, [1.0, 0.0])[1]))
        rows["gd_x2"].append(abs(gd.first_step(two, [1.0, 0.0])[1]))
    out = {"alpha": alphas}
    out.update({k: np.array(v) for k, v in rows.items()})
    out["slopes"] = {k: loglog_slope(alphas, out[k]) for k in rows}
    return out


def loss_decrease_vs_alpha(alphas, eta: float = 0.1) -> dict:
    r"""Loss decrease :math:`L(x_0) - L(x_0 + \Delta x)` of one IG and one GD step on :math:`y = \alpha x`.

    :math:`y^* = 1`, :math:`x_0 = 0`, :math:`L = \tfrac12(\alpha x - 1)^2`.  IG:
    :math:`\tfrac12[1 - (1-\eta)^2]` for every :math:`\alpha`; GD:
    :math:`\tfrac12[1 - (1 - \eta\alpha^2)^2] \approx \eta\alpha^2` while
    :math:`\eta\alpha^2 \ll 1`, and negative (the loss grows) once
    :math:`\eta\alpha^2 > 2`.  ``"gd_small_alpha_slope"`` is the log-log slope of the
    GD decrease over the :math:`\alpha` with :math:`\eta\alpha^2 \le 0.01`;
    ``"ig_spread"`` the ratio of the largest to the smallest IG decrease.

    >>> out = loss_decrease_vs_alpha([1.0], eta=0.5)
    >>> float(out["ig"][0]), float(out["gd"][0])
    (0.375, 0.375)
    """
    alphas = as_vector(alphas, "alphas")
    eta = check_positive(eta, "eta")
    ig, gd = [], []
    for alpha in alphas:
        p = linear([[alpha]], [1.0])
        start = p.loss_at([0.0])
        ig.append(start - p.loss_at(rules.ig(eta).first_step(p, [0.0])))
        gd.append(start - p.loss_at(rules.gd(eta).first_step(p, [0.0])))
    ig, gd = np.array(ig), np.array(gd)
    small = eta * alphas**2 <= 0.01
    slope = loglog_slope(alphas[small], gd[small]) if np.count_nonzero(small) >= 2 else float("nan")
    return {"alpha": alphas, "ig": ig, "gd": gd, "gd_divergence_alpha": float(np.sqrt(2.0 / eta)),
            "gd_small_alpha_slope": slope, "ig_spread": float(ig.max() / ig.min())}


# --------------------------------------------------------------------------- 3. near the optimum
class OptimumTable(NamedTuple):
    """Per iteration ``k``: distance to ``x*``, step length, their ratio, residual in ``y`` and its ratio."""

    k: np.ndarray
    distance: np.ndarray
    step: np.ndarray
    ratio: np.ndarray
    residual: np.ndarray
    residual_ratio: np.ndarray


def near_optimum_table(problem: Problem, x0, x_star, rule: rules.Rule, steps: int, *,
                       component: int | None = None) -> OptimumTable:
    r"""Run ``rule`` and tabulate :math:`|x_k - x^*|`, :math:`|\Delta x_k|`, their ratio and :math:`|y_k - y^*|`.

    ``component`` restricts distance and step to one component of :math:`x`
    (0-based), e.g. the :math:`x_2` of ``square_second``.  Rows end where the
    run ends; the last iterate has no step and is dropped.
    """
    x_star = as_vector(x_star, "x_star")
    result = minimize(problem, x0, rule, steps=check_int(steps, "steps", minimum=1))
    xs = result.xs
    if component is not None:
        xs = xs[:, [component]]
        x_star = x_star[[component]]
    distance = np.linalg.norm(xs - x_star, axis=1)
    step = np.linalg.norm(np.diff(xs, axis=0), axis=1)
    residual = np.linalg.norm(result.ys - problem.target, axis=1)
    n = step.size
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = step / distance[:n]
        residual_ratio = residual[1:n + 1] / residual[:n]
    return OptimumTable(np.arange(n), distance[:n], step, ratio, residual[:n], residual_ratio)


def exponential_runs(*, target: float = 0.1, x0: float = 1.0, eta: float = 0.5, steps: int = 40,
                     gd_steps: int = 100) -> dict:
    r"""IG with ``eta`` and with :math:`\eta = 1`, and the best-tuned GD, on :math:`y = e^x`.

    :math:`x^* = \log y^*`.  Returns the three :class:`OptimumTable` objects
    (``"ig"``, ``"ig1"``, ``"gd"``), the GD sweep (``"gd_sweep"``), and the
    quadratic-convergence ratios :math:`e_{k+1}/e_k^2` of IG with
    :math:`\eta = 1` (``"quadratic_ratios"``, limit :math:`\tfrac12` for the
    exponential: :math:`e_{k+1} = e_k - 1 + e^{-e_k}`).
    """
    problem = exponential(target)
    x_star = np.array([np.log(target)])
    sweep = sweep_step_size(problem, [x0], rules.gd, log_grid(1e-3, 1.0, per_decade=4), steps=gd_steps)
    ig1 = near_optimum_table(problem, [x0], x_star, rules.ig(1.0), 8)
    e = ig1.distance
    keep = e[1:] > 1e-15
    quadratic = e[1:][keep] / e[:-1][keep] ** 2
    return {
        "x_star": float(x_star[0]),
        "ig": near_optimum_table(problem, [x0], x_star, rules.ig(eta), steps),
        "ig1": ig1,
        "gd": near_optimum_table(problem, [x0], x_star, rules.gd(sweep.best_eta), gd_steps),
        "gd_sweep": sweep,
        "gd_limit_ratio": float(sweep.best_eta * target**2),
        "quadratic_ratios": quadratic,
    }


def square_second_runs(*, x0=(3.0, 3.0), eta: float = 1.0, steps: int = 30, gd_steps: int = 100) -> dict:
    r"""IG and the best-tuned GD on ``square_second`` (:math:`y = (x_1, x_2^2)`, :math:`y^* = 0`).

    At the optimum :math:`x_2 = 0` the Jacobian :math:`\mathrm{diag}(1, 2x_2)` is
    singular.  The IG step in :math:`x_2` is
    :math:`(2x_2)^{-1}\,\eta\,(0 - x_2^2) = -\eta x_2/2`: :math:`x_2` shrinks by
    :math:`1 - \eta/2` per step (halves for :math:`\eta=1`), linear convergence
    instead of quadratic.  GD's :math:`x_2` step is :math:`-2\eta x_2^3`, so its
    ratio step/distance goes to zero.  Returns tables for the :math:`x_2`
    component (``"ig"``, ``"gd"``), the sweep and the IG contraction factors
    ``"ig_factors"`` :math:`x_{2,k+1}/x_{2,k}`.
    """
    problem = square_second()
    x_star = np.zeros(2)
    sweep = sweep_step_size(problem, x0, rules.gd, log_grid(1e-3, 1.0, per_decade=4), steps=gd_steps)
    ig_run = minimize(problem, x0, rules.ig(eta), steps=steps)
    x2 = ig_run.xs[:, 1]
    return {
        "ig": near_optimum_table(problem, x0, x_star, rules.ig(eta), steps, component=1),
        "gd": near_optimum_table(problem, x0, x_star, rules.gd(sweep.best_eta), gd_steps, component=1),
        "gd_sweep": sweep,
        "ig_x1_after_one": float(abs(ig_run.xs[1, 0])),
        "ig_factors": x2[1:] / x2[:-1],
    }


# --------------------------------------------------------------------------- 4. compositions
class SmoothMap(NamedTuple):
    r"""A map :math:`\mathbb{R}^n \to \mathbb{R}^m` with Jacobian ``(m, n)`` and second derivatives ``(m, n, n)``."""

    value: Callable[[np.ndarray], np.ndarray]
    jacobian: Callable[[np.ndarray], np.ndarray]
    second: Callable[[np.ndarray], np.ndarray]
    name: str


def compose(inner: SmoothMap, outer: SmoothMap, target, name: str = "g o f") -> Problem:
    r"""The problem :math:`z = g(f(x))`, :math:`L = \tfrac12|z - z^*|^2`, with exact second derivatives.

    :math:`J = J_g J_f` and
    :math:`\partial^2 h_k/\partial x^2 = \sum_j (J_g)_{kj}\, \partial^2 f_j/\partial x^2
    + J_f^\top (\partial^2 g_k/\partial y^2) J_f`.
    """
    def simulator(x):
        return outer.value(inner.value(x))

    def jacobian(x):
        return outer.jacobian(inner.value(x)) @ inner.jacobian(x)

    def second(x):
        y = inner.value(x)
        jf = inner.jacobian(x)
        return (np.tensordot(outer.jacobian(y), inner.second(x), axes=1)
                + np.einsum("kjl,ja,lb->kab", outer.second(y), jf, jf))

    return Problem(simulator, jacobian, target, second_derivatives=second, name=name)


def composition_maps() -> dict:
    r"""The chapter's maps: two inner functions that send their starts to the same :math:`y_0`, and an outer :math:`g`.

    * :math:`f_1(x) = (x_1 + x_2^2,\; x_1 x_2)`, start :math:`x_{1,0} = (1, 0.5)`;
    * :math:`f_2(x) = (e^{x_1} - x_2,\; x_1 + x_2^3) + c`, start :math:`x_{2,0} = (0.2, -0.4)`,
      with :math:`c` chosen so that :math:`f_2(x_{2,0}) = f_1(x_{1,0}) = y_0 = (1.25, 0.5)`;
    * :math:`g(y) = (y_1 + y_2^2/2,\; \sin y_2 + y_1/2)`.

    >>> maps = composition_maps()
    >>> np.allclose(maps["f1"].value(maps["x1_0"]), maps["f2"].value(maps["x2_0"]))
    True
    """
    f1 = SmoothMap(
        lambda x: np.array([x[0] + x[1] ** 2, x[0] * x[1]]),
        lambda x: np.array([[1.0, 2.0 * x[1]], [x[1], x[0]]]),
        lambda x: np.array([[[0.0, 0.0], [0.0, 2.0]], [[0.0, 1.0], [1.0, 0.0]]]),
        "f1",
    )
    x1_0 = np.array([1.0, 0.5])
    x2_0 = np.array([0.2, -0.4])
    y0 = f1.value(x1_0)
    raw = np.array([np.exp(x2_0[0]) - x2_0[1], x2_0[0] + x2_0[1] ** 3])
    c = y0 - raw
    f2 = SmoothMap(
        lambda x: np.array([np.exp(x[0]) - x[1], x[0] + x[1] ** 3]) + c,
        lambda x: np.array([[np.exp(x[0]), -1.0], [1.0, 3.0 * x[1] ** 2]]),
        lambda x: np.array([[[np.exp(x[0]), 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 6.0 * x[1]]]]),
        "f2",
    )
    g = SmoothMap(
        lambda y: np.array([y[0] + 0.5 * y[1] ** 2, np.sin(y[1]) + 0.5 * y[0]]),
        lambda y: np.array([[1.0, y[1]], [0.5, np.cos(y[1])]]),
        lambda y: np.array([[[0.0, 0.0], [0.0, 1.0]], [[0.0, 0.0], [0.0, -np.sin(y[1])]]]),
        "g",
    )
    return {"f1": f1, "f2": f2, "g": g, "x1_0": x1_0, "x2_0": x2_0, "y0": y0}


def composition_consistency(etas, *, dz=(0.3, 0.3)) -> dict:
    r"""How much the change of the intermediate :math:`y` depends on the inner function.

    The target is :math:`z^* = z_0 + \Delta z_{\text{full}}` (``dz``).  For each
    :math:`\eta`, IG (``rules.ig(eta)``) and Newton (``rules.newton(eta)``) take one step
    on :math:`g \circ f_1` from :math:`x_{1,0}` and on :math:`g \circ f_2` from
    :math:`x_{2,0}`; the change of the intermediate space is
    :math:`\Delta y_i = f_i(x_{i,0} + \Delta x_i) - y_0`.  Returns the differences
    :math:`|\Delta y_1 - \Delta y_2|` (``"ig_diff"``, ``"newton_diff"``), the distance of
    the IG changes from the first-order prediction :math:`J_g^{-1}\Delta z`
    (``"ig_first_order_error"``, max over both inner functions), the size of
    :math:`\Delta y` (``"dy_norm"``), the fitted log-log slopes, the changes themselves
    (``"ig_dy"``, ``"newton_dy"``: per :math:`\eta` a dict by inner function) and the
    smallest eigenvalue of the Hessian in :math:`x` of each composition at its start
    (``"hessian_min_eigenvalue"``; positive means Newton's step is a descent step).
    """
    etas = as_vector(etas, "etas")
    if np.any(etas <= 0):
        raise ValueError("etas must be positive")
    maps = composition_maps()
    g, y0 = maps["g"], maps["y0"]
    z0 = g.value(y0)
    target = z0 + as_vector(dz, "dz", size=2)
    starts = {"f1": maps["x1_0"], "f2": maps["x2_0"]}
    problems_ = {k: compose(maps[k], g, target, name=f"g o {k}") for k in starts}
    jg = g.jacobian(y0)
    out = {"eta": etas, "ig_diff": [], "newton_diff": [], "ig_first_order_error": [], "dy_norm": [],
           "newton_dy": [], "ig_dy": []}
    for eta in etas:
        changes = {}
        for rule_name, rule in (("ig", rules.ig(float(eta))), ("newton", rules.newton(float(eta)))):
            changes[rule_name] = {k: maps[k].value(starts[k] + rule.first_step(problems_[k], starts[k])) - y0
                                  for k in starts}
        predicted = linalg.solve(jg, eta * (target - z0))
        out["ig_diff"].append(np.linalg.norm(changes["ig"]["f1"] - changes["ig"]["f2"]))
        out["newton_diff"].append(np.linalg.norm(changes["newton"]["f1"] - changes["newton"]["f2"]))
        out["ig_first_order_error"].append(max(np.linalg.norm(changes["ig"][k] - predicted) for k in starts))
        out["dy_norm"].append(np.linalg.norm(predicted))
        out["ig_dy"].append(changes["ig"])
        out["newton_dy"].append(changes["newton"])
    for key in ("ig_diff", "newton_diff", "ig_first_order_error", "dy_norm"):
        out[key] = np.array(out[key])
    out["slopes"] = {key: loglog_slope(etas, out[key]) for key in ("ig_diff", "newton_diff", "ig_first_order_error")}
    out["hessian_min_eigenvalue"] = {k: float(np.linalg.eigvalsh(problems_[k].hessian_at(starts[k])).min())
                                     for k in starts}
    return out


# --------------------------------------------------------------------------- 5. non-square and singular
def overdetermined_ig_vs_gn(*, m: int = 5, n: int = 3, seed: int = 0, eta: float = 0.5,
                            rtol: float = 1e-10) -> dict:
    r"""On a random linear problem with :math:`m > n`, IG with :math:`J^+` equals Gauss-Newton.

    :math:`\Delta x_{IG} = J^+\,\eta(y^* - y) = -\eta J^+(y - y^*) = \Delta x_{GN}`.  Returns
    both steps, their largest difference, and the gradient of the loss after a full
    (:math:`\eta = 1`) IG step, which vanishes because :math:`J^+` gives the
    least-squares solution (``"gradient_after_full_step"``).
    """
    m = check_int(m, "m", minimum=2)
    n = check_int(n, "n", minimum=1)
    if m <= n:
        raise ValueError(f"an overdetermined problem needs m > n, got m={m}, n={n}")
    rng = np.random.default_rng(seed)
    problem = linear(rng.normal(size=(m, n)), rng.normal(size=m))
    x0 = rng.normal(size=n)
    ig_step = rules.ig(eta, rtol=rtol).first_step(problem, x0)
    gn_step = rules.gauss_newton(eta, rtol=rtol).first_step(problem, x0)
    full = x0 + rules.ig(1.0, rtol=rtol).first_step(problem, x0)
    return {"ig": ig_step, "gn": gn_step, "max_difference": float(np.max(np.abs(ig_step - gn_step))),
            "gradient_after_full_step": float(np.linalg.norm(problem.gradient_at(full))),
            "problem": problem, "x0": x0}


def underdetermined_min_norm(*, m: int = 2, n: int = 4, seed: int = 1, rtol: float = 1e-10) -> dict:
    r"""On a random linear problem with :math:`m < n`, the IG step is the minimum-norm step.

    It reaches :math:`\Delta y` exactly (``"residual"`` :math:`|J\Delta x - \Delta y|`), has no
    component in the null space of :math:`J` (``"null_component"``), and any other solution
    :math:`\Delta x + N c` is longer (``"other_norms"`` for a few random :math:`c`).
    """
    m = check_int(m, "m", minimum=1)
    n = check_int(n, "n", minimum=2)
    if m >= n:
        raise ValueError(f"an underdetermined problem needs m < n, got m={m}, n={n}")
    rng = np.random.default_rng(seed)
    problem = linear(rng.normal(size=(m, n)), rng.normal(size=m))
    x0 = np.zeros(n)
    jac = problem.jacobian_at(x0)
    dy = problem.target - problem.output(x0)
    step = rules.ig_direction(problem, x0, dy, rtol=rtol)
    null = np.linalg.svd(jac)[2][m:].T  # (n, n-m), orthonormal basis of the null space
    others = [np.linalg.norm(step + null @ rng.normal(size=n - m)) for _ in range(5)]
    return {"step": step, "norm": float(np.linalg.norm(step)),
            "residual": float(np.linalg.norm(jac @ step - dy)),
            "null_component": float(np.linalg.norm(null.T @ step)),
            "other_norms": np.array(others)}


def jacobian_with_smallest_singular_value(s_min: float, *, s_max: float = 1.0, angle: float = 0.6) -> np.ndarray:
    r""":math:`J = R(\theta)\, \mathrm{diag}(s_{\max}, s_{\min})\, R(\theta/2)^\top` with rotations :math:`R`.

    >>> np.linalg.svd(jacobian_with_smallest_singular_value(1e-3), compute_uv=False).round(6)
    array([1.   , 0.001])
    """
    if not (np.isfinite(s_min) and 0 <= s_min <= s_max):
        raise ValueError(f"need 0 <= s_min <= s_max, got s_min={s_min!r}, s_max={s_max!r}")

    def rot(a):
        return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])

    return rot(angle) @ np.diag([s_max, s_min]) @ rot(angle / 2).T


def step_length_vs_smin(s_values, rtols, dy=(1.0, 1.0)) -> dict:
    r""":math:`|J^+ \Delta y|` for Jacobians with smallest singular value ``s`` and truncation ``rtol``.

    ``rtol = 0`` is the untruncated pseudo-inverse (here the plain inverse); its step
    grows like :math:`|u_2^\top \Delta y|/s_{\min}`.  With ``rtol > 0`` the weak
    direction is dropped once :math:`s_{\min} \le r\, s_{\max}`, and the step is bounded
    by :math:`|\Delta y| / (r\, s_{\max})`.  Returns ``{"s": ..., rtol: lengths, ...}``.
    """
    s_values = as_vector(s_values, "s_values")
    dy = as_vector(dy, "dy", size=2)
    out = {"s": s_values}
    for rtol in rtols:
        rtol = check_fraction(rtol, "rtol")
        lengths = []
        for s in s_values:
            jac = jacobian_with_smallest_singular_value(float(s))
            problem = Problem(lambda x, j=jac: j @ x, lambda x, j=jac: j, np.zeros(2), name="near-singular")
            lengths.append(np.linalg.norm(rules.ig_direction(problem, np.zeros(2), dy, rtol=rtol)))
        out[rtol] = np.array(lengths)
    return out


def svd_flops(m: int, n: int) -> float:
    r"""A lower bound on the flops of an SVD: the bidiagonalisation :math:`4mn^2 - \tfrac43 n^3` (:math:`m \ge n`).

    Accumulating the singular vectors and the iterative diagonalisation add a
    further multiple of this; for a square matrix the bound is :math:`\tfrac83 n^3`.

    >>> svd_flops(3, 3)
    72.0
    """
    m = check_int(m, "m", minimum=1)
    n = check_int(n, "n", minimum=1)
    m, n = max(m, n), min(m, n)
    return float(4 * m * n**2 - 4 * n**3 / 3)


def lu_flops(n: int) -> float:
    r"""Flops of an LU factorisation of an :math:`n \times n` matrix, :math:`\tfrac23 n^3`."""
    n = check_int(n, "n", minimum=1)
    return 2.0 * n**3 / 3.0


def gradient_flops(m: int, n: int) -> float:
    r"""Flops of :math:`J^\top r` for a stored :math:`m \times n` Jacobian, :math:`2mn`."""
    return 2.0 * check_int(m, "m", minimum=1) * check_int(n, "n", minimum=1)


def time_svd(sizes, *, repeats: int = 3, seed: int = 0) -> dict:
    r"""Wall-clock seconds (best of ``repeats``) of :func:`companion.linalg.pinv` (one SVD) and of :math:`J^\top r`.

    Timings vary from machine to machine and run to run; show them in an
    ``nbval-ignore-output`` cell only.
    """
    rng = np.random.default_rng(seed)
    repeats = check_int(repeats, "repeats", minimum=1)
    svd_times, grad_times = [], []
    linalg.pinv(rng.normal(size=(8, 8)))  # warm-up: the first LAPACK call pays for start-up
    for n in sizes:
        jac = rng.normal(size=(int(n), int(n)))
        r = rng.normal(size=int(n))
        best_svd = best_grad = np.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            linalg.pinv(jac, rtol=1e-10) @ r
            t1 = time.perf_counter()
            jac.T @ r
            t2 = time.perf_counter()
            best_svd, best_grad = min(best_svd, t1 - t0), min(best_grad, t2 - t1)
        svd_times.append(best_svd)
        grad_times.append(best_grad)
    return {"n": np.array(sizes), "svd": np.array(svd_times), "gradient": np.array(grad_times)}


# --------------------------------------------------------------------------- exercises
def exercise_ig_step() -> dict:
    r"""Exercise 1: the IG step for :math:`J = \begin{pmatrix} 2 & 1 \\ 1 & 1 \end{pmatrix}`, :math:`\Delta y = (1, -1)`.

    >>> exercise_ig_step()["dx"].round(12)
    array([ 2., -3.])
    """
    jac = np.array([[2.0, 1.0], [1.0, 1.0]])
    dy = np.array([1.0, -1.0])
    problem = linear(jac, np.zeros(2))
    return {"J": jac, "dy": dy, "dx": rules.ig_direction(problem, np.zeros(2), dy)}


def exercise_truncated_step(rtol: float = 1e-6) -> dict:
    r"""Exercise 2: the truncated step for the rank-one :math:`J = \begin{pmatrix} 1 & 2 \\ 2 & 4 \end{pmatrix}`, :math:`\Delta y = (1, 1)`.

    Returns the step ``"dx"`` :math:`= J^+ \Delta y`, the achieved change ``"achieved"``
    :math:`= J\Delta x` (the projection of :math:`\Delta y` on the range of :math:`J`),
    and the message of the error that the untruncated ``ig_direction`` raises.

    >>> exercise_truncated_step()["dx"].round(12)
    array([0.12, 0.24])
    """
    jac = np.array([[1.0, 2.0], [2.0, 4.0]])
    dy = np.array([1.0, 1.0])
    problem = linear(jac, np.zeros(2))
    dx = rules.ig_direction(problem, np.zeros(2), dy, rtol=check_fraction(rtol, "rtol"))
    try:
        rules.ig_direction(problem, np.zeros(2), dy)
        message = ""
    except ValueError as exc:
        message = str(exc)
    return {"J": jac, "dy": dy, "dx": dx, "achieved": jac @ dx, "untruncated_error": message}


def exercise_contraction(eta: float = 0.5, *, x0=(1.0, 1.0), steps: int = 20) -> float:
    r"""Exercise 3: the factor by which IG shrinks :math:`x_2` on ``square_second`` with step size ``eta``.

    Measured as the last ratio :math:`x_{2,k+1}/x_{2,k}` of an IG run; the closed
    form is :math:`1 - \eta/2`.

    >>> round(exercise_contraction(0.5), 12)
    0.75
    """
    eta = check_positive(eta, "eta")
    if eta >= 2:
        raise ValueError(f"eta must be < 2 for x2 to shrink (factor 1 - eta/2), got {eta}")
    x2 = minimize(square_second(), x0, rules.ig(eta), steps=check_int(steps, "steps", minimum=1)).xs[:, 1]
    return float(x2[-1] / x2[-2])
