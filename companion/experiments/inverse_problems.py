r"""Computations of the chapter *Physical inverse problems* (``book/physical_inverse_problems.ipynb``).

Two inverse problems of physics, each solved with every update rule of the
course on the same footing (same start, target, seed, iteration budget and
wall-clock budget; every step size from a sweep):

* **pendulum chain** -- find the initial state :math:`x = (q_0, p_0)` of a
  chain of nonlinear pendulums from its state after :math:`T = h \cdot
  \text{steps}` (:func:`companion.physics.pendulum_chain_problem`).  The
  leapfrog scheme is time-reversible, so the inverse simulator *integrates
  backwards* and is a global inverse;
* **heat equation** -- find the initial temperature from a noisy observation
  of the diffused profile (:func:`companion.physics.heat_problem`).  Here the
  inverse simulator is the *regularised* inverse
  :math:`P^{-1}(y; x_0) = x_0 + R\,(y - P(x_0))`, which undoes the decay only
  of the modes with gain :math:`g_m` above a cutoff.

The tolerance is a loss value: a relative reduction
:math:`L \le \epsilon\, L(x_0)` for the noiseless pendulum, and the
*discrepancy principle* for the noisy heat data: stop once the fit is as good
as the noise allows, :math:`\mathrm{rms}(P(x) - \tilde y) \le \tau \sigma`
(:math:`\tau = 1.1`),
i.e. :math:`L \le \tfrac12 n \tau^2 \sigma^2`.

The same functions run at larger sizes in ``python -m companion.bench compare``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, fields
from typing import Callable, NamedTuple, Optional, Sequence

import numpy as np
import scipy.optimize  # noqa: F401  (BFGS's line search: imported here so that no timed run pays for the import)

from .. import linalg, rules
from .._checks import as_vector, check_int, check_positive
from ..driver import MinimizeResult, minimize
from ..problems import Problem
from ..tuning import SweepResult, sweep_step_size
from ..timing import one_blas_thread  # noqa: F401 - re-exported

__all__ = [
    "METHODS",
    "efficient",
    "rms",
    "one_blas_thread",
    "Task",
    "pendulum_task",
    "heat_task",
    "MethodSpec",
    "method_specs",
    "second_order_choice",
    "MethodResult",
    "run_method",
    "compare_methods",
    "result_rows",
    "format_table",
    "pendulum_scaling",
    "heat_scaling",
    "SCALING",
    "scaling_runs",
    "load_scaling",
    "fit_versus_truth",
    "error_history",
    "speedup",
    "scaling_table",
    "plot_sweeps",
    "plot_scaling",
    "exercise_retained_modes",
    "exercise_retained_modes_closed_form",
    "exercise_pg_iterations",
    "exercise_pg_iterations_closed_form",
]

#: The methods compared, in the order of the tables.
METHODS = ("GD", "Adam", "Newton", "BFGS", "IG", "PG")


# --------------------------------------------------------------------------- helpers
def rms(a) -> float:
    r"""Root mean square :math:`\sqrt{\tfrac1n \sum_i a_i^2}`.

    >>> rms([3.0, -3.0, 3.0, -3.0])
    3.0
    """
    a = np.asarray(a, dtype=float)
    if a.size == 0:
        raise ValueError("a must not be empty")
    return float(np.sqrt(np.mean(a * a)))




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

    Two savings, both exact:

    * the last simulator output and the last Jacobian are remembered, keyed on
      the bytes of :math:`x` (the driver evaluates :math:`P(x_{k+1})`, and the
      next gradient asks for it again);
    * for a squared-error loss :math:`\tfrac c2 |y - y^*|^2` the Newton step
      in :math:`y` ({eq}`eq-dy`) is :math:`\eta (y^* - y)`, computed directly
      instead of by the SVD of the :math:`m \times m` matrix :math:`cI`
      (``Problem.newton_step_in_y`` always solves; for the heat equation with
      :math:`n = 1024` that SVD would dominate the cost of PG and IG).

    >>> from companion import problems
    >>> p = efficient(problems.square_second())
    >>> p.newton_step_in_y(np.array([3.0, 9.0]), 0.5)
    array([-1.5, -4.5])
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a companion.Problem, got {type(problem).__name__}")
    last_y: dict = {}
    last_j: dict = {}
    simulator, jacobian = problem.simulator, problem.jacobian

    def cached_simulator(x):
        key = np.asarray(x, dtype=float).tobytes()
        if last_y.get("key") != key:
            last_y["value"] = np.array(simulator(x), dtype=float)
            last_y["key"] = key
        return last_y["value"].copy()

    def cached_jacobian(x):
        key = np.asarray(x, dtype=float).tobytes()
        if last_j.get("key") != key:
            last_j["value"] = np.asarray(jacobian(x), dtype=float)
            last_j["key"] = key
        return last_j["value"]

    values = {f.name: getattr(problem, f.name) for f in fields(Problem)}
    values.update(simulator=cached_simulator, jacobian=cached_jacobian)
    return _EfficientProblem(**values, l2=_is_squared_error(problem))


# --------------------------------------------------------------------------- tasks
class Task(NamedTuple):
    r"""One inverse problem: what to solve, from where, and when it counts as solved.

    ``problem`` has the observation as its target; ``tol`` is the loss value
    that counts as solved; ``scale`` holds the size parameters (for tables);
    ``cutoff`` is the regularisation threshold of the inverse (heat) or
    ``None``; ``noise`` the standard deviation of the observation noise.
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


