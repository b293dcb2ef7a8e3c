r"""The computations of the chapter *Half-inverse gradients*.

The rules themselves live in :mod:`companion.hig`; this module sets up the
chapter's experiments and returns their numbers:

* the one-parameter family :math:`\Delta\theta = -\eta\, V S^\kappa U^\top g`
  checked against :math:`A^\top g` and least squares (:func:`family_steps`);
* why the per-sample Jacobians are *stacked* (:func:`stacked_vs_per_sample`);
* truncation: dropped, not clamped (:func:`dropped_vs_clamped`), and what
  happens without it (:func:`truncation_effect`);
* the cost of one step against the size of the stacked Jacobian
  (:func:`step_cost`, :func:`fit_cost`);
* the toy :math:`(\sin 6x, \cos 9x)` with the output scale :math:`\lambda`
  (:func:`toy_comparison`, :func:`saturation`);
* two coupled oscillators controlled through RK4 (:func:`oscillator_comparison`);
* HIG's sensitivity to the truncation and the batch size (:func:`tau_batch_grid`);
* the answers of the exercises (:func:`output_step_ratios`, :func:`hig_step_gram`).

Every comparison gives each method its best step size from a sweep over the
same grid, the same initial parameters, data, mini-batches and budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Dict, Optional, Sequence

import numpy as np

from .. import hig, nn
from .._checks import check_fraction, check_int, check_positive
from ..physics import coupled_oscillators as co

__all__ = [
    "TOY",
    "TOY_ETAS",
    "OSC",
    "OSC_ETAS",
    "SATURATION_THRESHOLD",
    "Sweep",
    "sweep",
    "sweep_to_dict",
    "best_of_stored",
    "HIG_CHAPTER",
    "hig_chapter_runs",
    "load_hig_chapter",
    "family_steps",
    "toy_data",
    "toy_model",
    "toy_theta0",
    "toy_comparison",
    "hidden_activations",
    "saturation",
    "saturation_history",
    "stacked_vs_per_sample",
    "dropped_vs_clamped",
    "truncation_effect",
    "step_cost",
    "fit_cost",
    "oscillator_model",
    "oscillator_data",
    "oscillator_comparison",
    "tau_batch_grid",
    "output_step_ratios",
    "hig_step_gram",
    "summary_rows",
    "discussion_single",
    "method_run_to_dict",
    "method_run_from_dict",
    "discussion_to_document",
    "discussion_from_document",
    "load_discussion",
    "plot_discussion",
    "DISCUSSION",
    "MethodRun",
    "REQUIREMENTS",
    "sip_available",
    "toy_sip",
    "sine_model",
    "discussion_runs",
    "discussion_table",
    "svd_work",
    "toy_sip_equals_supervised",
]

#: The toy's set-up: data points on [-1, 1], network widths, batch, budget, truncation and seeds.
TOY = {"n": 256, "sizes": (1, 7, 2), "batch_size": 64, "steps": 400, "tau": 1e-4, "seed": 0,
       "batch_seed": 1, "eval_every": 10}

#: Step-size grids of the toy's sweeps (one per method).
TOY_ETAS = {"adam": (0.03, 0.1, 0.3, 1.0, 3.0), "gn": (0.01, 0.03, 0.1, 0.3), "hig": (0.03, 0.1, 0.3, 1.0)}

#: The oscillators' set-up: T control steps of size dt, springs, network, data and budget.
OSC = {"T": 10, "dt": 0.2, "omega": 1.0, "coupling": 0.5, "cubic": 1.0, "hidden": 32, "n": 64,
       "batch_size": 16, "steps": 100, "tau": 1e-4, "seed": 0, "batch_seed": 1, "eval_every": 5}

#: Step-size grids of the oscillators' sweeps.
OSC_ETAS = {"adam": (0.03, 0.1, 0.3), "gn": (0.01, 0.03, 0.1), "hig": (0.1, 0.3, 1.0)}

#: A hidden unit counts as saturated on a sample when :math:`|\tanh z| > 0.99`.
SATURATION_THRESHOLD = 0.99


# --------------------------------------------------------------------------- sweeps
@dataclass(frozen=True)
class Sweep:
    """All runs of one method over a step-size grid and the best of them (lowest final finite loss)."""

    method: str
    etas: tuple
    results: tuple
    best_eta: float
    best: hig.TrainResult
    stored_table: tuple = ()  # rows of a stored sweep of which only the best rate was re-run

    def table(self) -> list:
        """Rows ``(eta, final loss, status name)`` (of the stored sweep, if the sweep was re-run from one)."""
        if self.stored_table:
            return [tuple(row) for row in self.stored_table]
        return [(float(e), r.fun, r.status_name) for e, r in zip(self.etas, self.results)]


def sweep(model, theta0, inputs, targets, method: str, etas: Sequence[float], **options) -> Sweep:
    """Train with every ``eta`` from the same start, data and batches; keep the lowest final loss.

    ``options`` go to :func:`companion.hig.train` (``rng`` should be a seed so
    that every run sees the same mini-batches).  Runs with one BLAS thread.
    """
    etas = tuple(float(e) for e in etas)
    if not etas:
        raise ValueError("etas must not be empty")
    results = []
    with hig.one_blas_thread():
        for eta in etas:
            results.append(hig.train(model, theta0, inputs, targets, method=method, eta=eta, **options))
    finals = [r.fun if np.isfinite(r.fun) else np.inf for r in results]
    best = int(np.argmin(finals))
    return Sweep(method, etas, tuple(results), etas[best], results[best])


def sweep_to_dict(result: Sweep) -> dict:
    """A :class:`Sweep` as a JSON-ready record: its method, grid, table and best rate (not the runs)."""
    return {"method": result.method, "etas": [float(e) for e in result.etas], "best_eta": float(result.best_eta),
            "table": [[float(e), float(f), status] for e, f, status in result.table()]}


def best_of_stored(model, theta0, inputs, targets, method: str, stored: dict, **options) -> Sweep:
    """Re-run only the best rate of a stored sweep (:func:`sweep_to_dict`); the other rates' rows come from ``stored``.

    With the options of the stored sweep the run is the stored best run; :meth:`Sweep.table`
    returns the stored rows.  ``options`` go to :func:`companion.hig.train`.
    """
    if stored.get("method") != method:
        raise ValueError(f"the stored sweep is of method {stored.get('method')!r}, not {method!r}")
    best_eta = float(stored["best_eta"])
    with hig.one_blas_thread():
        best = hig.train(model, theta0, inputs, targets, method=method, eta=best_eta, **options)
    table = tuple((float(e), float("nan") if f is None else float(f), status) for e, f, status in stored["table"])
    return Sweep(method, tuple(float(e) for e in stored["etas"]), (best,), best_eta, best, table)


def _sweep_or_replay(model, theta0, inputs, targets, method, etas, stored, **options) -> Sweep:
    if stored is None:
        return sweep(model, theta0, inputs, targets, method, etas, **options)
    if method not in stored:
        raise KeyError(f"stored has no sweep of {method!r}; it holds {sorted(stored)}")
    return best_of_stored(model, theta0, inputs, targets, method, stored[method], **options)


# --------------------------------------------------------------------------- the family
def family_steps(jacobian, grad_y, *, eta: float = 1.0, tau: float = 1e-12) -> Dict[str, np.ndarray]:
    r"""The steps :math:`-\eta A^\kappa g` for GD (:math:`\kappa=1`), HIG (:math:`-1/2`), GN (:math:`-1`).

    >>> steps = family_steps(np.diag([4.0, 0.25]), [1.0, 1.0])
    >>> {k: v.tolist() for k, v in steps.items()}
    {'gd': [-4.0, -0.25], 'hig': [-0.5, -2.0], 'gn': [-0.25, -4.0]}
    """
    return {name: hig.svd_step(jacobian, grad_y, kappa=hig.KAPPA[name], eta=eta, tau=tau)
            for name in ("gd", "hig", "gn")}


# --------------------------------------------------------------------------- the toy
def toy_data(n: int = TOY["n"]) -> tuple[np.ndarray, np.ndarray]:
    r"""``n`` equally spaced inputs on :math:`[-1, 1]` (shape ``(n, 1)``) and the targets :math:`(\sin 6x, \cos 9x)`.

    >>> x, t = toy_data(3)
    >>> t.round(3).tolist()
    [[0.279, -0.911], [0.0, 1.0], [-0.279, -0.911]]
    """
    n = check_int(n, "n", minimum=2)
    x = np.linspace(-1.0, 1.0, n)[:, None]
    return x, np.column_stack([np.sin(6.0 * x[:, 0]), np.cos(9.0 * x[:, 0])])


def toy_model(lam: float, sizes: tuple = TOY["sizes"]) -> hig.ThroughPhysics:
    r"""The network followed by the "physics" :math:`y = (f_1, \lambda f_2)`.

    With the loss :math:`\tfrac12 |y - t|^2` this is the toy's
    :math:`\tfrac12 (f_1 - t_1)^2 + \tfrac12 (\lambda f_2 - t_2)^2`; the factor
    :math:`\lambda` sits in the Jacobian, where HIG and GN can see it.
    """
    lam = check_positive(lam, "lam")
    scale = np.array([1.0, lam])

    def physics(outputs, inputs):
        return outputs * scale

    def physics_jacobian(outputs, inputs):
        return outputs * scale, np.broadcast_to(np.diag(scale), (outputs.shape[0], 2, 2))

    return hig.ThroughPhysics(nn.MLP(tuple(sizes)), physics, physics_jacobian, name=f"toy, lambda={lam:g}")


def toy_theta0(seed: int = TOY["seed"], sizes: tuple = TOY["sizes"]) -> np.ndarray:
    """The initial parameters of the toy's network (Glorot-uniform weights, zero biases)."""
    return nn.MLP(tuple(sizes)).init(np.random.default_rng(seed))


