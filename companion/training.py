r"""Training a network to solve an inverse problem: SIP, Adam through the physics, supervised.

A network :math:`f(u; \theta)` maps the observation :math:`y^*` (its input
:math:`u` is :math:`y^*` or a fixed normalisation of it) to a state
:math:`x = f(u; \theta)` that should explain the observation,
:math:`P(x) \approx y^*`.  The objective is

.. math::
    \min_\theta \; \frac1B \sum_i \tfrac12 \big|P(f(u_i;\theta)) - y^*_i\big|^2 .

Three ways to train it, each one optimiser step (Adam or plain gradient
descent with rate :math:`\eta_{NN}`) per mini-batch:

``"physics"`` (*Adam through the differentiable physics*)
    :math:`\nabla_\theta = \frac1B \sum_i (\partial f/\partial\theta)^\top J_P^\top (\partial L/\partial y)^\top`:
    the chain rule, :math:`J_P^\top` from the physics' :meth:`BatchPhysics.transpose_jacobian`,
    then backpropagation through the network (:meth:`~companion.nn.MLP.vjp`).
``"sip"`` (*scale-invariant physics training* :cite:`holl2022sip`)
    per batch :math:`x = f(u;\theta)`, :math:`y = P(x)`,
    :math:`\Delta y = -\eta\, L_{yy}^{-1} (\partial L/\partial y)^\top` (the Newton step of the
    loss in :math:`y`, :math:`\eta\,(y^* - y)` for the L2 loss), the local inverse
    :math:`\tilde x = P^{-1}(y + \Delta y;\, x)`, so that :math:`\tilde x - x` is the
    inverse-simulator step {eq}`eq-pg`; then one optimiser step on the proxy loss
    :math:`\frac1B\sum_i \tfrac12 |f(u_i;\theta) - \tilde x_i|^2` with :math:`\tilde x` held
    constant.  (A common statement of the algorithm writes the target as
    :math:`P^{-1}(y + \eta \Delta y; x)` and uses it as the *step*; the step is that
    point minus :math:`x`.)
``"supervised"``
    one optimiser step on :math:`\frac1B\sum_i \tfrac12 |f(u_i;\theta) - x^{\rm true}_i|^2`.

The physics enters through a :class:`BatchPhysics` (batched :math:`P`, local
inverse and :math:`J^\top v`); adapters build one from the heat equation
(:func:`heat_physics`), from the analytic 2-D problem
:math:`P(x) = (\sin(\hat x_1)/\xi,\ \hat x_2\,\xi)`, :math:`\hat x = R_\varphi x`
(:func:`rotated_sine_physics`), or from any companion
:class:`~companion.problems.Problem` (:func:`physics_from_problem`, a loop
over the samples).

:func:`train` is deterministic for a seeded ``rng``, records a history, and
stops with a status (never with NaNs) when values become non-finite, the
y-error blows up, or the inverse fails.
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from . import linalg
from ._checks import check_finite, check_int, check_positive
from .errors import InverseError
from .nn import MLP, _adam_raw, adam_init
from .problems import Loss, Problem

__all__ = [
    "BatchPhysics",
    "heat_physics",
    "rotated_sine_physics",
    "rotation",
    "physics_from_problem",
    "input_size_of",
    "Dataset",
    "make_dataset",
    "newton_step_in_y",
    "sip_targets",
    "sample_fallback_targets",
    "TrainingResult",
    "METHODS",
    "STATUS",
    "train",
    "train_sip",
    "train_physics",
    "train_supervised",
]

#: the training methods :func:`train` knows
METHODS = ("sip", "physics", "supervised")

#: status codes of a :class:`TrainingResult` (the names follow :data:`companion.driver.STATUS`)
STATUS = {1: "max_steps", 2: "non_finite", 3: "diverged", 4: "rule_failed"}


# --------------------------------------------------------------------------- physics
@dataclass(frozen=True)
class BatchPhysics:
    r"""A simulator :math:`P` acting on a batch, with its local inverse and :math:`J^\top v`.

    ``forward(X) -> Y``: ``(batch, n) -> (batch, m)``, row by row :math:`y_i = P(x_i)`.
    ``inverse(Y, X0) -> X``: ``(batch, m), (batch, n) -> (batch, n)``, row by row the
    local inverse :math:`P^{-1}(y_i; x_{0,i})` conditioned on the guess :math:`x_{0,i}`;
    raises :class:`~companion.errors.InverseError` where it has no solution.
    ``vjp(X, V) -> G``: ``(batch, n), (batch, m) -> (batch, n)``, row by row
    :math:`J(x_i)^\top v_i`.
    """

    forward: Callable[[np.ndarray], np.ndarray]
    inverse: Callable[[np.ndarray, np.ndarray], np.ndarray]
    vjp: Callable[[np.ndarray, np.ndarray], np.ndarray]
    n: int
    m: int
    name: str = "physics"

    def __post_init__(self):
        for attribute in ("forward", "inverse", "vjp"):
            if not callable(getattr(self, attribute)):
                raise TypeError(f"{attribute} must be callable, got {type(getattr(self, attribute)).__name__}")
        object.__setattr__(self, "n", check_int(self.n, "n", minimum=1))
        object.__setattr__(self, "m", check_int(self.m, "m", minimum=1))

    def _batch(self, value, name: str, width: int) -> np.ndarray:
        array = np.asarray(value, dtype=float)
        if array.ndim != 2 or array.shape[1] != width:
            raise ValueError(f"{name} must have shape (batch, {width}) for {self.name!r}, got {array.shape}")
        return array

    def apply(self, X) -> np.ndarray:
        """``forward`` with its output shape checked (values may be non-finite: the caller decides)."""
        X = self._batch(X, "X", self.n)
        return self._batch(self.forward(X), f"forward of {self.name!r}", self.m)

    def invert(self, Y, X0) -> np.ndarray:
        """``inverse`` with shapes checked."""
        Y = self._batch(Y, "Y", self.m)
        X0 = self._batch(X0, "X0", self.n)
        if Y.shape[0] != X0.shape[0]:
            raise ValueError(f"Y and X0 must hold the same number of samples, got {Y.shape[0]} and {X0.shape[0]}")
        return self._batch(self.inverse(Y, X0), f"inverse of {self.name!r}", self.n)

    def transpose_jacobian(self, X, V) -> np.ndarray:
        r""":math:`J(x_i)^\top v_i` for every row, shapes checked."""
        X = self._batch(X, "X", self.n)
        V = self._batch(V, "V", self.m)
        return self._batch(self.vjp(X, V), f"vjp of {self.name!r}", self.n)


def heat_physics(n: int, nu_t: float, *, cutoff: float, unresolved: str = "keep") -> BatchPhysics:
    r"""The heat equation on :math:`n` periodic points as a :class:`BatchPhysics`.

    :math:`P = e^{\nu t D_2}` (:func:`companion.physics.heat.heat_operator`);
    the local inverse is :math:`x_0 + R\,(y - P(x_0))` with :math:`R` undoing the decay of the
    modes with gain above ``cutoff`` and leaving the others at the guess'
    values; :math:`P` is linear and symmetric, so :math:`J^\top v = P v`.

    >>> physics = heat_physics(8, 1e-3, cutoff=0.0)
    >>> X = np.random.default_rng(0).normal(size=(3, 8))
    >>> bool(np.allclose(physics.inverse(physics.forward(X), np.zeros_like(X)), X))
    True
    """
    from .physics.heat import heat_operator

    op = heat_operator(n, nu_t)
    if unresolved not in ("keep", "zero"):
        raise ValueError(f"unresolved must be 'keep' or 'zero', got {unresolved!r}")

    def inverse(Y, X0):
        if unresolved == "zero":
            return op.apply_inverse(Y, cutoff=cutoff, x0=None)
        return op.apply_inverse(Y, cutoff=cutoff, x0=X0)

    return BatchPhysics(op.apply, inverse, lambda X, V: op.apply(V), op.n, op.n,
                        name=f"heat (n={op.n}, nu t={op.nu_t:g}, cutoff={cutoff:g})")


def rotation(phi: float) -> np.ndarray:
    r"""The rotation matrix :math:`R_\varphi = \begin{pmatrix}\cos\varphi & -\sin\varphi\\ \sin\varphi & \cos\varphi\end{pmatrix}`.

    >>> rotation(np.pi / 2).round(12)
    array([[ 0., -1.],
           [ 1.,  0.]])
    """
    if isinstance(phi, bool) or not isinstance(phi, numbers.Real) or not np.isfinite(phi):
        raise TypeError(f"phi must be a finite real angle in radians, got {phi!r}")
    c, s = np.cos(phi), np.sin(phi)
    return np.array([[c, -s], [s, c]])


def rotated_sine_physics(xi: float, phi: float, *, out_of_range: str = "raise") -> BatchPhysics:
    r"""The 2-D problem :math:`P(x) = (\sin(\hat x_1)/\xi,\ \hat x_2\,\xi)`, :math:`\hat x = R_\varphi x`.

    ``xi`` (:math:`\xi`) sets the conditioning (the two outputs respond with
    slopes :math:`\cos\hat x_1/\xi` and :math:`\xi`), ``phi`` (:math:`\varphi`) couples
    the components.  Row by row:

    * :math:`J^\top v = R_\varphi^\top\,(\cos(\hat x_1)\, v_1/\xi,\ \xi\, v_2)`;
    * local inverse: :math:`\hat x_2 = y_2/\xi`; for :math:`\hat x_1`, :math:`\sin` is
      inverted on the monotone branch :math:`[\pi k - \pi/2,\ \pi k + \pi/2]` that holds
      the guess' :math:`\hat x_{0,1}` (:math:`k = \mathrm{round}(\hat x_{0,1}/\pi)`):
      :math:`\hat x_1 = \pi k + (-1)^k \arcsin(\xi y_1)`; then :math:`x = R_\varphi^\top \hat x`.

    :math:`\xi y_1` outside :math:`[-1, 1]` has no preimage: with
    ``out_of_range="raise"`` the inverse raises
    :class:`~companion.errors.InverseError`; with ``"clip"`` it returns the
    branch end (:math:`\xi y_1` clipped to :math:`\pm 1`), the closest reachable output.

    >>> physics = rotated_sine_physics(4.0, np.pi / 8)
    >>> X = np.array([[0.3, -0.5], [2.0, 1.0]])
    >>> bool(np.allclose(physics.inverse(physics.forward(X), X + 0.1), X))
    True
    """
    xi = check_positive(xi, "xi")
    R = rotation(phi)
    if out_of_range not in ("raise", "clip"):
        raise ValueError(f"out_of_range must be 'raise' or 'clip', got {out_of_range!r}")

    def forward(X):
        H = X @ R.T
        return np.stack([np.sin(H[:, 0]) / xi, H[:, 1] * xi], axis=1)

    def vjp(X, V):
        H = X @ R.T
        G = np.stack([np.cos(H[:, 0]) * V[:, 0] / xi, xi * V[:, 1]], axis=1)
        return G @ R  # R^T g for every row

    def inverse(Y, X0):
        s = xi * Y[:, 0]
        outside = ~(np.abs(s) <= 1.0)
        if np.any(outside):
            if out_of_range == "raise" or not np.all(np.isfinite(s)):
                worst = float(np.max(np.abs(s[outside])))
                raise InverseError(
                    f"sin(x1)/xi = y1 has no solution for |xi * y1| = {worst:.4g} > 1 "
                    f"({int(outside.sum())} sample(s)); use eta < 1 or out_of_range='clip'"
                )
            s = np.clip(s, -1.0, 1.0)
        H0 = X0 @ R.T
        k = np.round(H0[:, 0] / np.pi)
        sign = np.where(np.mod(k, 2) == 0, 1.0, -1.0)
        H = np.stack([np.pi * k + sign * np.arcsin(s), Y[:, 1] / xi], axis=1)
        return H @ R  # R^T h for every row

    return BatchPhysics(forward, inverse, vjp, 2, 2, name=f"rotated sine (xi={xi:g}, phi={float(phi):.4g})")


def physics_from_problem(problem: Problem, *, n: Optional[int] = None, batched: Optional[bool] = None) -> BatchPhysics:
    r"""Any companion :class:`~companion.problems.Problem` with a local inverse, as a :class:`BatchPhysics`.

    Parameters
    ----------
    problem
        The problem; its target is not used (the targets come with the data).
    n
        The size of :math:`x`.  Default: :attr:`Problem.input_size <companion.problems.Problem.input_size>`
        (the problem's ``n`` or the size of the last point it evaluated), else read off the
        Jacobian or the inverse at zeros and confirmed by the simulator (see :func:`input_size_of`).
    batched
        Whether the problem's functions accept a whole batch (rows of ``X``) at once.
        ``None`` decides for each function (simulator, inverse, vjp or Jacobian) at its
        first call with two samples or more: the batched call is used from then on only if
        it returns exactly what the sample-by-sample loop returns.  ``False`` always loops.

    Notes
    -----
    :math:`J^\top v` comes from the problem's ``vjp``, else its Jacobian, else forward
    differences of the batched simulator (:math:`n` batched calls) or of each sample.
    The loop calls the user's functions directly, without the per-call checks of
    :meth:`~companion.problems.Problem.output`; the batch's shape and finiteness are
    checked by the :class:`BatchPhysics` and by :func:`train`.  All calls are counted in the
    problem's :attr:`~companion.problems.Problem.calls` (a batched call counts once).

    Examples
    --------
    >>> import numpy as np
    >>> from companion.problems import Problem
    >>> p = Problem(lambda x: x[..., :2] + x[..., 2:], lambda x: np.array([[1, 0, 1], [0, 1, 1.0]]), [0.0, 0.0],
    ...             inverse=lambda y, x0: np.concatenate([y, np.zeros_like(y[..., :1])], axis=-1))
    >>> physics = physics_from_problem(p)
    >>> physics.n, physics.forward(np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]]))
    (3, array([[4., 5.],
           [1., 1.]]))
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a companion.Problem, got {type(problem).__name__}")
    if batched is not None and not isinstance(batched, bool):
        raise TypeError(f"batched must be True, False or None, got {type(batched).__name__}")
    n = input_size_of(problem) if n is None else check_int(n, "n", minimum=1)
    adapter = _ProblemAdapter(problem, n, batched)
    return BatchPhysics(adapter.forward, adapter.inverse, adapter.vjp, n, problem.output_size, name=problem.name)


