r"""Update rules: given where I am, which step :math:`\Delta x` do I take?

A rule is a :class:`Rule`: a name, ``init(problem, x0) -> state`` and
``step(problem, x, state) -> (dx, state)``.  Rules without memory use
``state = None``; the others carry an explicit state (Adam's moments, BFGS's
inverse-Hessian estimate, what a truncating rule dropped, LM's damping), so the
functions stay pure.  A state may define ``describe() -> str``: a non-empty
description (modes dropped, why a rule stopped stepping) belongs in the run's
message.

The *direction* of each rule is a separate function with unit step size
(``gd_direction``, ``newton_direction``, ...); the factories (``gd``,
``newton``, ...) scale it by the step size :math:`\eta`.  The inverse
simulator is the exception: its step size acts in :math:`y` space, inside the
nonlinear inverse, so it cannot be factored out of the direction.

=========================  ==========================================================================================  ======================  ==============================
rule                       update                                                                                      needs from the problem  singular matrix (unit-free)
=========================  ==========================================================================================  ======================  ==============================
``gd``                     :math:`-\eta \nabla_x L`                                                                    Jacobian                --
``adam``                   :math:`-\eta\, \hat m / (\sqrt{\hat v} + \epsilon)`                                         Jacobian                --
``newton``                 :math:`-\eta\, H^{-1} \nabla_x L`                                                           second derivatives      refuses (``truncate=True``)
``gauss_newton``           :math:`-\eta\, (J^\top L_{yy} J)^{+} J^\top (\partial L/\partial y)^\top`                   Jacobian                truncates, reports
``bfgs``                   :math:`-t\, B_k \nabla_x L`, :math:`B_k \approx H^{-1}`                                     Jacobian                --
``ig``                     :math:`J^{-1} \Delta y`, :math:`\Delta y = -\eta L_{yy}^{-1} (\partial L/\partial y)^\top`  square Jacobian         refuses (``rtol=...``)
``pg``                     :math:`P^{-1}(y_0 + \Delta y; x_0) - x_0`                                                   local inverse           --
``levenberg_marquardt``    :math:`-(J^\top L_{yy} J + \mu\, \mathrm{diag}\, d)^{-1} \nabla_x L`, :math:`\mu` adapted   Jacobian                damped
``newton_trust_region``    :math:`\arg\min_{|D \Delta x| \le \Delta}` of the quadratic model with :math:`H`            second derivatives      trust region
=========================  ==========================================================================================  ======================  ==============================

The last column: ``newton``, ``gauss_newton`` and ``ig`` test singularity on a
column-scaled (unit-free) matrix with the one threshold ``linalg.DEFAULT_RTOL``
(:mod:`companion.linalg`), so their iterates do not depend on the units of :math:`x`.
The two globalised rules (last rows) accept a step only where the loss decreases
and retry inside the step otherwise; they also do not depend on the units of :math:`x`.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import numpy as np

from . import linalg
from ._checks import as_vector, check_fraction, check_positive
from .errors import MissingCapabilityError, NonFiniteError
from .problems import Problem

__all__ = [
    "Rule",
    "TruncationState",
    "gd_direction",
    "newton_direction",
    "gauss_newton_direction",
    "ig_direction",
    "pg_step",
    "gd",
    "adam",
    "newton",
    "gauss_newton",
    "bfgs",
    "ig",
    "pg",
    "levenberg_marquardt",
    "LMState",
    "NoAcceptableStepError",
    "newton_trust_region",
    "TrustRegionState",
    "PGState",
]


class Rule(NamedTuple):
    """An update rule: ``init(problem, x0) -> state``, ``step(problem, x, state) -> (dx, state)``."""

    name: str
    init: Callable[[Problem, np.ndarray], Any]
    step: Callable[[Problem, np.ndarray, Any], tuple[np.ndarray, Any]]
    eta: float

    def first_step(self, problem: Problem, x0) -> np.ndarray:
        """The step the rule takes from ``x0`` with a fresh state."""
        x0 = as_vector(x0, "x0")
        return self.step(problem, x0, self.init(problem, x0))[0]


def _check_problem(problem) -> Problem:
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a companion.Problem, got {type(problem).__name__}")
    return problem


def _stateless(name: str, eta: float, direction: Callable[[Problem, np.ndarray], np.ndarray],
               requires: Callable[[Problem], None] = lambda problem: None) -> Rule:
    def init(problem, x0):
        requires(_check_problem(problem))
        return None

    def step(problem, x, state):
        return eta * direction(_check_problem(problem), as_vector(x, "x")), state

    return Rule(name, init, step, eta)


def _require_hessian(problem: Problem) -> None:
    if not problem.has_hessian:
        raise MissingCapabilityError(
            f"newton needs the Hessian of L in x, but problem {problem.name!r} has neither "
            f"second_derivatives nor hessian; supply one, or use gauss_newton or bfgs"
        )


def _require_inverse(problem: Problem) -> None:
    if not problem.has_inverse:
        raise MissingCapabilityError(
            f"pg needs a local inverse P^-1(y; x0), but problem {problem.name!r} has none; "
            f"pass inverse=(lambda y, x0: ...) to Problem, or use ig or gauss_newton"
        )


class TruncationState(NamedTuple):
    """What ``newton``, ``gauss_newton`` and ``ig`` dropped so far.

    ``dropped`` is the most modes dropped in one step (of ``modes``), ``condition``
    the largest unit-free condition number met (:mod:`companion.linalg`), ``rtol``
    the threshold (``None``: the rule refuses instead of truncating).
    """

    rule: str
    rtol: Optional[float]
    dropped: int = 0
    modes: int = 0
    condition: float = 1.0

    def record(self, info: linalg.Truncation) -> "TruncationState":
        """The state after a step that did ``info``."""
        return self._replace(dropped=max(self.dropped, info.dropped),
                             modes=info.modes if info.dropped >= self.dropped else self.modes,
                             condition=max(self.condition, info.condition))

    def describe(self) -> str:
        """``""`` when nothing was dropped, else how many modes and at which condition number.

        >>> TruncationState("gauss_newton", 1e-12, 1, 2, 3.1e13).describe()
        'gauss_newton dropped 1 of 2 modes (unit-free condition number 3.1e+13 > 1/rtol = 1e+12): the problem is ill-posed at this rtol; the dropped directions of x are not determined by the data'
        """
        if self.dropped == 0:
            return ""
        return (f"{self.rule} dropped {self.dropped} of {self.modes} modes (unit-free condition number "
                f"{self.condition:.2g} > 1/rtol = {1 / self.rtol:.2g}): the problem is ill-posed at this rtol; "
                f"the dropped directions of x are not determined by the data")


def _truncating(name: str, label: str, eta: float, rtol: Optional[float],
                solve: Callable[[Problem, np.ndarray], tuple[np.ndarray, linalg.Truncation]],
                requires: Callable[[Problem], None] = lambda problem: None) -> Rule:
    """A rule ``eta * direction`` whose ``solve`` reports a :class:`~companion.linalg.Truncation`."""
    def init(problem, x0):
        requires(_check_problem(problem))
        return TruncationState(label, rtol)

    def step(problem, x, state):
        problem, x = _check_problem(problem), as_vector(x, "x")
        if state is None:  # these rules were stateless before: a caller passing None gets a fresh state
            state = TruncationState(label, rtol)
        if not isinstance(state, TruncationState):
            raise TypeError(f"state of {name} must be the TruncationState that init(problem, x0) returned, "
                            f"got {type(state).__name__}")
        direction, info = solve(problem, x)
        return eta * direction, state.record(info)

    return Rule(name, init, step, eta)


# --------------------------------------------------------------------------- directions
def gd_direction(problem: Problem, x) -> np.ndarray:
    r"""Steepest descent :math:`-\nabla_x L = -J^\top (\partial L/\partial y)^\top`.

    >>> from companion.problems import alpha_scaled
    >>> gd_direction(alpha_scaled(10.0), np.array([1.0, 1.0]))
    array([  -1., -100.])
    """
    return -_check_problem(problem).gradient_at(x)


def _newton_solve(problem: Problem, x, rtol: float, truncate: bool) -> tuple[np.ndarray, linalg.Truncation]:
    x = as_vector(x, "x")
    rtol = check_fraction(rtol, "rtol")
    gradient, hessian = _check_problem(problem).gradient_and_hessian_at(x)
    direction, info = linalg.unit_free_symmetric_solve(
        hessian, gradient, rtol=rtol, truncate=truncate,
        name=f"the Hessian of {problem.name!r}",
        remedy="Newton needs an invertible Hessian; use gauss_newton, bfgs, newton_trust_region or gd here, "
               "or pass truncate=True to drop the singular modes",
    )
    return -direction, info


def newton_direction(problem: Problem, x, *, rtol: float = linalg.DEFAULT_RTOL, truncate: bool = False) -> np.ndarray:
    r"""Newton's direction :math:`-H^{-1} \nabla_x L` with the full Hessian :math:`H`.

    The Hessian is first scaled to unit diagonal, :math:`\hat H = D^{-1} H D^{-1}`
    with :math:`D = |\mathrm{diag}\, H|^{1/2}` (:func:`~companion.linalg.symmetric_scales`),
    so that neither the step nor the singularity test depends on the units of
    :math:`x` (Newton is scale-invariant).  A singular :math:`\hat H` (unit-free
    condition number above ``1/rtol``) raises :class:`~companion.errors.SingularMatrixError`;
    with ``truncate=True`` its modes below ``rtol`` times the largest are dropped instead
    (pseudo-inverse).

    >>> from companion.problems import alpha_scaled
    >>> newton_direction(alpha_scaled(10.0), np.array([1.0, 1.0]))
    array([-1., -1.])
    """
    return _newton_solve(problem, x, rtol, truncate)[0]


def _gauss_newton_solve(problem: Problem, x, rtol: float) -> tuple[np.ndarray, linalg.Truncation]:
    x = as_vector(x, "x")
    # (J^T L_yy J)^+ J^T g = (R J)^+ R^{-T} g with R = L_yy^{1/2}: the pseudo-inverse acts on
    # R J, not on J^T L_yy J, so rtol truncates singular values of J (not of J^T J, whose
    # condition number is squared), after scaling its columns to unit norm.
    y = _check_problem(problem).output(x)
    curvature = problem.loss.isotropic_curvature
    if curvature is not None:  # L_yy = c I: the step is -J^+ g / c, one SVD of J
        solution, info = linalg.unit_free_lstsq(problem.jacobian_at(x), problem.loss_gradient_in_y(y),
                                                rtol=rtol, name="J")
        return -solution / curvature, info
    loss_hessian = problem.loss_hessian_in_y(y)
    root = linalg.svd_power(loss_hessian, 0.5, name="L_yy")
    inverse_root = linalg.svd_power(loss_hessian, -0.5, name="L_yy")
    solution, info = linalg.unit_free_lstsq(root @ problem.jacobian_at(x),
                                            inverse_root @ problem.loss_gradient_in_y(y),
                                            rtol=rtol, name="L_yy^(1/2) J")
    return -solution, info


def gauss_newton_direction(problem: Problem, x, *, rtol: float = linalg.DEFAULT_RTOL) -> np.ndarray:
    r"""Gauss-Newton :math:`-(J^\top L_{yy} J)^{+} J^\top (\partial L/\partial y)^\top`.

    For :math:`L = \tfrac12|y - y^*|^2` this is :math:`-J^{+}(y - y^*)`, with the
    pseudo-inverse taken of the column-scaled :math:`J D^{-1}` and truncated at
    ``rtol`` (:func:`~companion.linalg.unit_free_lstsq`), so what is dropped does
    not depend on the units of :math:`x`.  Any shape and rank of :math:`J`.

    >>> from companion.problems import alpha_scaled
    >>> gauss_newton_direction(alpha_scaled(10.0), np.array([1.0, 1.0]))
    array([-1., -1.])
    """
    return _gauss_newton_solve(problem, x, rtol)[0]


def _ig_solve(problem: Problem, x, dy, rtol: Optional[float]) -> tuple[np.ndarray, linalg.Truncation]:
    x = as_vector(x, "x")
    jac = _check_problem(problem).jacobian_at(x)
    dy = as_vector(dy, "dy", size=jac.shape[0])
    return linalg.unit_free_lstsq(
        jac, dy, rtol=linalg.DEFAULT_RTOL if rtol is None else rtol, truncate=rtol is not None,
        name=f"the Jacobian of {problem.name!r}",
        remedy="pass rtol (e.g. ig(rtol=1e-12)) to use a truncated pseudo-inverse instead",
    )


def ig_direction(problem: Problem, x, dy, *, rtol: Optional[float] = None) -> np.ndarray:
    r"""Inverse gradient :math:`\Delta x = J^{-1} \Delta y` for a given output step ``dy``.

    With ``rtol=None`` :math:`J` must be square and invertible: its columns are
    scaled to unit norm and a unit-free condition number above
    ``1/linalg.DEFAULT_RTOL`` raises :class:`~companion.errors.SingularMatrixError`.
    With a number the truncated pseudo-inverse of the column-scaled Jacobian is
    used instead (:func:`~companion.linalg.unit_free_lstsq`).

    >>> from companion.problems import alpha_scaled
    >>> ig_direction(alpha_scaled(10.0), np.zeros(2), np.array([1.0, 1.0]))
    array([1. , 0.1])
    """
    return _ig_solve(problem, x, dy, rtol)[0]


def pg_step(problem: Problem, x, eta: float = 1.0) -> np.ndarray:
    r"""The inverse-simulator step :math:`P^{-1}(y_0 + \Delta y; x_0) - x_0`.

    :math:`\Delta y = -\eta L_{yy}^{-1}(\partial L/\partial y)^\top` is the Newton
    step of the loss in :math:`y` (:math:`\eta (y^* - y_0)` for the L2 loss).

    >>> from companion.problems import scalar_square
    >>> pg_step(scalar_square(target=4.0), np.array([-1.0]))
    array([-1.])
    """
    _require_inverse(_check_problem(problem))
    eta = check_positive(eta, "eta")
    x = as_vector(x, "x")
    return problem.invert(_pg_output_target(problem, x, eta), x) - x


def _pg_output_target(problem: Problem, x: np.ndarray, eta: float) -> np.ndarray:
    r""":math:`y_0 + \Delta y`, the output PG asks the inverse for."""
    y = problem.output(x)
    return y + problem.newton_step_in_y(y, eta)


# --------------------------------------------------------------------------- rules
def gd(eta: float) -> Rule:
    r"""Gradient descent, :math:`\Delta x_{GD} = -\eta\, \nabla_x L`.

    >>> from companion.problems import alpha_scaled
    >>> gd(0.1).first_step(alpha_scaled(2.0), [1.0, 1.0])
    array([-0.1, -0.4])
    """
    eta = check_positive(eta, "eta")
    return _stateless("GD", eta, gd_direction)


def newton(eta: float = 1.0, *, rtol: float = linalg.DEFAULT_RTOL, truncate: bool = False) -> Rule:
    r"""Newton's method, :math:`\Delta x_{QN} = -\eta\, (\partial^2 L/\partial x^2)^{-1} \nabla_x L`.

    Needs the problem's second derivatives (or Hessian).  Like :func:`ig`, Newton is
    defined by an inverse, so by default a singular Hessian (unit-free condition number
    above ``1/rtol``, ``rtol = linalg.DEFAULT_RTOL``) raises
    :class:`~companion.errors.SingularMatrixError` rather than silently becoming
    another rule; ``truncate=True`` switches to the pseudo-inverse of the scaled
    Hessian truncated at ``rtol``, and the state (:class:`TruncationState`) records
    what was dropped.
    Pure Newton goes to the stationary point of the quadratic model, a maximum or
    a saddle included; :func:`newton_trust_region` does not.

    >>> from companion.problems import alpha_scaled
    >>> newton().first_step(alpha_scaled(1e3), [1.0, 1.0])
    array([-1., -1.])
    """
    eta = check_positive(eta, "eta")
    rtol = check_fraction(rtol, "rtol")
    if not isinstance(truncate, (bool, np.bool_)):
        raise TypeError(f"truncate must be True or False, got {type(truncate).__name__}")
    return _truncating("Newton", "newton", eta, rtol if truncate else None,
                       lambda p, x: _newton_solve(p, x, rtol, bool(truncate)), _require_hessian)


def gauss_newton(eta: float = 1.0, *, rtol: float = linalg.DEFAULT_RTOL) -> Rule:
    r"""Gauss-Newton, :math:`\Delta x_{GN} = -\eta\, J^{+} (\partial L/\partial y)^\top` for the L2 loss.

    In general :math:`-\eta (J^\top L_{yy} J)^{+} J^\top (\partial L/\partial y)^\top`.
    Gauss-Newton is defined by a pseudo-inverse, so it truncates by default:
    singular values of the column-scaled (unit-free) :math:`J` below ``rtol`` times
    the largest are dropped, and the state (:class:`TruncationState`) records how
    many and the unit-free condition number, which the driver adds to the result's
    message.
    With :math:`n > m` (or dropped modes) the step is the one with the smallest
    :math:`|D \Delta x|` (:func:`~companion.linalg.unit_free_lstsq`), the same for every
    diagonal change of units of :math:`x`; see :func:`ig`.

    >>> from companion.problems import linear
    >>> gauss_newton().first_step(linear([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]], [1.0, 2.0, 5.0]), [0.0, 0.0])
    array([1., 1.])
    """
    eta = check_positive(eta, "eta")
    rtol = check_fraction(rtol, "rtol")
    return _truncating("Gauss-Newton", "gauss_newton", eta, rtol, lambda p, x: _gauss_newton_solve(p, x, rtol))


def ig(eta: float = 1.0, *, rtol: Optional[float] = None) -> Rule:
    r"""Inverse gradient, :math:`\Delta x_{IG} = J^{-1} \Delta y` with :math:`\Delta y = \eta\,(y^* - y)`.

    For a general loss :math:`\Delta y` is the Newton step of :math:`L` in
    :math:`y`.  By default (``rtol=None``) IG *refuses* a Jacobian that is not
    square or whose unit-free condition number exceeds ``1/linalg.DEFAULT_RTOL``
    (:class:`~companion.errors.SingularMatrixError`): IG is defined by
    :math:`J^{-1}`, and a truncated step reaches a different point, chosen by
    ``rtol``, which the user should choose knowingly.  A number switches to the
    truncated pseudo-inverse of the column-scaled :math:`J`
    (``ig(rtol=linalg.DEFAULT_RTOL)`` truncates where ``gauss_newton()`` does);
    the state (:class:`TruncationState`) records what was dropped.

    When is IG scale-invariant?  With a square invertible :math:`J` the step does not
    depend on any invertible linear change of coordinates :math:`x = M z`.  With
    ``rtol`` and a Jacobian that is not square, or with dropped modes, the step is the
    one with the smallest :math:`|D \Delta x|`, :math:`D` the column norms of :math:`J`:
    that choice does not depend on a *diagonal* change of units (the hypothesis tests
    check 1e-12 to 1e12), but a non-diagonal :math:`M` (a rotation of the inputs) changes
    it, as it changes the minimum-norm step of the plain pseudo-inverse.

    >>> from companion.problems import alpha_scaled
    >>> ig(0.5).first_step(alpha_scaled(100.0), [2.0, 2.0])
    array([-1., -1.])
    """
    eta = check_positive(eta, "eta")
    if rtol is not None:
        rtol = check_fraction(rtol, "rtol")

    def solve(problem, x):
        return _ig_solve(problem, x, problem.newton_step_in_y(problem.output(x), 1.0), rtol)

    return _truncating("IG", "ig", eta, rtol, solve)


class PGState(NamedTuple):
    """The state of :func:`pg`: its fallback's state and what went wrong with the inverse."""

    #: the state of the fallback rule (``None`` without one)
    fallback_state: Any = None
    #: how many steps the fallback took because the inverse failed
    fallbacks: int = 0
    #: the last failure of the inverse, ``"ExceptionType: message"``
    last_error: str = ""
    #: the fallback's name, for :meth:`describe`
    fallback_name: str = ""
    #: a note on the conditioning of :math:`J` at :math:`x_0` ("" when well-posed)
    conditioning: str = ""

    def describe(self) -> str:
        """What the result's message should add: the fallbacks taken and an ill-posed start ("" if neither)."""
        parts = []
        if self.fallbacks:
            times = "once" if self.fallbacks == 1 else f"{self.fallbacks} times"
            parts.append(f"pg fell back to {self.fallback_name} {times} (last: {self.last_error})")
        if self.conditioning:
            parts.append(self.conditioning)
        return "; ".join(parts)


