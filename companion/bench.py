r"""Benchmarks of the course, run from the command line.

::

    python -m companion.bench compare [--quick] [--out bench_results] [--seeds 0 1 2]

Each subcommand is one self-contained function that runs its experiments,
writes ``<subcommand>.json`` (results plus the machine, library versions,
seeds, settings and date) and ``<subcommand>.png`` into ``--out``, and
returns the JSON document.  New subcommands register themselves in
:data:`SUBCOMMANDS` with :func:`subcommand`.

``compare``
    Evidence records (:mod:`companion.evidence`, built by :mod:`companion.bench_inverse`):
    the tuned comparison of the 2-D toy of *Comparing the optimisers*, and every
    method (GD, Adam, Gauss-Newton, BFGS, IG, PG) on the pendulum ring with uneven
    masses and on the noisy heat equation at larger sizes; step sizes chosen on
    validation seeds, reported on test seeds, equal budgets in iterations and
    seconds, per-seed curves.  ``--quick`` runs a reduced set (used by the tests).

``scale``
    Scale-invariance (:mod:`companion.scaling`): every rule (GD, Adam, Newton,
    Gauss-Newton, BFGS, IG, PG) on :math:`P(x) = (x_1, \alpha x_2)` and on the rotated
    :math:`P(x) = R\,\mathrm{diag}(1, \alpha) R^\top x` for
    :math:`\alpha = 10^{-4} \dots 10^4`, from five random test starts: iterations to a
    relative tolerance and the deviation of the path, mapped back to the units of
    :math:`\alpha = 1`, from the path there. GD and Adam get their step size per
    :math:`\alpha` from a sweep on five other (validation) starts; at the extreme
    :math:`\alpha` and at 1 the runs are stored as comparison records
    (:mod:`companion.evidence`) with per-seed curves against iterations and seconds.
``cost``
    Seconds per step of GD, Newton (Gauss-Newton where the Hessian is
    singular), BFGS, IG and PG on the heat equation for
    :math:`n = 32 \dots 4096` (:mod:`companion.step_cost`), median of several runs
    with one BLAS thread, with the fitted exponent of time against :math:`n`.
    Sizes whose predicted time per step exceeds a cap are skipped (and recorded).
``training``
    Runs the SIP and HIG benchmarks (:mod:`companion.bench_sip`,
    :mod:`companion.bench_hig`; a module that is missing is recorded as "not
    available"; ``--stored`` runs nothing and reads their JSON) and summarises every
    comparison record they hold (:mod:`companion.comparisons`): per method the median
    test value at the iteration and at the wall-clock budget, with its spread.
``discussion``
    The side-by-side comparison of the chapter *Discussion*
    (:mod:`companion.bench_discussion`): Adam, Gauss-Newton, HIG and SIP on the
    toy, the 2-D problem and the oscillators, rates selected on validation data
    over five seeds, test values at equal iteration and wall-clock budgets, with
    per-seed curves; the chapter reads ``discussion.json`` and re-runs one entry.
    ``--quick`` runs the toy only.
``hig_chapter``
    The :math:`(\tau, b)` table of the chapter *Half-inverse gradients*: HIG's
    test loss on the toy (:math:`\lambda = 0.01`) with the step size re-tuned
    on validation data in every cell, 5 seeds (:func:`companion.bench_hig.run_chapter`).
    The chapter's comparisons of Adam, Gauss-Newton and HIG are in ``bench_hig.json``
    (``python -m companion.bench_hig``).
``inverse_chapter``
    The evidence records of the chapter *Physical inverse problems* (the unit-mass
    pendulum ring, the ring with uneven masses, the noisy heat equation), built by
    :mod:`companion.bench_inverse`; the chapter reads ``inverse_chapter.json`` and
    re-runs one stored configuration live.
``all``
    Every part of :data:`PART_FILES` (``--jobs 2`` runs them in parallel processes), then
    the ``training`` summary. Writes ``all.json`` with the status, run time and files of
    every part. ``python -m companion.bench check`` lists the results the chapters read
    and the part that writes each (:data:`SEPARATE_RESULTS`: those written elsewhere).
"""

