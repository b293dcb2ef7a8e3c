r"""Derivatives of a simulator by finite differences, for a :class:`~companion.problems.Problem` built without them.

A reader's own simulator rarely comes with a Jacobian.  ``Problem(simulator, None, target)``
(or :meth:`Problem.from_simulator <companion.problems.Problem.from_simulator>`) then
computes what a rule asks for, and only when it asks:

* the Jacobian :math:`J_{:,i} \approx (P(x + h_i e_i) - P(x)) / h_i` (forward, :math:`n` calls),
  :math:`(P(x + h_i e_i) - P(x - h_i e_i)) / (2 h_i)` (central, :math:`2n` calls), or
  :math:`\operatorname{Im} P(x + \mathrm{i}\, h_i e_i) / h_i` (complex step, :math:`n` calls,
  exact to rounding because nothing is subtracted) when the simulator computes with complex
  numbers correctly;
* the second-derivative term :math:`\sum_k g_k\, \partial^2 P_k/\partial x^2` of the Hessian
  of :math:`L` ({eq}`eq-composite-hessian`, :math:`g = (\partial L/\partial y)^\top`), from
  second differences of :math:`\varphi(x) = g^\top P(x)`.

Each step is relative to its component,

.. math::
    h_i = c\, \max(|x_i|, \tilde x_i),

with :math:`\tilde x_i` a typical size of :math:`x_i` (default 1) that keeps the step away
from zero, and :math:`c` the error-balancing constant of the formula: :math:`\sqrt{\epsilon}`
for forward, :math:`\epsilon^{1/3}` for central, :math:`\epsilon^{1/4}` for second
differences (:math:`\epsilon` the machine epsilon), :math:`10^{-20}` for the complex step.
Relative steps make the differences unit-free: rescaling :math:`x_i` (and :math:`\tilde x_i`)
rescales :math:`h_i` with it.  The step is rounded so that :math:`x_i + h_i` is exactly
representable.

The functions take the value :math:`P(x)` already computed (the driver has it), so a forward
Jacobian costs :math:`n` new calls, not :math:`n + 1`.

>>> simulator = lambda x: np.array([x[0] * x[1], np.exp(x[0])])
>>> x = np.array([1.0, 2.0])
>>> jacobian(simulator, x, simulator(x), method="complex").round(12)
array([[2.        , 1.        ],
       [2.71828183, 0.        ]])
"""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np

__all__ = [
    "METHODS",
    "relative_steps",
    "jacobian",
    "second_derivative_term",
    "supports_complex_step",
]

#: the finite-difference methods :func:`jacobian` knows; ``"auto"`` (an option of
#: :class:`~companion.problems.Problem`) means complex step when :func:`supports_complex_step`, else forward
METHODS = ("forward", "central", "complex")

_EPS = np.finfo(float).eps
_FACTOR = {"forward": _EPS ** 0.5, "central": _EPS ** (1 / 3), "second": _EPS ** 0.25, "complex": 1e-20}


def relative_steps(x, kind: str = "forward", typical_x=None) -> np.ndarray:
    r"""The steps :math:`h_i = c\, \max(|x_i|, \tilde x_i)` of a difference formula ``kind``.

    ``kind`` is ``"forward"``, ``"central"``, ``"second"`` or ``"complex"``;
    ``typical_x`` is :math:`\tilde x` (default 1 in every component).  Except for the
    complex step (which adds an imaginary part, never rounded away) the step is
    rounded to :math:`(x_i + h_i) - x_i` so that the difference quotient divides by
    the step actually taken.

    >>> relative_steps(np.array([0.0, 1e6]), "forward")
    array([1.49011612e-08, 1.49011612e-02])
    """
    if kind not in _FACTOR:
        raise ValueError(f"kind must be one of {sorted(_FACTOR)}, got {kind!r}")
    x = np.asarray(x, dtype=float)
    typical = np.ones_like(x) if typical_x is None else np.broadcast_to(np.abs(np.asarray(typical_x, float)), x.shape)
    h = _FACTOR[kind] * np.maximum(np.abs(x), typical)
    if kind == "complex":
        return h
    return (x + h) - x


