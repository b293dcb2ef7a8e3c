r"""Computations of the appendix *Benchmarks* (``book/benchmarks.ipynb``) and of ``python -m companion.bench``.

Three measurements, each a plain function so that the command line, the
notebook and the tests share them:

* **scale-invariance** (:func:`scale_study`): on two families of problems in
  which :math:`\alpha` only changes the units of :math:`x`, every rule is run
  at each :math:`\alpha`; the iterates are mapped back to the units of
  :math:`\alpha = 1` and compared with the path there.  For the problem
  :math:`P_\alpha` and the matrix :math:`M_\alpha` with
  :math:`P_\alpha(z) = P_1(M_\alpha z)` the *path deviation* is

  .. math::
      d(\alpha) = \max_k \frac{|x_k - M_\alpha z_k|}{|x_0 - x^*|},

  where :math:`x_k` are the iterates on :math:`P_1` from :math:`x_0` and
  :math:`z_k` those on :math:`P_\alpha` from :math:`z_0 = M_\alpha^{-1} x_0`
  (the shorter path is continued with its last point).  A scale-invariant rule
  has :math:`d = 0` up to rounding;
* **cost against size** (:func:`cost_study`): seconds per step of the rules
  on the heat equation for growing :math:`n`, with the fitted exponent
  :math:`p` of :math:`t \approx c\, n^p`;
* **training** (:func:`training_summary`): the headline ratios of the SIP and
  HIG benchmarks (:mod:`companion.bench_sip`, :mod:`companion.bench_hig`),
  read from their JSON.

The ``plot_*`` functions draw the results from the JSON documents, so the
appendix shows exactly the committed numbers.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Callable, Optional, Sequence

import numpy as np

from .. import linalg, problems, rules
from .._checks import as_matrix, as_vector, check_int, check_positive
from ..driver import MinimizeResult, minimize
from ..problems import Problem
from ..tuning import log_grid, sweep_step_size
from . import summary
from ..problems import reparametrize_linear  # noqa: F401 - re-exported; the general form of reparametrize

__all__ = [
    "SCALE_RULES",
    "TUNED_RULES",
    "FAMILIES",
    "ROTATION_ANGLE",
    "SCALE_START",
    "COST_RULES",
    "significant",
    "prose_number",
    "rotation",
    "rotated_problem",
    "family_problem",
    "family_map",
    "reparametrize_linear",
    "path_deviation",
    "gd_step_grid",
    "ADAM_GRID",
    "scale_run",
    "scale_study",
    "heat_cost_problem",
    "newton_is_regular",
    "cost_rule",
    "time_step",
    "fit_exponent",
    "growth_class",
    "cost_study",
    "training_summary",
    "headline",
    "plot_scale",
    "plot_cost",
    "plot_training",
    "exercise_gd_iterations",
    "exercise_extrapolate",
    "RESULT_FILES",
    "load_results",
    "scale_table",
    "cost_table",
    "training_table",
    "machine_line",
]

#: The rules of the scale-invariance study, in the order of the chapters.
SCALE_RULES = summary.RULES

#: Rules whose step size is swept at every alpha (the others use :data:`summary.FIXED_ETA`).
TUNED_RULES = ("GD", "Adam")

#: The two problem families of the scale study.
FAMILIES = ("alpha_scaled", "rotated")

#: Angle of the rotation :math:`R_\theta` of the rotated family (30 degrees).
ROTATION_ANGLE = math.pi / 6

#: The start in the units of :math:`\alpha = 1`; on :math:`P_\alpha` the runs start at :math:`M_\alpha^{-1} x_0`.
SCALE_START = np.array([1.0, 1.0])

#: The rules of the cost study ("Newton" is Gauss-Newton where the Hessian is singular).
COST_RULES = ("GD", "Newton", "BFGS", "IG", "PG")

#: Adam's step sizes, the same at every alpha: Adam's first step has length eta in every component.
ADAM_GRID = tuple(float(e) for e in log_grid(1e-6, 1.0, per_decade=1))


def significant(value, digits: int = 3) -> Optional[float]:
    """``value`` rounded to ``digits`` significant digits as a Python float (``None`` stays ``None``).

    >>> significant(0.0123456), significant(None)
    (0.0123, None)
    """
    if value is None:
        return None
    digits = check_int(digits, "digits", minimum=1)
    return float(f"{float(value):.{digits}g}")


_SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")


def prose_number(value, digits: int = 2) -> str:
    """``value`` as text for a sentence: ``digits`` significant digits, powers of ten as superscripts, ``"n/a"`` for ``None``.

    >>> prose_number(480.3), prose_number(1.83e-9), prose_number(10000.0), prose_number(0.0), prose_number(None)
    ('480', '1.8 × 10⁻⁹', '10⁴', '0', 'n/a')
    >>> prose_number(0.0173), prose_number(2.987, 3)
    ('0.017', '2.99')
    """
    if value is None:
        return "n/a"
    value = float(value)
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    rounded = significant(value, digits)
    exponent = int(math.floor(math.log10(abs(rounded))))
    if -3 <= exponent < 4:
        text = f"{rounded:.{max(digits - 1 - exponent, 0)}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    mantissa = significant(rounded / 10.0**exponent, digits)
    power = "10" + str(exponent).translate(_SUPERSCRIPT)
    return power if mantissa == 1 else f"{mantissa:g} × {power}"


# --------------------------------------------------------------------------- scale-invariance
def rotation(angle: float) -> np.ndarray:
    r"""The rotation :math:`R_\theta = \begin{pmatrix}\cos\theta & -\sin\theta\\ \sin\theta & \cos\theta\end{pmatrix}`.

    >>> rotation(np.pi / 2).round(12)
    array([[ 0., -1.],
           [ 1.,  0.]])
    """
    if isinstance(angle, bool) or not np.isfinite(angle):
        raise ValueError(f"angle must be a finite number, got {angle!r}")
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


def _check_alpha(alpha) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating, np.integer)):
        raise TypeError(f"alpha must be a real number, got {type(alpha).__name__}")
    alpha = float(alpha)
    if not np.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"alpha must be a positive finite number, got {alpha}")
    return alpha


def rotated_problem(alpha: float, angle: float = ROTATION_ANGLE, target=(0.0, 0.0)) -> Problem:
    r"""The rotated, ill-conditioned linear problem :math:`P_\alpha(x) = R_\theta \operatorname{diag}(1, \alpha) R_\theta^\top x`.

    Symmetric with eigenvalues :math:`1` and :math:`\alpha` along the rotated
    axes, so the Hessian :math:`R_\theta \operatorname{diag}(1, \alpha^2) R_\theta^\top`
    of :math:`L = \tfrac12|P_\alpha(x) - y^*|^2` is not diagonal.  (A rotation
    on the output side only, :math:`R\operatorname{diag}(1, \alpha) x`, would
    change nothing: :math:`|R v| = |v|`, so the loss would be that of
    :func:`~companion.problems.alpha_scaled`.)  Built with
    :func:`companion.problems.linear`, which supplies the inverse.

    >>> p = rotated_problem(4.0)
    >>> np.linalg.eigvalsh(p.jacobian_at(np.zeros(2))).round(12)
    array([1., 4.])
    """
    alpha = _check_alpha(alpha)
    r = rotation(angle)
    return problems.linear(r @ np.diag([1.0, alpha]) @ r.T, as_vector(target, "target", size=2))


def family_problem(family: str, alpha: float) -> Problem:
    r""":math:`P_\alpha` of a family: ``"alpha_scaled"`` (:math:`(x_1, \alpha x_2)`) or ``"rotated"`` (:func:`rotated_problem`).

    >>> family_problem("alpha_scaled", 10.0).output(np.array([1.0, 1.0]))
    array([ 1., 10.])
    """
    alpha = _check_alpha(alpha)
    if family == "alpha_scaled":
        return problems.alpha_scaled(alpha)
    if family == "rotated":
        return rotated_problem(alpha)
    raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")


def family_map(family: str, alpha: float) -> np.ndarray:
    r"""The matrix :math:`M_\alpha` with :math:`P_\alpha(z) = P_1(M_\alpha z)`: the change of units between the family members.

    ``alpha_scaled``: :math:`M_\alpha = \operatorname{diag}(1, \alpha)`;
    ``rotated``: :math:`M_\alpha = R_\theta \operatorname{diag}(1, \alpha) R_\theta^\top`.

    >>> family_map("alpha_scaled", 3.0)
    array([[1., 0.],
           [0., 3.]])
    """
    alpha = _check_alpha(alpha)
    if family == "alpha_scaled":
        return np.diag([1.0, alpha])
    if family == "rotated":
        r = rotation(ROTATION_ANGLE)
        return r @ np.diag([1.0, alpha]) @ r.T
    raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")


def path_deviation(base_xs, xs, matrix, reference=None) -> float:
    r"""Relative distance :math:`\max_k |x_k - M z_k| / |x_0 - x^*|` between two paths.

    ``base_xs`` are the iterates :math:`x_k`, ``xs`` the iterates
    :math:`z_k` in the other units, ``matrix`` is :math:`M`; ``reference``
    is :math:`x^*` (default 0).  The shorter path is continued with its last
    point: a rule that stops earlier in one set of units has a different path.

    >>> path_deviation([[1.0, 1.0], [0.0, 0.0]], [[1.0, 0.5], [0.0, 0.0]], np.diag([1.0, 2.0]))
    0.0
    >>> path_deviation([[1.0, 1.0], [0.0, 0.0]], [[1.0, 0.5]], np.diag([1.0, 2.0]))  # one stopped early
    1.0
    """
    base = np.atleast_2d(np.asarray(base_xs, dtype=float))
    other = np.atleast_2d(np.asarray(xs, dtype=float)) @ as_matrix(matrix, "matrix").T
    if base.shape[1] != other.shape[1]:
        raise ValueError(f"the paths have points of different sizes, {base.shape[1]} and {other.shape[1]}")
    count = max(len(base), len(other))
    base = np.vstack([base, np.repeat(base[-1:], count - len(base), axis=0)])
    other = np.vstack([other, np.repeat(other[-1:], count - len(other), axis=0)])
    reference = np.zeros(base.shape[1]) if reference is None else as_vector(reference, "reference", size=base.shape[1])
    scale = float(np.linalg.norm(base[0] - reference))
    if scale == 0:
        raise ValueError("the start coincides with the reference point: the relative deviation is undefined")
    return float(np.max(np.linalg.norm(base - other, axis=1)) / scale)


def gd_step_grid(problem: Problem, x0) -> tuple:
    r"""GD's step sizes for ``problem``: factors :math:`10^{-3} \dots 1.9` of :math:`1/\lambda_{\max}`.

    :math:`\lambda_{\max}` is the largest eigenvalue of the Gauss-Newton matrix
    :math:`J^\top J` at ``x0`` (the Hessian of these linear problems).  GD is
    unstable for :math:`\eta > 2/\lambda_{\max}`, so every useful step size
    lies in the grid, which contains :math:`1/\lambda_{\max}` itself.

    >>> [round(e, 6) for e in gd_step_grid(problems.alpha_scaled(10.0), [1.0, 0.1])][-3:]
    [0.01, 0.015, 0.019]
    """
    lam = float(np.linalg.eigvalsh(problem.gauss_newton_matrix_at(as_vector(x0, "x0"))).max())
    factors = np.concatenate([log_grid(1e-3, 1.0, per_decade=2), [1.5, 1.9]])
    return tuple(float(f / lam) for f in factors)


def _run_rule(problem: Problem, x0, name: str, *, steps: int, tol: float) -> tuple[MinimizeResult, float, int]:
    """Best run of a tuned rule (sweep) or the run at the fixed step size; returns (run, eta, runs tried)."""
    if name in TUNED_RULES:
        etas = gd_step_grid(problem, x0) if name == "GD" else ADAM_GRID
        sweep = sweep_step_size(problem, x0, lambda eta: summary.make_rule(name, eta), etas, steps=steps, tol=tol)
        return sweep.best, sweep.best_eta, len(etas)
    eta = summary.FIXED_ETA[name]
    return minimize(problem, x0, summary.make_rule(name, eta), steps=steps, tol=tol), eta, 1


def scale_run(family: str, name: str, alpha: float, *, steps: int = 1000, rel_tol: float = 1e-10,
              base: Optional[MinimizeResult] = None) -> dict:
    r"""One rule on :math:`P_\alpha` of ``family``: iterations to the tolerance and the path deviation from :math:`\alpha = 1`.

    The tolerance is :math:`L \le` ``rel_tol`` :math:`\cdot L(z_0)`; GD and
    Adam get their best step size from a sweep at this :math:`\alpha`
    (:func:`gd_step_grid`, :data:`ADAM_GRID`), the other rules the fixed
    step size :data:`companion.experiments.summary.FIXED_ETA` (BFGS: Wolfe line
    search).  ``base`` is the run at :math:`\alpha = 1` (computed if
    ``None``).  ``iterations`` is ``None`` when the budget of ``steps`` ran out.

    >>> row = scale_run("alpha_scaled", "Newton", 1e4)
    >>> row["iterations"], row["deviation"] < 1e-12
    (17, True)
    """
    if name not in SCALE_RULES:
        raise ValueError(f"unknown rule {name!r}; choose one of {SCALE_RULES}")
    steps = check_int(steps, "steps", minimum=1)
    rel_tol = check_positive(rel_tol, "rel_tol")
    alpha = _check_alpha(alpha)
    matrix = family_map(family, alpha)
    problem = family_problem(family, alpha)
    z0 = np.linalg.solve(matrix, SCALE_START)
    tol = rel_tol * problem.loss_at(z0)
    if base is None:
        base_problem = family_problem(family, 1.0)
        base = _run_rule(base_problem, SCALE_START, name, steps=steps, tol=rel_tol * base_problem.loss_at(SCALE_START))[0]
    run, eta, tried = _run_rule(problem, z0, name, steps=steps, tol=tol)
    broken = {run.status_name, base.status_name} & {"diverged", "non_finite", "rule_failed"}
    minimiser = np.zeros(2)  # both families have the target 0 and an invertible P
    return {
        "family": family,
        "rule": name,
        "alpha": alpha,
        "eta": float(eta),
        "tuned": name in TUNED_RULES,
        "sweep_size": tried,
        "iterations": int(run.nit) if run.success else None,
        "converged": bool(run.success),
        "status": run.status_name,
        "nit": int(run.nit),
        "final_loss_ratio": float(run.fun / problem.loss_at(z0)),
        "deviation": None if broken else path_deviation(base.xs, run.xs, matrix, minimiser),
    }


def scale_study(alphas: Sequence[float], *, families: Sequence[str] = FAMILIES, rule_names: Sequence[str] = SCALE_RULES,
                steps: int = 1000, rel_tol: float = 1e-10, nonlinear_steps: int = 20,
                log: Optional[Callable[[str], None]] = None) -> dict:
    r"""Every rule on every family at every :math:`\alpha`, plus the deviation on the nonlinear toy.

    Returns ``{"rows": [...], "nonlinear": [...]}``: the rows of
    :func:`scale_run`, and for the nonlinear toy :math:`(x_1, x_2^2)` of the
    summary chapter the deviation of
    :func:`companion.experiments.summary.rescaling_deviation` (fixed step
    sizes, ``nonlinear_steps`` steps, absolute distance; ``None`` if a run
    broke down).
    """
    alphas = [_check_alpha(a) for a in alphas]
    log = log or (lambda message: None)
    rows, nonlinear = [], []
    for family in families:
        base_problem = family_problem(family, 1.0)
        for name in rule_names:
            t0 = time.perf_counter()
            base = _run_rule(base_problem, SCALE_START, name, steps=steps,
                             tol=rel_tol * base_problem.loss_at(SCALE_START))[0]
            for alpha in alphas:
                rows.append(scale_run(family, name, alpha, steps=steps, rel_tol=rel_tol, base=base))
            log(f"scale {family:12s} {name:12s}: {time.perf_counter() - t0:6.2f} s")
    for name in rule_names:
        for alpha in alphas:
            value = summary.rescaling_deviation(name, alpha, steps=nonlinear_steps)
            nonlinear.append({"rule": name, "alpha": alpha, "deviation": value if math.isfinite(value) else None})
    return {"rows": rows, "nonlinear": nonlinear}


def _extreme(rows: Sequence[dict], key: str) -> dict:
    """Per rule: the largest value of ``key`` over the extreme alphas (None if any run there broke down)."""
    alphas = [r["alpha"] for r in rows]
    low, high = min(alphas), max(alphas)
    out = {}
    for r in rows:
        if r["alpha"] not in (low, high):
            continue
        current = out.get(r["rule"], 0.0)
        out[r["rule"]] = None if current is None or r[key] is None else max(current, r[key])
    return out


# --------------------------------------------------------------------------- cost against size
def heat_cost_problem(n: int, *, nu_t: float = 1e-3, noise: float = 1e-3, seed: int = 0) -> tuple[Problem, np.ndarray, float]:
    r"""The heat problem of the chapter *Physical inverse problems* at size ``n``: ``(problem, x0, cutoff)``.

    Data as in :func:`companion.experiments.inverse_problems.heat_task`
    (random boxes, Gaussian noise, cutoff at the relative noise level), but the
    problem is the plain :func:`companion.physics.heat.heat_problem`, so the
    timings measure the public rules on the public problem.

    >>> problem, x0, cutoff = heat_cost_problem(16)
    >>> problem.output_size, x0.shape, 0 < cutoff < 1
    (16, (16,), True)
    """
    from ..physics.heat import heat_problem
    from .inverse_problems import heat_task

    task = heat_task(n, nu_t, noise=noise, seed=seed)
    return heat_problem(n, nu_t, task.problem.target, cutoff=task.cutoff), task.x0, task.cutoff


def newton_is_regular(n: int, nu_t: float, rtol: float = linalg.DEFAULT_RTOL) -> bool:
    r"""True if Newton's solve accepts the heat Hessian :math:`J^\top J`, i.e. :math:`g_{\min}^2 > \text{rtol}`.

    :math:`J` is circulant with eigenvalues :math:`g_m` (the gains), so
    :math:`J^\top J` has condition number :math:`1/g_{\min}^2` and a constant
    diagonal (the unit-diagonal scaling of :func:`companion.rules.newton_direction`
    does not change it).

    >>> newton_is_regular(32, 1e-3), newton_is_regular(64, 1e-3)
    (True, False)
    """
    from ..physics.heat import heat_operator

    gains = heat_operator(n, nu_t).gains
    return bool(float(gains.min()) ** 2 > rtol)


def cost_rule(name: str, n: int, nu_t: float, cutoff: float) -> rules.Rule:
    r"""The public rule timed for ``name`` on the heat problem of size ``n``.

    GD (:math:`\eta = 1`), Newton (Gauss-Newton truncated at ``cutoff`` where
    :func:`newton_is_regular` is false), BFGS with its line search, IG with
    :math:`J^+` truncated at ``cutoff`` and PG with the regularised inverse, as
    in :func:`companion.experiments.inverse_problems.method_specs`.

    >>> cost_rule("Newton", 64, 1e-3, 1e-3).name
    'Gauss-Newton'
    """
    if name == "GD":
        return rules.gd(1.0)
    if name == "Newton":
        return rules.newton() if newton_is_regular(n, nu_t) else rules.gauss_newton(rtol=cutoff)
    if name == "BFGS":
        return rules.bfgs()
    if name == "IG":
        return rules.ig(1.0, rtol=cutoff)
    if name == "PG":
        return rules.pg(1.0)
    raise ValueError(f"unknown rule {name!r}; choose one of {COST_RULES}")


def time_step(problem: Problem, x0, rule: rules.Rule, *, repeats: int = 5, min_sample: float = 0.02,
              budget: float = 5.0) -> dict:
    r"""Seconds of one step of ``rule`` at a representative point: medians of wall-clock and CPU time.

    One untimed step from ``x0`` (it builds cached matrices and gives stateful
    rules such as BFGS a history); then ``rule.step`` from :math:`x_1` with that
    state is timed.  Each sample repeats the step often enough to last at least
    ``min_sample`` seconds; up to ``repeats`` samples are taken while the
    ``budget`` (seconds of wall-clock) lasts, at least one.  CPU time is the
    calling thread's (:func:`time.thread_time`), which other processes on a
    shared machine do not inflate; run under one BLAS thread.

    >>> t = time_step(problems.alpha_scaled(2.0), [1.0, 1.0], rules.gd(0.1), repeats=2, min_sample=1e-3)
    >>> t["samples"], t["wall"] > 0
    (2, True)
    """
    repeats = check_int(repeats, "repeats", minimum=1)
    x0 = as_vector(x0, "x0")
    state = rule.init(problem, x0)
    dx, state = rule.step(problem, x0, state)
    x1 = x0 + dx
    started = time.perf_counter()
    w0, c0 = time.perf_counter(), time.thread_time()
    rule.step(problem, x1, state)
    first_wall, first_cpu = time.perf_counter() - w0, time.thread_time() - c0
    number = max(1, int(math.ceil(min_sample / max(first_wall, 1e-9))))
    walls, cpus = [], []
    if number == 1:
        walls.append(first_wall)
        cpus.append(first_cpu)
    while len(walls) < repeats and (not walls or time.perf_counter() - started < budget):
        w0, c0 = time.perf_counter(), time.thread_time()
        for _ in range(number):
            rule.step(problem, x1, state)
        walls.append((time.perf_counter() - w0) / number)
        cpus.append((time.thread_time() - c0) / number)
    return {"wall": float(statistics.median(walls)), "cpu": float(statistics.median(cpus)),
            "samples": len(walls), "calls_per_sample": number}


def fit_exponent(ns, times, *, min_n: Optional[float] = None) -> Optional[float]:
    r"""Least-squares slope :math:`p` of :math:`\log t` against :math:`\log n` over the points with :math:`n \ge` ``min_n``.

    ``None`` entries (skipped sizes) are ignored; ``None`` is returned when
    fewer than two points remain.  A power law :math:`t = c\,n^p` gives
    exactly :math:`p`.

    >>> round(fit_exponent([64, 128, 256], [1.0, 8.0, 64.0]), 12)
    3.0
    >>> fit_exponent([64, 128], [1.0, None]) is None
    True
    """
    pairs = [(float(n), float(t)) for n, t in zip(ns, times)
             if t is not None and (min_n is None or n >= min_n)]
    if any(n <= 0 or t <= 0 for n, t in pairs):
        raise ValueError("sizes and times must be positive")
    if len(pairs) < 2:
        return None
    x, y = np.log([p[0] for p in pairs]), np.log([p[1] for p in pairs])
    return float(np.polyfit(x, y, 1)[0])


def growth_class(exponent: Optional[float]) -> str:
    r"""The nearest growth law of a fitted exponent: :math:`n \log n` (1.5 or below), :math:`n^2` (below 2.5), :math:`n^3`.

    An exponent below 0.8 means that a fixed cost per step (checks, Python
    calls) still outweighs the work that grows with :math:`n`.

    >>> growth_class(1.1), growth_class(2.2), growth_class(2.9), growth_class(0.3), growth_class(None)
    ('n log n', 'n²', 'n³', 'less than n: fixed overhead', 'n/a')
    """
    if exponent is None:
        return "n/a"
    if exponent < 0.8:
        return "less than n: fixed overhead"
    return "n log n" if exponent < 1.5 else ("n²" if exponent < 2.5 else "n³")


def cost_study(ns: Sequence[int], *, rule_names: Sequence[str] = COST_RULES, nu_t: float = 1e-3, noise: float = 1e-3,
               seed: int = 0, repeats: int = 5, min_sample: float = 0.02, budget: float = 5.0,
               max_step: float = 3.0, fit_min_n: int = 256, log: Optional[Callable[[str], None]] = None) -> dict:
    r"""Seconds per step of every rule on the heat problem for each size in ``ns`` (ascending), with fitted exponents.

    Before each size the CPU time of one step is predicted from the previous
    size, :math:`t_{\text{prev}} (n/n_{\text{prev}})^{p}` with the local exponent
    :math:`p` of the last two sizes (clipped to :math:`[1, 3]`; 3 before two sizes
    are measured).  If it exceeds ``max_step`` seconds the size and all larger
    ones are skipped for that rule, and the skip is recorded with its reason.
    (CPU time, not wall-clock: the decision then does not depend on how busy
    the machine is.)  ``budget`` bounds the wall-clock seconds spent on the
    samples of one (rule, size).
    Exponents are fitted to the CPU times over :math:`n \ge` ``fit_min_n``
    (and, for comparison, over all sizes).
    """
    from .inverse_problems import one_blas_thread

    ns = [check_int(n, "n", minimum=2) for n in ns]
    if ns != sorted(ns) or len(set(ns)) != len(ns):
        raise ValueError(f"ns must be strictly increasing, got {ns}")
    log = log or (lambda message: None)
    rows = []
    with one_blas_thread() as limited:
        cases = {n: heat_cost_problem(n, nu_t=nu_t, noise=noise, seed=seed) for n in ns}
        for name in rule_names:
            measured: list[tuple[int, float]] = []
            skipping: Optional[str] = None
            for n in ns:
                problem, x0, cutoff = cases[n]
                rule = cost_rule(name, n, nu_t, cutoff)
                row = {"rule": name, "rule_used": rule.name, "n": n}
                if skipping is None and measured:
                    if len(measured) >= 2:
                        (n1, t1), (n2, t2) = measured[-2:]
                        local = min(3.0, max(1.0, math.log(t2 / t1) / math.log(n2 / n1)))
                    else:
                        local = 3.0
                    n_prev, t_prev = measured[-1]
                    predicted = t_prev * (n / n_prev) ** local
                    if predicted > max_step:
                        skipping = (f"predicted {predicted:.3g} s of CPU per step (from n = {n_prev} with exponent "
                                    f"{local:.2f}) exceeds the cap of {max_step:g} s")
                if skipping is not None:
                    rows.append({**row, "skipped": True, "reason": skipping, "wall": None, "cpu": None,
                                 "samples": 0, "calls_per_sample": 0})
                    continue
                t0 = time.perf_counter()
                timing = time_step(problem, x0, rule, repeats=repeats, min_sample=min_sample, budget=budget)
                rows.append({**row, "skipped": False, "reason": None, **timing})
                measured.append((n, max(timing["cpu"], 1e-9)))
                log(f"cost {name:6s} n={n:5d} ({rule.name}): {1e3 * timing['wall']:9.3f} ms wall, "
                    f"{1e3 * timing['cpu']:9.3f} ms CPU per step ({timing['samples']} samples, "
                    f"{time.perf_counter() - t0:5.2f} s)")
    fits = {}
    for name in rule_names:
        mine = [r for r in rows if r["rule"] == name]
        sizes = [r["n"] for r in mine]
        fits[name] = {
            "exponent_cpu": fit_exponent(sizes, [r["cpu"] for r in mine], min_n=fit_min_n),
            "exponent_wall": fit_exponent(sizes, [r["wall"] for r in mine], min_n=fit_min_n),
            "exponent_cpu_all_sizes": fit_exponent(sizes, [r["cpu"] for r in mine]),
            "largest_n_measured": max((r["n"] for r in mine if not r["skipped"]), default=None),
            "rules_used": sorted({r["rule_used"] for r in mine}),
        }
    return {"rows": rows, "fits": fits, "one_blas_thread": bool(limited)}


# --------------------------------------------------------------------------- training (SIP, HIG)
def _get(document, *keys):
    for key in keys:
        if not isinstance(document, dict) or key not in document:
            return None
        document = document[key]
    return document


def _ratio(a, b) -> Optional[float]:
    return float(a) / float(b) if a is not None and b not in (None, 0) else None


def _sine_series(sip: dict) -> Optional[dict]:
    """Per conditioning xi at the largest angle phi: the final x-errors of SIP and Adam over the seeds."""
    runs = _get(sip, "sine", "runs") or []
    phis = sorted({r.get("phi") for r in runs if r.get("phi") is not None})
    if not phis:
        return None
    phi = phis[-1]
    series: dict = {"phi": phi, "xis": sorted({r["xi"] for r in runs if r.get("phi") == phi})}
    for name in ("SIP", "Adam"):
        per_xi = []
        for xi in series["xis"]:
            values = [r[name]["x_error"] for r in runs if r.get("phi") == phi and r.get("xi") == xi
                      and isinstance(r.get(name), dict) and r[name].get("x_error") is not None]
            per_xi.append(values)
        series[name] = {"per_seed": per_xi,
                        "median": [statistics.median(v) if v else None for v in per_xi],
                        "min": [min(v) if v else None for v in per_xi],
                        "max": [max(v) if v else None for v in per_xi]}
    return series


def training_summary(sip: Optional[dict], hig: Optional[dict]) -> dict:
    r"""Headline ratios of the SIP and HIG benchmarks, read from their JSON documents (either may be ``None``).

    SIP (:mod:`companion.bench_sip`): the median Adam/SIP ratio of the final
    x-error at the largest conditioning :math:`\xi` (per angle
    :math:`\varphi`), the cost of one SIP iteration over one Adam iteration,
    and the fraction of Adam's iterations SIP needs on the heat problem to
    reach Adam's final x-error.  HIG (:mod:`companion.bench_hig`): per
    experiment the median final loss of Adam, Gauss-Newton and HIG, the
    Adam/HIG and GN/HIG ratios of those medians, the seed-wise spread, and the
    time per step relative to Adam.  Missing pieces are ``None``.

    >>> training_summary(None, None)["sip"] is None
    True
    """
    out: dict = {"sip": None, "hig": None}
    if sip is not None:
        targets = sip.get("targets", {}) or {}
        by_phi = targets.get("sine_median_x_error_ratio_at_largest_xi_by_phi") or {}
        out["sip"] = {
            "largest_xi": targets.get("sine_largest_xi"),
            "adam_over_sip_x_error_at_largest_xi": by_phi,
            "adam_over_sip_x_error_at_largest_xi_min_over_phi": min((v for v in by_phi.values() if v is not None),
                                                                    default=None),
            "sip_over_adam_cost_per_iteration": targets.get("sine_cost_ratio_sip_over_adam"),
            "heat_sip_fraction_of_adam_iterations": targets.get("heat_median_sip_fraction_of_adam_iterations"),
            "iterations": {"SIP": _get(sip, "settings", "sine", "iterations"),
                           "Adam": (_get(sip, "settings", "sine", "iterations") or 0)
                           * (_get(sip, "settings", "sine", "adam_factor") or 1) or None},
            "seeds": sip.get("seeds"),
            "sine_series": _sine_series(sip),
        }
    if hig is not None:
        experiments = {}
        steps_of = {"toy": _get(hig, "settings", "toy", "steps"), "oscillators": _get(hig, "settings", "oscillators", "steps")}
        sources = [(f"toy, lambda = {lam}", entry.get("methods"), steps_of["toy"])
                   for lam, entry in (hig.get("toy") or {}).items()]
        sources.append(("oscillators", _get(hig, "oscillators", "methods"), steps_of["oscillators"]))
        for label, methods, steps in sources:
            if not methods:
                continue
            med = {m: v.get("median_final_loss") for m, v in methods.items()}
            ms = {m: v.get("ms_per_step") for m, v in methods.items()}
            experiments[label] = {
                "steps": steps,
                "median_final_loss": med,
                "final_loss_per_seed": {m: v.get("final_loss") for m, v in methods.items()},
                "ms_per_step": ms,
                "adam_over_hig": _ratio(med.get("adam"), med.get("hig")),
                "gn_over_hig": _ratio(med.get("gn"), med.get("hig")),
                "hig_over_adam_time_per_step": _ratio(ms.get("hig"), ms.get("adam")),
            }
        out["hig"] = {"experiments": experiments, "seeds": {"toy": _get(hig, "settings", "toy", "seeds"),
                                                            "oscillators": _get(hig, "settings", "oscillators", "seeds")}}
    return out


# --------------------------------------------------------------------------- headline numbers
def headline(scale: Optional[dict] = None, cost: Optional[dict] = None, training: Optional[dict] = None) -> dict:
    r"""The numbers the appendix quotes, from the JSON documents of ``scale``, ``cost`` and ``training``.

    * ``scale_deviation``: per family and rule, the largest path deviation at
      the two extreme :math:`\alpha` (``None``: a run broke down there);
    * ``scale_iterations``: per family and rule, iterations at the extreme
      :math:`\alpha` (``None``: the budget ran out);
    * ``cost_exponent``: per rule, the fitted exponent of CPU time against :math:`n`;
    * ``training``: the ratios of :func:`training_summary`.
    """
    out: dict = {}
    if scale is not None:
        rows = scale["results"]["rows"]
        out["scale_deviation"] = {f: _extreme([r for r in rows if r["family"] == f], "deviation")
                                  for f in sorted({r["family"] for r in rows})}
        out["scale_iterations"] = {}
        for family in sorted({r["family"] for r in rows}):
            mine = [r for r in rows if r["family"] == family]
            low, high = min(r["alpha"] for r in mine), max(r["alpha"] for r in mine)
            out["scale_iterations"][family] = {
                r["rule"]: {"low": next(s["iterations"] for s in mine if s["rule"] == r["rule"] and s["alpha"] == low),
                            "high": next(s["iterations"] for s in mine if s["rule"] == r["rule"] and s["alpha"] == high)}
                for r in mine}
        out["scale_alpha_range"] = [min(r["alpha"] for r in rows), max(r["alpha"] for r in rows)]
    if cost is not None:
        out["cost_exponent"] = {rule: fit["exponent_cpu"] for rule, fit in cost["results"]["fits"].items()}
        out["cost_largest_n"] = {rule: fit["largest_n_measured"] for rule, fit in cost["results"]["fits"].items()}
    if training is not None:
        out["training"] = training.get("summary")
    return out


# --------------------------------------------------------------------------- figures
def _floor(values, floor: float = 1e-17):
    return [np.nan if v is None else max(v, floor) for v in values]


def plot_scale(axes, document: dict, family: str) -> None:
    r"""Two panels for one family: path deviation and iterations to the tolerance against :math:`\alpha`.

    Deviations below :math:`10^{-17}` are drawn at :math:`10^{-17}`; a missing
    point is a run that broke down (deviation) or ran out of budget (iterations,
    drawn as an open marker at the budget).
    """
    from ..plots import MARKERS, color_of

    ax_dev, ax_it = axes
    rows = [r for r in document["results"]["rows"] if r["family"] == family]
    budget = document["settings"]["steps"]
    for i, name in enumerate(dict.fromkeys(r["rule"] for r in rows)):
        mine = sorted((r for r in rows if r["rule"] == name), key=lambda r: r["alpha"])
        alphas = [r["alpha"] for r in mine]
        style = dict(color=color_of(name, i), marker=MARKERS.get(name, "o"), ms=5)
        label = f"{name} (tuned)" if mine[0]["tuned"] else name
        ax_dev.loglog(alphas, _floor([r["deviation"] for r in mine]), label=label, **style)
        its = [r["iterations"] for r in mine]
        ax_it.loglog(alphas, [np.nan if v is None else v for v in its], label=label, **style)
        out = [a for a, v in zip(alphas, its) if v is None]
        if out:
            ax_it.loglog(out, [budget] * len(out), linestyle="none", marker=MARKERS.get(name, "o"), ms=7,
                         markerfacecolor="none", color=color_of(name, i))
    ax_dev.axhline(np.finfo(float).eps, color="0.5", lw=0.8, ls=":")
    ax_dev.set_ylim(3e-18, 1e8)  # room for the legend above the curves
    ax_dev.set_xlabel(r"$\alpha$")
    ax_dev.set_ylabel("path deviation (relative)")
    ax_it.axhline(budget, color="0.5", lw=0.8, ls=":")
    ax_it.set_xlabel(r"$\alpha$")
    ax_it.set_ylabel("iterations to tolerance")
    title = {"alpha_scaled": r"$P(x) = (x_1, \alpha x_2)$",
             "rotated": r"$P(x) = R\,\mathrm{diag}(1, \alpha)\,R^\top x$"}.get(family, family)
    ax_dev.set_title(f"{title}: path deviation", fontsize=10)
    ax_it.set_title(f"{title}: iterations (open: budget used up)", fontsize=10)
    ax_dev.legend(fontsize=7, ncol=4, loc="upper center")


def plot_cost(ax, document: dict, quantity: str = "cpu") -> None:
    r"""Seconds per step against :math:`n` (log-log) for every rule, with :math:`n \log n` and :math:`n^3` guides."""
    from ..plots import MARKERS, color_of

    rows = document["results"]["rows"]
    fits = document["results"]["fits"]
    measured_ns = sorted({r["n"] for r in rows if not r["skipped"]})
    for i, name in enumerate(dict.fromkeys(r["rule"] for r in rows)):
        mine = [r for r in rows if r["rule"] == name and not r["skipped"]]
        if not mine:
            continue
        exponent = fits[name]["exponent_cpu"] if quantity == "cpu" else fits[name]["exponent_wall"]
        label = "Newton / Gauss-Newton" if name == "Newton" else name
        label += f" (p = {exponent:.2f})" if exponent is not None else ""
        ax.loglog([r["n"] for r in mine], [r[quantity] for r in mine], marker=MARKERS.get(name, "o"),
                  color=color_of(name, i), ms=5, label=label)
    if measured_ns:
        n = np.array(measured_ns, dtype=float)
        times = [r[quantity] for r in rows if not r["skipped"]]
        anchor = float(np.median(times))
        ref = n[len(n) // 2]
        ax.loglog(n, anchor * (n * np.log(n)) / (ref * np.log(ref)), color="0.6", ls=":", lw=1, label=r"$\propto n \log n$")
        ax.loglog(n, anchor * (n / ref) ** 3, color="0.6", ls="--", lw=1, label=r"$\propto n^3$")
        low, high = min(times), max(times)
        ax.set_ylim(low / 3, high * 300)  # headroom for the legend
    if measured_ns:
        all_ns = sorted({r["n"] for r in rows})
        ax.set_xticks(all_ns)
        ax.set_xticklabels([str(n) for n in all_ns], fontsize=8)
        ax.minorticks_off()
    ax.set_xlabel("grid size n")
    ax.set_ylabel(f"seconds per step ({'CPU' if quantity == 'cpu' else 'wall-clock'}, median)")
    ax.set_title("heat equation: cost of one step (p: fitted exponent)", fontsize=10)
    ax.legend(fontsize=7, ncol=2, loc="upper left")


def plot_training(axes, document: dict) -> bool:
    r"""Two panels: HIG against Adam and Gauss-Newton (final loss per seed against training wall-clock) and SIP against Adam.

    Returns ``False`` (and writes a note into the axes) when neither benchmark is available.
    """
    from ..plots import color_of

    ax_hig, ax_sip = axes
    summary_ = document.get("summary") or {}
    hig, sip = summary_.get("hig"), summary_.get("sip")
    names = {"adam": "Adam", "gn": "Gauss-Newton", "hig": "HIG"}
    markers = {"toy, lambda = 1": "o", "toy, lambda = 0.01": "s", "oscillators": "^"}
    if hig and hig.get("experiments"):
        for label, entry in hig["experiments"].items():
            for method, losses in entry["final_loss_per_seed"].items():
                if not losses or entry["ms_per_step"].get(method) is None or not entry["steps"]:
                    continue
                seconds = entry["steps"] * entry["ms_per_step"][method] / 1e3
                ax_hig.loglog([seconds] * len(losses), losses, linestyle="none", marker=markers.get(label, "o"),
                              color=color_of(names.get(method, method)), alpha=0.45, ms=4)
                ax_hig.loglog([seconds], [statistics.median(losses)], linestyle="none", marker=markers.get(label, "o"),
                              color=color_of(names.get(method, method)), ms=9, markeredgecolor="k")
        for method, name in names.items():
            ax_hig.plot([], [], "o", color=color_of(name), label=name)
        for label, marker in markers.items():
            if label in hig["experiments"]:
                ax_hig.plot([], [], marker, color="0.4", mfc="none", label=label.replace("lambda", "λ"))
        from matplotlib.ticker import NullFormatter

        ax_hig.xaxis.set_minor_formatter(NullFormatter())  # minor labels of a short log axis overlap
        ax_hig.set_xlabel("training wall-clock of the best run (s)")
        ax_hig.set_ylabel("final loss (small: seeds, large: median)")
        ax_hig.set_title("HIG benchmark: final loss against time", fontsize=10)
        ax_hig.legend(fontsize=7, ncol=2)
    else:
        ax_hig.text(0.5, 0.5, "HIG benchmark not available", ha="center", va="center", transform=ax_hig.transAxes)
        ax_hig.set_axis_off()
    series = (sip or {}).get("sine_series")
    if series:
        for name, marker in (("SIP", "o"), ("Adam", "v")):
            points = [(x, m, lo, hi) for x, m, lo, hi in zip(series["xis"], series[name]["median"], series[name]["min"],
                                                               series[name]["max"]) if m is not None]
            if not points:
                continue
            xs, med, lo, hi = (list(v) for v in zip(*points))
            ax_sip.errorbar(xs, med, yerr=[[m - l for m, l in zip(med, lo)], [h - m for m, h in zip(med, hi)]],
                            marker=marker, color=color_of(name), capsize=3,
                            label=f"{name} ({sip['iterations'].get(name)} iterations)")
        ax_sip.set_xscale("log")
        ax_sip.set_yscale("log")
        ax_sip.set_xlabel(r"conditioning $\xi$")
        ax_sip.set_ylabel("final x-error (median, bars: seeds)")
        ax_sip.set_title(rf"SIP benchmark, 2-D problem, $\varphi$ = {series['phi']:.3f}", fontsize=10)
        ax_sip.legend(fontsize=8)
    else:
        ax_sip.text(0.5, 0.5, "SIP benchmark not available", ha="center", va="center", transform=ax_sip.transAxes)
        ax_sip.set_axis_off()
    return bool((hig and hig.get("experiments")) or series)


# --------------------------------------------------------------------------- exercises
def exercise_gd_iterations(alpha: float, rel_tol: float = 1e-10) -> int:
    r"""Iterations GD needs on ``alpha_scaled(alpha)`` from :math:`y_0 = (1, 1)` with the optimal fixed step size.

    With :math:`\eta^* = 2/(1 + \alpha^2)` both components of :math:`y`
    shrink by :math:`r = |\alpha^2 - 1|/(\alpha^2 + 1)` per step, so
    :math:`L_k/L_0 = r^{2k}` and the answer is
    :math:`\lceil \ln(\text{rel\_tol}) / (2 \ln r) \rceil` (one step for
    :math:`\alpha = 1`).

    >>> exercise_gd_iterations(1.0), exercise_gd_iterations(10.0)
    (1, 576)
    """
    alpha = _check_alpha(alpha)
    rel_tol = check_positive(rel_tol, "rel_tol")
    r = abs(alpha**2 - 1.0) / (alpha**2 + 1.0)
    if r == 0.0:
        return 1
    return int(math.ceil(math.log(rel_tol) / (2.0 * math.log(r)) - 1e-9))


def exercise_extrapolate(ns, times, n_new: float, *, min_n: Optional[float] = None) -> dict:
    r"""Fit :math:`t = c\, n^p` to measured times and predict the time at ``n_new``.

    Returns ``{"exponent": p, "prefactor": c, "predicted": c n_new^p}``; the
    fit is the least-squares line through :math:`(\log n, \log t)` over
    :math:`n \ge` ``min_n``.

    >>> out = exercise_extrapolate([100, 200, 400], [1.0, 4.0, 16.0], 800)
    >>> round(out["exponent"], 12), round(out["predicted"], 9)
    (2.0, 64.0)
    """
    n_new = check_positive(n_new, "n_new")
    pairs = [(float(n), float(t)) for n, t in zip(ns, times) if t is not None and (min_n is None or n >= min_n)]
    if len(pairs) < 2:
        raise ValueError("need at least two measured sizes to fit an exponent")
    x, y = np.log([p[0] for p in pairs]), np.log([p[1] for p in pairs])
    slope, intercept = np.polyfit(x, y, 1)
    return {"exponent": float(slope), "prefactor": float(math.exp(intercept)),
            "predicted": float(math.exp(intercept) * n_new**slope)}


# --------------------------------------------------------------------------- reading the committed results
#: The JSON documents the appendix reads, by part.
RESULT_FILES = {"scale": "scale.json", "cost": "cost.json", "training": "training.json", "compare": "compare.json",
                "all": "all.json"}


def load_results(folder) -> tuple[dict, list]:
    """Load the JSON results in ``folder``: ``({part: document or None}, [messages about missing files])``.

    >>> docs, missing = load_results("/nonexistent")
    >>> docs["scale"] is None, missing[0].startswith("missing")
    (True, True)
    """
    import json
    from pathlib import Path

    folder = Path(folder)
    documents, messages = {}, []
    for part, name in RESULT_FILES.items():
        path = folder / name
        try:
            documents[part] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            documents[part] = None
            messages.append(f"missing {path}: run `make bench` (or `python -m companion.bench {part} --out {folder}`)")
        except ValueError as exc:
            documents[part] = None
            messages.append(f"unreadable {path} ({exc}): run `make bench` again")
    return documents, messages


def _fmt(value, spec: str = ".2g", missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def scale_table(document: dict, family: str) -> str:
    r"""Text table for one family: per rule the step size, iterations and deviation at the smallest, middle and largest :math:`\alpha`."""
    rows = [r for r in document["results"]["rows"] if r["family"] == family]
    alphas = sorted({r["alpha"] for r in rows})
    picks = [alphas[0], alphas[len(alphas) // 2], alphas[-1]]
    budget = document["settings"]["steps"]
    head = f"{'rule':13s}" + "".join(f"{'it @ ' + format(a, 'g'):>12s}" for a in picks) \
        + "".join(f"{'dev @ ' + format(a, 'g'):>13s}" for a in (picks[0], picks[-1]))
    lines = [head, "-" * len(head)]
    for name in dict.fromkeys(r["rule"] for r in rows):
        by_alpha = {r["alpha"]: r for r in rows if r["rule"] == name}
        its = "".join(f"{(str(by_alpha[a]['iterations']) if by_alpha[a]['iterations'] is not None else '>' + str(budget)):>12s}"
                      for a in picks)
        devs = "".join(f"{_fmt(by_alpha[a]['deviation'], '.2g', 'broke'):>13s}" for a in (picks[0], picks[-1]))
        lines.append(f"{name + (' *' if by_alpha[picks[0]]['tuned'] else ''):13s}{its}{devs}")
    lines.append(f"(* step size tuned at every alpha; '>{budget}': budget used up; 'broke': a run diverged)")
    return "\n".join(lines)


def cost_table(document: dict, quantity: str = "cpu") -> str:
    """Text table: milliseconds per step (``quantity``: ``"cpu"`` or ``"wall"``) per rule and size, skips marked, with the fitted exponent."""
    rows = document["results"]["rows"]
    fits = document["results"]["fits"]
    ns = sorted({r["n"] for r in rows})
    head = f"{'rule':8s}" + "".join(f"{n:>9d}" for n in ns) + f"{'p (fit)':>9s}"
    lines = [head, "-" * len(head)]
    for name in dict.fromkeys(r["rule"] for r in rows):
        cells = []
        for n in ns:
            row = next(r for r in rows if r["rule"] == name and r["n"] == n)
            cells.append(f"{'skip':>9s}" if row["skipped"] else f"{1e3 * row[quantity]:9.3g}")
        exponent = fits[name]["exponent_cpu" if quantity == "cpu" else "exponent_wall"]
        lines.append(f"{name:8s}" + "".join(cells) + f"{_fmt(exponent, '.2f'):>9s}")
    used = {r["rule_used"] for r in rows if r["rule"] == "Newton"}
    lines.append(f"(milliseconds per step, {'thread CPU' if quantity == 'cpu' else 'wall-clock'} time, median; "
                 f"'Newton' row: {' / '.join(sorted(used))}; fit over n >= {document['settings']['fit_min_n']})")
    return "\n".join(lines)


def training_table(document: dict) -> str:
    """Text table of the HIG and SIP headline numbers of a ``training`` document (or why they are missing)."""
    lines = []
    for name, record in document.get("modules", {}).items():
        if record["status"] != "ok":
            lines.append(f"{name.upper()}: {record['status']} ({record['error']})")
    summary_ = document.get("summary") or {}
    hig = summary_.get("hig")
    if hig:
        head = f"{'HIG experiment':22s}{'Adam':>10s}{'GN':>10s}{'HIG':>10s}{'Adam/HIG':>10s}{'GN/HIG':>9s}{'t(HIG)/t(Adam)':>16s}"
        lines += [head, "-" * len(head)]
        for label, e in hig["experiments"].items():
            med = e["median_final_loss"]
            lines.append(f"{label:22s}{_fmt(med.get('adam'), '.3g'):>10s}{_fmt(med.get('gn'), '.3g'):>10s}"
                         f"{_fmt(med.get('hig'), '.3g'):>10s}{_fmt(e['adam_over_hig'], '.3g'):>10s}"
                         f"{_fmt(e['gn_over_hig'], '.3g'):>9s}{_fmt(e['hig_over_adam_time_per_step'], '.2f'):>16s}")
        lines.append("(median final loss over the seeds, each method with its best step size per seed)")
    sip = summary_.get("sip")
    if sip:
        ratios = ", ".join(f"phi = {phi}: {_fmt(v, '.3g')}" for phi, v in sip["adam_over_sip_x_error_at_largest_xi"].items())
        lines += ["", f"SIP, 2-D problem at xi = {_fmt(sip['largest_xi'], 'g')}: Adam/SIP final x-error {ratios}",
                  f"SIP, cost of one iteration relative to Adam: {_fmt(sip['sip_over_adam_cost_per_iteration'], '.2f')}",
                  f"SIP, heat: fraction of Adam's iterations needed to reach Adam's final x-error: "
                  f"{_fmt(sip['heat_sip_fraction_of_adam_iterations'], '.2f')}"]
    return "\n".join(lines) if lines else "no training results"


def machine_line(document: dict) -> str:
    """One line naming the machine, library versions and date of a result document."""
    m = document.get("machine", {})
    return (f"{document.get('date', '?')}: {m.get('platform')}, {m.get('cpu_count')} CPUs, Python {m.get('python')}, "
            f"numpy {m.get('numpy')}, scipy {m.get('scipy')}, companion {m.get('companion')}")