def input_size_of(problem: Problem) -> int:
    r"""The size :math:`n` of :math:`x` for ``problem``, or a ``ValueError`` saying how to give it.

    The problem's :attr:`~companion.problems.Problem.input_size` if known; otherwise
    the number of columns of the Jacobian, or the size of the inverse's output, at zeros
    of the output size :math:`m` (a guess), accepted only when the simulator then maps
    zeros of that size to :math:`m` outputs; otherwise :math:`m` if the simulator accepts
    :math:`m` inputs.

    >>> from companion.problems import Problem
    >>> input_size_of(Problem(lambda x: x[:2] + x[2], lambda x: np.array([[1, 0, 1], [0, 1, 1.0]]), [0, 0]))
    3
    """
    if problem.input_size is not None:
        return problem.input_size
    m = problem.output_size
    probes = []
    if problem.jacobian is not None:
        probes.append(lambda: np.shape(problem.jacobian(np.zeros(m)))[-1])
    if problem.inverse is not None:
        probes.append(lambda: np.size(problem.inverse(problem.target, np.zeros(m))))
    probes.append(lambda: m)
    for probe in probes:
        try:
            with np.errstate(all="ignore"):
                k = int(probe())
                if k >= 1 and np.size(problem.simulator(np.zeros(k))) == m:
                    return k
        except Exception:  # noqa: BLE001 - a probe at a guessed size may fail in any way
            continue
    raise ValueError(
        f"cannot tell how many components x has for {problem.name!r}: pass n= to physics_from_problem "
        f"(or to Problem)"
    )


