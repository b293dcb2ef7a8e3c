r"""A chain of coupled nonlinear pendulums, integrated with the leapfrog scheme.

:math:`n` pendulums with angles :math:`q_i` and momenta :math:`p_i` (unit mass
and length) are joined by linear torsion springs between neighbours:

.. math::
    H(q, p) = \sum_{i} \Big[\tfrac12 p_i^2 + \omega^2 (1 - \cos q_i)\Big]
            + \tfrac{\kappa}{2} \sum_{\text{bonds } (i, j)} (q_j - q_i)^2 .

The bonds depend on ``boundary``:

``"periodic"`` (default)
    a ring, bonds :math:`(i, i+1)` for :math:`i = 1..n` with :math:`q_{n+1} = q_1`;
``"fixed"``
    the ends are tied to walls at rest, :math:`q_0 = q_{n+1} = 0` (:math:`n + 1` bonds);
``"free"``
    open ends, bonds :math:`(i, i+1)` for :math:`i = 1..n-1`.

The force is :math:`F(q) = -\partial H/\partial q = -\omega^2 \sin q + \kappa\,
\Delta q` with the graph Laplacian :math:`\Delta` of the chain.  The state is
:math:`x = (q, p)`, a vector of length :math:`2n`.  One step of size :math:`h`
of the leapfrog (velocity-Verlet) scheme reads

.. math::
    p_{1/2} = p + \tfrac h2 F(q), \qquad
    q' = q + h\, p_{1/2}, \qquad
    p' = p_{1/2} + \tfrac h2 F(q').

The map :math:`x \mapsto x'` is *symplectic* (:math:`J^\top \Omega J = \Omega`),
so the energy error stays bounded over long runs, and it is *time-reversible*:
the same scheme with :math:`-h` undoes a step exactly (up to rounding).  That
makes the reversed simulation a global inverse simulator :math:`P^{-1}`.

Derivatives are those of the discrete scheme, not of the ODE: the tangent
(forward mode) propagates :math:`\delta p_{1/2} = \delta p + \tfrac h2 M(q)\,\delta q`,
:math:`\delta q' = \delta q + h\,\delta p_{1/2}`,
:math:`\delta p' = \delta p_{1/2} + \tfrac h2 M(q')\,\delta q'` with the
symmetric :math:`M(q) = \partial F/\partial q = -\omega^2 \operatorname{diag}(\cos q) + \kappa \Delta`,
and the adjoint (reverse mode) applies the transposed steps in reverse order.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from .._checks import as_real_array, as_vector, check_finite, check_int
from ..errors import NonFiniteError
from ..problems import Loss, Problem, squared_error
from .._checks import _real_scalar as _real

__all__ = [
    "BOUNDARIES",
    "leapfrog",
    "leapfrog_tangent",
    "leapfrog_jacobian",
    "leapfrog_vjp",
    "energy",
    "symplectic_form",
    "pendulum_chain_problem",
]

#: The supported ends of the chain.
BOUNDARIES = ("periodic", "fixed", "free")

#: Memory (bytes) the stored trajectory of the reverse mode may use per batch chunk.
_TRAJECTORY_BUDGET = 64 * 2**20


# --------------------------------------------------------------------------- checks
def _chain(omega, coupling, boundary) -> tuple[float, float, str]:
    omega = _real(omega, "omega")
    coupling = _real(coupling, "coupling")
    if coupling < 0:
        raise ValueError(f"coupling must be >= 0 (a spring constant), got {coupling}")
    if not isinstance(boundary, str):
        raise TypeError(f"boundary must be one of {BOUNDARIES}, got {type(boundary).__name__}")
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary must be one of {BOUNDARIES}, got {boundary!r}")
    return omega * omega, coupling, boundary


def _as_states(state, name: str = "state") -> np.ndarray:
    """``state`` as a finite float array of shape ``(..., 2n)``, ``n >= 1``."""
    array = as_real_array(state, name).copy()
    if array.ndim == 0 or array.shape[-1] == 0 or array.shape[-1] % 2:
        raise ValueError(
            f"{name} must hold (q, p), an even number 2n >= 2 of values along its last axis, "
            f"got shape {array.shape}"
        )
    check_finite(array, name)
    return array


def _split(states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., 2n) states -> q, p of shape (n, ...) (site axis first)."""
    n = states.shape[-1] // 2
    return np.moveaxis(states[..., :n], -1, 0).copy(), np.moveaxis(states[..., n:], -1, 0).copy()


