r"""Problems: what an update rule is allowed to use.

A :class:`Problem` bundles a simulator :math:`y = P(x)`, its Jacobian
:math:`J = \partial P / \partial x`, a target :math:`y^*` and a loss
:math:`L(y)` (by default :math:`\tfrac12 |y - y^*|^2`).  Optionally it knows the
second derivatives of :math:`P` (or the Hessian of :math:`L` in :math:`x`
directly) and a *local inverse* :math:`P^{-1}(y; x_0)`.  A rule that needs
something a problem lacks fails with :class:`~companion.errors.MissingCapabilityError`
saying what to supply.

The module also provides the toy problems used throughout the course.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Optional

import numpy as np

import numbers

from ._checks import _real_scalar, as_matrix, as_real_array, as_vector, check_finite, check_int, check_positive
from . import derivatives, linalg
from .errors import InverseError, MissingCapabilityError, NonFiniteError, ShapeError, SingularMatrixError

__all__ = [
    "Loss",
    "squared_error",
    "Problem",
    "reparametrize",
    "reparametrize_linear",
    "alpha_scaled",
    "square_second",
    "scalar_square",
    "exponential",
    "rosenbrock",
    "linear",
]


# --------------------------------------------------------------------------- losses
@dataclass(frozen=True)
class Loss:
    r"""A scalar loss :math:`L(y; y^*)` with its gradient and Hessian in :math:`y`.

    ``value(y, target) -> float``, ``gradient(y, target) -> (m,)`` (the column
    :math:`(\partial L/\partial y)^\top`), ``hessian(y, target) -> (m, m)``.
    ``isotropic_curvature`` is :math:`c` when the Hessian is :math:`c I` for
    every :math:`y` (as for :func:`squared_error`); rules then skip the
    :math:`O(m^3)` solves with it.  Leave it ``None`` for any other loss.
    """

    value: Callable[[np.ndarray, np.ndarray], float]
    gradient: Callable[[np.ndarray, np.ndarray], np.ndarray]
    hessian: Callable[[np.ndarray, np.ndarray], np.ndarray]
    name: str = "loss"
    isotropic_curvature: Optional[float] = None


def squared_error(scale: float = 1.0) -> Loss:
    r"""The loss :math:`L(y) = \tfrac{c}{2}\,|y - y^*|^2` with ``c = scale``.

    The course's convention is ``scale = 1``; ``scale = 2`` gives
    :math:`|y - y^*|^2` as some published set-ups use.  The Newton step of this
    loss in :math:`y` is :math:`y^* - y` whatever ``c`` is.

    >>> loss = squared_error()
    >>> float(loss.value(np.array([3.0, 4.0]), np.zeros(2)))
    12.5
    >>> loss.gradient(np.array([3.0, 4.0]), np.zeros(2))
    array([3., 4.])
    """
    c = check_positive(scale, "scale")

    def value(y, target):
        r = y - target
        return 0.5 * c * float(r @ r)

    def gradient(y, target):
        return c * (y - target)

    def hessian(y, target):
        return c * np.eye(y.size)

    name = "1/2 |y - y*|^2" if c == 1.0 else f"{c:g}/2 |y - y*|^2"
    return Loss(value, gradient, hessian, name, isotropic_curvature=c)


# --------------------------------------------------------------------------- problem
_MISSING_HESSIAN = (
    "problem {name!r} has no second derivatives: pass second_derivatives=(x -> "
    "array of shape (m, n, n)) or hessian=(x -> array of shape (n, n)) to Problem "
    "(or affine=True if P is affine; or jacobian=None for finite differences of everything), "
    "or use a rule that needs only the Jacobian (gd, gauss_newton, ig, bfgs)"
)
_MISSING_INVERSE = (
    "problem {name!r} has no local inverse: pass inverse=(lambda y, x0: x with "
    "P(x) = y, closest to x0) to Problem (companion.inverse.numerical_inverse computes one), "
    "or use a rule that needs only the Jacobian (ig, gauss_newton, gd)"
)


@dataclass(frozen=True)
class Problem:
    r"""An optimisation problem :math:`\min_x L(P(x); y^*)`.

    Parameters
    ----------
    simulator
        :math:`P`, maps an ``(n,)`` array to an ``(m,)`` array.
    jacobian
        :math:`J(x) = \partial P/\partial x`, an ``(m, n)`` array, or ``None``: the
        Jacobian, :math:`J^\top v` and the Hessian of :math:`L` are then computed by
        finite differences of the simulator (:mod:`companion.derivatives`), only when a
        rule asks for them (see :meth:`from_simulator`).
    target
        :math:`y^*`, an ``(m,)`` array.
    loss
        A :class:`Loss`; default :func:`squared_error`.
    second_derivatives
        Optional :math:`\partial^2 P_i / \partial x_a \partial x_b`, an
        ``(m, n, n)`` array; enables the exact Hessian of :math:`L` in :math:`x`.
    hessian
        Optional Hessian of :math:`L` in :math:`x` (takes precedence).
    inverse
        Optional local inverse ``inverse(y, x0)``: the :math:`x` with
        :math:`P(x) = y` closest to ``x0``; raise :class:`~companion.errors.InverseError` if none.
    name
        Used in messages.
    vjp
        Optional vector-Jacobian product ``vjp(x, v)`` :math:`= J(x)^\top v`,
        an ``(n,)`` array.  When given, :meth:`gradient_at` uses it instead of
        forming :math:`J`, so first-order rules (GD, Adam, BFGS) never pay for a
        dense Jacobian (an FFT for the heat equation, a reverse run for the
        pendulum chain).
    affine
        ``True`` declares :math:`P` affine (zero second derivatives): the
        Hessian of :math:`L` is then :math:`J^\top L_{yy} J`, with no
        :math:`m \times n \times n` tensor of zeros.
    n
        The number of components of :math:`x`, if known; see :attr:`input_size`.
    differences
        How to differentiate when ``jacobian`` is ``None``: ``"auto"`` (complex step
        when :func:`~companion.derivatives.supports_complex_step` says the simulator
        allows it, tested once at the first point, else forward differences),
        ``"forward"``, ``"central"`` or ``"complex"``.
    typical_x
        :math:`\tilde x`, the typical size of each component of :math:`x` (default 1):
        the difference steps are :math:`h_i = c \max(|x_i|, \tilde x_i)`.

    Notes
    -----
    The ``*_at`` methods evaluate these pieces with their shapes and finiteness
    checked, so a wrong user function is reported where it is called; a wrong shape
    raises :class:`~companion.errors.ShapeError`.

    A problem remembers its last evaluation, :math:`x \mapsto P(x)`, and the Jacobian
    at its last point, so a rule that asks for :math:`P(x)` at the point the driver
    has just evaluated costs no new call (the simulator must be a function of
    :math:`x` alone).  :attr:`calls` counts the calls of the user's functions.

    >>> p = alpha_scaled(10.0)
    >>> p.output(np.array([1.0, 1.0]))
    array([ 1., 10.])
    >>> float(p.loss_at(np.array([1.0, 1.0])))
    50.5
    """

    simulator: Callable[[np.ndarray], np.ndarray]
    jacobian: Optional[Callable[[np.ndarray], np.ndarray]]
    target: np.ndarray
    loss: Loss = field(default_factory=squared_error)
    second_derivatives: Optional[Callable[[np.ndarray], np.ndarray]] = None
    hessian: Optional[Callable[[np.ndarray], np.ndarray]] = None
    inverse: Optional[Callable[[np.ndarray, np.ndarray], np.ndarray]] = None
    name: str = "problem"
    affine: bool = False
    vjp: Optional[Callable[[np.ndarray, np.ndarray], np.ndarray]] = None
    n: Optional[int] = None
    differences: str = "auto"
    typical_x: Optional[np.ndarray] = None

    def __post_init__(self):
        if not callable(self.simulator):
            raise TypeError(f"simulator must be callable, got {type(self.simulator).__name__}")
        for attribute in ("jacobian", "second_derivatives", "hessian", "inverse", "vjp"):
            value = getattr(self, attribute)
            if value is not None and not callable(value):
                raise TypeError(f"{attribute} must be callable or None, got {type(value).__name__}")
        if not isinstance(self.loss, Loss):
            raise TypeError(f"loss must be a companion.problems.Loss, got {type(self.loss).__name__}")
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a string, got {type(self.name).__name__}")
        if not isinstance(self.affine, (bool, np.bool_)):
            raise TypeError(f"affine must be True or False, got {type(self.affine).__name__}")
        object.__setattr__(self, "target", as_vector(self.target, "target"))
        if self.differences not in ("auto",) + derivatives.METHODS:
            raise ValueError(f"differences must be 'auto' or one of {derivatives.METHODS}, got {self.differences!r}")
        if self.n is not None:
            object.__setattr__(self, "n", check_int(self.n, "n", minimum=1))
        if self.typical_x is not None:
            typical = as_vector(self.typical_x, "typical_x", size=self.n)
            if np.any(typical <= 0):
                raise ValueError("typical_x must be positive in every component (a typical size of |x_i|)")
            object.__setattr__(self, "typical_x", typical)
        object.__setattr__(self, "_memory", _Memory())

    @classmethod
    def from_simulator(cls, simulator, target, *, differences: str = "auto", typical_x=None, n=None,
                       **options) -> "Problem":
        r"""A problem from a simulator alone: every derivative by finite differences, on demand.

        The same as ``Problem(simulator, None, target, ...)``.  ``options`` are the other
        fields of :class:`Problem` (``loss``, ``inverse``, ``name``, ``affine``, ...).
        With ``differences="auto"`` the Jacobian costs :math:`n` simulator calls
        (complex step or forward differences); Newton's Hessian of :math:`L` adds
        :math:`2n^2` (see :func:`~companion.derivatives.second_derivative_term`).

        >>> p = Problem.from_simulator(lambda x: np.array([x[0] * x[1], x[1] ** 2]), [2.0, 4.0])
        >>> p.jacobian_at([1.0, 2.0]).round(10)
        array([[2., 1.],
               [0., 4.]])
        >>> p.calls["simulator"]  # P(x), the one-off complex-step test (2), one complex call per column (2)
        5
        """
        return cls(simulator, None, target, differences=differences, typical_x=typical_x, n=n, **options)

    # sizes ----------------------------------------------------------------
    @property
    def output_size(self) -> int:
        """:math:`m`, the number of components of :math:`y`."""
        return self.target.size

    @property
    def input_size(self) -> Optional[int]:
        """:math:`n`: the ``n`` given, else the size of the last point evaluated, else ``None``."""
        if self.n is not None:
            return self.n
        return self._memory.n

    @property
    def numerical_derivatives(self) -> bool:
        """True when the derivatives come from finite differences (``jacobian=None``)."""
        return self.jacobian is None

    @property
    def calls(self) -> dict:
        """How often the user's functions were called so far, a snapshot ``dict``.

        Keys ``"simulator"`` (finite-difference evaluations included), ``"jacobian"``,
        ``"vjp"``, ``"hessian"`` (``hessian`` or ``second_derivatives``) and ``"inverse"``.
        The difference of two snapshots is the cost of what ran in between.
        """
        return dict(self._memory.calls)

    @property
    def has_hessian(self) -> bool:
        return (self.hessian is not None or self.second_derivatives is not None or self.affine
                or self.numerical_derivatives)

    @property
    def has_inverse(self) -> bool:
        return self.inverse is not None

    # checked evaluations --------------------------------------------------
    def output(self, x) -> np.ndarray:
        """:math:`y = P(x)`, checked to be a finite ``(m,)`` array."""
        y = self._simulate(as_vector(x, "x"))
        check_finite(y, f"output of the simulator of {self.name!r}")
        return y

    def _simulate(self, x: np.ndarray) -> np.ndarray:
        """:math:`P(x)` for a checked vector ``x``: an ``(m,)`` float array, *not* checked to be finite.

        The driver uses it to tell a non-finite output (status 2) from a failing simulator.
        """
        memory = self._memory
        key = x.tobytes()
        if memory.x_key == key:
            return memory.y.copy()
        self._check_input_size(x)
        what = f"simulator of {self.name!r}"
        memory.calls["simulator"] += 1
        try:
            value = self.simulator(x)
        except (IndexError, ValueError) as exc:
            if isinstance(exc, _COMPANION_ERRORS):
                raise
            raise ValueError(
                f"{what} failed on an x with {x.size} component(s) ({type(exc).__name__}: {exc}); "
                f"is x (or x0) of the right length?"
            ) from exc
        except _PASS_THROUGH:
            raise
        except Exception as exc:
            raise ValueError(f"{what} raised {type(exc).__name__} on an x with {x.size} component(s): {exc}") from exc
        try:
            y = _as_output(value, (self.output_size,), what, scalar_ok=True)
        except ShapeError as exc:
            if np.ndim(value) == 1:  # a vector of another length: the target may be the wrong one
                raise ShapeError(f"{exc} (the size of the target); if the simulator is right, pass a target "
                                 f"with {np.size(value)} components") from None
            raise
        memory.remember(key, x.size, y)
        return y.copy()

    def _check_input_size(self, x: np.ndarray) -> None:
        if self.n is not None and x.size != self.n:
            raise ValueError(f"problem {self.name!r} takes x with n = {self.n} component(s), got {x.size}")

    def _counted_simulator(self, x: np.ndarray) -> np.ndarray:
        """The user's simulator for a finite-difference evaluation (counted, not cached, maybe complex)."""
        self._memory.calls["simulator"] += 1
        return self.simulator(x)

    def loss_of_output(self, y) -> float:
        """:math:`L(y)` for an output ``y``.

        ``inf`` when the loss overflows; a loss that returns NaN or ``-inf``, a
        non-number, or raises is reported with a ``ValueError`` naming it.
        """
        y = as_vector(y, "y", size=self.output_size)
        value = self._loss_value(y)
        if np.isnan(value) or value == -np.inf:
            raise NonFiniteError(f"the loss {self.loss.name!r} of {self.name!r} returned {value}")
        return value

    def _loss_value(self, y: np.ndarray) -> float:
        """The user's loss at a checked ``y`` as a float (possibly NaN or inf)."""
        what = f"the loss {self.loss.name!r} of {self.name!r}"
        value = _call_user(self.loss.value, (y, self.target), what)
        if isinstance(value, (str, bytes, bool, np.bool_)) or value is None:
            raise ValueError(f"{what} must return a real number, got {type(value).__name__}")
        if isinstance(value, numbers.Real):
            return float(value)
        array = _returned(value, (), what)
        if array.size != 1:
            raise ValueError(f"{what} must return one number, got an array of shape {array.shape}")
        return float(array.reshape(()))

    def loss_at(self, x) -> float:
        """:math:`L(P(x))`."""
        return self.loss_of_output(self.output(x))

    def jacobian_at(self, x) -> np.ndarray:
        """:math:`J(x)`, checked to be a finite ``(m, n)`` array (by differences if ``jacobian`` is ``None``)."""
        x = as_vector(x, "x")
        memory = self._memory
        key = x.tobytes()
        if memory.jacobian_key == key:
            return memory.jacobian.copy()
        expected = (self.output_size, x.size)
        if self.jacobian is None:
            jac = self._difference_jacobian(x)
            what = f"finite-difference jacobian of {self.name!r}"
        else:
            self._check_input_size(x)
            what = f"jacobian of {self.name!r}"
            memory.calls["jacobian"] += 1
            jac = _returned(_call_user(self.jacobian, (x,), what), expected, what)
            if self.output_size == 1 and x.size == 1 and jac.size == 1:
                jac = jac.reshape(1, 1)
            if jac.shape != expected:
                raise ShapeError(
                    f"{what} returned shape {jac.shape}, expected {expected} "
                    f"(rows: outputs y, columns: inputs x; x has {x.size} components: is x0 of the right length?)"
                )
        check_finite(jac, f"{what} at x")
        memory.jacobian_key, memory.jacobian = key, jac.copy()
        return jac

    def _uses_complex_step(self, x: np.ndarray, y: np.ndarray) -> bool:
        memory = self._memory
        if self.differences == "complex":
            return True
        if self.differences != "auto":
            return False
        if memory.complex_step is None:
            memory.complex_step = derivatives.supports_complex_step(
                self._counted_simulator, x, y, typical_x=self.typical_x)
        return memory.complex_step

    def _difference_jacobian(self, x: np.ndarray) -> np.ndarray:
        y = self.output(x)
        method = "complex" if self._uses_complex_step(x, y) else (
            "forward" if self.differences == "auto" else self.differences)
        what = f"simulator of {self.name!r} (finite differences)"
        return _call_user(derivatives.jacobian, (self._counted_simulator, x, y), what,
                          method=method, typical_x=self.typical_x)

    def loss_gradient_in_y(self, y) -> np.ndarray:
        r""":math:`(\partial L/\partial y)^\top` at ``y``."""
        y = as_vector(y, "y", size=self.output_size)
        what = "loss gradient in y"
        return _checked(_call_user(self.loss.gradient, (y, self.target), f"{what} of {self.name!r}"), (y.size,), what)

    def loss_hessian_in_y(self, y) -> np.ndarray:
        r""":math:`\partial^2 L/\partial y^2` at ``y``."""
        y = as_vector(y, "y", size=self.output_size)
        what = "loss Hessian in y"
        return _checked(_call_user(self.loss.hessian, (y, self.target), f"{what} of {self.name!r}"),
                        (y.size, y.size), what)

    def gradient_at(self, x) -> np.ndarray:
        r""":math:`\nabla_x L = J^\top (\partial L/\partial y)^\top` (chain rule)."""
        x = as_vector(x, "x")
        y = self.output(x)
        grad_y = self.loss_gradient_in_y(y)
        if self.vjp is not None:
            what = f"vjp of {self.name!r}"
            self._memory.calls["vjp"] += 1
            return _checked(_call_user(self.vjp, (x, grad_y), what), (x.size,), what)
        return self.jacobian_at(x).T @ grad_y

    def hessian_at(self, x) -> np.ndarray:
        r"""Hessian of :math:`L` in :math:`x` ({eq}`eq-composite-hessian`).

        .. math::
            \frac{\partial^2 L}{\partial x^2} = J^\top \frac{\partial^2 L}{\partial y^2} J
            + \sum_i \frac{\partial L}{\partial y_i}\frac{\partial^2 P_i}{\partial x^2}
        """
        return self.gradient_and_hessian_at(x)[1]

    def gradient_and_hessian_at(self, x) -> tuple[np.ndarray, np.ndarray]:
        r""":math:`\nabla_x L` and :math:`\partial^2 L/\partial x^2` from one evaluation of :math:`P` and :math:`J`.

        Without second derivatives, a problem with ``jacobian=None`` computes the term
        :math:`\sum_i (\partial L/\partial y_i)\, \partial^2 P_i/\partial x^2` by
        :func:`~companion.derivatives.second_derivative_term` (:math:`2n^2` calls).
        """
        x = as_vector(x, "x")
        n = x.size
        if not self.has_hessian:
            raise MissingCapabilityError(_MISSING_HESSIAN.format(name=self.name))
        y = self.output(x)
        jac = self.jacobian_at(x)
        grad_y = self.loss_gradient_in_y(y)
        gradient = jac.T @ grad_y
        if self.hessian is not None:
            what = f"hessian of {self.name!r}"
            self._memory.calls["hessian"] += 1
            return gradient, _checked(_call_user(self.hessian, (x,), what), (n, n), what)
        hessian = jac.T @ self.loss_hessian_in_y(y) @ jac
        if self.second_derivatives is not None:
            what = f"second_derivatives of {self.name!r}"
            self._memory.calls["hessian"] += 1
            second = _checked(_call_user(self.second_derivatives, (x,), what), (self.output_size, n, n), what)
            hessian = hessian + np.tensordot(grad_y, second, axes=1)
        elif not self.affine:  # numerical derivatives
            what = f"simulator of {self.name!r} (finite-difference Hessian)"
            term = _call_user(derivatives.second_derivative_term, (self._counted_simulator, x, y, grad_y), what,
                              complex_step=self._uses_complex_step(x, y), typical_x=self.typical_x)
            check_finite(term, f"finite-difference Hessian of {self.name!r} at x")
            hessian = hessian + term
        return gradient, hessian

    def gauss_newton_matrix_at(self, x) -> np.ndarray:
        r"""The Gauss-Newton matrix :math:`J^\top (\partial^2 L/\partial y^2) J` (no second derivatives of P)."""
        x = as_vector(x, "x")
        jac = self.jacobian_at(x)
        return jac.T @ self.loss_hessian_in_y(self.output(x)) @ jac

    def newton_step_in_y(self, y, eta: float = 1.0) -> np.ndarray:
        r"""The step :math:`\Delta y = -\eta\, (\partial^2 L/\partial y^2)^{-1} (\partial L/\partial y)^\top`.

        For :math:`L = \tfrac12|y-y^*|^2` this is :math:`\eta\,(y^* - y)`.
        """
        y = as_vector(y, "y", size=self.output_size)
        eta = _real_scalar(eta, "eta")
        if self.loss.isotropic_curvature is not None:  # L_yy = c I: no solve needed
            return -eta * self.loss_gradient_in_y(y) / self.loss.isotropic_curvature
        return -eta * linalg.solve(
            self.loss_hessian_in_y(y),
            self.loss_gradient_in_y(y),
            name=f"Hessian of the loss in y of {self.name!r}",
            remedy="the Newton step in y needs a strictly convex loss; use gd or a squared error",
        )

    def invert(self, y, x0) -> np.ndarray:
        r"""The local inverse :math:`P^{-1}(y; x_0)`, checked to be a finite ``(n,)`` array."""
        if self.inverse is None:
            raise MissingCapabilityError(_MISSING_INVERSE.format(name=self.name))
        y = as_vector(y, "y", size=self.output_size)
        x0 = as_vector(x0, "x0")
        self._check_input_size(x0)
        what = f"inverse of {self.name!r}"
        self._memory.calls["inverse"] += 1
        try:
            x = _as_output(_call_user(self.inverse, (y, x0), what), (x0.size,), what, scalar_ok=True)
        except ShapeError as exc:  # the local inverse failed to deliver an x: a rule may fall back
            raise InverseError(f"{exc}: the inverse must return an x like x0, which has {x0.size} components "
                               f"(is x0 of the right length?)") from None
        check_finite(x, f"output of the {what}")
        return x

    def with_target(self, target) -> "Problem":
        """The same problem with another target :math:`y^*`.

        Refused for a problem with a user-supplied ``hessian``: that function may
        have the old target built in, and a silently stale Hessian is worse than
        an error.
        """
        if self.hessian is not None:
            raise ValueError(
                f"problem {self.name!r} has a user-supplied hessian that may depend on the old "
                f"target; build a new problem for the new target instead of calling with_target"
            )
        return replace(self, target=as_vector(target, "target", size=self.output_size))