class _ProblemAdapter:
    """The batched functions of :func:`physics_from_problem`: a batched call where verified, else a loop."""

    def __init__(self, problem: Problem, n: int, batched: Optional[bool]):
        self.problem, self.n, self.m = problem, n, problem.output_size
        self.batched = {} if batched is None else {"simulator": batched, "inverse": batched, "vjp": batched,
                                                   "jacobian": batched}

    def _call(self, kind: str, function, args):
        """One call of a user function (counted), its exceptions re-raised as ``ValueError`` naming it."""
        from .problems import _call_user

        self.problem._memory.calls["hessian" if kind == "second" else kind] += 1
        return _call_user(function, args, f"{kind} of {self.problem.name!r}")

    def _batched_or_loop(self, kind: str, function, batch_args, shape):
        """``function`` on the whole batch if that is known (or now found) to equal the loop, else the loop."""
        size = batch_args[0].shape[0]
        mode = self.batched.get(kind)
        if mode is not False and (mode is True or size >= 2):
            try:
                with np.errstate(all="ignore"):
                    value = np.asarray(self._call(kind, function, batch_args), dtype=float)
            except Exception:  # noqa: BLE001 - a function written for one sample may fail on a batch
                value = None
            if mode is True:
                if value is None or value.shape != (size,) + shape:  # trusted but wrong: say so
                    raise ValueError(f"the {kind} of {self.problem.name!r} does not accept a batch; "
                                     f"use physics_from_problem(..., batched=None or False)")
                return value
            if value is not None and value.shape == (size,) + shape:
                loop = self._loop(kind, function, batch_args)
                same = np.allclose(value, loop, rtol=1e-12, atol=1e-300, equal_nan=True)
                self.batched[kind] = bool(same)
                return value if same else loop
            self.batched[kind] = False
        return self._loop(kind, function, batch_args)

    def _loop(self, kind, function, batch_args):
        return np.stack([np.asarray(self._call(kind, function, args), dtype=float).reshape(-1)
                         for args in zip(*batch_args)])

    def forward(self, X):
        return self._batched_or_loop("simulator", self.problem.simulator, (X,), (self.m,))

    def inverse(self, Y, X0):
        if self.problem.inverse is None:
            from .rules import _require_inverse

            _require_inverse(self.problem)
        return self._batched_or_loop("inverse", self.problem.inverse, (Y, X0), (self.n,))

    def vjp(self, X, V):
        problem = self.problem
        if problem.vjp is not None:
            return self._batched_or_loop("vjp", problem.vjp, (X, V), (self.n,))
        if problem.jacobian is not None:
            jacobians = self._batched_or_loop("jacobian", problem.jacobian, (X,), (self.m, self.n))
            return np.einsum("bmn,bm->bn", jacobians.reshape(-1, self.m, self.n), V)
        if self.batched.get("simulator"):
            return self._difference_vjp(X, V)
        return np.stack([problem.jacobian_at(x).T @ v for x, v in zip(X, V)])

    def _difference_vjp(self, X, V):
        r""":math:`J(x_b)^\top v_b` by forward differences of the batched simulator, :math:`n + 1` batched calls."""
        from .derivatives import relative_steps

        Y = self.forward(X)
        G = np.empty_like(X)
        for i in range(self.n):
            shifted = X.copy()
            typical = None if self.problem.typical_x is None else self.problem.typical_x[i]
            h = relative_steps(X[:, i], "forward", typical)
            shifted[:, i] += h
            G[:, i] = np.sum((self.forward(shifted) - Y) / h[:, None] * V, axis=1)
        return G