def _conditioning_note(problem: Problem, x0: np.ndarray, rtol: float) -> str:
    """A warning when the unit-free condition number of :math:`J(x_0)` exceeds ``1/rtol`` ("" otherwise).

    Only for a hand-written Jacobian (differences would cost :math:`n` simulator calls),
    and never an error: PG does not need :math:`J`, this is a diagnosis.
    """
    if problem.jacobian is None:
        return ""
    try:
        jac = problem.jacobian_at(x0)
    except Exception:  # noqa: BLE001 - a diagnosis must not stop a rule that does not use J
        return ""
    norms = np.linalg.norm(jac, axis=0)
    singular = np.linalg.svd(jac / np.where(norms > 0, norms, 1.0), compute_uv=False)
    condition = singular[0] / singular[-1] if singular[-1] > 0 else np.inf
    if condition * rtol <= 1:
        return ""
    return (f"ill-posed: the unit-free condition number of J at x0 is {condition:.3g} > 1/rtol = {1 / rtol:.3g}, "
            f"so the exact inverse amplifies errors in y by up to that factor")


def pg(eta: float = 1.0, *, fallback: Optional[Rule] = None, rtol: Optional[float] = None) -> Rule:
    r"""The inverse simulator ("physical gradient"): :math:`\Delta x_{PG} = P^{-1}(y_0 + \Delta y; x_0) - x_0`.

    :math:`\Delta y = \eta (y^* - y_0)` for the L2 loss.  If the local inverse
    fails in any way (it raises :class:`~companion.errors.InverseError` or any other
    exception, e.g. ``ValueError`` from ``math.acos`` outside its domain, or returns
    a non-finite value or an array of the wrong shape) and a ``fallback`` rule is
    given (e.g. ``ig(eta)`` or ``gd(eta)``), the fallback's step is taken instead;
    without a fallback the error propagates.  ``KeyboardInterrupt`` is never caught.

    The state is a :class:`PGState` counting the fallbacks; its ``describe()`` says how
    often the fallback was used.  With a number ``rtol`` (e.g. ``linalg.DEFAULT_RTOL``, or
    ``1e-3`` for noisy data), ``init`` also evaluates the hand-written Jacobian once at
    :math:`x_0` and ``describe()`` says the problem is ill-posed when its unit-free condition
    number exceeds ``1/rtol``; the default ``None`` skips that check, so PG calls no Jacobian.

    >>> from companion.problems import square_second
    >>> pg(0.5).first_step(square_second(), [3.0, 3.0])
    array([-1.5       , -0.87867966])
    """
    eta = check_positive(eta, "eta")
    if fallback is not None and not isinstance(fallback, Rule):
        raise TypeError(f"fallback must be a Rule such as gd(0.1) or ig(), got {type(fallback).__name__}")
    if rtol is not None:
        rtol = check_fraction(rtol, "rtol")

    def init(problem, x0):
        _require_inverse(_check_problem(problem))
        x0 = as_vector(x0, "x0")
        note = "" if rtol is None or rtol == 0 else _conditioning_note(problem, x0, rtol)
        inner = None if fallback is None else fallback.init(problem, x0)
        return PGState(inner, 0, "", "" if fallback is None else fallback.name, note)

    def step(problem, x, state):
        _require_inverse(_check_problem(problem))
        x = as_vector(x, "x")
        if not isinstance(state, PGState):
            raise TypeError(f"state of PG must be the PGState that init(problem, x0) returned, got {type(state).__name__}")
        wanted = _pg_output_target(problem, x, eta)
        try:
            return problem.invert(wanted, x) - x, state
        except Exception as exc:  # any failure of the inverse; KeyboardInterrupt is not an Exception
            if fallback is None:
                raise
            dx, inner = fallback.step(problem, x, state.fallback_state)
            return dx, state._replace(fallback_state=inner, fallbacks=state.fallbacks + 1,
                                      last_error=f"{type(exc).__name__}: {exc}")

    return Rule("PG", init, step, eta)