#: Errors of companion itself that carry their own meaning (an inverse without a
#: preimage, a singular matrix, a NaN already named): they pass through user
#: functions unchanged, so callers can still catch them by class.
_COMPANION_ERRORS = (InverseError, MissingCapabilityError, SingularMatrixError, NonFiniteError, ShapeError)
_PASS_THROUGH = _COMPANION_ERRORS + (MemoryError, RecursionError)


class _Memory:
    """The mutable part of a (frozen) :class:`Problem`: its last evaluation and the call counts."""

    def __init__(self):
        self.x_key: Optional[bytes] = None
        self.y: Optional[np.ndarray] = None
        self.n: Optional[int] = None
        self.jacobian_key: Optional[bytes] = None
        self.jacobian: Optional[np.ndarray] = None
        self.complex_step: Optional[bool] = None
        self.calls = {"simulator": 0, "jacobian": 0, "vjp": 0, "hessian": 0, "inverse": 0}

    def remember(self, key: bytes, n: int, y: np.ndarray) -> None:
        self.x_key, self.n, self.y = key, n, y.copy()


def _call_user(function, args, what: str, **keywords):
    """Call a user-supplied function; any exception it raises is re-raised as a ``ValueError`` naming ``what``."""
    try:
        return function(*args, **keywords)
    except _PASS_THROUGH:
        raise
    except Exception as exc:
        raise ValueError(f"{what} raised {type(exc).__name__}: {exc}") from exc