# --------------------------------------------------------------------------- data
@dataclass(frozen=True)
class Dataset:
    r"""Training data: network ``inputs`` :math:`u_i`, ``targets`` :math:`y^*_i` and, if known, ``truth`` :math:`x_i`.

    Shapes ``(N, in)``, ``(N, m)``, ``(N, n)``; all finite.
    """

    inputs: np.ndarray
    targets: np.ndarray
    truth: Optional[np.ndarray] = None

    def __post_init__(self):
        arrays = {}
        for name in ("inputs", "targets", "truth"):
            value = getattr(self, name)
            if value is None and name == "truth":
                continue
            array = np.array(value, dtype=float)
            if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
                raise ValueError(f"{name} must be a non-empty 2-D array (samples, features), got shape {array.shape}")
            check_finite(array, name)
            array.flags.writeable = False
            arrays[name] = array
        sizes = {name: a.shape[0] for name, a in arrays.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"inputs, targets and truth must hold the same number of samples, got {sizes}")
        for name, array in arrays.items():
            object.__setattr__(self, name, array)

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def subset(self, index) -> "Dataset":
        """The samples ``index`` (an integer array or slice)."""
        return Dataset(self.inputs[index], self.targets[index], None if self.truth is None else self.truth[index])


def make_dataset(physics: BatchPhysics, truth, *, normalise: bool = True, noise: float = 0.0,
                 rng: Optional[np.random.Generator] = None) -> tuple[Dataset, Callable[[np.ndarray], np.ndarray]]:
    r"""Targets :math:`y^*_i = P(x_i) + \sigma\,\epsilon_i` for the true states ``truth`` and the network inputs.

    With ``normalise`` the inputs are :math:`u = (y^* - \mu)/s`, featurewise mean and
    standard deviation of the targets (a fixed part of the model, the same for every
    training method); otherwise :math:`u = y^*`.  Returns the dataset and the
    normalisation as a function, to apply to new observations.
    """
    truth = np.array(truth, dtype=float)
    targets = physics.apply(truth)
    if noise:
        if not isinstance(rng, np.random.Generator):
            raise TypeError("noise > 0 needs rng, a numpy Generator")
        targets = targets + check_positive(noise, "noise") * rng.standard_normal(targets.shape)
    check_finite(targets, "the targets P(truth)")
    if normalise:
        mean = targets.mean(axis=0)
        scale = targets.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
    else:
        mean, scale = np.zeros(targets.shape[1]), np.ones(targets.shape[1])

    def transform(Y):
        return (np.asarray(Y, dtype=float) - mean) / scale

    return Dataset(transform(targets), targets, truth), transform