def toy_comparison(lam: float, *, etas: Dict[str, Sequence[float]] = TOY_ETAS, steps: int = TOY["steps"],
                   batch_size: int = TOY["batch_size"], tau: float = TOY["tau"], seed: int = TOY["seed"],
                   batch_seed: int = TOY["batch_seed"], n: int = TOY["n"],
                   eval_every: int = TOY["eval_every"], max_time=None,
                   stored: Optional[dict] = None) -> Dict[str, Sweep]:
    r"""Adam, Gauss-Newton and HIG on the toy with output scale ``lam``, each with its best :math:`\eta`.

    Same initial parameters (``seed``), data, mini-batches (``batch_seed``) and
    budget for every run; parameters are kept at the evaluation points (for
    :func:`saturation_history`).  ``stored`` (``{method: sweep_to_dict(...)}``, e.g. from
    ``python -m companion.bench hig_chapter``): re-run only each stored best rate.
    """
    model = toy_model(lam)
    inputs, targets = toy_data(n)
    theta0 = toy_theta0(seed)
    return {method: _sweep_or_replay(model, theta0, inputs, targets, method, etas[method], stored, steps=steps,
                          batch_size=batch_size, tau=tau, rng=batch_seed, eval_every=eval_every,
                          keep_params=True, max_time=max_time)
            for method in hig.METHODS}


def hidden_activations(network: nn.MLP, theta, inputs) -> np.ndarray:
    r"""Activations :math:`\tanh(z)` of the first hidden layer, shape ``(n, width)``."""
    W, b = network.layers(np.asarray(theta, dtype=float))[0]
    return np.tanh(np.asarray(inputs, dtype=float) @ W + b)


def saturation(network: nn.MLP, theta, inputs, threshold: float = SATURATION_THRESHOLD) -> float:
    r"""Fraction of (sample, hidden unit) pairs with :math:`|\tanh z| >` ``threshold``.

    A unit with :math:`|\tanh z| > 0.99` passes less than 2 % of a signal
    backwards (:math:`1 - \tanh^2 z < 0.0199`): its column of the Jacobian is
    nearly zero for that sample.

    >>> net = nn.MLP((1, 2, 1))
    >>> theta = np.array([10.0, 0.1, 0.0, 0.0, 1.0, 1.0, 0.0])   # W1 = (10, 0.1), b1 = 0
    >>> saturation(net, theta, [[1.0], [0.01]])   # unit 1 saturated on sample 1 only
    0.25
    """
    threshold = check_fraction(threshold, "threshold")
    return float(np.mean(np.abs(hidden_activations(network, theta, inputs)) > threshold))


