r"""The linear algebra the update rules share.

Everything goes through one singular value decomposition
:math:`A = U S V^\top` so that inversion, pseudo-inversion and the fractional
powers used by half-inverse gradients truncate small singular values in the
same way.

A singular value :math:`s_i` counts as zero when :math:`s_i \le r\, s_{\max}`
with the *relative* threshold :math:`r` (``rtol``).  Truncated directions
contribute nothing to an inverse: their inverse singular value is set to zero,
it is not clamped to :math:`1/(r s_{\max})`.

*Unit-free* truncation.  A threshold relative to :math:`s_{\max}` of a raw
Jacobian depends on the units of :math:`x`: measuring :math:`x_2` in
micrometres instead of metres multiplies the second column of :math:`J` by
:math:`10^{-6}`, and a well-posed direction can fall below the threshold.
The rules therefore truncate a *column-scaled* matrix,

.. math::
    \hat A = A D^{-1}, \quad D = \mathrm{diag}(|a_1|, \dots, |a_n|),
    \qquad x = D^{-1} \hat A^{+} b,

(:func:`unit_free_lstsq`) or, for a symmetric matrix such as a Hessian,
:math:`\hat H = D^{-1} H D^{-1}` with :math:`D = |\mathrm{diag}\, H|^{1/2}`
(:func:`unit_free_symmetric_solve`).  A diagonal change of units
:math:`x = S z` maps :math:`D` to :math:`|S| D` and leaves :math:`\hat A` (up to
signs of columns) unchanged, so what is dropped, and the step mapped back to
:math:`x`, do not depend on the units.  :data:`DEFAULT_RTOL` is the one
default threshold of ``ig``, ``newton`` and ``gauss_newton``: a unit-free
condition number above :math:`10^{12}` means that rounding errors of relative
size :math:`10^{-16}` in the data become errors of order :math:`10^{-4}` in the
step, so such directions are not resolved by the problem.
"""

from __future__ import annotations

import numbers

import numpy as np

from typing import NamedTuple

from ._checks import as_matrix, check_fraction, as_vector
from .errors import SingularMatrixError

__all__ = [
    "svd_power", "pinv", "solve", "lstsq", "condition_number", "DEFAULT_RTOL",
    "Truncation", "column_scales", "symmetric_scales", "unit_free_lstsq", "unit_free_symmetric_solve",
]

#: Default relative threshold. Singular values :math:`s \le 10^{-12} s_{\max}` (of the
#: unit-free matrix, for the rules) count as zero.  :func:`solve` refuses such a matrix;
#: the truncating functions drop those modes.
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


# --------------------------------------------------------------------------- unit-free truncation
class Truncation(NamedTuple):
    r"""What a unit-free solve did: ``dropped`` of ``modes`` singular values, at unit-free ``condition``.

    ``condition`` is :math:`s_{\max}/s_{\min}` of the scaled matrix (``inf`` when
    :math:`s_{\min} = 0`); it does not depend on the units of :math:`x`.
    """

    dropped: int
    modes: int
    condition: float


def column_scales(matrix) -> np.ndarray:
    r"""The column norms :math:`d_j = |a_j|` of ``matrix`` (1 for a zero column).

    ``matrix / column_scales(matrix)`` has unit columns whatever the units of :math:`x`.

    >>> column_scales(np.array([[3.0, 0.0], [4.0, 0.0]]))
    array([5., 1.])
    """
    matrix = as_matrix(matrix, "matrix")
    norms = np.linalg.norm(matrix, axis=0)
    return np.where(norms > np.finfo(float).tiny, norms, 1.0)


def symmetric_scales(matrix) -> np.ndarray:
    r"""Scales :math:`d_i` such that :math:`D^{-1} H D^{-1}` does not depend on the units of :math:`x`.

    :math:`d_i = |H_{ii}|^{1/2}`.  Where :math:`H_{ii} = 0` (a saddle such as
    :math:`\begin{pmatrix}0&1\\1&0\end{pmatrix}` with one zero, or both),
    :math:`d_i = \max_j |H_{ij}| / d_j` over the :math:`j` with :math:`H_{jj} \ne 0`, which
    scales like :math:`x_i` too; 1 when there is no such :math:`j`.

    >>> symmetric_scales(np.array([[4.0, 2.0], [2.0, 0.0]]))
    array([2., 1.])
    """
    matrix = as_matrix(matrix, "matrix")
    diagonal = np.abs(np.diag(matrix))
    regular = diagonal > np.finfo(float).tiny
    d = np.sqrt(np.where(regular, diagonal, 1.0))
    if not regular.all() and regular.any():
        with np.errstate(over="ignore", invalid="ignore"):
            coupling = (np.abs(matrix[np.ix_(~regular, regular)]) / d[regular]).max(axis=1)
        usable = np.isfinite(coupling) & (coupling > np.finfo(float).tiny)
        d[np.flatnonzero(~regular)[usable]] = coupling[usable]
    return d