def pendulum_task(n: int = 4, *, dt: float = 0.1, steps: int = 50, coupling: float = 1.0,
                  amplitude: float = 1.0, seed: int = 0, rel_tol: float = 1e-10) -> Task:
    r"""Recover the initial state of a pendulum chain from its state after :math:`T = \text{dt} \cdot \text{steps}`.

    True state: angles :math:`q_i \sim U[-a, a]`, momenta
    :math:`p_i \sim U[-a/2, a/2]` (:math:`a` = ``amplitude``) from
    ``np.random.default_rng(seed)``; the observation is the exact leapfrog
    output (no noise); the start is :math:`x_0 = 0`; solved means
    :math:`L \le` ``rel_tol`` :math:`\cdot L(x_0)`.

    >>> task = pendulum_task(2, steps=10)
    >>> task.x0.shape, task.scale["T"]
    ((4,), 1.0)
    """
    from ..physics import leapfrog, pendulum_chain_problem

    n = check_int(n, "n", minimum=1)
    steps = check_int(steps, "steps", minimum=1)
    dt = check_positive(dt, "dt")
    amplitude = check_positive(amplitude, "amplitude")
    rel_tol = check_positive(rel_tol, "rel_tol")
    rng = np.random.default_rng(seed)
    x_true = np.concatenate([rng.uniform(-amplitude, amplitude, n), rng.uniform(-amplitude / 2, amplitude / 2, n)])
    y = leapfrog(x_true, dt=dt, steps=steps, coupling=coupling)
    problem = efficient(pendulum_chain_problem(n, dt=dt, steps=steps, target=y, coupling=coupling))
    x0 = np.zeros(2 * n)
    scale = {"n": n, "steps": steps, "dt": float(dt), "T": round(float(dt * steps), 12), "seed": int(seed)}
    return Task("pendulum", problem, x_true, x0, y, rel_tol * problem.loss_at(x0), scale, 0.0, None)