from __future__ import annotations

import argparse
import datetime as _datetime
import importlib
import json
import math
import os
import platform
import re
import sys
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

__all__ = ["SUBCOMMANDS", "subcommand", "machine_info", "compare_settings", "run_compare",
           "build_parser", "main", "COMPARE_SCHEMA", "SCALE_SCHEMA", "COST_SCHEMA", "TRAINING_SCHEMA", "ALL_SCHEMA",
           "TRAINING_MODULES", "scale_settings", "cost_settings", "run_scale", "run_cost", "run_training_module",
           "run_training", "run_all", "DISCUSSION_SCHEMA", "discussion_settings", "run_discussion",
           "HIG_CHAPTER_SCHEMA", "run_hig_chapter", "INVERSE_CHAPTER_SCHEMA", "run_inverse_chapter",
           "load_document", "stored_training_records", "PART_FILES", "SEPARATE_RESULTS", "chapter_result_files",
           "unwritten_results", "machine_line"]

#: Registered subcommands: name -> (help, add_arguments(parser), run(args) -> dict).
SUBCOMMANDS: dict = {}

#: Identifiers of the JSON layouts written by the subcommands.
COMPARE_SCHEMA = "companion.bench.compare/1"
SCALE_SCHEMA = "companion.bench.scale/2"
COST_SCHEMA = "companion.bench.cost/1"
TRAINING_SCHEMA = "companion.bench.training/2"
ALL_SCHEMA = "companion.bench.all/2"
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

def machine_line(document: dict) -> str:
    """One line naming the machine, library versions and date of a result document.

    >>> machine_line({"date": "2026-01-01", "machine": {"platform": "Linux", "cpu_count": 2, "python": "3.11",
    ...                                                  "numpy": "2.0", "scipy": "1.14", "companion": "0.2"}})
    '2026-01-01: Linux, 2 CPUs, Python 3.11, numpy 2.0, scipy 1.14, companion 0.2'
    """
    m = document.get("machine", {})
    return (f"{document.get('date', '?')}: {m.get('platform')}, {m.get('cpu_count')} CPUs, Python {m.get('python')}, "
            f"numpy {m.get('numpy')}, scipy {m.get('scipy')}, companion {m.get('companion')}")


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
    r"""Problems, budgets and seeds of ``compare`` (:data:`companion.bench_inverse.COMPARE`); ``seeds`` replaces the test seeds.

    >>> compare_settings(quick=True)["toy"]["iterations"]
    20
    """
    from . import bench_inverse

    settings = bench_inverse.settings_of(bench_inverse.COMPARE, quick)
    if seeds is not None:
        seeds = [int(s) for s in seeds]
        if not seeds:
            raise ValueError("seeds must not be empty")
        for entry in settings.values():
            entry["test_seeds"] = seeds
    return settings


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


def _plot_evidence(document: dict, path: str) -> None:
    from . import bench_inverse

    comparisons = document["results"]["comparisons"]
    fig = _figure((10, 3.2 * len(comparisons)))
    bench_inverse.plot_comparisons(fig, comparisons)
    fig.tight_layout()
    fig.savefig(path)


def run_compare(quick: bool = False, out: str = "bench_results", seeds: Optional[Sequence[int]] = None,
                log: Optional[Callable[[str], None]] = None) -> dict:
    """Run ``compare`` (:mod:`companion.bench_inverse`); write ``compare.json`` and ``compare.png``; return the document."""
    from . import bench_inverse
    from .timing import one_blas_thread

    log = log or _log_to_stderr
    start = time.perf_counter()
    settings = compare_settings(quick, seeds)
    with one_blas_thread():
        results = {"settings": settings, "comparisons": {name: bench_inverse.run_problem(name, entry, log=log)
                                                         for name, entry in settings.items()}}
    document = _chapter_document(COMPARE_SCHEMA, "compare", quick, settings, results,
                                 seeds=sorted({s for e in settings.values() for s in e["test_seeds"]}))
    document["summary"] = bench_inverse.summary_rows(results)
    return _write(document, out, "compare", _plot_evidence, start, log)


