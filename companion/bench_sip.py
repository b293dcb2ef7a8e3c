r"""Benchmark of the chapter *Scale-invariant physics training*, run from the command line.

::

    python -m companion.bench_sip [--quick] [--out bench_results]

Runs the experiments (a) and (b) of ``book/sip.ipynb`` at larger sizes, with
more iterations, a wider learning-rate sweep and several seeds
(:mod:`companion.experiments.sip`):

``sine``
    the 2-D problem :math:`P(x) = (\sin(\hat x_1)/\xi,\ \hat x_2\,\xi)` for every
    :math:`(\xi, \varphi)`: SIP (:math:`\eta = 1`) against Adam through the physics
    (twice SIP's iterations), both tuned over the same :math:`\eta_{NN}` grid;
    plus the measured cost of one SIP and one Adam iteration;
``heat``
    the noisy heat equation: SIP, Adam through the physics and supervised, each
    tuned, and the number of iterations SIP needs to reach Adam's final x-error;
``heat_chapter``
    the learning-rate sweep of experiment (b) at the chapter's own sizes (one
    seed): ``book/sip.ipynb`` re-runs only each method's best rate.

Writes ``sip.json`` (settings, seeds, machine and library versions, results,
the measured targets) and ``sip.png`` into ``--out`` and returns the document.
``--quick`` runs a reduced set in a few seconds (used by the tests).  The
entry point for other code is :func:`run`.
"""

from __future__ import annotations

import argparse
import datetime as _datetime
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

__all__ = ["SCHEMA", "settings", "run", "main"]

#: identifier of the JSON layout
SCHEMA = "companion.bench_sip/1"


def settings(quick: bool) -> dict:
    """The sizes, grids and seeds of a run (``quick``: a reduced set for tests)."""
    import numpy as np

    if quick:
        return {
            "seeds": [0],
            "sine": {"xis": [1.0, 32.0], "phis": [float(np.pi / 4)], "etas": [1e-3, 1e-2], "iterations": 60,
                     "adam_factor": 2, "samples": 128, "test": 64, "sizes": [2, 32, 32, 2], "batch_size": 32},
            "heat": {"n": 16, "nu_t": 2e-3, "noise": 1e-3, "samples": 128, "test": 32, "hidden": [32],
                     "etas": [3e-3], "iterations": 60, "eval_every": 10, "batch_size": 32},
            "heat_chapter": {"n": 16, "nu_t": 2e-3, "noise": 1e-3, "samples": 128, "test": 32, "hidden": [32],
                             "etas": [3e-3, 1e-2], "iterations": 60, "eval_every": 10, "batch_size": 32, "seed": 0},
            "cost_repeats": 1,
        }
    return {
        "seeds": [0, 1, 2],
        "sine": {"xis": [1.0, 4.0, 16.0, 32.0, 64.0], "phis": [0.0, float(np.pi / 8), float(np.pi / 4)],
                 "etas": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1], "iterations": 500, "adam_factor": 2,
                 "samples": 512, "test": 256, "sizes": [2, 32, 32, 2], "batch_size": 32},
        "heat": {"n": 64, "nu_t": 5e-4, "noise": 1e-3, "samples": 1024, "test": 256, "hidden": [64, 64],
                 "etas": [3e-4, 1e-3, 3e-3, 1e-2], "iterations": 1500, "eval_every": 25, "batch_size": 32},
        "heat_chapter": {"n": 32, "nu_t": 2e-3, "noise": 1e-3, "samples": 512, "test": 128, "hidden": [64, 64],
                         "etas": [1e-3, 3e-3, 1e-2], "iterations": 1000, "eval_every": 10, "batch_size": 32, "seed": 0},
        "cost_repeats": 3,
    }


def _machine() -> dict:
    from .bench import machine_info

    return machine_info()


def _clean(value):
    from .bench import _clean as clean

    return clean(value)


def _median(values):
    values = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.median(values) if values else None


