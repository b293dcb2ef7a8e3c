"""Exceptions raised by companion.

All of them derive from ``ValueError`` so that ``except ValueError`` catches
every input problem; the subclasses let callers react to one kind.
"""

import numpy as np

__all__ = ["MissingCapabilityError", "SingularMatrixError", "InverseError"]


class MissingCapabilityError(ValueError):
    """A rule needs something the problem does not provide (a Hessian, an inverse)."""


class SingularMatrixError(np.linalg.LinAlgError):
    """A matrix that must be inverted is singular, ill-conditioned or not square.

    ``np.linalg.LinAlgError`` is itself a ``ValueError``.
    """


class InverseError(ValueError):
    """A local inverse ``P^{-1}(y; x0)`` has no solution for the requested ``y``."""