def _returned(value, shape, what: str) -> np.ndarray:
    """What a user function returned, as a float array; ``ValueError`` naming the function if it is not numbers.

    A ``ValueError`` (not a ``TypeError``): the caller passed the right things, the
    function gave back something unusable, and :func:`~companion.minimize` reports
    that as a failed step rather than crashing.
    """
    if value is None:
        raise ValueError(f"{what} returned None; it must return an array of shape {tuple(shape)} (missing return?)")
    try:
        return as_real_array(value, f"the value returned by the {what}")
    except TypeError as exc:
        raise ValueError(str(exc)) from None


def _as_output(value, shape, what: str, *, scalar_ok: bool = False) -> np.ndarray:
    """What a user function returned, as a float array of ``shape`` (finiteness not checked)."""
    array = _returned(value, shape, what)
    if scalar_ok and array.ndim == 0:
        array = array.reshape(1)
    if array.shape != tuple(shape):
        raise ShapeError(f"{what} returned shape {array.shape}, expected {tuple(shape)}")
    return array


def _checked(value, shape, what: str) -> np.ndarray:
    array = _returned(value, shape, what)
    if array.shape != tuple(shape):
        if array.size == int(np.prod(shape)) and array.size == 1:
            array = array.reshape(shape)
        else:
            raise ShapeError(f"{what} returned shape {array.shape}, expected {tuple(shape)}")
    check_finite(array, what)
    return array


