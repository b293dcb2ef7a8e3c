r"""Two oscillators with a nonlinear (cubic) coupling, integrated with RK4 and controlled on one of them.

The state is :math:`s = (q_1, q_2, p_1, p_2)` (unit masses).  With the
distance :math:`d = q_1 - q_2`, the eigenfrequency :math:`\omega`, a linear
spring :math:`k` and a cubic spring :math:`c` between the two, and a force
:math:`u(t)` acting on the first oscillator only,

.. math::
    \dot q_i = p_i, \qquad
    \dot p_1 = -\omega^2 q_1 - k d - c d^3 + u, \qquad
    \dot p_2 = -\omega^2 q_2 + k d + c d^3 .

These are Hamilton's equations of
:math:`H = \sum_i \tfrac12 (p_i^2 + \omega^2 q_i^2) + \tfrac k2 d^2 + \tfrac c4 d^4 - u\, q_1`.
The control is piecewise constant, :math:`u_j` on the :math:`j`-th of ``T``
steps of size :math:`h`, and each step is one classical Runge-Kutta (RK4) step

.. math::
    \kappa_1 = f(s, u_j),\;
    \kappa_2 = f(s + \tfrac h2 \kappa_1, u_j),\;
    \kappa_3 = f(s + \tfrac h2 \kappa_2, u_j),\;
    \kappa_4 = f(s + h \kappa_3, u_j),\;
    s' = s + \tfrac h6 (\kappa_1 + 2\kappa_2 + 2\kappa_3 + \kappa_4).

Derivatives are those of the discrete scheme.  One step's Jacobian
:math:`[\partial s'/\partial s \;|\; \partial s'/\partial u_j]` (a
:math:`4 \times 5` matrix) comes from forward-mode tangents carried through the
four stages, :math:`\delta\kappa_1 = A(s)\,\delta s + b\,\delta u`,
:math:`\delta\kappa_2 = A(s + \tfrac h2 \kappa_1)(\delta s + \tfrac h2 \delta\kappa_1) + b\,\delta u`,
and so on, with :math:`A = \partial f/\partial s` and :math:`b = \partial f/\partial u = e_3`.
The Jacobian of the final state with respect to the whole control sequence is
then assembled backwards,
:math:`\partial s_T/\partial u_j = M_{T-1} \cdots M_{j+1}\, b_j` with the step
Jacobians :math:`M_j = \partial s_{j+1}/\partial s_j`.

Every function takes one state ``(4,)`` with controls ``(T,)``, or a batch
``(B, 4)`` with ``(B, T)``.

>>> s0 = np.array([1.0, 0.0, 0.0, 0.0])
>>> sT = simulate(s0, np.zeros(100), dt=0.01, coupling=0.0, cubic=0.0)[-1]
>>> bool(np.allclose(sT, [np.cos(1.0), 0.0, -np.sin(1.0), 0.0], atol=1e-10))   # free oscillator, t = 1
True
"""

from __future__ import annotations


import numpy as np

from .._checks import check_finite, check_positive
from .._checks import _real_scalar as _real

__all__ = [
    "STATE_NAMES",
    "rhs",
    "rk4_step",
    "simulate",
    "final_state",
    "step_jacobian",
    "jacobians",
    "energy",
]

#: Order of the state components.
STATE_NAMES = ("q1", "q2", "p1", "p2")


# --------------------------------------------------------------------------- checks
def _params(omega, coupling, cubic) -> tuple[float, float, float]:
    omega = _real(omega, "omega")
    coupling = _real(coupling, "coupling")
    cubic = _real(cubic, "cubic")
    if coupling < 0 or cubic < 0:
        raise ValueError(f"coupling and cubic must be >= 0 (spring constants), got {coupling}, {cubic}")
    return omega * omega, coupling, cubic


def _as_batch(state, controls):
    """(states (B, 4), controls (B, T), single) from one sample or a batch."""
    for value, name in ((state, "state"), (controls, "controls")):
        if isinstance(value, (str, bytes)) or value is None:
            raise TypeError(f"{name} must be an array of numbers, got {type(value).__name__}")
    try:
        s = np.array(state, dtype=float)
        u = np.array(controls, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"state and controls must be arrays of real numbers ({exc})") from None
    single = s.ndim == 1
    if single:
        s, u = s[None], u[None] if u.ndim == 1 else u
    if s.ndim != 2 or s.shape[1] != 4:
        raise ValueError(f"state must have shape (4,) or (B, 4) = (q1, q2, p1, p2), got {np.shape(state)}")
    if u.ndim != 2 or u.shape[0] != s.shape[0] or u.shape[1] == 0:
        raise ValueError(
            f"controls must have shape (T,) for one state or (B, T) for B states, T >= 1; "
            f"got {np.shape(controls)} for state {np.shape(state)}"
        )
    check_finite(s, "state")
    check_finite(u, "controls")
    return s, u, single


