r"""Scale-invariance, measured: the same problem in other units, every rule, several random starts.

For a problem :math:`P_1` and an invertible change of units :math:`x = M_\alpha z`, the
problem in the new units is :math:`P_\alpha(z) = P_1(M_\alpha z)`. A rule is
*scale-invariant* when its iterates on :math:`P_\alpha`, started at
:math:`z_0 = M_\alpha^{-1} x_0`, satisfy :math:`M_\alpha z_k = x_k`, where :math:`x_k` are
its iterates on :math:`P_1` from :math:`x_0`. :func:`path_deviation` measures how far that
fails,

.. math::
    d(\alpha) = \max_k \frac{|x_k - M_\alpha z_k|}{|x_0 - x^*|}.

Two families (:func:`family_problem`): the :math:`\alpha`-scaled toy
:math:`(x_1, \alpha x_2)` and the rotated :math:`R\,\mathrm{diag}(1, \alpha) R^\top x`.
Every run starts on the unit circle at a random angle per seed (:func:`start_point`), in the
units of :math:`\alpha = 1`.

GD and Adam are not scale-invariant, so their step size must be re-tuned at every
:math:`\alpha`: :func:`scale_comparison` picks it on *validation* starts by the median
:func:`progress_score` over the seeds (:func:`companion.evidence.select`), from a grid
that brackets the best value (GD's grid reaches beyond the stability limit
:math:`2/\lambda_{\max}`), and reports every rule on separate *test* starts with curves
of the relative loss against iterations and wall-clock seconds, as a comparison record of
:mod:`companion.evidence`.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Optional, Sequence

import numpy as np

from . import evidence, problems, rules
from ._checks import as_matrix, as_vector, check_int, check_positive
from .driver import MinimizeResult, minimize
from .problems import Problem
from .training import rotation  # one rotation matrix for the package (also the SIP chapter's)
from .tuning import log_grid

__all__ = [
    "SCALE_RULES", "TUNED_RULES", "FIXED_ETA", "FAMILIES", "ROTATION_ANGLE", "BROKEN",
    "make_rule", "rotated_problem", "family_problem", "family_map", "start_point",
    "path_deviation", "gd_step_grid", "adam_step_grid", "step_grid", "run_to_budget", "progress_score",
    "relative_loss_curve", "scale_comparison", "nonlinear_deviation", "optimal_gd_iterations", "by_alpha",
    "plot_deviation", "plot_iterations",
]

#: The rules of the study, in the order of the chapters.
SCALE_RULES = ("GD", "Adam", "Newton", "Gauss-Newton", "BFGS", "IG", "PG")

#: Rules whose step size is swept at every alpha; the others take :data:`FIXED_ETA`.
TUNED_RULES = ("GD", "Adam")

#: Step sizes of the rules that are not swept (for BFGS, 1 means its line search), and of GD and
#: Adam on the nonlinear toy (:func:`nonlinear_deviation`).
FIXED_ETA = {"GD": 0.02, "Adam": 0.1, "Newton": 0.5, "Gauss-Newton": 0.5, "BFGS": 1.0, "IG": 0.5, "PG": 0.5}

#: The two families of the study.
FAMILIES = ("alpha_scaled", "rotated")

#: Angle of the rotation of the rotated family (30 degrees).
ROTATION_ANGLE = math.pi / 6

#: Statuses of :func:`companion.minimize` that mean the run broke down.
BROKEN = frozenset({"diverged", "non_finite", "rule_failed"})

_FACTORIES: dict[str, Callable[[float], rules.Rule]] = {
    "GD": rules.gd,
    "Adam": rules.adam,
    "Newton": rules.newton,
    "Gauss-Newton": rules.gauss_newton,
    "BFGS": lambda eta: rules.bfgs() if eta == 1.0 else rules.bfgs(eta, line_search=False),
    "IG": rules.ig,
    "PG": rules.pg,
}


def make_rule(name: str, eta: Optional[float] = None) -> rules.Rule:
    """The rule ``name`` (one of :data:`SCALE_RULES`) with step size ``eta`` (default :data:`FIXED_ETA`).

    >>> make_rule("IG").name
    'IG'
    """
    if name not in _FACTORIES:
        raise ValueError(f"unknown rule {name!r}; choose one of {', '.join(SCALE_RULES)}")
    return _FACTORIES[name](FIXED_ETA[name] if eta is None else float(eta))


def _check_alpha(alpha) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating, np.integer)):
        raise TypeError(f"alpha must be a real number, got {type(alpha).__name__}")
    alpha = float(alpha)
    if not np.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"alpha must be a positive finite number, got {alpha}")
    return alpha


def rotated_problem(alpha: float, angle: float = ROTATION_ANGLE) -> Problem:
    r"""The linear problem :math:`P_\alpha(x) = R_\theta \operatorname{diag}(1, \alpha) R_\theta^\top x` with target 0.

    Its Hessian :math:`R_\theta \operatorname{diag}(1, \alpha^2) R_\theta^\top` is not
    diagonal, so no per-coordinate scaling (Adam's) removes the conditioning. (A rotation on
    the output side only would change nothing: :math:`|Rv| = |v|`.)

    >>> np.linalg.eigvalsh(rotated_problem(4.0).jacobian_at(np.zeros(2))).round(12)
    array([1., 4.])
    """
    alpha = _check_alpha(alpha)
    r = rotation(angle)
    return problems.linear(r @ np.diag([1.0, alpha]) @ r.T, np.zeros(2))


def family_problem(family: str, alpha: float) -> Problem:
    r""":math:`P_\alpha` of ``family``: ``"alpha_scaled"`` (:math:`(x_1, \alpha x_2)`) or ``"rotated"``.

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
    r"""The change of units :math:`M_\alpha` with :math:`P_\alpha(z) = P_1(M_\alpha z)`.

    ``alpha_scaled``: :math:`\operatorname{diag}(1, \alpha)`; ``rotated``:
    :math:`R_\theta \operatorname{diag}(1, \alpha) R_\theta^\top`.

    >>> p1, m = family_problem("rotated", 1.0), family_map("rotated", 5.0)
    >>> z = np.array([0.3, -0.7])
    >>> np.allclose(family_problem("rotated", 5.0).output(z), p1.output(m @ z))
    True
    """
    alpha = _check_alpha(alpha)
    if family == "alpha_scaled":
        return np.diag([1.0, alpha])
    if family == "rotated":
        r = rotation(ROTATION_ANGLE)
        return r @ np.diag([1.0, alpha]) @ r.T
    raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")