# --------------------------------------------------------------------------- reparametrisation
def reparametrize(problem: Problem, scale) -> Problem:
    r"""The same problem in rescaled coordinates :math:`z` with :math:`x = D z`, :math:`D = \mathrm{diag}(s)`.

    :math:`Q(z) = P(Dz)`, :math:`J_Q = J_P D`,
    :math:`\partial^2 Q_i/\partial z^2 = D\, (\partial^2 P_i/\partial x^2)\, D` and
    :math:`Q^{-1}(y; z_0) = D^{-1} P^{-1}(y; D z_0)`.  A scale-invariant rule
    produces iterates :math:`z_k = D^{-1} x_k` on :math:`Q` when started at
    :math:`z_0 = D^{-1} x_0`.

    >>> q = reparametrize(alpha_scaled(1.0), [1.0, 100.0])
    >>> q.output(np.array([1.0, 0.01]))
    array([1., 1.])
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a companion.Problem, got {type(problem).__name__}")
    scale = as_vector(scale, "scale")
    if np.any(scale == 0):
        raise ValueError("scale must have no zero component: x = scale * z must be invertible")

    def to_x(z):
        z = np.asarray(z)
        if z.dtype.kind not in "fc":  # keep a complex z: the complex-step derivative passes through
            z = z.astype(float)
        if z.ndim == 0 or z.shape[-1] != scale.size:
            raise ValueError(
                f"z has shape {z.shape} but the scale of the reparametrisation has {scale.size} "
                f"component(s), one per component of x"
            )
        return scale * z

    def simulator(z):
        return problem.simulator(to_x(z))

    def jacobian(z):
        return problem.jacobian_at(to_x(z)) * scale

    numerical = {}
    if problem.numerical_derivatives:  # difference in z, with steps relative to z
        typical = np.ones(scale.size) if problem.typical_x is None else problem.typical_x
        numerical = dict(differences=problem.differences, typical_x=typical / np.abs(scale))
        jacobian = None

    second = hessian = inverse = None
    if problem.second_derivatives is not None:
        def second(z):
            return problem.second_derivatives(to_x(z)) * np.outer(scale, scale)
    if problem.hessian is not None:
        def hessian(z):
            return problem.hessian(to_x(z)) * np.outer(scale, scale)
    if problem.inverse is not None:
        def inverse(y, z0):
            return problem.invert(y, to_x(z0)) / scale
    vjp = None
    if problem.vjp is not None:
        def vjp(z, v):  # (J_P D)^T v = D J_P^T v
            return scale * problem.vjp(to_x(z), v)

    return Problem(
        simulator, jacobian, problem.target, problem.loss, second, hessian, inverse,
        name=f"{problem.name} (rescaled)", affine=problem.affine, vjp=vjp, n=problem.n, **numerical,
    )


def reparametrize_linear(problem: Problem, matrix) -> Problem:
    r"""The problem in coordinates :math:`z` with :math:`x = M z` for an invertible matrix :math:`M`.

    :math:`Q(z) = P(Mz)`, :math:`J_Q = J_P M`, second derivatives
    :math:`M^\top (\partial^2 P_i/\partial x^2) M`, inverse
    :math:`Q^{-1}(y; z_0) = M^{-1} P^{-1}(y; M z_0)`: the generalisation of
    :func:`reparametrize` (diagonal :math:`M`, kept separate because it scales
    elementwise, exactly) to any linear change of coordinates.

    >>> q = reparametrize_linear(alpha_scaled(1.0), [[1.0, 0.0], [0.0, 5.0]])
    >>> q.output(np.array([1.0, 1.0]))
    array([1., 5.])
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a companion.Problem, got {type(problem).__name__}")
    matrix = as_matrix(matrix, "matrix")
    if matrix.shape[0] != matrix.shape[1] or linalg.condition_number(matrix) >= 1 / linalg.DEFAULT_RTOL:
        raise ValueError(f"matrix must be square and invertible, got shape {matrix.shape}")
    inverse_matrix = np.linalg.inv(matrix)

    second = hessian = inverse = None
    if problem.second_derivatives is not None:
        def second(z):
            return np.einsum("ai,kab,bj->kij", matrix, problem.second_derivatives(matrix @ z), matrix)
    if problem.hessian is not None:
        def hessian(z):
            return matrix.T @ problem.hessian(matrix @ z) @ matrix
    if problem.inverse is not None:
        def inverse(y, z0):
            return inverse_matrix @ problem.invert(y, matrix @ z0)
    vjp = None
    if problem.vjp is not None:
        def vjp(z, v):  # (J_P M)^T v = M^T J_P^T v
            return matrix.T @ problem.vjp(matrix @ z, v)

    return Problem(lambda z: problem.simulator(matrix @ z), lambda z: problem.jacobian_at(matrix @ z) @ matrix,
                   problem.target, problem.loss, second, hessian, inverse,
                   name=f"{problem.name} (reparametrised)", affine=problem.affine, vjp=vjp, n=problem.n)


