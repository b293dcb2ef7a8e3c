"""Step-size sweeps and training runs of the chapter "Your own simulator" (book/own_simulator.ipynb).

Usage: PYTHONPATH=$PWD OPENBLAS_NUM_THREADS=1 python tools/own_simulator_bench.py [--part rules|training|all]

The simulator is the notebook's cell tagged ``own-simulator`` (one implementation: the
chapter's), executed here.  Writes ``bench_results/own_simulator.json``:

* ``rules``: for every rule the grid of step sizes, the loss and iterations of each run and
  the best value (fewest steps to the tolerance, else the lowest final loss), with a flag
  saying whether it lies strictly inside the grid;
* ``training``: see :func:`training_sweep`; once both methods are stored, ``training["record"]``
  holds the comparison as an evidence record (:func:`training_record`).

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


LOW, HIGH = np.array([20.0, 30.0, 15.0]), np.array([40.0, 60.0, 40.0])   # box of the true parameters
SIZES = {"train": 32, "validation": 16, "test": 32}
NETWORK = (3, 16, 3)
ITERATIONS, BATCH = 40, 4
SEEDS = (0, 1, 2, 3, 4)
RATES = {"sip": [0.01, 0.03, 0.1], "physics": [0.003, 0.01, 0.03, 0.1]}
BUDGET_SECONDS = 20.0        # wall-clock budget of training, the same for both methods
INVERSE = {"damping": 1e-6, "reduction": 1e-6}


def unit_free(flight):
    """The simulator of the unit-free parameters :math:`z`, :math:`x = c + s z` (the box maps to [-1, 1])."""
    centre, spread = (HIGH + LOW) / 2, (HIGH - LOW) / 2
    return lambda z: flight(centre + spread * np.asarray(z))


def training_data(flight, seed: int = 0):
    """Train, validation and test sets: parameters uniform in the box, noise-free observations."""
    from companion.training import Dataset, make_dataset, physics_from_problem

    simulator = unit_free(flight)
    problem = with_numerical_inverse(Problem.from_simulator(simulator, simulator(np.zeros(3)), n=3,
                                                            name="ball (unit-free)", differences="complex"),
                                     **INVERSE)
    physics = physics_from_problem(problem)
    rng = np.random.default_rng(seed)
    truths = {k: rng.uniform(-1, 1, (size, 3)) for k, size in SIZES.items()}
    train, normalise = make_dataset(physics, truths["train"])
    sets = {"train": train}
    for k in ("validation", "test"):
        targets = simulator(truths[k])
        sets[k] = Dataset(normalise(targets), targets, truths[k])
    return problem, physics, sets


def x_error(net, theta, data) -> float:
    """Mean of :math:`\\tfrac12 |f(u_i) - z_i|^2` over ``data`` (unit-free parameters)."""
    return float(np.mean(0.5 * np.sum((net.forward(theta, data.inputs) - data.truth) ** 2, axis=1)))


def train_once(method, rate, seed, physics, sets, until_seconds: float = 0.0):
    """One run: ``ITERATIONS`` updates of Adam with rate ``rate`` on the SIP or physics gradient,
    continued until ``until_seconds`` of training if that is later; every iterate is kept."""
    from companion.nn import MLP
    from companion.training import train

    net = MLP(NETWORK)
    theta0 = net.init(np.random.default_rng(100 + seed))
    result = train(method, net, theta0, physics, sets["train"], iterations=ITERATIONS, batch_size=BATCH,
                   rng=np.random.default_rng(200 + seed), eta_nn=rate, eval_every=ITERATIONS,
                   fallback="ig" if method == "sip" else None, keep_thetas=True, until_seconds=until_seconds)
    return net, result


def _run_record(method, rate, seed, physics, sets, until_seconds: float = 0.0) -> dict:
    """A run reduced to its validation and test errors at the iteration budget and its test curve."""
    from companion import evidence

    try:
        net, result = train_once(method, rate, seed, physics, sets, until_seconds)
    except ValueError as error:  # the network left the simulator's domain: a failed run, not a crash
        return {"validation": None, "test": None, "seconds": None, "status": f"failed: {error}"[:300],
                "fallbacks": None, "curve": None}
    at_budget = result.thetas[ITERATIONS]
    test_curve = [x_error(net, theta, sets["test"]) for theta in result.thetas]
    return {"validation": x_error(net, at_budget, sets["validation"]), "test": x_error(net, at_budget, sets["test"]),
            "seconds": float(result.thetas_time[ITERATIONS]), "status": result.status_name,
            "fallbacks": int(result.fallbacks),
            "curve": evidence.curve(np.arange(len(result.thetas)), result.thetas_time, test_curve)}


def training_sweep(flight, methods=tuple(RATES)) -> dict:
    """Rates chosen on the validation set (median over seeds), reported on the test set for every seed.

    Every run makes ``ITERATIONS`` updates; the best rate's runs continue until ``BUDGET_SECONDS`` of
    training too, so that the methods are also compared at equal wall-clock time. SIP's runs use
    the time budget during the sweep already (its 40 updates take about that long).
    """
    problem, physics, sets = training_data(flight)
    out = {"setup": {"low": LOW.tolist(), "high": HIGH.tolist(), "sizes": SIZES, "network": NETWORK,
                     "iterations": ITERATIONS, "batch": BATCH, "seeds": SEEDS, "inverse": INVERSE,
                     "budget_seconds": BUDGET_SECONDS}}
    for method in methods:
        rates = RATES[method]
        sweep_seconds = BUDGET_SECONDS if method == "sip" else 0.0
        runs = {}
        for rate in rates:
            runs[rate] = [_run_record(method, rate, seed, physics, sets, sweep_seconds) for seed in SEEDS]
            for seed, run in zip(SEEDS, runs[rate]):
                print(method, rate, seed, {k: v for k, v in run.items() if k != "curve"}, flush=True)
        # a failed run counts as an infinite error; the rate with the lowest median wins
        medians = [float(np.median([np.inf if r["validation"] is None else r["validation"] for r in runs[rate]]))
                   for rate in rates]
        best = int(np.argmin(medians))
        best_runs = runs[rates[best]]
        if sweep_seconds == 0.0:   # the chosen rate again, now also to the wall-clock budget
            best_runs = [_run_record(method, rates[best], seed, physics, sets, BUDGET_SECONDS) for seed in SEEDS]
        out[method] = {"rates": rates, "validation_median": [m if np.isfinite(m) else None for m in medians],
                       "best_rate": rates[best], "best_inside_grid": 0 < best < len(rates) - 1,
                       "runs": {str(k): [{key: v for key, v in r.items() if key != "curve"} for r in rs]
                                for k, rs in runs.items()},
                       "best_runs": best_runs,
                       "test": [r["test"] for r in best_runs],
                       "seconds": [r["seconds"] for r in best_runs]}
    return out


def training_record(training: dict) -> dict:
    """The evidence record (:mod:`companion.evidence`) of SIP against Adam through the physics."""
    from companion import evidence

    methods = []
    for method, label in (("sip", "SIP"), ("physics", "Adam")):
        m = training[method]
        scores = [[r["validation"] for r in m["runs"][str(rate)]] for rate in m["rates"]]
        curves = [r["curve"] for r in m["best_runs"]]
        if any(c is None for c in curves):
            raise RuntimeError(f"{label}: a run of the chosen rate failed; no curve to store")
        methods.append(evidence.method(
            label, seeds=SEEDS, test=m["test"], curves=curves,
            statuses=[r["status"] for r in m["best_runs"]],
            hyperparameters=[evidence.hyperparameter("learning rate", m["rates"], scores, seeds=SEEDS)],
            settings={"optimizer": "Adam", "batch": BATCH, "fallback": "IG step" if method == "sip" else None}))
    return evidence.comparison(
        "Your own simulator: SIP against Adam through the physics", metric="test x-error (unit-free parameters)",
        validation=f"{SIZES['validation']} throws of seed 0", test=f"{SIZES['test']} other throws of seed 0",
        budget={"iterations": ITERATIONS, "seconds": BUDGET_SECONDS}, methods=methods,
        published="No published result: the simulator is this chapter's. The SIP paper (Holl et al. 2022) "
                  "reports SIP ahead of Adam per iteration on its problems, at a higher cost per iteration.",
        departures=["a numerical local inverse (damped least squares with continuation) instead of an "
                    "analytic one", f"{SIZES['train']} training throws, batch {BATCH}: a small set-up that runs "
                    "on a laptop"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["rules", "training", "all"], default="all")
    parser.add_argument("--method", choices=list(RATES), nargs="*", default=list(RATES),
                        help="training methods to run (several processes may run one each)")
    args = parser.parse_args()
    flight = simulator_from_notebook()["flight"]
    start, new = time.perf_counter(), {}
    if args.part in ("rules", "all"):
        new["rules"] = rule_sweeps(flight)
        new["rules_setup"] = {"truth": TRUTH, "start": START, "steps": STEPS, "rtol": RTOL}
    if args.part in ("training", "all"):
        new["training"] = training_sweep(flight, args.method)
    import fcntl

    with open(OUTPUT.with_suffix(".lock"), "w") as lock:   # several processes may run one method each
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = json.loads(OUTPUT.read_text()) if OUTPUT.exists() else {}
        results.update({k: v for k, v in new.items() if k != "training"})
        if "training" in new:
            results.setdefault("training", {}).update(new["training"])
            if all("best_runs" in results["training"].get(method, {}) for method in RATES):
                results["training"]["record"] = training_record(results["training"])
        OUTPUT.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {OUTPUT} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
