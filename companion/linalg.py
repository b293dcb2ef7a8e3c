r"""The linear algebra the update rules share.

Everything goes through one singular value decomposition
:math:`A = U S V^\top` so that inversion, pseudo-inversion and the fractional
powers used by half-inverse gradients truncate small singular values in the
same way.

A singular value :math:`s_i` counts as zero when :math:`s_i \le r\, s_{\max}`
with the *relative* threshold :math:`r` (``rtol``).  Truncated directions
contribute nothing to an inverse: their inverse singular value is set to zero,
it is not clamped to :math:`1/(r s_{\max})`.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._checks import as_matrix, check_fraction, as_vector
from .errors import SingularMatrixError

__all__ = ["svd_power", "pinv", "solve", "lstsq", "condition_number", "DEFAULT_RTOL"]

#: Relative threshold below which :func:`solve` declares a matrix singular.
DEFAULT_RTOL = 1e-12


def _svd(matrix: np.ndarray, name: str):
    try:
        return np.linalg.svd(matrix, full_matrices=False)
    except np.linalg.LinAlgError as exc:  # pragma: no cover - only for pathological input
        raise SingularMatrixError(f"the SVD of {name} did not converge ({exc})") from None


def condition_number(matrix, name: str = "matrix") -> float:
    """Ratio of the largest to the smallest singular value (``inf`` if singular).

    >>> condition_number(np.diag([1.0, 1e-3]))
    1000.0
    """
    matrix = as_matrix(matrix, name)
    s = _svd(matrix, name)[1]
    with np.errstate(over="ignore"):
        return float(s[0] / s[-1]) if s[-1] > 0 else float("inf")


def svd_power(matrix, kappa: float, *, rtol: float = DEFAULT_RTOL, name: str = "matrix") -> np.ndarray:
    r"""Return :math:`A^{\kappa} := V S^{\kappa} U^\top` for ``A = U S V^T``.

    The result has the shape of :math:`A^\top`.  ``kappa = 1`` gives
    :math:`A^\top`, ``kappa = -1`` the pseudo-inverse :math:`A^+` and
    ``kappa = -1/2`` the half-inverse of HIG.  For negative ``kappa`` singular
    values :math:`s_i \le` ``rtol`` :math:`\cdot s_{\max}` are dropped (their
    contribution is zero).

    >>> A = np.array([[4.0, 0.0], [0.0, 0.25]])
    >>> svd_power(A, -0.5)
    array([[0.5, 0. ],
           [0. , 2. ]])
    >>> np.allclose(svd_power(A, 1), A.T)
    True
    """
    matrix = as_matrix(matrix, name)
    if isinstance(kappa, bool) or not isinstance(kappa, numbers.Real) or not np.isfinite(kappa):
        raise TypeError(f"kappa must be a finite real number, got {kappa!r}")
    rtol = check_fraction(rtol, "rtol")
    u, s, vt = _svd(matrix, name)
    powered = np.zeros_like(s)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        if kappa >= 0:
            powered = s**kappa
        else:
            keep = s > rtol * s[0] if s[0] > 0 else np.zeros_like(s, dtype=bool)
            powered[keep] = s[keep] ** kappa
        result = (vt.T * powered) @ u.T
    if not np.all(np.isfinite(result)):
        raise SingularMatrixError(
            f"{name}^{kappa:g} overflows: its singular values run from {s[-1]:.3g} to {s[0]:.3g}; "
            f"rescale the matrix (or raise rtol)"
        )
    return result


def pinv(matrix, *, rtol: float = DEFAULT_RTOL, name: str = "matrix") -> np.ndarray:
    r"""Moore-Penrose pseudo-inverse :math:`A^+ = V S^{-1} U^\top`, truncated at ``rtol``.

    >>> pinv(np.array([[2.0, 0.0], [0.0, 0.0]]))
    array([[0.5, 0. ],
           [0. , 0. ]])
    """
    return svd_power(matrix, -1.0, rtol=rtol, name=name)


def lstsq(matrix, rhs, *, rtol: float = DEFAULT_RTOL, name: str = "matrix") -> np.ndarray:
    r"""Minimum-norm least-squares solution :math:`A^+ b` (any shape, any rank)."""
    matrix = as_matrix(matrix, name)
    rhs = as_vector(rhs, "rhs", size=matrix.shape[0])
    return pinv(matrix, rtol=rtol, name=name) @ rhs


def solve(matrix, rhs, *, rtol: float = DEFAULT_RTOL, name: str = "matrix", remedy: str = "") -> np.ndarray:
    r"""Solve :math:`A z = b` for a square, well-conditioned :math:`A`.

    Raises :class:`~companion.errors.SingularMatrixError` when ``A`` is not
    square or when :math:`s_{\min} \le` ``rtol`` :math:`\cdot s_{\max}`; the
    message names the matrix (``name``) and suggests ``remedy``.

    >>> solve(np.diag([2.0, 4.0]), [1.0, 1.0])
    array([0.5 , 0.25])
    """
    matrix = as_matrix(matrix, name)
    rtol = check_fraction(rtol, "rtol")
    hint = f"; {remedy}" if remedy else ""
    rows, cols = matrix.shape
    if rows != cols:
        raise SingularMatrixError(
            f"{name} is not square (shape {matrix.shape}) and has no inverse{hint}"
        )
    rhs = as_vector(rhs, "rhs", size=rows)
    u, s, vt = _svd(matrix, name)
    if s[0] == 0 or s[-1] <= rtol * s[0]:
        with np.errstate(over="ignore"):
            cond = float("inf") if s[-1] == 0 else float(s[0] / s[-1])
        threshold = 1 / rtol if rtol > 0 else float("inf")
        raise SingularMatrixError(
            f"{name} is singular or nearly so (condition number {cond:.3g}, "
            f"threshold {threshold:.3g}){hint}"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        solution = vt.T @ ((u.T @ rhs) / s)
    if not np.all(np.isfinite(solution)):
        raise SingularMatrixError(
            f"the solution of {name} z = rhs overflows (smallest singular value {s[-1]:.3g}){hint}"
        )
    return solution
