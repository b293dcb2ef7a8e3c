r"""The side-by-side comparison of the chapter *Discussion*: Adam, Gauss-Newton, HIG and SIP.

Three problems, built from :mod:`companion.tasks` (:func:`setup`):

* ``"toy"``: :math:`(\sin 6x, \cos 9x)` seen through :math:`(f_1, \lambda f_2)`, :math:`\lambda = 0.01`;
  SIP uses the exact inverse :math:`(y_1, y_2/\lambda)` (:func:`companion.tasks.toy_sip_physics`);
* ``"sine"``: the SIP paper's rotated sine :math:`P(x) = (\sin(\hat x_1)/\xi,\ \xi \hat x_2)`; SIP uses
  its branch-wise inverse (:func:`companion.training.rotated_sine_physics`); a ground truth
  :math:`x` exists, so the x-error is measured as well as the y-loss;
* ``"oscillators"``: the return-to-start control of two coupled oscillators through RK4; SIP uses
  the per-sample pseudo-inverse of the physics Jacobian :math:`J = \partial s_T/\partial u` as its
  local inverse, :math:`\tilde x = x + J^{+}\Delta y` (:func:`sip_through_pseudo_inverse`).

The evidence standard of :mod:`companion.evidence` is applied to each (:func:`compare`):
every method's rate is swept over a log grid, widened until the best median **validation**
y-loss over the seeds lies strictly inside; the selected rate is re-run per seed until both the
iteration budget and the wall-clock budget are used (the wall-clock budget is the time the
slowest method needs for the iteration budget); the **test** metric is reported at both budgets,
with per-seed curves. Training, validation and test data are three different samples.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from . import evidence, hig, linalg, tasks, training
from ._checks import check_int

__all__ = ["SEEDS", "VALIDATION_SEED", "TEST_SEED", "PROBLEMS", "METHODS", "DISPLAY", "PUBLISHED", "DEPARTURES",
           "Split", "Setup", "Run", "setup", "sip_through_pseudo_inverse", "train_one", "y_loss", "x_error",
           "sweep", "compare", "run", "plot", "load", "stored_method", "live_check"]

#: Seeds of the network initialisation and of the mini-batch order (one run per seed).
SEEDS = (0, 1, 2, 3, 4)

#: Data seeds of the validation and the test samples (the training samples use seed 0 or a fixed grid).
VALIDATION_SEED, TEST_SEED = 101, 202

#: The methods in the order of the tables.
METHODS = ("adam", "gn", "hig", "sip")
DISPLAY = {"adam": "Adam", "gn": "Gauss-Newton", "hig": "HIG", "sip": "SIP"}

#: Settings per problem (sizes, batch, truncation tau of GN/HIG, iteration budget, rate grids to start from).
PROBLEMS = {
    "toy": {"lam": 0.01, "samples": 256, "batch_size": 64, "tau": 1e-4, "iterations": 800,
            "grids": {"adam": (0.01, 0.03, 0.1), "gn": (0.01, 0.03, 0.1), "hig": (0.01, 0.03, 0.1),
                      "sip": (0.001, 0.003, 0.01)}},
    "sine": {"xi": 8.0, "phi": math.pi / 4, "sizes": (2, 8, 8, 2), "samples": 256, "batch_size": 32, "tau": 1e-4,
             "iterations": 800,
             "grids": {"adam": (0.01, 0.03, 0.1), "gn": (0.1, 0.3, 1.0), "hig": (0.03, 0.1, 0.3),
                       "sip": (0.01, 0.03, 0.1)}},
    "oscillators": {"samples": 64, "batch_size": 16, "tau": 1e-4, "iterations": 150,
                    "grids": {"adam": (0.03, 0.1, 0.3), "gn": (0.01, 0.03, 0.1), "hig": (0.1, 0.3, 1.0),
                              "sip": (0.01, 0.03, 0.1)}},
}

#: Quick settings (tests, ``--quick``): the toy only, a short budget, three seeds.
QUICK = {"problems": ("toy",), "iterations": 100, "seeds": (0, 1, 2)}

#: The outcome the published papers report for each problem (what ours is compared with).
PUBLISHED = {
    "toy": ("HIG paper (schnell2022hig), toy (sin 6x, cos 9x) with lambda = 0.01: Adam and Gauss-Newton stall at "
            "losses of order 0.2-0.5 while HIG reaches about 1e-3; SIP was not run on it."),
    "sine": ("SIP paper (holl2022sip), 2-D rotated sine: Adam's accuracy degrades by orders of magnitude as xi and "
             "phi grow while SIP's stays about flat; one SIP iteration costs about three Adam iterations. "
             "Gauss-Newton and HIG were not run on it."),
    "oscillators": ("HIG paper (schnell2022hig), coupled nonlinear oscillators: HIG trains fastest and Gauss-Newton "
                    "fails once the coupling is nonlinear. No published SIP result exists for this problem."),
}

#: How our set-ups depart from the published ones.
DEPARTURES = {
    "toy": ["one hidden layer of 7 tanh units as published; 256 equally spaced training points, batches of 64, "
            "tau = 1e-4 for Gauss-Newton and HIG",
            "SIP added (exact inverse (y1, y2/lambda)); with eta = 1 it is supervised training on (t1, t2/lambda)"],
    "sine": ["one setting xi = 8, phi = pi/4 instead of a sweep over xi and phi",
             "network 2-8-8-2 with tanh, 256 training samples, batches of 32",
             "Gauss-Newton and HIG added (per-sample Jacobians of network and physics, tau = 1e-4)"],
    "oscillators": ["10 RK4 steps of 0.2 instead of 96 steps of 0.125, no control gain, 64 training states, "
                    "batches of 16 for every method",
                    "SIP added, with the per-sample pseudo-inverse x + J^+ dy of the physics Jacobian as local "
                    "inverse (not in either paper)"],
}


@dataclass(frozen=True)
class Split:
    """One data set: network inputs, targets :math:`y^*` and, where it exists, the true :math:`x`."""

    inputs: np.ndarray
    targets: np.ndarray
    truth: Optional[np.ndarray] = None


@dataclass(frozen=True)
class Setup:
    """A problem of the comparison: model (network + physics), three data sets, and how SIP runs on it.

    ``sip`` is ``("inverse", physics, dataset)`` for :func:`companion.training.train` with an
    analytic local inverse, or ``("pseudo-inverse", model)`` for Adam through
    :func:`sip_through_pseudo_inverse`.
    """

    name: str
    model: hig.ThroughPhysics
    train: Split
    validation: Split
    test: Split
    sip: tuple
    settings: dict


def sip_through_pseudo_inverse(model: hig.ThroughPhysics, *, rtol: float = 1e-10) -> hig.ThroughPhysics:
    r"""SIP with the local inverse :math:`\tilde x = x + J^{+} \Delta y`, as a model for Adam in :func:`companion.hig.train`.

    SIP takes an optimiser step on the proxy loss :math:`\frac1B\sum_i \tfrac12|f_i - \tilde x_i|^2`
    with :math:`\tilde x_i` held constant. With :math:`\Delta y_i = y^*_i - y_i` (:math:`\eta = 1`, L2 loss)
    and :math:`\tilde x_i = x_i + J_i^{+}\Delta y_i` its gradient is

    .. math::
        \frac1B \sum_i \Big(\frac{\partial f_i}{\partial\theta}\Big)^{\!\top} J_i^{+} (y_i - y^*_i),

    the chain rule of Adam through the physics with :math:`J_i^\top` replaced by :math:`J_i^{+}`.
    The returned model has the same forward pass (so the reported loss is the true y-loss)
    and the Jacobian :math:`(J_i^{+})^\top` in place of :math:`J_i`; use it with ``method="adam"`` only.
    """
    def physics_jacobian(outputs, inputs):
        y, jac = model.physics_jacobian(outputs, inputs)
        inverse = np.stack([linalg.pinv(j, rtol=rtol, name="the physics Jacobian") for j in jac])
        return y, np.swapaxes(inverse, 1, 2)

    return hig.ThroughPhysics(model.network, model.physics, physics_jacobian, name=f"SIP (J+) on {model.name}")


def _oscillator_split(samples: int, seed: int) -> Split:
    states = tasks.oscillator_data(samples, seed)
    return Split(states, states)


def setup(name: str) -> Setup:
    """The problem ``name`` (``"toy"``, ``"sine"`` or ``"oscillators"``) with its training, validation and test data."""
    if name not in PROBLEMS:
        raise ValueError(f"problem must be one of {list(PROBLEMS)}, got {name!r}")
    settings = PROBLEMS[name]
    n = settings["samples"]
    if name == "toy":
        lam = settings["lam"]
        model = tasks.toy_model(lam)
        splits = [tasks.toy_data(n)] + [tasks.toy_data(n, rng=s) for s in (VALIDATION_SEED, TEST_SEED)]
        train, validation, test = (Split(x, t) for x, t in splits)  # x-error: the 2-D problem only
        sip = ("inverse", tasks.toy_sip_physics(lam), training.Dataset(train.inputs, train.targets))
    elif name == "sine":
        physics = training.rotated_sine_physics(settings["xi"], settings["phi"])
        model = tasks.sine_model(settings["xi"], settings["phi"], settings["sizes"])
        data, normalise = training.make_dataset(physics, np.random.default_rng(0).uniform(-1.0, 1.0, (n, 2)))

        def split(seed):
            truth = np.random.default_rng(seed).uniform(-1.0, 1.0, (n, 2))
            targets = physics.apply(truth)
            return Split(normalise(targets), targets, truth)

        train, validation, test = Split(data.inputs, data.targets, data.truth), split(VALIDATION_SEED), split(TEST_SEED)
        sip = ("inverse", physics, data)
    else:
        model = tasks.oscillator_model()
        train, validation, test = (_oscillator_split(n, s) for s in (0, VALIDATION_SEED, TEST_SEED))
        sip = ("pseudo-inverse", sip_through_pseudo_inverse(model))
    return Setup(name, model, train, validation, test, sip, dict(settings))


# --------------------------------------------------------------------------- metrics
def y_loss(model: hig.ThroughPhysics, theta, split: Split) -> float:
    r"""The mean loss :math:`\frac1n\sum_i \tfrac12|P(f(u_i;\theta)) - y^*_i|^2` on ``split`` (NaN if not finite)."""
    with np.errstate(all="ignore"):
        value = 0.5 * np.mean(np.sum((model.forward(theta, split.inputs) - split.targets) ** 2, axis=1))
    return float(value) if np.isfinite(value) else float("nan")


def x_error(model: hig.ThroughPhysics, theta, split: Split) -> float:
    r"""The mean state error :math:`\frac1n\sum_i \tfrac12|f(u_i;\theta) - x_i|^2` on ``split`` (NaN without truth)."""
    if split.truth is None:
        return float("nan")
    with np.errstate(all="ignore"):
        value = 0.5 * np.mean(np.sum((model.network.forward(theta, split.inputs) - split.truth) ** 2, axis=1))
    return float(value) if np.isfinite(value) else float("nan")


# --------------------------------------------------------------------------- one run
@dataclass(frozen=True)
class Run:
    """One training run: parameters at the evaluation points, their iterations and training seconds."""

    method: str
    eta: float
    seed: int
    iterations: np.ndarray
    seconds: np.ndarray
    thetas: np.ndarray
    status: str

    def theta_at(self, iteration: int) -> Optional[np.ndarray]:
        """The parameters after ``iteration`` steps (``None`` if the run stopped before)."""
        where = np.flatnonzero(self.iterations == iteration)
        return self.thetas[where[0]] if where.size else None

    @property
    def seconds_per_step(self) -> float:
        return float(self.seconds[-1] / max(self.iterations[-1], 1))


def train_one(problem: Setup, method: str, eta: float, seed: int, *, steps: int, eval_every: int) -> Run:
    """Train ``method`` at rate ``eta`` from the seed's initial parameters and batch order for ``steps`` steps.

    Adam, Gauss-Newton and HIG go through :func:`companion.hig.train`; SIP through
    :func:`companion.training.train` (analytic inverse) or Adam on :func:`sip_through_pseudo_inverse`.
    The parameters are kept at every ``eval_every`` steps (and the last).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    steps = check_int(steps, "steps", minimum=1)
    theta0 = problem.model.init(np.random.default_rng(seed))
    options = {"batch_size": problem.settings["batch_size"], "eval_every": eval_every}
    with hig.one_blas_thread():
        if method == "sip" and problem.sip[0] == "inverse":
            _, physics, data = problem.sip
            result = training.train("sip", problem.model.network, theta0, physics, data, iterations=steps,
                                    rng=np.random.default_rng(seed), eta_nn=float(eta), keep_thetas=True, **options)
            iterations = result.iterations
            return Run(method, float(eta), seed, iterations, result.time, result.thetas[iterations],
                       result.status_name)
        model, rule = (problem.sip[1], "adam") if method == "sip" else (problem.model, method)
        result = hig.train(model, theta0, problem.train.inputs, problem.train.targets, method=rule, eta=float(eta),
                           steps=steps, tau=problem.settings["tau"], rng=seed, keep_params=True, **options)
    return Run(method, float(eta), seed, result.iterations, result.times, result.thetas, result.status_name)


