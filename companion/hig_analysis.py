r"""Analyses of the half-inverse gradient step used by the chapter *Half-inverse gradients*.

The rule itself is :func:`companion.hig.hig_step`; these functions measure what it does:

* the one-parameter family :math:`\Delta\theta = -\eta\, V S^\kappa U^\top g`
  (:func:`family_steps`) and the ratio of the output steps it takes along two
  singular directions (:func:`output_step_ratios`);
* why the per-sample Jacobians are *stacked* (:func:`stacked_vs_per_sample`);
* truncation: small singular values dropped, not clamped (:func:`dropped_vs_clamped`);
* the cost of one step against the size of the stacked Jacobian
  (:func:`step_cost`, :func:`fit_cost`) and the Gram-matrix route for
  :math:`bm \ll p` (:func:`hig_step_gram`);
* how much each hidden unit's output varies across the inputs
  (:func:`hidden_activations`, :func:`unit_variance`): a unit whose output barely
  varies is saturated (or dead) on the whole data set and gives the Jacobian a
  nearly zero direction.
"""

from __future__ import annotations

import time
from typing import Dict, Sequence

import numpy as np

from . import hig, nn
from ._checks import check_fraction, check_positive

__all__ = ["family_steps", "output_step_ratios", "stacked_vs_per_sample", "dropped_vs_clamped", "step_cost",
           "fit_cost", "hig_step_gram", "hidden_activations", "unit_variance"]


def family_steps(jacobian, grad_y, *, eta: float = 1.0, tau: float = 1e-12) -> Dict[str, np.ndarray]:
    r"""The steps :math:`-\eta A^\kappa g` for GD (:math:`\kappa=1`), HIG (:math:`-1/2`), GN (:math:`-1`).

    >>> steps = family_steps(np.diag([4.0, 0.25]), [1.0, 1.0])
    >>> {k: v.tolist() for k, v in steps.items()}
    {'gd': [-4.0, -0.25], 'hig': [-0.5, -2.0], 'gn': [-0.25, -4.0]}
    """
    return {name: hig.svd_step(jacobian, grad_y, kappa=hig.KAPPA[name], eta=eta, tau=tau)
            for name in ("gd", "hig", "gn")}


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


def stacked_vs_per_sample(jacobian, residual, *, kappa: float = -0.5, tau: float = 1e-4) -> dict:
    r"""The stacked step :math:`A^\kappa g` against the average of the per-sample steps :math:`A_i^\kappa g_i`.

    ``jacobian`` holds the per-sample blocks ``(b, m, p)`` and ``residual`` the
    per-sample loss gradients ``(b, m)``. Returns the relative difference and the
    cosine of the two directions, and for each the linearised loss
    :math:`\tfrac12|g + \alpha A d|^2` at its best scale :math:`\alpha` (relative to
    :math:`\tfrac12|g|^2`), which compares directions independently of their length.

    >>> out = stacked_vs_per_sample(np.array([[[1.0, 0.0]], [[1.0, 1.0]]]), np.array([[1.0], [1.0]]), kappa=-1.0)
    >>> round(out["linear_loss_stacked"], 12), out["rank_stacked"], out["rank_per_sample"]
    (0.0, 2, 1)
    """
    jac = np.asarray(jacobian, dtype=float)
    r = np.asarray(residual, dtype=float)
    if jac.ndim != 3 or r.shape != jac.shape[:2]:
        raise ValueError(f"jacobian must be (b, m, p) and residual (b, m), got {jac.shape} and {r.shape}")
    stacked = hig.svd_step(jac, r, kappa=kappa, eta=1.0, tau=tau)
    averaged = np.mean([hig.svd_step(jac[i], r[i], kappa=kappa, eta=1.0, tau=tau) for i in range(jac.shape[0])],
                       axis=0)
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


def hidden_activations(network: nn.MLP, theta, inputs) -> np.ndarray:
    r"""Activations :math:`\tanh(z)` of the first hidden layer, shape ``(n, width)``."""
    W, b = network.layers(np.asarray(theta, dtype=float))[0]
    return np.tanh(np.asarray(inputs, dtype=float) @ W + b)

def unit_variance(network: nn.MLP, theta, inputs) -> np.ndarray:
    r"""Variance across the inputs of each first-layer unit's output :math:`\tanh(z_j)`, shape ``(width,)``.

    A unit whose output hardly varies over the data set (saturated at
    :math:`\pm1` everywhere, or constant) contributes a nearly constant feature:
    its outgoing weights act like a bias, and its incoming weights barely move the
    outputs, a small singular value of the Jacobian.

    >>> net = nn.MLP((1, 2, 1))
    >>> theta = np.array([100.0, 1.0, 5.0, 0.0, 1.0, 1.0, 0.0])   # W1 = (100, 1), b1 = (5, 0)
    >>> unit_variance(net, theta, [[0.5], [1.0]]).round(4).tolist()   # unit 1 is saturated on both; var of tanh(0.5), tanh(1)
    [0.0, 0.0224]
    """
    return np.var(hidden_activations(network, theta, inputs), axis=0)