# --------------------------------------------------------------------------- steps
def newton_step_in_y(Y, targets, eta: float = 1.0, loss: Optional[Loss] = None) -> np.ndarray:
    r"""Row by row the Newton step of the loss in :math:`y`, :math:`\Delta y = -\eta\, L_{yy}^{-1} (\partial L/\partial y)^\top`.

    ``loss=None`` is :math:`\tfrac12|y - y^*|^2`, for which :math:`\Delta y = \eta\,(y^* - y)`
    (vectorised); another :class:`~companion.problems.Loss` goes through
    :meth:`companion.problems.Problem.newton_step_in_y` sample by sample.

    >>> newton_step_in_y(np.array([[1.0, 2.0]]), np.array([[3.0, 0.0]]), 0.5)
    array([[ 1., -1.]])
    """
    Y = np.asarray(Y, dtype=float)
    targets = np.asarray(targets, dtype=float)
    if loss is None:
        return eta * (targets - Y)
    if not isinstance(loss, Loss):
        raise TypeError(f"loss must be a companion.problems.Loss or None, got {type(loss).__name__}")
    m = Y.shape[1]
    steps = []
    for y, target in zip(Y, targets):
        identity = Problem(simulator=lambda x: x, jacobian=lambda x: np.eye(m), target=target, loss=loss)
        steps.append(identity.newton_step_in_y(y, eta))
    return np.stack(steps)


def _loss_gradients(Y, targets, loss: Optional[Loss]) -> np.ndarray:
    if loss is None:
        return Y - targets
    return np.stack([loss.gradient(y, t) for y, t in zip(Y, targets)])


def _loss_values(Y, targets, loss: Optional[Loss]) -> np.ndarray:
    if loss is None:
        return 0.5 * np.sum((Y - targets) ** 2, axis=1)
    return np.array([loss.value(y, t) for y, t in zip(Y, targets)])


def sip_targets(physics: BatchPhysics, X, targets, eta: float = 1.0, loss: Optional[Loss] = None) -> np.ndarray:
    r"""The SIP targets :math:`\tilde x_i = P^{-1}(y_i + \Delta y_i;\ x_i)` for predictions ``X``.

    :math:`y_i = P(x_i)`, :math:`\Delta y_i` from :func:`newton_step_in_y`; :math:`\tilde x - x` is
    the inverse-simulator step {eq}`eq-pg` of every sample.
    """
    Y = physics.apply(X)
    return physics.invert(Y + newton_step_in_y(Y, targets, eta, loss), X)


def _inverse_or_fallback(physics: BatchPhysics, X, Y, wanted) -> tuple[np.ndarray, int]:
    """SIP targets: the batch inverse, else sample by sample with the IG fallback where it fails."""
    try:
        with np.errstate(all="ignore"):
            targets = physics.invert(wanted, X)
        failed = ~np.all(np.isfinite(targets), axis=1)
    except Exception:  # noqa: BLE001 - any failure of the batch: find the samples that fail
        targets = np.array(X, dtype=float, copy=True)
        failed = np.zeros(X.shape[0], dtype=bool)
        for i in range(X.shape[0]):
            try:
                with np.errstate(all="ignore"):
                    targets[i] = physics.invert(wanted[i:i + 1], X[i:i + 1])[0]
                failed[i] = not np.all(np.isfinite(targets[i]))
            except Exception:  # noqa: BLE001
                failed[i] = True
    if failed.any():
        targets[failed] = sample_fallback_targets(physics, X[failed], wanted[failed] - Y[failed])
    return targets, int(failed.sum())