# --------------------------------------------------------------------------- the sweep
def _validation_at(problem: Setup, run: Run, iteration: int) -> float:
    theta = run.theta_at(iteration)
    return float("nan") if theta is None else y_loss(problem.model, theta, problem.validation)


def sweep(problem: Setup, method: str, grid: Sequence[float], seeds: Sequence[int], *, iterations: int,
          eval_every: int, max_extensions: int = 4, log: Optional[Callable[[str], None]] = None) -> tuple:
    """Validation y-loss per rate and seed at ``iterations``, on a log grid widened until the best is inside.

    Starts with ``grid`` (at least three rates, a constant ratio); while the rate with the lowest
    median validation loss (:func:`companion.evidence.select`) is the smallest or largest, one more
    rate a grid step beyond it is added (at most ``max_extensions`` times).
    Returns ``(hyperparameter record, {rate: [Run per seed]})``.
    """
    grid = sorted(float(g) for g in grid)
    if len(grid) < 3:
        raise ValueError(f"grid must hold at least three rates so that the best can be inside, got {grid}")
    ratio = grid[1] / grid[0]
    runs = {}

    def measure(eta):
        runs[eta] = [train_one(problem, method, eta, s, steps=iterations, eval_every=eval_every) for s in seeds]

    for eta in grid:
        measure(eta)
    for _ in range(max_extensions + 1):
        scores = [[_validation_at(problem, r, iterations) for r in runs[eta]] for eta in grid]
        best = grid[evidence.select(grid, scores)]
        if evidence.is_interior(grid, best) or _ == max_extensions:
            break
        new = float(f"{(best / ratio if best == grid[0] else best * ratio):.6g}")
        if log:
            log(f"discussion: {problem.name} / {method}: best rate {best:g} at the edge of {grid}; adding {new:g}")
        measure(new)
        grid = sorted(grid + [new])
    record = evidence.hyperparameter("eta", grid, scores, seeds=seeds)
    return record, runs


