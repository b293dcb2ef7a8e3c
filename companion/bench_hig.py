r"""Benchmark of the chapter *Half-inverse gradients*, run from the command line.

::

    python -m companion.bench_hig [--quick] [--out DIR]

Runs the chapter's two experiments larger and longer than the notebook, for
several seeds, and writes ``bench_hig.json`` (results, settings, seeds,
machine, library versions, date) and ``bench_hig.png`` into ``DIR``
(default ``bench_results``):

* the toy :math:`(\sin 6x, \cos 9x)` with :math:`\lambda = 1` and
  :math:`\lambda = 0.01`: Adam, Gauss-Newton and HIG, each seed with its own
  step-size sweep over the same grid, same data, start and mini-batches;
* the coupled oscillators (RK4, cubic coupling, 20 control steps);
* the cost of one HIG step against a bare SVD plus the two products.

``--quick`` runs a reduced set in well under 30 s (used by the tests); the
full run takes a few minutes on two cores.
"""

from __future__ import annotations

import argparse
import datetime as _datetime
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

__all__ = ["settings", "run", "main"]


def settings(quick: bool = False) -> dict:
    """Sizes, budgets, grids and seeds of the benchmark.

    >>> settings(quick=True)["toy"]["seeds"]
    [0]
    """
    if quick:
        return {
            "quick": True,
            "toy": {"lambdas": [1.0, 0.01], "seeds": [0], "steps": 150, "batch_size": 64, "tau": 1e-4,
                    "etas": {"adam": [0.1, 0.3, 1.0], "gn": [0.01, 0.03, 0.1], "hig": [0.03, 0.1, 0.3]},
                    "eval_every": 10},
            "oscillators": {"seeds": [0], "steps": 30, "batch_size": 16, "tau": 1e-4, "T": 10, "dt": 0.2,
                            "hidden": 16, "n": 32,
                            "etas": {"adam": [0.03, 0.1], "gn": [0.03, 0.1], "hig": [0.1, 0.3]}, "eval_every": 5},
            "cost_shapes": [[128, 30], [64, 490]],
            "max_time": 2.0,
        }
    return {
        "quick": False,
        "toy": {"lambdas": [1.0, 0.01], "seeds": [0, 1, 2, 3], "steps": 1500, "batch_size": 64, "tau": 1e-4,
                "etas": {"adam": [0.01, 0.03, 0.1, 0.3, 1.0, 3.0], "gn": [0.001, 0.003, 0.01, 0.03, 0.1, 0.3],
                         "hig": [0.003, 0.01, 0.03, 0.1, 0.3, 1.0]},
                "eval_every": 20},
        "oscillators": {"seeds": [0, 1, 2], "steps": 300, "batch_size": 16, "tau": 1e-4, "T": 20, "dt": 0.1,
                        "hidden": 32, "n": 64,
                        "etas": {"adam": [0.01, 0.03, 0.1, 0.3], "gn": [0.01, 0.03, 0.1],
                                 "hig": [0.1, 0.3, 1.0]}, "eval_every": 10},
        "cost_shapes": [[128, 30], [512, 30], [64, 490], [64, 820], [256, 820], [800, 200]],
        "max_time": 20.0,
    }


def _summarise(per_seed: list) -> dict:
    """Median and spread over seeds of the best run of every method."""
    out = {}
    for method in per_seed[0]:
        finals = [run[method]["final_loss"] for run in per_seed]
        out[method] = {
            "final_loss": [float(f) for f in finals],
            "median_final_loss": float(statistics.median(finals)),
            "best_eta": [run[method]["best_eta"] for run in per_seed],
            "ms_per_step": float(statistics.median(run[method]["ms_per_step"] for run in per_seed)),
            "sweep": [run[method]["sweep"] for run in per_seed],
        }
    return out


def _record(sweeps) -> tuple[dict, dict]:
    record, curves = {}, {}
    for method, sweep in sweeps.items():
        best = sweep.best
        record[method] = {
            "best_eta": sweep.best_eta,
            "final_loss": best.fun,
            "status": best.status_name,
            "ms_per_step": 1e3 * best.time_per_step,
            "sweep": [[eta, loss, status] for eta, loss, status in sweep.table()],
        }
        curves[method] = (best.iterations, best.losses)
    return record, curves