def heat_task(n: int = 64, nu_t: float = 1e-3, *, noise: float = 1e-3, boxes: int = 3, seed: int = 1,
              tau: float = 1.1, cutoff: Optional[float] = None) -> Task:
    r"""Recover an initial temperature (random hot boxes) from a noisy observation after diffusion over :math:`\nu t`.

    The observation is :math:`\tilde y = P(x_{\text{true}}) + \varepsilon`,
    :math:`\varepsilon_j \sim N(0, \sigma^2)` with :math:`\sigma` = ``noise``
    (``np.random.default_rng(seed)`` draws the boxes, then the noise).  The
    inverse keeps the modes whose gain exceeds ``cutoff``, by default the
    relative noise level :math:`\sigma/\mathrm{rms}(\tilde y)`.  Solved means
    the discrepancy principle :math:`\mathrm{rms}(P(x) - \tilde y) \le \tau\sigma`,
    i.e. :math:`L \le \tfrac12 n \tau^2 \sigma^2`.  The default :math:`\tau = 1.1`
    sits slightly above 1 because the sample rms of the noise itself scatters
    around :math:`\sigma` by about :math:`\sigma/\sqrt{2n}`.

    >>> task = heat_task(32, 1e-3)
    >>> task.scale["n"], round(task.tol / (0.5 * 32 * 1e-6), 12)
    (32, 1.21)
    """
    from ..physics import add_noise, heat_operator, heat_problem, random_boxes

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
class MethodSpec(NamedTuple):
    """How a method is built for a task: ``make(eta) -> Rule``, the step sizes swept, and a note."""

    name: str
    make: Callable[[float], rules.Rule]
    etas: tuple
    note: str


def second_order_choice(task: Task, rtol: float = linalg.DEFAULT_RTOL) -> tuple[str, float]:
    r"""Newton if the Hessian of :math:`L` at :math:`x_0` is invertible, else Gauss-Newton; with its condition number.

    Newton's solve refuses a Hessian whose condition number (after scaling
    to unit diagonal, as :func:`companion.rules.newton_direction` does)
    exceeds :math:`1/` ``rtol``.  The heat equation's Hessian
    :math:`J^\top J` has condition number :math:`1/g_{\min}^2`, far beyond
    that once the highest modes are damped below about :math:`10^{-6}`;
    then Gauss-Newton with a truncated pseudo-inverse takes over.
    """
    hessian = task.problem.hessian_at(task.x0)
    diagonal = np.abs(np.diag(hessian))
    d = np.where(diagonal > 0, 1.0 / np.sqrt(np.where(diagonal > 0, diagonal, 1.0)), 1.0)
    condition = linalg.condition_number(hessian * np.outer(d, d))
    return ("Newton" if condition < 1.0 / rtol else "Gauss-Newton"), condition


def method_specs(task: Task, *, grids: Optional[dict] = None) -> dict:
    r"""The six methods for ``task``, each with the step sizes its sweep tries.

    * GD and Adam: small grids around the best values (for heat, GD's grid
      ends at 1.9: the largest eigenvalue of :math:`J^\top J` is
      :math:`g_0^2 = 1`, so GD is stable only for :math:`\eta < 2`);
    * Newton (pendulum: finite-difference Hessian of the chain) or, where the
      Hessian is numerically singular, Gauss-Newton truncated at the cutoff
      (:func:`second_order_choice`);
    * BFGS with a Wolfe line search, which sets the step length itself
      (``eta`` stays 1; the sweep has one entry);
    * IG with the truncated pseudo-inverse of :math:`J` (at the task's cutoff
      for heat, at :math:`10^{-10}` for the pendulum, whose symplectic
      :math:`J` is well conditioned);
    * PG: the problem's inverse simulator.

    ``grids`` overrides the step sizes of any method, e.g. ``{"GD": (0.1, 1.0)}``.
    """
    heat = task.cutoff is not None
    rtol = task.cutoff if heat else 1e-10
    second, _ = second_order_choice(task)
    if second == "Newton":
        make_second = rules.newton
        second_note = "Newton (exact Hessian)" if heat else "Newton (finite-difference Hessian)"
    else:
        def make_second(eta):
            return rules.gauss_newton(eta, rtol=rtol)
        second_note = f"Gauss-Newton, J^+ truncated at {rtol:.2g} (Hessian singular)"
    gd_grid = (0.25, 0.5, 1.0, 1.5, 1.9) if heat else (0.1, 0.3, 0.5, 1.0)
    adam_grid = (0.1, 0.3, 1.0, 3.0) if heat else (0.03, 0.1, 0.3)
    specs = {
        "GD": MethodSpec("GD", rules.gd, gd_grid, "fixed step"),
        "Adam": MethodSpec("Adam", rules.adam, adam_grid, "beta = (0.9, 0.999)"),
        "Newton": MethodSpec(second, make_second, (0.5, 1.0), second_note),
        "BFGS": MethodSpec("BFGS", lambda eta: rules.bfgs(), (1.0,), "Wolfe line search"),
        "IG": MethodSpec("IG", lambda eta: rules.ig(eta, rtol=rtol), (0.5, 1.0), f"J^+ truncated at {rtol:.2g}"),
        "PG": MethodSpec("PG", rules.pg, (0.5, 1.0),
                         f"regularised inverse, cutoff {rtol:.2g}" if heat else "leapfrog with -dt"),
    }
    for name, grid in (grids or {}).items():
        if name not in specs:
            raise ValueError(f"grids has an unknown method {name!r}; choose from {tuple(specs)}")
        specs[name] = specs[name]._replace(etas=tuple(float(e) for e in grid))
    return specs


