"""Step-size sweeps and training runs of the chapter "Your own simulator" (book/own_simulator.ipynb).

Usage: PYTHONPATH=$PWD OPENBLAS_NUM_THREADS=1 python tools/own_simulator_bench.py [--part rules|training|all]

The simulator is the notebook's cell tagged ``own-simulator`` (one implementation: the
chapter's), executed here.  Writes ``bench_results/own_simulator.json``:

* ``rules``: for every rule the grid of step sizes, the loss and iterations of each run and
  the best value (fewest steps to the tolerance, else the lowest final loss), with a flag
  saying whether it lies strictly inside the grid;
* ``training``: see :func:`training_sweep`.

The chapter reads the chosen values from the JSON, so that it executes in seconds.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy.integrate import solve_ivp

from companion import Problem, rules
from companion.inverse import with_numerical_inverse
from companion.tuning import log_grid, sweep_step_size, iterations_to_tolerance

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "book" / "own_simulator.ipynb"
OUTPUT = ROOT / "bench_results" / "own_simulator.json"

TRUTH = (30.0, 50.0, 20.0)      # speed m/s, angle deg, terminal speed m/s
START = (25.0, 40.0, 25.0)
STEPS = 40
RTOL = 1e-16                     # stop once L <= RTOL * L(x0)

RULES = {
    "gd": (rules.gd, log_grid(1e-3, 1.0, per_decade=2)),
    "adam": (rules.adam, log_grid(1e-2, 10.0, per_decade=2)),
    "gauss_newton": (rules.gauss_newton, [0.5, 0.7, 1.0, 1.4]),
    "levenberg_marquardt": (rules.levenberg_marquardt, [0.5, 0.7, 1.0, 1.4]),
    "newton": (rules.newton, [0.5, 0.7, 1.0, 1.4]),
    "ig": (rules.ig, [0.5, 0.7, 1.0, 1.4]),
    "pg": (rules.pg, [0.5, 0.7, 1.0, 1.4]),
}


def simulator_from_notebook(path: Path = NOTEBOOK) -> dict:
    """The names defined by the notebook's cell tagged ``own-simulator`` (``flight``, ``G``)."""
    cells = json.loads(path.read_text())["cells"]
    source = [c["source"] for c in cells if "own-simulator" in c.get("metadata", {}).get("tags", [])]
    if len(source) != 1:
        raise ValueError(f"{path} must have exactly one cell tagged 'own-simulator', found {len(source)}")
    names = {"np": np, "solve_ivp": solve_ivp}
    exec("".join(source[0]), names)  # noqa: S102 - the chapter's own code, the single source of the simulator
    return names


def make_problem(flight) -> Problem:
    """The chapter's problem: the simulator, no derivatives, the numerical inverse."""
    truth = np.array(TRUTH)
    return with_numerical_inverse(Problem.from_simulator(flight, flight(truth), n=3, name="ball", differences="complex"))


def rule_sweeps(flight) -> dict:
    """Every rule's step-size sweep from ``START`` with ``STEPS`` steps and ``RTOL``."""
    out = {}
    for name, (make_rule, grid) in RULES.items():
        sweep = sweep_step_size(make_problem(flight), START, make_rule, grid, steps=STEPS, rtol=RTOL)
        grid = [float(eta) for eta in sweep.etas]
        best = grid.index(float(sweep.best_eta))
        out[name] = {
            "grid": grid,
            "final_loss": [float(r.losses[-1]) for r in sweep.results],
            "iterations_to_tolerance": [float(iterations_to_tolerance(r)) for r in sweep.results],
            "status": [r.status_name for r in sweep.results],
            "best_eta": float(sweep.best_eta),
            "best_inside_grid": 0 < best < len(grid) - 1,
        }
        print(f"{name:20s} best eta {sweep.best_eta:.3g} inside {out[name]['best_inside_grid']}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["rules", "training", "all"], default="all")
    args = parser.parse_args()
    flight = simulator_from_notebook()["flight"]
    results = json.loads(OUTPUT.read_text()) if OUTPUT.exists() else {}
    start = time.perf_counter()
    if args.part in ("rules", "all"):
        results["rules"] = rule_sweeps(flight)
        results["rules_setup"] = {"truth": TRUTH, "start": START, "steps": STEPS, "rtol": RTOL}
    if args.part in ("training", "all") and "training_sweep" in globals():
        results["training"] = training_sweep(flight)
    OUTPUT.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {OUTPUT} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