def _compare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="reduced budgets and sizes (used by the tests)")
    parser.add_argument("--out", default="bench_results", help="output folder (default: bench_results)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="test seeds (default: 0 1 2 3 4; the standard asks for at least 5)")


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
    r"""The :math:`\alpha` grid, seeds, budgets and tolerance of ``scale``.

    >>> scale_settings(quick=True)["alphas"]
    [0.0001, 1.0, 10000.0]
    """
    from . import scaling

    exponents = [-4, 0, 4] if quick else list(range(-4, 5))
    alphas = [float(f"{10.0 ** e:.12g}") for e in exponents]
    return {
        "alphas": alphas,
        "record_alphas": [alphas[0], alphas[-1]] if quick else [alphas[0], 1.0, alphas[-1]],
        "families": list(scaling.FAMILIES),
        "rules": list(scaling.SCALE_RULES),
        "tuned_rules": list(scaling.TUNED_RULES),
        "fixed_eta": {k: v for k, v in scaling.FIXED_ETA.items() if k not in scaling.TUNED_RULES},
        "gd_grid": "factors 1e-3 ... 1 (2 per decade), 1.5, 1.9 and 2.5 of 1/lambda_max(J^T J)",
        "adam_grid": "factors 1e-6 ... 10 (1 per decade) of the largest |z_0,i| of the validation starts",
        "selection": "median over the validation starts of the mean log10 max(L_k/L_0, rel_tol), k = 0..iterations",
        "validation_seeds": list(range(100, 105)),
        "test_seeds": list(range(5)),
        "iterations": 100 if quick else 500,
        "seconds": 0.005 if quick else 0.1,
        "rel_tol": 1e-10,
        "nonlinear_steps": 20,
        "deviation": "max_k |x_k - M z_k| / |x_0 - x*| per test start, paths continued with their last point; "
                     "x_k on alpha = 1 from x_0, z_k on alpha from M^-1 x_0, each with its own selected step size",
        "quick": bool(quick),
    }


def _plot_scale(document: dict, path: str) -> None:
    from . import comparisons, scaling

    families = document["settings"]["families"]
    records = document["results"]["comparisons"]
    extreme = [r for r in records if r["name"].endswith(f"alpha = {max(document['settings']['alphas']):g}")]
    fig = _figure((11, 3.4 * (len(families) + len(extreme))))
    axes = fig.subplots(len(families) + len(extreme), 2, squeeze=False)
    for row, family in zip(axes, families):
        scaling.plot_deviation(row[0], document["results"]["rows"], family)
        scaling.plot_iterations(row[1], document["results"]["rows"], family, budget=document["settings"]["iterations"])
    for row, record in zip(axes[len(families):], extreme):
        comparisons.plot_comparison(row, record)
    fig.suptitle("companion.bench scale: the same problem in other units (GD and Adam tuned per alpha); "
                 "median and min-max over the test starts", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)


def run_scale(quick: bool = False, out: str = "bench_results", log: Optional[Callable[[str], None]] = None) -> dict:
    """Run ``scale``; write ``scale.json`` and ``scale.png`` into ``out``; return the JSON document."""
    from . import scaling

    log = log or _log_to_stderr
    start = time.perf_counter()
    s = scale_settings(quick)
    common = dict(validation_seeds=s["validation_seeds"], test_seeds=s["test_seeds"], iterations=s["iterations"],
                  rel_tol=s["rel_tol"], rule_names=s["rules"])
    rows, records = [], []
    for family in s["families"]:
        base = scaling.scale_comparison(family, 1.0, seconds=s["seconds"] if 1.0 in s["record_alphas"] else 0.0,
                                        **common)
        for alpha in s["alphas"]:
            t0 = time.perf_counter()
            seconds = s["seconds"] if alpha in s["record_alphas"] else 0.0
            run = base if alpha == 1.0 else scaling.scale_comparison(family, alpha, seconds=seconds,
                                                                     base_etas=base["etas"], **common)
            rows += run["rows"]
            if run["record"] is not None:
                records.append(run["record"])
            log(f"scale {family:12s} alpha = {alpha:8.3g}: {time.perf_counter() - t0:6.2f} s")
    nonlinear = [{"rule": name, "alpha": alpha,
                  "deviation": scaling.nonlinear_deviation(name, alpha, steps=s["nonlinear_steps"])}
                 for name in s["rules"] for alpha in s["alphas"]]
    document = {"schema": SCALE_SCHEMA, "command": "scale", "quick": bool(quick), "date": _now(),
                "machine": machine_info(), "seeds": {"validation": s["validation_seeds"], "test": s["test_seeds"]},
                "settings": s, "results": {"rows": rows, "nonlinear": nonlinear, "comparisons": records}}
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
    from .step_cost import COST_RULES

    return {
        "ns": [32, 64, 128, 256] if quick else [2**k for k in range(5, 13)],
        "rules": list(COST_RULES),
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


def _plot_cost(document: dict, path: str) -> None:
    from .step_cost import plot_cost

    fig = _figure((11, 4.2))
    ax_cpu, ax_wall = fig.subplots(1, 2)
    plot_cost(ax_cpu, document, "cpu")
    plot_cost(ax_wall, document, "wall")
    fig.tight_layout()
    fig.savefig(path)


def run_cost(quick: bool = False, out: str = "bench_results", log: Optional[Callable[[str], None]] = None) -> dict:
    """Run ``cost``; write ``cost.json`` and ``cost.png`` into ``out``; return the JSON document."""
    from .step_cost import cost_study

    log = log or _log_to_stderr
    start = time.perf_counter()
    settings = cost_settings(quick)
    keys = ("nu_t", "noise", "seed", "repeats", "min_sample", "budget", "max_step", "fit_min_n")
    results = cost_study(settings["ns"], rule_names=settings["rules"], log=log, **{k: settings[k] for k in keys})
    document = {"schema": COST_SCHEMA, "command": "cost", "quick": bool(quick), "date": _now(),
                "machine": machine_info(), "seeds": [settings["seed"]], "settings": settings, "results": results}
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


def stored_training_records(out: str = "bench_results") -> dict:
    """The records of :func:`run_training_module` for the training documents already stored in ``out`` (no runs).

    A missing or unreadable file gives the status ``"missing"`` with a message naming the fix.
    """
    records = {}
    for name, (module_name, file_name) in TRAINING_MODULES.items():
        path = Path(out) / file_name
        record = {"name": name, "module": module_name, "status": "ok", "runtime_seconds": None, "file": file_name,
                  "error": None, "document": None}
        try:
            record["document"] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            record.update(status="missing", file=None,
                          error=f"{path}: {type(exc).__name__}; run `python -m {module_name}` or `make bench`")
        records[name] = record
    return records


def _plot_training(document: dict, path: str, records: Optional[dict] = None) -> None:
    from . import comparisons, evidence

    found = [r for record in (records or {}).values() for r in evidence.find_comparisons(record.get("document"))]
    fig = _figure((11, 3.3 * max(1, len(found))))
    axes = fig.subplots(max(1, len(found)), 2, squeeze=False)
    for row, record in zip(axes, found):
        comparisons.plot_comparison(row, record)
    if not found:
        for ax in axes[0]:
            ax.text(0.5, 0.5, "no comparison records in the training documents", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path)


def _training_document(records: dict, quick: bool) -> dict:
    from . import comparisons

    sources = {TRAINING_MODULES[name][1]: (r["document"] if r["status"] == "ok" else None)
               for name, r in records.items()}
    rows = comparisons.summarise(sources)
    return {
        "schema": TRAINING_SCHEMA, "command": "training", "quick": bool(quick), "date": _now(),
        "machine": machine_info(),
        "seeds": sorted({s for d in sources.values() if d for r in _records_in(d) for m in r["methods"]
                         for s in m["seeds"]}),
        "settings": {"modules": {k: v[0] for k, v in TRAINING_MODULES.items()}, "quick": bool(quick),
                     "summary": "per comparison record of the sources and per method: the median test value over "
                                "the seeds at the iteration budget and at the wall-clock budget, with min and max"},
        "modules": {name: {k: v for k, v in r.items() if k != "document"} for name, r in records.items()},
        "sources": {source: (document or {}).get("date") for source, document in sources.items()},
        "summary": rows,
        "verdicts": comparisons.verdicts(rows),
    }


def _records_in(document) -> list:
    from .evidence import find_comparisons

    return list(find_comparisons(document))


def run_training(quick: bool = False, out: str = "bench_results", jobs: int = 1,
                 log: Optional[Callable[[str], None]] = None, records: Optional[dict] = None,
                 stored: bool = False) -> dict:
    """Run ``training`` (or summarise the given ``records``); write ``training.json`` and ``training.png``.

    ``stored=True`` runs nothing and summarises the training documents already in ``out``.
    """
    log = log or _log_to_stderr
    start = time.perf_counter()
    if records is None and stored:
        records = stored_training_records(out)
    if records is None:
        records = _run_parts([("training", name) for name in TRAINING_MODULES], quick, out, jobs, log)
        records = {name: records[("training", name)] for name in TRAINING_MODULES}
    for name, record in records.items():
        if record["status"] != "ok":
            log(f"training: {name} {record['status']}: {record['error']}")
    document = _training_document(records, quick)
    return _write(document, out, "training", lambda d, p: _plot_training(d, p, records), start, log)


def _training_arguments(parser: argparse.ArgumentParser) -> None:
    _jobs_arguments(parser)
    parser.add_argument("--stored", action="store_true",
                        help="run nothing: summarise the training documents already in --out")


@subcommand("training", "SIP and HIG against their baselines: runs companion.bench_sip and bench_hig "
                        "(--stored: only summarises their JSON)", _training_arguments)
def training(args: argparse.Namespace) -> dict:
    """The ``training`` subcommand."""
    return run_training(quick=args.quick, out=args.out, jobs=args.jobs, stored=args.stored)


# --------------------------------------------------------------------------- discussion
def discussion_settings(quick: bool = False) -> dict:
    """The problems and settings of ``discussion`` (:data:`companion.bench_discussion.PROBLEMS`).

    >>> discussion_settings(quick=True)["problems"]
    ['toy']
    """
    from . import bench_discussion as bd

    problems = list(bd.QUICK["problems"]) if quick else list(bd.PROBLEMS)
    return {"problems": problems, "per_problem": {p: bd.PROBLEMS[p] for p in problems}, "quick": bool(quick)}


def _plot_discussion(document: dict, path: str) -> None:
    from . import bench_discussion as bd

    panels = sum(len(records) for records in document["results"].values())
    bd.plot(document, path, figure=_figure((3.2 * panels, 6)))


def _chapter_document(schema: str, command: str, quick: bool, settings: dict, results: dict, *,
                      seeds=()) -> dict:
    """The JSON document of a chapter's stored run: what ran, where, when, with which settings."""
    return {"schema": schema, "command": command, "quick": bool(quick), "date": _now(), "machine": machine_info(),
            "seeds": list(seeds), "settings": settings, "results": results}


def run_discussion(quick: bool = False, out: str = "bench_results",
                   log: Optional[Callable[[str], None]] = None) -> dict:
    """Run ``discussion`` (:mod:`companion.bench_discussion`); write ``discussion.json`` and ``.png``; return the document."""
    from . import bench_discussion as bd

    log = log or _log_to_stderr
    start = time.perf_counter()
    settings, results = bd.run(quick=quick, log=log)
    document = _chapter_document(DISCUSSION_SCHEMA, "discussion", quick, settings, results, seeds=settings["seeds"])
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
def run_inverse_chapter(quick: bool = False, out: str = "bench_results",
                        log: Optional[Callable[[str], None]] = None) -> dict:
    """Run ``inverse_chapter`` (:mod:`companion.bench_inverse`); write ``inverse_chapter.json`` and ``.png``; return the document."""
    from . import bench_inverse

    log = log or _log_to_stderr
    start = time.perf_counter()
    results = bench_inverse.evidence_comparison(bench_inverse.CHAPTER, quick=quick, log=log)
    settings = results["settings"]
    document = _chapter_document(INVERSE_CHAPTER_SCHEMA, "inverse_chapter", quick, settings, results,
                                 seeds=sorted({s for e in settings.values() for s in e["test_seeds"]}))
    document["summary"] = bench_inverse.summary_rows(results)
    return _write(document, out, "inverse_chapter", _plot_evidence, start, log)


@subcommand("inverse_chapter", "the scaling studies of the Physical inverse problems chapter", _quick_arguments)
def inverse_chapter(args: argparse.Namespace) -> dict:
    """The ``inverse_chapter`` subcommand."""
    return run_inverse_chapter(quick=args.quick, out=args.out)


# --------------------------------------------------------------------------- all
#: The parts of ``all`` (longest first, so that parallel workers finish together) and the files each writes.
PART_FILES = {
    "training:sip": ("sip.json", "sip.png"),
    "training:hig": ("bench_hig.json", "bench_hig.png"),
    "compare": ("compare.json", "compare.png"),
    "discussion": ("discussion.json", "discussion.png"),
    "hig_chapter": ("hig_chapter.json", "hig_chapter.png"),
    "inverse_chapter": ("inverse_chapter.json", "inverse_chapter.png"),
    "scale": ("scale.json", "scale.png"),
    "cost": ("cost.json", "cost.png"),
    "training": ("training.json", "training.png"),
    "all": ("all.json",),
}

#: Results the chapters read that ``all`` does not write, with the command that does and why it is separate.
SEPARATE_RESULTS = {
    "own_simulator.json": "tools/own_simulator_bench.py (make bench-own-simulator): its training sweep runs "
                          "about 9 minutes on one core, more than make bench allows for one part",
}


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


def _headline(scale_doc: Optional[dict], cost_doc: Optional[dict], training_doc: Optional[dict]) -> dict:
    """The few numbers that say whether a run looks like the last one: deviations, exponents, verdicts."""
    from . import evidence

    out: dict = {}
    if scale_doc is not None:
        rows = scale_doc["results"]["rows"]
        extremes = (min(r["alpha"] for r in rows), max(r["alpha"] for r in rows))
        out["scale_median_deviation_at_extreme_alpha"] = {
            f"{r['family']} / {r['rule']} / {r['alpha']:g}": evidence.spread(r["deviation"])["median"]
            for r in rows if r["alpha"] in extremes}
    if cost_doc is not None:
        out["cost_exponent"] = {rule: fit["exponent_cpu"] for rule, fit in cost_doc["results"]["fits"].items()}
    if training_doc is not None:
        out["training_verdicts"] = training_doc.get("verdicts")
    return out


def run_all(quick: bool = False, out: str = "bench_results", jobs: int = 1,
            log: Optional[Callable[[str], None]] = None) -> dict:
    """Run every part of :data:`PART_FILES`: the benchmarks, the chapters' stored runs, then the training summary.

    Writes ``all.json`` with the status, run time and files of every part and a few headline numbers.
    """
    log = log or _log_to_stderr
    start = time.perf_counter()
    parts = [tuple(key.split(":")) if ":" in key else (key, None) for key in PART_FILES if key not in ("training", "all")]
    results = _run_parts(parts, quick, out, jobs, log)
    training_records = {name: results[("training", name)] for name in TRAINING_MODULES}
    training_doc = run_training(quick, out, log=log, records=training_records)
    keys = {(kind if name is None else f"{kind}:{name}"): (kind, name) for kind, name in parts}
    statuses = {key: results[part]["status"] for key, part in keys.items()}
    statuses["training"] = "ok"
    runtimes = {key: results[part].get("runtime_seconds") for key, part in keys.items()}
    runtimes["training"] = training_doc.get("runtime_seconds")
    errors = {key: results[part].get("error") for key, part in keys.items() if results[part].get("error")}
    documents = {key: results[part].get("document") for key, part in keys.items()}
    document = {
        "schema": ALL_SCHEMA, "command": "all", "quick": bool(quick), "date": _now(), "machine": machine_info(),
        "jobs": jobs, "status": statuses, "errors": errors, "part_runtime_seconds": runtimes,
        "files": sorted(f for f in os.listdir(out) if f.endswith((".json", ".png"))) if os.path.isdir(out) else [],
        "separate": SEPARATE_RESULTS,
        "headline": _headline(documents.get("scale"), documents.get("cost"), training_doc),
    }
    document["total_seconds"] = time.perf_counter() - start
    document = _write(document, out, "all", None, start, log)
    failed = [k for k, v in statuses.items() if v == "failed"]
    if failed:
        log(f"all: failed parts: {', '.join(failed)}")
    return document


@subcommand("all", "every part: scale, cost, compare, the chapters' sweeps and training (--jobs 2: in parallel)",
            _jobs_arguments)
def all_(args: argparse.Namespace) -> dict:
    """The ``all`` subcommand."""
    return run_all(quick=args.quick, out=args.out, jobs=args.jobs)


# --------------------------------------------------------------------------- check
_RESULTS_FILE_CALL = re.compile(r"""results_file\(\s*\\?["']([^"'\\]+)\\?["']""")


def chapter_result_files(book="book") -> dict:
    """The result files the chapters read with ``results_file("<name>")``: ``{name: [notebooks]}``.

    >>> "sip.json" in chapter_result_files(Path(__file__).resolve().parents[1] / "book")
    True
    """
    found: dict = {}
    for notebook in sorted(Path(book).glob("*.ipynb")):
        for name in _RESULTS_FILE_CALL.findall(notebook.read_text(encoding="utf-8")):
            found.setdefault(name, []).append(notebook.name)
    return found


def unwritten_results(book="book") -> list[str]:
    """Every result a chapter reads that neither ``all`` (:data:`PART_FILES`) nor a separate command writes."""
    written = {name for files in PART_FILES.values() for name in files}
    return [f"{name} (read by {', '.join(notebooks)}) is written by no part of `all`; add it to PART_FILES"
            for name, notebooks in chapter_result_files(book).items()
            if name not in written and name not in SEPARATE_RESULTS]


def _check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--book", default="book", help="folder of the chapters (default: book)")


@subcommand("check", "list the results the chapters read and which part writes each (exit 1 if one has no writer)",
            _check_arguments)
def check(args: argparse.Namespace) -> dict:
    """The ``check`` subcommand: prints one line per result file; the document's status says whether all are written."""
    writers = {name: part for part, files in PART_FILES.items() for name in files}
    for name, notebooks in chapter_result_files(args.book).items():
        writer = f"all: {writers[name]}" if name in writers else SEPARATE_RESULTS.get(name, "NOTHING")
        print(f"{name:24s} read by {', '.join(notebooks):40s} written by {writer}")
    problems = unwritten_results(args.book)
    for problem in problems:
        print(problem, file=sys.stderr)
    return {"status": {"check": "failed" if problems else "ok"}}


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