class MethodResult(NamedTuple):
    r"""One method on one task: the sweep, the best run and what it achieved.

    ``iterations`` and ``seconds`` are those of the best run when it reached
    the tolerance, ``inf`` and ``nan`` otherwise.  ``y_error`` is
    :math:`\mathrm{rms}(P(x) - y_{\text{obs}})`, ``x_error`` is
    :math:`\mathrm{rms}(x - x_{\text{true}})/\mathrm{rms}(x_{\text{true}})`.
    """

    method: str
    rule: str
    eta: float
    sweep: SweepResult
    run: MinimizeResult
    iterations: float
    seconds: float
    y_error: float
    x_error: float
    sweep_seconds: float

    @property
    def converged(self) -> bool:
        return bool(np.isfinite(self.iterations))


def run_method(task: Task, spec: MethodSpec, *, steps: int, max_time: Optional[float] = None,
               repeats: int = 1, retime_budget: float = 1.0) -> MethodResult:
    """Sweep the step size of one method on ``task`` (same start, budget and tolerance) and keep the best run.

    With ``repeats > 1`` a best run that reached the tolerance is run again
    (up to ``repeats`` times in all, while the re-runs stay within
    ``retime_budget`` seconds) and ``seconds`` is the fastest of them: on a
    shared machine single timings are noisy.  Iterations do not change.
    """
    steps = check_int(steps, "steps", minimum=1)
    repeats = check_int(repeats, "repeats", minimum=1)
    start = time.perf_counter()
    sweep = sweep_step_size(task.problem, task.x0, spec.make, spec.etas, steps=steps, tol=task.tol,
                            max_time=max_time)
    elapsed = time.perf_counter() - start
    run = sweep.best
    reached = run.success
    seconds = float(run.times[-1]) if reached else math.nan
    spent = 0.0
    for _ in range(repeats - 1):
        if not reached or spent > retime_budget:
            break
        again = minimize(task.problem, task.x0, spec.make(sweep.best_eta), steps=steps, tol=task.tol,
                         max_time=max_time)
        spent += float(again.times[-1])
        if again.success:
            seconds = min(seconds, float(again.times[-1]))
    y_error = rms(task.problem.output(run.x) - task.problem.target)
    x_error = rms(run.x - task.x_true) / rms(task.x_true)
    return MethodResult(spec.name, run.rule, sweep.best_eta, sweep, run,
                        float(run.nit) if reached else math.inf, seconds, y_error, x_error, elapsed)