def sample_fallback_targets(physics: BatchPhysics, X, dY, *, rtol: float = 1e-12) -> np.ndarray:
    r"""Row by row the inverse-gradient target :math:`x_i + J_i^{+} \Delta y_i` (SIP's fallback).

    :math:`J_i` is assembled from :math:`m` products :math:`J_i^\top e_k` (one batched
    :meth:`BatchPhysics.transpose_jacobian` call per sample); the pseudo-inverse is taken of
    the column-scaled :math:`J_i D^{-1}` (:math:`D` the column norms) and truncated at
    ``rtol``, so the step does not depend on the units of :math:`x`.

    >>> physics = rotated_sine_physics(2.0, 0.0)
    >>> sample_fallback_targets(physics, np.array([[0.0, 1.0]]), np.array([[0.1, 0.4]])).round(12)
    array([[0.2, 1.2]])
    """
    X = np.asarray(X, dtype=float)
    dY = np.asarray(dY, dtype=float)
    identity = np.eye(physics.m)
    targets = np.empty_like(X)
    for i, (x, dy) in enumerate(zip(X, dY)):
        jac = physics.transpose_jacobian(np.repeat(x[None], physics.m, axis=0), identity)
        norms = np.linalg.norm(jac, axis=0)
        scale = np.where(norms > 0, norms, 1.0)
        targets[i] = x + linalg.pinv(jac / scale, rtol=rtol, name="J") @ dy / scale
    return targets


# --------------------------------------------------------------------------- result
@dataclass(frozen=True)
class TrainingResult:
    r"""What :func:`train` returns.

    History (entry ``k`` at parameters :math:`\theta` after ``iterations[k]`` updates;
    entry 0 is the start, then every ``eval_every`` updates and the last one),
    measured on the evaluation data:

    * ``x_error``: :math:`\frac1N\sum_i \tfrac12|f(u_i) - x_i|^2` (NaN without ground truth);
    * ``y_error``: :math:`\frac1N\sum_i L(P(f(u_i)); y^*_i)`, the physics loss;
    * ``loss``: the method's own objective there (SIP: the proxy loss
      :math:`\frac1N\sum_i\tfrac12|f(u_i)-\tilde x_i|^2`; physics: ``y_error``; supervised: ``x_error``);
    * ``time``: seconds of training (updates only, evaluations excluded) up to that point.

    ``status`` is a code of :data:`companion.training.STATUS` (1 ``max_steps`` = all iterations done);
    ``thetas`` holds every iterate when ``keep_thetas=True`` and ``thetas_time`` the seconds of
    training (updates only) at each of them; ``fallbacks`` counts the
    samples of SIP whose inverse failed and that took the ``fallback`` step instead.
    """

    method: str
    optimizer: str
    eta_nn: float
    eta: float
    theta: np.ndarray
    nit: int
    status: int
    message: str
    iterations: np.ndarray
    x_error: np.ndarray
    y_error: np.ndarray
    loss: np.ndarray
    time: np.ndarray
    thetas: Optional[np.ndarray] = field(default=None, repr=False)
    #: seconds of training (updates only) at each of ``thetas``
    thetas_time: Optional[np.ndarray] = field(default=None, repr=False)
    #: how many samples of SIP took the fallback step because their inverse failed
    fallbacks: int = 0
    #: the parameters at every entry of the history (``snapshots=True``)
    snapshots: Optional[np.ndarray] = field(default=None, repr=False)

    @property
    def status_name(self) -> str:
        return STATUS[self.status]

    @property
    def success(self) -> bool:
        """True if every iteration was done without failure."""
        return self.status == 1

    @property
    def label(self) -> str:
        """The name for legends and colours (``SIP``, ``Adam`` or ``GD`` through the physics, ``supervised``)."""
        if self.method == "sip":
            return "SIP"
        if self.method == "supervised":
            return "supervised"
        return "Adam" if self.optimizer == "adam" else "GD"

    @property
    def final_x_error(self) -> float:
        return float(self.x_error[-1])

    @property
    def final_y_error(self) -> float:
        return float(self.y_error[-1])


# --------------------------------------------------------------------------- training
def _check_options(method, net, theta0, physics, data, iterations, batch_size, rng, eta_nn, eta, optimizer):
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not isinstance(net, MLP):
        raise TypeError(f"net must be a companion.nn.MLP, got {type(net).__name__}")
    theta0 = net._check_theta(theta0).copy()
    if not isinstance(physics, BatchPhysics):
        raise TypeError(f"physics must be a BatchPhysics (see heat_physics, rotated_sine_physics), got {type(physics).__name__}")
    if not isinstance(data, Dataset):
        raise TypeError(f"data must be a Dataset, got {type(data).__name__}")
    if data.inputs.shape[1] != net.n_inputs:
        raise ValueError(f"the network takes {net.n_inputs} inputs, the data has {data.inputs.shape[1]}")
    if net.n_outputs != physics.n:
        raise ValueError(f"the network outputs {net.n_outputs} values, the physics takes x of size {physics.n}")
    if data.targets.shape[1] != physics.m:
        raise ValueError(f"the physics outputs {physics.m} values, the targets have {data.targets.shape[1]}")
    if method == "supervised" and data.truth is None:
        raise ValueError("supervised training needs data.truth (the ground-truth states)")
    iterations = check_int(iterations, "iterations", minimum=0)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    if batch_size > len(data):
        raise ValueError(f"batch_size ({batch_size}) exceeds the number of samples ({len(data)})")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    eta_nn = check_positive(eta_nn, "eta_nn")
    eta = check_positive(eta, "eta")
    if optimizer not in ("adam", "gd"):
        raise ValueError(f"optimizer must be 'adam' or 'gd', got {optimizer!r}")
    return theta0, iterations, batch_size, eta_nn, eta