def _join(q: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.concatenate([np.moveaxis(q, 0, -1), np.moveaxis(p, 0, -1)], axis=-1)


# --------------------------------------------------------------------------- dynamics
def _laplacian(a: np.ndarray, boundary: str) -> np.ndarray:
    r"""The chain's graph Laplacian :math:`\Delta a` along axis 0."""
    out = -2.0 * a
    out[1:] += a[:-1]
    out[:-1] += a[1:]
    if boundary == "periodic":
        out[0] += a[-1]
        out[-1] += a[0]
    elif boundary == "free":
        out[0] += a[0]
        out[-1] += a[-1]
    return out


def _force(q, omega2, coupling, boundary):
    return coupling * _laplacian(q, boundary) - omega2 * np.sin(q)


def _curvature(q, d, omega2, coupling, boundary):
    r""":math:`M(q)\, d` with :math:`M = \partial F/\partial q`; ``d`` may carry extra trailing axes."""
    c = np.cos(q)
    if d.ndim > c.ndim:
        c = c.reshape(c.shape + (1,) * (d.ndim - c.ndim))
    return coupling * _laplacian(d, boundary) - omega2 * c * d


def _finite(arrays, what: str, dt: float, steps: int) -> None:
    """Raise :class:`~companion.errors.NonFiniteError` if a run overflowed (the scheme is unstable for large ``|dt|``)."""
    if not all(np.all(np.isfinite(a)) for a in arrays):
        raise NonFiniteError(
            f"the {what} overflowed to NaN/inf ({steps} steps of dt = {dt:g}); "
            f"reduce |dt| or the amplitude of the state"
        )


def _run(q, p, dq, dp, dt, steps, chain, trajectory=None):
    """Leapfrog on (n, ...) arrays; tangents dq, dp (or None) ride along; q_k appended to ``trajectory``."""
    with np.errstate(over="ignore", invalid="ignore"):
        return _run_unchecked(q, p, dq, dp, dt, steps, chain, trajectory)


def _run_unchecked(q, p, dq, dp, dt, steps, chain, trajectory=None):
    half = 0.5 * dt
    f = _force(q, *chain)
    df = None if dq is None else _curvature(q, dq, *chain)
    if trajectory is not None:
        trajectory.append(q)
    for _ in range(steps):
        p = p + half * f
        q = q + dt * p
        f = _force(q, *chain)
        p = p + half * f
        if dq is not None:
            dp = dp + half * df
            dq = dq + dt * dp
            df = _curvature(q, dq, *chain)
            dp = dp + half * df
        if trajectory is not None:
            trajectory.append(q)
    return q, p, dq, dp


def _adjoint(trajectory, lq, lp, dt, chain):
    """Pull the cotangents (lq, lp) of the final state back through the stored steps."""
    half = 0.5 * dt
    for k in range(len(trajectory) - 1, 0, -1):
        mq = lq + half * _curvature(trajectory[k], lp, *chain)
        lp = lp + dt * mq
        lq = mq + half * _curvature(trajectory[k - 1], lp, *chain)
    return lq, lp


def leapfrog(state, *, dt: float, steps: int, omega: float = 1.0, coupling: float = 0.5,
             boundary: str = "periodic") -> np.ndarray:
    r"""Integrate the chain for ``steps`` leapfrog steps of size ``dt`` from ``state`` = :math:`(q, p)`.

    ``state`` has shape ``(2n,)`` or, for a batch, ``(..., 2n)``.  A negative
    ``dt`` runs the scheme backwards: it is the exact inverse,
    ``leapfrog(leapfrog(x, dt=h, ...), dt=-h, ...) == x`` up to rounding
    (amplified by the chaos of long nonlinear runs).

    >>> x = leapfrog([0.5, 0.0], dt=0.1, steps=10)   # one free pendulum
    >>> x.round(4)
    array([ 0.2775, -0.4098])
    >>> float(np.abs(leapfrog(x, dt=-0.1, steps=10) - [0.5, 0.0]).max()) < 1e-14
    True
    """
    states = _as_states(state)
    dt = _real(dt, "dt")
    steps = check_int(steps, "steps")
    chain = _chain(omega, coupling, boundary)
    q, p = _split(states)
    q, p, _, _ = _run(q, p, None, None, dt, steps, chain)
    _finite((q, p), "leapfrog run", dt, steps)
    return _join(q, p)


def leapfrog_tangent(state, tangents, *, dt: float, steps: int, omega: float = 1.0,
                     coupling: float = 0.5, boundary: str = "periodic") -> tuple[np.ndarray, np.ndarray]:
    r"""The final state and the tangents :math:`J\, V` pushed forward alongside (forward mode).

    ``state`` is one state ``(2n,)``; ``tangents`` is :math:`V`, a vector
    ``(2n,)`` or a matrix ``(2n, m)`` whose columns are propagated together
    (vectorised).  :math:`J` is the exact Jacobian of the discrete scheme.

    >>> y, dy = leapfrog_tangent([0.5, 0.0], [1.0, 0.0], dt=0.1, steps=10)
    >>> dy.round(4)
    array([ 0.5852, -0.777 ])
    """
    x = as_vector(state, "state")
    _as_states(x)
    tangents = as_real_array(tangents, "tangents").copy()
    if tangents.ndim not in (1, 2) or tangents.shape[0] != x.size:
        raise ValueError(
            f"tangents must have shape ({x.size},) or ({x.size}, m) to match the state, got {tangents.shape}"
        )
    check_finite(tangents, "tangents")
    dt = _real(dt, "dt")
    steps = check_int(steps, "steps")
    chain = _chain(omega, coupling, boundary)
    n = x.size // 2
    q, p, dq, dp = _run(x[:n].copy(), x[n:].copy(), tangents[:n].copy(), tangents[n:].copy(), dt, steps, chain)
    _finite((q, p, dq, dp), "leapfrog run with its tangents", dt, steps)
    return np.concatenate([q, p]), np.concatenate([dq, dp])


def leapfrog_jacobian(state, *, dt: float, steps: int, omega: float = 1.0, coupling: float = 0.5,
                      boundary: str = "periodic") -> tuple[np.ndarray, np.ndarray]:
    r"""The final state :math:`y` and the ``(2n, 2n)`` Jacobian :math:`J = \partial y/\partial x` of the scheme.

    All :math:`2n` columns of the identity are propagated at once
    (:func:`leapfrog_tangent`), at the cost of about :math:`2n` forward runs
    done as one vectorised run.  :math:`J` is symplectic:
    :math:`J^\top \Omega J = \Omega` (:func:`symplectic_form`).

    >>> y, J = leapfrog_jacobian([0.3, -0.1, 0.0, 0.2], dt=0.05, steps=20)
    >>> Omega = symplectic_form(2)
    >>> bool(np.allclose(J.T @ Omega @ J, Omega))
    True
    """
    x = as_vector(state, "state")
    _as_states(x)
    return leapfrog_tangent(x, np.eye(x.size), dt=dt, steps=steps, omega=omega, coupling=coupling,
                            boundary=boundary)


def leapfrog_vjp(state, cotangent, *, dt: float, steps: int, omega: float = 1.0, coupling: float = 0.5,
                 boundary: str = "periodic") -> tuple[np.ndarray, np.ndarray]:
    r"""The final state :math:`y` and the vector-Jacobian product :math:`J^\top w` (reverse mode).

    ``state`` and ``cotangent`` :math:`w` have the same shape ``(..., 2n)``
    (a batch of independent states is processed at once).  The positions of
    the forward run are stored (``steps + 1`` arrays of ``n`` values per
    state) and the transposed linearised steps are applied in reverse:

    .. math::
        \mu_q = \lambda_q + \tfrac h2 M(q_{k+1}) \lambda_p,\quad
        \mu_p = \lambda_p + h \mu_q,\quad
        \lambda_q \leftarrow \mu_q + \tfrac h2 M(q_k) \mu_p,\quad
        \lambda_p \leftarrow \mu_p .

    With :math:`w = (\partial L/\partial y)^\top` this is the gradient
    :math:`\nabla_x L` at the cost of about two forward runs.

    >>> x, w = np.array([0.3, -0.1, 0.0, 0.2]), np.array([1.0, 0.0, 0.0, 0.0])
    >>> _, J = leapfrog_jacobian(x, dt=0.05, steps=20)
    >>> bool(np.allclose(leapfrog_vjp(x, w, dt=0.05, steps=20)[1], J.T @ w))
    True
    """
    states = _as_states(state)
    cotangent = _as_states(cotangent, "cotangent")
    if cotangent.shape != states.shape:
        raise ValueError(f"cotangent must have the shape of state {states.shape}, got {cotangent.shape}")
    dt = _real(dt, "dt")
    steps = check_int(steps, "steps")
    chain = _chain(omega, coupling, boundary)
    q, p = _split(states)
    trajectory: list[np.ndarray] = []
    q, p, _, _ = _run(q, p, None, None, dt, steps, chain, trajectory)
    lq, lp = _split(cotangent)
    with np.errstate(over="ignore", invalid="ignore"):
        lq, lp = _adjoint(trajectory, lq, lp, dt, chain)
    _finite((q, p, lq, lp), "leapfrog run with its adjoint", dt, steps)
    return _join(q, p), _join(lq, lp)


def energy(state, *, omega: float = 1.0, coupling: float = 0.5, boundary: str = "periodic"):
    r"""The Hamiltonian :math:`H(q, p)` of the chain (a float, or an array for a batch ``(..., 2n)``).

    :math:`1 - \cos q` is evaluated as :math:`2 \sin^2(q/2)` to keep small
    energies accurate.  The leapfrog scheme does not conserve :math:`H`
    exactly, but its error stays bounded (:math:`O(h^2)`) over long runs.

    >>> energy([0.0, 1.0])              # one pendulum at the bottom, p = 1
    0.5
    >>> q_and_p = [0.0, 1.0, 0.0, 0.0]   # two pendulums, the second displaced, no gravity
    >>> energy(q_and_p, omega=0.0, boundary="free"), energy(q_and_p, omega=0.0, boundary="fixed")
    (0.25, 0.5)
    """
    states = _as_states(state)
    omega2, coupling, boundary = _chain(omega, coupling, boundary)
    n = states.shape[-1] // 2
    q, p = states[..., :n], states[..., n:]
    if boundary == "periodic":
        bonds = np.roll(q, -1, axis=-1) - q
    elif boundary == "fixed":
        pad = np.zeros(q.shape[:-1] + (1,))
        bonds = np.diff(np.concatenate([pad, q, pad], axis=-1), axis=-1)
    else:
        bonds = np.diff(q, axis=-1)
    h = (0.5 * np.sum(p * p, axis=-1) + 2.0 * omega2 * np.sum(np.sin(0.5 * q) ** 2, axis=-1)
         + 0.5 * coupling * np.sum(bonds * bonds, axis=-1))
    return float(h) if np.ndim(h) == 0 else h


def symplectic_form(n: int) -> np.ndarray:
    r"""The ``(2n, 2n)`` matrix :math:`\Omega = \begin{pmatrix} 0 & I \\ -I & 0 \end{pmatrix}` for :math:`x = (q, p)`.

    A map is symplectic when its Jacobian satisfies :math:`J^\top \Omega J = \Omega`.

    >>> symplectic_form(1)
    array([[ 0.,  1.],
           [-1.,  0.]])
    """
    n = check_int(n, "n", minimum=1)
    eye = np.eye(n)
    zero = np.zeros((n, n))
    return np.block([[zero, eye], [-eye, zero]])


# --------------------------------------------------------------------------- problem
def _fd_hessian(x, loss, target, step, dt, steps, chain):
    r"""Central differences of the exact gradient :math:`g = J^\top \nabla_y L`, symmetrised."""
    size = x.size
    n = size // 2
    h = step * np.maximum(1.0, np.abs(x))
    shifts = np.diag(h)
    points = np.concatenate([x + shifts, x - shifts])  # (4n, 2n): rows x + h_j e_j, then x - h_j e_j
    gradients = np.empty_like(points)
    chunk = max(1, int(_TRAJECTORY_BUDGET // (8 * n * (steps + 1))))
    for start in range(0, points.shape[0], chunk):
        batch = points[start:start + chunk]
        q, p = _split(batch)
        trajectory: list[np.ndarray] = []
        q, p, _, _ = _run(q, p, None, None, dt, steps, chain, trajectory)
        outputs = _join(q, p)
        w = np.array([np.asarray(loss.gradient(y, target), dtype=float) for y in outputs])
        lq, lp = _split(w)
        gradients[start:start + chunk] = _join(*_adjoint(trajectory, lq, lp, dt, chain))
    hessian = (gradients[:size] - gradients[size:]) / (2.0 * h)[:, None]
    return 0.5 * (hessian + hessian.T)


def pendulum_chain_problem(n: int, *, dt: float, steps: int, target, omega: float = 1.0,
                           coupling: float = 0.5, boundary: str = "periodic", loss: Optional[Loss] = None,
                           hessian_step: Optional[float] = None) -> Problem:
    r"""Find the initial state :math:`x = (q_0, p_0)` whose leapfrog run ends at :math:`y^*`.

    * simulator: :func:`leapfrog` over ``steps`` steps of ``dt``;
    * Jacobian: the exact ``(2n, 2n)`` Jacobian of the scheme (tangent propagation);
    * inverse: :math:`P^{-1}(y; x_0)` = ``leapfrog(y, dt=-dt)``, a *global*
      inverse (it ignores :math:`x_0`): leapfrog is time-reversible.  In
      floating point the reversal is exact to rounding (about
      :math:`10^{-14}` relative for 1000 steps of moderate amplitude), but
      chaotic runs amplify the rounding errors exponentially in time: for
      amplitudes of 3 rad and :math:`10^4` steps of 0.05 the reversed run no
      longer returns to the start, and PG loses its one-step convergence;
    * Hessian of :math:`L` in :math:`x`, *approximate*: central differences of
      the exact gradient :math:`g(x) = J^\top (\partial L/\partial y)^\top`
      (computed in reverse mode, :func:`leapfrog_vjp`, for all :math:`4n`
      shifted points in one batched run),

      .. math::
          H_{:,j} \approx \frac{g(x + h_j e_j) - g(x - h_j e_j)}{2 h_j},
          \qquad H \leftarrow \tfrac12 (H + H^\top),

      with :math:`h_j = s \max(1, |x_j|)` and :math:`s` = ``hessian_step``
      (default :math:`\epsilon^{1/3} \approx 6\cdot 10^{-6}`, which balances
      the :math:`O(h^2)` truncation error against the :math:`O(\epsilon/h)`
      rounding error).  Because the differenced quantity is an exact gradient,
      the error is :math:`O(h^2)` times third derivatives, typically
      :math:`10^{-8}` relative: far below what matters for a Newton step,
      whose direction only needs a few correct digits.  Long chaotic runs
      have large third derivatives and lose more digits.

    The Hessian closure evaluates the loss at the ``target`` given here, so
    ``with_target`` refuses this problem: build a new one for a new target.

    >>> from companion import minimize, rules
    >>> target = leapfrog([0.4, -0.2, 0.1, 0.3], dt=0.1, steps=50)
    >>> p = pendulum_chain_problem(2, dt=0.1, steps=50, target=target)
    >>> result = minimize(p, np.zeros(4), rules.pg(), tol=1e-20)
    >>> result.nit, result.x.round(10)
    (1, array([ 0.4, -0.2,  0.1,  0.3]))
    """
    n = check_int(n, "n", minimum=1)
    dt = _real(dt, "dt")
    steps = check_int(steps, "steps")
    chain = _chain(omega, coupling, boundary)
    target = as_vector(target, "target", size=2 * n)
    if loss is None:
        loss = squared_error()
    elif not isinstance(loss, Loss):
        raise TypeError(f"loss must be a companion.problems.Loss or None, got {type(loss).__name__}")
    if hessian_step is None:
        hessian_step = float(np.finfo(float).eps ** (1 / 3))
    else:
        hessian_step = _real(hessian_step, "hessian_step")
        if hessian_step <= 0:
            raise ValueError(f"hessian_step must be positive, got {hessian_step}")
    options = dict(dt=dt, steps=steps, omega=omega, coupling=coupling, boundary=boundary)

    def simulator(x):
        return leapfrog(x, **options)

    def jacobian(x):
        return leapfrog_jacobian(x, **options)[1]

    def inverse(y, x0):
        return leapfrog(y, **{**options, "dt": -dt})

    def vjp(x, v):  # J^T v by one reverse sweep, without forming J
        return leapfrog_vjp(x, v, **options)[1]

    def hessian(x):
        x = as_vector(x, "x", size=2 * n)
        return _fd_hessian(x, loss, target, hessian_step, dt, steps, chain)

    return Problem(
        simulator=simulator,
        jacobian=jacobian,
        target=target,
        loss=loss,
        hessian=hessian,
        inverse=inverse,
        name=f"pendulum chain (n={n}, {steps} steps of {dt:g}, {boundary})",
        vjp=vjp,
    )