def compare_methods(task: Task, *, steps: int = 100, max_time: Optional[float] = 10.0,
                    methods: Sequence[str] = METHODS, grids: Optional[dict] = None, repeats: int = 1) -> dict:
    r"""Every method on ``task`` with its best step size: ``{method: MethodResult}``.

    Same start ``task.x0``, target, tolerance ``task.tol``, iteration budget
    ``steps`` and wall-clock budget ``max_time`` (seconds per run) for all.
    Runs with one BLAS thread (:func:`one_blas_thread`); ``repeats`` as in
    :func:`run_method`.

    >>> task = pendulum_task(2, steps=20)
    >>> results = compare_methods(task, methods=("IG", "PG"))
    >>> results["PG"].iterations, results["PG"].eta
    (1.0, 1.0)
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {METHODS}")
    with one_blas_thread():
        specs = method_specs(task, grids=grids)
        return {name: run_method(task, specs[name], steps=steps, max_time=max_time, repeats=repeats)
                for name in methods}


def result_rows(results: dict) -> list[dict]:
    """Plain rows (method, rule, eta, iterations, seconds, errors, status) of :func:`compare_methods` output."""
    rows = []
    for name, r in results.items():
        rows.append({
            "method": name,
            "rule": r.rule,
            "eta": float(r.eta),
            "iterations": None if not r.converged else int(r.iterations),
            "converged": r.converged,
            "seconds": None if not r.converged else float(r.seconds),
            "final_loss": float(r.run.fun),
            "y_error": float(r.y_error),
            "x_error": float(r.x_error),
            "status": r.run.status_name,
            "nit": int(r.run.nit),
        })
    return rows


def format_table(results: dict, *, times: bool = False, errors: bool = True) -> str:
    """A fixed-format text table of :func:`compare_methods` output (iterations ``-`` when not reached)."""
    header = f"{'method':8s} {'rule':13s} {'eta':>6s} {'iterations':>10s}"
    if times:
        header += f" {'seconds':>9s}"
    if errors:
        header += f" {'y error':>9s} {'x error':>9s}"
    header += "  status"
    lines = [header]
    for name, r in results.items():
        its = f"{int(r.iterations):10d}" if r.converged else f"{'-':>10s}"
        line = f"{name:8s} {r.rule:13s} {r.eta:6.3g} {its}"
        if times:
            line += f" {r.seconds:9.2e}" if r.converged else f" {'-':>9s}"
        if errors:
            line += f" {r.y_error:9.2e} {r.x_error:9.2e}"
        line += f"  {r.run.status_name}"
        lines.append(line)
    return "\n".join(lines)


def speedup(results: dict, winner: str = "PG", *, by: str = "iterations") -> dict:
    r"""How many times more iterations (or seconds) each other method needs than ``winner``.

    ``inf`` for methods that did not reach the tolerance.
    """
    if by not in ("iterations", "seconds"):
        raise ValueError(f"by must be 'iterations' or 'seconds', got {by!r}")
    best = getattr(results[winner], by)
    out = {}
    for name, r in results.items():
        if name == winner:
            continue
        out[name] = getattr(r, by) / best if r.converged else math.inf
    return out


# --------------------------------------------------------------------------- scaling
def pendulum_scaling(step_counts: Sequence[int], *, n: int = 4, dt: float = 0.1, seed: int = 0,
                     steps: int = 100, max_time: Optional[float] = 10.0, methods: Sequence[str] = METHODS,
                     grids: Optional[dict] = None, repeats: int = 1, **task_options) -> list[dict]:
    r"""The comparison for several time spans :math:`T = \text{dt} \cdot \text{steps}`; one row per (span, method)."""
    rows = []
    for count in step_counts:
        task = pendulum_task(n, dt=dt, steps=int(count), seed=seed, **task_options)
        results = compare_methods(task, steps=steps, max_time=max_time, methods=methods, grids=grids,
                                  repeats=repeats)
        for row in result_rows(results):
            rows.append({"problem": "pendulum", **task.scale, **row})
    return rows


def heat_scaling(settings: Sequence[tuple[int, float]], *, seed: int = 1, steps: int = 200,
                 max_time: Optional[float] = 10.0, methods: Sequence[str] = METHODS,
                 grids: Optional[dict] = None, repeats: int = 1, **task_options) -> list[dict]:
    r"""The heat comparison for each ``(n, nu_t)``; one row per (setting, method)."""
    rows = []
    for n, nu_t in settings:
        task = heat_task(int(n), float(nu_t), seed=seed, **task_options)
        results = compare_methods(task, steps=steps, max_time=max_time, methods=methods, grids=grids,
                                  repeats=repeats)
        for row in result_rows(results):
            rows.append({"problem": "heat", **task.scale, **row})
    return rows


#: The scaling studies of the chapter: the pendulum chain for longer spans, the heat equation for
#: other diffusivities and grids (``python -m companion.bench inverse_chapter`` stores them).
SCALING = {
    "pendulum": {"step_counts": (25, 100), "n": 4, "dt": 0.1, "seed": 0, "steps": 60, "max_time": 10.0, "repeats": 2},
    "heat": {"settings": ((64, 1e-4), (64, 1e-2), (32, 1e-3), (128, 1e-3), (256, 1e-3)), "seed": 1, "steps": 200,
             "max_time": 10.0, "repeats": 2},
}


def scaling_runs(*, quick: bool = False) -> dict:
    """The rows of :func:`pendulum_scaling` and :func:`heat_scaling` with the settings :data:`SCALING`.

    ``quick``: one setting of each with a few steps (for tests).  Returns ``{"pendulum": rows, "heat": rows}``.
    """
    pendulum, heat = dict(SCALING["pendulum"]), dict(SCALING["heat"])
    if quick:
        pendulum.update(step_counts=(25,), steps=10, repeats=1)
        heat.update(settings=((32, 1e-3),), steps=10, repeats=1)
    counts = pendulum.pop("step_counts")
    settings = heat.pop("settings")
    return {"pendulum": pendulum_scaling(counts, **pendulum), "heat": heat_scaling(settings, **heat)}


def load_scaling(path) -> dict:
    """The document that ``python -m companion.bench inverse_chapter`` wrote (``bench_results/inverse_chapter.json``).

    Raises ``FileNotFoundError`` or ``ValueError`` naming the command that (re)writes it.
    """
    from ..bench import INVERSE_CHAPTER_SCHEMA, load_document

    return load_document(path, schema=INVERSE_CHAPTER_SCHEMA, what="scaling", command="companion.bench inverse_chapter")


def scaling_table(rows: Sequence[dict], key: str, quantity: str = "iterations", *, fmt: str = "{:d}",
                  methods: Sequence[str] = METHODS) -> str:
    r"""A text table with one line per method and one column per value of ``key`` (e.g. ``"T"`` or ``"n"``).

    ``quantity`` is a column of :func:`result_rows` (``"iterations"``, ``"seconds"``,
    ``"x_error"``, ...); ``None`` (not reached) prints as ``-``.

    >>> rows = [{"method": "PG", "T": 1.0, "iterations": 1}, {"method": "PG", "T": 2.0, "iterations": None}]
    >>> print(scaling_table(rows, "T", methods=("PG",)))
    method            1          2
    PG                1          -
    """
    values = sorted({r[key] for r in rows})
    lines = [f"{'method':8s}" + "".join(f"{v:>11g}" for v in values)]
    for method in methods:
        cells = []
        for v in values:
            match = [r for r in rows if r["method"] == method and r[key] == v]
            if not match:
                cells.append(f"{'':>11s}")
                continue
            value = match[0][quantity]
            cells.append(f"{'-':>11s}" if value is None else f"{fmt.format(value):>11s}")
        if any(c.strip() for c in cells):
            lines.append(f"{method:8s}" + "".join(cells))
    return "\n".join(lines)


def plot_sweeps(ax, results: dict, *, tol: Optional[float] = None):
    r"""Final loss against :math:`\eta` for each method's sweep; filled markers where the tolerance was reached."""
    from ..plots import MARKERS, color_of

    for i, (name, r) in enumerate(results.items()):
        color = color_of(r.rule if r.rule in ("Gauss-Newton",) else name, i)
        losses = np.array([run.fun for run in r.sweep.results])
        etas = np.asarray(r.sweep.etas, dtype=float)
        if name == "BFGS":
            ax.axhline(losses[0], color=color, ls="--", lw=1, label="BFGS (line search)")
            continue
        label = name if r.rule == name else f"{name} ({r.rule})"
        ax.loglog(etas, np.maximum(losses, 1e-32), color=color, lw=1, label=label)
        done = np.array([run.success for run in r.sweep.results])
        marker = MARKERS.get(name, "o")
        ax.loglog(etas[done], np.maximum(losses[done], 1e-32), ls="none", marker=marker, color=color, ms=6)
        ax.loglog(etas[~done], np.maximum(losses[~done], 1e-32), ls="none", marker=marker, color=color, ms=6,
                  markerfacecolor="white")
    if tol is not None:
        ax.axhline(tol, color="grey", lw=0.8, ls=":", label="tolerance")
    ax.set_xlabel(r"step size $\eta$")
    ax.set_ylabel("final loss")
    ax.legend(fontsize=8, ncol=2)


