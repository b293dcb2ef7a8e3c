r"""The ``compare`` and ``inverse_chapter`` benchmarks: every method on the course's inverse problems, as evidence records.

Each comparison (:func:`evidence_comparison`) follows :mod:`companion.evidence`:

* every swept step size is chosen by its median validation score
  (:func:`companion.inverse_setups.budget_score`) over the **validation** seeds
  (other true states, other noise), and reported on separate **test** seeds;
* every method gets the same iteration budget **and** the same wall-clock budget:
  a test run goes on until both are used, or until it reached the tolerance;
* per test seed, the curve of the relative :math:`x` error against iterations and
  seconds is stored, and the test value is that error after the iteration budget.

``inverse_chapter`` holds the comparisons of the chapter *Physical inverse problems*
(the unit-mass pendulum ring, the ring with uneven masses, the noisy heat equation);
``compare`` the tuned comparison of the 2-D toy of *Comparing the optimisers* and the
physical problems at larger sizes. Both write ``<name>.json`` and ``<name>.png``.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

import numpy as np

from . import evidence
from . import inverse_setups as setups
from .timing import one_blas_thread

__all__ = ["PUBLISHED", "DEPARTURES", "CHAPTER", "COMPARE", "settings_of", "evidence_comparison",
           "run_problem", "summary_rows", "plot_comparisons"]

#: The published outcome each comparison is set against.
PUBLISHED = {
    "toy": ("The source's follow-up 'A simple example comparing optimizers' (thuerey2021pbdl; the inverse-simulator "
            "update of holl2021pg): y = (x1, x2^2), L = |y|^2, start (3, 3), ten iterations of GD (eta 0.01), Newton "
            "(eta 1/3) and the inverse simulator (eta 0.3), step sizes chosen for first steps of about equal length. "
            "The figure shows the inverse simulator's path in y as a straight line to the optimum and its iterate "
            "closest to the optimum after ten steps, Newton next, GD slowest in x2; a numerical (L-BFGS-B) inverse "
            "agrees with the analytic one."),
    "pendulum": ("holl2021pg: an inverse simulator turns the optimisation into steps towards the target in y; for an "
                 "exact inverse and eta = 1 one step solves the problem. The published work shows no pendulum chain "
                 "and no wall-clock comparison with tuned step sizes."),
    "uneven pendulum": ("holl2021pg, holl2022sip: scale-invariant updates (the inverse simulator, and inverse or "
                        "Gauss-Newton steps) are unaffected by how the physics scales the directions of x, while GD "
                        "and Adam slow down as the conditioning worsens (shown there on a 2-D problem swept over its "
                        "conditioning, Adam degrading by orders of magnitude)."),
    "heat": ("holl2021pg, holl2022sip: heat conduction from random hot boxes on a periodic 2-D grid, with an inverse "
             "that damps the modes the noise dominates, inside network training; the inverse-simulator updates reach "
             "a lower x error than Adam."),
}

#: How the set-ups differ from the published ones.
DEPARTURES = {
    "toy": ["starts drawn from U[1, 4]^2 instead of the single start (3, 3)",
            "step sizes tuned per method on validation starts instead of matched first-step lengths",
            "budget of 300 iterations and a tolerance L <= 1e-24 instead of 10 iterations, so that every "
            "curve flattens or converges (the reproduction with 10 steps is in the chapter)",
            "loss |y|^2 as published (twice the course's 1/2 |y - y*|^2)",
            "Adam, IG and BFGS added to GD, Newton and PG"],
    "pendulum": ["a ring of 4 pendulums integrated by leapfrog; the published examples use other simulators",
                 "noise-free observation of the full final state"],
    "uneven pendulum": ["masses from 1 to the mass ratio (geometric), not in the published material",
                        "noise-free observation of the full final state"],
    "heat": ["1-D heat equation on a periodic grid instead of the published 2-D one",
             "direct optimisation of x, no neural network",
             "discrepancy principle (rms residual <= 1.1 sigma) as the stopping rule"],
}

#: The comparisons of the chapter *Physical inverse problems* (``inverse_chapter``).
CHAPTER = {
    "pendulum": {"task": {"n": 4, "dt": 0.1, "steps": 50}, "iterations": 250, "seconds": 0.3},
    "uneven pendulum": {"task": {"n": 4, "mass_ratio": 30.0, "dt": 0.1, "steps": 50}, "iterations": 150,
                        "seconds": 0.3},
    "heat": {"task": {"n": 64, "nu_t": 1e-3, "noise": 1e-3}, "iterations": 200, "seconds": 0.1},
}

#: The comparisons of ``compare``: the tuned 2-D toy, and the physical problems at larger sizes.
COMPARE = {
    "toy": {"task": {}, "iterations": 300, "seconds": 0.05},
    "uneven pendulum": {"task": {"n": 8, "mass_ratio": 30.0, "dt": 0.1, "steps": 100}, "iterations": 100,
                        "seconds": 0.5},
    "heat": {"task": {"n": 256, "nu_t": 1e-3, "noise": 1e-3}, "iterations": 200, "seconds": 0.2},
}

#: Seeds of the instances: validation and test never overlap.
VALIDATION_SEEDS = (100, 101, 102, 103, 104)
TEST_SEEDS = (0, 1, 2, 3, 4)


def settings_of(table: dict, quick: bool = False) -> dict:
    """The settings of ``table`` (:data:`CHAPTER` or :data:`COMPARE`), reduced for ``quick`` runs (tests).

    >>> settings_of(CHAPTER, quick=True)["heat"]["iterations"]
    20
    """
    out = {}
    for name, entry in table.items():
        entry = {**entry, "task": dict(entry["task"]), "validation_seeds": list(VALIDATION_SEEDS),
                 "test_seeds": list(TEST_SEEDS)}
        if quick:
            entry.update(iterations=min(entry["iterations"], 20), seconds=min(entry["seconds"], 0.02))
            if "steps" in entry["task"]:
                entry["task"]["steps"] = 10
        out[name] = entry
    return out


def _make_task(name: str, options: dict, seed: int) -> setups.Task:
    if name == "toy":
        from .toy_comparison import toy_task
        return toy_task(seed, **options)
    maker = {"pendulum": setups.pendulum_task, "uneven pendulum": setups.uneven_pendulum_task}.get(name)
    if maker is not None:
        return maker(seed=seed, **options)
    if name == "heat":
        options = dict(options)
        return setups.heat_task(options.pop("n"), options.pop("nu_t"), seed=seed, **options)
    raise ValueError(f"unknown problem {name!r}; choose from {tuple(PUBLISHED)}")


def _rules_of(name: str, task: setups.Task) -> dict:
    if name == "toy":
        from .toy_comparison import toy_rules
        return toy_rules()
    return setups.method_rules(task)


def _validation_score(name: str, trace: setups.Trace, iterations: int, tol: float) -> float:
    return setups.budget_score(trace.run, iterations, tol)


def _curve(trace: setups.Trace, iterations: int, seconds: float) -> dict:
    its, secs, values = trace.iterations, trace.seconds, trace.x_errors
    if trace.status == "stalled":  # the iterate no longer moves: it stays where it is for the rest of the budget
        its = np.r_[its, max(iterations, its[-1])]
        secs = np.r_[secs, max(seconds, secs[-1])]
        values = np.r_[values, values[-1]]
    return evidence.curve(its, secs, values)


def run_problem(name: str, entry: dict, *, log: Optional[Callable[[str], None]] = None) -> dict:
    """One evidence record: every method on problem ``name`` with the settings ``entry`` (see :func:`settings_of`)."""
    iterations, seconds = int(entry["iterations"]), float(entry["seconds"])
    validation = [_make_task(name, entry["task"], s) for s in entry["validation_seeds"]]
    test = [_make_task(name, entry["task"], s) for s in entry["test_seeds"]]
    methods = []
    for method, (make, grid, note) in _rules_of(name, test[0]).items():
        start = time.perf_counter()
        hyper, eta = [], 1.0
        if grid:
            scores = [[_validation_score(name, setups.traced_run(task, make(g), iterations=iterations),
                                         iterations, task.tol) for task in validation] for g in grid]
            hyper = [evidence.hyperparameter("eta", grid, scores, seeds=entry["validation_seeds"])]
            eta = hyper[0]["best"]
        traces = [setups.traced_run(task, make(eta), iterations=iterations, seconds=seconds) for task in test]
        methods.append(evidence.method(
            method, seeds=entry["test_seeds"], test=[t.x_error_at(iterations) for t in traces], hyperparameters=hyper,
            curves=[_curve(t, iterations, seconds) for t in traces], statuses=[t.status for t in traces],
            settings={"eta": eta, "rule": traces[0].run.rule, "note": note,
                      "iterations_to_tolerance": [int(t.run.nit) if t.status == "converged" else None for t in traces],
                      "seconds_to_tolerance": [float(t.run.times[-1]) if t.status == "converged" else None
                                               for t in traces]}))
        if log:
            log(f"{name:16s} {method:6s} eta = {eta:<8g} {time.perf_counter() - start:6.2f} s")
    return evidence.comparison(
        name, metric="relative rms x error after the iteration budget" if name != "toy"
        else "rms distance to the optimum x* = 0 after the iteration budget",
        validation=f"instances (true states, noise) from seeds {entry['validation_seeds']}",
        test=f"instances from seeds {entry['test_seeds']}",
        budget={"iterations": iterations, "seconds": seconds}, methods=methods, published=PUBLISHED[name],
        departures=DEPARTURES[name], note=f"task settings {entry['task']}")


def evidence_comparison(table: dict, *, quick: bool = False, log=None) -> dict:
    """Every problem of ``table``: ``{"settings": ..., "comparisons": {name: record}}``, run with one BLAS thread."""
    settings = settings_of(table, quick)
    with one_blas_thread():
        return {"settings": settings, "comparisons": {name: run_problem(name, entry, log=log)
                                                      for name, entry in settings.items()}}


def summary_rows(result: dict) -> list[dict]:
    """Per comparison and method: test runs, converged runs, medians of iterations and seconds to the tolerance and of the x error.

    ``problem`` is ``"pendulum"`` for both pendulum rings (``comparison`` names the record).
    """
    rows = []
    for name, record in result["comparisons"].items():
        options = result["settings"][name]["task"]
        for m in record["methods"]:
            its = m["settings"]["iterations_to_tolerance"]
            # "pendulum" for both rings, so that readers of the summary find every chain under one name
            rows.append({"problem": "pendulum" if "pendulum" in name else name, "comparison": name,
                         **{k: v for k, v in options.items() if k in ("n", "steps", "nu_t")},
                         "method": m["name"], "rules": [m["settings"]["rule"]], "runs": len(m["seeds"]),
                         "converged": sum(1 for v in its if v is not None), "median_iterations": evidence.spread(its)["median"],
                         "median_seconds": evidence.spread(m["settings"]["seconds_to_tolerance"])["median"],
                         "median_x_error": m["test_spread"]["median"], "median_eta": m["settings"]["eta"]})
    return rows


def plot_comparisons(figure, comparisons: dict) -> None:
    """Two panels per comparison: per-seed x-error curves with median and band, against iterations and seconds."""
    axes = figure.subplots(len(comparisons), 2, squeeze=False)
    for row, (name, record) in zip(axes, comparisons.items()):
        for axis, ax in zip(("iterations", "seconds"), row):
            for m in record["methods"]:
                evidence.plot_bands(ax, m, axis=axis)
            ax.set_xscale("symlog" if axis == "iterations" else "log", **({"linthresh": 1} if axis == "iterations" else {}))
            ax.set_yscale("log")
            ax.axvline(record["budget"][axis], color="grey", lw=0.8, ls=":")
            ax.set_xlabel(axis if axis == "iterations" else "seconds")
            ax.set_title(f"{name}: test x error against {axis}", fontsize=9)
        row[0].set_ylabel("x error")
        row[0].legend(fontsize=7, ncol=2)