def _finite(*arrays) -> bool:
    return all(np.all(np.isfinite(a)) for a in arrays)


def train(method: str, net: MLP, theta0, physics: BatchPhysics, data: Dataset, *, iterations: int,
          batch_size: int, rng: np.random.Generator, eta_nn: float, eta: float = 1.0,
          optimizer: str = "adam", loss: Optional[Loss] = None, evaluation: Optional[Dataset] = None,
          eval_every: int = 1, blowup: float = 1e6, keep_thetas: bool = False,
          fallback: Optional[str] = None, snapshots: bool = False,
          until_seconds: float = 0.0) -> TrainingResult:
    r"""Train ``net`` from ``theta0`` with ``method`` (``"sip"``, ``"physics"`` or ``"supervised"``).

    Each iteration draws the next mini-batch of ``batch_size`` samples (a fresh
    permutation of the data from ``rng`` every epoch), computes the method's
    gradient (see the module docstring) averaged over the batch and takes one
    optimiser step: Adam (:func:`companion.nn.adam_update`) or plain gradient
    descent, with rate ``eta_nn``.  ``eta`` is SIP's step in :math:`y`.
    ``loss`` is the loss in :math:`y` (default :math:`\tfrac12|y - y^*|^2`).

    Stops early with a status when a gradient, the parameters or a prediction
    becomes non-finite (``non_finite``), when the y-error exceeds ``blowup`` times
    its start (``diverged``) or when the local inverse fails (``rule_failed``).

    ``fallback="ig"`` keeps SIP going where the inverse fails: the samples whose inverse
    raises or returns non-finite values get the target :math:`x_i + J_i^{+} \Delta y_i`
    instead (the inverse-gradient step {eq}`eq-ig`, :func:`sample_fallback_targets`); the
    result's ``fallbacks`` counts them.

    ``snapshots=True`` keeps the parameters at every evaluation (``result.snapshots``, one
    row per entry of the history), so that other data sets can be scored afterwards.
    ``until_seconds`` > 0 keeps training past ``iterations`` (same schedule, evaluations every
    ``eval_every``) until the training time (updates only) reaches it as well, at most
    100 times ``iterations``: a budget in iterations *and* wall-clock seconds.

    >>> from companion.nn import MLP
    >>> physics = rotated_sine_physics(2.0, 0.0)
    >>> data, _ = make_dataset(physics, np.random.default_rng(0).uniform(-1, 1, (32, 2)))
    >>> net = MLP((2, 16, 2))
    >>> theta0 = net.init(np.random.default_rng(1))
    >>> result = train("sip", net, theta0, physics, data, iterations=200, batch_size=16,
    ...                rng=np.random.default_rng(2), eta_nn=0.01)
    >>> result.status_name, bool(result.y_error[-1] < 0.05 * result.y_error[0])
    ('max_steps', True)
    """
    theta, iterations, batch_size, eta_nn, eta = _check_options(
        method, net, theta0, physics, data, iterations, batch_size, rng, eta_nn, eta, optimizer)
    if loss is not None and not isinstance(loss, Loss):
        raise TypeError(f"loss must be a companion.problems.Loss or None, got {type(loss).__name__}")
    evaluation = data if evaluation is None else evaluation
    if not isinstance(evaluation, Dataset):
        raise TypeError(f"evaluation must be a Dataset or None, got {type(evaluation).__name__}")
    eval_every = check_int(eval_every, "eval_every", minimum=1)
    blowup = check_positive(blowup, "blowup")
    if fallback not in (None, "ig"):
        raise ValueError(f"fallback must be None or 'ig', got {fallback!r}")
    counts = [0]  # samples that took the fallback
    until_seconds = float(until_seconds)
    if not until_seconds >= 0.0:
        raise ValueError(f"until_seconds must be a non-negative number of seconds, got {until_seconds!r}")
    limit = iterations if until_seconds == 0.0 else 100 * max(iterations, 1)

    def evaluate(theta):
        X = net.forward(theta, evaluation.inputs)
        Y = physics.apply(X)
        y_err = float(np.mean(_loss_values(Y, evaluation.targets, loss)))
        x_err = float("nan") if evaluation.truth is None else float(0.5 * np.mean(np.sum((X - evaluation.truth) ** 2, axis=1)))
        if method == "sip":
            try:
                with np.errstate(all="ignore"):
                    wanted = Y + newton_step_in_y(Y, evaluation.targets, eta, loss)
                    target = physics.invert(wanted, X) if fallback is None else _inverse_or_fallback(
                        physics, X, Y, wanted)[0]
                own = float(0.5 * np.mean(np.sum((X - target) ** 2, axis=1)))
            except InverseError:
                own = float("nan")
        elif method == "physics":
            own = y_err
        else:
            own = x_err
        return x_err, y_err, own

    def gradient(theta, inputs, targets, truth):
        B = inputs.shape[0]
        tape = net._forward_pass(theta, inputs)
        X = tape[2][-1]
        if method == "supervised":
            cotangent = (X - truth) / B
        else:
            Y = physics.apply(X)
            if not _finite(Y):
                return None
            if method == "physics":
                cotangent = physics.transpose_jacobian(X, _loss_gradients(Y, targets, loss)) / B
            else:
                wanted = Y + newton_step_in_y(Y, targets, eta, loss)
                if fallback is None:
                    target = physics.invert(wanted, X)
                else:
                    target, failed = _inverse_or_fallback(physics, X, Y, wanted)
                    counts[0] += failed
                cotangent = (X - target) / B
        if not _finite(cotangent):
            return None
        return net._vjp_raw(theta, inputs, cotangent, tape=tape)

    state = adam_init(theta)
    history = [evaluate(theta)]
    steps_done = [0]
    times = [0.0]
    thetas = [theta.copy()] if keep_thetas else None
    thetas_time = [0.0] if keep_thetas else None
    kept = [theta.copy()] if snapshots else None
    status, message = 1, f"{iterations} iterations done"
    elapsed = 0.0
    nit = 0
    order = np.empty(0, dtype=int)
    position = 0
    N = len(data)
    with np.errstate(all="ignore"):
        for k in range(1, limit + 1):
            if position + batch_size > order.size:
                order = rng.permutation(N)
                position = 0
            index = order[position:position + batch_size]
            position += batch_size
            truth = None if data.truth is None else data.truth[index]
            inputs, targets = data.inputs[index], data.targets[index]
            start = time.perf_counter()
            try:
                grad = gradient(theta, inputs, targets, truth)
            except InverseError as exc:
                status, message = 4, (f"the local inverse failed at iteration {k}: {exc}; fallback='ig' "
                                      f"takes an inverse-gradient step for the samples whose inverse fails")
                break
            if grad is None or not _finite(grad):
                status, message = 2, f"non-finite values in the gradient at iteration {k}"
                break
            if optimizer == "adam":
                new_theta, state = _adam_raw(theta, grad, state, eta_nn)
            else:
                new_theta = theta - eta_nn * grad
            elapsed += time.perf_counter() - start
            if not _finite(new_theta):
                status, message = 2, f"non-finite parameters after iteration {k}"
                break
            theta = new_theta
            nit = k
            if keep_thetas:
                thetas.append(theta.copy())
                thetas_time.append(elapsed)
            done = k >= iterations and elapsed >= until_seconds
            if k % eval_every == 0 or k == iterations or done or k == limit:
                try:
                    values = evaluate(theta)
                except ValueError:  # non-finite predictions
                    status, message = 2, f"non-finite predictions after iteration {k}"
                    break
                if not np.isfinite(values[1]):
                    status, message = 2, f"non-finite y-error after iteration {k}"
                    break
                history.append(values)
                steps_done.append(k)
                times.append(elapsed)
                if snapshots:
                    kept.append(theta.copy())
                if values[1] > blowup * max(history[0][1], np.finfo(float).tiny):
                    status, message = 3, (f"the y-error grew from {history[0][1]:.3g} to {values[1]:.3g} "
                                          f"(more than blowup = {blowup:g} times) at iteration {k}")
                    break
            if done:
                break
    if status == 1 and nit > iterations:
        message = f"{nit} iterations done ({iterations} and {until_seconds:.3g} s of training)"
    values = np.array(history, dtype=float)
    return TrainingResult(
        method=method, optimizer=optimizer, eta_nn=eta_nn, eta=eta, theta=theta, nit=nit,
        status=status, message=message, iterations=np.array(steps_done), x_error=values[:, 0],
        y_error=values[:, 1], loss=values[:, 2], time=np.array(times),
        thetas=None if thetas is None else np.array(thetas), fallbacks=counts[0],
        thetas_time=None if thetas_time is None else np.array(thetas_time),
        snapshots=None if kept is None else np.array(kept),
    )


def train_sip(net, theta0, physics, data, **options) -> TrainingResult:
    """:func:`train` with ``method="sip"``."""
    return train("sip", net, theta0, physics, data, **options)


def train_physics(net, theta0, physics, data, **options) -> TrainingResult:
    """:func:`train` with ``method="physics"`` (Adam, or GD, through the differentiable physics)."""
    return train("physics", net, theta0, physics, data, **options)


def train_supervised(net, theta0, physics, data, **options) -> TrainingResult:
    """:func:`train` with ``method="supervised"`` (ground-truth states; ``physics`` only for the y-error)."""
    return train("supervised", net, theta0, physics, data, **options)