# --------------------------------------------------------------------------- dynamics
def _f(s, u, omega2, k, c):
    """Right-hand side for (B, 4) states and (B,) controls."""
    d = s[:, 0] - s[:, 1]
    spring = d * (k + c * d * d)
    return np.stack([s[:, 2], s[:, 3], u - omega2 * s[:, 0] - spring, spring - omega2 * s[:, 1]], axis=1)


def _f_and_tangent(s, u, tangent, b, omega2, k, c):
    r"""``f(s, u)`` and :math:`A(s)\,\delta + b` for tangents ``(B, 4, K)``, :math:`A = \partial f/\partial s`.

    :math:`A = \begin{pmatrix} 0 & I \\ K & 0 \end{pmatrix}`, :math:`K = -\omega^2 I - g \begin{pmatrix} 1 & -1 \\ -1 & 1 \end{pmatrix}`,
    :math:`g = k + 3 c d^2`.
    """
    d = s[:, 0] - s[:, 1]
    d2 = d * d
    spring = d * (k + c * d2)
    value = np.stack([s[:, 2], s[:, 3], u - omega2 * s[:, 0] - spring, spring - omega2 * s[:, 1]], axis=1)
    pull = (k + 3.0 * c * d2)[:, None] * (tangent[:, 0] - tangent[:, 1])
    derivative = np.stack([tangent[:, 2], tangent[:, 3], -omega2 * tangent[:, 0] - pull,
                           pull - omega2 * tangent[:, 1]], axis=1)
    return value, derivative + b


def _rk4(s, u, h, params):
    k1 = _f(s, u, *params)
    k2 = _f(s + 0.5 * h * k1, u, *params)
    k3 = _f(s + 0.5 * h * k2, u, *params)
    k4 = _f(s + h * k3, u, *params)
    return s + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def _seeds(batch):
    """Tangent seeds (B, 4, 5): delta s = e_i in columns 0-3, and b * delta u (b = e_3) in column 4."""
    seed = np.zeros((batch, 4, 5))
    seed[:, np.arange(4), np.arange(4)] = 1.0
    b = np.zeros((batch, 4, 5))
    b[:, 2, 4] = 1.0
    return seed, b


def _rk4_with_jacobian(s, u, h, params, seeds=None):
    """One step and its Jacobian (B, 4, 5) = [d s'/d s | d s'/d u] by forward-mode tangents."""
    seed, b = _seeds(s.shape[0]) if seeds is None else seeds
    k1, d1 = _f_and_tangent(s, u, seed, b, *params)
    k2, d2 = _f_and_tangent(s + 0.5 * h * k1, u, seed + 0.5 * h * d1, b, *params)
    k3, d3 = _f_and_tangent(s + 0.5 * h * k2, u, seed + 0.5 * h * d2, b, *params)
    k4, d4 = _f_and_tangent(s + h * k3, u, seed + h * d3, b, *params)
    new = s + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    jac = seed + (h / 6.0) * (d1 + 2.0 * d2 + 2.0 * d3 + d4)
    return new, jac


def rhs(state, control, *, omega: float = 1.0, coupling: float = 0.5, cubic: float = 1.0) -> np.ndarray:
    r"""The right-hand side :math:`f(s, u) = (p_1, p_2, \dot p_1, \dot p_2)`.

    ``state`` ``(4,)`` with a scalar ``control``, or ``(B, 4)`` with ``(B,)``.

    >>> rhs([1.0, 0.0, 0.5, 0.0], 0.25, coupling=0.0, cubic=1.0)
    array([ 0.5 ,  0.  , -1.75,  1.  ])
    """
    s, u, single = _as_batch(state, np.reshape(np.asarray(control, dtype=float), (-1, 1)))
    out = _f(s, u[:, 0], *_params(omega, coupling, cubic))
    return out[0] if single else out


def rk4_step(state, control, *, dt: float, omega: float = 1.0, coupling: float = 0.5,
             cubic: float = 1.0) -> np.ndarray:
    """One RK4 step of size ``dt`` with the force ``control`` on the first oscillator."""
    s, u, single = _as_batch(state, np.reshape(np.asarray(control, dtype=float), (-1, 1)))
    out = _rk4(s, u[:, 0], _real(dt, "dt"), _params(omega, coupling, cubic))
    return out[0] if single else out


