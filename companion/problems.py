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

from ._checks import as_vector, check_finite, check_positive
from . import linalg
from .errors import InverseError, MissingCapabilityError

__all__ = [
    "Loss",
    "squared_error",
    "Problem",
    "reparametrize",
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
    """

    value: Callable[[np.ndarray, np.ndarray], float]
    gradient: Callable[[np.ndarray, np.ndarray], np.ndarray]
    hessian: Callable[[np.ndarray, np.ndarray], np.ndarray]
    name: str = "loss"


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
    return Loss(value, gradient, hessian, name)


# --------------------------------------------------------------------------- problem
_MISSING_HESSIAN = (
    "problem {name!r} has no second derivatives: pass second_derivatives=(x -> "
    "array of shape (m, n, n)) or hessian=(x -> array of shape (n, n)) to Problem "
    "(or affine=True if P is affine), or use a rule that needs only the Jacobian (gd, gauss_newton, ig, bfgs)"
)
_MISSING_INVERSE = (
    "problem {name!r} has no local inverse: pass inverse=(lambda y, x0: x with "
    "P(x) = y, closest to x0) to Problem, or use a rule that needs only the "
    "Jacobian (ig, gauss_newton, gd)"
)


@dataclass(frozen=True)
class Problem:
    r"""An optimisation problem :math:`\min_x L(P(x); y^*)`.

    Parameters
    ----------
    simulator
        :math:`P`, maps an ``(n,)`` array to an ``(m,)`` array.
    jacobian
        :math:`J(x) = \partial P/\partial x`, an ``(m, n)`` array.
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
        :math:`P(x) = y` closest to ``x0``; raise :class:`InverseError` if none.
    name
        Used in messages.
    affine
        ``True`` declares :math:`P` affine (zero second derivatives): the
        Hessian of :math:`L` is then :math:`J^\top L_{yy} J`, with no
        :math:`m \times n \times n` tensor of zeros.

    The ``*_at`` methods evaluate these pieces with their shapes and finiteness
    checked, so a wrong user function is reported where it is called.

    >>> p = alpha_scaled(10.0)
    >>> p.output(np.array([1.0, 1.0]))
    array([ 1., 10.])
    >>> float(p.loss_at(np.array([1.0, 1.0])))
    50.5
    """

    simulator: Callable[[np.ndarray], np.ndarray]
    jacobian: Callable[[np.ndarray], np.ndarray]
    target: np.ndarray
    loss: Loss = field(default_factory=squared_error)
    second_derivatives: Optional[Callable[[np.ndarray], np.ndarray]] = None
    hessian: Optional[Callable[[np.ndarray], np.ndarray]] = None
    inverse: Optional[Callable[[np.ndarray, np.ndarray], np.ndarray]] = None
    name: str = "problem"
    affine: bool = False

    def __post_init__(self):
        for attribute in ("simulator", "jacobian"):
            if not callable(getattr(self, attribute)):
                raise TypeError(f"{attribute} must be callable, got {type(getattr(self, attribute)).__name__}")
        for attribute in ("second_derivatives", "hessian", "inverse"):
            value = getattr(self, attribute)
            if value is not None and not callable(value):
                raise TypeError(f"{attribute} must be callable or None, got {type(value).__name__}")
        if not isinstance(self.loss, Loss):
            raise TypeError(f"loss must be a companion.problems.Loss, got {type(self.loss).__name__}")
        object.__setattr__(self, "target", as_vector(self.target, "target"))

    # sizes ----------------------------------------------------------------
    @property
    def output_size(self) -> int:
        """:math:`m`, the number of components of :math:`y`."""
        return self.target.size

    @property
    def has_hessian(self) -> bool:
        return self.hessian is not None or self.second_derivatives is not None or self.affine

    @property
    def has_inverse(self) -> bool:
        return self.inverse is not None

    # checked evaluations --------------------------------------------------
    def output(self, x) -> np.ndarray:
        """:math:`y = P(x)`, checked to be a finite ``(m,)`` array."""
        x = as_vector(x, "x")
        try:
            y = _call_vector(self.simulator, (x,), f"simulator of {self.name!r}", self.output_size)
        except IndexError as exc:
            raise ValueError(
                f"simulator of {self.name!r} failed on an x with {x.size} component(s) ({exc}); "
                f"is x (or x0) of the right length?"
            ) from None
        return y

    def loss_of_output(self, y) -> float:
        """:math:`L(y)` for an output ``y``."""
        y = as_vector(y, "y", size=self.output_size)
        value = float(self.loss.value(y, self.target))
        return value

    def loss_at(self, x) -> float:
        """:math:`L(P(x))`."""
        return self.loss_of_output(self.output(x))

    def jacobian_at(self, x) -> np.ndarray:
        """:math:`J(x)`, checked to be a finite ``(m, n)`` array."""
        x = as_vector(x, "x")
        jac = np.asarray(self.jacobian(x), dtype=float)
        expected = (self.output_size, x.size)
        if self.output_size == 1 and x.size == 1 and jac.size == 1:
            jac = jac.reshape(1, 1)
        if jac.shape != expected:
            raise ValueError(
                f"jacobian of {self.name!r} returned shape {jac.shape}, expected {expected} "
                f"(rows: outputs y, columns: inputs x)"
            )
        check_finite(jac, f"jacobian of {self.name!r} at x")
        return jac

    def loss_gradient_in_y(self, y) -> np.ndarray:
        r""":math:`(\partial L/\partial y)^\top` at ``y``."""
        y = as_vector(y, "y", size=self.output_size)
        return _checked(self.loss.gradient(y, self.target), (y.size,), "loss gradient in y")

    def loss_hessian_in_y(self, y) -> np.ndarray:
        r""":math:`\partial^2 L/\partial y^2` at ``y``."""
        y = as_vector(y, "y", size=self.output_size)
        return _checked(self.loss.hessian(y, self.target), (y.size, y.size), "loss Hessian in y")

    def gradient_at(self, x) -> np.ndarray:
        r""":math:`\nabla_x L = J^\top (\partial L/\partial y)^\top` (chain rule)."""
        x = as_vector(x, "x")
        y = self.output(x)
        return self.jacobian_at(x).T @ self.loss_gradient_in_y(y)

    def hessian_at(self, x) -> np.ndarray:
        r"""Hessian of :math:`L` in :math:`x` ({eq}`eq-composite-hessian`).

        .. math::
            \frac{\partial^2 L}{\partial x^2} = J^\top \frac{\partial^2 L}{\partial y^2} J
            + \sum_i \frac{\partial L}{\partial y_i}\frac{\partial^2 P_i}{\partial x^2}
        """
        return self.gradient_and_hessian_at(x)[1]

    def gradient_and_hessian_at(self, x) -> tuple[np.ndarray, np.ndarray]:
        r""":math:`\nabla_x L` and :math:`\partial^2 L/\partial x^2` from one evaluation of :math:`P` and :math:`J`."""
        x = as_vector(x, "x")
        n = x.size
        if self.hessian is None and self.second_derivatives is None and not self.affine:
            raise MissingCapabilityError(_MISSING_HESSIAN.format(name=self.name))
        y = self.output(x)
        jac = self.jacobian_at(x)
        grad_y = self.loss_gradient_in_y(y)
        gradient = jac.T @ grad_y
        if self.hessian is not None:
            return gradient, _checked(self.hessian(x), (n, n), f"hessian of {self.name!r}")
        hessian = jac.T @ self.loss_hessian_in_y(y) @ jac
        if self.second_derivatives is not None:
            second = _checked(
                self.second_derivatives(x), (self.output_size, n, n), f"second_derivatives of {self.name!r}"
            )
            hessian = hessian + np.tensordot(grad_y, second, axes=1)
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
        return _call_vector(self.inverse, (y, x0), f"inverse of {self.name!r}", x0.size)

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


def _checked(value, shape, what: str) -> np.ndarray:
    array = np.asarray(value, dtype=float)
    if array.shape != tuple(shape):
        if array.size == int(np.prod(shape)) and array.size == 1:
            array = array.reshape(shape)
        else:
            raise ValueError(f"{what} returned shape {array.shape}, expected {tuple(shape)}")
    check_finite(array, what)
    return array


def _call_vector(function, args, what: str, size: int) -> np.ndarray:
    value = function(*args)
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.shape != (size,):
        raise ValueError(f"{what} returned shape {array.shape}, expected ({size},)")
    check_finite(array, f"output of the {what}")
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
    scale = as_vector(scale, "scale")
    if np.any(scale == 0):
        raise ValueError("scale must have no zero component: x = scale * z must be invertible")

    def simulator(z):
        return problem.simulator(scale * z)

    def jacobian(z):
        return problem.jacobian_at(scale * z) * scale

    second = hessian = inverse = None
    if problem.second_derivatives is not None:
        def second(z):
            return problem.second_derivatives(scale * z) * np.outer(scale, scale)
    if problem.hessian is not None:
        def hessian(z):
            return problem.hessian(scale * z) * np.outer(scale, scale)
    if problem.inverse is not None:
        def inverse(y, z0):
            return problem.invert(y, scale * z0) / scale

    return Problem(
        simulator, jacobian, problem.target, problem.loss, second, hessian, inverse,
        name=f"{problem.name} (rescaled)", affine=problem.affine,
    )


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
    if isinstance(alpha, bool) or not np.isscalar(alpha):
        raise TypeError(f"alpha must be a real number, got {type(alpha).__name__}")
    alpha = float(alpha)
    if not np.isfinite(alpha) or alpha == 0:
        raise ValueError(f"alpha must be finite and non-zero, got {alpha}")
    diagonal = np.array([1.0, alpha])
    return Problem(
        simulator=lambda x: diagonal * x,
        jacobian=lambda x: np.diag(diagonal),
        target=target,
        loss=loss or squared_error(),
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
        target=target,
        loss=loss or squared_error(),
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
        target=[target],
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
        target=[target],
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


def linear(matrix, target) -> Problem:
    r"""The linear problem :math:`P(x) = A x` with the inverse :math:`A^{-1} y` (square, invertible ``A``).

    For a non-square or singular ``A`` the problem has no inverse
    (``inverse`` is ``None``).

    >>> p = linear([[2.0, 0.0], [0.0, 4.0]], [2.0, 4.0])
    >>> p.invert(p.target, np.zeros(2))
    array([1., 1.])
    """
    from ._checks import as_matrix

    matrix = as_matrix(matrix, "matrix")
    target = as_vector(target, "target", size=matrix.shape[0])
    inverse = None
    square = matrix.shape[0] == matrix.shape[1]
    if square and linalg.condition_number(matrix) < 1 / linalg.DEFAULT_RTOL:
        def inverse(y, x0):
            return linalg.solve(matrix, y, name="A")
    n = matrix.shape[1]
    return Problem(
        simulator=lambda x: matrix @ x,
        jacobian=lambda x: matrix,
        target=target,
        inverse=inverse,
        name=f"linear ({matrix.shape[0]}x{n})",
        affine=True,
    )