def start_point(seed: int) -> np.ndarray:
    r"""The start of seed ``seed`` in the units of :math:`\alpha = 1`: a point on the unit circle at a random angle.

    >>> x0 = start_point(3)
    >>> round(float(np.linalg.norm(x0)), 12), bool(np.all(x0 == start_point(3)))
    (1.0, True)
    """
    angle = np.random.default_rng(check_int(seed, "seed", minimum=0)).uniform(0.0, 2.0 * math.pi)
    return np.array([math.cos(angle), math.sin(angle)])


def path_deviation(base_xs, xs, matrix, reference=None) -> float:
    r"""Relative distance :math:`\max_k |x_k - M z_k| / |x_0 - x^*|` between two paths.

    ``base_xs`` are the iterates :math:`x_k`, ``xs`` the iterates :math:`z_k` in the other
    units, ``matrix`` is :math:`M`, ``reference`` is :math:`x^*` (default 0). The shorter
    path is continued with its last point: a rule that stops earlier in one set of units has
    a different path.

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
    r"""GD's step sizes: factors :math:`10^{-3} \dots 1` (two per decade), 1.5, 1.9 and 2.5 of :math:`1/\lambda_{\max}`.

    :math:`\lambda_{\max}` is the largest eigenvalue of :math:`J^\top J` at ``x0`` (the
    Hessian of these linear problems). GD diverges for :math:`\eta > 2/\lambda_{\max}`, so the
    last value fails and every useful step size lies strictly inside the grid.

    >>> [round(e, 6) for e in gd_step_grid(problems.alpha_scaled(10.0), [1.0, 0.1])][-4:]
    [0.01, 0.015, 0.019, 0.025]
    """
    lam = float(np.linalg.eigvalsh(problem.gauss_newton_matrix_at(as_vector(x0, "x0"))).max())
    factors = np.concatenate([log_grid(1e-3, 1.0, per_decade=2), [1.5, 1.9, 2.5]])
    return tuple(float(f / lam) for f in factors)


def adam_step_grid(starts) -> tuple:
    r"""Adam's step sizes: factors :math:`10^{-6} \dots 10` (one per decade) of the largest :math:`|z_{0,i}|` of ``starts``.

    Adam's steps have length about :math:`\eta` in every coordinate whatever the gradient,
    so the useful values scale with the distance to travel in each coordinate, the size of
    the start (the minimum is 0), not with the units of the gradient.

    >>> [f"{e:.0e}" for e in adam_step_grid([[0.5, -2.0]])][::3]
    ['2e-06', '2e-03', '2e+00']
    """
    size = max(float(np.max(np.abs(as_vector(z0, "start")))) for z0 in starts)
    if size == 0:
        raise ValueError("every start is the minimum 0: there is nothing to tune a step size on")
    return tuple(float(f"{f * size:.12g}") for f in log_grid(1e-6, 10.0, per_decade=1))


def step_grid(name: str, problem: Problem, starts) -> tuple:
    """The swept step sizes of a tuned rule on ``problem`` from ``starts`` (:func:`gd_step_grid`, :func:`adam_step_grid`).

    >>> len(step_grid("GD", problems.alpha_scaled(2.0), [[1.0, 0.0]])), len(step_grid("Adam", None, [[1.0, 0.0]]))
    (10, 8)
    """
    if name == "GD":
        return gd_step_grid(problem, starts[0])
    if name == "Adam":
        return adam_step_grid(starts)
    raise ValueError(f"{name!r} is not swept; the tuned rules are {TUNED_RULES}")


def run_to_budget(problem: Problem, x0, rule: rules.Rule, *, iterations: int, seconds: float = 0.0,
                  rtol: float = 0.0, max_iterations: Optional[int] = None) -> MinimizeResult:
    r"""Run ``rule`` until it converged (:math:`L \le` ``rtol`` :math:`L(x_0)`) or used both budgets.

    Both budgets: at least ``iterations`` steps *and* at least ``seconds`` of wall-clock,
    so that every method's curve reaches the same budget in iterations and in seconds
    (the evidence standard, :mod:`companion.evidence`). ``max_iterations`` (default
    ``1000 * iterations``) caps a very fast rule. A run that used its budgets ends with the
    status ``"callback"``; a broken run with its own status.

    >>> run = run_to_budget(problems.alpha_scaled(1.0), [1.0, 1.0], rules.gd(0.1), iterations=5, seconds=0.0)
    >>> run.nit, run.status_name
    (5, 'callback')
    """
    iterations = check_int(iterations, "iterations", minimum=1)
    if seconds < 0 or not math.isfinite(seconds):
        raise ValueError(f"seconds must be a finite number >= 0, got {seconds!r}")
    cap = check_int(max_iterations if max_iterations is not None else 1000 * iterations, "max_iterations",
                    minimum=iterations)
    # the driver's clock starts a little after this one: a margin makes its last time reach ``seconds`` too
    deadline = time.perf_counter() + (seconds * 1.01 + 2e-3 if seconds > 0 else 0.0)

    def used_both_budgets(state) -> bool:
        return state.nit >= iterations and time.perf_counter() >= deadline

    return minimize(problem, x0, rule, steps=cap, rtol=rtol, callback=used_both_budgets)


def relative_loss_curve(run: MinimizeResult, *, points: int = 60) -> dict:
    r"""The run's curve of :math:`L_k / L_0` against iterations and seconds (:func:`companion.evidence.curve`)."""
    losses = np.asarray(run.losses, dtype=float)
    return evidence.curve(np.arange(losses.size), run.times, losses / losses[0], points=points)


