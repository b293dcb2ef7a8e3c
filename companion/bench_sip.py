r"""Benchmark of the chapter *Scale-invariant physics training*, run from the command line.

::

    python -m companion.bench_sip [--quick] [--out bench_results]

Every comparison is one evidence record (:mod:`companion.evidence`): each method's
learning rate :math:`\eta_{NN}` is chosen by the median over the seeds of its final
score on a **validation** set, the reported numbers come from a separate **test**
set, every method gets the same budget in iterations and in wall-clock seconds
(the faster ones keep training until the slowest used its iterations), and the
per-seed test curves are stored. The tasks are those of :mod:`companion.sip_tasks`.

``sine``
    the 2-D problem :math:`P(x) = (\sin(\hat x_1)/\xi,\ \xi\hat x_2)` with every true
    state on the sine's central branch, at a few :math:`(\xi, \varphi)`: SIP
    (:math:`\eta = 1`) against Adam through the physics; metric: the test x-error.
``heat``
    the noisy heat equation with the regularised inverse: SIP, Adam through the
    physics, Adam through the physics with SIP's prior (the network's output projected
    on the modes the inverse resolves) and supervised training; metric: the test
    x-error, also split into resolved and discarded modes (``heat["split"]``).
``multimodal``
    the 2-D problem with true states beyond the sine's monotone range, where an
    observation has two preimages: SIP, Adam through the physics and supervised
    training; metric: the distance of the prediction to the *nearest* preimage of its
    observation (:func:`companion.sip_tasks.branch_distance`), with the x-error to the
    ground truth and the fraction of test states predicted on the other branch beside it
    (``multimodal[i]["extra"][method]``, one dict per seed).

Writes ``sip.json`` (settings, seeds, machine and library versions, the records)
and ``sip.png`` into ``--out`` and returns the document. ``--quick`` runs a reduced
set in a few seconds (used by the tests). The entry point for other code is :func:`run`.
"""

from __future__ import annotations

import argparse
import datetime as _datetime
import json
import sys
import time
from pathlib import Path
from typing import Callable, NamedTuple, Optional, Sequence

import numpy as np

__all__ = ["SCHEMA", "PUBLISHED", "settings", "Contender", "compare", "run", "main"]

#: identifier of the JSON layout
SCHEMA = "companion.bench_sip/2"

#: The published outcomes each comparison is held against (Holl, Koltun and Thuerey 2022).
PUBLISHED = {
    "sine": ("Holl et al. (2022), 2-D sine problem swept over xi and phi: Adam through the physics degrades by "
             "orders of magnitude as the conditioning xi and the coupling phi grow, SIP stays flat; one SIP "
             "iteration costs about three Adam iterations there."),
    "heat": ("Holl et al. (2022), heat equation on a 2-D 64x64 periodic grid (nu t = 8, hot boxes, noisy "
             "observations, an inverse that damps the modes the noise dominates): networks trained with SIP "
             "reach a lower error in the initial state than those trained with Adam through the physics, whose "
             "reconstructions miss the fine structure."),
    "multimodal": ("No published counterpart: Holl et al. (2022) state that SIP differs from supervised training "
                   "with multimodal physics or approximate inverses, but their experiments keep the true states "
                   "on one branch."),
}