def saturation_history(network: nn.MLP, result: hig.TrainResult, inputs,
                       threshold: float = SATURATION_THRESHOLD) -> np.ndarray:
    """:func:`saturation` at every kept parameter vector of ``result`` (``train(..., keep_params=True)``)."""
    if result.thetas is None:
        raise ValueError("result has no parameter history; train with keep_params=True")
    return np.array([saturation(network, th, inputs, threshold) for th in result.thetas])


# --------------------------------------------------------------------------- stacking and truncation
def stacked_vs_per_sample(lam: float = 0.01, *, kappa: float = -0.5, batch_size: int = 16,
                          seed: int = TOY["seed"], tau: float = TOY["tau"]) -> dict:
    r"""The stacked step :math:`A^\kappa g` against the average of the per-sample steps :math:`A_i^\kappa g_i`.

    On the toy at its initial parameters with the first ``batch_size`` points
    of a shuffled data set.  Returns the relative difference and the cosine of
    the two directions, and for each the linearised loss
    :math:`\tfrac12|r + \alpha A d|^2` at its best scale :math:`\alpha`
    (relative to :math:`\tfrac12|r|^2`), which compares directions
    independently of their length.
    """
    model = toy_model(lam)
    inputs, targets = toy_data()
    idx = np.random.default_rng(seed).permutation(inputs.shape[0])[:check_int(batch_size, "batch_size", minimum=1)]
    theta = toy_theta0(seed)
    y, jac = model.value_and_jacobian(theta, inputs[idx])
    r = y - targets[idx]
    stacked = hig.svd_step(jac, r, kappa=kappa, eta=1.0, tau=tau)
    averaged = np.mean([hig.svd_step(jac[i], r[i], kappa=kappa, eta=1.0, tau=tau) for i in range(len(idx))], axis=0)
    A, g = hig.stack(jac, r)

    def best_linear(d):
        Ad = A @ d
        alpha = -float(g @ Ad) / float(Ad @ Ad)
        res = g + alpha * Ad
        return float(res @ res) / float(g @ g)

    return {
        "relative_difference": float(np.linalg.norm(stacked - averaged) / np.linalg.norm(stacked)),
        "cosine": float(stacked @ averaged / (np.linalg.norm(stacked) * np.linalg.norm(averaged))),
        "linear_loss_stacked": best_linear(stacked),
        "linear_loss_averaged": best_linear(averaged),
        "rank_per_sample": int(np.linalg.matrix_rank(jac[0])),
        "rank_stacked": int(np.linalg.matrix_rank(A)),
        "shape": A.shape,
    }


def dropped_vs_clamped(singular_values=(1.0, 1e-2, 1e-8), *, tau: float = 1e-4) -> dict:
    r"""HIG steps with small singular values dropped (correct) and clamped to :math:`\tau s_{\max}` (wrong).

    For :math:`A = \mathrm{diag}(s)` and :math:`g = (1, \dots, 1)`: the dropped
    step has zero in every truncated direction; the clamped one has
    :math:`(\tau s_{\max})^{-1/2}`, the *largest* entry of the step.

    >>> out = dropped_vs_clamped((1.0, 1e-8), tau=1e-4)
    >>> out["dropped"].tolist(), out["clamped"].tolist()
    ([-1.0, -0.0], [-1.0, -100.0])
    """
    s = np.asarray(singular_values, dtype=float)
    tau = check_fraction(tau, "tau")
    A = np.diag(s)
    g = np.ones_like(s)
    dropped = hig.hig_step(A, g, eta=1.0, tau=tau)
    clamped = -np.maximum(s, tau * s.max()) ** -0.5 * g
    return {"dropped": dropped, "clamped": clamped,
            "norm_dropped": float(np.linalg.norm(dropped)), "norm_clamped": float(np.linalg.norm(clamped))}


def truncation_effect(lam: float = 0.01, *, taus: Sequence[float] = (0.0, TOY["tau"]), eta: float = 0.1,
                      steps: int = 300, seed: int = TOY["seed"], batch_size: int = TOY["batch_size"]) -> list:
    r"""HIG on the toy with and without truncation: rows ``(tau, final loss, status, largest |step|, smallest kept s / s_max)``.

    ``tau = 0`` keeps every non-zero singular value, so directions in which
    the network barely moves its outputs get the huge weight :math:`s_i^{-1/2}`.
    """
    model = toy_model(lam)
    inputs, targets = toy_data()
    theta0 = toy_theta0(seed)
    rows = []
    with hig.one_blas_thread():
        for tau in taus:
            r = hig.train(model, theta0, inputs, targets, method="hig", eta=eta, steps=steps,
                          batch_size=batch_size, tau=tau, rng=TOY["batch_seed"], eval_every=1, keep_params=True)
            step_norms = np.linalg.norm(np.diff(r.thetas, axis=0), axis=1)
            rows.append((float(tau), r.fun, r.status_name, float(step_norms.max()), r.nit))
    return rows


# --------------------------------------------------------------------------- cost
def _best_time(function, repeats: int, budget: float) -> float:
    function()
    best, spent = np.inf, 0.0
    for _ in range(repeats):
        tick = time.perf_counter()
        function()
        elapsed = time.perf_counter() - tick
        best, spent = min(best, elapsed), spent + elapsed
        if spent > budget:
            break
    return best


