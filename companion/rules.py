r"""Update rules: given where I am, which step :math:`\Delta x` do I take?

A rule is a :class:`Rule`: a name, ``init(problem, x0) -> state`` and
``step(problem, x, state) -> (dx, state)``.  Rules without memory use
``state = None``; Adam and BFGS carry their moments / inverse-Hessian estimate
in an explicit state, so the functions stay pure.

The *direction* of each rule is a separate function with unit step size
(``gd_direction``, ``newton_direction``, ...); the factories (``gd``,
``newton``, ...) scale it by the step size :math:`\eta`.  The inverse
simulator is the exception: its step size acts in :math:`y` space, inside the
nonlinear inverse, so it cannot be factored out of the direction.

================  ==========================================================================================  ======================
rule              update                                                                                      needs from the problem
================  ==========================================================================================  ======================
``gd``            :math:`-\eta \nabla_x L`                                                                    Jacobian
``adam``          :math:`-\eta\, \hat m / (\sqrt{\hat v} + \epsilon)`                                         Jacobian
``newton``        :math:`-\eta\, H^{-1} \nabla_x L`                                                           second derivatives
``gauss_newton``  :math:`-\eta\, (J^\top L_{yy} J)^{+} J^\top (\partial L/\partial y)^\top`                   Jacobian
``bfgs``          :math:`-t\, B_k \nabla_x L`, :math:`B_k \approx H^{-1}`                                     Jacobian
``ig``            :math:`J^{-1} \Delta y`, :math:`\Delta y = -\eta L_{yy}^{-1} (\partial L/\partial y)^\top`  square Jacobian
``pg``            :math:`P^{-1}(y_0 + \Delta y; x_0) - x_0`                                                   local inverse
================  ==========================================================================================  ======================
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import numpy as np

from . import linalg
from ._checks import as_vector, check_fraction, check_positive
from .errors import InverseError, MissingCapabilityError
from .problems import Problem

__all__ = [
    "Rule",
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


# --------------------------------------------------------------------------- directions
def gd_direction(problem: Problem, x) -> np.ndarray:
    r"""Steepest descent :math:`-\nabla_x L = -J^\top (\partial L/\partial y)^\top`.

    >>> from companion.problems import alpha_scaled
    >>> gd_direction(alpha_scaled(10.0), np.array([1.0, 1.0]))
    array([  -1., -100.])
    """
    return -_check_problem(problem).gradient_at(x)


def newton_direction(problem: Problem, x, *, rtol: float = linalg.DEFAULT_RTOL) -> np.ndarray:
    r"""Newton's direction :math:`-H^{-1} \nabla_x L` with the full Hessian :math:`H`.

    Raises :class:`~companion.errors.SingularMatrixError` for a singular Hessian.
    The Hessian is first scaled to unit diagonal, :math:`\hat H = D H D` with
    :math:`D = |\mathrm{diag}\, H|^{-1/2}`, so that neither the step nor the
    singularity test depends on the units of :math:`x` (Newton is scale-invariant).

    >>> from companion.problems import alpha_scaled
    >>> newton_direction(alpha_scaled(10.0), np.array([1.0, 1.0]))
    array([-1., -1.])
    """
    x = as_vector(x, "x")
    gradient, hessian = _check_problem(problem).gradient_and_hessian_at(x)
    diagonal = np.abs(np.diag(hessian))
    regular = diagonal > np.finfo(float).tiny  # zero (or denormal) diagonal entries keep the scale 1
    d = 1.0 / np.sqrt(np.where(regular, diagonal, 1.0))
    return -d * linalg.solve(
        hessian * np.outer(d, d), d * gradient, rtol=rtol,
        name=f"the Hessian of {problem.name!r}",
        remedy="Newton needs an invertible Hessian; use gauss_newton, bfgs or gd here",
    )


def gauss_newton_direction(problem: Problem, x, *, rtol: float = 1e-10) -> np.ndarray:
    r"""Gauss-Newton :math:`-(J^\top L_{yy} J)^{+} J^\top (\partial L/\partial y)^\top`.

    For :math:`L = \tfrac12|y - y^*|^2` this is :math:`-J^{+}(y - y^*)`, with the
    pseudo-inverse truncated at ``rtol`` (any shape and rank of :math:`J`).

    >>> from companion.problems import alpha_scaled
    >>> gauss_newton_direction(alpha_scaled(10.0), np.array([1.0, 1.0]))
    array([-1., -1.])
    """
    x = as_vector(x, "x")
    # (J^T L_yy J)^+ J^T g = (R J)^+ R^{-T} g with R = L_yy^{1/2}: the pseudo-inverse acts on
    # R J, not on J^T L_yy J, so rtol truncates singular values of J (not of J^T J, whose
    # condition number is squared).
    y = _check_problem(problem).output(x)
    curvature = problem.loss.isotropic_curvature
    if curvature is not None:  # L_yy = c I: the step is -J^+ g / c, one SVD of J
        jac = problem.jacobian_at(x)
        return -linalg.pinv(jac, rtol=rtol, name="J") @ problem.loss_gradient_in_y(y) / curvature
    loss_hessian = problem.loss_hessian_in_y(y)
    root = linalg.svd_power(loss_hessian, 0.5, name="L_yy")
    inverse_root = linalg.svd_power(loss_hessian, -0.5, name="L_yy")
    weighted = root @ problem.jacobian_at(x)
    return -linalg.pinv(weighted, rtol=rtol, name="L_yy^(1/2) J") @ (inverse_root @ problem.loss_gradient_in_y(y))


def ig_direction(problem: Problem, x, dy, *, rtol: Optional[float] = None) -> np.ndarray:
    r"""Inverse gradient :math:`\Delta x = J^{-1} \Delta y` for a given output step ``dy``.

    With ``rtol=None`` :math:`J` must be square and invertible; with a number
    the truncated pseudo-inverse :math:`J^+` is used instead.

    >>> from companion.problems import alpha_scaled
    >>> ig_direction(alpha_scaled(10.0), np.zeros(2), np.array([1.0, 1.0]))
    array([1. , 0.1])
    """
    x = as_vector(x, "x")
    jac = _check_problem(problem).jacobian_at(x)
    dy = as_vector(dy, "dy", size=jac.shape[0])
    if rtol is None:
        # Columns scaled to unit norm first, so the singularity test does not depend
        # on the units of x (J D^{-1} z = dy, dx = D^{-1} z).
        norms = np.linalg.norm(jac, axis=0)
        d = 1.0 / np.where(norms > np.finfo(float).tiny, norms, 1.0)
        return d * linalg.solve(
            jac * d, dy, name=f"the Jacobian of {problem.name!r}",
            remedy="pass rtol (e.g. ig(rtol=1e-6)) to use a truncated pseudo-inverse instead",
        )
    return linalg.pinv(jac, rtol=rtol, name=f"the Jacobian of {problem.name!r}") @ dy


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


def newton(eta: float = 1.0, *, rtol: float = linalg.DEFAULT_RTOL) -> Rule:
    r"""Newton's method, :math:`\Delta x_{QN} = -\eta\, (\partial^2 L/\partial x^2)^{-1} \nabla_x L`.

    Needs the problem's second derivatives (or Hessian); a singular Hessian
    raises :class:`~companion.errors.SingularMatrixError`.

    >>> from companion.problems import alpha_scaled
    >>> newton().first_step(alpha_scaled(1e3), [1.0, 1.0])
    array([-1., -1.])
    """
    eta = check_positive(eta, "eta")
    rtol = check_fraction(rtol, "rtol")
    return _stateless("Newton", eta, lambda p, x: newton_direction(p, x, rtol=rtol), _require_hessian)


def gauss_newton(eta: float = 1.0, *, rtol: float = 1e-10) -> Rule:
    r"""Gauss-Newton, :math:`\Delta x_{GN} = -\eta\, J^{+} (\partial L/\partial y)^\top` for the L2 loss.

    In general :math:`-\eta (J^\top L_{yy} J)^{+} J^\top (\partial L/\partial y)^\top`;
    singular values below ``rtol`` times the largest are dropped.

    >>> from companion.problems import linear
    >>> gauss_newton().first_step(linear([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]], [1.0, 2.0, 5.0]), [0.0, 0.0])
    array([1., 1.])
    """
    eta = check_positive(eta, "eta")
    rtol = check_fraction(rtol, "rtol")
    return _stateless("Gauss-Newton", eta, lambda p, x: gauss_newton_direction(p, x, rtol=rtol))


def ig(eta: float = 1.0, *, rtol: Optional[float] = None) -> Rule:
    r"""Inverse gradient, :math:`\Delta x_{IG} = J^{-1} \Delta y` with :math:`\Delta y = \eta\,(y^* - y)`.

    For a general loss :math:`\Delta y` is the Newton step of :math:`L` in
    :math:`y`.  ``rtol=None`` demands a square invertible Jacobian; a number
    switches to the truncated pseudo-inverse :math:`J^+`.

    >>> from companion.problems import alpha_scaled
    >>> ig(0.5).first_step(alpha_scaled(100.0), [2.0, 2.0])
    array([-1., -1.])
    """
    eta = check_positive(eta, "eta")
    if rtol is not None:
        rtol = check_fraction(rtol, "rtol")

    def direction(problem, x):
        return ig_direction(problem, x, problem.newton_step_in_y(problem.output(x), 1.0), rtol=rtol)

    return _stateless("IG", eta, direction)


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
    """The inverse-Hessian estimate and the previous point and gradient."""

    inverse_hessian: np.ndarray
    x: Optional[np.ndarray]
    gradient: Optional[np.ndarray]
    #: ``((x.tobytes(), (loss or None, gradient or None)),)``: what the last line search computed
    #: at the accepted point, so the next step does not evaluate it again
    evaluated: tuple = ()


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
    slope = float(gradient @ direction)
    for _ in range(tries):
        try:
            if problem.loss_at(x + t * direction) <= value + c1 * t * slope:
                return t
        except ValueError:
            pass  # non-finite trial point: shrink
        t *= shrink
    return t


def bfgs(eta: float = 1.0, *, line_search: bool = True) -> Rule:
    r"""BFGS :cite:`nocedal2006`: :math:`\Delta x = -t\, B_k \nabla_x L` with :math:`B_k \approx H^{-1}`.

    :math:`B_0 = I`; after each step
    :math:`B_{k+1} = (I - \rho s y^\top) B_k (I - \rho y s^\top) + \rho s s^\top`,
    :math:`s = x_{k+1} - x_k`, :math:`y = \nabla L_{k+1} - \nabla L_k`,
    :math:`\rho = 1/(y^\top s)` (skipped when :math:`y^\top s \le 0`).
    With ``line_search=True`` the length :math:`t` comes from a Wolfe line
    search (``scipy.optimize.line_search``, backtracking if it fails) and
    ``eta`` must stay 1; otherwise :math:`t = \eta`.

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
        inverse_hessian = state.inverse_hessian
        if state.x is not None:
            inverse_hessian = _bfgs_update(inverse_hessian, x - state.x, gradient - state.gradient)
        direction = -inverse_hessian @ gradient
        if float(direction @ gradient) >= 0:  # lost descent: restart from the identity
            inverse_hessian = np.eye(x.size)
            direction = -gradient
        if not line_search:
            return eta * direction, BFGSState(inverse_hessian, x, gradient)
        value = loss(x)
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    t = wolfe_search(loss, grad, x, direction, gfk=gradient, old_fval=value)[0]
                except ValueError:
                    t = None
        if t is None or not np.isfinite(t):
            t = _armijo(problem, x, direction, gradient, value)
        dx = t * direction
        following = (x + dx).tobytes()
        if following in values or following in gradients:
            keep = ((following, (values.get(following), gradients.get(following))),)
        else:
            keep = ()
        return dx, BFGSState(inverse_hessian, x, gradient, keep)

    return Rule("BFGS", init, step, eta)
