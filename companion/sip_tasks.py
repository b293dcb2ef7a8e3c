r"""The training tasks of the chapter *Scale-invariant physics training* and of its benchmark.

Each task holds its physics and three disjoint data sets drawn from one seed:
``train`` (the network learns on it), ``validation`` (learning rates are chosen on it)
and ``test`` (the reported numbers come from it).

* :func:`heat_task`: the heat equation on a periodic grid, noisy observations, a
  regularised inverse that resolves only the Fourier modes whose gain exceeds the
  relative noise level; :func:`resolved_projection`, :func:`split_x_error` and
  :func:`projected_heat_physics` separate what that inverse resolves from what it
  discards;
* :func:`sine_task`: the SIP paper's 2-D problem
  :math:`P(x) = (\sin(\hat x_1)/\xi,\ \xi\hat x_2)`, :math:`\hat x = R_\varphi x`, with
  true states either on the sine's monotone branch (every observation has one
  preimage there) or beyond it (two preimages per observation, the problem is not
  injective); :func:`branch_distance` measures how far a prediction is from the
  *nearest* preimage of its observation.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._checks import check_int, check_positive
from .physics.heat import heat_operator, random_boxes
from .training import BatchPhysics, Dataset, heat_physics, make_dataset, rotated_sine_physics, rotation

__all__ = ["Task", "heat_task", "resolved_projection", "split_x_error", "projected_heat_physics", "sine_task",
           "branch_distance"]


class Task(NamedTuple):
    """Physics and three disjoint data sets of one training task (see the module docstring)."""

    physics: BatchPhysics
    train: Dataset
    validation: Dataset
    test: Dataset
    info: dict


def _split(data: Dataset, sizes) -> tuple:
    edges = np.cumsum((0,) + tuple(sizes))
    return tuple(data.subset(slice(int(a), int(b))) for a, b in zip(edges[:-1], edges[1:]))


def heat_task(n: int = 32, nu_t: float = 2e-3, *, noise: float = 1e-3, samples: int = 512,
              validation: int = 128, test: int = 128, boxes: int = 2, seed: int = 0) -> Task:
    r"""Hot boxes (:func:`~companion.physics.heat.random_boxes`) observed after :math:`\nu t` with noise.

    :math:`y^* = P(x) + \sigma\epsilon`, :math:`\sigma` = ``noise``. The inverse resolves the
    modes whose gain :math:`g_m` exceeds the relative noise level
    :math:`c = \sigma / \mathrm{rms}(y^*)` (``info["cutoff"]``) and sets the others to zero:
    their content in :math:`y^*` is below the noise. ``info["keep"]`` is the mask of the
    resolved real Fourier modes.

    >>> task = heat_task(32, 2e-3, samples=8, validation=4, test=4, seed=0)
    >>> len(task.train), len(task.validation), len(task.test), int(task.info["keep"].sum())
    (8, 4, 4, 9)
    """
    n = check_int(n, "n", minimum=4)
    sizes = tuple(check_int(v, name, minimum=1) for v, name in
                  ((samples, "samples"), (validation, "validation"), (test, "test")))
    rng = np.random.default_rng(seed)
    truth = random_boxes(n, boxes, rng, samples=sum(sizes))
    data, _ = make_dataset(heat_physics(n, nu_t, cutoff=0.0), truth, noise=noise, rng=rng)
    cutoff = float(noise / np.sqrt(np.mean(data.targets ** 2)))
    keep = heat_operator(n, nu_t).retained(cutoff)
    info = {"n": n, "nu_t": float(nu_t), "noise": float(noise), "cutoff": cutoff, "keep": keep}
    return Task(heat_physics(n, nu_t, cutoff=cutoff, unresolved="zero"), *_split(data, sizes), info)


def resolved_projection(X, keep) -> np.ndarray:
    r"""The orthogonal projection :math:`\Pi x` of each row onto the real Fourier modes ``keep`` resolves.

    :math:`\Pi` keeps the modes with ``keep[m]`` and zeroes the others; it is symmetric and
    :math:`\Pi^2 = \Pi`.

    >>> keep = np.array([True, False, False])
    >>> resolved_projection(np.array([[1.0, 2.0, 3.0, 4.0]]), keep).tolist()
    [[2.5, 2.5, 2.5, 2.5]]
    """
    X = np.asarray(X, dtype=float)
    keep = np.asarray(keep, dtype=bool)
    if keep.shape != (X.shape[-1] // 2 + 1,):
        raise ValueError(f"keep must mark the {X.shape[-1] // 2 + 1} real Fourier modes of rows of length "
                         f"{X.shape[-1]}, got shape {keep.shape}")
    return np.fft.irfft(np.fft.rfft(X, axis=-1) * keep, n=X.shape[-1], axis=-1)


def split_x_error(X, truth, keep) -> dict:
    r"""The x-error :math:`\frac1N\sum_i\tfrac12|x_i - x^{\rm true}_i|^2` split into resolved and discarded modes.

    With :math:`e = x - x^{\rm true}`, :math:`|e|^2 = |\Pi e|^2 + |(I - \Pi) e|^2`, so
    ``total = resolved + discarded``. ``floor`` is the part of the discarded error that no
    prediction confined to the resolved modes avoids: :math:`\frac1N\sum_i\tfrac12|(I-\Pi)x^{\rm true}_i|^2`.

    >>> keep = np.array([True, False, False])
    >>> s = split_x_error(np.zeros((1, 4)), np.array([[1.0, 2.0, 3.0, 4.0]]), keep)
    >>> [round(s[k], 6) for k in ("total", "resolved", "discarded", "floor")]
    [15.0, 12.5, 2.5, 2.5]
    """
    X = np.asarray(X, dtype=float)
    truth = np.asarray(truth, dtype=float)
    if X.shape != truth.shape:
        raise ValueError(f"X and truth must have the same shape, got {X.shape} and {truth.shape}")
    error = X - truth
    resolved = resolved_projection(error, keep)

    def half_mean_square(A):
        return float(0.5 * np.mean(np.sum(A ** 2, axis=-1)))

    return {"total": half_mean_square(error), "resolved": half_mean_square(resolved),
            "discarded": half_mean_square(error - resolved),
            "floor": half_mean_square(truth - resolved_projection(truth, keep))}


def projected_heat_physics(task: Task) -> BatchPhysics:
    r"""The heat task's physics applied to the network's output projected on the resolved modes, :math:`P(\Pi x)`.

    The baseline "Adam through the physics with the same prior as SIP": the regularised
    inverse sets the discarded modes to zero, and so does :math:`\Pi`. Its
    :math:`J^\top v = \Pi P v` (both symmetric, and they commute); the inverse is the task's.
    The state this baseline predicts is :math:`\Pi f(u)`.
    """
    keep = task.info["keep"]
    base = task.physics
    return BatchPhysics(lambda X: base.forward(resolved_projection(X, keep)), base.inverse,
                        lambda X, V: resolved_projection(base.vjp(X, V), keep), base.n, base.m,
                        name=f"{base.name}, projected on the resolved modes")


def sine_task(xi: float, phi: float, *, reach: float = 1.0, samples: int = 512, validation: int = 128,
              test: int = 128, seed: int = 0) -> Task:
    r"""True states with :math:`\hat x_1 \sim U[-r, r]`, :math:`\hat x_2 \sim U[-1, 1]`, :math:`x = R_\varphi^\top\hat x`.

    ``reach`` :math:`r \le \pi/2` keeps every state on the sine's central monotone branch
    (one preimage per observation there); :math:`\pi/2 < r < 3\pi/2` puts some beyond it,
    where the observation of :math:`\hat x_1` equals that of :math:`\pi\,\mathrm{sign}(\hat x_1) - \hat x_1`
    on the central branch: two preimages, and the network cannot tell them apart.
    ``info["beyond"]`` is the fraction of all states with :math:`|\hat x_1| > \pi/2`.

    >>> task = sine_task(4.0, 0.0, reach=2.5, samples=64, validation=16, test=16, seed=0)
    >>> 0.2 < task.info["beyond"] < 0.5
    True
    """
    reach = check_positive(reach, "reach")
    if reach >= 1.5 * np.pi:
        raise ValueError(f"reach must be below 3 pi / 2 (two branches at most), got {reach:g}")
    sizes = tuple(check_int(v, name, minimum=1) for v, name in
                  ((samples, "samples"), (validation, "validation"), (test, "test")))
    rng = np.random.default_rng(seed)
    hat = np.column_stack([rng.uniform(-reach, reach, sum(sizes)), rng.uniform(-1.0, 1.0, sum(sizes))])
    physics = rotated_sine_physics(xi, phi)
    data, _ = make_dataset(physics, hat @ rotation(phi))  # rows: R^T x_hat
    info = {"xi": float(xi), "phi": float(phi), "reach": float(reach),
            "beyond": float(np.mean(np.abs(hat[:, 0]) > np.pi / 2))}
    return Task(physics, *_split(data, sizes), info)


def branch_distance(physics: BatchPhysics, X, targets) -> float:
    r"""Mean over samples of :math:`\tfrac12|x_i - P^{-1}(y^*_i;\,x_i)|^2`: the distance to the nearest preimage.

    The local inverse conditioned on the prediction returns the preimage of :math:`y^*_i`
    on the prediction's own branch, so this is zero exactly when :math:`P(x_i) = y^*_i`,
    whichever preimage :math:`x_i` is; unlike the loss in :math:`y` it is measured in the
    units of :math:`x`. The observations must be reachable (noise-free data).

    >>> p = rotated_sine_physics(4.0, 0.0)
    >>> y = p.forward(np.array([[0.5, 0.2]]))
    >>> round(branch_distance(p, np.array([[np.pi - 0.5, 0.2]]), y), 12)
    0.0
    """
    X = np.asarray(X, dtype=float)
    nearest = physics.invert(targets, X)
    return float(0.5 * np.mean(np.sum((X - nearest) ** 2, axis=1)))