def step_cost(shapes: Sequence[tuple] = ((25, 200), (50, 200), (100, 200), (200, 200), (400, 200),
                                         (200, 25), (200, 50), (200, 100), (200, 400)),
              *, repeats: int = 7, budget: float = 0.2, seed: int = 0) -> list:
    r"""Time one HIG step on random stacked Jacobians of the given ``(bm, p)`` shapes.

    Rows ``(bm, p, t_hig, t_bare, t_svd)`` in seconds (fastest of ``repeats``,
    one BLAS thread): :func:`companion.hig.hig_step`; a bare
    ``np.linalg.svd`` followed by the two products
    :math:`V (S^{-1/2} (U^\top g))`; the SVD alone.
    """
    rng = np.random.default_rng(seed)
    rows = []
    with hig.one_blas_thread():
        for n_rows, n_cols in shapes:
            A = rng.normal(size=(int(n_rows), int(n_cols)))
            g = rng.normal(size=int(n_rows))

            def bare():
                u, s, vt = np.linalg.svd(A, full_matrices=False)
                return vt.T @ (s**-0.5 * (u.T @ g))

            t_hig = _best_time(lambda: hig.hig_step(A, g, eta=1.0, tau=1e-6), repeats, budget)
            t_bare = _best_time(bare, repeats, budget)
            t_svd = _best_time(lambda: np.linalg.svd(A, full_matrices=False), repeats, budget)
            rows.append((int(n_rows), int(n_cols), t_hig, t_bare, t_svd))
    return rows


def fit_cost(rows: Sequence[tuple]) -> dict:
    r"""Fit :math:`t = c\, (\min(bm,p)^2 \max(bm,p))^{a}` to the HIG timings of :func:`step_cost` (least squares in logs).

    Returns ``c``, the exponent ``a`` (1 for the textbook count) and
    ``c_fixed``, the constant with :math:`a = 1` held fixed.
    """
    work = np.array([min(r[0], r[1]) ** 2 * max(r[0], r[1]) for r in rows], dtype=float)
    times = np.array([r[2] for r in rows], dtype=float)
    a, log_c = np.polyfit(np.log(work), np.log(times), 1)
    return {"c": float(np.exp(log_c)), "exponent": float(a),
            "c_fixed": float(np.exp(np.mean(np.log(times) - np.log(work)))), "work": work, "times": times}


# --------------------------------------------------------------------------- oscillators
def oscillator_model(*, T: int = OSC["T"], dt: float = OSC["dt"], omega: float = OSC["omega"],
                     coupling: float = OSC["coupling"], cubic: float = OSC["cubic"],
                     hidden: int = OSC["hidden"]) -> hig.ThroughPhysics:
    r"""A network :math:`s_0 \mapsto (u_0, \dots, u_{T-1})` followed by the RK4 simulation to :math:`s_T`.

    The per-sample Jacobian is :math:`\partial s_T/\partial u \cdot \partial u/\partial\theta`
    (:func:`companion.physics.coupled_oscillators.jacobians` times the network's).
    """
    T = check_int(T, "T", minimum=1)
    options = {"dt": dt, "omega": omega, "coupling": coupling, "cubic": cubic}

    def physics(controls, states):
        return co.final_state(states, controls, **options)

    def physics_jacobian(controls, states):
        final, _, ju = co.jacobians(states, controls, **options)
        return final, ju

    return hig.ThroughPhysics(nn.MLP((4, check_int(hidden, "hidden", minimum=1), T)), physics, physics_jacobian,
                              name="coupled oscillators")


def oscillator_data(n: int = OSC["n"], seed: int = OSC["seed"]) -> np.ndarray:
    r"""``n`` initial states :math:`(q_1, q_2, p_1, p_2)` uniform in :math:`[-1, 1]^4`; they are also the targets."""
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=(check_int(n, "n", minimum=1), 4))


def oscillator_comparison(*, etas: Dict[str, Sequence[float]] = OSC_ETAS, steps: int = OSC["steps"],
                          batch_size: int = OSC["batch_size"], tau: float = OSC["tau"], seed: int = OSC["seed"],
                          batch_seed: int = OSC["batch_seed"], n: int = OSC["n"],
                          eval_every: int = OSC["eval_every"], max_time=None, stored: Optional[dict] = None,
                          **physics) -> Dict[str, Sweep]:
    r"""Adam, Gauss-Newton and HIG on the control task :math:`\min \tfrac12 |s_T - s_0|^2`, each with its best :math:`\eta`.

    ``stored`` (``{method: sweep_to_dict(...)}``): re-run only each stored best rate.
    """
    model = oscillator_model(**physics)
    states = oscillator_data(n, seed)
    theta0 = model.init(np.random.default_rng(seed + 1))
    return {method: _sweep_or_replay(model, theta0, states, states, method, etas[method], stored, steps=steps,
                          batch_size=batch_size, tau=tau, rng=batch_seed, eval_every=eval_every, max_time=max_time)
            for method in hig.METHODS}


# --------------------------------------------------------------------------- sensitivity
def tau_batch_grid(*, taus: Sequence[float] = (1e-6, 1e-4, 1e-2), batch_sizes: Sequence[int] = (16, 64, 256),
                   lam: float = 0.01, eta: float = 0.3, steps: int = 300, seed: int = TOY["seed"],
                   method: str = "hig") -> np.ndarray:
    r"""Final toy loss for every ``(tau, batch_size)``, shape ``(len(taus), len(batch_sizes))``; fixed ``eta``.

    ``method`` is ``"hig"`` (default) or ``"gn"``; same start and batch seed in every cell.
    """
    if method not in ("hig", "gn"):
        raise ValueError(f"method must be 'hig' or 'gn', got {method!r}")
    model = toy_model(lam)
    inputs, targets = toy_data()
    theta0 = toy_theta0(seed)
    out = np.empty((len(taus), len(batch_sizes)))
    with hig.one_blas_thread():
        for i, tau in enumerate(taus):
            for j, b in enumerate(batch_sizes):
                r = hig.train(model, theta0, inputs, targets, method=method, eta=eta, steps=steps, batch_size=b,
                              tau=tau, rng=TOY["batch_seed"], eval_every=steps)
                out[i, j] = r.fun
    return out