def progress_score(run: MinimizeResult, *, iterations: int, floor: float) -> Optional[float]:
    r"""The validation score of a run: the mean of :math:`\log_{10}\max(L_k/L_0, \text{floor})` over :math:`k = 0 \dots N`.

    :math:`N` = ``iterations``; a run that stopped earlier (converged) is continued with its
    last loss. Lower is better: it rewards reaching the floor (the tolerance) early and,
    for a run that does not, a low loss during the budget. A broken run scores ``None``.

    >>> run = minimize(problems.alpha_scaled(1.0), [1.0, 1.0], rules.gd(1.0), steps=4, rtol=1e-10)
    >>> progress_score(run, iterations=4, floor=1e-10)
    -8.0
    """
    if run.status_name in BROKEN:
        return None
    losses = np.asarray(run.losses[: iterations + 1], dtype=float) / run.losses[0]
    losses = np.concatenate([losses, np.repeat(losses[-1:], iterations + 1 - losses.size)])
    return float(np.mean(np.log10(np.maximum(losses, floor))))


def _status(run: MinimizeResult) -> str:
    return "converged" if run.success else ("budget" if run.status_name == "callback" else run.status_name)


def scale_comparison(family: str, alpha: float, *, validation_seeds: Sequence[int], test_seeds: Sequence[int],
                     iterations: int, seconds: float = 0.0, rel_tol: float = 1e-10, rule_names: Sequence[str] = SCALE_RULES,
                     base_etas: Optional[dict] = None, curve_points: int = 60) -> dict:
    r"""Every rule on :math:`P_\alpha` of ``family``: the evidence record and the path deviations per test seed.

    GD and Adam get their step size from a sweep on the validation starts
    (:func:`progress_score`, median over the seeds); every rule is then run on the test
    starts until it converged or used both ``iterations`` and ``seconds``
    (:func:`run_to_budget`). The test value is :math:`L/L(z_0)` at the iteration budget.
    ``base_etas`` are the step sizes chosen at :math:`\alpha = 1` (computed when ``None``);
    the path deviation of each test seed compares the run at :math:`\alpha` with the run at
    :math:`\alpha = 1` from the same start (``None``: one of the two broke down).

    Returns ``{"record": comparison record, "etas": {rule: eta}, "rows": [one dict per rule]}``; the
    record is ``None`` when ``seconds`` is 0 (no wall-clock budget: the runs stop at ``iterations``).
    """
    alpha = _check_alpha(alpha)
    iterations = check_int(iterations, "iterations", minimum=1)
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"seconds must be a finite number >= 0, got {seconds!r}")
    matrix = family_map(family, alpha)
    problem, base_problem = family_problem(family, alpha), family_problem(family, 1.0)
    etas, hyperparameters = _select_etas(problem, matrix, rule_names, validation_seeds, iterations, rel_tol)
    if base_etas is None:
        base_etas = etas if alpha == 1.0 else \
            _select_etas(base_problem, np.eye(2), rule_names, validation_seeds, iterations, rel_tol)[0]
    methods, rows = [], []
    for name in rule_names:
        runs, deviations = [], []
        for seed in test_seeds:
            x0 = start_point(seed)
            run = run_to_budget(problem, np.linalg.solve(matrix, x0), make_rule(name, etas[name]),
                                iterations=iterations, seconds=seconds, rtol=rel_tol)
            base = minimize(base_problem, x0, make_rule(name, base_etas[name]), steps=iterations, rtol=rel_tol)
            broken = {run.status_name, base.status_name} & BROKEN
            deviations.append(None if broken else path_deviation(base.xs, run.xs[: iterations + 1], matrix))
            runs.append(run)
        test = [float(r.losses[min(iterations, r.nit)] / r.losses[0]) for r in runs]
        reached = [int(r.nit) if r.success and r.nit <= iterations else None for r in runs]
        methods.append(evidence.method(
            name, seeds=test_seeds, test=test, hyperparameters=hyperparameters.get(name, []),
            curves=[relative_loss_curve(r, points=curve_points) for r in runs], statuses=[_status(r) for r in runs],
            settings={"eta": etas[name], "eta_at_alpha_1": base_etas[name]},
            note="step size swept on the validation starts" if name in hyperparameters else
            ("Wolfe line search" if name == "BFGS" else "fixed step size")))
        rows.append({"family": family, "alpha": alpha, "rule": name, "eta": etas[name], "tuned": name in hyperparameters,
                     "interior": all(h["interior"] for h in hyperparameters.get(name, [])),
                     "iterations": reached, "test": test, "deviation": deviations,
                     "statuses": [_status(r) for r in runs]})
    if seconds == 0:
        return {"record": None, "etas": etas, "rows": rows}
    record = evidence.comparison(
        f"scale-invariance, {family}, alpha = {alpha:g}",
        metric="relative loss L/L(z0) at the iteration budget",
        validation=f"starts on the unit circle at random angles, seeds {list(validation_seeds)}",
        test=f"starts on the unit circle at random angles, seeds {list(test_seeds)}",
        budget={"iterations": iterations, "seconds": seconds}, methods=methods,
        published="Newton, Gauss-Newton, IG and PG are invariant under a linear change of the units of x "
                  "(holl2021pg, Nocedal and Wright); GD and Adam are not, whatever their step size",
        departures=["a linear two-parameter problem of the course, not a published benchmark",
                    f"runs stop at L <= {rel_tol:g} L(z0)"])
    return {"record": record, "etas": etas, "rows": rows}


