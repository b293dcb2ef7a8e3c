r"""Computations of the chapter *Newton and quasi-Newton methods*.

Newton's update :math:`\Delta x_{QN} = -\eta\, H^{-1} \nabla_x L` with
:math:`H = \partial^2 L/\partial x^2` is examined under five headings, each
with a function (or a few) here:

1. units and sensitivity: :func:`alpha_scaling`, :func:`paths_across_alpha`,
   :func:`units_check`;
2. larger steps where the landscape is flat: :func:`quartic`,
   :func:`step_lengths`;
3. BFGS against SciPy: :func:`counted`, :func:`compare_bfgs`,
   :func:`bfgs_trace`;
4. consistency in compositions: :func:`composite_newton_steps`;
5. dependence on the Hessian: :func:`time_newton_vs_gradient`,
   :func:`condition_sweep`, :func:`singular_hessian_message`,
   :func:`double_well_step`, :func:`saddle_runs`, and the small ReLU network
   :func:`relu_network`, :func:`relu_forward`, :func:`relu_jacobian`,
   :func:`relu_output_hessian_fd`, :func:`relu_loss_hessian`.

The exercises' answers are :func:`exercise_quadratic_step`,
:func:`exercise_composite_hessian` and :func:`exercise_bfgs_update`.
"""

from __future__ import annotations

import time
from typing import Callable, NamedTuple, Sequence

import numpy as np

from .. import linalg, rules
from .._checks import as_matrix, as_vector, check_int, check_positive
from ..driver import MinimizeResult, minimize
from ..errors import SingularMatrixError
from ..problems import Problem, alpha_scaled, reparametrize, rosenbrock, scalar_square, square_second
from ..timing import one_blas_thread  # noqa: F401 - re-exported

__all__ = [
    "significant",
    "loglog_slope",
    "AlphaScaling",
    "alpha_scaling",
    "paths_across_alpha",
    "units_check",
    "quartic",
    "step_lengths",
    "Counter",
    "counted",
    "BFGSComparison",
    "compare_bfgs",
    "BFGSTrace",
    "bfgs_trace",
    "composite_newton_steps",
    "dense_quadratic",
    "one_blas_thread",
    "time_newton_vs_gradient",
    "newton_flops",
    "condition_sweep",
    "singular_hessian_message",
    "double_well_step",
    "saddle_runs",
    "ReluNetwork",
    "relu_network",
    "relu_forward",
    "relu_jacobian",
    "relu_output_hessian_fd",
    "relu_loss_hessian",
    "relu_input_problem",
    "exercise_quadratic_step",
    "exercise_composite_hessian",
    "exercise_bfgs_update",
]


def _positive_array(values, name: str) -> np.ndarray:
    array = as_vector(values, name)
    if np.any(array <= 0):
        raise ValueError(f"{name} must hold positive numbers only, got {array}")
    return array


def significant(value, digits: int = 4) -> float:
    """``value`` rounded to ``digits`` significant digits, as a Python float (for short, stable glued values).

    >>> significant(np.float64(0.0123456))
    0.01235
    """
    digits = check_int(digits, "digits", minimum=1)
    return float(f"{float(value):.{digits}g}")


def loglog_slope(x, y) -> float:
    r"""Least-squares slope of :math:`\log y` against :math:`\log x`.

    A power law :math:`y = c\, x^p` has slope :math:`p`.

    >>> round(loglog_slope([1.0, 10.0, 100.0], [3.0, 0.03, 0.0003]), 12)
    -2.0
    """
    x = _positive_array(x, "x")
    y = _positive_array(y, "y")
    if x.size != y.size or x.size < 2:
        raise ValueError(f"x and y need the same length >= 2, got {x.size} and {y.size}")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


# --------------------------------------------------------------------------- 1. units and sensitivity
class AlphaScaling(NamedTuple):
    r"""Hessian, gradient and Newton step of ``alpha_scaled(alpha)`` at one point, per :math:`\alpha`."""

    alphas: np.ndarray
    inverse_hessians: np.ndarray  #: shape (k, 2, 2)
    gradients: np.ndarray  #: shape (k, 2)
    newton_steps: np.ndarray  #: shape (k, 2), eta = 1
    gd_steps: np.ndarray  #: shape (k, 2), eta = 1
    slope_inverse_hessian: float  #: log-log slope of (H^{-1})_{22} against alpha
    slope_gradient: float  #: log-log slope of the second gradient component against alpha


def alpha_scaling(alphas: Sequence[float], x=(1.0, 1.0)) -> AlphaScaling:
    r"""How :math:`H^{-1}`, :math:`\nabla_x L` and the Newton step of ``alpha_scaled`` depend on :math:`\alpha`.

    For :math:`L = \tfrac12 (x_1^2 + \alpha^2 x_2^2)`:
    :math:`H = \mathrm{diag}(1, \alpha^2)`, :math:`\nabla_x L = (x_1, \alpha^2 x_2)`,
    so :math:`(H^{-1})_{22} = \alpha^{-2}` and the Newton step :math:`-x` does
    not depend on :math:`\alpha`.

    >>> result = alpha_scaling([1.0, 10.0, 100.0])
    >>> round(result.slope_inverse_hessian, 6), round(result.slope_gradient, 6)
    (-2.0, 2.0)
    >>> result.newton_steps[-1]
    array([-1., -1.])
    """
    alphas = _positive_array(alphas, "alphas")
    x = as_vector(x, "x", size=2)
    if x[1] == 0:
        raise ValueError("x must have x_2 != 0, otherwise the second gradient component vanishes")
    inverse_hessians, gradients, newton_steps, gd_steps = [], [], [], []
    for alpha in alphas:
        problem = alpha_scaled(float(alpha))
        inverse_hessians.append(linalg.pinv(problem.hessian_at(x)))
        gradients.append(problem.gradient_at(x))
        newton_steps.append(rules.newton().first_step(problem, x))
        gd_steps.append(rules.gd(1.0).first_step(problem, x))
    inverse_hessians = np.array(inverse_hessians)
    gradients = np.array(gradients)
    return AlphaScaling(
        alphas, inverse_hessians, gradients, np.array(newton_steps), np.array(gd_steps),
        loglog_slope(alphas, inverse_hessians[:, 1, 1]),
        loglog_slope(alphas, np.abs(gradients[:, 1])),
    )


