r"""Computations of the chapter *Scale-invariant physics training* (``book/sip.ipynb``).

A network :math:`f(u;\theta)` learns to invert a simulator: from an observation
:math:`y^*` (network input :math:`u`, the featurewise standardised :math:`y^*`) it
predicts the state :math:`x` with :math:`P(x) = y^*`.  Three trainings are
compared on the same data, network, initialisation and mini-batches, each
with its learning rate :math:`\eta_{NN}` from a sweep
(:mod:`companion.training`): SIP :cite:`holl2022sip`, Adam through the
differentiable physics, and supervised training on the true states.

* **(a)** the 2-D problem :math:`P(x) = (\sin(\hat x_1)/\xi,\ \hat x_2\,\xi)`,
  :math:`\hat x = R_\varphi x`, over the conditioning :math:`\xi` and the
  coupling angle :math:`\varphi` (:func:`sine_sweep`; the chapter reads the sweep
  that ``python -m companion.bench_sip`` stored, :func:`load_bench`,
  :func:`bench_sweep`, :func:`bench_entry`), and the cost of one iteration
  (:func:`cost_ratio`);
* **(b)** the heat equation on a periodic grid with noisy observations and a
  regularised inverse (:func:`heat_task`, :func:`heat_comparison`);
* **(c)** when SIP *is* supervised training (:func:`caveat`);
* the combined step size :math:`\eta\,\eta_{NN}` (:func:`effective_rate`) and the
  answers of the two exercises (:func:`exercise_adam_eta`, :func:`exercise_conditioning`).

Every function is pure; seeds are passed in explicitly.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping, NamedTuple, Optional, Sequence

import numpy as np

from .._checks import check_int, check_positive
from ..nn import MLP
from ..problems import Problem
from ..training import (
    BatchPhysics,
    Dataset,
    TrainingResult,
    heat_physics,
    make_dataset,
    rotated_sine_physics,
    rotation,
    train,
)

__all__ = [
    "SINE_SIZES",
    "SINE_ETAS",
    "HEAT_ETAS",
    "rotated_sine_problem",
    "cotangents",
    "SineSetup",
    "sine_setup",
    "run",
    "Tuned",
    "tune",
    "sine_sweep",
    "sweep_table",
    "format_sweep_table",
    "load_bench",
    "bench_sweep",
    "bench_entry",
    "cost_ratio",
    "HeatTask",
    "heat_task",
    "heat_comparison",
    "predictions",
    "iterations_to_reach",
    "trajectory_difference",
    "caveat",
    "effective_rate",
    "exercise_adam_eta",
    "exercise_conditioning",
    "plot_sweep",
    "plot_heat",
]

#: the network of experiment (a)
SINE_SIZES = (2, 32, 32, 2)
#: the learning rates swept for every method in (a) (log grid, half a decade apart)
SINE_ETAS = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1)
#: the learning rates swept for every method in (b)
HEAT_ETAS = (1e-3, 3e-3, 1e-2)


# --------------------------------------------------------------------------- (a) the 2-D problem
def rotated_sine_problem(xi: float, phi: float, target) -> Problem:
    r"""The 2-D problem of (a) for one target, as a companion :class:`~companion.problems.Problem`.

    :math:`P(x) = (\sin(\hat x_1)/\xi,\ \hat x_2\,\xi)`, :math:`\hat x = R_\varphi x`,
    :math:`J = \mathrm{diag}(\cos\hat x_1/\xi,\ \xi)\, R_\varphi`, and the local
    inverse of :func:`companion.training.rotated_sine_physics` (one sample at a time).

    >>> p = rotated_sine_problem(4.0, 0.3, [0.1, 2.0])
    >>> x = p.invert(p.target, np.zeros(2))
    >>> bool(np.allclose(p.output(x), p.target))
    True
    """
    physics = rotated_sine_physics(xi, phi)
    R = rotation(phi)
    xi = float(xi)

    def jacobian(x):
        h1 = float(R[0] @ x)
        return np.diag([np.cos(h1) / xi, xi]) @ R

    return Problem(
        simulator=lambda x: physics.forward(x[None, :])[0],
        jacobian=jacobian,
        target=target,
        inverse=lambda y, x0: physics.inverse(y[None, :], x0[None, :])[0],
        name=f"rotated sine (xi={xi:g}, phi={float(phi):.3g})",
    )


def cotangents(xi: float, phi: float, x, x_true, eta: float = 1.0) -> dict:
    r"""What the network receives per sample as the derivative of its loss w.r.t. its output :math:`x`.

    * ``"physics"``: :math:`J^\top (P(x) - y^*)`, the gradient of :math:`\tfrac12|P(x) - y^*|^2`;
    * ``"sip"``: :math:`x - \tilde x = -\Delta x_{PG}`, the gradient of the proxy loss
      :math:`\tfrac12|x - \tilde x|^2`,

    for the 2-D problem with target :math:`y^* = P(x_{\rm true})`.

    >>> c = cotangents(32.0, 0.0, [0.1, 0.1], [0.0, 0.0])
    >>> [f"{v:.3g}" for v in c["sip"]], [f"{v:.3g}" for v in c["physics"]]
    (['0.1', '0.1'], ['9.7e-05', '102'])
    """
    physics = rotated_sine_physics(xi, phi)
    x = np.asarray(x, dtype=float).reshape(1, 2)
    target = physics.forward(np.asarray(x_true, dtype=float).reshape(1, 2))
    y = physics.forward(x)
    x_tilde = physics.inverse(y + eta * (target - y), x)
    return {"sip": (x - x_tilde)[0], "physics": physics.vjp(x, y - target)[0]}


class SineSetup(NamedTuple):
    """Physics and data of one (xi, phi) configuration: training and held-out test set."""

    xi: float
    phi: float
    physics: BatchPhysics
    train: Dataset
    test: Dataset


def sine_setup(xi: float, phi: float, *, samples: int = 256, test: int = 128, seed: int = 0) -> SineSetup:
    r"""True states :math:`x \sim U[-1, 1]^2` from ``seed``, their observations, a train/test split.

    :math:`|\hat x_1| \le \sqrt 2 < \pi/2`: every true state lies on the central branch of
    the sine, so each observation has exactly one preimage there.  The network inputs are
    the observations standardised featurewise (the same for every method).
    """
    samples = check_int(samples, "samples", minimum=1)
    test = check_int(test, "test", minimum=1)
    physics = rotated_sine_physics(xi, phi)
    truth = np.random.default_rng(seed).uniform(-1.0, 1.0, (samples + test, 2))
    data, _ = make_dataset(physics, truth)
    return SineSetup(float(xi), float(phi), physics, data.subset(slice(0, samples)), data.subset(slice(samples, None)))


def run(method: str, physics: BatchPhysics, train_data: Dataset, test_data: Dataset, eta_nn: float, *,
        sizes: Sequence[int], iterations: int, batch_size: int = 32, seed: int = 1, eta: float = 1.0,
        optimizer: str = "adam", eval_every: Optional[int] = None, keep_thetas: bool = False,
        activation: str = "tanh") -> TrainingResult:
    """One training run: network initialised from ``seed``, mini-batches drawn from ``seed + 1``.

    The history is measured on ``test_data`` every ``eval_every`` iterations (default: only at the end).
    """
    net = MLP(tuple(sizes), activation)
    theta0 = net.init(np.random.default_rng(seed))
    return train(method, net, theta0, physics, train_data, iterations=iterations, batch_size=batch_size,
                 rng=np.random.default_rng(seed + 1), eta_nn=eta_nn, eta=eta, optimizer=optimizer,
                 evaluation=test_data, eval_every=eval_every or max(iterations, 1), keep_thetas=keep_thetas)


class Tuned(NamedTuple):
    """The best run of a learning-rate sweep (lowest final x-error) and every run."""

    method: str
    best_eta: float
    best: TrainingResult
    etas: tuple
    finals: tuple  # final x-error of every eta (inf for a failed run)
    results: tuple  # every run, in the order of etas

    @property
    def best_y_error(self) -> float:
        """The lowest final y-error (loss :math:`L`) of the sweep, whichever rate gave it."""
        values = [r.final_y_error for r in self.results if r.success and np.isfinite(r.final_y_error)]
        return min(values) if values else math.inf

    @property
    def at_edge(self) -> bool:
        """True if a sweep of several rates picked its smallest or largest (widen the sweep)."""
        return len(self.etas) > 1 and self.best_eta in (self.etas[0], self.etas[-1])


def tune(method: str, physics: BatchPhysics, train_data: Dataset, test_data: Dataset, etas: Sequence[float],
         **options) -> Tuned:
    r"""Run ``method`` for every :math:`\eta_{NN}` in ``etas`` and keep the one with the lowest final x-error.

    Same network, start, batches and budget for every rate; ``options`` go to :func:`run`.
    Failed runs (a status other than ``max_steps``) count as infinitely bad.
    """
    etas = tuple(float(check_positive(e, "etas")) for e in etas)
    if not etas:
        raise ValueError("etas must hold at least one learning rate")
    results = [run(method, physics, train_data, test_data, e, **options) for e in etas]
    finals = tuple(r.final_x_error if r.success and np.isfinite(r.final_x_error) else math.inf for r in results)
    index = int(np.argmin(finals))
    return Tuned(method, etas[index], results[index], etas, finals, tuple(results))


def sine_sweep(xis: Sequence[float], phis: Sequence[float], *, etas: Sequence[float] = SINE_ETAS,
               iterations: int = 200, adam_factor: int = 2, sizes: Sequence[int] = SINE_SIZES,
               samples: int = 256, test: int = 128, batch_size: int = 32, seed: int = 0) -> list:
    r"""Experiment (a): SIP (:math:`\eta = 1`) and Adam through the physics for every :math:`(\xi, \varphi)`.

    Both get their :math:`\eta_{NN}` from a sweep over ``etas``; SIP runs ``iterations``
    updates, Adam ``adam_factor`` times as many (at least the wall-clock SIP used, see
    :func:`cost_ratio`).  Returns one dict per configuration with the tuned runs under
    ``"SIP"`` and ``"Adam"``.
    """
    adam_factor = check_int(adam_factor, "adam_factor", minimum=1)
    rows = []
    for xi in xis:
        for phi in phis:
            setup = sine_setup(xi, phi, samples=samples, test=test, seed=seed)
            common = dict(sizes=sizes, batch_size=batch_size, seed=seed + 1)
            sip = tune("sip", setup.physics, setup.train, setup.test, etas, iterations=iterations, **common)
            adam = tune("physics", setup.physics, setup.train, setup.test, etas,
                        iterations=adam_factor * iterations, **common)
            rows.append({"xi": float(xi), "phi": float(phi), "SIP": sip, "Adam": adam})
    return rows


def _summary_row(row: dict) -> dict:
    """A row of :func:`sine_sweep` as plain numbers: per method the best rate, its x-error and the lowest loss."""
    out = {"xi": row["xi"], "phi": row["phi"]}
    for name in ("SIP", "Adam"):
        tuned = row[name]
        out[name] = {"etas": (tuned.best_eta,), "x_error": tuned.best.final_x_error, "loss": tuned.best_y_error}
    out["ratio"] = out["Adam"]["x_error"] / out["SIP"]["x_error"]
    return out


def _summary_rows(rows: list) -> list:
    """Rows of :func:`sine_sweep` (tuned runs) or of :func:`bench_sweep` (plain numbers) as plain numbers."""
    return [row if "ratio" in row else _summary_row(row) for row in rows]


def sweep_table(rows: list) -> list:
    """Rows ``(xi, phi, eta_SIP, x-error SIP, L SIP, eta_Adam, x-error Adam, L Adam, ratio of x-errors)``.

    ``rows`` come from :func:`sine_sweep` or :func:`bench_sweep`.  The x-errors are those of the
    best rate (by x-error); each ``L`` is the lowest final loss of its method's sweep, so that
    neither column handicaps a method by the other's criterion.  From :func:`bench_sweep` every
    entry is a median over seeds and each ``eta`` the tuple of the seeds' best rates.
    """
    table = []
    for row in _summary_rows(rows):
        sip, adam = row["SIP"], row["Adam"]
        table.append((row["xi"], row["phi"], sip["etas"], sip["x_error"], sip["loss"],
                      adam["etas"], adam["x_error"], adam["loss"], row["ratio"]))
    return table


def _format_etas(etas: tuple) -> str:
    return "/".join(f"{e:.0e}" for e in etas)


def format_sweep_table(rows: list) -> str:
    """The table of :func:`sweep_table` as aligned text (3 significant digits)."""
    table = sweep_table(rows)
    widths = [max(minimum, *(len(_format_etas(t[k])) for t in table)) for minimum, k in ((7, 2), (8, 5))]
    lines = [f"{'xi':>4} {'phi':>6} | {'eta SIP':>{widths[0]}} {'x-err SIP':>9} {'L SIP':>9} | "
             f"{'eta Adam':>{widths[1]}} {'x-err Adam':>10} {'L Adam':>9} | {'Adam/SIP':>8}"]
    for xi, phi, es, xs, ls, ea, xa, la, ratio in table:
        lines.append(f"{xi:4g} {phi:6.3f} | {_format_etas(es):>{widths[0]}} {xs:9.2e} {ls:9.2e} | "
                     f"{_format_etas(ea):>{widths[1]}} {xa:10.2e} {la:9.2e} | {ratio:8.3g}")
    return "\n".join(lines)


def load_bench(path) -> dict:
    """The document that ``python -m companion.bench_sip`` wrote (``bench_results/sip.json``).

    Raises ``FileNotFoundError`` or ``ValueError`` naming the command that (re)writes it.
    """
    from ..bench import load_document
    from ..bench_sip import SCHEMA

    return load_document(path, schema=SCHEMA, what="SIP benchmark", command="companion.bench_sip")


def bench_sweep(document: dict) -> list:
    r"""Experiment (a) from a :func:`load_bench` document: one row per :math:`(\xi, \varphi)`, medians over seeds.

    Each row holds ``xi``, ``phi``, per method (``"SIP"``, ``"Adam"``) the median final x-error
    ``x_error`` and median lowest loss ``loss`` over the seeds and the seeds' best rates ``etas``,
    and the median over seeds of the ratio of the x-errors ``ratio`` (Adam over SIP).
    """
    runs = document["sine"]["runs"]
    rows = []
    for summary in document["sine"]["summary"]:
        members = sorted((r for r in runs if r["xi"] == summary["xi"] and r["phi"] == summary["phi"]),
                         key=lambda r: r["seed"])
        row = {"xi": summary["xi"], "phi": summary["phi"], "ratio": summary["median_ratio"]}
        for name in ("SIP", "Adam"):
            row[name] = {"etas": tuple(m[name]["eta_nn"] for m in members),
                         "x_error": summary[f"median_x_error_{name}"], "loss": summary[f"median_loss_{name}"]}
        rows.append(row)
    return rows


def bench_entry(document: dict, xi: float, phi: float, seed: int) -> dict:
    r"""The stored run of one seed at :math:`(\xi, \varphi)` (``phi`` to 1e-9) in a :func:`load_bench` document."""
    for entry in document["sine"]["runs"]:
        if entry["seed"] == seed and entry["xi"] == xi and abs(entry["phi"] - phi) < 1e-9:
            return entry
    raise KeyError(f"no stored run for xi={xi:g}, phi={phi:.4f}, seed={seed}; the benchmark's grid is "
                   f"xis={document['settings']['sine']['xis']}, seeds={document['seeds']}")


def cost_ratio(setup: SineSetup, *, iterations: int = 300, repeats: int = 3, sizes: Sequence[int] = SINE_SIZES,
               eta_nn: float = 1e-3) -> dict:
    r"""Measured training seconds per iteration of SIP and of Adam through the physics, and their ratio.

    The best (smallest) of ``repeats`` runs of each; only the updates are timed (see
    :class:`~companion.training.TrainingResult`).  A wall-clock measurement: it varies
    from run to run and machine to machine.
    """
    seconds = {}
    for method in ("sip", "physics"):
        best = math.inf
        for _ in range(check_int(repeats, "repeats", minimum=1)):
            result = run(method, setup.physics, setup.train, setup.test, eta_nn, sizes=sizes, iterations=iterations)
            best = min(best, result.time[-1] / iterations)
        seconds[method] = best
    return {"sip": seconds["sip"], "adam": seconds["physics"], "ratio": seconds["sip"] / seconds["physics"]}


# --------------------------------------------------------------------------- (b) heat equation
class HeatTask(NamedTuple):
    """The heat-equation training task of (b)."""

    n: int
    nu_t: float
    noise: float
    cutoff: float
    physics: BatchPhysics  # regularised inverse, unresolved modes set to zero
    physics_keep: BatchPhysics  # regularised inverse, unresolved modes kept at the guess
    train: Dataset
    test: Dataset


def heat_task(n: int = 32, nu_t: float = 2e-3, *, noise: float = 1e-3, samples: int = 512, test: int = 128,
              boxes: int = 2, seed: int = 0) -> HeatTask:
    r"""Initial temperatures from :func:`~companion.physics.heat.random_boxes`, observed after :math:`\nu t` with noise.

    :math:`y^* = P(x) + \sigma\epsilon` with :math:`\sigma` = ``noise``.  The inverse
    keeps the modes whose gain exceeds the relative noise level
    :math:`\sigma / \mathrm{rms}(y^*)` (the cutoff of the chapter on inverse
    simulators); the others are below the noise and are set to zero
    (``physics``) or left at the network's guess (``physics_keep``).
    """
    from ..physics.heat import random_boxes

    rng = np.random.default_rng(seed)
    truth = random_boxes(n, boxes, rng, samples=samples + test)
    clean = heat_physics(n, nu_t, cutoff=0.0)
    data, _ = make_dataset(clean, truth, noise=noise, rng=rng)
    cutoff = float(noise / np.sqrt(np.mean(data.targets**2)))
    return HeatTask(n, float(nu_t), float(noise), cutoff,
                    heat_physics(n, nu_t, cutoff=cutoff, unresolved="zero"),
                    heat_physics(n, nu_t, cutoff=cutoff, unresolved="keep"),
                    data.subset(slice(0, samples)), data.subset(slice(samples, None)))


def heat_comparison(task: HeatTask, *, etas=HEAT_ETAS, iterations: int = 1000,
                    hidden: Sequence[int] = (64, 64), eval_every: int = 20, batch_size: int = 32,
                    seed: int = 1) -> dict:
    r"""Experiment (b): SIP, Adam through the physics and supervised training, each tuned over ``etas``.

    ``etas`` is one sequence of rates for all three methods, or a mapping ``{"SIP": ..., "Adam": ...,
    "supervised": ...}`` of a sequence per method (e.g. the single best rate of a stored sweep).
    Also SIP with the inverse that keeps the unresolved modes at the guess
    (``"SIP (keep)"``, at SIP's tuned rate).  Returns ``{name: Tuned}``.
    """
    methods = {"SIP": "sip", "Adam": "physics", "supervised": "supervised"}
    if isinstance(etas, Mapping):
        missing = sorted(set(methods) - set(etas))
        if missing:
            raise KeyError(f"etas has no rates for {missing}; give a sequence of rates per method "
                           f"{sorted(methods)} or one sequence for all")
        per_method = {name: etas[name] for name in methods}
    else:
        per_method = {name: etas for name in methods}
    sizes = (task.n, *hidden, task.n)
    options = dict(sizes=sizes, iterations=iterations, eval_every=eval_every, batch_size=batch_size, seed=seed)
    out = {name: tune(method, task.physics, task.train, task.test, per_method[name], **options)
           for name, method in methods.items()}
    out["SIP (keep)"] = tune("sip", task.physics_keep, task.train, task.test, (out["SIP"].best_eta,), **options)
    return out


def predictions(task: HeatTask, runs: dict, index: int = 0, hidden: Sequence[int] = (64, 64)) -> dict:
    """The test sample ``index``: true state, observation and every tuned run's prediction."""
    net = MLP((task.n, *hidden, task.n))
    u = task.test.inputs[index]
    out = {"truth": task.test.truth[index], "observation": task.test.targets[index]}
    for name, tuned in runs.items():
        out[name] = net.forward(tuned.best.theta, u)
    return out


def iterations_to_reach(result: TrainingResult, level: float) -> float:
    """The first recorded iteration at which the x-error is at most ``level`` (``inf`` if never).

    >>> from types import SimpleNamespace
    >>> iterations_to_reach(SimpleNamespace(iterations=np.array([0, 10, 20]), x_error=np.array([3.0, 1.0, 0.5])), 1.0)
    10.0
    """
    hits = np.flatnonzero(np.asarray(result.x_error) <= level)
    return float(result.iterations[hits[0]]) if hits.size else math.inf


# --------------------------------------------------------------------------- (c) the caveat
def trajectory_difference(a: TrainingResult, b: TrainingResult) -> float:
    r""":math:`\max_k \|\theta^{(a)}_k - \theta^{(b)}_k\|_\infty` over two runs recorded with ``keep_thetas``."""
    if a.thetas is None or b.thetas is None:
        raise ValueError("both runs need keep_thetas=True")
    if a.thetas.shape != b.thetas.shape:
        raise ValueError(f"the runs have different lengths: {a.thetas.shape} and {b.thetas.shape}")
    return float(np.max(np.abs(a.thetas - b.thetas)))


def caveat(*, iterations: int = 200, eta_nn: float = 3e-3, seed: int = 0) -> dict:
    r"""Experiment (c): the largest parameter difference between SIP and supervised trajectories.

    Same network, start, batches and :math:`\eta_{NN}`; Adam.

    * ``"linear, exact"``: the heat equation with :math:`\nu t = 2\cdot 10^{-4}` (smallest
      gain about 0.13), clean data, exact inverse (cutoff 0), :math:`\eta = 1`: the SIP
      target is the ground truth, the trajectories agree to rounding;
    * ``"linear, regularised"``: the noisy heat task of (b) with its regularised inverse;
    * ``"nonlinear, eta=1"``: the 2-D problem (:math:`\xi = 4`, :math:`\varphi = \pi/8`),
      exact local inverse, :math:`\eta = 1`;
    * ``"nonlinear, eta=0.5"``: the same with :math:`\eta = 1/2`.
    """
    out = {}

    def pair(physics, train_data, test_data, sizes, eta=1.0):
        options = dict(sizes=sizes, iterations=iterations, keep_thetas=True, seed=seed + 1)
        sip = run("sip", physics, train_data, test_data, eta_nn, eta=eta, **options)
        sup = run("supervised", physics, train_data, test_data, eta_nn, **options)
        return trajectory_difference(sip, sup)

    clean = heat_task(32, 2e-4, noise=0.0, samples=128, test=32, seed=seed)
    exact = heat_physics(32, 2e-4, cutoff=0.0)
    out["linear, exact"] = pair(exact, clean.train, clean.test, (32, 32, 32))
    noisy = heat_task(32, 2e-3, noise=1e-3, samples=128, test=32, seed=seed)
    out["linear, regularised"] = pair(noisy.physics, noisy.train, noisy.test, (32, 32, 32))
    sine = sine_setup(4.0, np.pi / 8, samples=128, test=32, seed=seed)
    out["nonlinear, eta=1"] = pair(sine.physics, sine.train, sine.test, SINE_SIZES)
    out["nonlinear, eta=0.5"] = pair(sine.physics, sine.train, sine.test, SINE_SIZES, eta=0.5)
    return out


# --------------------------------------------------------------------------- exercises
def _linear_task(seed: int):
    """The clean, well-conditioned heat task (n = 16, nu t = 2e-4) with its exact inverse."""
    task = heat_task(16, 2e-4, noise=0.0, samples=64, test=16, seed=seed)
    return task, heat_physics(16, 2e-4, cutoff=0.0)


def effective_rate(eta: float = 0.5, eta_nn: float = 0.2, *, iterations: int = 50, seed: int = 0) -> dict:
    r"""With linear :math:`P`, an exact inverse and plain gradient descent, SIP is supervised
    training with the rate :math:`\eta_{\rm eff} = \eta\,\eta_{NN}`.

    Runs SIP (:math:`\eta`, :math:`\eta_{NN}`, GD) and supervised GD with rate
    :math:`\eta\,\eta_{NN}` on the clean, well-conditioned heat task and returns
    ``eta_eff`` and the largest parameter difference of the two trajectories.
    """
    eta = check_positive(eta, "eta")
    eta_nn = check_positive(eta_nn, "eta_nn")
    task, exact = _linear_task(seed)
    options = dict(sizes=(16, 16, 16), iterations=iterations, optimizer="gd", keep_thetas=True, seed=seed + 1,
                   batch_size=16)
    sip = run("sip", exact, task.train, task.test, eta_nn, eta=eta, **options)
    sup = run("supervised", exact, task.train, task.test, eta * eta_nn, **options)
    return {"eta_eff": eta * eta_nn, "max_difference": trajectory_difference(sip, sup), "sip": sip, "supervised": sup}


def exercise_adam_eta(eta: float = 0.25, eta_nn: float = 3e-3, *, iterations: int = 100, seed: int = 0) -> dict:
    r"""Exercise 1: with Adam instead of gradient descent, what does :math:`\eta` do (linear :math:`P`, exact inverse)?

    The proxy gradient is :math:`\eta` times the supervised one; Adam divides by the
    root of its second moment, so :math:`\eta` cancels except where :math:`\epsilon`
    is comparable with :math:`\sqrt{\hat v}`.  Returns the largest parameter difference
    between SIP with this :math:`\eta` and supervised Adam (same :math:`\eta_{NN}`),
    the same for :math:`\eta = 1`, and the largest parameter change of the run for scale.
    """
    eta = check_positive(eta, "eta")
    task, exact = _linear_task(seed)
    options = dict(sizes=(16, 16, 16), iterations=iterations, keep_thetas=True, seed=seed + 1, batch_size=16)
    sup = run("supervised", exact, task.train, task.test, eta_nn, **options)
    sip = run("sip", exact, task.train, task.test, eta_nn, eta=eta, **options)
    sip_one = run("sip", exact, task.train, task.test, eta_nn, eta=1.0, **options)
    return {"max_difference": trajectory_difference(sip, sup),
            "max_difference_eta_1": trajectory_difference(sip_one, sup),
            "max_change": float(np.max(np.abs(sup.thetas - sup.thetas[0]))),
            "sip": sip, "supervised": sup}


def exercise_conditioning(xi: float, phi: float, x=(0.0, 0.0)) -> dict:
    r"""Exercise 2: the condition number of :math:`J` of the 2-D problem, before and after
    the best *diagonal* rescaling of :math:`x` that Adam could emulate.

    ``"J"``: :math:`\kappa(J) = \sigma_{\max}/\sigma_{\min} = \xi^2/|\cos\hat x_1|` whatever
    :math:`\varphi` (a rotation does not change singular values);
    ``"J D"``: :math:`\kappa(J D)` with :math:`D` scaling every column of :math:`J` to unit
    norm (Jacobi scaling): 1 for :math:`\varphi = 0`, still :math:`\xi^2` for
    :math:`\varphi = \pi/4` at :math:`x = 0`.
    """
    x = np.asarray(x, dtype=float)
    problem = rotated_sine_problem(xi, phi, np.zeros(2))
    J = problem.jacobian_at(x)
    D = np.diag(1.0 / np.linalg.norm(J, axis=0))
    return {"J": float(np.linalg.cond(J)), "J D": float(np.linalg.cond(J @ D))}


# --------------------------------------------------------------------------- figures
def plot_sweep(axes, rows: list) -> None:
    r"""Final x-error (left) and loss :math:`L` (right) of SIP and Adam against :math:`\xi`, one line style per :math:`\varphi`.

    ``rows`` come from :func:`sine_sweep` or :func:`bench_sweep` (medians over seeds).
    """
    from ..plots import color_of

    rows = _summary_rows(rows)
    phis = sorted({row["phi"] for row in rows})
    styles = ["-", "--", ":", "-."]
    for j, phi in enumerate(phis):
        sub = sorted((row for row in rows if row["phi"] == phi), key=lambda row: row["xi"])
        xis = [row["xi"] for row in sub]
        for name, marker in (("SIP", "o"), ("Adam", "v")):
            x_err = [row[name]["x_error"] for row in sub]
            y_err = [row[name]["loss"] for row in sub]
            label = rf"{name}, $\varphi$ = {phi:.3f}"
            axes[0].loglog(xis, x_err, styles[j % 4], marker=marker, color=color_of(name), label=label)
            axes[1].loglog(xis, y_err, styles[j % 4], marker=marker, color=color_of(name), label=label)
    axes[0].set_ylabel("final x-error (test set)")
    axes[1].set_ylabel(r"best final loss $L$")
    for ax in axes:
        ax.set_xlabel(r"conditioning $\xi$")
    axes[0].legend(fontsize=8)


def plot_heat(axes, runs: dict) -> None:
    """x-error (left) and y-error (right) on the test set against iterations for each tuned run."""
    from ..plots import color_of

    styles = {"SIP (keep)": ":"}
    colors = {"SIP (keep)": color_of("SIP")}
    for name, tuned in runs.items():
        r = tuned.best
        style = styles.get(name, "-")
        color = colors.get(name, color_of(name))
        label = f"{name} ($\\eta_{{NN}}$ = {tuned.best_eta:g})"
        axes[0].semilogy(r.iterations, r.x_error, style, color=color, label=label)
        axes[1].semilogy(r.iterations, r.y_error, style, color=color, label=label)
    axes[0].set_ylabel("x-error (test set)")
    axes[1].set_ylabel("y-error $L$ (test set)")
    for ax in axes:
        ax.set_xlabel("iteration")
    axes[0].legend(fontsize=8)