def _select_etas(problem: Problem, matrix, rule_names, validation_seeds, iterations: int, rel_tol: float):
    """Step sizes per rule: a sweep on the validation starts for the tuned rules, :data:`FIXED_ETA` otherwise."""
    etas, hyperparameters = {}, {}
    for name in rule_names:
        if name not in TUNED_RULES:
            etas[name] = FIXED_ETA[name]
            continue
        starts = [np.linalg.solve(matrix, start_point(s)) for s in validation_seeds]
        grid = step_grid(name, problem, starts)
        scores = [[progress_score(minimize(problem, z0, make_rule(name, eta), steps=iterations, rtol=rel_tol),
                                  iterations=iterations, floor=rel_tol) for z0 in starts] for eta in grid]
        record = evidence.hyperparameter("eta", grid, scores, seeds=validation_seeds)
        etas[name], hyperparameters[name] = record["best"], [record]
    return etas, hyperparameters


def nonlinear_deviation(name: str, alpha: float, *, steps: int = 20) -> Optional[float]:
    r"""Largest :math:`|x_k - D z_k|` on the nonlinear toy :math:`y = (x_1, x_2^2)`, :math:`D = \operatorname{diag}(1, \alpha)`.

    :math:`x_k` are the iterates from :math:`x_0 = (3, 3)` towards :math:`y^* = (1, 4)` with
    the fixed step size :data:`FIXED_ETA`, :math:`z_k` those on the same problem written in
    :math:`z = D^{-1} x` from :math:`D^{-1} x_0`. ``None`` when one of the two runs broke down.

    >>> nonlinear_deviation("Newton", 100.0) < 1e-12
    True
    """
    alpha = _check_alpha(alpha)
    scale = np.array([1.0, alpha])
    problem = problems.square_second(target=(1.0, 4.0))
    start = np.array([3.0, 3.0])  # away from x_2 = 0, where the Jacobian is singular
    original = minimize(problem, start, make_rule(name), steps=steps)
    rescaled = minimize(problems.reparametrize(problem, scale), start / scale, make_rule(name), steps=steps)
    if {original.status_name, rescaled.status_name} & BROKEN:
        return None
    count = min(len(original.xs), len(rescaled.xs))
    return float(np.max(np.linalg.norm(original.xs[:count] - rescaled.xs[:count] * scale, axis=1)))