def settings(quick: bool) -> dict:
    """The sizes, grids, seeds and budgets of a run (``quick``: a reduced set for tests)."""
    pi = float(np.pi)
    if quick:
        common = {"samples": 64, "validation": 32, "test": 32, "batch_size": 16, "iterations": 40, "eval_every": 10}
        return {
            "seeds": [0, 1, 2, 3, 4],
            "sine": {**common, "configs": [[32.0, pi / 4]], "sizes": [2, 16, 2],
                     "grids": {"SIP": [1e-3, 1e-2, 1e-1], "Adam": [1e-3, 1e-2, 1e-1]}},
            "heat": {**common, "n": 16, "nu_t": 2e-3, "noise": 1e-3, "hidden": [16],
                     "grids": {name: [1e-3, 1e-2, 1e-1] for name in ("SIP", "Adam", "Adam + prior", "supervised")}},
            "multimodal": {**common, "configs": [[4.0, pi / 4]], "reach": 2.5, "sizes": [2, 16, 2],
                           "grids": {name: [1e-3, 1e-2, 1e-1] for name in ("SIP", "Adam", "supervised")}},
        }
    common = {"samples": 512, "validation": 128, "test": 128, "batch_size": 32, "iterations": 1000, "eval_every": 20}
    return {
        "seeds": [0, 1, 2, 3, 4],
        "sine": {**common, "configs": [[1.0, pi / 4], [32.0, 0.0], [32.0, pi / 4]], "sizes": [2, 32, 32, 2],
                 "grids": {"SIP": [1e-3, 3e-3, 1e-2], "Adam": [1e-3, 3e-3, 1e-2, 3e-2, 1e-1]}},
        "heat": {**common, "n": 32, "nu_t": 2e-3, "noise": 1e-3, "hidden": [64, 64],
                 "grids": {"SIP": [1e-3, 3e-3, 1e-2], "Adam": [1e-3, 3e-3, 1e-2], "Adam + prior": [3e-3, 1e-2, 3e-2],
                           "supervised": [1e-3, 3e-3, 1e-2]}},
        "multimodal": {**common, "configs": [[1.0, pi / 4], [16.0, pi / 4]], "reach": 2.5, "sizes": [2, 32, 32, 2],
                       "grids": {"SIP": [1e-3, 3e-3, 1e-2], "Adam": [1e-3, 3e-3, 1e-2, 3e-2, 1e-1],
                                 "supervised": [3e-3, 1e-2, 3e-2]}},
    }


class Contender(NamedTuple):
    """One method of a comparison: its training rule, the physics it trains through and its prediction.

    ``predict(X)`` maps the network's outputs to the state the method predicts (the identity,
    or a projection for a method with a prior).
    """

    name: str
    method: str  # "sip", "physics" or "supervised" (companion.training.train)
    physics: object
    predict: Callable[[np.ndarray], np.ndarray]


def _identity(X):
    return X


def _train(contender: Contender, task, sizes, eta_nn: float, seed: int, config: dict, until_seconds: float = 0.0):
    """One run with snapshots: network from seed ``1000 + seed``, mini-batches from ``2000 + seed``."""
    from .nn import MLP
    from .training import train

    net = MLP(tuple(sizes))
    theta0 = net.init(np.random.default_rng(1000 + seed))
    result = train(contender.method, net, theta0, contender.physics, task.train, iterations=config["iterations"],
                   batch_size=config["batch_size"], rng=np.random.default_rng(2000 + seed), eta_nn=eta_nn,
                   evaluation=task.validation, eval_every=config["eval_every"], snapshots=True,
                   until_seconds=until_seconds)
    return net, result


def _scored(net, result, contender: Contender, task, metric) -> dict:
    """The run's validation score at the iteration budget and its test curve over every snapshot."""
    def score(theta, data):
        with np.errstate(all="ignore"):
            value = metric(task, contender.predict(net.forward(theta, data.inputs)), data)
        return value if np.isfinite(value) else None

    test = [score(theta, task.test) for theta in result.snapshots]
    return {"iterations": result.iterations, "seconds": result.time, "test": test, "status": result.status_name,
            "net": net, "snapshots": result.snapshots}


def _at(run: dict, iterations: int):
    """Index of the snapshot after ``iterations`` updates (None if the run stopped earlier)."""
    hits = np.flatnonzero(run["iterations"] == iterations)
    return int(hits[0]) if hits.size else None