def paths_across_alpha(alphas: Sequence[float], x0=(1.0, 1.0), eta: float = 0.5,
                       steps: int = 8) -> tuple[np.ndarray, float]:
    r"""Newton's iterates on ``alpha_scaled(alpha)`` for each :math:`\alpha`, and their largest spread.

    Returns ``(paths, deviation)``: ``paths[k]`` of shape ``(steps + 1, 2)`` is
    the path for ``alphas[k]`` and ``deviation`` is
    :math:`\max_{k,j} |x^{(k)}_j - x^{(0)}_j|_\infty`.  In exact arithmetic
    every path is :math:`x_j = (1 - \eta)^j x_0`.

    >>> paths, deviation = paths_across_alpha([1.0, 1e3], steps=2)
    >>> paths[1][-1], deviation
    (array([0.25, 0.25]), 0.0)
    """
    alphas = _positive_array(alphas, "alphas")
    eta = check_positive(eta, "eta")
    steps = check_int(steps, "steps", minimum=1)
    x0 = as_vector(x0, "x0", size=2)
    paths = np.array([minimize(alpha_scaled(float(a)), x0, rules.newton(eta), steps=steps).xs for a in alphas])
    if paths.shape[1] != steps + 1:
        raise RuntimeError("a Newton run stopped early; lower the number of steps")
    deviation = float(np.max(np.abs(paths - paths[0])))
    return paths, deviation


def units_check(alpha: float = 10.0, scale: float = 1000.0, x=(1.0, 1.0)) -> dict:
    r"""Change the unit of :math:`x_2` by ``scale`` and compare the steps before and after.

    With :math:`x = D z`, :math:`D = \mathrm{diag}(1, s)`, a rule is *covariant*
    when its step in :math:`z`, mapped back with :math:`D`, equals its step in
    :math:`x`.  Newton's is (:math:`H_z = D H_x D`, :math:`\nabla_z L = D \nabla_x L`,
    so :math:`D \Delta z = -D D^{-1} H_x^{-1} D^{-1} D \nabla_x L = \Delta x`);
    gradient descent's is off by :math:`D^2`, a factor :math:`s^2` in :math:`x_2`.

    Returns a dict with the steps and the largest mismatch of each rule.

    >>> check = units_check(alpha=10.0, scale=1000.0)
    >>> check["newton_mismatch"] < 1e-12, check["gd_ratio"]
    (True, 1000000.0)
    """
    alpha = check_positive(alpha, "alpha")
    scale = check_positive(scale, "scale")
    x = as_vector(x, "x", size=2)
    problem = alpha_scaled(alpha)
    d = np.array([1.0, scale])
    rescaled = reparametrize(problem, d)
    z = x / d
    newton_x = rules.newton_direction(problem, x)
    newton_z = rules.newton_direction(rescaled, z)
    gd_x = rules.gd_direction(problem, x)
    gd_z = rules.gd_direction(rescaled, z)
    return {
        "newton_x": newton_x,
        "newton_z_mapped": d * newton_z,
        "gd_x": gd_x,
        "gd_z_mapped": d * gd_z,
        "newton_mismatch": float(np.max(np.abs(d * newton_z - newton_x))),
        "gd_ratio": float((d * gd_z)[1] / gd_x[1]),
    }


# --------------------------------------------------------------------------- 2. larger steps where flat
def quartic() -> Problem:
    r"""The one-dimensional loss :math:`L(x) = x^4/4` written as a least-squares problem.

    :math:`P(x) = x^2/\sqrt 2`, :math:`y^* = 0`, so :math:`L = \tfrac12 P^2 = x^4/4`,
    :math:`\nabla L = x^3` and :math:`H = 3x^2`: the curvature vanishes at the minimum.

    >>> p = quartic()
    >>> [round(float(v), 12) for v in (p.loss_at([2.0]), p.gradient_at([2.0])[0], p.hessian_at([2.0])[0, 0])]
    [4.0, 8.0, 12.0]
    """
    root2 = np.sqrt(2.0)
    return Problem(
        simulator=lambda x: x**2 / root2,
        jacobian=lambda x: np.array([[root2 * x[0]]]),
        target=[0.0],
        second_derivatives=lambda x: np.array([[[root2]]]),
        name="L = x^4/4",
    )


