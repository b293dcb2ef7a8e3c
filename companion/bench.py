r"""Benchmarks of the course, run from the command line.

::

    python -m companion.bench compare [--quick] [--out bench_results] [--seeds 0 1 2]

Each subcommand is one self-contained function that runs its experiments,
writes ``<subcommand>.json`` (results plus the machine, library versions,
seeds, settings and date) and ``<subcommand>.png`` into ``--out``, and
returns the JSON document.  New subcommands register themselves in
:data:`SUBCOMMANDS` with :func:`subcommand`.

``compare``
    The comparison of the chapter *Physical inverse problems* at larger sizes:
    every method (GD, Adam, Newton or Gauss-Newton, BFGS, IG, PG), each with
    its best step size from a sweep, on the pendulum chain (up to 32
    pendulums and 400 leapfrog steps) and on the noisy heat equation (up to
    :math:`n = 1024`), for several seeds.  ``--quick`` runs a reduced set
    in a few seconds (used by the tests).

``scale``
    Scale-invariance: every rule (GD, Adam, Newton, Gauss-Newton, BFGS, IG,
    PG) on :math:`P(x) = (x_1, \alpha x_2)` and on the rotated
    :math:`P(x) = R\,\mathrm{diag}(1, \alpha) R^\top x` for
    :math:`\alpha = 10^{-4} \dots 10^4`: iterations to a relative tolerance
    and the deviation of the path, mapped back to the units of
    :math:`\alpha = 1`, from the path there.  GD and Adam get their best step
    size per :math:`\alpha` from a sweep; the other rules a fixed step size.
``cost``
    Seconds per step of GD, Newton (Gauss-Newton where the Hessian is
    singular), BFGS, IG and PG on the heat equation for
    :math:`n = 32 \dots 4096`, median of several runs with one BLAS thread,
    with the fitted exponent of time against :math:`n`.  Sizes whose
    predicted time per step exceeds a cap are skipped (and recorded).
``training``
    Runs the SIP and HIG benchmarks (:mod:`companion.bench_sip`,
    :mod:`companion.bench_hig`; a module that is missing is recorded as "not
    available") and summarises them against Adam and Gauss-Newton.
``discussion``
    The side-by-side runs of the chapter *Discussion* (Adam, Gauss-Newton, HIG
    and SIP on the toy, the 2-D problem and the oscillators, each with its best
    rate from a sweep, and Adam and SIP with more steps), with their loss
    curves; the chapter reads ``discussion.json`` and re-runs one entry.
    ``--quick`` runs the toy only.
``hig_chapter``
    The :math:`(\tau, b)` table of the chapter *Half-inverse gradients*: HIG's
    test loss on the toy (:math:`\lambda = 0.01`) with the step size re-tuned
    on validation data in every cell, 5 seeds (:func:`companion.bench_hig.run_chapter`).
    The chapter's comparisons of Adam, Gauss-Newton and HIG are in ``bench_hig.json``
    (``python -m companion.bench_hig``).
``inverse_chapter``
    The scaling studies of the chapter *Physical inverse problems* (the pendulum
    chain for longer time spans, the heat equation for other diffusivities and
    grids), every method with its step-size sweeps; the chapter reads
    ``inverse_chapter.json`` and computes its central setting live.
``all``
    ``scale``, ``cost``, ``compare``, ``training``, ``discussion``, ``hig_chapter`` and
    ``inverse_chapter``; ``--jobs 2`` runs the
    parts in parallel processes.  Writes ``all.json`` with the headline
    numbers and the run time of every part.

The computations live in :mod:`companion.experiments.benchmarks`.
"""

from __future__ import annotations

import argparse
import datetime as _datetime
import importlib
import json
import math
import os
import platform
import statistics
import sys
from pathlib import Path
import time
from typing import Callable, Optional, Sequence

__all__ = ["SUBCOMMANDS", "subcommand", "machine_info", "compare_settings", "run_compare", "summarise",
           "build_parser", "main", "COMPARE_SCHEMA", "SCALE_SCHEMA", "COST_SCHEMA", "TRAINING_SCHEMA", "ALL_SCHEMA",
           "TRAINING_MODULES", "scale_settings", "cost_settings", "run_scale", "run_cost", "run_training_module",
           "run_training", "run_all", "DISCUSSION_SCHEMA", "discussion_settings", "run_discussion",
           "HIG_CHAPTER_SCHEMA", "run_hig_chapter", "INVERSE_CHAPTER_SCHEMA", "run_inverse_chapter"]

#: Registered subcommands: name -> (help, add_arguments(parser), run(args) -> dict).
SUBCOMMANDS: dict = {}