# --------------------------------------------------------------------------- toy problems
def alpha_scaled(alpha: float = 1.0, target=(0.0, 0.0), loss: Loss | None = None) -> Problem:
    r"""The toy of the crux chapter: :math:`P(x) = (x_1, \alpha x_2)`.

    Linear, with :math:`J = \mathrm{diag}(1, \alpha)`, zero second derivatives
    and the exact inverse :math:`P^{-1}(y) = (y_1, y_2/\alpha)`.  With the
    default loss :math:`L = \tfrac12 (x_1^2 + \alpha^2 x_2^2)`.

    >>> alpha_scaled(3.0).jacobian_at(np.zeros(2))
    array([[1., 0.],
           [0., 3.]])
    """
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha must be a real number, got {type(alpha).__name__}")
    alpha = float(alpha)
    if not np.isfinite(alpha) or alpha == 0:
        raise ValueError(f"alpha must be finite and non-zero, got {alpha}")
    diagonal = np.array([1.0, alpha])
    return Problem(
        simulator=lambda x: diagonal * x,
        jacobian=lambda x: np.diag(diagonal),
        target=as_vector(target, "target", size=2),
        loss=squared_error() if loss is None else loss,
        second_derivatives=lambda x: np.zeros((2, 2, 2)),
        inverse=lambda y, x0: y / diagonal,
        name=f"alpha-scaled (alpha={alpha:g})",
    )