def plot_scaling(ax, rows: Sequence[dict], key: str, quantity: str = "iterations", *,
                 methods: Sequence[str] = METHODS, budget: Optional[float] = None,
                 labels: Optional[dict] = None):
    """``quantity`` against ``key`` per method (log-log); runs that missed the tolerance are drawn at ``budget`` with open markers.

    ``labels`` maps a method to its legend entry (default: the method's name).
    """
    from ..plots import MARKERS, color_of

    for i, method in enumerate(methods):
        match = sorted((r for r in rows if r["method"] == method), key=lambda r: r[key])
        if not match:
            continue
        xs = np.array([r[key] for r in match], dtype=float)
        ys = np.array([np.nan if r[quantity] is None else r[quantity] for r in match], dtype=float)
        color, marker = color_of(method, i), MARKERS.get(method, "o")
        ax.loglog(xs, ys, color=color, marker=marker, ms=5, label=(labels or {}).get(method, method))
        if budget is not None:
            missed = np.isnan(ys)
            ax.loglog(xs[missed], np.full(missed.sum(), budget), ls="none", marker=marker, color=color, ms=6,
                      markerfacecolor="white")
    values = sorted({r[key] for r in rows})
    ax.set_xticks(values)
    ax.set_xticklabels([f"{v:g}" for v in values])
    ax.minorticks_off()
    ax.set_xlabel(key)
    ax.set_ylabel(quantity)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, ncol=2)