def _check_state(state, kind, rule: str, size: int) -> None:
    if not isinstance(state, kind):
        raise TypeError(
            f"state of {rule} must be the {kind.__name__} that init(problem, x0) returned, got {type(state).__name__}"
        )
    first = state[0]
    if np.shape(first)[0] != size:
        raise ValueError(
            f"x has {size} component(s) but the {rule} state was made by init for {np.shape(first)[0]}"
        )


class AdamState(NamedTuple):
    """First and second moment estimates and the step counter of Adam."""

    m: np.ndarray
    v: np.ndarray
    t: int


def adam(eta: float = 1e-3, *, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> Rule:
    r"""Adam :cite:`kingma2015adam`: :math:`\Delta x = -\eta\, \hat m_t / (\sqrt{\hat v_t} + \epsilon)`.

    :math:`m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t`,
    :math:`v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2`,
    :math:`\hat m_t = m_t/(1-\beta_1^t)`, :math:`\hat v_t = v_t/(1-\beta_2^t)`.
    The first step has length about :math:`\eta` in every component, whatever
    the scale of the gradient.

    >>> from companion.problems import alpha_scaled
    >>> adam(0.1).first_step(alpha_scaled(1e3), [1.0, 1.0]).round(6)
    array([-0.1, -0.1])
    """
    eta = check_positive(eta, "eta")
    beta1 = check_fraction(beta1, "beta1")
    beta2 = check_fraction(beta2, "beta2")
    eps = check_positive(eps, "eps")

    def init(problem, x0):
        _check_problem(problem)
        x0 = as_vector(x0, "x0")
        return AdamState(np.zeros_like(x0), np.zeros_like(x0), 0)

    def step(problem, x, state):
        x = as_vector(x, "x")
        _check_state(state, AdamState, "Adam", x.size)
        g = _check_problem(problem).gradient_at(x)
        t = state.t + 1
        m = beta1 * state.m + (1 - beta1) * g
        v = beta2 * state.v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        return -eta * m_hat / (np.sqrt(v_hat) + eps), AdamState(m, v, t)

    return Rule("Adam", init, step, eta)


class BFGSState(NamedTuple):
    """The inverse-Hessian estimate, the previous point, gradient and loss."""

    inverse_hessian: np.ndarray
    x: Optional[np.ndarray]
    gradient: Optional[np.ndarray]
    #: ``((x.tobytes(), (loss or None, gradient or None)),)``: what the last line search computed
    #: at the accepted point, so the next step does not evaluate it again
    evaluated: tuple = ()
    #: the loss at ``x`` (for the first trial step of the next line search)
    loss: Optional[float] = None
    #: whether :math:`B_0` has been rescaled by :math:`\gamma = s^\top y / y^\top y` (after the first step)
    scaled: bool = False


def _first_trial_step(value: float, previous: Optional[float], slope: float, gradient_norm: float) -> float:
    r"""The line search's first trial :math:`t_0` (Nocedal & Wright eq. 3.60, as SciPy's BFGS).

    :math:`t_0 = \min(1, 1.01 \cdot 2 (f_k - f_{k-1}) / \phi'(0))`: the step that would
    repeat the previous decrease if :math:`\phi` were quadratic.  At the first step,
    with no previous decrease, :math:`f_{k-1} = f_k + |\nabla f|/2`, so that the first
    steepest-descent trial has length 1 in :math:`x` instead of :math:`|\nabla f|`.

    >>> _first_trial_step(10.0, None, -1e4, 100.0)
    0.0101
    >>> _first_trial_step(1.0, 1.001, -1.0, 1.0)
    0.00202
    """
    if previous is None:
        previous = value + gradient_norm / 2
    if not slope < 0:  # not a descent direction (e.g. a zero gradient): no model to match
        return 1.0
    with np.errstate(all="ignore"):
        trial = 1.01 * 2 * (value - previous) / slope
    return float(min(1.0, trial)) if np.isfinite(trial) and trial > 0 else 1.0


def _bfgs_update(inverse_hessian, s, y):
    sy = float(s @ y)
    if sy <= 1e-12 * np.linalg.norm(s) * np.linalg.norm(y):
        return inverse_hessian  # curvature condition violated: skip the update
    rho = 1.0 / sy
    # (I - rho s y^T) B (I - rho y s^T) + rho s s^T, expanded so that it costs O(n^2):
    # B - rho (s (B y)^T + (B y) s^T) + (rho^2 y^T B y + rho) s s^T  (B symmetric)
    by = inverse_hessian @ y
    return (inverse_hessian - rho * (np.outer(s, by) + np.outer(by, s))
            + (rho * rho * float(y @ by) + rho) * np.outer(s, s))


def _armijo(problem, x, direction, gradient, value, t=1.0, shrink=0.5, c1=1e-4, tries=60):
    """Backtracking: the first ``t = t0 shrink^k`` with sufficient decrease (Armijo).

    A trial point where the simulator or the loss fails (non-finite, or an error) counts as
    too far and ``t`` shrinks.  If *every* trial failed, the last failure is raised: the
    problem is broken near ``x``, and a tiny step would hide it behind a "stalled" run.
    """
    slope = float(gradient @ direction)
    failure = None
    for _ in range(tries):
        trial = x + t * direction
        if np.array_equal(trial, x):  # t below rounding: x itself would pass the test
            break
        try:
            if problem.loss_at(trial) <= value + c1 * t * slope:
                return t
            failure = None
        except ValueError as exc:
            failure = failure or exc  # the first failure says most (at the largest trial step)
        t *= shrink
    if failure is not None:
        raise failure
    return t


def bfgs(eta: float = 1.0, *, line_search: bool = True) -> Rule:
    r"""BFGS :cite:`nocedal2006`: :math:`\Delta x = -t\, B_k \nabla_x L` with :math:`B_k \approx H^{-1}`.

    :math:`B_0 = I` for the first step; before the first update it is replaced by
    :math:`\gamma I`, :math:`\gamma = s^\top y / y^\top y` (Nocedal & Wright eq. 6.20), an
    estimate of the inverse curvature along the first step, so that the size of
    :math:`B` matches the problem's units.  After each step
    :math:`B_{k+1} = (I - \rho s y^\top) B_k (I - \rho y s^\top) + \rho s s^\top`,
    :math:`s = x_{k+1} - x_k`, :math:`y = \nabla L_{k+1} - \nabla L_k`,
    :math:`\rho = 1/(y^\top s)` (skipped when :math:`y^\top s \le 0`).
    With ``line_search=True`` the length :math:`t` comes from a Wolfe line
    search (``scipy.optimize.line_search``, backtracking if it fails) whose first
    trial is ``_first_trial_step`` (the previous decrease, capped at 1) and whose
    steps stay in :math:`(0, 1]`, and ``eta`` must stay 1; otherwise :math:`t = \eta`.

    >>> from companion.problems import alpha_scaled
    >>> bfgs(0.5, line_search=False).first_step(alpha_scaled(1.0), [1.0, 1.0])
    array([-0.5, -0.5])
    """
    eta = check_positive(eta, "eta")
    if not isinstance(line_search, bool):
        raise TypeError("line_search must be True or False")
    if line_search and eta != 1.0:
        raise ValueError("bfgs: eta has no effect with line_search=True; pass line_search=False for a fixed step")

    def init(problem, x0):
        _check_problem(problem)
        x0 = as_vector(x0, "x0")
        return BFGSState(np.eye(x0.size), None, None)

    def step(problem, x, state):
        from scipy.optimize import line_search as wolfe_search

        x = as_vector(x, "x")
        _check_state(state, BFGSState, "BFGS", x.size)
        _check_problem(problem)
        carried = dict(state.evaluated)
        values = {key: pair[0] for key, pair in carried.items() if pair[0] is not None}
        gradients = {key: pair[1] for key, pair in carried.items() if pair[1] is not None}

        def cached(store, function):
            def call(point):
                key = np.asarray(point, dtype=float).tobytes()
                if key not in store:
                    store[key] = function(point)
                return store[key]
            return call

        loss = cached(values, problem.loss_at)
        grad = cached(gradients, problem.gradient_at)

        gradient = grad(x)
        inverse_hessian, scaled = state.inverse_hessian, state.scaled
        if state.x is not None:
            s, y = x - state.x, gradient - state.gradient
            sy, yy = float(s @ y), float(y @ y)
            if not scaled and sy > 0 and yy > 0:
                inverse_hessian, scaled = (sy / yy) * np.eye(x.size), True
            inverse_hessian = _bfgs_update(inverse_hessian, s, y)
        direction = -inverse_hessian @ gradient
        if float(direction @ gradient) >= 0:  # lost descent: restart from the identity
            inverse_hessian, scaled = np.eye(x.size), False
            direction = -gradient
        if not line_search:
            return eta * direction, BFGSState(inverse_hessian, x, gradient, scaled=scaled)
        value = loss(x)
        slope = float(gradient @ direction)
        previous = state.loss if state.x is not None else None
        trial = _first_trial_step(value, previous, slope, float(np.linalg.norm(gradient)))
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    # scipy's line search starts from min(1, 1.01 * 2 (f - old_old_fval) / slope) = trial
                    # amax=1: the quasi-Newton step t = 1 is the longest one tried (t stays in (0, 1])
                    t = wolfe_search(loss, grad, x, direction, gfk=gradient, old_fval=value,
                                     old_old_fval=value - trial * slope / (2 * 1.01), amax=1.0)[0]
                except ValueError:
                    t = None
        if t is None or not np.isfinite(t):
            t = _armijo(problem, x, direction, gradient, value, t=trial)
        dx = t * direction
        following = (x + dx).tobytes()
        if following in values or following in gradients:
            keep = ((following, (values.get(following), gradients.get(following))),)
        else:
            keep = ()
        return dx, BFGSState(inverse_hessian, x, gradient, keep, value, scaled)

    return Rule("BFGS", init, step, eta)


# --------------------------------------------------------------------------- globalised rules
def _stopped_description(rule: str, state) -> str:
    """Why a globalised rule stopped stepping, with its trial counts ("" while it steps)."""
    if not state.stopped:
        return ""
    return f"{rule} stopped after {state.accepted} accepted and {state.rejected} rejected trial steps: {state.stopped}"


class NoAcceptableStepError(ValueError):
    """A globalised rule (LM, trust-region Newton) found no trial step that lowers the loss."""


def _same_point(a: Optional[np.ndarray], b: np.ndarray) -> bool:
    return a is not None and a.shape == b.shape and bool(np.array_equal(a, b))


def _trial_loss(problem: Problem, x: np.ndarray) -> tuple[Optional[np.ndarray], float]:
    """``(P(x), L(P(x)))``, or ``(None, inf)`` where the simulator or the loss is not finite."""
    try:
        y = problem.output(x)
        return y, problem.loss_of_output(y)
    except NonFiniteError:
        return None, float("inf")


def _least_squares_system(problem: Problem, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""``(A, b)`` with :math:`A^\top A = J^\top L_{yy} J` and :math:`A^\top b = -J^\top (\partial L/\partial y)^\top`.

    The quadratic model of :math:`L` is :math:`L + \tfrac12|A\,\Delta x - b|^2 - \tfrac12|b|^2`
    (Gauss-Newton), so every damped or truncated step is a least-squares problem in :math:`A`.
    """
    jac = problem.jacobian_at(x)
    gradient_y = problem.loss_gradient_in_y(y)
    curvature = problem.loss.isotropic_curvature
    if curvature is not None:
        root = np.sqrt(curvature)
        return root * jac, -gradient_y / root
    loss_hessian = problem.loss_hessian_in_y(y)
    root = linalg.svd_power(loss_hessian, 0.5, name="L_yy")
    return root @ jac, -linalg.svd_power(loss_hessian, -0.5, name="L_yy") @ gradient_y


class LMState(NamedTuple):
    """State of :func:`levenberg_marquardt`.

    ``damping`` is :math:`\\mu` (unit-free), ``factor`` Nielsen's :math:`\\nu`, ``scales``
    the Marquardt scales :math:`d_i = \\max_k (J_k^\\top L_{yy} J_k)_{ii}` so far; ``x``,
    ``y`` and ``loss`` cache the last accepted point so that a step costs one simulator
    call per trial; ``accepted`` / ``rejected`` count trial steps; ``stopped`` says why
    the rule stopped stepping ("" while it steps).
    """

    damping: float
    factor: float = 2.0
    scales: Optional[np.ndarray] = None
    x: Optional[np.ndarray] = None
    y: Optional[np.ndarray] = None
    loss: Optional[float] = None
    accepted: int = 0
    rejected: int = 0
    stopped: str = ""

    def describe(self) -> str:
        """``""`` while the rule steps, else why it stopped."""
        return _stopped_description("levenberg_marquardt", self)


def _check_max_tries(max_tries) -> None:
    """The number of trial steps of a globalised rule: a positive integer (not a bool)."""
    if isinstance(max_tries, bool) or not isinstance(max_tries, int) or max_tries < 1:
        raise ValueError(f"max_tries must be a positive integer, got {max_tries!r}")


def levenberg_marquardt(eta: float = 1.0, *, damping0: float = 1e-3, xtol: float = 1e-10, ftol: float = 1e-12,
                        gtol: float = 1e-10, max_tries: int = 40) -> Rule:
    r"""Levenberg-Marquardt: a damped Gauss-Newton step with Marquardt scaling :cite:`marquardt1963,more1978levenberg`.

    .. math::
        (J^\top L_{yy} J + \mu\, \mathrm{diag}(d))\, \Delta x = -J^\top (\partial L/\partial y)^\top,

    :math:`d_i = \max_k (J_k^\top L_{yy} J_k)_{ii}` (Moré's running maximum).  A change of
    units :math:`x = S z` multiplies :math:`d_i` by :math:`s_i^2`, so the step maps back
    exactly (LM is scale-invariant) and :math:`\mu` is unit-free.  The system is solved as
    the least-squares problem :math:`\min |\hat J z - b|^2 + \mu |z|^2` in :math:`z = d^{1/2}
    \Delta x` through one SVD of :math:`\hat J = L_{yy}^{1/2} J\, \mathrm{diag}(d)^{-1/2}` per
    Jacobian.  A trial :math:`x + \eta \Delta x` is accepted when the gain ratio
    :math:`\rho = (L(x) - L(x + \eta\Delta x)) / (\text{model decrease}) > 0`; then
    :math:`\mu \leftarrow \mu \max(1/3, 1 - (2\rho - 1)^3)`, :math:`\nu = 2`, otherwise
    :math:`\mu \leftarrow \nu\mu`, :math:`\nu \leftarrow 2\nu` and the next trial is tried
    inside the same step (Nielsen's update :cite:`nielsen1999damping`).  Each trial costs one simulator call; the
    Jacobian is evaluated once per accepted point.

    The rule stops stepping (returns :math:`\Delta x = 0`, and says why in its state's
    ``describe()``) when the scaled step :math:`|z| \le` ``xtol`` :math:`(|d^{1/2} x| +` ``xtol``:math:`)`,
    when the model decrease is below ``ftol`` :math:`L`, or when the scaled gradient's largest
    cosine with the residual is below ``gtol``.  After ``max_tries`` rejected trials in one
    step it raises :class:`NoAcceptableStepError`.

    >>> from companion.problems import alpha_scaled
    >>> levenberg_marquardt().first_step(alpha_scaled(1e6), [1.0, 1.0]).round(6)
    array([-0.999001, -0.999001])
    """
    eta = check_positive(eta, "eta")
    damping0 = check_positive(damping0, "damping0")
    xtol, ftol, gtol = (check_fraction(value, name) for value, name in ((xtol, "xtol"), (ftol, "ftol"),
                                                                        (gtol, "gtol")))
    _check_max_tries(max_tries)

    def init(problem, x0):
        _check_problem(problem)
        as_vector(x0, "x0")
        return LMState(damping0)

    def step(problem, x, state):
        _check_problem(problem)
        x = as_vector(x, "x")
        if not isinstance(state, LMState):
            raise TypeError(f"state of levenberg_marquardt must be the LMState that init(problem, x0) returned, "
                            f"got {type(state).__name__}")
        if state.stopped and _same_point(state.x, x):
            return np.zeros_like(x), state
        if _same_point(state.x, x):
            y, value = state.y, state.loss
        else:
            y = problem.output(x)
            value = problem.loss_of_output(y)
        matrix, rhs = _least_squares_system(problem, x, y)
        diagonal = np.sum(matrix * matrix, axis=0)
        scales = diagonal if state.scales is None or state.scales.shape != x.shape else np.maximum(state.scales,
                                                                                                     diagonal)
        root = np.sqrt(np.where(scales > np.finfo(float).tiny, scales, 1.0))
        scaled = matrix / root
        u, s, vt = np.linalg.svd(scaled, full_matrices=False)
        coefficients = u.T @ rhs
        damping, factor, rejected = state.damping, state.factor, state.rejected

        def stop(reason):
            return np.zeros_like(x), LMState(damping, factor, scales, x, y, value, state.accepted, rejected, reason)

        gradient = scaled.T @ rhs  # -(scaled gradient); columns of `scaled` have norm <= 1
        column_norms = np.linalg.norm(scaled, axis=0)
        residual_norm = np.linalg.norm(rhs)
        if value == 0.0 or residual_norm == 0.0:
            return stop("the loss is 0")
        with np.errstate(divide="ignore", invalid="ignore"):
            cosine = np.max(np.where(column_norms > 0, np.abs(gradient) / (column_norms * residual_norm), 0.0))
        if cosine <= gtol:
            return stop(f"the gradient is orthogonal to the residual (cosine {cosine:.2g} <= gtol {gtol:.2g})")
        for _ in range(max_tries):
            filtered = s * coefficients / (s * s + damping)
            z = vt.T @ filtered
            dx = eta * z / root
            # model decrease of L for the step eta z: |b|^2/2 - |A dx - b|^2/2 = eta b.Az - eta^2 |Az|^2 / 2
            predicted = float(eta * (coefficients @ (s * filtered)) - 0.5 * eta**2 * np.sum((s * filtered) ** 2))
            if np.linalg.norm(eta * z) <= xtol * (np.linalg.norm(root * x) + xtol):
                hint = ("" if rejected == state.rejected else
                        f" after {rejected - state.rejected} rejected trials (at a point that is not a minimum "
                        f"this means a wrong Jacobian: check it against finite differences)")
                return stop(f"the scaled step {np.linalg.norm(eta * z):.2g} is below xtol {xtol:.2g} "
                            f"relative to |x| (damping {damping:.2g}){hint}")
            if predicted <= ftol * value:
                return stop(f"the predicted decrease {predicted:.2g} is below ftol {ftol:.2g} times the loss")
            trial = x + dx
            y_trial, value_trial = _trial_loss(problem, trial)
            ratio = (value - value_trial) / predicted
            if ratio > 0:
                damping *= max(1 / 3, 1 - (2 * ratio - 1) ** 3)
                return dx, LMState(damping, 2.0, scales, trial, y_trial, value_trial, state.accepted + 1, rejected)
            damping, factor, rejected = damping * factor, factor * 2, rejected + 1
        raise NoAcceptableStepError(
            f"levenberg_marquardt: {max_tries} trial steps from x did not lower the loss {value:.6g} "
            f"(damping grew to {damping:.3g}); the Jacobian may be wrong (check it against finite "
            f"differences) or the loss non-smooth here"
        )

    return Rule("LM", init, step, eta)


def _trust_region_subproblem(hessian: np.ndarray, gradient: np.ndarray, radius: float) -> np.ndarray:
    r"""The minimiser of :math:`g^\top z + \tfrac12 z^\top H z` over :math:`|z| \le \Delta` (exactly).

    Through the eigen-decomposition :math:`H = V \Lambda V^\top`, :math:`c = V^\top g`: the
    Newton step if :math:`H \succ 0` and it fits; else :math:`z(\lambda) = -V (\Lambda + \lambda)^{-1} c`
    with :math:`|z(\lambda)| = \Delta`, :math:`\lambda > \max(0, -\lambda_{\min})` (a root of
    :math:`1/\Delta - 1/|z(\lambda)|`, Nocedal & Wright §4.3); in the *hard case*
    (:math:`c` has no component along the lowest eigenvector, e.g. :math:`g = 0` at a saddle) the
    step is completed along that eigenvector to the boundary, so a saddle is left.

    >>> _trust_region_subproblem(np.diag([2.0, -2.0]), np.zeros(2), 0.5)
    array([0. , 0.5])
    """
    from scipy.optimize import brentq

    values, vectors = np.linalg.eigh(0.5 * (hessian + hessian.T))
    c = vectors.T @ gradient
    lowest = values[0]
    if lowest > 0:
        z = -vectors @ (c / values)
        if np.linalg.norm(z) <= radius:
            return z
    floor = max(0.0, -lowest)
    spread = max(np.abs(values).max(), np.finfo(float).tiny)
    along_lowest = values <= lowest + 1e-12 * spread
    if np.all(np.abs(c[along_lowest]) <= 1e-12 * max(np.linalg.norm(c), np.finfo(float).tiny)) and lowest <= 0:
        rest = ~along_lowest
        with np.errstate(divide="ignore", invalid="ignore"):
            z = -vectors[:, rest] @ (c[rest] / (values[rest] + floor))
        if np.linalg.norm(z) <= radius:  # hard case: go to the boundary along the lowest eigenvector
            direction = vectors[:, np.flatnonzero(along_lowest)[0]]
            direction = direction * np.sign(direction[np.argmax(np.abs(direction))])
            return z + np.sqrt(max(radius**2 - float(z @ z), 0.0)) * direction

    def mismatch(shift):
        with np.errstate(divide="ignore", invalid="ignore"):
            length = np.linalg.norm(c / (values + shift))
        return 1 / radius - (1 / length if np.isfinite(length) and length > 0 else 0.0)

    high = floor + np.linalg.norm(c) / radius * (1 + 1e-12) + np.finfo(float).tiny
    shift = brentq(mismatch, floor, high, xtol=1e-14 * max(high, 1e-300), rtol=1e-14)
    return -vectors @ (c / (values + shift))


class TrustRegionState(NamedTuple):
    """State of :func:`newton_trust_region`: the radius (in scaled units), the scales, the cached point.

    ``scales`` are :math:`d_i = \\max_k |H_k|_{ii}^{1/2}` (unit-free trust region), ``x`` and
    ``loss`` the last accepted point, ``accepted`` / ``rejected`` the trial counts, ``stopped``
    why the rule stopped stepping ("" while it steps).
    """

    radius: Optional[float]
    scales: Optional[np.ndarray] = None
    x: Optional[np.ndarray] = None
    loss: Optional[float] = None
    accepted: int = 0
    rejected: int = 0
    stopped: str = ""

    def describe(self) -> str:
        """``""`` while the rule steps, else why it stopped."""
        return _stopped_description("newton_trust_region", self)


def newton_trust_region(*, radius0: Optional[float] = None, xtol: float = 1e-12, max_tries: int = 60) -> Rule:
    r"""Newton's method globalised by a trust region :cite:`nocedal2006`: it does not stop at saddles.

    Each step minimises the quadratic model :math:`L + g^\top \Delta x + \tfrac12 \Delta x^\top H \Delta x`
    (exact Hessian) over :math:`|D \Delta x| \le \Delta`, :math:`D = \mathrm{diag}(d)`,
    :math:`d_i = \max_k |H_k|_{ii}^{1/2}` (:func:`~companion.linalg.symmetric_scales`, so the
    region, and the iterates, do not depend on the units of :math:`x`), exactly
    (``_trust_region_subproblem``).  Negative curvature is followed to the boundary,
    so a saddle or a maximum is left.  With the gain ratio :math:`\rho` of actual to
    predicted decrease: :math:`\rho < 1/4` shrinks :math:`\Delta` to a quarter of the step,
    :math:`\rho > 3/4` at the boundary doubles it, and a trial with :math:`\rho \le 10^{-4}`
    is rejected and retried with the smaller radius inside the same step (one simulator
    call per trial).  ``radius0`` defaults to the length of the first (scaled) Newton step,
    or 1 where that is 0.  The rule stops stepping (step 0, reason in ``describe()``) at a
    point with zero gradient and positive semi-definite Hessian, or when the scaled step
    is below ``xtol`` relative to :math:`|D x|`; after ``max_tries`` rejected trials in one
    step it raises :class:`NoAcceptableStepError`.

    >>> from companion.problems import rosenbrock
    >>> newton_trust_region().first_step(rosenbrock(), [1.0, 1.0])
    array([0., 0.])
    """
    if radius0 is not None:
        radius0 = check_positive(radius0, "radius0")
    xtol = check_fraction(xtol, "xtol")
    _check_max_tries(max_tries)

    def init(problem, x0):
        _require_hessian(_check_problem(problem))
        as_vector(x0, "x0")
        return TrustRegionState(radius0)

    def step(problem, x, state):
        _check_problem(problem)
        x = as_vector(x, "x")
        if not isinstance(state, TrustRegionState):
            raise TypeError(f"state of newton_trust_region must be the TrustRegionState that init returned, "
                            f"got {type(state).__name__}")
        if state.stopped and _same_point(state.x, x):
            return np.zeros_like(x), state
        value = state.loss if _same_point(state.x, x) else problem.loss_at(x)
        gradient, hessian = problem.gradient_and_hessian_at(x)
        d = linalg.symmetric_scales(hessian)
        scales = d if state.scales is None or state.scales.shape != x.shape else np.maximum(state.scales, d)
        scaled_hessian = hessian / np.outer(scales, scales)
        scaled_gradient = gradient / scales
        radius, rejected = state.radius, state.rejected

        def stop(reason):
            return np.zeros_like(x), TrustRegionState(radius, scales, x, value, state.accepted, rejected, reason)

        if not np.any(scaled_gradient) and np.linalg.eigvalsh(scaled_hessian)[0] >= 0:
            return stop("zero gradient and a positive semi-definite Hessian (a minimum)")
        if radius is None:
            newton_length = np.linalg.norm(linalg.pinv(scaled_hessian) @ scaled_gradient)
            radius = newton_length if newton_length > 0 else 1.0
        for _ in range(max_tries):
            z = _trust_region_subproblem(scaled_hessian, scaled_gradient, radius)
            length = float(np.linalg.norm(z))
            if length <= xtol * (np.linalg.norm(scales * x) + xtol):
                return stop(f"the scaled step {length:.2g} is below xtol {xtol:.2g} relative to |x|")
            predicted = -float(scaled_gradient @ z + 0.5 * z @ scaled_hessian @ z)
            dx = z / scales
            value_trial = _trial_loss(problem, x + dx)[1]
            ratio = (value - value_trial) / predicted if predicted > 0 else -np.inf
            if ratio < 0.25:
                radius = 0.25 * length
            elif ratio > 0.75 and length >= 0.99 * radius:
                radius = 2 * radius
            if ratio > 1e-4:
                return dx, TrustRegionState(radius, scales, x + dx, value_trial, state.accepted + 1, rejected)
            rejected += 1
        raise NoAcceptableStepError(
            f"newton_trust_region: {max_tries} trial steps from x did not lower the loss {value:.6g} "
            f"(radius shrank to {radius:.3g}); check the gradient and Hessian against finite differences"
        )

    return Rule("Newton-TR", init, step, 1.0)