# --------------------------------------------------------------------------- exercises
def output_step_ratios(singular_values=(100.0, 1.0)) -> Dict[str, float]:
    r"""Exercise 1: ratio of the two components of the linearised output change :math:`A\,\Delta\theta`.

    For :math:`A = U S V^\top` and :math:`g = U \mathbf 1`, :math:`A\,\Delta\theta = -\eta U S^{1+\kappa} \mathbf 1`,
    so the ratio is :math:`(s_1/s_2)^{1+\kappa}`: :math:`10^4` for GD, :math:`10` for HIG, :math:`1` for GN.
    Computed here with a rotated :math:`A` (random orthogonal :math:`U, V`).

    >>> {k: round(v, 6) for k, v in output_step_ratios().items()}
    {'gd': 10000.0, 'hig': 10.0, 'gn': 1.0}
    """
    s = np.asarray(singular_values, dtype=float)
    rng = np.random.default_rng(0)
    u, _ = np.linalg.qr(rng.normal(size=(s.size, s.size)))
    v, _ = np.linalg.qr(rng.normal(size=(s.size, s.size)))
    A = u @ np.diag(s) @ v.T
    g = u @ np.ones(s.size)
    out = {}
    for name, step in family_steps(A, g).items():
        dy = u.T @ (A @ step)  # output change in the basis of U
        out[name] = float(dy[0] / dy[1])
    return out


def hig_step_gram(jacobian, grad_y, *, eta: float = 1.0, tau: float = 1e-6) -> np.ndarray:
    r"""Exercise 2: the HIG step through the small Gram matrix, :math:`A^{-1/2} g = A^\top (A A^\top)^{-3/4} g`.

    With :math:`A A^\top = U S^2 U^\top` (an eigendecomposition of a
    :math:`bm \times bm` matrix) the step is
    :math:`-\eta A^\top U S^{-3/2} U^\top g`; eigenvalues
    :math:`s_i^2 \le (\tau s_{\max})^2` are dropped like the singular values.

    >>> A = np.array([[4.0, 0.0, 0.0], [0.0, 0.25, 0.0]])
    >>> hig_step_gram(A, [1.0, 1.0]).round(12).tolist()
    [-0.5, -2.0, -0.0]
    """
    A, g = hig.stack(jacobian, grad_y)
    eta = check_positive(eta, "eta")
    tau = check_fraction(tau, "tau")
    eigenvalues, u = np.linalg.eigh(A @ A.T)
    eigenvalues = np.clip(eigenvalues, 0.0, None)
    keep = eigenvalues > (tau**2) * eigenvalues.max()
    weights = np.zeros_like(eigenvalues)
    weights[keep] = eigenvalues[keep] ** -0.75
    return -eta * (A.T @ (u @ (weights * (u.T @ g))))


# --------------------------------------------------------------------------- the chapter's stored sweeps
#: The sweeps of the chapter that ``python -m companion.bench hig_chapter`` stores (the chapter re-runs the best rates).
HIG_CHAPTER = {"lams": (1.0, 0.01), "taus": (1e-6, 1e-4, 1e-2), "batch_sizes": (16, 64, 256), "grid_eta": 0.3,
               "grid_steps": 200}


def hig_chapter_runs(*, quick: bool = False) -> dict:
    r"""The toy sweeps for every :math:`\lambda`, the oscillators' sweeps and the :math:`(\tau, b)` grids, JSON-ready.

    ``quick``: a few steps of each (for tests).  Returns ``{"toy": {lam: {method: sweep}}, "oscillators":
    {method: sweep}, "tau_batch": {"hig": rows, "gn": rows, "gn_eta": ...}, "settings": ...}``.
    """
    toy_steps, osc_steps, grid_steps = (20, 10, 10) if quick else (TOY["steps"], OSC["steps"], HIG_CHAPTER["grid_steps"])
    toy = {f"{lam:g}": {m: sweep_to_dict(s) for m, s in toy_comparison(lam, steps=toy_steps).items()}
           for lam in HIG_CHAPTER["lams"]}
    osc = {m: sweep_to_dict(s) for m, s in oscillator_comparison(steps=osc_steps).items()}
    gn_eta = toy["0.01"]["gn"]["best_eta"]
    options = dict(taus=HIG_CHAPTER["taus"], steps=grid_steps)
    grid = tau_batch_grid(batch_sizes=HIG_CHAPTER["batch_sizes"], eta=HIG_CHAPTER["grid_eta"], **options)
    gn_grid = tau_batch_grid(batch_sizes=(64,), eta=gn_eta, method="gn", **options)
    settings = dict(HIG_CHAPTER, toy_steps=toy_steps, osc_steps=osc_steps, grid_steps=grid_steps,
                    toy_etas=TOY_ETAS, osc_etas=OSC_ETAS)
    return {"settings": settings, "toy": toy, "oscillators": osc,
            "tau_batch": {"hig": grid.tolist(), "gn": gn_grid.tolist(), "gn_eta": gn_eta}}


def load_hig_chapter(path) -> dict:
    """The document that ``python -m companion.bench hig_chapter`` wrote (``bench_results/hig_chapter.json``).

    Raises ``FileNotFoundError`` or ``ValueError`` naming the command that (re)writes it.
    """
    from ..bench import HIG_CHAPTER_SCHEMA, load_document

    return load_document(path, schema=HIG_CHAPTER_SCHEMA, what="HIG chapter", command="companion.bench hig_chapter")


# --------------------------------------------------------------------------- discussion
def summary_rows(sweeps: Dict[str, Sweep]) -> list:
    """Rows ``(method, best eta, final loss, ms per step)`` of a comparison, for the tables."""
    return [(hig.DISPLAY[m], s.best_eta, s.best.fun, 1e3 * s.best.time_per_step) for m, s in sweeps.items()]