def run(quick: bool = False, out: Optional[Path] = None) -> dict:
    """Run the benchmark, write ``bench_hig.json`` and ``bench_hig.png`` into ``out``; return the JSON document."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import hig
    from .bench import machine_info
    from .experiments import hig as ex
    from .plots import color_of, use_style

    out = Path("bench_results") if out is None else Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = settings(quick)
    started = time.perf_counter()
    report = {"schema": "companion.bench_hig/1", "settings": config, "machine": machine_info(),
              "date": _datetime.datetime.now(_datetime.timezone.utc).isoformat(timespec="seconds"),
              "timing": "training wall-clock of the updates only, one BLAS thread", "toy": {}}

    curves = {}
    toy = config["toy"]
    for lam in toy["lambdas"]:
        per_seed = []
        for seed in toy["seeds"]:
            sweeps = ex.toy_comparison(lam, etas=toy["etas"], steps=toy["steps"], batch_size=toy["batch_size"],
                                       tau=toy["tau"], seed=seed, batch_seed=seed + 1, eval_every=toy["eval_every"],
                                       max_time=config["max_time"])
            record, seed_curves = _record(sweeps)
            per_seed.append(record)
            curves.setdefault(f"toy {lam:g}", []).append(seed_curves)
        summary = _summarise(per_seed)
        ratios = [a / h for a, h in zip(summary["adam"]["final_loss"], summary["hig"]["final_loss"])]
        report["toy"][f"{lam:g}"] = {"methods": summary, "adam_over_hig": ratios,
                                     "median_adam_over_hig": float(statistics.median(ratios))}

    osc = config["oscillators"]
    per_seed = []
    for seed in osc["seeds"]:
        sweeps = ex.oscillator_comparison(etas=osc["etas"], steps=osc["steps"], batch_size=osc["batch_size"],
                                          tau=osc["tau"], seed=seed, batch_seed=seed + 1, n=osc["n"],
                                          eval_every=osc["eval_every"], max_time=config["max_time"],
                                          T=osc["T"], dt=osc["dt"], hidden=osc["hidden"])
        record, seed_curves = _record(sweeps)
        per_seed.append(record)
        curves.setdefault("oscillators", []).append(seed_curves)
    report["oscillators"] = {"methods": _summarise(per_seed)}

    rows = ex.step_cost([tuple(s) for s in config["cost_shapes"]], repeats=5 if quick else 15)
    report["step_cost"] = [{"rows": r[0], "params": r[1], "hig_ms": 1e3 * r[2], "bare_svd_and_products_ms": 1e3 * r[3],
                            "svd_ms": 1e3 * r[4], "ratio": r[2] / r[3]} for r in rows]

    use_style()
    fig, axes = plt.subplots(1, len(curves), figsize=(4.0 * len(curves), 3.4))
    for ax, (title, seeds) in zip(np.atleast_1d(axes), curves.items()):
        for method in ("adam", "gn", "hig"):
            for i, seed_curves in enumerate(seeds):
                its, losses = seed_curves[method]
                ax.semilogy(its, losses, color=color_of(hig.DISPLAY[method]), alpha=0.8,
                            label=hig.DISPLAY[method] if i == 0 else None)
        ax.set_title(title if title == "oscillators" else f"toy, $\\lambda$ = {title.split()[1]}")
        ax.set_xlabel("iteration")
        ax.set_ylabel("loss (best $\\eta$ per seed)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "bench_hig.png")
    plt.close(fig)

    report["seconds"] = round(time.perf_counter() - started, 2)
    (out / "bench_hig.json").write_text(json.dumps(report, indent=1, default=float))
    return report


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m companion.bench_hig", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a reduced run in well under 30 s")
    parser.add_argument("--out", type=Path, default=Path("bench_results"), help="output folder (default bench_results)")
    args = parser.parse_args(argv)
    report = run(quick=args.quick, out=args.out)
    for lam, entry in report["toy"].items():
        cells = ", ".join(f"{m} {v['median_final_loss']:.3g}" for m, v in entry["methods"].items())
        print(f"toy lambda={lam}: median final loss {cells}; Adam/HIG median {entry['median_adam_over_hig']:.3g}")
    cells = ", ".join(f"{m} {v['median_final_loss']:.3g}" for m, v in report["oscillators"]["methods"].items())
    print(f"oscillators: median final loss {cells}")
    for row in report["step_cost"]:
        print(f"HIG step {row['rows']}x{row['params']}: {row['hig_ms']:.3g} ms, bare SVD + products "
              f"{row['bare_svd_and_products_ms']:.3g} ms, ratio {row['ratio']:.2f}")
    print(f"wrote {args.out / 'bench_hig.json'} and {args.out / 'bench_hig.png'} in {report['seconds']:.1f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