def _scaled_solve(scaled, rhs, rtol, truncate, name, remedy):
    r""":math:`\hat A^{+} b` (or :math:`\hat A^{-1} b`) with the :class:`Truncation` record."""
    hint = f"; {remedy}" if remedy else ""
    u, s, vt = _svd(scaled, name)
    modes = s.size
    with np.errstate(over="ignore", divide="ignore"):
        condition = float("inf") if s[-1] == 0 else float(s[0] / s[-1])
    keep = s > rtol * s[0] if s[0] > 0 else np.zeros_like(s, dtype=bool)
    if not truncate:
        if scaled.shape[0] != scaled.shape[1]:
            raise SingularMatrixError(f"{name} is not square (shape {scaled.shape}) and has no inverse{hint}")
        if not keep.all():
            threshold = 1 / rtol if rtol > 0 else float("inf")
            raise SingularMatrixError(
                f"{name} is singular or nearly so (unit-free condition number {condition:.3g}, "
                f"threshold 1/rtol = {threshold:.3g}){hint}"
            )
    with np.errstate(over="ignore", invalid="ignore"):
        solution = vt[keep].T @ ((u[:, keep].T @ rhs) / s[keep])
    if not np.all(np.isfinite(solution)):
        raise SingularMatrixError(f"the solution of {name} z = rhs overflows (smallest kept singular value "
                                  f"{s[keep][-1]:.3g}){hint}")
    return solution, Truncation(int(modes - keep.sum()), int(modes), condition)


def unit_free_lstsq(matrix, rhs, *, rtol: float = DEFAULT_RTOL, truncate: bool = True,
                    name: str = "matrix", remedy: str = "") -> tuple[np.ndarray, Truncation]:
    r"""Least squares :math:`x = D^{-1} (A D^{-1})^{+} b` with unit columns before truncation.

    :math:`D` holds the column norms (:func:`column_scales`).  Singular values of
    :math:`\hat A = A D^{-1}` with :math:`s \le` ``rtol`` :math:`\cdot s_{\max}` are dropped;
    with ``truncate=False`` they raise :class:`~companion.errors.SingularMatrixError`
    instead (and so does a matrix that is not square).  For a matrix of full column
    rank nothing is dropped and :math:`x` is the least-squares solution; otherwise
    :math:`x` has the smallest :math:`|D x|`, a norm measured in units of the columns.

    Returns ``(x, Truncation(dropped, modes, condition))``.

    >>> x, info = unit_free_lstsq(np.diag([1.0, 1e-11]), [1.0, 1e-11])
    >>> x, info.dropped
    (array([1., 1.]), 0)
    >>> x, info = unit_free_lstsq(np.array([[1.0, 1.0], [1.0, 1.0]]), [2.0, 2.0])
    >>> x, info.dropped, info.modes
    (array([1., 1.]), 1, 2)
    """
    matrix = as_matrix(matrix, name)
    rhs = as_vector(rhs, "rhs", size=matrix.shape[0])
    rtol = check_fraction(rtol, "rtol")
    d = column_scales(matrix)
    z, info = _scaled_solve(matrix / d, rhs, rtol, truncate, name, remedy)
    return z / d, info


def unit_free_symmetric_solve(matrix, rhs, *, rtol: float = DEFAULT_RTOL, truncate: bool = True,
                              name: str = "matrix", remedy: str = "") -> tuple[np.ndarray, Truncation]:
    r"""Solve :math:`H x = b` through :math:`\hat H = D^{-1} H D^{-1}` (:func:`symmetric_scales`).

    :math:`x = D^{-1} \hat H^{+} D^{-1} b`, with the eigenvalues of :math:`\hat H`
    (its singular values) truncated at ``rtol`` relative to the largest, or refused
    with ``truncate=False``.  Returns ``(x, Truncation(dropped, modes, condition))``.

    >>> x, info = unit_free_symmetric_solve(np.diag([1.0, 1e-20]), [1.0, 1e-20])
    >>> x, info.condition
    (array([1., 1.]), 1.0)
    """
    matrix = as_matrix(matrix, name)
    rhs = as_vector(rhs, "rhs", size=matrix.shape[0])
    rtol = check_fraction(rtol, "rtol")
    if matrix.shape[0] != matrix.shape[1]:
        raise SingularMatrixError(f"{name} must be square for a symmetric solve, got shape {matrix.shape}")
    d = symmetric_scales(matrix)
    z, info = _scaled_solve(matrix / np.outer(d, d), rhs / d, rtol, truncate, name, remedy)
    return z / d, info