def compare(name: str, tasks: dict, contenders: Callable, grids: dict, sizes, config: dict, metric,
            *, metric_name: str, published: str, departures: Sequence[str] = (), extra=None, log=print) -> dict:
    r"""One comparison record: every contender swept over its grid on the validation sets, reported on the test sets.

    ``tasks[seed]`` is the task of each seed (its own data, network initialisation and
    mini-batches); ``contenders(task)`` lists the :class:`Contender` of a task; ``metric(task, X, data)``
    scores predictions ``X`` on ``data`` (lower is better). Each rate and seed trains for
    ``config["iterations"]``; the best rate's runs are then continued (re-run with the same seed)
    until every method also used the wall-clock budget, the median training time of the slowest
    method. ``extra(task, contender, X_test)`` adds per-seed numbers at the iteration budget.
    Returns ``{"record": ..., "extra": {method: [per seed]}}``.
    """
    from . import evidence

    seeds = sorted(tasks)
    N = config["iterations"]
    names = [c.name for c in contenders(tasks[seeds[0]])]
    best_runs, hyper = {}, {}
    for index, label in enumerate(names):
        grid = grids[label]
        validation, runs = [], []
        for eta_nn in grid:
            row, row_runs = [], []
            for seed in seeds:
                task = tasks[seed]
                contender = contenders(task)[index]
                net, result = _train(contender, task, sizes, eta_nn, seed, config)
                scored = _scored(net, result, contender, task, metric)
                at = _at(scored, N)
                with np.errstate(all="ignore"):
                    value = None if at is None else metric(task, contender.predict(
                        net.forward(result.snapshots[at], task.validation.inputs)), task.validation)
                row.append(value if value is not None and np.isfinite(value) else None)
                row_runs.append(scored)
            validation.append(row)
            runs.append(row_runs)
        h = evidence.hyperparameter("eta_nn", grid, validation, seeds=seeds)
        hyper[label] = h
        best_runs[label] = runs[grid.index(h["best"])]
        del runs  # the other rates' snapshots are not needed any more
        log(f"{name}: {label} best eta_nn = {h['best']:g} (interior: {h['interior']})")
    def seconds_at_budget(run_):
        at = _at(run_, N)
        return float(run_["seconds"][-1 if at is None else at])

    seconds = max(float(np.median([seconds_at_budget(r) for r in best_runs[label]])) for label in names)
    methods, extras = [], {}
    for index, label in enumerate(names):
        curves, test, statuses, per_seed = [], [], [], []
        for seed, run_ in zip(seeds, best_runs[label]):
            task = tasks[seed]
            contender = contenders(task)[index]
            if run_["seconds"][-1] < seconds and run_["status"] == "max_steps":
                net, result = _train(contender, task, sizes, hyper[label]["best"], seed, config,
                                     until_seconds=1.02 * seconds)
                run_ = _scored(net, result, contender, task, metric)
            at = _at(run_, N)
            test.append(None if at is None else run_["test"][at])
            curves.append(evidence.curve(run_["iterations"], run_["seconds"], run_["test"]))
            statuses.append(run_["status"])
            if extra is not None and at is not None:
                X = contender.predict(run_["net"].forward(run_["snapshots"][at], task.test.inputs))
                per_seed.append(extra(task, contender, X))
        extras[label] = per_seed
        methods.append(evidence.method(label, seeds=seeds, test=test, hyperparameters=[hyper[label]],
                                       curves=curves, statuses=statuses,
                                       settings={"sizes": list(sizes), "batch_size": config["batch_size"],
                                                 "eta": 1.0 if label == "SIP" else None}))
    first = tasks[seeds[0]]
    record = evidence.comparison(
        name, metric=metric_name,
        validation=f"{len(first.validation)} samples per seed, disjoint from training and test",
        test=f"{len(first.test)} samples per seed, disjoint from training and validation",
        budget={"iterations": N, "seconds": seconds}, methods=methods, published=published,
        departures=departures)
    return {"record": record, "extra": extras}


# --------------------------------------------------------------------------- the three experiments
def _x_error(task, X, data) -> float:
    return float(0.5 * np.mean(np.sum((X - data.truth) ** 2, axis=1)))


def _branch_metric(task, X, data) -> float:
    from .sip_tasks import branch_distance

    return branch_distance(task.physics, X, data.targets)


def _sine_contenders(task):
    return [Contender("SIP", "sip", task.physics, _identity), Contender("Adam", "physics", task.physics, _identity)]


def _sine(config: dict, seeds, log) -> list:
    from .sip_tasks import sine_task

    out = []
    for xi, phi in config["configs"]:
        tasks = {s: sine_task(xi, phi, samples=config["samples"], validation=config["validation"],
                              test=config["test"], seed=s) for s in seeds}
        t0 = time.perf_counter()
        result = compare(f"SIP chapter, 2-D sine on one branch, xi = {xi:g}, phi = {phi:.4f}", tasks,
                         _sine_contenders, config["grids"], config["sizes"], config, _x_error,
                         metric_name="test x-error 0.5 |f(u) - x_true|^2, mean over samples",
                         published=PUBLISHED["sine"],
                         departures=["true states with x_hat uniform in [-1, 1]^2 (one branch)",
                                     f"network {config['sizes']} (tanh), batch {config['batch_size']}",
                                     "equal budgets in iterations and wall-clock (the paper compares per iteration)"],
                         log=log)
        result.update({"xi": float(xi), "phi": float(phi)})
        out.append(result)
        log(f"sine xi={xi:g} phi={phi:.3f}: {time.perf_counter() - t0:6.1f} s")
    return out


