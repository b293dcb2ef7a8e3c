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
"""

from __future__ import annotations

import argparse
import datetime as _datetime
import json
import math
import os
import platform
import statistics
import sys
import time
from typing import Callable, Optional, Sequence

__all__ = ["SUBCOMMANDS", "subcommand", "machine_info", "compare_settings", "run_compare", "summarise",
           "build_parser", "main", "COMPARE_SCHEMA"]

#: Registered subcommands: name -> (help, add_arguments(parser), run(args) -> dict).
SUBCOMMANDS: dict = {}

#: Identifier of the JSON layout written by ``compare``.
COMPARE_SCHEMA = "companion.bench.compare/1"


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
    import numpy as np
    from matplotlib.figure import Figure

    from .experiments.inverse_problems import METHODS
    from .plots import MARKERS, color_of, use_style

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
        values = sorted({s[key] for s in chosen})
        for i, method in enumerate(METHODS):
            pts = sorted((s for s in chosen if s["method"] == method), key=lambda s: s[key])
            if not pts:
                continue
            xs = np.array([s[key] for s in pts], dtype=float)
            ys = np.array([np.nan if s[quantity] is None else s[quantity] for s in pts], dtype=float)
            label = "Newton / Gauss-Newton" if method == "Newton" and problem == "heat" else method
            ax.loglog(xs, ys, marker=MARKERS.get(method, "o"), color=color_of(method, i), ms=5, label=label)
        ax.set_xticks(values)
        ax.set_xticklabels([f"{v:g}" for v in values])
        ax.minorticks_off()
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(quantity.replace("median_", "median "))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, ncol=2)
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
    """Entry point: parse ``argv`` and run the chosen subcommand; returns the exit status."""
    args = build_parser().parse_args(argv)
    args.run(args)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