def simulate(state, controls, *, dt: float, omega: float = 1.0, coupling: float = 0.5,
             cubic: float = 1.0) -> np.ndarray:
    r"""The trajectory :math:`s_0, \dots, s_T` under the controls :math:`u_0, \dots, u_{T-1}`.

    Returns ``(T + 1, 4)`` for one state, ``(B, T + 1, 4)`` for a batch.
    """
    s, u, single = _as_batch(state, controls)
    h = check_positive(dt, "dt")
    params = _params(omega, coupling, cubic)
    out = np.empty((s.shape[0], u.shape[1] + 1, 4))
    out[:, 0] = s
    for j in range(u.shape[1]):
        s = _rk4(s, u[:, j], h, params)
        out[:, j + 1] = s
    return out[0] if single else out


def final_state(state, controls, *, dt: float, omega: float = 1.0, coupling: float = 0.5,
                cubic: float = 1.0) -> np.ndarray:
    """:math:`s_T`, shape ``(4,)`` or ``(B, 4)``."""
    traj = simulate(state, controls, dt=dt, omega=omega, coupling=coupling, cubic=cubic)
    return traj[..., -1, :]


def step_jacobian(state, control, *, dt: float, omega: float = 1.0, coupling: float = 0.5,
                  cubic: float = 1.0) -> np.ndarray:
    r"""Jacobian :math:`[\partial s'/\partial s \,|\, \partial s'/\partial u]` of one RK4 step, ``(4, 5)`` or ``(B, 4, 5)``."""
    s, u, single = _as_batch(state, np.reshape(np.asarray(control, dtype=float), (-1, 1)))
    _, jac = _rk4_with_jacobian(s, u[:, 0], _real(dt, "dt"), _params(omega, coupling, cubic))
    return jac[0] if single else jac


def jacobians(state, controls, *, dt: float, omega: float = 1.0, coupling: float = 0.5,
              cubic: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Final state and its Jacobians with respect to the initial state and the controls.

    Returns ``(s_T, dsT_ds0, dsT_du)`` with shapes ``(B, 4)``, ``(B, 4, 4)``
    and ``(B, 4, T)`` (without the batch axis for one state).  The controls'
    Jacobian is assembled backwards from the step Jacobians:
    :math:`\partial s_T/\partial u_j = M_{T-1}\cdots M_{j+1} b_j`.

    >>> sT, js, ju = jacobians([0.3, -0.2, 0.0, 0.1], np.zeros(5), dt=0.1)
    >>> js.shape, ju.shape
    ((4, 4), (4, 5))
    """
    s, u, single = _as_batch(state, controls)
    h = check_positive(dt, "dt")
    params = _params(omega, coupling, cubic)
    steps = u.shape[1]
    step_jacs = np.empty((steps, s.shape[0], 4, 5))
    seeds = _seeds(s.shape[0])
    for j in range(steps):
        s, step_jacs[j] = _rk4_with_jacobian(s, u[:, j], h, params, seeds)
    ju = np.empty((s.shape[0], 4, steps))
    prod = step_jacs[steps - 1]  # [M_{T-1} | b_{T-1}]
    ju[:, :, steps - 1] = prod[:, :, 4]
    prod = prod[:, :, :4]
    for j in range(steps - 2, -1, -1):
        block = prod @ step_jacs[j]  # [M_{T-1}..M_j | M_{T-1}..M_{j+1} b_j]
        ju[:, :, j] = block[:, :, 4]
        prod = block[:, :, :4]
    if single:
        return s[0], prod[0], ju[0]
    return s, prod, ju


def energy(state, *, omega: float = 1.0, coupling: float = 0.5, cubic: float = 1.0) -> np.ndarray:
    r"""The energy :math:`H` without the control term, ``()`` or ``(B,)``; conserved (to the RK4 error) when :math:`u = 0`."""
    s, _, single = _as_batch(state, np.zeros(np.shape(state)[:-1] + (1,)))
    omega2, k, c = _params(omega, coupling, cubic)
    d = s[:, 0] - s[:, 1]
    e = 0.5 * (s[:, 2] ** 2 + s[:, 3] ** 2) + 0.5 * omega2 * (s[:, 0] ** 2 + s[:, 1] ** 2) \
        + 0.5 * k * d**2 + 0.25 * c * d**4
    return e[0] if single else e