def _heat(config: dict, seeds, log) -> dict:
    from .sip_tasks import heat_task, projected_heat_physics, resolved_projection, split_x_error

    tasks = {s: heat_task(config["n"], config["nu_t"], noise=config["noise"], samples=config["samples"],
                          validation=config["validation"], test=config["test"], seed=s) for s in seeds}

    def contenders(task):
        keep = task.info["keep"]
        return [Contender("SIP", "sip", task.physics, _identity),
                Contender("Adam", "physics", task.physics, _identity),
                Contender("Adam + prior", "physics", projected_heat_physics(task),
                          lambda X: resolved_projection(X, keep)),
                Contender("supervised", "supervised", task.physics, _identity)]

    def split(task, contender, X):
        return split_x_error(X, task.test.truth, task.info["keep"])

    t0 = time.perf_counter()
    sizes = [config["n"], *config["hidden"], config["n"]]
    result = compare("SIP chapter, heat equation with a regularised inverse", tasks, contenders, config["grids"],
                     sizes, config, _x_error, metric_name="test x-error 0.5 |x - x_true|^2, mean over samples",
                     published=PUBLISHED["heat"],
                     departures=[f"1-D periodic grid of n = {config['n']} points, nu t = {config['nu_t']:g} "
                                 "(published: 2-D, 64 x 64, nu t = 8)",
                                 f"noise sigma = {config['noise']:g}; the inverse keeps the modes with gain above "
                                 "sigma / rms(y*) and sets the others to zero",
                                 f"network {sizes} (tanh, fully connected), 2 hot boxes per sample",
                                 "added baseline: Adam through the physics with the output projected on the "
                                 "resolved modes (the same prior as SIP's inverse)"],
                     extra=split, log=log)
    result["cutoff"] = [tasks[s].info["cutoff"] for s in seeds]
    result["resolved_modes"] = [int(tasks[s].info["keep"].sum()) for s in seeds]
    result["split"] = result.pop("extra")
    log(f"heat: {time.perf_counter() - t0:6.1f} s")
    return result


def _multimodal(config: dict, seeds, log) -> list:
    from .sip_tasks import sine_task

    def contenders(task):
        return [Contender("SIP", "sip", task.physics, _identity),
                Contender("Adam", "physics", task.physics, _identity),
                Contender("supervised", "supervised", task.physics, _identity)]

    def extra(task, contender, X):
        truth = task.test.truth
        nearest = task.physics.invert(task.test.targets, X)
        return {"x_error": _x_error(task, X, task.test),
                "other_branch": float(np.mean(np.linalg.norm(nearest - truth, axis=1) > 1e-6)),
                "y_error": float(0.5 * np.mean(np.sum((task.physics.forward(X) - task.test.targets) ** 2, axis=1))),
                "branch_distance": _branch_metric(task, X, task.test),
                "beyond_in_test": float(np.mean(np.abs((truth @ _rotation(task.info["phi"]).T)[:, 0]) > np.pi / 2))}

    out = []
    for xi, phi in config["configs"]:
        tasks = {s: sine_task(xi, phi, reach=config["reach"], samples=config["samples"],
                              validation=config["validation"], test=config["test"], seed=s) for s in seeds}
        t0 = time.perf_counter()
        result = compare(f"SIP chapter, 2-D sine beyond its monotone range, xi = {xi:g}, phi = {phi:.4f}", tasks,
                         contenders, config["grids"], config["sizes"], config, _branch_metric,
                         metric_name="test distance to the nearest preimage 0.5 |x - P^-1(y*; x)|^2",
                         published=PUBLISHED["multimodal"],
                         departures=[f"true x_hat_1 uniform in [-{config['reach']:g}, {config['reach']:g}] "
                                     "(beyond pi/2: two preimages per observation)",
                                     f"network {config['sizes']} (tanh), batch {config['batch_size']}"],
                         extra=extra, log=log)
        result.update({"xi": float(xi), "phi": float(phi), "beyond": [tasks[s].info["beyond"] for s in seeds]})
        out.append(result)
        log(f"multimodal xi={xi:g}: {time.perf_counter() - t0:6.1f} s")
    return out


def _rotation(phi):
    from .training import rotation

    return rotation(phi)


# --------------------------------------------------------------------------- summaries for the training subcommand
def _method(record: dict, name: str) -> dict:
    return next(m for m in record["methods"] if m["name"] == name)