# --------------------------------------------------------------------------- discussion: SIP next to HIG
#: Settings of the discussion chapter's side-by-side runs (small versions of the chapters' experiments).
#: ``time_factor``: Adam and SIP also run this many times the steps (about the ratio of the measured
#: costs per step, HIG / Adam, on the development machine), with the better of their best rate and
#: the next smaller rate of the grid.
DISCUSSION = {
    "toy": {"lam": 0.01, "steps": 400, "time_factor": 3,
            "etas": {"adam": (0.3, 1.0, 3.0), "gn": (0.01, 0.03, 0.1), "hig": (0.1, 0.3, 1.0),
                     "sip": (0.1, 0.3, 1.0, 3.0)}},
    "sine": {"xi": 8.0, "phi": np.pi / 4, "sizes": (2, 16, 16, 2), "samples": 256, "batch_size": 32, "steps": 100,
             "time_factor": 10,
             "etas": {"adam": (0.003, 0.01, 0.03, 0.1), "gn": (0.1, 0.3, 1.0), "hig": (0.03, 0.1, 0.3),
                      "sip": (0.003, 0.01, 0.03, 0.1)}},
    "oscillators": {"steps": 60, "time_factor": 3, "etas": OSC_ETAS},
}

#: What each method needs from network and physics.
REQUIREMENTS = {
    "Adam": "gradient only: one backward pass through network and physics",
    "Gauss-Newton": "per-sample Jacobians (bm backward passes) + SVD",
    "HIG": "per-sample Jacobians (bm backward passes) + SVD",
    "SIP": "a local inverse simulator + one backward pass through the network",
}


@dataclass(frozen=True)
class MethodRun:
    """The best run of one method's sweep, reduced to what the discussion needs."""

    method: str
    best_eta: float
    final_loss: float
    ms_per_step: float
    table: tuple  # ((eta, final loss), ...)
    iterations: np.ndarray
    losses: np.ndarray
    times: np.ndarray


def _from_train(result: hig.TrainResult, table=()) -> MethodRun:
    return MethodRun(result.label, result.eta, result.fun, 1e3 * result.time_per_step, tuple(table),
                     result.iterations, result.losses, result.times)


def _from_sweep(sweep: Sweep) -> MethodRun:
    return _from_train(sweep.best, ((e, f) for e, f, _ in sweep.table()))


def _from_training(result, table=()) -> MethodRun:
    return MethodRun("SIP", result.eta_nn, result.final_y_error, 1e3 * result.time[-1] / max(result.nit, 1),
                     tuple(table), result.iterations, result.y_error, result.time)


def sip_available() -> bool:
    """True if :mod:`companion.training` (SIP) can be imported."""
    try:
        from .. import training  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the checkout
        return False
    return True


def _sip_run(net, theta0, physics, data, eta_nn, *, steps, batch_size, batch_seed, eval_every):
    from .. import training

    with hig.one_blas_thread():
        return training.train("sip", net, theta0, physics, data, iterations=steps, batch_size=batch_size,
                              rng=np.random.default_rng(batch_seed), eta_nn=float(eta_nn), eta=1.0,
                              eval_every=eval_every)


def _sip_sweep(net, theta0, physics, data, etas, **options):
    r"""SIP (:math:`\eta = 1`, Adam with rate :math:`\eta_{NN}` from ``etas``) via :func:`companion.training.train`.

    The best rate is the one with the lowest final loss :math:`\frac1n\sum_i \tfrac12|P(f(u_i)) - y^*_i|^2`
    on the training data (the quantity every method is compared on here).
    """
    runs = [_sip_run(net, theta0, physics, data, e, **options) for e in etas]
    finals = [r.final_y_error if (r.success and np.isfinite(r.final_y_error)) else np.inf for r in runs]
    i = int(np.argmin(finals))
    return runs[i], tuple((float(e), r.final_y_error) for e, r in zip(etas, runs))


def _toy_sip_setup(lam: float):
    from .. import training

    scale = np.array([1.0, check_positive(lam, "lam")])
    physics = training.BatchPhysics(lambda X: X * scale, lambda Y, X0: Y / scale, lambda X, V: V * scale, 2, 2,
                                    name=f"toy (1, {lam:g})")
    inputs, targets = toy_data()
    return physics, training.Dataset(inputs, targets, targets / scale)


def toy_sip(lam: float = 0.01, *, etas: Sequence[float] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0), steps: int = TOY["steps"],
            batch_size: int = TOY["batch_size"], seed: int = TOY["seed"], batch_seed: int = TOY["batch_seed"],
            eval_every: int = TOY["eval_every"]) -> MethodRun:
    r"""SIP on the toy: the physics :math:`(f_1, \lambda f_2)` has the exact inverse :math:`(y_1, y_2/\lambda)`.

    Same network, initial parameters, data and mini-batches as :func:`toy_comparison`.  Because
    the physics is linear and the inverse exact, SIP with :math:`\eta = 1` is supervised training on
    the targets :math:`(t_1, t_2/\lambda)` (the caveat of the SIP chapter).
    """
    physics, data = _toy_sip_setup(lam)
    best, table = _sip_sweep(nn.MLP(TOY["sizes"]), toy_theta0(seed), physics, data, tuple(etas), steps=steps,
                             batch_size=batch_size, batch_seed=batch_seed, eval_every=eval_every)
    return _from_training(best, table)


def sine_model(xi: float, phi: float, sizes: tuple = DISCUSSION["sine"]["sizes"]) -> hig.ThroughPhysics:
    r"""A network followed by the SIP paper's :math:`P(x) = (\sin(\hat x_1)/\xi,\ \xi \hat x_2)`, :math:`\hat x = R_\varphi x`.

    The per-sample physics Jacobian is :math:`\mathrm{diag}(\cos\hat x_1/\xi,\ \xi)\, R_\varphi`.
    """
    from .. import training

    physics = training.rotated_sine_physics(xi, phi)
    R = training.rotation(phi)

    def forward(outputs, inputs):
        return physics.forward(outputs)

    def with_jacobian(outputs, inputs):
        h = outputs @ R.T
        rows = np.stack([np.cos(h[:, 0]) / xi, np.full(h.shape[0], float(xi))], axis=1)
        return physics.forward(outputs), rows[:, :, None] * R[None, :, :]

    return hig.ThroughPhysics(nn.MLP(tuple(sizes)), forward, with_jacobian, name=physics.name)


