r"""Half-inverse gradients (HIG), Gauss-Newton and Adam for training a network through physics.

A network :math:`f(x; \theta)` feeds a differentiable physics :math:`P`; for a
mini-batch of :math:`b` samples the outputs :math:`y_i = P(f(x_i; \theta))`
(each of size :math:`m`) are stacked into one vector of length :math:`bm`, and
so are the per-sample Jacobians :math:`\partial y_i/\partial\theta` into

.. math::
    A = \frac{\partial y}{\partial \theta} \in \mathbb{R}^{bm \times p} = U S V^\top .

With the stacked loss gradient :math:`g = (\partial L/\partial y)^\top` the
three rules of this module are one family,

.. math::
    \Delta\theta = -\eta\, V S^{\kappa} U^\top g = -\eta\, A^{\kappa} g ,

with :math:`\kappa = 1` (gradient descent, since :math:`A^\top = V S U^\top`),
:math:`\kappa = -1` (Gauss-Newton, :math:`A^{+} g`) and :math:`\kappa = -1/2`
(HIG).  Both inverse powers go through :func:`companion.linalg.svd_power`:
singular values :math:`s_i \le \tau\, s_{\max}` are *dropped* (their inverse
contribution is zero), not clamped.

:func:`train` applies these steps with plain SGD (or Adam through
:func:`companion.nn.adam_update`) and records the loss and the wall-clock.

Conventions: ``grad_y`` holds the per-sample gradients
:math:`\partial \ell_i/\partial y_i` of the per-sample losses, i.e. the
gradient of the *summed* loss :math:`\sum_i \ell_i`; then Gauss-Newton with
:math:`\eta = 1` is the Newton step in :math:`y` mapped back through
:math:`A^{+}`.  The loss :func:`train` reports is the mean over samples.
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from ._checks import as_vector, check_fraction, check_int, check_positive
from .driver import STATUS
from .errors import NonFiniteError
from .linalg import svd_power
from .problems import Loss, squared_error
from .timing import one_blas_thread  # noqa: F401 - re-exported

__all__ = [
    "METHODS",
    "KAPPA",
    "stack",
    "svd_step",
    "hig_step",
    "gauss_newton_step",
    "gradient_step",
    "ThroughPhysics",
    "TrainResult",
    "train",
    "one_blas_thread",
]

#: Methods :func:`train` knows.
METHODS = ("adam", "gn", "hig")

#: The SVD exponent of each method of the family.
KAPPA = {"gd": 1.0, "gn": -1.0, "hig": -0.5}

#: Display names (the keys of :data:`companion.plots.COLORS`).
DISPLAY = {"adam": "Adam", "gn": "Gauss-Newton", "hig": "HIG", "gd": "GD"}


# --------------------------------------------------------------------------- the steps
def stack(jacobian, grad_y) -> tuple[np.ndarray, np.ndarray]:
    r"""Stack per-sample Jacobians ``(b, m, p)`` and gradients ``(b, m)`` into ``(b m, p)`` and ``(b m,)``.

    Already stacked input (``(N, p)`` and ``(N,)``) is returned as it is.  Row
    :math:`i m + j` is output :math:`j` of sample :math:`i`.

    >>> A, g = stack(np.ones((3, 2, 5)), np.zeros((3, 2)))
    >>> A.shape, g.shape
    ((6, 5), (6,))
    """
    try:
        jac = np.asarray(jacobian, dtype=float)
        grad = np.asarray(grad_y, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"jacobian and grad_y must be arrays of real numbers ({exc})") from None
    if jac.ndim == 3:
        if grad.shape != jac.shape[:2] and grad.shape != (jac.shape[0] * jac.shape[1],):
            raise ValueError(f"grad_y must have shape {jac.shape[:2]} (or be stacked) to match jacobian "
                             f"{jac.shape}, got {grad.shape}")
        return jac.reshape(-1, jac.shape[2]), grad.reshape(-1)
    if jac.ndim != 2:
        raise ValueError(f"jacobian must have shape (b, m, p) or stacked (b*m, p), got {jac.shape}")
    grad = grad.reshape(-1) if grad.ndim == 2 else grad
    if grad.shape != (jac.shape[0],):
        raise ValueError(f"grad_y must have {jac.shape[0]} entries to match jacobian {jac.shape}, got shape {np.shape(grad_y)}")
    return jac, grad


def svd_step(jacobian, grad_y, *, kappa: float, eta: float = 1.0, tau: float = 0.0) -> np.ndarray:
    r"""The family step :math:`\Delta\theta = -\eta\, A^{\kappa} g` with :math:`A^\kappa = V S^\kappa U^\top`.

    ``jacobian`` is ``(b, m, p)`` (stacked here) or ``(b m, p)``; ``tau`` is the
    relative truncation of :func:`companion.linalg.svd_power` (only used for
    :math:`\kappa < 0`).

    >>> svd_step(np.diag([4.0, 0.25]), [1.0, 1.0], kappa=-0.5)
    array([-0.5, -2. ])
    """
    A, g = stack(jacobian, grad_y)
    eta = check_positive(eta, "eta")
    tau = check_fraction(tau, "tau")
    return -eta * (svd_power(A, kappa, rtol=tau, name="the stacked Jacobian") @ g)


def hig_step(jacobian, grad_y, *, eta: float = 1.0, tau: float = 1e-6) -> np.ndarray:
    r"""Half-inverse gradient :math:`\Delta\theta = -\eta\, V S^{-1/2} U^\top g`, dropping :math:`s_i \le \tau s_{\max}`.

    >>> hig_step(np.diag([4.0, 1e-9]), [1.0, 1.0], eta=1.0, tau=1e-6)   # the tiny s is dropped
    array([-0.5, -0. ])
    """
    return svd_step(jacobian, grad_y, kappa=KAPPA["hig"], eta=eta, tau=tau)


def gauss_newton_step(jacobian, grad_y, *, eta: float = 1.0, tau: float = 1e-12) -> np.ndarray:
    r"""Gauss-Newton :math:`\Delta\theta = -\eta\, A^{+} g = -\eta\, V S^{-1} U^\top g` (truncated at ``tau``).

    >>> gauss_newton_step(np.diag([4.0, 0.25]), [1.0, 1.0])
    array([-0.25, -4.  ])
    """
    return svd_step(jacobian, grad_y, kappa=KAPPA["gn"], eta=eta, tau=tau)


def gradient_step(jacobian, grad_y, *, eta: float) -> np.ndarray:
    r"""Gradient descent :math:`\Delta\theta = -\eta\, A^\top g` (:math:`\kappa = 1`, no SVD needed).

    >>> gradient_step(np.diag([4.0, 0.25]), [1.0, 1.0], eta=1.0)
    array([-4.  , -0.25])
    """
    A, g = stack(jacobian, grad_y)
    return -check_positive(eta, "eta") * (A.T @ g)


# --------------------------------------------------------------------------- network + physics
class ThroughPhysics:
    r"""A network followed by a per-sample physics: :math:`y_i = P(f(x_i; \theta); x_i)`.

    ``network`` has ``n_params``, ``init(rng)``, ``forward(theta, inputs)``,
    ``jacobian(theta, inputs)`` (per sample, ``(b, n, p)``) and
    ``vjp(theta, inputs, cotangent)`` (as :class:`companion.nn.MLP`).
    ``physics(outputs, inputs) -> y`` maps the network outputs ``(b, n)`` to
    ``(b, m)``; ``physics_jacobian(outputs, inputs) -> (y, J)`` also returns the
    per-sample Jacobians ``(b, m, n)``.  The per-sample Jacobian of the
    composition is the product :math:`J_{\mathrm{phys}} J_{\mathrm{net}}`.
    """

    def __init__(self, network, physics: Callable, physics_jacobian: Callable, name: str = "network + physics"):
        for attr in ("n_params", "init", "forward", "jacobian", "vjp"):
            if not hasattr(network, attr):
                raise TypeError(f"network must provide {attr!r} (like companion.nn.MLP)")
        if not callable(physics) or not callable(physics_jacobian):
            raise TypeError("physics and physics_jacobian must be callable")
        self.network = network
        self.physics = physics
        self.physics_jacobian = physics_jacobian
        self.name = name

    @property
    def n_params(self) -> int:
        return self.network.n_params

    def init(self, rng):
        return self.network.init(rng)

    def forward(self, theta, inputs):
        return self.physics(self.network.forward(theta, inputs), inputs)

    def value_and_jacobian(self, theta, inputs):
        """``(y, A)`` with the per-sample Jacobians ``A`` of shape ``(b, m, p)``."""
        out = self.network.forward(theta, inputs)
        y, jp = self.physics_jacobian(out, inputs)
        jn = self.network.jacobian(theta, inputs)
        return y, np.matmul(jp, jn)

    def jacobian(self, theta, inputs):
        return self.value_and_jacobian(theta, inputs)[1]

    def linearize(self, theta, inputs):
        """``(y, vjp)`` where ``vjp(cotangent (b, m)) -> (p,)``."""
        out = self.network.forward(theta, inputs)
        y, jp = self.physics_jacobian(out, inputs)

        def vjp(cotangent):
            return self.network.vjp(theta, inputs, np.einsum("bmn,bm->bn", jp, cotangent))

        return y, vjp

    def vjp(self, theta, inputs, cotangent):
        return self.linearize(theta, inputs)[1](cotangent)


def _value_and_jacobian(model, theta, inputs):
    if hasattr(model, "value_and_jacobian"):
        return model.value_and_jacobian(theta, inputs)
    return model.forward(theta, inputs), model.jacobian(theta, inputs)


def _value_and_vjp(model, theta, inputs):
    if hasattr(model, "linearize"):
        return model.linearize(theta, inputs)
    return model.forward(theta, inputs), lambda cot: model.vjp(theta, inputs, cot)


# --------------------------------------------------------------------------- training
@dataclass(frozen=True)
class TrainResult:
    r"""What :func:`train` returns.

    ``losses[k]`` is the mean loss over the *whole* data set after
    ``iterations[k]`` steps (``iterations[0] = 0``), ``times[k]`` the training
    wall-clock in seconds at that point (the evaluations themselves are not
    counted); ``batch_losses[k]`` is the mini-batch loss seen by step ``k + 1``.
    ``thetas`` holds copies of the parameters at the evaluation points when
    ``keep_params`` was set.  ``status`` uses the codes of
    :data:`companion.driver.STATUS`.
    """

    theta: np.ndarray
    losses: np.ndarray
    iterations: np.ndarray
    times: np.ndarray
    batch_losses: np.ndarray
    nit: int
    status: int
    message: str
    method: str
    eta: float
    thetas: Optional[np.ndarray] = field(default=None, repr=False)

    @property
    def fun(self) -> float:
        """The final (whole data set) loss."""
        return float(self.losses[-1])

    @property
    def status_name(self) -> str:
        return STATUS[self.status]

    @property
    def label(self) -> str:
        return DISPLAY[self.method]

    @property
    def time_per_step(self) -> float:
        """Mean training wall-clock per step in seconds."""
        return float(self.times[-1] / self.nit) if self.nit else float("nan")


def _batches(n: int, batch_size: int, rng: np.random.Generator):
    """Endless index batches: shuffled epochs, consumed in chunks (the full set when ``batch_size == n``)."""
    if batch_size == n:
        full = np.arange(n)
        while True:
            yield full
    while True:
        order = rng.permutation(n)
        for start in range(0, n - batch_size + 1, batch_size):
            yield order[start:start + batch_size]


def train(model, theta0, inputs, targets, loss: Optional[Loss] = None, *, method: str, eta: float,
          steps: int, batch_size: Optional[int] = None, tau: float = 1e-6, rng=None,
          max_time: Optional[float] = None, min_time: Optional[float] = None, eval_every: int = 1,
          blowup: float = 1e6,
          keep_params: bool = False, adam_options: Optional[dict] = None) -> TrainResult:
    r"""Train ``model`` from ``theta0`` on ``(inputs, targets)`` with Adam, Gauss-Newton or HIG.

    Parameters
    ----------
    model
        An object with ``forward(theta, inputs) -> (b, m)`` and per-sample
        ``jacobian`` (or ``value_and_jacobian``) and ``vjp`` (or
        ``linearize``), e.g. :class:`companion.nn.MLP` or :class:`ThroughPhysics`.
    loss
        A :class:`companion.problems.Loss` applied to the flattened batch; it
        must be a sum over samples (default :func:`~companion.problems.squared_error`,
        :math:`\sum_i \tfrac12 |y_i - y^*_i|^2`).  The reported loss is divided by
        the number of samples.
    method
        ``"adam"`` (:func:`companion.nn.adam_update` on the gradient of the mean
        batch loss), ``"gn"`` (:func:`gauss_newton_step`) or ``"hig"``
        (:func:`hig_step`), the latter two applied with plain SGD,
        :math:`\theta \leftarrow \theta + \Delta\theta`.
    eta, steps, batch_size, tau
        Step size, number of steps, samples per step (default all), relative
        truncation of the SVD (GN and HIG).
    rng
        ``np.random.Generator`` or seed for the order of the mini-batches; the
        same seed gives every method the same batches.
    max_time
        Wall-clock budget for training in seconds (status ``time_budget``).
    min_time
        Keep stepping past ``steps`` until at least this many seconds of training
        were spent, so that runs with equal budgets in iterations *and* seconds
        use both (status ``max_steps`` when it ends this way).
    eval_every
        Evaluate the loss on the whole data set every ``eval_every`` steps (and
        after the last).
    blowup
        Stop (status ``diverged``) once the loss exceeds ``blowup`` times its start.
    """
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    theta = as_vector(theta0, "theta0")
    inputs = np.asarray(inputs, dtype=float)
    targets = np.asarray(targets, dtype=float)
    if inputs.ndim != 2 or targets.ndim != 2 or inputs.shape[0] != targets.shape[0]:
        raise ValueError(f"inputs and targets must be (n, d_in) and (n, m) with the same n, got "
                         f"{inputs.shape} and {targets.shape}")
    n = inputs.shape[0]
    batch_size = n if batch_size is None else check_int(batch_size, "batch_size", minimum=1)
    if batch_size > n:
        raise ValueError(f"batch_size must be at most the number of samples {n}, got {batch_size}")
    eta = check_positive(eta, "eta")
    steps = check_int(steps, "steps")
    tau = check_fraction(tau, "tau")
    eval_every = check_int(eval_every, "eval_every", minimum=1)
    blowup = check_positive(blowup, "blowup")
    if max_time is not None:
        max_time = check_positive(max_time, "max_time")
    if min_time is not None:
        min_time = check_positive(min_time, "min_time")
        if max_time is not None and max_time < min_time:
            raise ValueError(f"max_time ({max_time:g} s) must not be smaller than min_time ({min_time:g} s)")
    loss = squared_error() if loss is None else loss
    if not isinstance(loss, Loss):
        raise TypeError(f"loss must be a companion.problems.Loss, got {type(loss).__name__}")
    if not isinstance(rng, np.random.Generator):
        if rng is not None and (isinstance(rng, bool) or not isinstance(rng, numbers.Integral)):
            raise TypeError(f"rng must be a numpy Generator or an integer seed, got {type(rng).__name__}")
        rng = np.random.default_rng(rng)

    def full_loss(th):
        with np.errstate(all="ignore"):
            y = model.forward(th, inputs)
            return float(loss.value(np.ravel(y), targets.ravel())) / n

    if method == "adam":
        from . import nn
        state = nn.adam_init(theta)
        adam_options = dict(adam_options or {})

    first = full_loss(theta)
    if not np.isfinite(first):
        raise ValueError(f"the loss at theta0 is {first}; check the model and the data")
    limit = blowup * max(first, np.finfo(float).tiny)
    losses, iterations, times, batch_losses = [first], [0], [0.0], []
    thetas = [theta.copy()] if keep_params else None
    status, message = 1, f"reached the maximum of {steps} steps" + (
        f" and at least {min_time:g} s of training" if min_time is not None else "")
    clock = 0.0
    nit = 0
    batches = _batches(n, batch_size, rng)
    k = 0
    while k < steps or (min_time is not None and clock < min_time):
        k += 1
        idx = next(batches)
        xb, tb = inputs[idx], targets[idx]
        tick = time.perf_counter()
        try:
            with np.errstate(all="ignore"):
                if method == "adam":
                    y, vjp = _value_and_vjp(model, theta, xb)
                    g = loss.gradient(np.ravel(y), tb.ravel()).reshape(y.shape)
                    if not np.all(np.isfinite(g)):   # the outputs overflowed: stop before the backward pass
                        status, message = 2, f"the outputs or the loss gradient became non-finite at step {k}; reduce eta"
                        break
                    grad = vjp(g / len(idx))
                    if not np.all(np.isfinite(grad)):
                        status, message = 2, f"the gradient became non-finite at step {k}; reduce eta"
                        break
                    new_theta, state = nn.adam_update(theta, grad, state, eta=eta, **adam_options)
                else:
                    y, jac = _value_and_jacobian(model, theta, xb)
                    g = loss.gradient(np.ravel(y), tb.ravel())
                    if not (np.all(np.isfinite(jac)) and np.all(np.isfinite(g))):
                        status, message = 2, f"the Jacobian or the loss gradient became non-finite at step {k}; reduce eta"
                        break
                    step = svd_step(jac, g, kappa=KAPPA[method], eta=eta, tau=tau)
                    new_theta = theta + step
        except np.linalg.LinAlgError as exc:
            status, message = 4, f"{DISPLAY[method]} failed at step {k}: {exc}"
            break
        except NonFiniteError as exc:   # an overflow inside the backward pass of a diverging run
            status, message = 2, f"a non-finite value appeared at step {k} ({exc}); reduce eta"
            break
        clock += time.perf_counter() - tick
        with np.errstate(all="ignore"):
            batch_losses.append(float(loss.value(np.ravel(y), tb.ravel())) / len(idx))
        if not np.all(np.isfinite(new_theta)):
            status, message = 2, f"the parameters became non-finite at step {k}; reduce eta"
            break
        last = (k >= steps and (min_time is None or clock >= min_time)) or (max_time is not None and clock >= max_time)
        if k % eval_every == 0 or last:
            current = full_loss(new_theta)
            if not np.isfinite(current):
                status, message = 2, f"the loss became non-finite at step {k}; reduce eta"
                break
            theta = new_theta
            losses.append(current)
            iterations.append(k)
            times.append(clock)
            if keep_params:
                thetas.append(theta.copy())  # copies: history must not alias the live parameters
            if current > limit:
                status, message = 3, (f"loss grew from {first:.5g} to {current:.3g} (more than {blowup:.3g} "
                                      f"times) at step {k}; reduce eta")
                nit = k
                break
        theta = new_theta
        nit = k
        if max_time is not None and clock >= max_time:
            status, message = 6, f"used the time budget of {max_time:g} s after {k} steps"
            break
    if iterations[-1] != nit:  # stopped between two evaluations: record where it stopped
        losses.append(full_loss(theta))
        iterations.append(nit)
        times.append(clock)
        if keep_params:
            thetas.append(theta.copy())
    return TrainResult(theta, np.array(losses), np.array(iterations), np.array(times), np.array(batch_losses),
                       nit, status, message, method, eta,
                       None if thetas is None else np.array(thetas))