def step_lengths(positions, eta: float = 0.5, problem: Problem | None = None) -> dict:
    r"""Lengths of the Newton and GD steps with the same :math:`\eta` at each position of a 1-D problem.

    Returns ``newton``, ``gd``, their ``ratio`` and ``inverse_curvature``
    :math:`1/H`, the one eigenvalue of :math:`H^{-1}`; for any 1-D problem the
    ratio equals :math:`1/H` (both steps contain :math:`\eta\,|\nabla L|`).
    Default problem: :func:`quartic`, where the ratio is :math:`1/(3x^2)`.

    >>> lengths = step_lengths([0.1, 1.0])
    >>> lengths["ratio"].round(6), lengths["inverse_curvature"].round(6)
    (array([33.333333,  0.333333]), array([33.333333,  0.333333]))
    """
    positions = as_vector(positions, "positions")
    if np.any(positions == 0):
        raise ValueError("positions must not contain 0, where both steps vanish")
    eta = check_positive(eta, "eta")
    problem = quartic() if problem is None else problem
    newton_rule, gd_rule = rules.newton(eta), rules.gd(eta)
    newton = np.array([abs(newton_rule.first_step(problem, [p])[0]) for p in positions])
    gd = np.array([abs(gd_rule.first_step(problem, [p])[0]) for p in positions])
    inverse_curvature = np.array([1.0 / problem.hessian_at([p])[0, 0] for p in positions])
    return {"positions": positions, "newton": newton, "gd": gd, "ratio": newton / gd,
            "inverse_curvature": inverse_curvature}


# --------------------------------------------------------------------------- 3. BFGS
class Counter:
    """Counts calls of a problem's simulator (forward passes) and Jacobian (gradient passes)."""

    def __init__(self):
        self.simulator = 0
        self.jacobian = 0

    def reset(self) -> None:
        self.simulator = 0
        self.jacobian = 0

    def __repr__(self) -> str:
        return f"Counter(simulator={self.simulator}, jacobian={self.jacobian})"


def counted(problem: Problem) -> tuple[Problem, Counter]:
    r"""A copy of ``problem`` whose simulator and Jacobian calls are counted.

    Every loss evaluation calls the simulator once; every gradient
    :math:`J^\top (\partial L/\partial y)^\top` calls the simulator and the
    Jacobian once each.

    >>> p, counter = counted(rosenbrock())
    >>> _ = p.gradient_at([0.0, 0.0]); counter
    Counter(simulator=1, jacobian=1)
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a companion.Problem, got {type(problem).__name__}")
    counter = Counter()

    def simulator(x):
        counter.simulator += 1
        return problem.simulator(x)

    def jacobian(x):
        counter.jacobian += 1
        return problem.jacobian(x)

    wrapped = Problem(simulator, jacobian, problem.target, problem.loss, problem.second_derivatives,
                      problem.hessian, problem.inverse, name=problem.name)
    return wrapped, counter


class BFGSComparison(NamedTuple):
    """Companion's BFGS and SciPy's BFGS (and Newton for reference) on the same problem and start."""

    companion: MinimizeResult
    companion_counts: tuple[int, int]  #: (simulator calls, Jacobian calls)
    scipy_path: np.ndarray  #: iterates of scipy, shape (nit + 1, n)
    scipy_losses: np.ndarray
    scipy_counts: tuple[int, int]
    scipy_nit: int
    scipy_x: np.ndarray
    newton: MinimizeResult
    newton_counts: tuple[int, int]


def compare_bfgs(x0=(-1.2, 1.0), tol: float = 1e-10, steps: int = 200,
                 problem: Problem | None = None) -> BFGSComparison:
    r"""Run ``rules.bfgs()``, ``scipy.optimize.minimize(method="BFGS")`` and ``rules.newton()`` until :math:`L \le` ``tol``.

    All three use the same problem (default :func:`~companion.problems.rosenbrock`),
    the same start and the same stopping rule: the loss falls to ``tol``
    (SciPy's run is stopped by a callback that raises ``StopIteration``; its
    gradient tolerance is set to zero so that it does not stop earlier).
    Evaluations are counted by :func:`counted` for all of them; they include the
    driver's one forward pass per step for the companion runs.
    """
    from scipy.optimize import minimize as scipy_minimize

    tol = check_positive(tol, "tol")
    steps = check_int(steps, "steps", minimum=1)
    base = rosenbrock() if problem is None else problem
    x0 = as_vector(x0, "x0")

    wrapped, counter = counted(base)
    ours = minimize(wrapped, x0, rules.bfgs(), steps=steps, tol=tol)
    ours_counts = (counter.simulator, counter.jacobian)

    counter.reset()
    path, losses = [x0.copy()], [wrapped.loss_at(x0)]
    counter.reset()

    def callback(intermediate_result):
        path.append(np.array(intermediate_result.x, dtype=float))
        losses.append(float(intermediate_result.fun))
        if intermediate_result.fun <= tol or len(path) > steps:
            raise StopIteration

    theirs = scipy_minimize(wrapped.loss_at, x0, jac=wrapped.gradient_at, method="BFGS",
                            callback=callback, options={"gtol": 0.0, "maxiter": steps})
    scipy_counts = (counter.simulator, counter.jacobian)

    counter.reset()
    newton = minimize(wrapped, x0, rules.newton(), steps=steps, tol=tol)
    newton_counts = (counter.simulator, counter.jacobian)
    return BFGSComparison(ours, ours_counts, np.array(path), np.array(losses), scipy_counts,
                          len(path) - 1, np.array(theirs.x, dtype=float), newton, newton_counts)


class BFGSTrace(NamedTuple):
    """What happens inside companion's BFGS, step by step."""

    xs: np.ndarray  #: iterates, shape (k + 1, n)
    step_lengths: np.ndarray  #: the line-search length t of each step
    secant_residuals: np.ndarray  #: |B_k y_{k-1} - s_{k-1}| / |s_{k-1}| for k >= 1
    inverse_hessians: np.ndarray  #: B_k used at step k, shape (k, n, n)
    final_inverse_hessian_error: float  #: |B - H^{-1}(x_final)|_F / |H^{-1}(x_final)|_F for the last B


