r"""Set-ups of the course's physical inverse problems, and traced runs for comparing methods on them.

Three inverse problems, each an instance drawn from a seed (so that step sizes
can be chosen on *validation* seeds and reported on separate *test* seeds):

* :func:`pendulum_task` -- the initial state :math:`x = (q_0, p_0)` of a ring of
  nonlinear pendulums from its exact state after :math:`T = h \cdot \text{steps}`
  (:func:`companion.physics.pendulum_chain_problem`, unit masses);
* :func:`uneven_pendulum_task` -- the same ring with *uneven masses*
  :math:`m_i` (:func:`uneven_chain_problem`). Momentum :math:`p_i = m_i \dot q_i`
  scales with the mass, so the Jacobian of the final state with respect to the
  initial state has singular values spread over roughly :math:`m_{\max}/m_{\min}`:
  a badly conditioned :math:`J` on which scale-invariance is actually tested;
* :func:`heat_task` -- the initial temperature (random hot boxes) from a noisy
  observation of the diffused profile (:func:`companion.physics.heat_problem`),
  with the regularised inverse that keeps the modes above the relative noise
  level, and the discrepancy principle as the tolerance.

:func:`method_rules` gives every method's rule as a function of its step size
and the grid of step sizes to sweep; :func:`traced_run` runs a rule until both
an iteration budget and a wall-clock budget are used (or the tolerance is
reached) and returns the per-iteration relative :math:`x` error and seconds;
:func:`budget_score` is the validation score that selects the step size.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, fields
from typing import NamedTuple, Optional

import numpy as np
import scipy.optimize  # noqa: F401  (BFGS's line search: imported here so that no timed run pays for the import)

from . import linalg, rules
from ._checks import as_vector, check_int, check_positive
from .driver import MinimizeResult, minimize
from .problems import Problem, squared_error

__all__ = [
    "METHODS", "rms", "efficient", "Task", "uneven_leapfrog", "uneven_leapfrog_jacobian",
    "uneven_chain_problem", "pendulum_task", "uneven_pendulum_task", "heat_task", "second_order_choice",
    "GRIDS", "method_rules", "Trace", "traced_run", "budget_score", "relative_x_error",
]

#: The methods compared, in the order of the tables.
METHODS = ("GD", "Adam", "GN", "BFGS", "IG", "PG")


def rms(a) -> float:
    r"""Root mean square :math:`\sqrt{\tfrac1n \sum_i a_i^2}`.

    >>> rms([3.0, -3.0, 3.0, -3.0])
    3.0
    """
    a = np.asarray(a, dtype=float)
    if a.size == 0:
        raise ValueError("a must not be empty")
    return float(np.sqrt(np.mean(a * a)))


def relative_x_error(x, x_true) -> float:
    r""":math:`\mathrm{rms}(x - x_{\text{true}}) / \mathrm{rms}(x_{\text{true}})`.

    >>> relative_x_error([1.0, 1.0], [2.0, 2.0])
    0.5
    """
    return rms(np.asarray(x, dtype=float) - np.asarray(x_true, dtype=float)) / rms(x_true)


# --------------------------------------------------------------------------- evaluation without avoidable work
def _is_squared_error(problem: Problem, rng_seed: int = 12345) -> bool:
    """True if the loss behaves like :math:`\\tfrac c2 |y - y^*|^2` (gradient :math:`c r`, Hessian :math:`c I`) at a random point."""
    m = problem.output_size
    y = problem.target + np.random.default_rng(rng_seed).normal(size=m)
    hessian = np.asarray(problem.loss.hessian(y, problem.target), dtype=float)
    c = float(hessian[0, 0]) if hessian.ndim == 2 else float("nan")
    if not (np.isfinite(c) and c > 0):
        return False
    gradient = np.asarray(problem.loss.gradient(y, problem.target), dtype=float)
    return bool(np.allclose(hessian, c * np.eye(m), rtol=1e-12, atol=0.0)
                and np.allclose(gradient, c * (y - problem.target), rtol=1e-12, atol=1e-300))


@dataclass(frozen=True)
class _EfficientProblem(Problem):
    """A :class:`Problem` whose Newton step in :math:`y` skips the SVD of the (identity-like) loss Hessian."""

    l2: bool = False

    def newton_step_in_y(self, y, eta: float = 1.0) -> np.ndarray:
        if not self.l2:
            return super().newton_step_in_y(y, eta)
        y = as_vector(y, "y", size=self.output_size)
        return -eta * (y - self.target)


def efficient(problem: Problem) -> Problem:
    r"""The same problem, evaluated without avoidable work; every rule takes the same steps on it.

    For a squared-error loss :math:`\tfrac c2 |y - y^*|^2` the Newton step in
    :math:`y` is :math:`\eta (y^* - y)`, computed directly instead of by the SVD of
    the :math:`m \times m` matrix :math:`cI` (for the heat equation with large
    :math:`n` that SVD would dominate the cost of PG and IG).

    >>> from companion import problems
    >>> efficient(problems.square_second()).newton_step_in_y(np.array([3.0, 9.0]), 0.5)
    array([-1.5, -4.5])
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a companion.Problem, got {type(problem).__name__}")
    values = {f.name: getattr(problem, f.name) for f in fields(Problem) if f.init}
    return _EfficientProblem(**values, l2=_is_squared_error(problem))