def _sine_runs(comparisons: list) -> list:
    """Per seed and configuration, each method's best rate and test x-error (the layout ``training`` summarises)."""
    runs = []
    for entry in comparisons:
        record = entry["record"]
        for i, seed in enumerate(record["methods"][0]["seeds"]):
            runs.append({"seed": seed, "xi": entry["xi"], "phi": entry["phi"],
                         **{m["name"]: {"eta_nn": m["hyperparameters"][0]["best"], "x_error": m["test"][i]}
                            for m in record["methods"]}})
    return runs


def _seconds_per_iteration(method: dict, iterations: int) -> float:
    times = []
    for c in method["curves"]:
        index = c["iterations"].index(iterations) if iterations in c["iterations"] else -1
        times.append(c["seconds"][index] / c["iterations"][index])
    return float(np.median(times))


def _first_reach(curve: dict, level: float) -> float:
    for it, value in zip(curve["iterations"], curve["values"]):
        if value is not None and value <= level:
            return float(it)
    return float("inf")


def _targets(document: dict, config: dict) -> dict:
    """Headline numbers (medians over seeds) in the layout the ``training`` subcommand reads."""
    from .evidence import spread

    sine = document["sine"]["comparisons"]
    largest = max(entry["xi"] for entry in sine)
    ratios = {}
    for entry in sine:
        if entry["xi"] == largest:
            sip, adam = _method(entry["record"], "SIP"), _method(entry["record"], "Adam")
            ratios[f"{entry['phi']:.4f}"] = spread([a / s if a is not None and s else None
                                                   for a, s in zip(adam["test"], sip["test"])])["median"]
    last = [entry for entry in sine if entry["xi"] == largest][-1]["record"]
    N = config["sine"]["iterations"]
    cost = (_seconds_per_iteration(_method(last, "SIP"), N) / _seconds_per_iteration(_method(last, "Adam"), N))
    heat = document["heat"]["record"]
    sip, adam = _method(heat, "SIP"), _method(heat, "Adam")
    fractions = [_first_reach(c, level) / config["heat"]["iterations"] if level is not None else None
                 for c, level in zip(sip["curves"], adam["test"])]
    return {"sine_largest_xi": largest, "sine_median_x_error_ratio_at_largest_xi_by_phi": ratios,
            "sine_cost_ratio_sip_over_adam": cost,
            "heat_median_sip_fraction_of_adam_iterations": spread(fractions)["median"]}


# --------------------------------------------------------------------------- figure and entry points
def _plot(document: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    from .evidence import plot_bands
    from .plots import use_style

    use_style()
    panels = [document["heat"]["record"], document["sine"]["comparisons"][-1]["record"],
              document["multimodal"][-1]["record"]]
    fig = Figure(figsize=(13, 7.5))  # no pyplot: the caller's backend and figures are left alone
    axes = fig.subplots(2, 3)
    for column, record in enumerate(panels):
        for row, axis in enumerate(("iterations", "seconds")):
            ax = axes[row, column]
            for method in record["methods"]:
                plot_bands(ax, method, axis=axis)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("iteration" if axis == "iterations" else "training seconds")
            ax.set_title(f"{record['name'].replace('SIP chapter, ', '')}\n({len(record['methods'][0]['seeds'])} seeds)",
                         fontsize=8)
        axes[0, column].legend(fontsize=7)
    axes[0, 0].set_ylabel("test metric")
    axes[1, 0].set_ylabel("test metric")
    fig.tight_layout()
    fig.savefig(path)


def run(quick: bool, out: Path, *, log=None) -> dict:
    """Run the benchmark; write ``sip.json`` and ``sip.png`` into ``out``; return the JSON document."""
    from .bench import _clean, machine_info

    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = settings(bool(quick))
    seeds = config["seeds"]
    start = time.perf_counter()
    document = {
        "schema": SCHEMA,
        "command": "python -m companion.bench_sip" + (" --quick" if quick else ""),
        "quick": bool(quick),
        "date": _datetime.datetime.now(_datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "seeds": seeds,
        "settings": config,
    }
    sine = _sine(config["sine"], seeds, log)
    document["sine"] = {"comparisons": sine, "runs": _sine_runs(sine)}
    document["heat"] = _heat(config["heat"], seeds, log)
    document["multimodal"] = _multimodal(config["multimodal"], seeds, log)
    document["targets"] = _targets(document, config)
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
    from .evidence import find_comparisons, problems_with

    problems = [p for record in find_comparisons(document) for p in problems_with(record)]
    print("\n".join(problems) if problems else "every comparison meets the evidence standard")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
