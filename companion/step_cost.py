r"""Cost against size: seconds per step of the rules on the heat equation for growing :math:`n`.

:func:`cost_study` times one step of each public rule (:mod:`companion.rules`) on the public
heat problem (:func:`companion.physics.heat_problem`) for each size, with one BLAS thread,
and fits a power law :math:`t \approx c\, n^p` to the CPU times (:func:`fit_exponent`).
A size whose predicted time per step exceeds a cap is skipped and the skip recorded.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Callable, Optional, Sequence

import numpy as np

from . import linalg, problems, rules
from ._checks import as_vector, check_int, check_positive
from .problems import Problem
from .timing import one_blas_thread

__all__ = ["COST_RULES", "heat_cost_problem", "newton_is_regular", "cost_rule", "time_step", "fit_exponent",
           "growth_class", "cost_study", "extrapolate", "plot_cost", "cost_table"]

#: The rules of the cost study ("Newton" is Gauss-Newton where the Hessian is singular).
COST_RULES = ("GD", "Newton", "BFGS", "IG", "PG")


def heat_cost_problem(n: int, *, nu_t: float = 1e-3, noise: float = 1e-3, boxes: int = 3,
                      seed: int = 0) -> tuple[Problem, np.ndarray, float]:
    r"""The noisy heat problem of the chapter *Physical inverse problems* at size ``n``: ``(problem, x0, cutoff)``.

    ``np.random.default_rng(seed)`` draws ``boxes`` hot boxes, then Gaussian noise of level
    ``noise`` on their diffused profile; the inverse keeps the modes whose gain exceeds the
    relative noise level :math:`\sigma / \mathrm{rms}(\tilde y)` (the cutoff); the start is 0.

    >>> problem, x0, cutoff = heat_cost_problem(16)
    >>> problem.output_size, x0.shape, 0 < cutoff < 1
    (16, (16,), True)
    """
    from .physics import add_noise, heat_operator, heat_problem, random_boxes

    n = check_int(n, "n", minimum=2)
    noise = check_positive(noise, "noise")
    rng = np.random.default_rng(seed)
    x_true = random_boxes(n, check_int(boxes, "boxes", minimum=1), rng)
    y = add_noise(heat_operator(n, nu_t).apply(x_true), noise, rng)
    cutoff = noise / float(np.sqrt(np.mean(y**2)))
    return heat_problem(n, nu_t, y, cutoff=cutoff), np.zeros(n), cutoff


def newton_is_regular(n: int, nu_t: float, rtol: float = linalg.DEFAULT_RTOL) -> bool:
    r"""True if Newton's solve accepts the heat Hessian :math:`J^\top J`, i.e. :math:`g_{\min}^2 > \text{rtol}`.

    :math:`J` is circulant with eigenvalues :math:`g_m` (the gains), so
    :math:`J^\top J` has condition number :math:`1/g_{\min}^2` and a constant
    diagonal (the unit-diagonal scaling of :func:`companion.rules.newton_direction`
    does not change it).

    >>> newton_is_regular(32, 1e-3), newton_is_regular(64, 1e-3)
    (True, False)
    """
    from .physics.heat import heat_operator

    gains = heat_operator(n, nu_t).gains
    return bool(float(gains.min()) ** 2 > rtol)


def cost_rule(name: str, n: int, nu_t: float, cutoff: float) -> rules.Rule:
    r"""The public rule timed for ``name`` on the heat problem of size ``n``.

    GD (:math:`\eta = 1`), Newton (Gauss-Newton truncated at ``cutoff`` where
    :func:`newton_is_regular` is false), BFGS with its line search, IG with
    :math:`J^+` truncated at ``cutoff`` and PG with the regularised inverse, as in the
    chapter *Physical inverse problems*.

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
    calling thread's (``time.thread_time``), which other processes on a
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



def extrapolate(ns, times, n_new: float, *, min_n: Optional[float] = None) -> dict:
    r"""Fit :math:`t = c\, n^p` to measured times and predict the time at ``n_new``.

    Returns ``{"exponent": p, "prefactor": c, "predicted": c n_new^p}``; the
    fit is the least-squares line through :math:`(\log n, \log t)` over
    :math:`n \ge` ``min_n``.

    >>> out = extrapolate([100, 200, 400], [1.0, 4.0, 16.0], 800)
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


def plot_cost(ax, document: dict, quantity: str = "cpu") -> None:
    r"""Seconds per step against :math:`n` (log-log) for every rule, with :math:`n \log n` and :math:`n^3` guides."""
    from .plots import MARKERS, color_of

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
        lines.append(f"{name:8s}" + "".join(cells) + f"{('-' if exponent is None else f'{exponent:.2f}'):>9s}")
    used = {r["rule_used"] for r in rows if r["rule"] == "Newton"}
    lines.append(f"(milliseconds per step, {'thread CPU' if quantity == 'cpu' else 'wall-clock'} time, median; "
                 f"'Newton' row: {' / '.join(sorted(used))}; fit over n >= {document['settings']['fit_min_n']})")
    return "\n".join(lines)
