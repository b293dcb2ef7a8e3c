"""Exceptions raised by companion.

All of them derive from ``ValueError`` so that ``except ValueError`` catches
every input problem; the subclasses let callers react to one kind.
"""

import numpy as np

__all__ = ["MissingCapabilityError", "SingularMatrixError", "InverseError", "NonFiniteError", "ShapeError"]


class MissingCapabilityError(ValueError):
    """A rule needs something the problem does not provide (a Hessian, an inverse)."""


class SingularMatrixError(np.linalg.LinAlgError):
    """A matrix that must be inverted is singular, ill-conditioned or not square.

    ``np.linalg.LinAlgError`` is itself a ``ValueError``.
    """


class InverseError(ValueError):
    """A local inverse ``P^{-1}(y; x0)`` has no solution for the requested ``y``."""


class NonFiniteError(ValueError):
    """A value that must be finite is NaN or inf (an input, or what a user function returned).

    :func:`~companion.minimize` reports one met during a step as status 2
    (``non_finite``), not as a failed rule.
    """


class ShapeError(ValueError):
    """A user-supplied function (simulator, Jacobian, Hessian, inverse, ...) returned an array of the wrong shape.

    A programming error, not a numerical failure: it names the function, the shape
    returned and the shape expected.  :func:`~companion.minimize` lets it propagate,
    as it does for a wrongly shaped simulator output at ``x0``.
    """