def bfgs_trace(x0=(-1.2, 1.0), steps: int = 40, tol: float = 1e-10, problem: Problem | None = None) -> BFGSTrace:
    r"""Step companion's BFGS by hand and record :math:`t_k`, :math:`B_k` and the secant residual.

    The update of :math:`B` satisfies the secant condition
    :math:`B_{k+1} y_k = s_k` with :math:`s_k = x_{k+1} - x_k` and
    :math:`y_k = \nabla L_{k+1} - \nabla L_k` whenever it is applied
    (:math:`y_k^\top s_k > 0`), so the residuals are at rounding level.

    >>> trace = bfgs_trace(steps=5)
    >>> bool(np.all(trace.secant_residuals < 1e-12))
    True
    """
    steps = check_int(steps, "steps", minimum=1)
    tol = check_positive(tol, "tol")
    problem = rosenbrock() if problem is None else problem
    x = as_vector(x0, "x0")
    rule = rules.bfgs()
    state = rule.init(problem, x)
    xs, ts, residuals, bs = [x.copy()], [], [], []
    for k in range(steps):
        dx, new_state = rule.step(problem, x, state)
        b = new_state.inverse_hessian
        direction = -b @ problem.gradient_at(x)
        ts.append(float(dx @ direction / (direction @ direction)))
        bs.append(b.copy())
        if k > 0:
            s = x - state.x
            y = problem.gradient_at(x) - state.gradient
            residuals.append(float(np.linalg.norm(b @ y - s) / np.linalg.norm(s)))
        x = x + dx
        state = new_state
        xs.append(x.copy())
        if problem.loss_at(x) <= tol:
            break
    true_inverse = np.linalg.inv(problem.hessian_at(x))
    error = float(np.linalg.norm(bs[-1] - true_inverse) / np.linalg.norm(true_inverse))
    return BFGSTrace(np.array(xs), np.array(ts), np.array(residuals), np.array(bs), error)


# --------------------------------------------------------------------------- 4. compositions
def _outer_problems(y0: np.ndarray, target: np.ndarray, kappa: float) -> tuple[Problem, Problem]:
    """g_a(y) = y and g_b(y) = y + kappa/2 (y - y0)^2 (componentwise) as problems in y."""
    m = y0.size
    flat = Problem(
        simulator=lambda y: y.copy(),
        jacobian=lambda y: np.eye(m),
        target=target,
        second_derivatives=lambda y: np.zeros((m, m, m)),
        name="g_a(y) = y",
    )

    def second_b(y):
        tensor = np.zeros((m, m, m))
        tensor[np.arange(m), np.arange(m), np.arange(m)] = kappa
        return tensor

    curved = Problem(
        simulator=lambda y: y + 0.5 * kappa * (y - y0) ** 2,
        jacobian=lambda y: np.diag(1.0 + kappa * (y - y0)),
        target=target,
        second_derivatives=second_b,
        name="g_b(y) = y + kappa/2 (y - y0)^2",
    )
    return flat, curved


def _compose_linear(outer: Problem, matrix: np.ndarray) -> Problem:
    """The problem x -> outer(A x): J = J_g A, second derivatives A^T (d2 g_i) A."""
    return Problem(
        simulator=lambda x: outer.simulator(matrix @ x),
        jacobian=lambda x: outer.jacobian_at(matrix @ x) @ matrix,
        target=outer.target,
        second_derivatives=lambda x: np.einsum("ia,kab,bj->kij", matrix.T, outer.second_derivatives(matrix @ x),
                                                matrix),
        name=f"{outer.name} after y = A x",
    )