def _problems(sip: bool) -> dict:
    """Model, start, data, training options and (if SIP runs) SIP's physics and data for each problem."""
    out = {}
    toy = DISCUSSION["toy"]
    inputs, targets = toy_data()
    out["toy"] = {"model": toy_model(toy["lam"]), "theta0": toy_theta0(), "inputs": inputs, "targets": targets,
                  "options": {"steps": toy["steps"], "batch_size": TOY["batch_size"], "tau": TOY["tau"],
                              "rng": TOY["batch_seed"], "eval_every": TOY["eval_every"]},
                  "sip": _toy_sip_setup(toy["lam"]) if sip else None}
    if sip:
        from .. import training

        sine = DISCUSSION["sine"]
        physics = training.rotated_sine_physics(sine["xi"], sine["phi"])
        truth = np.random.default_rng(0).uniform(-1.0, 1.0, (sine["samples"], 2))
        data, _ = training.make_dataset(physics, truth)
        model = sine_model(sine["xi"], sine["phi"], sine["sizes"])
        out["sine"] = {"model": model, "theta0": model.init(np.random.default_rng(1)), "inputs": data.inputs,
                       "targets": data.targets,
                       "options": {"steps": sine["steps"], "batch_size": sine["batch_size"], "tau": TOY["tau"],
                                   "rng": 1, "eval_every": 10},
                       "sip": (physics, data)}
    model = oscillator_model()
    states = oscillator_data()
    out["oscillators"] = {"model": model, "theta0": model.init(np.random.default_rng(OSC["seed"] + 1)),
                          "inputs": states, "targets": states,
                          "options": {"steps": DISCUSSION["oscillators"]["steps"], "batch_size": OSC["batch_size"],
                                      "tau": OSC["tau"], "rng": OSC["batch_seed"], "eval_every": OSC["eval_every"]},
                          "sip": None}
    return out


def _best_and_below(etas, best) -> tuple:
    """``(next smaller rate of the grid, best)`` (just ``(best,)`` at the bottom of the grid)."""
    etas = sorted(float(e) for e in etas)
    i = etas.index(float(best))
    return tuple(etas[max(i - 1, 0):i + 1])


def discussion_runs(*, sip: Optional[bool] = None, problems: Sequence[str] = tuple(DISCUSSION)) -> dict:
    r"""The measurements of the discussion chapter on the toy (:math:`\lambda = 0.01`), the 2-D problem and the oscillators.

    Returns ``{"equal_steps": {problem: {method: MethodRun}}, "equal_time": {...}, "factors": {...}}``.
    ``equal_steps``: every method's best run of a sweep with the same budget of steps.
    ``equal_time``: Adam and SIP again with their best rate and ``time_factor`` times as many
    steps (about the cost ratio of a HIG step to an Adam step).  SIP runs where the problem has a
    local inverse (toy, 2-D problem) and :mod:`companion.training` exists (``sip=None``: if it
    exists); the oscillators' control problem has no inverse simulator.  ``problems`` selects
    some of ``"toy"``, ``"sine"``, ``"oscillators"`` (all by default).
    """
    _check_problems(problems)
    sip = sip_available() if sip is None else bool(sip)
    equal_steps, equal_time, factors = {}, {}, {}
    for name, problem in _problems(sip).items():
        if name not in problems:
            continue
        settings = DISCUSSION[name]
        etas = settings["etas"]
        options = problem["options"]
        runs, longer = {}, {}
        factor = settings["time_factor"]
        for method in hig.METHODS:
            s = sweep(problem["model"], problem["theta0"], problem["inputs"], problem["targets"], method,
                      etas[method], **options)
            runs[method] = _from_sweep(s)
            if method == "adam":
                long_sweep = sweep(problem["model"], problem["theta0"], problem["inputs"], problem["targets"], "adam",
                                   _best_and_below(etas["adam"], s.best_eta),
                                   **dict(options, steps=factor * options["steps"],
                                          eval_every=factor * options["eval_every"]))
                longer["adam"] = _from_sweep(long_sweep)
        if problem["sip"] is not None:
            physics, data = problem["sip"]
            net = problem["model"].network
            sip_options = {"batch_size": options["batch_size"], "batch_seed": options["rng"],
                           "eval_every": options["eval_every"]}
            best, table = _sip_sweep(net, problem["theta0"], physics, data, etas["sip"], steps=options["steps"],
                                     **sip_options)
            runs["sip"] = _from_training(best, table)
            long_best, long_table = _sip_sweep(net, problem["theta0"], physics, data,
                                               _best_and_below(etas["sip"], best.eta_nn),
                                               steps=factor * options["steps"],
                                               **dict(sip_options, eval_every=factor * options["eval_every"]))
            longer["sip"] = _from_training(long_best, long_table)
        equal_steps[name], equal_time[name], factors[name] = runs, longer, factor
    return {"equal_steps": equal_steps, "equal_time": equal_time, "factors": factors, "sip": sip}


def _check_problems(problems: Sequence[str]) -> None:
    unknown = sorted(set(problems) - set(DISCUSSION))
    if unknown or not problems:
        raise ValueError(f"problems must be a non-empty selection of {list(DISCUSSION)}, got {list(problems)}")


def discussion_single(problem: str, method: str, eta: float, *, steps_factor: int = 1) -> MethodRun:
    r"""One run of :func:`discussion_runs`: ``method`` (``"adam"``, ``"gn"``, ``"hig"``, ``"sip"``) at rate ``eta``.

    Same model, start, data, mini-batches and options as there; ``steps_factor`` multiplies the
    budget of steps (the ``equal_time`` runs use the problem's ``time_factor``).  A reader re-runs
    one entry of the stored comparison with it.
    """
    _check_problems((problem,))
    steps_factor = check_int(steps_factor, "steps_factor", minimum=1)
    setups = _problems(sip_available())
    if problem not in setups:
        raise ValueError(f"the {problem} problem needs companion.training, which is not importable here")
    setup = setups[problem]
    options = dict(setup["options"], steps=steps_factor * setup["options"]["steps"],
                   eval_every=steps_factor * setup["options"]["eval_every"])
    if method == "sip":
        if setup["sip"] is None:
            raise ValueError(f"the {problem} problem has no local inverse simulator: SIP does not run on it")
        physics, data = setup["sip"]
        best, table = _sip_sweep(setup["model"].network, setup["theta0"], physics, data, (float(eta),),
                                 steps=options["steps"], batch_size=options["batch_size"], batch_seed=options["rng"],
                                 eval_every=options["eval_every"])
        return _from_training(best, table)
    if method not in hig.METHODS:
        raise ValueError(f"method must be one of {list(hig.METHODS) + ['sip']}, got {method!r}")
    return _from_sweep(sweep(setup["model"], setup["theta0"], setup["inputs"], setup["targets"], method,
                             (float(eta),), **options))


