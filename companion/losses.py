r"""Losses other than the plain squared error, for :class:`companion.problems.Problem`.

:func:`companion.problems.squared_error` is the course's default,
:math:`L = \tfrac{c}{2}|y - y^*|^2`.  The two losses here show what the step in
:math:`y` of {eq}`eq-dy`, :math:`\Delta y = -\eta\,L_{yy}^{-1}(\partial L/\partial y)^\top`,
does when the loss is weighted or not quadratic:

* :func:`weighted_squared_error`: the weights cancel, :math:`\Delta y = \eta (y^* - y)`;
* :func:`quadratic_plus_quartic`: a different fraction of the residual in each component.
"""

from __future__ import annotations

import numpy as np

from ._checks import as_vector
from .problems import Loss

__all__ = ["weighted_squared_error", "quadratic_plus_quartic"]


def weighted_squared_error(weights) -> Loss:
    r"""The weighted squared error :math:`L = \tfrac12 \sum_i w_i (y_i - y^*_i)^2` (all :math:`w_i > 0`).

    Gradient :math:`w \odot (y - y^*)`, Hessian :math:`\mathrm{diag}(w)`, so the Newton
    step in :math:`y` is :math:`\eta\,(y^* - y)` whatever the weights: they cancel.

    >>> loss = weighted_squared_error([1.0, 4.0])
    >>> float(loss.value(np.array([1.0, 1.0]), np.zeros(2)))
    2.5
    >>> weighted_squared_error([1.0, 0.0])
    Traceback (most recent call last):
    ...
    ValueError: weights must all be positive (a zero weight makes the Hessian singular), got [1. 0.]
    """
    w = as_vector(weights, "weights")
    if np.any(w <= 0):
        raise ValueError(f"weights must all be positive (a zero weight makes the Hessian singular), got {w}")

    def value(y, target):
        r = y - target
        return 0.5 * float(np.sum(w * r * r))

    def gradient(y, target):
        return w * (y - target)

    def hessian(y, target):
        return np.diag(w)

    return Loss(value, gradient, hessian, name="weighted squared error")


def quadratic_plus_quartic(weights) -> Loss:
    r"""The convex loss :math:`L = \sum_i \big[\tfrac12 r_i^2 + \tfrac{w_i}{4} r_i^4\big]`, :math:`r = y - y^*`.

    Gradient :math:`r_i + w_i r_i^3`, Hessian :math:`\mathrm{diag}(1 + 3 w_i r_i^2)`, so
    the Newton step in :math:`y` is
    :math:`\Delta y_i = -\eta\, r_i (1 + w_i r_i^2)/(1 + 3 w_i r_i^2)`: between a third
    of and the full residual, differently in each component (:math:`w_i \ge 0`).

    >>> quadratic_plus_quartic([1.0, 0.0]).gradient(np.array([2.0, 2.0]), np.zeros(2))
    array([10.,  2.])
    """
    w = as_vector(weights, "weights")
    if np.any(w < 0):
        raise ValueError(f"weights must be >= 0 (a negative weight makes the loss non-convex), got {w}")

    def value(y, target):
        r = y - target
        return float(np.sum(0.5 * r * r + 0.25 * w * r**4))

    def gradient(y, target):
        r = y - target
        return r + w * r**3

    def hessian(y, target):
        r = y - target
        return np.diag(1.0 + 3.0 * w * r * r)

    return Loss(value, gradient, hessian, name="quadratic + quartic")