# --------------------------------------------------------------------------- noise
def fit_versus_truth(task: Task, cutoffs: Sequence[float]) -> dict:
    r"""One PG step (:math:`\eta = 1`, from :math:`x_0 = 0`) for each cutoff: the fit to the data and the distance to the truth.

    Returns arrays ``y_error`` (:math:`\mathrm{rms}(P(x) - \tilde y)`),
    ``x_error`` (relative) and ``modes`` (number of retained modes); a cutoff
    whose inverse overflows gives ``nan`` errors.  Lowering the cutoff fits
    :math:`\tilde y` ever better while :math:`x` first improves and then is
    swamped by amplified noise.
    """
    from ..physics import heat_operator, heat_problem

    if task.cutoff is None:
        raise ValueError("fit_versus_truth needs a heat task (one with a cutoff)")
    n, nu_t = task.scale["n"], task.scale["nu_t"]
    op = heat_operator(n, nu_t)
    y_obs = task.problem.target
    y_errors, x_errors, modes = [], [], []
    for cutoff in cutoffs:
        problem = heat_problem(n, nu_t, y_obs, cutoff=float(cutoff))
        run = minimize(problem, task.x0, rules.pg(1.0), steps=1)
        if run.nit == 0:
            y_errors.append(np.nan)
            x_errors.append(np.nan)
        else:
            y_errors.append(rms(problem.output(run.x) - y_obs))
            x_errors.append(rms(run.x - task.x_true) / rms(task.x_true))
        modes.append(int(np.count_nonzero(op.retained(float(cutoff)))))
    return {"cutoffs": np.asarray(cutoffs, dtype=float), "y_error": np.array(y_errors),
            "x_error": np.array(x_errors), "modes": np.array(modes)}