def _final_run(problem: Setup, method: str, eta: float, seed: int, *, iterations: int, seconds: float,
               eval_every: int, seconds_per_step: float) -> Run:
    """The selected rate, run until both the iteration and the wall-clock budget are used (or it stopped)."""
    steps = max(iterations, int(math.ceil(1.15 * seconds / max(seconds_per_step, 1e-9))))
    for _ in range(5):
        steps = int(math.ceil(steps / eval_every) * eval_every)
        run = train_one(problem, method, eta, seed, steps=steps, eval_every=eval_every)
        if run.seconds[-1] >= seconds or run.status != "max_steps":
            return run
        steps = int(steps * max(1.5, 1.2 * seconds / max(run.seconds[-1], 1e-9)))
    return run


def _curve_values(problem: Setup, run: Run, metric: str) -> list:
    function = y_loss if metric == "y" else x_error
    return [function(problem.model, theta, problem.test) for theta in run.thetas]


def compare(name: str, *, seeds: Sequence[int] = SEEDS, iterations: Optional[int] = None,
            log: Optional[Callable[[str], None]] = None) -> dict:
    """All four methods on problem ``name`` under the evidence standard; returns ``{"records", "settings"}``.

    ``records`` holds one :func:`companion.evidence.comparison` for the test y-loss and, where a
    ground truth exists (``"sine"``), one for the test x-error of the same runs
    (rates selected by the validation y-loss in both).
    """
    problem = setup(name)
    iterations = check_int(iterations or problem.settings["iterations"], "iterations", minimum=10)
    eval_every = max(1, iterations // 50)
    iterations = eval_every * (iterations // eval_every)
    swept, seconds_at_budget = {}, {}
    for method in METHODS:
        start = time.perf_counter()
        record, runs = sweep(problem, method, problem.settings["grids"][method], seeds, iterations=iterations,
                             eval_every=eval_every, log=log)
        chosen = runs[record["best"]]
        swept[method] = (record, chosen)
        seconds_at_budget[method] = float(np.median([r.seconds[-1] for r in chosen]))
        if log:
            log(f"discussion: {name} / {method}: eta = {record['best']:g} on {record['grid']} "
                f"({time.perf_counter() - start:.1f} s)")
    budget_seconds = max(seconds_at_budget.values())
    budget = {"iterations": iterations, "seconds": budget_seconds}
    metrics = ["y", "x"] if problem.test.truth is not None else ["y"]
    methods = {m: [] for m in metrics}
    for method, (record, chosen) in swept.items():
        finals = [_final_run(problem, method, record["best"], s, iterations=iterations, seconds=budget_seconds,
                             eval_every=eval_every, seconds_per_step=r.seconds_per_step)
                  for s, r in zip(seeds, chosen)]
        for metric in metrics:
            values = [_curve_values(problem, r, metric) for r in finals]
            at_budget = [v[int(np.flatnonzero(r.iterations == iterations)[0])] if np.any(r.iterations == iterations)
                         else None for r, v in zip(finals, values)]
            curves = [evidence.curve(r.iterations, r.seconds, v) for r, v in zip(finals, values)]
            methods[metric].append(evidence.method(
                DISPLAY[method], seeds=seeds, test=at_budget, hyperparameters=[record], curves=curves,
                statuses=["max_steps" if r.status == "max_steps" else r.status for r in finals],
                settings={"key": method, "batch_size": problem.settings["batch_size"],
                          "tau": problem.settings["tau"] if method in ("gn", "hig") else None,
                          "seconds_per_step": [r.seconds_per_step for r in finals],
                          "steps_run": [int(r.iterations[-1]) for r in finals],
                          "local_inverse": None if method != "sip" else problem.sip[0]},
                note="rate selected by the median validation y-loss at the iteration budget"))
    data = {"y": "mean 1/2 |P(f(u)) - y*|^2", "x": "mean 1/2 |f(u) - x_true|^2"}
    records = {}
    for metric in metrics:
        key = "y_loss" if metric == "y" else "x_error"
        records[key] = evidence.comparison(
            f"discussion / {name} / test {key.replace('_', '-')}", metric=f"test {data[metric]}",
            validation=f"{len(problem.validation.inputs)} samples drawn with seed {VALIDATION_SEED} "
                       f"(selection by the y-loss)",
            test=f"{len(problem.test.inputs)} samples drawn with seed {TEST_SEED}", budget=budget,
            methods=methods[metric], published=PUBLISHED[name], departures=DEPARTURES[name],
            note="training data: a third sample; wall-clock budget: the slowest method's median time for the "
                 "iteration budget; every run continues until both budgets are used")
    return {"records": records, "settings": dict(problem.settings, eval_every=eval_every, iterations=iterations,
                                                  seeds=list(seeds))}


# --------------------------------------------------------------------------- the part of companion.bench
def run(quick: bool = False, log: Optional[Callable[[str], None]] = None) -> tuple[dict, dict]:
    """Every problem (the toy only with ``quick``); returns ``(settings, results)`` for the JSON document."""
    problems = QUICK["problems"] if quick else tuple(PROBLEMS)
    seeds = QUICK["seeds"] if quick else SEEDS
    results, settings = {}, {"problems": list(problems), "seeds": list(seeds), "quick": bool(quick),
                             "validation_seed": VALIDATION_SEED, "test_seed": TEST_SEED}
    for name in problems:
        outcome = compare(name, seeds=seeds, iterations=QUICK["iterations"] if quick else None, log=log)
        results[name] = outcome["records"]
        settings[name] = outcome["settings"]
    return settings, results


def _without_time_zero(record: dict) -> dict:
    """The method record with the start point (0 s) of every curve left out, for a logarithmic time axis.

    (:func:`companion.evidence.plot_bands` starts its time grid at the smallest positive start
    or end of the curves; with the 0-s start points that is the shortest run's end.)
    """
    curves = [{key: values[1:] for key, values in c.items()} if c["seconds"][0] == 0 and len(c["seconds"]) > 1
              else c for c in record["curves"]]
    return dict(record, curves=curves)


def plot(document: dict, path: Optional[str] = None, figure=None):
    """Per-seed test curves with median and min-max band against iterations (top) and seconds (bottom).

    The dotted line marks the budget; the iteration panels stop at 1.25 times the iteration budget.
    """
    if figure is None:
        from matplotlib.figure import Figure

        figure = Figure(figsize=(12, 6))
    panels = [(name, key, record) for name, records in document["results"].items() for key, record in records.items()]
    axes = figure.subplots(2, len(panels), squeeze=False)
    for column, (name, key, record) in enumerate(panels):
        for row, axis in enumerate(("iterations", "seconds")):
            ax = axes[row][column]
            for m in record["methods"]:
                evidence.plot_bands(ax, m if axis == "iterations" else _without_time_zero(m), axis=axis)
            ax.set_yscale("log")
            ax.set_xscale("log" if axis == "seconds" else "linear")
            if axis == "iterations":  # the runs go on to the wall-clock budget; that part is in the lower row
                ax.set_xlim(0, 1.25 * record["budget"]["iterations"])
            ax.axvline(record["budget"][axis], color="k", lw=0.8, ls=":")
            ax.set_xlabel(axis if axis == "iterations" else "training seconds")
            if row == 0:
                ax.set_title(f"{name}: test {key.replace('_', '-')}", fontsize=10)
        axes[0][column].legend(fontsize=7)
    figure.tight_layout()
    if path is not None:
        figure.savefig(path)
    return figure


def load(path) -> dict:
    """The document that ``python -m companion.bench discussion`` wrote, with every problem present.

    Raises ``FileNotFoundError`` or ``ValueError`` naming the command that (re)writes it.
    """
    from .bench import DISCUSSION_SCHEMA, load_document

    document = load_document(path, schema=DISCUSSION_SCHEMA, what="discussion", command="companion.bench discussion")
    missing = sorted(set(PROBLEMS) - set(document["results"]))
    if missing:
        raise ValueError(f"{path} lacks the problems {missing}; run `python -m companion.bench discussion "
                         f"--out bench_results` in the repository")
    return document


def stored_method(document: dict, problem: str, method: str, metric: str = "y_loss") -> dict:
    """The stored method record (``method`` a key of :data:`METHODS`) of ``problem`` and ``metric``."""
    for m in document["results"][problem][metric]["methods"]:
        if m["settings"]["key"] == method:
            return m
    raise KeyError(f"no method {method!r} stored for {problem!r} / {metric!r}")


def live_check(document: dict, problem: str, method: str, seed: int = 0) -> dict:
    """Re-run one stored configuration (``seed``, selected rate, iteration budget) and compare test values."""
    stored = stored_method(document, problem, method)
    eta = stored["hyperparameters"][0]["best"]
    iterations = document["settings"][problem]["iterations"]
    eval_every = document["settings"][problem]["eval_every"]
    p = setup(problem)
    r = train_one(p, method, eta, seed, steps=iterations, eval_every=eval_every)
    theta = r.theta_at(iterations)
    live = {"y_loss": y_loss(p.model, theta, p.test), "x_error": x_error(p.model, theta, p.test)}
    index = stored["seeds"].index(seed)
    expected = {"y_loss": stored["test"][index]}
    if "x_error" in document["results"][problem]:
        expected["x_error"] = stored_method(document, problem, method, "x_error")["test"][index]
    return {"eta": eta, "iterations": iterations, "live": live, "stored": expected}