def _sine(config: dict, seeds: Sequence[int], log) -> tuple[list, list]:
    from .experiments import sip

    rows, raw = [], []
    for seed in seeds:
        t0 = time.perf_counter()
        sweep = sip.sine_sweep(config["xis"], config["phis"], etas=config["etas"], iterations=config["iterations"],
                               adam_factor=config["adam_factor"], sizes=config["sizes"], samples=config["samples"],
                               test=config["test"], batch_size=config["batch_size"], seed=seed)
        for row in sweep:
            entry = {"seed": seed, "xi": row["xi"], "phi": row["phi"]}
            for name in ("SIP", "Adam"):
                tuned = row[name]
                entry[name] = {"eta_nn": tuned.best_eta, "x_error": tuned.best.final_x_error,
                               "loss": tuned.best_y_error, "at_edge_of_grid": tuned.at_edge,
                               "sweep_x_errors": list(tuned.finals), "train_seconds": tuned.best.time[-1]}
            entry["x_error_ratio_adam_over_sip"] = entry["Adam"]["x_error"] / entry["SIP"]["x_error"]
            raw.append(entry)
        log(f"sine seed={seed}: {time.perf_counter() - t0:6.1f} s")
    for xi in config["xis"]:
        for phi in config["phis"]:
            members = [e for e in raw if e["xi"] == xi and e["phi"] == phi]
            rows.append({
                "xi": xi, "phi": phi,
                "median_x_error_SIP": _median([m["SIP"]["x_error"] for m in members]),
                "median_x_error_Adam": _median([m["Adam"]["x_error"] for m in members]),
                "median_loss_SIP": _median([m["SIP"]["loss"] for m in members]),
                "median_loss_Adam": _median([m["Adam"]["loss"] for m in members]),
                "median_ratio": _median([m["x_error_ratio_adam_over_sip"] for m in members]),
            })
    return rows, raw


def _heat(config: dict, seeds: Sequence[int], log) -> tuple[list, dict]:
    from .experiments import sip

    out, curves = [], {}
    for seed in seeds:
        t0 = time.perf_counter()
        task = sip.heat_task(config["n"], config["nu_t"], noise=config["noise"], samples=config["samples"],
                             test=config["test"], seed=seed)
        runs = sip.heat_comparison(task, etas=config["etas"], iterations=config["iterations"],
                                   hidden=config["hidden"], eval_every=config["eval_every"],
                                   batch_size=config["batch_size"], seed=seed + 1)
        adam_final = runs["Adam"].best.final_x_error
        reach = sip.iterations_to_reach(runs["SIP"].best, adam_final)
        entry = {"seed": seed, "cutoff": task.cutoff, "adam_final_x_error": adam_final,
                 "sip_iterations_to_adam_final": reach,
                 "sip_fraction_of_adam_iterations": reach / config["iterations"]}
        for name, tuned in runs.items():
            entry[name] = {"eta_nn": tuned.best_eta, "x_error": tuned.best.final_x_error,
                           "y_error": tuned.best.final_y_error, "at_edge_of_grid": tuned.at_edge}
            if seed == seeds[0]:
                curves[name] = {"iterations": tuned.best.iterations.tolist(), "x_error": tuned.best.x_error.tolist(),
                                "y_error": tuned.best.y_error.tolist()}
        out.append(entry)
        log(f"heat seed={seed}: {time.perf_counter() - t0:6.1f} s")
    return out, curves


def _heat_chapter(config: dict, log) -> dict:
    """The learning-rate sweep of experiment (b) at the chapter's sizes (one seed).

    ``book/sip.ipynb`` re-runs only each method's best rate.
    """
    from .experiments import sip

    t0 = time.perf_counter()
    task = sip.heat_task(config["n"], config["nu_t"], noise=config["noise"], samples=config["samples"],
                         test=config["test"], seed=config["seed"])
    runs = sip.heat_comparison(task, etas=config["etas"], iterations=config["iterations"], hidden=config["hidden"],
                               eval_every=config["eval_every"], batch_size=config["batch_size"], seed=config["seed"] + 1)
    methods = {name: {"eta_nn": tuned.best_eta, "etas": list(tuned.etas), "sweep_x_errors": list(tuned.finals),
                      "at_edge_of_grid": tuned.at_edge, "x_error": tuned.best.final_x_error,
                      "y_error": tuned.best.final_y_error}
               for name, tuned in runs.items()}
    log(f"heat (chapter sizes): {time.perf_counter() - t0:6.1f} s")
    return {"cutoff": task.cutoff, "methods": methods}