def optimal_gd_iterations(alpha: float, rel_tol: float = 1e-10) -> int:
    r"""Iterations of GD on ``alpha_scaled(alpha)`` from :math:`y_0 = (1, 1)` with the optimal fixed step size.

    With :math:`\eta^* = 2/(1 + \alpha^2)` both components of :math:`y` shrink by
    :math:`r = |\alpha^2 - 1|/(\alpha^2 + 1)` per step, so :math:`L_k/L_0 = r^{2k}` and the
    answer is :math:`\lceil \ln(\text{rel\_tol}) / (2 \ln r) \rceil` (one step for :math:`\alpha = 1`).

    >>> optimal_gd_iterations(1.0), optimal_gd_iterations(10.0)
    (1, 576)
    """
    alpha = _check_alpha(alpha)
    rel_tol = check_positive(rel_tol, "rel_tol")
    r = abs(alpha**2 - 1.0) / (alpha**2 + 1.0)
    if r == 0.0:
        return 1
    return int(math.ceil(math.log(rel_tol) / (2.0 * math.log(r)) - 1e-9))


def by_alpha(rows, family: str, rule: str, key: str) -> dict:
    """Per :math:`\\alpha` (ascending) the :func:`companion.evidence.spread` of ``key`` over the test seeds.

    ``rows`` are those of :func:`scale_comparison` (as stored in ``scale.json``); ``key`` is
    ``"deviation"``, ``"iterations"`` (``None``: tolerance not reached) or ``"test"``.
    Returns ``{"alpha": [...], "median": [...], "low": [...], "high": [...], "failed": [...]}``.

    >>> rows = [{"family": "f", "rule": "GD", "alpha": a, "deviation": [a, 2 * a, None]} for a in (10.0, 1.0)]
    >>> by_alpha(rows, "f", "GD", "deviation")["median"]
    [1.5, 15.0]
    """
    mine = sorted((r for r in rows if r["family"] == family and r["rule"] == rule), key=lambda r: r["alpha"])
    if not mine:
        raise ValueError(f"no rows for family {family!r} and rule {rule!r}")
    spreads = [evidence.spread(r[key]) for r in mine]
    out = {"alpha": [r["alpha"] for r in mine]}
    for field in ("median", "low", "high", "failed"):
        out[field] = [s[field] for s in spreads]
    return out


