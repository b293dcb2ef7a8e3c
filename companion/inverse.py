r"""A local inverse :math:`P^{-1}(y; x_0)` by numerical least squares, for a simulator that has none.

:func:`numerical_inverse` returns a function ``inverse(y, x0)`` that a
:class:`~companion.problems.Problem` takes as ``inverse=``, so that the inverse
simulator (:func:`companion.rules.pg`) and SIP training run on any simulator;
:func:`with_numerical_inverse` builds that problem in one call.

The inverse returns the preimage of :math:`y` *closest to* :math:`x_0`,

.. math::
    P^{-1}(y; x_0) = \arg\min_x\; |D (x - x_0)| \quad \text{subject to}\quad P(x) = y,

with :math:`D` a diagonal scaling that makes the distance unit-free.  It gets there
by continuation on the damped problem

.. math::
    x_\mu = \arg\min_x\; |P(x) - y|^2 + \mu\, |D (x - x_0)|^2,
    \qquad \mu = \mu_0,\ \mu_0 \rho,\ \mu_0 \rho^2, \dots \to 0,

each solve (``scipy.optimize.least_squares``) started from the previous
:math:`x_\mu`, until the misfit :math:`|P(x_\mu) - y|` is within the tolerance.  For a linear :math:`P` the damped solution is
:math:`x_0 + (J^\top J + \mu D^2)^{-1} J^\top (y - P(x_0))`, which tends to the
preimage closest to :math:`x_0` as :math:`\mu \to 0`; a large :math:`\mu` first keeps the
iterates near :math:`x_0`, so a nonlinear :math:`P` is followed to the nearby branch of
preimages rather than a far one.  A few undamped Gauss-Newton steps then remove the
bias of the last :math:`\mu`; if the misfit :math:`|P(x) - y|` is still above the tolerance, :math:`y` is taken to have no preimage near :math:`x_0` and
:class:`~companion.errors.InverseError` is raised (which :func:`~companion.rules.pg`'s
``fallback`` catches).

>>> import numpy as np
>>> from companion.problems import Problem
>>> inverse = numerical_inverse(lambda x: np.array([x[0] + x[2], x[1] + x[2]]))
>>> inverse(np.array([1.0, 2.0]), np.zeros(3)).round(8)
array([0., 1., 1.])
"""

from __future__ import annotations

from typing import Callable, Optional, Union

import numpy as np

from ._checks import as_vector, check_positive
from .errors import InverseError, ShapeError
from .problems import Problem

__all__ = ["numerical_inverse", "with_numerical_inverse"]

#: the smallest damping of the continuation, relative to the first one
_FINAL_DAMPING = 1e-12