#: Identifiers of the JSON layouts written by the subcommands.
COMPARE_SCHEMA = "companion.bench.compare/1"
SCALE_SCHEMA = "companion.bench.scale/1"
COST_SCHEMA = "companion.bench.cost/1"
TRAINING_SCHEMA = "companion.bench.training/1"
ALL_SCHEMA = "companion.bench.all/1"
DISCUSSION_SCHEMA = "companion.bench.discussion/1"
HIG_CHAPTER_SCHEMA = "companion.bench.hig_chapter/2"
INVERSE_CHAPTER_SCHEMA = "companion.bench.inverse_chapter/1"


def load_document(path, *, schema: str, what: str, command: str, allow_quick: bool = False) -> dict:
    """A stored benchmark document that a chapter reads, checked before use.

    ``what`` names the results in the messages, ``command`` the module that (re)writes them
    (e.g. ``"companion.bench hig_chapter"``). Raises ``FileNotFoundError`` for a missing
    file and ``ValueError`` for another schema or, unless ``allow_quick``, a ``--quick`` run;
    each message names the command that fixes it.
    """
    path = Path(path)
    fix = f"run `make bench` (or `python -m {command} --out bench_results`) in the repository"
    if not path.is_file():
        raise FileNotFoundError(f"no {what} results at {path}; {fix}")
    document = json.loads(path.read_text())
    if document.get("schema") != schema:
        raise ValueError(f"{path} has schema {document.get('schema')!r}, expected {schema!r}; {fix}")
    if document.get("quick") and not allow_quick:
        raise ValueError(f"{path} holds a --quick run, too small for the chapter; {fix}")
    return document

#: The training benchmarks: name -> (module, JSON file it writes).  Imported lazily; a missing one is skipped.
TRAINING_MODULES = {"sip": ("companion.bench_sip", "sip.json"), "hig": ("companion.bench_hig", "bench_hig.json")}


def subcommand(name: str, help: str, add_arguments: Callable[[argparse.ArgumentParser], None]):
    """Register ``function(args) -> dict`` as the subcommand ``name`` of ``python -m companion.bench``."""
    def register(function):
        SUBCOMMANDS[name] = (help, add_arguments, function)
        return function
    return register


def machine_info() -> dict:
    """Platform, processor, CPU count, load average (1, 5, 15 min) and library versions of this machine.

    >>> info = machine_info()
    >>> all(key in info for key in ("platform", "cpu_count", "numpy", "scipy", "load_average"))
    True
    """
    import numpy
    import scipy

    from . import __version__

    try:
        import matplotlib
        mpl_version = matplotlib.__version__
    except ImportError:  # pragma: no cover
        mpl_version = None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "matplotlib": mpl_version,
        "companion": __version__,
    }


# --------------------------------------------------------------------------- compare
def compare_settings(quick: bool = False, seeds: Optional[Sequence[int]] = None) -> dict:
    r"""Sizes, budgets and seeds of ``compare``.

    Pendulum chain (:math:`\text{dt} = 0.1`, start 0, tolerance
    :math:`10^{-10} L(x_0)`): time spans of 5 to 40 at 8 pendulums, and 4 to
    32 pendulums at :math:`T = 10`.  Heat (noise :math:`\sigma = 10^{-3}`,
    cutoff at the relative noise level, discrepancy principle):
    :math:`n = 64, 256, 1024` at :math:`\nu t = 10^{-3}` and
    :math:`\nu t = 10^{-4}, 10^{-2}` at :math:`n = 256`.

    >>> compare_settings(quick=True)["seeds"]
    [0]
    """
    if quick:
        settings = {
            "pendulum": [{"n": 4, "steps": 50}, {"n": 4, "steps": 100}],
            "heat": [{"n": 64, "nu_t": 1e-3}, {"n": 128, "nu_t": 1e-3}],
            "seeds": [0],
            "max_time": 1.0,
        }
    else:
        settings = {
            "pendulum": [{"n": 8, "steps": s} for s in (50, 100, 200, 400)]
                        + [{"n": n, "steps": 100} for n in (4, 16, 32)],
            "heat": [{"n": n, "nu_t": 1e-3} for n in (64, 256, 1024)]
                    + [{"n": 256, "nu_t": nu} for nu in (1e-4, 1e-2)],
            "seeds": [0, 1, 2],
            "max_time": 3.0,
        }
    if seeds is not None:
        settings["seeds"] = [int(s) for s in seeds]
        if not settings["seeds"]:
            raise ValueError("seeds must not be empty")
    settings.update({
        "pendulum_options": {"dt": 0.1, "coupling": 1.0, "amplitude": 1.0, "rel_tol": 1e-10, "budget": 100},
        "heat_options": {"noise": 1e-3, "tau": 1.1, "boxes": 3, "budget": 200},
        "timing": "fastest of up to 3 runs of the best step size (re-runs limited to 1 s), one BLAS thread",
        "quick": bool(quick),
    })
    return settings


def _median(values) -> Optional[float]:
    values = [v for v in values if v is not None]
    return float(statistics.median(values)) if values else None