def _square_second_inverse(y, x0):
    if y[1] < 0:
        raise InverseError(
            f"y = (x1, x2^2) has no real preimage for y2 = {y[1]:.3g} < 0; "
            f"take a smaller step eta or let the rule fall back to a gradient"
        )
    sign = 1.0 if x0[1] >= 0 else -1.0
    return np.array([y[0], sign * np.sqrt(y[1])])


def square_second(target=(0.0, 0.0), loss: Loss | None = None) -> Problem:
    r""":math:`y(x) = (x_1, x_2^2)`, the nonlinear toy of the optimiser comparison.

    The local inverse :math:`P^{-1}(y; x_0) = (y_1, \operatorname{sign}(x_{0,2}) \sqrt{y_2})`
    returns the preimage on the side of the current guess.

    >>> p = square_second()
    >>> p.invert(np.array([1.0, 4.0]), np.array([0.0, -3.0]))
    array([ 1., -2.])
    """
    return Problem(
        simulator=lambda x: np.array([x[0], x[1] ** 2]),
        jacobian=lambda x: np.array([[1.0, 0.0], [0.0, 2.0 * x[1]]]),
        target=as_vector(target, "target", size=2),
        loss=squared_error() if loss is None else loss,
        second_derivatives=lambda x: np.array([np.zeros((2, 2)), [[0.0, 0.0], [0.0, 2.0]]]),
        inverse=_square_second_inverse,
        name="y = (x1, x2^2)",
    )