# --------------------------------------------------------------------------- the chain with uneven masses
def _ring_laplacian(n: int) -> np.ndarray:
    r"""The periodic graph Laplacian :math:`(\Delta a)_i = a_{i-1} - 2 a_i + a_{i+1}` as a matrix."""
    eye = np.eye(n)
    return np.roll(eye, 1, axis=0) + np.roll(eye, -1, axis=0) - 2.0 * eye


def _uneven_run(x, masses, dt, steps, omega, coupling, tangent=None):
    n = masses.size
    q, p = x[:n].copy(), x[n:].copy()
    gravity = masses * omega**2
    spring = coupling * _ring_laplacian(n)
    dq = dp = None
    if tangent is not None:
        dq, dp = tangent[:n].copy(), tangent[n:].copy()

    def force(q):
        return spring @ q - gravity * np.sin(q)

    def curvature(q, d):
        return spring @ d - (gravity * np.cos(q))[:, None] * d

    f = force(q)
    df = None if dq is None else curvature(q, dq)
    for _ in range(steps):
        p = p + 0.5 * dt * f
        q = q + dt * p / masses
        f = force(q)
        p = p + 0.5 * dt * f
        if dq is not None:
            dp = dp + 0.5 * dt * df
            dq = dq + dt * dp / masses[:, None]
            df = curvature(q, dq)
            dp = dp + 0.5 * dt * df
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(p))):
        from .errors import NonFiniteError
        raise NonFiniteError(f"the leapfrog run overflowed ({steps} steps of dt = {dt:g}); reduce |dt| or the state")
    return q, p, dq, dp


def _masses(masses) -> np.ndarray:
    masses = as_vector(masses, "masses")
    if np.any(masses <= 0):
        raise ValueError(f"masses must be positive, got {masses}")
    return masses


def uneven_leapfrog(state, masses, *, dt: float, steps: int, omega: float = 1.0, coupling: float = 1.0) -> np.ndarray:
    r"""Leapfrog run of a ring of pendulums with masses :math:`m_i` (equal lengths), from ``state`` :math:`= (q, p)`.

    :math:`H = \sum_i \big[p_i^2/(2 m_i) + m_i \omega^2 (1 - \cos q_i)\big] + \tfrac\kappa2 \sum_i (q_{i+1} - q_i)^2`
    (periodic), so :math:`F(q) = -m\,\omega^2 \sin q + \kappa \Delta q` and one step is
    :math:`p_{1/2} = p + \tfrac h2 F(q)`, :math:`q' = q + h\, p_{1/2}/m`, :math:`p' = p_{1/2} + \tfrac h2 F(q')`.
    With unit masses it is :func:`companion.physics.oscillators.leapfrog`; with :math:`-h` it runs backwards exactly.

    >>> from companion.physics import leapfrog
    >>> x = np.array([0.3, -0.1, 0.2, 0.05])
    >>> bool(np.allclose(uneven_leapfrog(x, [1.0, 1.0], dt=0.1, steps=20), leapfrog(x, dt=0.1, steps=20, coupling=1.0)))
    True
    """
    masses = _masses(masses)
    x = as_vector(state, "state", size=2 * masses.size)
    q, p, _, _ = _uneven_run(x, masses, float(dt), check_int(steps, "steps"), float(omega), float(coupling))
    return np.concatenate([q, p])


