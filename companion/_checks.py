"""Input checks shared by the whole package.

Every public function validates what it is given with these helpers, so that a
reader who passes a list, a wrongly shaped array, a NaN or a bad step size gets
a message that names the argument and says what to pass instead.
"""

from __future__ import annotations

import numbers

import numpy as np

from .errors import NonFiniteError

__all__ = [
    "as_real_array",
    "as_vector",
    "as_matrix",
    "check_finite",
    "check_positive",
    "check_fraction",
    "check_int",
]


def as_real_array(value, name: str, *, what: str = "an array") -> np.ndarray:
    """Return ``value`` as a float array of any shape, or raise ``TypeError`` naming ``name``.

    Refuses what ``np.asarray(value, dtype=float)`` would silently turn into
    numbers: booleans, complex values (whose imaginary part would be dropped)
    and strings.  Finiteness and shape are the caller's business.  Like
    ``np.asarray`` it does not copy a float array.

    >>> as_real_array([[1, 2]], "m")
    array([[1., 2.]])
    >>> as_real_array([True, False], "x0")
    Traceback (most recent call last):
    ...
    TypeError: x0 must be an array of real numbers, got booleans; pass 0.0 and 1.0 if you mean numbers
    """
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be {what} of numbers, got {type(value).__name__}")
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name} must be {what} of real numbers; could not convert "
            f"{type(value).__name__} ({exc})"
        ) from None
    kind = raw.dtype.kind
    if kind == "O" and raw.size:
        kinds = {np.asarray(item).dtype.kind for item in raw.flat}
        kind = next((k for k in "bcUS" if k in kinds), kind)
    if kind == "b":
        raise TypeError(f"{name} must be {what} of real numbers, got booleans; pass 0.0 and 1.0 if you mean numbers")
    if kind == "c":
        raise TypeError(f"{name} must be {what} of real numbers, got complex values")
    if kind in "USV":
        raise TypeError(f"{name} must be {what} of real numbers, got {type(value).__name__} of strings or bytes")
    try:
        return np.asarray(raw, dtype=float)  # no copy if it is a float array already
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name} must be {what} of real numbers; could not convert "
            f"{type(value).__name__} ({exc})"
        ) from None


def as_vector(value, name: str, *, size: int | None = None) -> np.ndarray:
    """Return ``value`` as a finite 1-D float array, or raise a clear error.

    Scalars become arrays of length 1; lists and tuples are accepted.

    >>> as_vector([1, 2], "x0")
    array([1., 2.])
    >>> as_vector(3.0, "x0")
    array([3.])
    """
    array = as_real_array(value, name)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D vector, got an array of shape {array.shape}; "
            f"flatten it with np.ravel if the layout does not matter"
        )
    if array.size == 0:
        raise ValueError(f"{name} is empty; it needs at least one component")
    if size is not None and array.size != size:
        raise ValueError(f"{name} must have {size} components, got {array.size}")
    check_finite(array, name)
    return array.copy()


def as_matrix(value, name: str, *, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Return ``value`` as a finite 2-D float array, or raise a clear error."""
    array = as_real_array(value, name, what="a matrix")
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got an array of shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape})")
    if shape is not None and array.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {array.shape}")
    check_finite(array, name)
    return array


def check_finite(array: np.ndarray, name: str) -> None:
    """Raise :class:`~companion.errors.NonFiniteError` (a ``ValueError``) naming ``name`` if ``array`` holds NaN or inf."""
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise NonFiniteError(
            f"{name} contains {bad} non-finite value(s) (NaN or inf); "
            f"check the inputs or the function that produced them"
        )


def _real_scalar(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise NonFiniteError(f"{name} must be finite, got {value}")
    return value


def check_positive(value, name: str) -> float:
    """Return ``value`` as a float if it is a finite number > 0, else raise."""
    value = _real_scalar(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def check_fraction(value, name: str) -> float:
    """Return ``value`` if it is a number in [0, 1), else raise."""
    value = _real_scalar(value, name)
    if not 0 <= value < 1:
        raise ValueError(f"{name} must lie in [0, 1), got {value}")
    return value


def check_int(value, name: str, *, minimum: int = 0) -> int:
    """Return ``value`` if it is an integer >= ``minimum``, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)