_FAMILY_TITLES = {"alpha_scaled": r"$P(x) = (x_1, \alpha x_2)$",
                  "rotated": r"$P(x) = R\,\mathrm{diag}(1, \alpha)\,R^\top x$"}


def _plot_by_alpha(ax, rows, family: str, key: str, floor: Optional[float] = None) -> None:
    from .plots import MARKERS, color_of

    def clip(values):
        return [np.nan if v is None else (max(v, floor) if floor else v) for v in values]

    for i, name in enumerate(dict.fromkeys(r["rule"] for r in rows if r["family"] == family)):
        s = by_alpha(rows, family, name, key)
        color = color_of(name, i)
        ax.fill_between(s["alpha"], clip(s["low"]), clip(s["high"]), color=color, alpha=0.15, lw=0)
        ax.plot(s["alpha"], clip(s["median"]), color=color, marker=MARKERS.get(name, "o"), ms=4, label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$\alpha$")


def plot_deviation(ax, rows, family: str) -> None:
    """Median path deviation over the test starts against :math:`\\alpha` (band: min to max) for every rule.

    Deviations below :math:`10^{-17}` (exact invariance) are drawn at :math:`10^{-17}`.
    """
    _plot_by_alpha(ax, rows, family, "deviation", floor=1e-17)
    ax.axhline(np.finfo(float).eps, color="0.5", lw=0.8, ls=":")
    ax.set_ylim(3e-18, 1e8)  # room for the legend above the curves
    ax.set_ylabel("path deviation (relative)")
    ax.set_title(f"{_FAMILY_TITLES.get(family, family)}: path deviation", fontsize=10)
    ax.legend(fontsize=7, ncol=4, loc="upper center")


def plot_iterations(ax, rows, family: str, *, budget: int) -> None:
    """Median iterations to the tolerance against :math:`\\alpha` (band: min to max; missing: budget used up)."""
    _plot_by_alpha(ax, rows, family, "iterations")
    ax.axhline(budget, color="0.5", lw=0.8, ls=":")
    ax.set_ylabel("iterations to tolerance")
    ax.set_title(f"{_FAMILY_TITLES.get(family, family)}: iterations (dotted: budget)", fontsize=10)