def _scalar_square_inverse(y, x0):
    if y[0] < 0:
        raise InverseError(
            f"y = x^2 has no real root for y = {y[0]:.3g} < 0; take a smaller step "
            f"eta or let the rule fall back to a gradient"
        )
    sign = 1.0 if x0[0] >= 0 else -1.0
    return np.array([sign * np.sqrt(y[0])])


def scalar_square(target: float = 1.0) -> Problem:
    r""":math:`y = x^2`, which has no global inverse: the local inverse returns the root closest to :math:`x_0`.

    >>> p = scalar_square()
    >>> p.invert(np.array([4.0]), np.array([-0.1]))
    array([-2.])
    """
    return Problem(
        simulator=lambda x: x**2,
        jacobian=lambda x: np.array([[2.0 * x[0]]]),
        target=as_vector(target, "target", size=1),
        second_derivatives=lambda x: np.array([[[2.0]]]),
        inverse=_scalar_square_inverse,
        name="y = x^2",
    )


def _log_inverse(y, x0):
    if y[0] <= 0:
        raise InverseError(f"y = exp(x) has no preimage for y = {y[0]:.3g} <= 0; take a smaller step eta")
    return np.log(y)


def exponential(target: float = 1.0) -> Problem:
    r""":math:`y = e^x` with its global inverse :math:`\log y` (defined for :math:`y > 0`).

    >>> exponential(np.e).invert(np.array([np.e]), np.array([0.0]))
    array([1.])
    """
    return Problem(
        simulator=np.exp,
        jacobian=lambda x: np.array([[np.exp(x[0])]]),
        target=as_vector(target, "target", size=1),
        second_derivatives=lambda x: np.array([[[np.exp(x[0])]]]),
        inverse=_log_inverse,
        name="y = exp(x)",
    )