def _plot(document: dict, path: Path) -> None:
    import numpy as np
    from matplotlib.figure import Figure

    from .plots import color_of, use_style

    use_style()
    fig = Figure(figsize=(11, 4.2))  # no pyplot: the caller's backend and figures are left alone
    ax_sine, ax_heat = fig.subplots(1, 2)
    rows = document["sine"]["summary"]
    styles = ["-", "--", ":"]
    for j, phi in enumerate(sorted({r["phi"] for r in rows})):
        sub = sorted((r for r in rows if r["phi"] == phi), key=lambda r: r["xi"])
        xis = [r["xi"] for r in sub]
        for name, marker in (("SIP", "o"), ("Adam", "v")):
            values = [np.nan if r[f"median_x_error_{name}"] is None else r[f"median_x_error_{name}"] for r in sub]
            ax_sine.loglog(xis, values, styles[j % 3], marker=marker, color=color_of(name),
                           label=rf"{name}, $\varphi$ = {phi:.3f}")
    ax_sine.set_xlabel(r"conditioning $\xi$")
    ax_sine.set_ylabel("final x-error (median over seeds)")
    ax_sine.set_title("(a) 2-D problem: SIP vs Adam (2x iterations)", fontsize=10)
    ax_sine.legend(fontsize=7)
    for name, curve in document["heat"]["curves_first_seed"].items():
        style = ":" if name == "SIP (keep)" else "-"
        color = color_of("SIP") if name == "SIP (keep)" else color_of(name)
        ax_heat.semilogy(curve["iterations"], curve["x_error"], style, color=color, label=name)
    ax_heat.set_xlabel("iteration")
    ax_heat.set_ylabel("x-error (test set)")
    h = document["settings"]["heat"]
    ax_heat.set_title(f"(b) heat, n = {h['n']}, nu t = {h['nu_t']:g}, first seed", fontsize=10)
    ax_heat.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def run(quick: bool, out: Path, *, log=None) -> dict:
    """Run the benchmark; write ``sip.json`` and ``sip.png`` into ``out``; return the JSON document."""
    from .experiments import sip

    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = settings(bool(quick))
    start = time.perf_counter()
    summary, raw = _sine(config["sine"], config["seeds"], log)
    s = config["sine"]
    setup = sip.sine_setup(max(s["xis"]), max(s["phis"]), samples=s["samples"], test=s["test"], seed=0)
    cost = sip.cost_ratio(setup, iterations=s["iterations"], repeats=config["cost_repeats"], sizes=s["sizes"])
    heat, curves = _heat(config["heat"], config["seeds"], log)
    heat_chapter = _heat_chapter(config["heat_chapter"], log)
    largest = max(s["xis"])
    at_largest = [r for r in summary if r["xi"] == largest]
    document = {
        "schema": SCHEMA,
        "command": "python -m companion.bench_sip" + (" --quick" if quick else ""),
        "quick": bool(quick),
        "date": _datetime.datetime.now(_datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": _machine(),
        "seeds": config["seeds"],
        "settings": config,
        "sine": {"summary": summary, "runs": raw, "cost_per_iteration": cost},
        "heat": {"runs": heat, "curves_first_seed": curves},
        "heat_chapter": heat_chapter,
        "targets": {
            "sine_largest_xi": largest,
            "sine_median_x_error_ratio_at_largest_xi_by_phi": {f"{r['phi']:.4f}": r["median_ratio"] for r in at_largest},
            "sine_median_loss_ratio_at_largest_xi_by_phi": {
                f"{r['phi']:.4f}": (r["median_loss_Adam"] / r["median_loss_SIP"]
                                    if r["median_loss_SIP"] and r["median_loss_Adam"] is not None else None)
                for r in at_largest},
            "sine_cost_ratio_sip_over_adam": cost["ratio"],
            "heat_median_sip_fraction_of_adam_iterations": _median([h["sip_fraction_of_adam_iterations"] for h in heat]),
        },
    }
    document["runtime_seconds"] = time.perf_counter() - start
    document = _clean(document)
    (out / "sip.json").write_text(json.dumps(document, indent=1))
    _plot(document, out / "sip.png")
    log(f"wrote {out / 'sip.json'} and {out / 'sip.png'} in {document['runtime_seconds']:.1f} s")
    return document


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: ``python -m companion.bench_sip [--quick] [--out DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m companion.bench_sip", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a reduced run of a few seconds")
    parser.add_argument("--out", default="bench_results", help="directory for sip.json and sip.png")
    args = parser.parse_args(argv)
    document = run(args.quick, Path(args.out))
    targets = document["targets"]
    print(json.dumps(targets, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