def uneven_leapfrog_jacobian(state, masses, *, dt: float, steps: int, omega: float = 1.0,
                             coupling: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    r"""The final state and the exact ``(2n, 2n)`` Jacobian of :func:`uneven_leapfrog` (tangent propagation)."""
    masses = _masses(masses)
    x = as_vector(state, "state", size=2 * masses.size)
    q, p, dq, dp = _uneven_run(x, masses, float(dt), check_int(steps, "steps"), float(omega), float(coupling),
                               tangent=np.eye(x.size))
    return np.concatenate([q, p]), np.vstack([dq, dp])


def uneven_chain_problem(masses, *, dt: float, steps: int, target, omega: float = 1.0, coupling: float = 1.0,
                         hessian_step: Optional[float] = None) -> Problem:
    r"""Find the initial state of a ring of pendulums with masses ``masses`` whose leapfrog run ends at ``target``.

    Jacobian: exact (tangent propagation); inverse: the run with :math:`-h` (global,
    time-reversible); Hessian of :math:`L = \tfrac12|P(x) - y^*|^2`: central differences
    of the exact gradient :math:`J^\top (P(x) - y^*)`, symmetrised, with
    :math:`h_j = s \max(1, |x_j|)`, :math:`s = \epsilon^{1/3}` by default.

    >>> target = uneven_leapfrog([0.4, -0.2, 0.1, 0.3], [1.0, 10.0], dt=0.1, steps=30)
    >>> p = uneven_chain_problem([1.0, 10.0], dt=0.1, steps=30, target=target)
    >>> minimize(p, np.zeros(4), rules.pg(), tol=1e-20).x.round(10)
    array([ 0.4, -0.2,  0.1,  0.3])
    """
    masses = _masses(masses)
    options = dict(dt=float(dt), steps=check_int(steps, "steps"), omega=float(omega), coupling=float(coupling))
    target = as_vector(target, "target", size=2 * masses.size)
    step = float(np.finfo(float).eps ** (1 / 3)) if hessian_step is None else check_positive(hessian_step, "hessian_step")

    def gradient(x):
        y, jac = uneven_leapfrog_jacobian(x, masses, **options)
        return jac.T @ (y - target)

    def hessian(x):
        x = as_vector(x, "x", size=2 * masses.size)
        h = step * np.maximum(1.0, np.abs(x))
        columns = [(gradient(x + h[j] * e) - gradient(x - h[j] * e)) / (2 * h[j]) for j, e in enumerate(np.eye(x.size))]
        matrix = np.array(columns).T
        return 0.5 * (matrix + matrix.T)

    return Problem(
        simulator=lambda x: uneven_leapfrog(x, masses, **options),
        jacobian=lambda x: uneven_leapfrog_jacobian(x, masses, **options)[1],
        target=target, loss=squared_error(), hessian=hessian,
        inverse=lambda y, x0: uneven_leapfrog(y, masses, **{**options, "dt": -options["dt"]}),
        name=f"pendulum ring with uneven masses (n={masses.size}, {options['steps']} steps of {dt:g})",
    )


# --------------------------------------------------------------------------- tasks
class Task(NamedTuple):
    r"""One inverse problem instance: what to solve, from where, and when it counts as solved.

    ``problem`` has the observation as its target; ``tol`` is the loss value that
    counts as solved; ``scale`` holds the size parameters; ``cutoff`` is the
    regularisation threshold of the inverse (heat) or ``None``; ``noise`` the
    standard deviation of the observation noise.
    """

    name: str
    problem: Problem
    x_true: np.ndarray
    x0: np.ndarray
    y_clean: np.ndarray
    tol: float
    scale: dict
    noise: float
    cutoff: Optional[float]


def _random_state(n: int, amplitude: float, rng) -> np.ndarray:
    return np.concatenate([rng.uniform(-amplitude, amplitude, n), rng.uniform(-amplitude / 2, amplitude / 2, n)])


def pendulum_task(n: int = 4, *, dt: float = 0.1, steps: int = 50, coupling: float = 1.0, amplitude: float = 1.0,
                  seed: int = 0, rel_tol: float = 1e-10) -> Task:
    r"""Recover the initial state of a ring of unit-mass pendulums from its exact state after :math:`T = h \cdot \text{steps}`.

    True state: :math:`q_i \sim U[-a, a]`, :math:`p_i \sim U[-a/2, a/2]` from
    ``np.random.default_rng(seed)``; start :math:`x_0 = 0`; solved means
    :math:`L \le` ``rel_tol`` :math:`\cdot L(x_0)`.

    >>> task = pendulum_task(2, steps=10)
    >>> task.x0.shape, task.scale["T"]
    ((4,), 1.0)
    """
    from .physics import leapfrog, pendulum_chain_problem

    n = check_int(n, "n", minimum=1)
    steps = check_int(steps, "steps", minimum=1)
    dt = check_positive(dt, "dt")
    rel_tol = check_positive(rel_tol, "rel_tol")
    x_true = _random_state(n, check_positive(amplitude, "amplitude"), np.random.default_rng(seed))
    y = leapfrog(x_true, dt=dt, steps=steps, coupling=coupling)
    problem = efficient(pendulum_chain_problem(n, dt=dt, steps=steps, target=y, coupling=coupling))
    x0 = np.zeros(2 * n)
    scale = {"n": n, "steps": steps, "dt": float(dt), "T": round(float(dt * steps), 12), "seed": int(seed)}
    return Task("pendulum", problem, x_true, x0, y, rel_tol * problem.loss_at(x0), scale, 0.0, None)


def uneven_pendulum_task(n: int = 4, *, mass_ratio: float = 100.0, dt: float = 0.1, steps: int = 50,
                         coupling: float = 1.0, amplitude: float = 1.0, seed: int = 0, rel_tol: float = 1e-10) -> Task:
    r"""As :func:`pendulum_task`, for a ring whose masses grow geometrically from 1 to ``mass_ratio``.

    Angles are drawn as before; momenta as :math:`p_i = m_i v_i` with
    :math:`v_i \sim U[-a/2, a/2]`, so every pendulum moves at a comparable speed.

    >>> task = uneven_pendulum_task(3, mass_ratio=100.0, steps=10)
    >>> task.scale["masses"]
    [1.0, 10.0, 100.0]
    """
    n = check_int(n, "n", minimum=2)
    steps = check_int(steps, "steps", minimum=1)
    masses = np.geomspace(1.0, check_positive(mass_ratio, "mass_ratio"), n)
    velocities = _random_state(n, check_positive(amplitude, "amplitude"), np.random.default_rng(seed))
    x_true = np.concatenate([velocities[:n], masses * velocities[n:]])
    y = uneven_leapfrog(x_true, masses, dt=dt, steps=steps, coupling=coupling)
    problem = efficient(uneven_chain_problem(masses, dt=dt, steps=steps, target=y, coupling=coupling))
    x0 = np.zeros(2 * n)
    scale = {"n": n, "steps": steps, "dt": float(dt), "T": round(float(dt * steps), 12), "seed": int(seed),
             "masses": [float(f"{m:.6g}") for m in masses]}
    return Task("uneven pendulum", problem, x_true, x0, y, check_positive(rel_tol, "rel_tol") * problem.loss_at(x0),
                scale, 0.0, None)


def heat_task(n: int = 64, nu_t: float = 1e-3, *, noise: float = 1e-3, boxes: int = 3, seed: int = 1,
              tau: float = 1.1, cutoff: Optional[float] = None) -> Task:
    r"""Recover an initial temperature (random hot boxes) from a noisy observation after diffusion over :math:`\nu t`.

    :math:`\tilde y = P(x_{\text{true}}) + \varepsilon`, :math:`\varepsilon_j \sim N(0, \sigma^2)`
    (``np.random.default_rng(seed)`` draws the boxes, then the noise). The inverse keeps
    the modes whose gain exceeds ``cutoff``, by default :math:`\sigma/\mathrm{rms}(\tilde y)`.
    Solved means the discrepancy principle :math:`\mathrm{rms}(P(x) - \tilde y) \le \tau\sigma`,
    i.e. :math:`L \le \tfrac12 n \tau^2 \sigma^2`.

    >>> task = heat_task(32, 1e-3)
    >>> task.scale["n"], round(task.tol / (0.5 * 32 * 1e-6), 12)
    (32, 1.21)
    """
    from .physics import add_noise, heat_operator, heat_problem, random_boxes

    n = check_int(n, "n", minimum=2)
    nu_t = check_positive(nu_t, "nu_t")
    noise = check_positive(noise, "noise")
    tau = check_positive(tau, "tau")
    rng = np.random.default_rng(seed)
    x_true = random_boxes(n, boxes, rng)
    y_clean = heat_operator(n, nu_t).apply(x_true)
    y = add_noise(y_clean, noise, rng)
    if cutoff is None:
        cutoff = noise / rms(y)
    problem = efficient(heat_problem(n, nu_t, y, cutoff=cutoff))
    scale = {"n": n, "nu_t": float(nu_t), "seed": int(seed)}
    return Task("heat", problem, x_true, np.zeros(n), y_clean, 0.5 * n * (tau * noise) ** 2, scale,
                float(noise), float(cutoff))


# --------------------------------------------------------------------------- methods
def second_order_choice(task: Task, rtol: float = linalg.DEFAULT_RTOL) -> tuple[str, float]:
    r"""Newton if the (unit-diagonal scaled) Hessian of :math:`L` at :math:`x_0` is invertible, else Gauss-Newton; with its condition number.

    The heat equation's Hessian :math:`J^\top J` has condition number :math:`1/g_{\min}^2`,
    far beyond :math:`1/` ``rtol`` once the highest modes are damped below about
    :math:`10^{-6}`; then Gauss-Newton with a truncated pseudo-inverse takes over.
    """
    hessian = task.problem.hessian_at(task.x0)
    diagonal = np.abs(np.diag(hessian))
    d = np.where(diagonal > 0, 1.0 / np.sqrt(np.where(diagonal > 0, diagonal, 1.0)), 1.0)
    condition = linalg.condition_number(hessian * np.outer(d, d))
    return ("Newton" if condition < 1.0 / rtol else "Gauss-Newton"), condition


#: Step sizes swept per method and problem; BFGS sets its step by a line search and has none.
GRIDS = {
    "pendulum": {"GD": (0.03, 0.1, 0.3, 1.0, 3.0), "Adam": (0.01, 0.03, 0.1, 0.3, 1.0),
                 "GN": (0.5, 1.0, 1.5), "IG": (0.5, 1.0, 1.5), "PG": (0.5, 1.0, 1.5)},
    "uneven pendulum": {"GD": (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2), "Adam": (0.01, 0.03, 0.1, 0.3, 1.0, 3.0),
                        "GN": (0.5, 1.0, 1.5), "IG": (0.5, 1.0, 1.5), "PG": (0.5, 1.0, 1.5)},
    "heat": {"GD": (0.25, 0.5, 1.0, 1.5, 1.9, 2.1), "Adam": (0.01, 0.03, 0.1, 0.3, 1.0, 3.0),
             "GN": (0.5, 1.0, 1.5), "IG": (0.5, 1.0, 1.5), "PG": (0.5, 1.0, 1.5)},
}


def method_rules(task: Task, *, grids: Optional[dict] = None) -> dict:
    r"""``{method: (make, grid, note)}``: the rule of each method as a function of :math:`\eta`, and its sweep grid.

    GN (Gauss-Newton) and IG use :math:`J^+` truncated at the task's cutoff (heat) or
    at :math:`10^{-10}` (pendulums); for the L2 loss the two rules are the same
    formula, :math:`\Delta x = \eta J^+ (y^* - y)`. PG uses the problem's inverse
    simulator; BFGS its line search (grid ``()``). The grids are :data:`GRIDS` of the
    task's kind; ``grids`` overrides some, e.g. ``{"GD": (0.1, 0.3, 1.0)}``.

    >>> sorted(method_rules(pendulum_task(2, steps=10)))
    ['Adam', 'BFGS', 'GD', 'GN', 'IG', 'PG']
    """
    heat = task.cutoff is not None
    rtol = task.cutoff if heat else 1e-10
    base = GRIDS[task.name]
    out = {
        "GD": (rules.gd, base["GD"], "fixed step"),
        "Adam": (rules.adam, base["Adam"], "beta = (0.9, 0.999)"),
        "GN": (lambda eta: rules.gauss_newton(eta, rtol=rtol), base["GN"], f"J^+ truncated at {rtol:.2g}"),
        "BFGS": (lambda eta: rules.bfgs(), (), "line search"),
        "IG": (lambda eta: rules.ig(eta, rtol=rtol), base["IG"], f"J^+ truncated at {rtol:.2g}"),
        "PG": (rules.pg, base["PG"], "regularised inverse" if heat else "leapfrog with -dt"),
    }
    for name, grid in (grids or {}).items():
        if name not in out:
            raise ValueError(f"grids has an unknown method {name!r}; choose from {tuple(out)}")
        out[name] = (out[name][0], tuple(float(e) for e in grid), out[name][2])
    return out


# --------------------------------------------------------------------------- traced runs
class Trace(NamedTuple):
    """A run with its per-iteration relative x error and seconds; ``status`` is how it ended."""

    run: MinimizeResult
    iterations: np.ndarray
    seconds: np.ndarray
    x_errors: np.ndarray
    status: str

    def x_error_at(self, iteration: int) -> float:
        """The relative x error after ``iteration`` steps (the last one if the run stopped earlier)."""
        return float(self.x_errors[min(int(iteration), self.x_errors.size - 1)])


def traced_run(task: Task, rule: rules.Rule, *, iterations: int, seconds: float = 0.0,
               max_iterations: Optional[int] = None) -> Trace:
    r"""Run ``rule`` on ``task`` until both ``iterations`` steps and ``seconds`` of wall-clock are used, or the tolerance is reached.

    The error is relative to :math:`\mathrm{rms}(x_{\text{true}})`, or absolute when the truth is zero.
    ``status`` is ``"converged"`` (tolerance reached), ``"budget"`` (both budgets
    used), or the driver's status name (``"diverged"``, ``"stalled"``, ...).
    ``max_iterations`` (default :math:`200\times` ``iterations``) caps a fast rule. ``seconds``
    are measured by this function's clock after each step (the driver's set-up included), so
    a run stopped by the wall-clock budget has a last time of at least ``seconds``.

    >>> trace = traced_run(pendulum_task(2, steps=10), rules.pg(), iterations=5)
    >>> trace.status, int(trace.iterations[-1]), trace.x_error_at(5) < 1e-12
    ('converged', 1, True)
    """
    iterations = check_int(iterations, "iterations", minimum=1)
    cap = 200 * iterations if max_iterations is None else check_int(max_iterations, "max_iterations", minimum=1)
    clock = [0.0]  # seconds since our start, after each step: the driver's set-up counts as part of the run
    start = time.perf_counter()

    def enough(state) -> bool:
        clock.append(time.perf_counter() - start)
        return state.nit >= iterations and clock[-1] >= seconds

    run = minimize(task.problem, task.x0, rule, steps=cap, tol=task.tol, callback=enough)
    end = time.perf_counter() - start
    seconds_per_iterate = np.array((clock + [end] * run.xs.shape[0])[:run.xs.shape[0]])
    scale = rms(task.x_true) or 1.0  # a zero truth (the 2-D toy's optimum): the absolute rms error
    x_errors = np.array([rms(x - task.x_true) / scale for x in run.xs])
    if run.success:
        status = "converged"
    elif run.status_name in ("callback", "max_steps") or run.status == 5 or run.status == 1:
        status = "budget"
    else:
        status = run.status_name
    return Trace(run, np.arange(run.xs.shape[0]), seconds_per_iterate, x_errors, status)


def budget_score(run: MinimizeResult, iterations: int, tol: float) -> float:
    r"""Validation score of a run (lower is better): steps to the tolerance, or, if missed, :math:`N (1 + \log_{10}(L/\text{tol}))`.

    A run that reached the tolerance scores its step count (at most :math:`N` =
    ``iterations``); a run that missed it scores more than :math:`N`, the more the
    further its final loss :math:`L` lies above the tolerance; a diverged run scores ``nan``.

    >>> class R: success, nit, fun, status_name = False, 10, 1e-6, "max_steps"
    >>> budget_score(R(), 10, 1e-8)
    30.0
    """
    if run.status_name == "diverged" or not np.isfinite(run.fun):
        return math.nan
    if run.success:
        return float(run.nit)
    return float(iterations) * (1.0 + max(0.0, math.log10(max(run.fun, 1e-300) / tol)))