def error_history(task: Task, run: MinimizeResult) -> dict:
    r"""Along a run: the fit :math:`\mathrm{rms}(P(x_k) - y_{\text{obs}})` and the relative error :math:`\mathrm{rms}(x_k - x_{\text{true}})/\mathrm{rms}(x_{\text{true}})`."""
    scale = rms(task.x_true)
    y_obs = task.problem.target
    return {
        "y_error": np.array([rms(y - y_obs) for y in run.ys]),
        "x_error": np.array([rms(x - task.x_true) / scale for x in run.xs]),
    }


# --------------------------------------------------------------------------- exercises
def exercise_retained_modes(n: int = 64, nu_t: float = 1e-3, cutoff: float = 1e-3) -> int:
    r"""Exercise 1: how many Fourier modes (:math:`m = 0..\lfloor n/2 \rfloor`) the regularised inverse keeps.

    Counted from the operator's gains :math:`g_m = e^{-\nu t (2\pi m)^2} >` ``cutoff``.

    >>> exercise_retained_modes(64, 1e-3, 1e-3)
    14
    """
    from ..physics import heat_operator

    return int(np.count_nonzero(heat_operator(n, nu_t).retained(cutoff)))


def exercise_retained_modes_closed_form(n: int = 64, nu_t: float = 1e-3, cutoff: float = 1e-3) -> int:
    r"""Exercise 1 in closed form: :math:`g_m > c \iff m < \sqrt{\ln(1/c)/\nu t}/(2\pi)`, capped at :math:`\lfloor n/2 \rfloor + 1` modes.

    >>> exercise_retained_modes_closed_form(64, 1e-3, 1e-3)
    14
    """
    limit = math.sqrt(math.log(1.0 / cutoff) / nu_t) / (2.0 * math.pi)
    count = math.ceil(limit)  # m = 0, 1, ..., ceil(limit) - 1 satisfy m < limit
    return int(min(count, n // 2 + 1))


def exercise_pg_iterations(eta: float = 0.5, rel_tol: float = 1e-10, *, n: int = 4, steps: int = 50,
                           seed: int = 0) -> int:
    r"""Exercise 2: iterations of PG with step ``eta`` on the pendulum task until :math:`L \le` ``rel_tol`` :math:`L(x_0)`.

    >>> exercise_pg_iterations(0.5, 1e-10, n=2, steps=10)
    17
    """
    task = pendulum_task(n, steps=steps, seed=seed, rel_tol=rel_tol)
    run = minimize(task.problem, task.x0, rules.pg(eta), steps=1000, tol=task.tol)
    if not run.success:
        raise RuntimeError(f"PG did not reach the tolerance: {run.message}")
    return int(run.nit)


def exercise_pg_iterations_closed_form(eta: float = 0.5, rel_tol: float = 1e-10) -> int:
    r"""Exercise 2 in closed form: :math:`L_k = (1-\eta)^{2k} L_0`, so :math:`k = \lceil \ln \epsilon / (2 \ln|1-\eta|) \rceil`.

    >>> exercise_pg_iterations_closed_form(0.5, 1e-10)
    17
    """
    if not 0 < eta < 2:
        raise ValueError(f"eta must lie in (0, 2) for the iteration to converge, got {eta}")
    if eta == 1:
        return 1
    return int(math.ceil(math.log(rel_tol) / (2.0 * math.log(abs(1.0 - eta))) - 1e-12))