def summarise(rows: Sequence[dict]) -> list[dict]:
    """Per problem, scale and method: runs, converged runs, medians over seeds (converged runs for iterations and seconds)."""
    groups: dict = {}
    for r in rows:
        scale = (("n", r["n"]), ("steps", r["steps"])) if r["problem"] == "pendulum" else (("n", r["n"]), ("nu_t", r["nu_t"]))
        groups.setdefault((r["problem"], scale, r["method"]), []).append(r)
    out = []
    for (problem, scale, method), members in groups.items():
        out.append({
            "problem": problem,
            **dict(scale),
            "method": method,
            "rules": sorted({m["rule"] for m in members}),
            "runs": len(members),
            "converged": sum(1 for m in members if m["converged"]),
            "median_iterations": _median([m["iterations"] for m in members]),
            "median_seconds": _median([m["seconds"] for m in members]),
            "median_x_error": _median([m["x_error"] for m in members]),
            "median_eta": _median([m["eta"] for m in members]),
        })
    return out


def _clean(value):
    """JSON-safe: NaN and inf become None, numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _plot_compare(summary: Sequence[dict], settings: dict, path: str) -> None:
    from matplotlib.figure import Figure

    from .experiments import inverse_problems as inv
    from .plots import use_style

    use_style()
    fig = Figure(figsize=(11, 8))  # no pyplot: the caller's backend and open figures are left alone
    axes = fig.subplots(2, 2)
    def most_common(problem, key):
        values = [s[key] for s in settings[problem]]
        return max(values, key=values.count)

    span_n, size_steps = most_common("pendulum", "n"), most_common("pendulum", "steps")
    size_nu, nu_n = most_common("heat", "nu_t"), most_common("heat", "n")
    dt = settings["pendulum_options"]["dt"]
    panels = [
        (axes[0, 0], "pendulum", lambda s: s["n"] == span_n, "steps", "median_iterations",
         f"pendulums (n = {span_n}): iterations to tolerance", f"leapfrog steps (dt = {dt:g})"),
        (axes[0, 1], "pendulum", lambda s: s["steps"] == size_steps, "n", "median_seconds",
         f"pendulums (T = {size_steps * dt:g}): seconds to tolerance", "number of pendulums n"),
        (axes[1, 0], "heat", lambda s: s["nu_t"] == size_nu, "n", "median_seconds",
         f"heat (nu t = {size_nu:g}): seconds to discrepancy", "grid size n"),
        (axes[1, 1], "heat", lambda s: s["n"] == nu_n, "nu_t", "median_iterations",
         f"heat (n = {nu_n}): iterations to discrepancy", "diffusion nu t"),
    ]
    for ax, problem, select, key, quantity, title, xlabel in panels:
        chosen = [s for s in summary if s["problem"] == problem and select(s)]
        labels = {"Newton": "Newton / Gauss-Newton"} if problem == "heat" else None
        inv.plot_scaling(ax, chosen, key, quantity, labels=labels)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(quantity.replace("median_", "median "))
    fig.suptitle(f"companion.bench compare: median over the seeds {settings['seeds']} that reached the tolerance "
                 f"(no point: none did)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)


def run_compare(quick: bool = False, out: str = "bench_results", seeds: Optional[Sequence[int]] = None,
                log: Optional[Callable[[str], None]] = None) -> dict:
    """Run ``compare``; write ``compare.json`` and ``compare.png`` into ``out``; return the JSON document."""
    from .experiments import inverse_problems as inv

    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    settings = compare_settings(quick, seeds)
    start = time.perf_counter()
    rows: list[dict] = []
    p_opt, h_opt = settings["pendulum_options"], settings["heat_options"]
    for seed in settings["seeds"]:
        for scale in settings["pendulum"]:
            t0 = time.perf_counter()
            task = inv.pendulum_task(scale["n"], dt=p_opt["dt"], steps=scale["steps"], coupling=p_opt["coupling"],
                                     amplitude=p_opt["amplitude"], seed=seed, rel_tol=p_opt["rel_tol"])
            results = inv.compare_methods(task, steps=p_opt["budget"], max_time=settings["max_time"], repeats=3)
            rows += [{"problem": "pendulum", **task.scale, **row} for row in inv.result_rows(results)]
            log(f"pendulum n={scale['n']:3d} steps={scale['steps']:4d} seed={seed}: {time.perf_counter() - t0:6.2f} s")
        for scale in settings["heat"]:
            t0 = time.perf_counter()
            task = inv.heat_task(scale["n"], scale["nu_t"], noise=h_opt["noise"], boxes=h_opt["boxes"], seed=seed,
                                 tau=h_opt["tau"])
            results = inv.compare_methods(task, steps=h_opt["budget"], max_time=settings["max_time"], repeats=3)
            rows += [{"problem": "heat", **task.scale, **row} for row in inv.result_rows(results)]
            log(f"heat     n={scale['n']:4d} nu_t={scale['nu_t']:g} seed={seed}: {time.perf_counter() - t0:6.2f} s")
    summary = summarise(rows)
    document = {
        "schema": COMPARE_SCHEMA,
        "command": "compare",
        "quick": bool(quick),
        "date": _datetime.datetime.now(_datetime.timezone.utc).isoformat(timespec="seconds"),
        "runtime_seconds": time.perf_counter() - start,
        "machine": machine_info(),
        "seeds": settings["seeds"],
        "settings": settings,
        "results": rows,
        "summary": summary,
    }
    document = _clean(document)
    os.makedirs(out, exist_ok=True)
    json_path = os.path.join(out, "compare.json")
    png_path = os.path.join(out, "compare.png")
    _plot_compare(summary, settings, png_path)
    document["runtime_seconds"] = time.perf_counter() - start
    with open(json_path, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=1, allow_nan=False)
        handle.write("\n")
    log(f"wrote {json_path} and {png_path} in {document['runtime_seconds']:.1f} s")
    return document


def _compare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="small sizes and one seed (a few seconds)")
    parser.add_argument("--out", default="bench_results", help="output folder (default: bench_results)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default: 0 1 2, quick: 0)")


@subcommand("compare", "every optimiser on the pendulum chain and the heat equation, larger sizes", _compare_arguments)
def compare(args: argparse.Namespace) -> dict:
    """The ``compare`` subcommand: :func:`run_compare` with the parsed arguments."""
    return run_compare(quick=args.quick, out=args.out, seeds=args.seeds)


# --------------------------------------------------------------------------- shared
def _log_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _now() -> str:
    return _datetime.datetime.now(_datetime.timezone.utc).isoformat(timespec="seconds")


def _write(document: dict, out: str, name: str, plot: Optional[Callable[[dict, str], None]], start: float,
           log: Callable[[str], None]) -> dict:
    """Clean ``document``, draw ``<name>.png`` with ``plot``, write ``<name>.json`` into ``out``; return the document."""
    document = _clean(document)
    os.makedirs(out, exist_ok=True)
    json_path, png_path = os.path.join(out, f"{name}.json"), os.path.join(out, f"{name}.png")
    if plot is not None:
        plot(document, png_path)
    document["runtime_seconds"] = time.perf_counter() - start
    with open(json_path, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=1, allow_nan=False)
        handle.write("\n")
    log(f"wrote {json_path}" + (f" and {png_path}" if plot is not None else "")
        + f" in {document['runtime_seconds']:.1f} s")
    return document


def _figure(size):
    """A pyplot-free figure (the caller's backend and open figures are left alone), in the book's style."""
    from matplotlib.figure import Figure

    from .plots import use_style

    use_style()
    return Figure(figsize=size)


def _quick_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="reduced sizes (a few seconds; used by the tests)")
    parser.add_argument("--out", default="bench_results", help="output folder (default: bench_results)")


def _jobs_arguments(parser: argparse.ArgumentParser) -> None:
    _quick_arguments(parser)
    parser.add_argument("--jobs", type=int, default=1, help="parts run in parallel processes (default: 1)")


# --------------------------------------------------------------------------- scale
def scale_settings(quick: bool = False) -> dict:
    r"""The :math:`\alpha` grid, budget and tolerance of ``scale``.

    >>> scale_settings(quick=True)["alphas"]
    [0.0001, 0.01, 1.0, 100.0, 10000.0]
    """
    from .experiments import benchmarks as bm
    from .experiments import summary

    exponents = [-4, -2, 0, 2, 4] if quick else [k / 2 for k in range(-8, 9)]
    return {
        "alphas": [float(f"{10.0 ** e:.12g}") for e in exponents],
        "families": list(bm.FAMILIES),
        "rules": list(bm.SCALE_RULES),
        "tuned_rules": list(bm.TUNED_RULES),
        "fixed_eta": {k: v for k, v in summary.FIXED_ETA.items() if k not in bm.TUNED_RULES},
        "adam_grid": list(bm.ADAM_GRID),
        "gd_grid": "factors 1e-3 ... 1 (2 per decade), 1.5 and 1.9 of 1/lambda_max(J^T J) at the start",
        "steps": 100 if quick else 500,
        "rel_tol": 1e-10,
        "start": bm.SCALE_START.tolist(),
        "rotation_angle": bm.ROTATION_ANGLE,
        "nonlinear_steps": 20,
        "deviation": "max_k |x_k - M z_k| / |x_0 - x*|, paths continued with their last point; "
                     "x_k on alpha = 1 from x_0, z_k on alpha from M^-1 x_0",
        "quick": bool(quick),
    }


def _plot_scale(document: dict, path: str) -> None:
    from .experiments import benchmarks as bm

    families = document["settings"]["families"]
    fig = _figure((11, 3.6 * len(families)))
    axes = fig.subplots(len(families), 2, squeeze=False)
    for row, family in zip(axes, families):
        bm.plot_scale(row, document, family)
    fig.suptitle("companion.bench scale: same problem in other units (GD and Adam tuned per alpha)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)


def run_scale(quick: bool = False, out: str = "bench_results", log: Optional[Callable[[str], None]] = None) -> dict:
    """Run ``scale``; write ``scale.json`` and ``scale.png`` into ``out``; return the JSON document."""
    from .experiments import benchmarks as bm

    log = log or _log_to_stderr
    start = time.perf_counter()
    settings = scale_settings(quick)
    results = bm.scale_study(settings["alphas"], families=settings["families"], rule_names=settings["rules"],
                             steps=settings["steps"], rel_tol=settings["rel_tol"],
                             nonlinear_steps=settings["nonlinear_steps"], log=log)
    document = {"schema": SCALE_SCHEMA, "command": "scale", "quick": bool(quick), "date": _now(),
                "machine": machine_info(), "seeds": [], "settings": settings, "results": results}
    document["headline"] = bm.headline(scale=document)
    return _write(document, out, "scale", _plot_scale, start, log)


@subcommand("scale", "scale-invariance of every rule for alpha = 1e-4 ... 1e4", _quick_arguments)
def scale(args: argparse.Namespace) -> dict:
    """The ``scale`` subcommand."""
    return run_scale(quick=args.quick, out=args.out)


# --------------------------------------------------------------------------- cost
def cost_settings(quick: bool = False) -> dict:
    """Sizes, repeats and caps of ``cost``.

    >>> cost_settings(quick=True)["ns"]
    [32, 64, 128, 256]
    """
    from .experiments import benchmarks as bm

    settings = {
        "ns": [32, 64, 128, 256] if quick else [2**k for k in range(5, 13)],
        "rules": list(bm.COST_RULES),
        "nu_t": 1e-3,
        "noise": 1e-3,
        "seed": 0,
        "repeats": 3 if quick else 5,
        "min_sample": 0.005 if quick else 0.02,
        "budget": 0.5 if quick else 5.0,
        "max_step": 0.2 if quick else 3.0,
        "fit_min_n": 64 if quick else 256,
        "timing": "median over samples of rule.step at x_1 (after one untimed step from x_0); each sample repeats "
                  "the step to last >= min_sample s; wall-clock and thread CPU time; one BLAS thread",
        "quick": bool(quick),
    }
    return settings


def _plot_cost(document: dict, path: str) -> None:
    from .experiments import benchmarks as bm

    fig = _figure((11, 4.2))
    ax_cpu, ax_wall = fig.subplots(1, 2)
    bm.plot_cost(ax_cpu, document, "cpu")
    bm.plot_cost(ax_wall, document, "wall")
    fig.tight_layout()
    fig.savefig(path)


def run_cost(quick: bool = False, out: str = "bench_results", log: Optional[Callable[[str], None]] = None) -> dict:
    """Run ``cost``; write ``cost.json`` and ``cost.png`` into ``out``; return the JSON document."""
    from .experiments import benchmarks as bm

    log = log or _log_to_stderr
    start = time.perf_counter()
    settings = cost_settings(quick)
    keys = ("nu_t", "noise", "seed", "repeats", "min_sample", "budget", "max_step", "fit_min_n")
    results = bm.cost_study(settings["ns"], rule_names=settings["rules"], log=log, **{k: settings[k] for k in keys})
    document = {"schema": COST_SCHEMA, "command": "cost", "quick": bool(quick), "date": _now(),
                "machine": machine_info(), "seeds": [settings["seed"]], "settings": settings, "results": results}
    document["headline"] = bm.headline(cost=document)
    return _write(document, out, "cost", _plot_cost, start, log)


@subcommand("cost", "seconds per step against the size n of the heat equation", _quick_arguments)
def cost(args: argparse.Namespace) -> dict:
    """The ``cost`` subcommand."""
    return run_cost(quick=args.quick, out=args.out)


# --------------------------------------------------------------------------- training
def run_training_module(name: str, quick: bool = False, out: str = "bench_results") -> dict:
    """Run one training benchmark of :data:`TRAINING_MODULES` with ``run(quick, out)``; never raises.

    Returns ``{"name", "module", "status", "runtime_seconds", "file", "error", "document"}`` with status
    ``"ok"``, ``"not available"`` (the module does not exist or has no ``run``) or ``"failed"``.
    """
    from pathlib import Path

    module_name, file_name = TRAINING_MODULES[name]
    record = {"name": name, "module": module_name, "status": "ok", "runtime_seconds": None, "file": None,
              "error": None, "document": None}
    start = time.perf_counter()
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            record.update(status="not available", error=f"module {module_name} not found")
        else:
            record.update(status="failed", error=f"import of {module_name}: {type(exc).__name__}: {exc}")
        return record
    except Exception as exc:  # a module that does not import is a failure, not a missing feature
        record.update(status="failed", error=f"import of {module_name}: {type(exc).__name__}: {exc}")
        return record
    if not callable(getattr(module, "run", None)):
        record.update(status="not available", error=f"{module_name} has no run(quick, out)")
        return record
    try:
        document = module.run(bool(quick), Path(out))
    except Exception as exc:
        record.update(status="failed", error=f"{module_name}.run: {type(exc).__name__}: {exc}")
        return record
    finally:
        record["runtime_seconds"] = time.perf_counter() - start
    record["document"] = document if isinstance(document, dict) else None
    record["file"] = file_name if os.path.exists(os.path.join(out, file_name)) else None
    return record


def _plot_training(document: dict, path: str) -> None:
    from .experiments import benchmarks as bm

    fig = _figure((11, 4.2))
    bm.plot_training(fig.subplots(1, 2), document)
    fig.tight_layout()
    fig.savefig(path)


def _training_document(records: dict, quick: bool, start: float) -> dict:
    from .experiments import benchmarks as bm

    docs = {name: (r["document"] if r["status"] == "ok" else None) for name, r in records.items()}
    modules = {name: {k: v for k, v in r.items() if k != "document"} for name, r in records.items()}
    seeds = {"sip": _get_nested(docs.get("sip"), "seeds"),
             "hig": {part: _get_nested(docs.get("hig"), "settings", part, "seeds") for part in ("toy", "oscillators")}}
    return {
        "schema": TRAINING_SCHEMA, "command": "training", "quick": bool(quick), "date": _now(),
        "machine": machine_info(), "seeds": seeds,
        "settings": {"modules": {k: v[0] for k, v in TRAINING_MODULES.items()}, "quick": bool(quick),
                     "sip": (docs.get("sip") or {}).get("settings"), "hig": (docs.get("hig") or {}).get("settings")},
        "modules": modules,
        "summary": bm.training_summary(docs.get("sip"), docs.get("hig")),
    }


def _get_nested(document, *keys):
    for key in keys:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


def run_training(quick: bool = False, out: str = "bench_results", jobs: int = 1,
                 log: Optional[Callable[[str], None]] = None, records: Optional[dict] = None) -> dict:
    """Run ``training`` (or summarise the given ``records``); write ``training.json`` and ``training.png``."""
    log = log or _log_to_stderr
    start = time.perf_counter()
    if records is None:
        records = _run_parts([("training", name) for name in TRAINING_MODULES], quick, out, jobs, log)
        records = {name: records[("training", name)] for name in TRAINING_MODULES}
    for name, record in records.items():
        if record["status"] != "ok":
            log(f"training: {name} {record['status']}: {record['error']}")
    document = _training_document(records, quick, start)
    return _write(document, out, "training", _plot_training, start, log)


@subcommand("training", "SIP and HIG against Adam and Gauss-Newton (runs companion.bench_sip, bench_hig)",
            _jobs_arguments)
def training(args: argparse.Namespace) -> dict:
    """The ``training`` subcommand."""
    return run_training(quick=args.quick, out=args.out, jobs=args.jobs)


# --------------------------------------------------------------------------- discussion
def discussion_settings(quick: bool = False) -> dict:
    """The problems and settings of ``discussion`` (those of :data:`companion.experiments.hig.DISCUSSION`).

    >>> discussion_settings(quick=True)["problems"]
    ['toy']
    """
    from .experiments import hig as ex

    problems = ["toy"] if quick else list(ex.DISCUSSION)
    return {"problems": problems, "per_problem": {p: ex.DISCUSSION[p] for p in problems},
            "batch_size": {"toy": ex.TOY["batch_size"], "oscillators": ex.OSC["batch_size"]}, "quick": bool(quick)}


def _plot_discussion(document: dict, path: str) -> None:
    from .experiments import hig as ex

    runs = ex.discussion_from_document(document["results"])
    fig = _figure((10, 3.4))
    axes = fig.subplots(1, len(runs["equal_steps"]), squeeze=False)[0]
    ex.plot_discussion(axes, runs["equal_steps"])
    fig.suptitle("companion.bench discussion: loss at equal steps, each method at its best rate", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)


def _chapter_document(schema: str, command: str, quick: bool, settings: dict, results: dict, *,
                      seeds=()) -> dict:
    """The JSON document of a chapter's stored run: what ran, where, when, with which settings."""
    return {"schema": schema, "command": command, "quick": bool(quick), "date": _now(), "machine": machine_info(),
            "seeds": list(seeds), "settings": settings, "results": results}


def run_discussion(quick: bool = False, out: str = "bench_results",
                   log: Optional[Callable[[str], None]] = None) -> dict:
    """Run ``discussion``; write ``discussion.json`` and ``discussion.png`` into ``out``; return the JSON document."""
    from .experiments import hig as ex

    log = log or _log_to_stderr
    start = time.perf_counter()
    settings = discussion_settings(quick)
    runs = ex.discussion_runs(problems=settings["problems"])
    document = _chapter_document(DISCUSSION_SCHEMA, "discussion", quick, settings, ex.discussion_to_document(runs))
    return _write(document, out, "discussion", _plot_discussion, start, log)


@subcommand("discussion", "Adam, Gauss-Newton, HIG and SIP side by side (the Discussion chapter)", _quick_arguments)
def discussion(args: argparse.Namespace) -> dict:
    """The ``discussion`` subcommand."""
    return run_discussion(quick=args.quick, out=args.out)


# --------------------------------------------------------------------------- hig_chapter
def _plot_hig_chapter(document: dict, path: str) -> None:
    import numpy as np

    results = document["results"]["tau_batch"]
    settings = document["settings"]
    fig = _figure((9, 3.4))
    axes = fig.subplots(1, 2)
    for row, tau in zip(results["hig"], settings["taus"]):
        medians = [cell["test_spread"]["median"] for cell in row]
        axes[0].loglog(settings["batch_sizes"], [np.nan if m is None else m for m in medians], "o-",
                       label=f"tau = {tau:.0e}")
        axes[1].semilogx([cell["batch_size"] for cell in row], [cell["eta"]["best"] for cell in row], "o-",
                         label=f"tau = {tau:.0e}")
    axes[0].set_xlabel("batch size b")
    axes[0].set_ylabel("median test loss (eta re-tuned)")
    axes[1].set_xlabel("batch size b")
    axes[1].set_ylabel("selected eta")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def run_hig_chapter(quick: bool = False, out: str = "bench_results",
                    log: Optional[Callable[[str], None]] = None) -> dict:
    """Run ``hig_chapter`` (:func:`companion.bench_hig.run_chapter`); write ``hig_chapter.json`` and ``.png``."""
    from . import bench_hig

    log = log or _log_to_stderr
    start = time.perf_counter()
    results = bench_hig.run_chapter(quick=quick)
    settings = results.pop("settings")
    document = _chapter_document(HIG_CHAPTER_SCHEMA, "hig_chapter", quick, settings, results, seeds=settings["seeds"])
    return _write(document, out, "hig_chapter", _plot_hig_chapter, start, log)


@subcommand("hig_chapter", "the (tau, b) table of the HIG chapter, eta re-tuned per cell", _quick_arguments)
def hig_chapter(args: argparse.Namespace) -> dict:
    """The ``hig_chapter`` subcommand."""
    return run_hig_chapter(quick=args.quick, out=args.out)


# --------------------------------------------------------------------------- inverse_chapter
def _plot_inverse_chapter(document: dict, path: str) -> None:
    from .experiments import inverse_problems as inv

    fig = _figure((10, 3.8))
    axes = fig.subplots(1, 2)
    results = document["results"]
    inv.plot_scaling(axes[0], results["pendulum"], "T", "iterations")
    axes[0].set_xlabel("time span T (pendulum chain)")
    heat_n = [r for r in results["heat"] if r["nu_t"] == 1e-3] or results["heat"]
    inv.plot_scaling(axes[1], heat_n, "n", "iterations")
    axes[1].set_xlabel("grid size n (heat, nu t = 1e-3)")
    fig.tight_layout()
    fig.savefig(path)


def run_inverse_chapter(quick: bool = False, out: str = "bench_results",
                        log: Optional[Callable[[str], None]] = None) -> dict:
    """Run ``inverse_chapter``; write ``inverse_chapter.json`` and ``.png`` into ``out``; return the JSON document."""
    from .experiments import inverse_problems as inv

    log = log or _log_to_stderr
    start = time.perf_counter()
    results = inv.scaling_runs(quick=quick)  # compare_methods times with one BLAS thread
    document = _chapter_document(INVERSE_CHAPTER_SCHEMA, "inverse_chapter", quick, inv.SCALING, results,
                                 seeds=[inv.SCALING["pendulum"]["seed"], inv.SCALING["heat"]["seed"]])
    return _write(document, out, "inverse_chapter", _plot_inverse_chapter, start, log)


@subcommand("inverse_chapter", "the scaling studies of the Physical inverse problems chapter", _quick_arguments)
def inverse_chapter(args: argparse.Namespace) -> dict:
    """The ``inverse_chapter`` subcommand."""
    return run_inverse_chapter(quick=args.quick, out=args.out)


# --------------------------------------------------------------------------- all
def _part(kind: str, name: Optional[str], quick: bool, out: str) -> dict:
    """One part of ``all`` (top-level, so that a worker process can run it); returns its document or record."""
    start = time.perf_counter()
    if kind == "training":
        return run_training_module(name, quick, out)
    runner = {"scale": run_scale, "cost": run_cost, "compare": run_compare, "discussion": run_discussion,
              "hig_chapter": run_hig_chapter, "inverse_chapter": run_inverse_chapter}[kind]
    document = runner(quick=quick, out=out)
    return {"status": "ok", "runtime_seconds": time.perf_counter() - start, "document": document}


def _run_parts(parts, quick: bool, out: str, jobs: int, log) -> dict:
    """Run ``parts`` (pairs (kind, name)) in order, or in ``jobs`` worker processes; failures are recorded."""
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    results = {}
    if jobs == 1 or len(parts) == 1:
        for kind, name in parts:
            results[(kind, name)] = _guarded(kind, name, quick, out)
        return results
    import concurrent.futures
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # fresh interpreters: no forked BLAS or matplotlib state
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = {pool.submit(_guarded, kind, name, quick, out): (kind, name) for kind, name in parts}
        for future in concurrent.futures.as_completed(futures):
            results[futures[future]] = future.result()
    return results


def _guarded(kind: str, name: Optional[str], quick: bool, out: str) -> dict:
    try:
        return _part(kind, name, quick, out)
    except Exception as exc:  # one broken part must not lose the others
        return {"name": name, "status": "failed", "error": f"{kind}: {type(exc).__name__}: {exc}",
                "runtime_seconds": None, "document": None}


def run_all(quick: bool = False, out: str = "bench_results", jobs: int = 1,
            log: Optional[Callable[[str], None]] = None) -> dict:
    """Run ``scale``, ``cost``, ``compare``, ``discussion``, ``hig_chapter``, ``inverse_chapter`` and ``training``.

    Writes ``all.json`` with the headlines and the run time of every part.
    """
    from .experiments import benchmarks as bm

    log = log or _log_to_stderr
    start = time.perf_counter()
    # longest first, so that parallel workers finish together; cost runs alone when jobs == 1
    parts = [("training", name) for name in TRAINING_MODULES] + [("compare", None), ("discussion", None),
                                                                 ("hig_chapter", None), ("inverse_chapter", None),
                                                                 ("scale", None), ("cost", None)]
    results = _run_parts(parts, quick, out, jobs, log)
    training_records = {name: results[("training", name)] for name in TRAINING_MODULES}
    training_doc = run_training(quick, out, log=log, records=training_records)
    kinds = ("scale", "cost", "compare", "discussion", "hig_chapter", "inverse_chapter")
    documents = {kind: results[(kind, None)].get("document") for kind in kinds}
    runtimes = {kind: results[(kind, None)].get("runtime_seconds") for kind in kinds}
    runtimes.update({f"training:{name}": r.get("runtime_seconds") for name, r in training_records.items()})
    statuses = {kind: results[(kind, None)]["status"] for kind in kinds}
    statuses.update({f"training:{name}": r["status"] for name, r in training_records.items()})
    errors = {key: results[part].get("error") for key, part in
              [(kind, (kind, None)) for kind in kinds]
              + [(f"training:{n}", ("training", n)) for n in TRAINING_MODULES]}
    document = {
        "schema": ALL_SCHEMA, "command": "all", "quick": bool(quick), "date": _now(), "machine": machine_info(),
        "jobs": jobs, "status": statuses, "errors": {k: v for k, v in errors.items() if v},
        "part_runtime_seconds": runtimes,
        "files": sorted(f for f in os.listdir(out) if f.endswith((".json", ".png"))) if os.path.isdir(out) else [],
        "headline": bm.headline(scale=documents["scale"], cost=documents["cost"], training=training_doc),
    }
    document["total_seconds"] = time.perf_counter() - start
    document = _write(document, out, "all", None, start, log)
    failed = [k for k, v in statuses.items() if v == "failed"]
    if failed:
        log(f"all: failed parts: {', '.join(failed)}")
    return document


@subcommand("all", "scale, cost, compare, the chapters' sweeps and training (--jobs 2: in parallel processes)",
            _jobs_arguments)
def all_(args: argparse.Namespace) -> dict:
    """The ``all`` subcommand."""
    return run_all(quick=args.quick, out=args.out, jobs=args.jobs)


# --------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-parser per registered subcommand."""
    parser = argparse.ArgumentParser(prog="python -m companion.bench",
                                     description="Benchmarks of the course 'Scale-Invariance and Inversion'.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (help_text, add_arguments, function) in SUBCOMMANDS.items():
        child = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(child)
        child.set_defaults(run=function)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point: parse ``argv`` and run the chosen subcommand; returns the exit status (1 if a part of ``all`` failed)."""
    args = build_parser().parse_args(argv)
    document = args.run(args)
    statuses = document.get("status") if isinstance(document, dict) else None
    return 1 if isinstance(statuses, dict) and "failed" in statuses.values() else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
