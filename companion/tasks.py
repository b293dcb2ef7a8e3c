r"""Training tasks shared by the Practice chapters and their benchmarks.

Each function builds one task of the chapters on half-inverse gradients, SIP
and the discussion, so that a chapter, its benchmark and the tests train on
the same thing:

* the toy :math:`(\sin 6x, \cos 9x)` behind the output scale
  :math:`y = (f_1, \lambda f_2)` (:func:`toy_data`, :func:`toy_model`,
  :func:`toy_sip_physics`);
* two coupled nonlinear oscillators controlled through RK4
  (:func:`oscillator_model`, :func:`oscillator_data`);
* a network followed by the SIP paper's rotated sine
  :math:`P(x) = (\sin(\hat x_1)/\xi,\ \xi \hat x_2)` (:func:`sine_model`).

A model here is a :class:`companion.hig.ThroughPhysics` (network followed by
physics, with per-sample Jacobians) for Adam, Gauss-Newton and HIG; SIP needs
a :class:`companion.training.BatchPhysics` with a local inverse instead.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from . import hig, nn, training
from ._checks import check_int, check_positive
from .physics import coupled_oscillators as co

__all__ = ["TOY_SIZES", "OSCILLATOR_PHYSICS", "toy_data", "toy_model", "toy_theta0", "toy_sip_physics",
           "oscillator_model", "oscillator_data", "sine_model"]

#: Layer widths of the toy's network (one input, seven tanh units, two outputs).
TOY_SIZES = (1, 7, 2)

#: The oscillators' physics (T control steps of size dt, spring constants) and the controller's hidden width.
OSCILLATOR_PHYSICS = {"T": 10, "dt": 0.2, "omega": 1.0, "coupling": 0.5, "cubic": 1.0, "hidden": 32}


def toy_data(n: int = 256, *, rng=None) -> tuple[np.ndarray, np.ndarray]:
    r"""``n`` inputs on :math:`[-1, 1]` (shape ``(n, 1)``) and their targets :math:`(\sin 6x, \cos 9x)`.

    Without ``rng`` the inputs are equally spaced; with a seed or generator they are
    drawn uniformly (independent validation and test sets).

    >>> x, t = toy_data(3)
    >>> t.round(3).tolist()
    [[0.279, -0.911], [0.0, 1.0], [-0.279, -0.911]]
    """
    n = check_int(n, "n", minimum=2)
    if rng is None:
        x = np.linspace(-1.0, 1.0, n)
    else:
        x = np.sort(np.random.default_rng(rng).uniform(-1.0, 1.0, n))
    x = x[:, None]
    return x, np.column_stack([np.sin(6.0 * x[:, 0]), np.cos(9.0 * x[:, 0])])


def toy_model(lam: float, sizes: tuple = TOY_SIZES) -> hig.ThroughPhysics:
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


def toy_theta0(seed: int = 0, sizes: tuple = TOY_SIZES) -> np.ndarray:
    """Initial parameters of the toy's network (Glorot-uniform weights, zero biases) for ``seed``."""
    return nn.MLP(tuple(sizes)).init(np.random.default_rng(seed))


def toy_sip_physics(lam: float) -> training.BatchPhysics:
    r"""The toy's physics :math:`(x_1, \lambda x_2)` with its exact inverse :math:`(y_1, y_2/\lambda)`, for SIP.

    >>> p = toy_sip_physics(0.5)
    >>> p.invert(p.apply([[1.0, 2.0]]), [[0.0, 0.0]]).tolist()
    [[1.0, 2.0]]
    """
    scale = np.array([1.0, check_positive(lam, "lam")])
    return training.BatchPhysics(lambda X: X * scale, lambda Y, X0: Y / scale, lambda X, V: V * scale, 2, 2,
                                 name=f"toy (1, {lam:g})")


def oscillator_model(*, T: int = OSCILLATOR_PHYSICS["T"], dt: float = OSCILLATOR_PHYSICS["dt"],
                     omega: float = OSCILLATOR_PHYSICS["omega"], coupling: float = OSCILLATOR_PHYSICS["coupling"],
                     cubic: float = OSCILLATOR_PHYSICS["cubic"],
                     hidden: int = OSCILLATOR_PHYSICS["hidden"]) -> hig.ThroughPhysics:
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


def oscillator_data(n: int = 64, seed: int = 0) -> np.ndarray:
    r"""``n`` initial states :math:`(q_1, q_2, p_1, p_2)` uniform in :math:`[-1, 1]^4`; they are also the targets.

    >>> oscillator_data(2, seed=0).shape
    (2, 4)
    """
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=(check_int(n, "n", minimum=1), 4))


def sine_model(xi: float, phi: float, sizes: tuple = (2, 16, 16, 2),
               name: Optional[str] = None) -> hig.ThroughPhysics:
    r"""A network followed by the SIP paper's :math:`P(x) = (\sin(\hat x_1)/\xi,\ \xi \hat x_2)`, :math:`\hat x = R_\varphi x`.

    The per-sample physics Jacobian is :math:`\mathrm{diag}(\cos\hat x_1/\xi,\ \xi)\, R_\varphi`.
    """
    physics = training.rotated_sine_physics(xi, phi)
    R = training.rotation(phi)

    def forward(outputs, inputs):
        return physics.forward(outputs)

    def with_jacobian(outputs, inputs):
        h = outputs @ R.T
        rows = np.stack([np.cos(h[:, 0]) / xi, np.full(h.shape[0], float(xi))], axis=1)
        return physics.forward(outputs), rows[:, :, None] * R[None, :, :]

    return hig.ThroughPhysics(nn.MLP(tuple(sizes)), forward, with_jacobian, name=name or physics.name)