def numerical_inverse(simulator: Union[Problem, Callable[[np.ndarray], np.ndarray]], *, damping: float = 1.0,
                      reduction: float = 1e-3, scale=None, bounds=None, tol: float = 1e-8,
                      max_nfev: Optional[int] = None) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    r"""The local inverse ``inverse(y, x0)`` of a simulator, by damped least squares with continuation.

    Parameters
    ----------
    simulator
        A :class:`~companion.problems.Problem` (its Jacobian is used, analytic or by
        differences, and its :attr:`~companion.problems.Problem.calls` count the cost), or a
        plain function :math:`x \mapsto P(x)` (differentiated by finite differences).
    damping
        :math:`\mu_0`, the first damping, relative to :math:`|D|^2`; larger keeps the first
        solves closer to :math:`x_0`.
    reduction
        :math:`\rho \in (0, 1)`: each solve of the continuation multiplies :math:`\mu` by it,
        until the misfit is within ``tol`` (at most down to :math:`10^{-12} \mu_0`).
    scale
        The diagonal of :math:`D` (one positive number per component of :math:`x`, in units of
        :math:`y` per unit of :math:`x`).  Default: the column norms of :math:`J(x_0)`, which
        makes the distance to :math:`x_0`, hence the preimage chosen, independent of the units
        of :math:`x` (zero columns get the mean of the others).
    bounds
        Optional ``(lower, upper)`` bounds on :math:`x`, as for
        ``scipy.optimize.least_squares``.
    tol
        The largest misfit :math:`|P(x) - y|` accepted, relative to
        :math:`\max(|y|, |P(x_0)|)` (absolute when both are 0).
    max_nfev
        The budget of simulator evaluations of each solve (SciPy's default if ``None``).

    Returns
    -------
    callable
        ``inverse(y, x0) -> x``, an ``(n,)`` array with :math:`P(x) \approx y`; raises
        :class:`~companion.errors.InverseError` when it cannot reach :math:`y`.

    Examples
    --------
    >>> p = Problem.from_simulator(lambda x: x ** 2, [4.0])
    >>> inverse = numerical_inverse(p)
    >>> inverse(np.array([4.0]), np.array([-0.5])).round(10)  # the root on the side of x0
    array([-2.])
    >>> inverse(np.array([-1.0]), np.array([1.0]))
    Traceback (most recent call last):
    ...
    companion.errors.InverseError: the numerical inverse of 'problem' reached |P(x) - y| = 1 (1 of |y|) > tol = 1e-08 from x0: y has no preimage near x0 (or P is too nonlinear between them); use pg(fallback=...) or a smaller eta
    """
    damping = check_positive(damping, "damping")
    reduction = check_positive(reduction, "reduction")
    if reduction >= 1:
        raise ValueError(f"reduction must lie in (0, 1), got {reduction}")
    tol = check_positive(tol, "tol")
    if max_nfev is not None and (isinstance(max_nfev, bool) or not isinstance(max_nfev, int) or max_nfev < 1):
        raise ValueError(f"max_nfev must be a positive integer or None, got {max_nfev!r}")
    fixed_scale = None if scale is None else as_vector(scale, "scale")
    if fixed_scale is not None and np.any(fixed_scale <= 0):
        raise ValueError("scale must be positive in every component (the diagonal of D)")
    if isinstance(simulator, Problem):
        problem_for = _fixed(simulator)
    elif callable(simulator):
        problem_for = _lazy(simulator)
    else:
        raise TypeError(f"simulator must be a companion Problem or a function x -> P(x), got {type(simulator).__name__}")

    def inverse(y, x0) -> np.ndarray:
        y = as_vector(y, "y")
        x0 = as_vector(x0, "x0")
        problem = problem_for(y.size)
        if fixed_scale is not None and fixed_scale.size != x0.size:
            raise ShapeError(f"scale has {fixed_scale.size} components but x0 has {x0.size}")
        d = fixed_scale if fixed_scale is not None else _column_norms(problem.jacobian_at(x0))
        lower, upper = _bounds(bounds, x0.size)
        start = np.clip(x0, lower, upper)
        size = max(float(np.linalg.norm(y)), float(np.linalg.norm(problem.output(x0))))
        allowed = tol * size if size > 0 else tol
        x = start
        mu = damping
        misfit = np.inf
        while mu >= damping * _FINAL_DAMPING and misfit > allowed:
            x = _damped_solve(problem, y, x0, x, d, mu, (lower, upper), max_nfev)
            misfit = float(np.linalg.norm(problem.output(x) - y))
            mu *= reduction
        x, misfit = _polish(problem, y, x, misfit, d, (lower, upper))
        if misfit > allowed:
            relative = misfit / size if size > 0 else misfit
            raise InverseError(
                f"the numerical inverse of {problem.name!r} reached |P(x) - y| = {misfit:.3g} "
                f"({relative:.3g} of |y|) > tol = {tol:.3g} from x0: y has no preimage near x0 "
                f"(or P is too nonlinear between them); use pg(fallback=...) or a smaller eta"
            )
        return x

    return inverse