def composite_newton_steps(x=(1.0, 0.5), matrix=((2.0, 1.0), (0.0, 1.0)), target=(0.0, 0.0),
                           kappa: float = 0.8) -> dict:
    r"""Newton steps of the intermediate :math:`y = A x` for two outer functions that agree to first order.

    The chain is :math:`x \to y = A x \to z = g(y) \to L = \tfrac12 |z - z^*|^2` with
    :math:`g_a(y) = y` and :math:`g_b(y) = y + \tfrac{\kappa}{2} (y - y_0)^{\circ 2}`
    (componentwise square).  At the current :math:`y_0 = A x` both outer
    functions have the same value and the same Jacobian :math:`I`, so the
    gradient that backpropagation delivers to :math:`y`,
    :math:`(\partial L/\partial y)^\top = z_0 - z^*`, is the same; their
    curvatures differ, and with them the Hessian
    :math:`\partial^2 L/\partial y^2 = I + \kappa\,\mathrm{diag}(z_0 - z^*)`
    for :math:`g_b` and the Newton step of :math:`y`.

    Returns a dict with, for ``"a"`` and ``"b"``: ``value`` :math:`g(y_0)`,
    ``gradient_y``, ``hessian_y``, ``newton_y`` and ``newton_x`` (the Newton step
    of the whole composition in :math:`x`), plus ``y0``.

    >>> steps = composite_newton_steps()
    >>> np.allclose(steps["a"]["gradient_y"], steps["b"]["gradient_y"])
    True
    >>> steps["a"]["newton_y"], steps["b"]["newton_y"].round(4)
    (array([-2.5, -0.5]), array([-0.8333, -0.3571]))
    """
    x = as_vector(x, "x")
    matrix = as_matrix(matrix, "matrix")
    if matrix.shape[1] != x.size:
        raise ValueError(f"matrix must have {x.size} columns to act on x, got shape {matrix.shape}")
    target = as_vector(target, "target", size=matrix.shape[0])
    kappa = float(kappa)
    if not np.isfinite(kappa):
        raise ValueError(f"kappa must be finite, got {kappa}")
    y0 = matrix @ x
    result = {"y0": y0}
    for key, outer in zip("ab", _outer_problems(y0, target, kappa)):
        composite = _compose_linear(outer, matrix)
        result[key] = {
            "value": outer.output(y0),
            "jacobian_y": outer.jacobian_at(y0),
            "gradient_y": outer.gradient_at(y0),
            "hessian_y": outer.hessian_at(y0),
            "newton_y": rules.newton_direction(outer, y0),
            "hessian_x": composite.hessian_at(x),
            "newton_x": rules.newton_direction(composite, x),
            "problem_x": composite,
        }
    return result


# --------------------------------------------------------------------------- 5a. cost
def dense_quadratic(n: int, seed: int = 0) -> Problem:
    r"""A dense least-squares problem :math:`P(x) = R x` with a random :math:`n \times n` matrix.

    Its Hessian :math:`R^\top R` is supplied directly (``hessian=``), so forming
    it costs one matrix product, :math:`2n^3` flops; the gradient
    :math:`R^\top (R x - y^*)` costs two matrix-vector products, :math:`4n^2`.
    (``problems.linear`` would store an all-zero ``(n, n, n)`` tensor of second
    derivatives, which at :math:`n = 800` is 4 GB.)

    >>> p = dense_quadratic(3)
    >>> np.allclose(p.hessian_at(np.zeros(3)), p.gauss_newton_matrix_at(np.zeros(3)))
    True
    """
    n = check_int(n, "n", minimum=1)
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((n, n)) / np.sqrt(n) + np.eye(n)
    target = rng.standard_normal(n)
    return Problem(
        simulator=lambda x: matrix @ x,
        jacobian=lambda x: matrix,
        target=target,
        hessian=lambda x: matrix.T @ matrix,
        name=f"dense quadratic (n={n})",
    )


def newton_flops(n) -> dict:
    r"""Deterministic flop counts (multiplications and additions) of one step on :func:`dense_quadratic`.

    ``gradient`` :math:`4n^2` (two matrix-vector products); ``form_hessian``
    :math:`2n^3` (:math:`R^\top R`); ``solve_lu`` :math:`\tfrac23 n^3`
    (``np.linalg.solve``); ``solve_cholesky`` :math:`\tfrac13 n^3` (what a
    symmetric positive definite :math:`H` allows); ``newton`` the sum of the
    gradient, forming and the LU solve.

    >>> float(newton_flops(10)["solve_cholesky"])
    333.3333333333333
    """
    n = np.asarray(n, dtype=float)
    flops = {"gradient": 4 * n**2, "form_hessian": 2 * n**3, "solve_lu": 2 * n**3 / 3,
             "solve_cholesky": n**3 / 3}
    flops["newton"] = flops["gradient"] + flops["form_hessian"] + flops["solve_lu"]
    return flops




def _best_time(function: Callable[[], object], repeats: int, budget: float) -> float:
    best = np.inf
    spent = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        elapsed = time.perf_counter() - start
        best = min(best, elapsed)
        spent += elapsed
        if spent > budget:
            break
    return best


def time_newton_vs_gradient(ns: Sequence[int] = (50, 100, 200, 400, 800), repeats: int = 7,
                            budget: float = 0.2, seed: int = 0, fit_from: int = 100) -> dict:
    r"""Wall-clock seconds of a gradient and of a Newton step on :func:`dense_quadratic` for each ``n``.

    Three timings per size, each the best of up to ``repeats`` runs (fewer once
    ``budget`` seconds are spent), with one BLAS thread (:func:`one_blas_thread`):

    ``gradient``
        :math:`R^\top (R x - y^*)` in plain numpy;
    ``newton``
        forming :math:`H = R^\top R` and solving :math:`H \Delta x = -\nabla L`
        with ``np.linalg.solve`` (LU), plain numpy;
    ``companion``
        ``rules.newton_direction`` (forms :math:`H`, solves by SVD, checks inputs).

    Returns the times and their log-log slopes fitted over ``n >= fit_from``
    (``slope_gradient``, ``slope_newton``, ``slope_companion``); the values vary
    from machine to machine and run to run.
    """
    ns = np.array([check_int(int(n), "ns", minimum=2) for n in ns])
    repeats = check_int(repeats, "repeats", minimum=1)
    budget = check_positive(budget, "budget")
    times = {"gradient": [], "newton": [], "companion": []}
    with one_blas_thread():
        for n in ns:
            problem = dense_quadratic(int(n), seed)
            matrix, target = problem.jacobian(None), problem.target
            x = np.zeros(n)

            def gradient():
                return matrix.T @ (matrix @ x - target)

            def newton():
                return -np.linalg.solve(matrix.T @ matrix, gradient())

            times["gradient"].append(_best_time(gradient, repeats, budget))
            times["newton"].append(_best_time(newton, repeats, budget))
            times["companion"].append(_best_time(lambda: rules.newton_direction(problem, x), repeats, budget))
    result = {"ns": ns}
    fit = ns >= fit_from
    if fit.sum() < 2:
        raise ValueError(f"need at least two sizes n >= fit_from = {fit_from} to fit a slope")
    for key, values in times.items():
        result[key] = np.array(values)
        result[f"slope_{key}"] = loglog_slope(ns[fit], result[key][fit])
    return result