def rosenbrock() -> Problem:
    r"""Rosenbrock's function as a least-squares problem.

    :math:`P(x) = (10 (x_2 - x_1^2),\; 1 - x_1)`, :math:`y^* = 0`, so
    :math:`L = \tfrac12 P^\top P = \tfrac12\,[100 (x_2 - x_1^2)^2 + (1 - x_1)^2]`,
    half the classical function; minimiser :math:`(1, 1)`.

    >>> float(rosenbrock().loss_at(np.array([1.0, 1.0])))
    0.0
    """
    def simulator(x):
        return np.array([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])

    def jacobian(x):
        return np.array([[-20.0 * x[0], 10.0], [-1.0, 0.0]])

    def second(x):
        return np.array([[[-20.0, 0.0], [0.0, 0.0]], np.zeros((2, 2))])

    return Problem(simulator, jacobian, target=np.zeros(2), second_derivatives=second, name="Rosenbrock")


def linear(matrix, target, *, rtol: float = linalg.DEFAULT_RTOL) -> Problem:
    r"""The linear problem :math:`P(x) = A x` with its exact local inverse, for any shape and rank of ``A``.

    The inverse is the preimage closest to :math:`x_0`,

    .. math::
        P^{-1}(y; x_0) = x_0 + D^{-1} (A D^{-1})^{+} (y - A x_0),

    with :math:`D` the diagonal of the column norms of :math:`A`: closest in the
    unit-free distance :math:`|D(x - x_0)|` (the Euclidean one when the columns have
    equal norms), so the inverse commutes with a change of units of :math:`x`.  The
    pseudo-inverse comes from an SVD of :math:`AD^{-1}`, computed once, with singular
    values below ``rtol`` times the largest dropped.  When :math:`y` has a part outside
    the range of :math:`A` (a tall or rank-deficient ``A``), no :math:`x` reproduces
    it: the inverse raises :class:`~companion.errors.InverseError` with the size of
    that part.

    >>> p = linear([[2.0, 0.0], [0.0, 4.0]], [2.0, 4.0])
    >>> p.invert(p.target, np.zeros(2))
    array([1., 1.])
    >>> linear([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], [1.0, 2.0]).invert([1.0, 2.0], np.zeros(3)).round(12)
    array([0., 1., 1.])
    """
    matrix = as_matrix(matrix, "matrix")
    target = as_vector(target, "target", size=matrix.shape[0])
    rtol = _real_scalar(rtol, "rtol")
    if not 0 <= rtol < 1:
        raise ValueError(f"rtol must lie in [0, 1), got {rtol}")
    m, n = matrix.shape
    name = f"linear ({m}x{n})"
    return Problem(
        simulator=lambda x: matrix @ x,
        jacobian=lambda x: matrix,
        target=target,
        inverse=_linear_inverse(matrix, rtol, name),
        name=name,
        affine=True,
        n=n,
    )


def _linear_inverse(matrix: np.ndarray, rtol: float, name: str):
    """The closest-preimage inverse of :func:`linear`, from one SVD of the column-scaled matrix."""
    norms = np.linalg.norm(matrix, axis=0)
    scale = np.where(norms > 0, norms, 1.0)
    u, s, vt = np.linalg.svd(matrix / scale, full_matrices=False)
    keep = s > rtol * s[0] if s[0] > 0 else np.zeros(s.shape, dtype=bool)
    u, s, vt = u[:, keep], s[keep], vt[keep]
    rank, m = int(keep.sum()), matrix.shape[0]
    condition = s[0] / s[-1] if rank else np.inf

    def inverse(y, x0):
        residual = y - matrix @ x0
        coefficients = u.T @ residual
        unreachable = float(np.linalg.norm(residual - u @ coefficients))
        size = max(float(np.linalg.norm(y)), float(np.linalg.norm(matrix @ x0)), np.finfo(float).tiny)
        if unreachable > 1e3 * np.finfo(float).eps * max(condition, 1.0) * size:
            dropped = len(keep) - rank
            raise InverseError(
                f"y lies outside the range of A of {name!r}: the part of y - A x0 that no x reaches has norm "
                f"{unreachable:.3g} ({unreachable / size:.3g} of |y|); A has rank {rank} for {m} output(s)"
                + (f" ({dropped} unit-free singular value(s) below rtol={rtol:.3g} times the largest dropped)"
                   if dropped else "")
                + "; use gauss_newton (least squares) or pg(fallback=...)"
            )
        return x0 + (vt.T @ (coefficients / s)) / scale

    return inverse