def method_run_to_dict(run: MethodRun) -> dict:
    """A :class:`MethodRun` as JSON-ready lists and numbers (the inverse of :func:`method_run_from_dict`)."""
    return {"method": run.method, "best_eta": float(run.best_eta), "final_loss": float(run.final_loss),
            "ms_per_step": float(run.ms_per_step), "table": [[float(e), float(f)] for e, f in run.table],
            "iterations": np.asarray(run.iterations).tolist(), "losses": np.asarray(run.losses, float).tolist(),
            "times": np.asarray(run.times, float).tolist()}


def _number(value) -> float:
    return float("nan") if value is None else float(value)  # JSON stores NaN and inf as null


def method_run_from_dict(entry: dict) -> MethodRun:
    """The :class:`MethodRun` stored by :func:`method_run_to_dict` (``null`` losses read back as NaN)."""
    return MethodRun(entry["method"], float(entry["best_eta"]), _number(entry["final_loss"]),
                     float(entry["ms_per_step"]), tuple((float(e), _number(f)) for e, f in entry["table"]),
                     np.asarray(entry["iterations"]), np.array([_number(v) for v in entry["losses"]]),
                     np.array([_number(v) for v in entry["times"]]))


def discussion_to_document(runs: dict) -> dict:
    """The result of :func:`discussion_runs` as JSON-ready dicts (see :func:`discussion_from_document`)."""
    return {"equal_steps": {p: {k: method_run_to_dict(r) for k, r in m.items()} for p, m in runs["equal_steps"].items()},
            "equal_time": {p: {k: method_run_to_dict(r) for k, r in m.items()} for p, m in runs["equal_time"].items()},
            "factors": dict(runs["factors"]), "sip": bool(runs["sip"])}


def discussion_from_document(document: dict) -> dict:
    """The ``results`` of ``discussion.json`` (``python -m companion.bench discussion``), shaped as :func:`discussion_runs`."""
    return {"equal_steps": {p: {k: method_run_from_dict(r) for k, r in m.items()}
                            for p, m in document["equal_steps"].items()},
            "equal_time": {p: {k: method_run_from_dict(r) for k, r in m.items()}
                           for p, m in document["equal_time"].items()},
            "factors": {p: int(f) for p, f in document["factors"].items()}, "sip": bool(document["sip"])}


def load_discussion(path) -> dict:
    """The document that ``python -m companion.bench discussion`` wrote (``bench_results/discussion.json``).

    Raises ``FileNotFoundError`` or ``ValueError`` naming the command that (re)writes it.
    """
    from ..bench import DISCUSSION_SCHEMA, load_document

    document = load_document(path, schema=DISCUSSION_SCHEMA, what="discussion", command="companion.bench discussion",
                             allow_quick=True)
    missing = sorted(set(DISCUSSION) - set(document["results"]["equal_steps"]))
    if missing:
        raise ValueError(f"{path} lacks the problems {missing} (a --quick run?); run `make bench` (or "
                         f"`python -m companion.bench discussion --out bench_results`) in the repository")
    return document


def plot_discussion(axes, equal_steps: dict, titles: Optional[dict] = None) -> None:
    """Loss against iteration of every method, one axis per problem (SIP dashed)."""
    from ..plots import color_of

    titles = titles or {}
    for ax, (problem, methods) in zip(axes, equal_steps.items()):
        for key, r in methods.items():
            ax.semilogy(r.iterations, r.losses, color=color_of(r.method), label=r.method,
                        ls="--" if key == "sip" else "-")
        ax.set_title(titles.get(problem, problem))
        ax.set_xlabel("iteration")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("loss $L$")


def discussion_table(runs: dict) -> list:
    """Rows ``(problem, method, best eta, loss at equal steps, ms per step, loss with time_factor x steps or nan)``."""
    rows = []
    for problem, methods in runs["equal_steps"].items():
        longer = runs["equal_time"][problem]
        for key, r in methods.items():
            long_loss = longer[key].final_loss if key in longer else float("nan")
            rows.append((problem, r.method, r.best_eta, r.final_loss, r.ms_per_step, long_loss))
    return rows


def svd_work(batch: int, outputs: int, params: int) -> float:
    r"""Operation count :math:`\min(bm, p)^2 \max(bm, p)` of the SVD in one HIG step (constants dropped).

    >>> svd_work(64, 2, 30)
    115200.0
    """
    rows = check_int(batch, "batch", minimum=1) * check_int(outputs, "outputs", minimum=1)
    params = check_int(params, "params", minimum=1)
    return float(min(rows, params) ** 2 * max(rows, params))


def toy_sip_equals_supervised(lam: float = 0.01, *, steps: int = 50, eta_nn: float = 0.3, seed: int = TOY["seed"],
                              batch_seed: int = TOY["batch_seed"]) -> float:
    r"""Discussion exercise 2: the largest parameter difference between SIP (:math:`\eta = 1`) and supervised Adam on the toy.

    Linear physics with an exact inverse: the SIP target :math:`P^{-1}(y + (y^* - y); x) = P^{-1}(y^*)`
    is the ground truth, so both trainings take the same steps (difference at rounding level).
    """
    from .. import training

    physics, data = _toy_sip_setup(lam)
    net = nn.MLP(TOY["sizes"])
    runs = [training.train(method, net, toy_theta0(seed), physics, data, iterations=steps,
                           batch_size=TOY["batch_size"], rng=np.random.default_rng(batch_seed), eta_nn=eta_nn,
                           keep_thetas=True)
            for method in ("sip", "supervised")]
    return float(np.max(np.abs(runs[0].thetas - runs[1].thetas)))