# --------------------------------------------------------------------------- 5b. conditioning
def _rotation(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def condition_sweep(kappas: Sequence[float], samples: int = 200, seed: int = 0, angle: float = 0.5) -> dict:
    r"""Error of the computed Newton step against the known one, for Hessians of condition number :math:`\kappa`.

    :math:`H = Q\,\mathrm{diag}(1, 1/\kappa)\,Q^\top` (:math:`Q` a rotation by
    ``angle``), :math:`L = \tfrac12 (x - x^*)^\top H (x - x^*)`.  At
    :math:`x = 0` the exact Newton step is :math:`x^*`; the computed one is
    ``rules.newton_direction`` applied to the rounded gradient
    :math:`-H x^*`.  For ``samples`` random :math:`x^*` (unit length, fixed
    ``seed``) the median relative error :math:`|\Delta x - x^*| / |x^*|` is
    returned, with its log-log slope against :math:`\kappa` (close to 1: the
    error grows like :math:`\kappa\,\varepsilon`).

    >>> sweep = condition_sweep([1.0, 1e8], samples=20)
    >>> bool(sweep["errors"][0] < 1e-15 < sweep["errors"][1] < 1e-6)
    True
    """
    kappas = _positive_array(kappas, "kappas")
    if np.any(kappas < 1):
        raise ValueError("kappas must be condition numbers >= 1")
    samples = check_int(samples, "samples", minimum=1)
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((samples, 2))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    rotation = _rotation(angle)
    errors = []
    for kappa in kappas:
        hessian = rotation @ np.diag([1.0, 1.0 / kappa]) @ rotation.T
        sample_errors = []
        for solution in directions:
            problem = Problem(
                simulator=lambda x: np.zeros(1), jacobian=lambda x: np.zeros((1, 2)), target=[0.0],
                hessian=lambda x, h=hessian: h, name=f"quadratic (kappa={kappa:.0e})",
            )
            gradient = -(hessian @ solution)  # the gradient at x = 0, rounded to float64
            step = -linalg.solve(problem.hessian_at(np.zeros(2)), gradient)
            sample_errors.append(np.linalg.norm(step - solution))
        errors.append(float(np.median(sample_errors)))
    errors = np.array(errors)
    moving = errors > 0
    slope = loglog_slope(kappas[moving], errors[moving]) if moving.sum() >= 2 else float("nan")
    return {"kappas": kappas, "errors": errors, "slope": slope, "epsilon": float(np.finfo(float).eps)}


def singular_hessian_message(matrix=((1.0, 0.0), (0.0, 0.0)), target=(1.0, 0.0), x=(0.0, 0.0)) -> str:
    r"""The message of the :class:`~companion.errors.SingularMatrixError` that ``rules.newton`` raises.

    The default :math:`P(x) = (x_1, 0)`, an output that does not depend on
    :math:`x_2`, gives the singular Hessian :math:`A^\top A = \mathrm{diag}(1, 0)`.

    >>> "singular" in singular_hessian_message()
    True
    """
    from ..problems import linear

    problem = linear(matrix, target)
    try:
        rules.newton().first_step(problem, x)
    except SingularMatrixError as error:
        return str(error)
    raise ValueError("the Hessian of this problem is invertible; pass a rank-deficient matrix")


# --------------------------------------------------------------------------- 5c. indefinite Hessians
def double_well_step(x0: float = 0.3, eta: float = 1.0) -> dict:
    r"""One Newton step on the double well :math:`L = \tfrac12 (x^2 - 1)^2` (``scalar_square(1)``).

    :math:`H = 6x^2 - 2` is negative for :math:`|x| < 1/\sqrt3`; there the
    Newton step :math:`-\nabla L / H` points *uphill*, towards the maximum at 0.

    >>> step = double_well_step(0.3)
    >>> step["hessian"] < 0, step["loss_after"] > step["loss_before"]
    (True, True)
    """
    x0 = float(x0)
    problem = scalar_square(1.0)
    x = np.array([x0])
    step = rules.newton(eta).first_step(problem, x)
    gd_step = rules.gd(eta).first_step(problem, x)
    return {
        "x0": x0, "hessian": float(problem.hessian_at(x)[0, 0]), "gradient": float(problem.gradient_at(x)[0]),
        "step": float(step[0]), "x1": float(x0 + step[0]),
        "loss_before": problem.loss_at(x), "loss_after": problem.loss_at(x + step),
        "gd_step": float(gd_step[0]),
    }


def saddle_runs(x0=(1.0, 0.3), steps: int = 12, eta_gd: float = 0.3) -> dict:
    r"""Newton and GD on :math:`y = (x_1, x_2^2)`, :math:`y^* = (0, 1)`: :math:`L = \tfrac12 [x_1^2 + (x_2^2 - 1)^2]`.

    The minima are :math:`(0, \pm 1)`, the saddle is :math:`(0, 0)` with
    :math:`H = \mathrm{diag}(1, -2)`.  From a start with :math:`|x_2| < 1/\sqrt 3`
    Newton's step is attracted by the saddle; GD is not.

    >>> runs = saddle_runs()
    >>> bool(abs(runs["newton"].x[1]) < 1e-6), bool(abs(runs["gd"].x[1]) > 0.9)
    (True, True)
    """
    steps = check_int(steps, "steps", minimum=1)
    problem = square_second(target=(0.0, 1.0))
    x0 = as_vector(x0, "x0", size=2)
    newton = minimize(problem, x0, rules.newton(), steps=steps)
    gd = minimize(problem, x0, rules.gd(eta_gd), steps=steps)
    return {
        "problem": problem, "newton": newton, "gd": gd,
        "eigenvalues_start": np.linalg.eigvalsh(problem.hessian_at(x0)),
        "eigenvalues_end": np.linalg.eigvalsh(problem.hessian_at(newton.x)),
        "gradient_end": problem.gradient_at(newton.x),
    }


# --------------------------------------------------------------------------- 5d. a ReLU network
class ReluNetwork(NamedTuple):
    r"""Weights of :math:`f(u) = W_2\, \mathrm{relu}(W_1 u + b_1) + b_2`."""

    w1: np.ndarray  #: (hidden, d)
    b1: np.ndarray  #: (hidden,)
    w2: np.ndarray  #: (m, hidden)
    b2: np.ndarray  #: (m,)


def relu_network(inputs: int = 4, hidden: int = 16, outputs: int = 2, seed: int = 0) -> ReluNetwork:
    r"""Random weights of a one-hidden-layer ReLU network with a linear output layer (He-style scale)."""
    inputs = check_int(inputs, "inputs", minimum=1)
    hidden = check_int(hidden, "hidden", minimum=1)
    outputs = check_int(outputs, "outputs", minimum=1)
    rng = np.random.default_rng(seed)
    return ReluNetwork(
        rng.standard_normal((hidden, inputs)) * np.sqrt(2.0 / inputs),
        0.1 * rng.standard_normal(hidden),
        rng.standard_normal((outputs, hidden)) * np.sqrt(1.0 / hidden),
        0.1 * rng.standard_normal(outputs),
    )


def relu_forward(net: ReluNetwork, u) -> np.ndarray:
    r"""Network outputs for one input ``(d,)`` or a batch ``(k, d)`` (vectorised); shape ``(m,)`` or ``(k, m)``.

    >>> net = relu_network(2, 3, 1)
    >>> relu_forward(net, np.zeros((5, 2))).shape
    (5, 1)
    """
    u = np.asarray(u, dtype=float)
    if u.shape[-1] != net.w1.shape[1]:
        raise ValueError(f"u must end in the input size {net.w1.shape[1]}, got shape {u.shape}")
    hidden = np.maximum(u @ net.w1.T + net.b1, 0.0)
    return hidden @ net.w2.T + net.b2


def relu_jacobian(net: ReluNetwork, u) -> np.ndarray:
    r"""The Jacobian :math:`\partial f/\partial u = W_2\, \mathrm{diag}(\mathbb 1[W_1 u + b_1 > 0])\, W_1`, shape ``(m, d)``."""
    u = as_vector(u, "u", size=net.w1.shape[1])
    active = (net.w1 @ u + net.b1 > 0).astype(float)
    return (net.w2 * active) @ net.w1


def relu_output_hessian_fd(net: ReluNetwork, points, h: float = 1e-3) -> tuple[np.ndarray, float]:
    r"""Central finite-difference Hessians of every output w.r.t. the input, at a batch of points.

    :math:`\partial^2 f_i/\partial u_a \partial u_b \approx [f(u + h e_a + h e_b) - f(u + h e_a - h e_b)
    - f(u - h e_a + h e_b) + f(u - h e_a - h e_b)] / (4h^2)`, all points and
    directions in one vectorised forward pass.  Returns the ``(k, m, d, d)``
    array and the smallest distance :math:`\min |W_1 u + b_1|_j / |W_1|_{j,1}` of
    a point to a kink (the stencil crosses no kink when it exceeds
    :math:`2h`), so the Hessians are zero up to rounding.

    >>> hessians, margin = relu_output_hessian_fd(relu_network(), np.ones((3, 4)))
    >>> hessians.shape
    (3, 2, 4, 4)
    """
    points = np.atleast_2d(np.asarray(points, dtype=float))
    h = check_positive(h, "h")
    k, d = points.shape
    eye = np.eye(d) * h
    signs = [(1, 1, 1.0), (1, -1, -1.0), (-1, 1, -1.0), (-1, -1, 1.0)]
    total = 0.0
    for sa, sb, weight in signs:
        shifted = points[:, None, None, :] + sa * eye[None, :, None, :] + sb * eye[None, None, :, :]
        total = total + weight * relu_forward(net, shifted)  # (k, d, d, m)
    hessians = np.moveaxis(total / (4 * h * h), -1, 1)
    pre = points @ net.w1.T + net.b1
    margin = float(np.min(np.abs(pre) / np.abs(net.w1).sum(axis=1)))
    return hessians, margin


def relu_input_problem(net: ReluNetwork, target) -> Problem:
    r"""The problem :math:`\min_u \tfrac12 |f(u) - t|^2` with the network as simulator.

    Its second derivatives are zero wherever they exist (almost everywhere),
    so :meth:`~companion.Problem.hessian_at` returns the Gauss-Newton matrix
    :math:`J^\top J`, of rank at most :math:`\min(m, d)`.
    """
    m, d = net.w2.shape[0], net.w1.shape[1]
    return Problem(
        simulator=lambda u: relu_forward(net, u),
        jacobian=lambda u: relu_jacobian(net, u),
        target=as_vector(target, "target", size=m),
        second_derivatives=lambda u: np.zeros((m, d, d)),
        name="ReLU network in its input",
    )


def relu_loss_hessian(net: ReluNetwork, u, target, h: float = 1e-5) -> dict:
    r"""Hessian of :math:`\tfrac12 |f(u) - t|^2` in :math:`u` by central differences of the exact gradient.

    Compared with the Gauss-Newton matrix :math:`J^\top J`; returns both, their
    largest difference, the singular values and the numerical rank (singular
    values above :math:`10^{-8}` times the largest).

    >>> result = relu_loss_hessian(relu_network(), np.full(4, 0.3), np.zeros(2))
    >>> result["rank"]
    2
    """
    u = as_vector(u, "u", size=net.w1.shape[1])
    h = check_positive(h, "h")
    problem = relu_input_problem(net, target)
    d = u.size
    columns = [(problem.gradient_at(u + h * e) - problem.gradient_at(u - h * e)) / (2 * h) for e in np.eye(d)]
    fd = np.array(columns).T
    gauss_newton = problem.gauss_newton_matrix_at(u)
    singular_values = np.linalg.svd(fd, compute_uv=False)
    rank = int(np.sum(singular_values > 1e-8 * singular_values[0]))
    return {"finite_difference": fd, "gauss_newton": gauss_newton,
            "difference": float(np.max(np.abs(fd - gauss_newton))),
            "singular_values": singular_values, "rank": rank, "problem": problem}


# --------------------------------------------------------------------------- exercises
def exercise_quadratic_step(hessian=((4.0, 1.0), (1.0, 3.0)), gradient=(1.0, 2.0)) -> np.ndarray:
    r"""Exercise 1: the Newton step :math:`-H^{-1} \nabla L` for a given :math:`H` and gradient.

    On a quadratic :math:`L = \tfrac12 x^\top H x - b^\top x` this step lands on
    the minimiser :math:`H^{-1} b` from any start.

    >>> (exercise_quadratic_step() * 11).round(12)
    array([-1., -7.])
    """
    hessian = as_matrix(hessian, "hessian")
    gradient = as_vector(gradient, "gradient", size=hessian.shape[0])
    return -linalg.solve(hessian, gradient, name="hessian")


def exercise_composite_hessian(x: float = 1.0, target: float = 2.0) -> dict:
    r"""Exercise 2: :math:`L(y(x)) = \tfrac12 (y - y^*)^2` with :math:`y = x^3`, at ``x``.

    :math:`L'' = (y')^2 + (y - y^*)\, y'' = 9x^4 + 6x (x^3 - y^*)`; returns the
    Gauss-Newton term, the second-derivative term, the Hessian, the gradient,
    and the Newton and Gauss-Newton steps.

    >>> answer = exercise_composite_hessian()
    >>> answer["gauss_newton_term"], answer["second_term"], answer["hessian"], answer["newton_step"]
    (9.0, -6.0, 3.0, 1.0)
    """
    x = float(x)
    target = float(target)
    jacobian = 3 * x**2
    residual = x**3 - target
    gauss_newton_term = jacobian**2
    second_term = residual * 6 * x
    hessian = gauss_newton_term + second_term
    gradient = jacobian * residual
    if hessian == 0:
        raise ValueError(f"the Hessian vanishes at x = {x}; pick another point")
    return {"gauss_newton_term": gauss_newton_term, "second_term": second_term, "hessian": hessian,
            "gradient": gradient, "newton_step": -gradient / hessian,
            "gauss_newton_step": -gradient / gauss_newton_term}


def exercise_bfgs_update(inverse_hessian=((1.0, 0.0), (0.0, 1.0)), s=(1.0, 0.0), y=(2.0, 1.0)) -> np.ndarray:
    r"""Exercise 3: one BFGS update :math:`B_1 = (I - \rho s y^\top) B_0 (I - \rho y s^\top) + \rho s s^\top`.

    :math:`\rho = 1/(y^\top s)`; requires :math:`y^\top s > 0`.  The result
    satisfies the secant condition :math:`B_1 y = s`.

    >>> b1 = exercise_bfgs_update()
    >>> b1 * 4
    array([[ 3., -2.],
           [-2.,  4.]])
    >>> b1 @ np.array([2.0, 1.0])
    array([1., 0.])
    """
    b = as_matrix(inverse_hessian, "inverse_hessian")
    s = as_vector(s, "s", size=b.shape[0])
    y = as_vector(y, "y", size=b.shape[0])
    sy = float(s @ y)
    if sy <= 0:
        raise ValueError(f"the curvature condition y^T s > 0 fails (y^T s = {sy:.3g}); the update is undefined")
    rho = 1.0 / sy
    left = np.eye(s.size) - rho * np.outer(s, y)
    return left @ b @ left.T + rho * np.outer(s, s)