def jacobian(simulator: Callable[[np.ndarray], np.ndarray], x, y, *, method: str = "forward",
             typical_x=None) -> np.ndarray:
    r"""The Jacobian :math:`\partial P/\partial x` at ``x`` by differences, an ``(m, n)`` array.

    Parameters
    ----------
    simulator
        :math:`P`; called :math:`n` times (forward, complex) or :math:`2n` times (central).
    x, y
        The point and :math:`P(x)`, already computed (not evaluated again).
    method
        ``"forward"`` (error :math:`O(\sqrt{\epsilon})` relative), ``"central"``
        (:math:`O(\epsilon^{2/3})`) or ``"complex"`` (:math:`O(\epsilon)`; the simulator
        must accept complex ``x`` and be complex-analytic, see :func:`supports_complex_step`).
    typical_x
        :math:`\tilde x` of :func:`relative_steps`.

    Examples
    --------
    >>> jacobian(lambda x: x ** 2, np.array([3.0]), np.array([9.0]), method="central").round(8)
    array([[6.]])
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    h = relative_steps(x, method, typical_x)
    columns = []
    for i in range(x.size):
        if method == "complex":
            shifted = x.astype(complex)
            shifted[i] += 1j * h[i]
            columns.append(np.imag(_complex_call(simulator, shifted)) / h[i])
            continue
        forward = x.copy()
        forward[i] += h[i]
        if method == "forward":
            columns.append((_real_call(simulator, forward) - y) / h[i])
        else:
            backward = x.copy()
            backward[i] -= h[i]
            columns.append((_real_call(simulator, forward) - _real_call(simulator, backward)) / (2 * h[i]))
    return np.stack(columns, axis=-1).reshape(y.size, x.size)


def second_derivative_term(simulator: Callable[[np.ndarray], np.ndarray], x, y, weights, *,
                           complex_step: bool = False, typical_x=None) -> np.ndarray:
    r"""The matrix :math:`\sum_k w_k\, \partial^2 P_k/\partial x^2` at ``x``, symmetric ``(n, n)``.

    With :math:`\varphi(x) = w^\top P(x)` and steps :math:`h` from :func:`relative_steps`
    (kind ``"second"``), the real formulas are

    .. math::
        \varphi_{ii} \approx \frac{\varphi(x + h_i e_i) - 2\varphi(x) + \varphi(x - h_i e_i)}{h_i^2},
        \qquad
        \varphi_{ij} \approx \frac{\varphi(x^{++}) - \varphi(x^{+-}) - \varphi(x^{-+}) + \varphi(x^{--})}{4 h_i h_j},

    :math:`x^{\pm\pm} = x \pm h_i e_i \pm h_j e_j`: :math:`2n^2` calls, error
    :math:`O(\sqrt{\epsilon})` relative.  With ``complex_step=True`` each column is a
    central difference of the complex-step gradient of :math:`\varphi`
    (:math:`2n^2` calls, error :math:`O(\epsilon^{2/3})`).  ``y`` is :math:`P(x)`.

    >>> p = lambda x: np.array([x[0] ** 2 * x[1]])
    >>> second_derivative_term(p, np.array([1.0, 2.0]), p(np.array([1.0, 2.0])), np.array([1.0])).round(6)
    array([[4., 2.],
           [2., 0.]])
    """
    x = np.asarray(x, dtype=float)
    weights = np.asarray(weights, dtype=float)
    n = x.size
    if complex_step:
        h = relative_steps(x, "central", typical_x)
        columns = []
        for j in range(n):
            plus, minus = x.copy(), x.copy()
            plus[j] += h[j]
            minus[j] -= h[j]
            difference = (jacobian(simulator, plus, y, method="complex", typical_x=typical_x)
                          - jacobian(simulator, minus, y, method="complex", typical_x=typical_x))
            columns.append(weights @ difference / (2 * h[j]))
        matrix = np.stack(columns, axis=1)
        return 0.5 * (matrix + matrix.T)

    h = relative_steps(x, "second", typical_x)
    phi0 = float(weights @ np.asarray(y, dtype=float))

    def phi(dx):
        return float(weights @ _real_call(simulator, x + dx))

    matrix = np.empty((n, n))
    steps = np.diag(h)
    for i in range(n):
        matrix[i, i] = (phi(steps[i]) - 2 * phi0 + phi(-steps[i])) / h[i] ** 2
        for j in range(i):
            value = (phi(steps[i] + steps[j]) - phi(steps[i] - steps[j])
                     - phi(-steps[i] + steps[j]) + phi(-steps[i] - steps[j])) / (4 * h[i] * h[j])
            matrix[i, j] = matrix[j, i] = value
    return matrix


def supports_complex_step(simulator: Callable[[np.ndarray], np.ndarray], x, y, *, typical_x=None,
                          rtol: float = 1e-5) -> bool:
    r"""Whether the complex step gives ``simulator``'s derivatives at ``x``: two calls, never raises.

    A simulator may accept complex input and still be wrong for it: ``abs``, ``np.real``,
    comparisons or a conversion with ``float()`` / ``np.asarray(x, dtype=float)`` drop or
    corrupt the imaginary part.  So the test is not just "does it run": the complex-step
    directional derivative along :math:`v` (components :math:`\pm h_i`, signs alternating)
    must agree, within ``rtol`` of its size, with the forward difference along the same
    :math:`v`, and the real part must reproduce ``y``.  Any exception or ``ComplexWarning``
    means no.

    >>> x = np.array([0.5, 2.0])
    >>> supports_complex_step(lambda x: np.sin(x) * x[::-1], x, np.sin(x) * x[::-1])
    True
    >>> supports_complex_step(lambda x: np.abs(x), x, np.abs(x))
    False
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    signs = np.where(np.arange(x.size) % 2 == 0, 1.0, -1.0)
    direction = signs * np.maximum(np.abs(x), 1.0 if typical_x is None else np.abs(np.asarray(typical_x, float)))
    tiny = _FACTOR["complex"]
    step = _FACTOR["forward"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            with np.errstate(all="raise", under="ignore"):  # underflow is harmless (solve_ivp hits it)
                value = np.asarray(simulator(x + 1j * tiny * direction))
        if value.shape != y.shape or not np.iscomplexobj(value) or not np.all(np.isfinite(value)):
            return False
        derivative = np.imag(value) / tiny
        difference = (_real_call(simulator, x + step * direction) - y) / step
    except Exception:  # noqa: BLE001 - any failure on complex input means "use real differences"
        return False
    size = np.max(np.abs(difference)) + np.max(np.abs(y)) * step + np.finfo(float).tiny
    return bool(np.allclose(np.real(value), y, rtol=1e-12, atol=1e-300)
                and np.max(np.abs(derivative - difference)) <= rtol * size)


def _real_call(simulator, x) -> np.ndarray:
    return np.asarray(simulator(x), dtype=float).reshape(-1)


def _complex_call(simulator, x) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        try:
            value = np.asarray(simulator(x)).reshape(-1)
        except np.exceptions.ComplexWarning:
            value = np.zeros(1)  # it cast x to real: reported below
    if not np.iscomplexobj(value):
        raise ValueError("the simulator returned real values for a complex x: it drops the imaginary part, "
                         "so the complex step cannot differentiate it; use differences='auto' or 'forward'")
    return value