def with_numerical_inverse(problem: Problem, **options) -> Problem:
    """``problem`` with ``inverse=numerical_inverse(...)``: one call, the problem built once.

    The inverse evaluates the *returned* problem, so its
    :attr:`~companion.problems.Problem.calls` include what the inverse costs in
    simulator and Jacobian calls.  ``options`` go to :func:`numerical_inverse`.

    >>> from companion import minimize, problems, rules
    >>> p = with_numerical_inverse(problems.rosenbrock())
    >>> result = minimize(p, [-1.2, 1.0], rules.pg(), tol=1e-20)
    >>> result.status_name, result.x.round(8)
    ('converged', array([1., 1.]))
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a companion Problem, got {type(problem).__name__}")
    from dataclasses import replace

    placeholder = lambda y, x0: x0  # noqa: E731 - replaced below, once the problem exists
    result = replace(problem, inverse=placeholder, name=f"{problem.name} (numerical inverse)")
    # the inverse needs the problem it belongs to (to count its calls there): set it after construction
    object.__setattr__(result, "inverse", numerical_inverse(result, **options))
    return result


def _damped_solve(problem: Problem, y, x0, start, d, mu, bounds, max_nfev) -> np.ndarray:
    r"""One solve of :math:`\min_x |P(x) - y|^2 + \mu |D(x - x_0)|^2` from ``start``."""
    from scipy.optimize import least_squares

    root = np.sqrt(mu)

    def residual(x):
        return np.concatenate([problem.output(x) - y, root * d * (x - x0)])

    def jacobian(x):
        return np.vstack([problem.jacobian_at(x), np.diag(root * d)])

    unbounded = np.all(np.isinf(bounds[0])) and np.all(np.isinf(bounds[1]))
    method = "lm" if unbounded and mu > 0 else "trf"
    try:
        result = least_squares(residual, start, jac=jacobian, bounds=bounds, method=method,
                               x_scale=1.0 / d, xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=max_nfev)
    except ValueError as exc:  # e.g. a non-finite residual at the start
        raise InverseError(f"the numerical inverse of {problem.name!r} failed: {exc}") from exc
    return np.asarray(result.x, dtype=float)


def _polish(problem: Problem, y, x, misfit: float, d, bounds, steps: int = 8) -> tuple[np.ndarray, float]:
    r"""Undamped Gauss-Newton steps :math:`x \leftarrow x + D^{-1} (J D^{-1})^{+} (y - P(x))` while the misfit falls.

    They remove the bias of the last :math:`\mu` (quadratic convergence from this close) and, being
    minimum-norm in :math:`|D \Delta x|`, do not drift along the preimages away from the closest one.
    """
    for _ in range(steps):
        if misfit == 0:
            break
        residual = y - problem.output(x)
        step = np.linalg.lstsq(problem.jacobian_at(x) / d, residual, rcond=None)[0] / d
        trial = np.clip(x + step, *bounds)
        trial_misfit = float(np.linalg.norm(problem.output(trial) - y))
        if not trial_misfit < misfit:
            break
        x, misfit = trial, trial_misfit
    return x, misfit


def _column_norms(jacobian: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(jacobian, axis=0)
    positive = norms > 0
    if not positive.any():
        raise InverseError("the Jacobian at x0 is zero: P does not depend on x there, so no step reaches y; "
                           "pass scale= and start elsewhere")
    return np.where(positive, norms, norms[positive].mean())


def _bounds(bounds, n: int) -> tuple[np.ndarray, np.ndarray]:
    if bounds is None:
        return np.full(n, -np.inf), np.full(n, np.inf)
    try:
        lower, upper = bounds
    except (TypeError, ValueError):
        raise ValueError("bounds must be a pair (lower, upper) of numbers or arrays") from None
    lower = np.broadcast_to(np.asarray(lower, dtype=float), (n,)).copy()
    upper = np.broadcast_to(np.asarray(upper, dtype=float), (n,)).copy()
    if np.any(lower >= upper):
        raise ValueError("bounds: every lower bound must be below its upper bound")
    return lower, upper


def _fixed(problem: Problem):
    def problem_for(m: int) -> Problem:
        if m != problem.output_size:
            raise ShapeError(f"y has {m} components but {problem.name!r} has {problem.output_size} outputs")
        return problem
    return problem_for


def _lazy(simulator):
    """A :class:`Problem` around a plain simulator, made on the first call when the size of y is known."""
    made: dict[int, Problem] = {}

    def problem_for(m: int) -> Problem:
        if m not in made:
            made[m] = Problem.from_simulator(simulator, np.zeros(m), name="simulator")
        return made[m]
    return problem_for
