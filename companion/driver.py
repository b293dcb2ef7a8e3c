r"""The driver: run any rule from a start point and record what happens.

:func:`minimize` iterates :math:`x_{k+1} = x_k + \Delta x_k` with the step
of a :class:`~companion.rules.Rule`, records the path in :math:`x` and in
:math:`y` and the losses, and stops with a *status* (never with NaNs) when

====  ===========  ======================================================
code  name         meaning
====  ===========  ======================================================
0     converged    the loss fell to ``tol`` or below
1     max_steps    ``steps`` iterations done
2     non_finite   the step, the new point, its loss or a derivative was NaN/inf
3     diverged     the loss grew by more than ``blowup`` times its start
4     rule_failed  the rule raised (singular matrix, no inverse, ...)
5     callback     the callback returned ``True``
6     time_budget  ``max_time`` seconds of wall-clock were used up
====  ===========  ======================================================
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ._checks import as_vector, check_int, check_positive
from .errors import NonFiniteError
from .problems import Problem
from .rules import Rule

__all__ = ["minimize", "MinimizeResult", "STATUS"]

STATUS = {
    0: "converged",
    1: "max_steps",
    2: "non_finite",
    3: "diverged",
    4: "rule_failed",
    5: "callback",
    6: "time_budget",
}


@dataclass(frozen=True)
class MinimizeResult:
    """What :func:`minimize` returns, in the spirit of ``scipy.optimize.OptimizeResult``.

    ``xs[k]`` and ``ys[k]`` are the iterates in :math:`x` and :math:`y`
    (``xs[0]`` is ``x0``), ``losses[k]`` the loss there and ``times[k]`` the
    wall-clock seconds since the start; ``nit`` is the number of steps taken.
    """

    x: np.ndarray
    xs: np.ndarray
    ys: np.ndarray
    losses: np.ndarray
    times: np.ndarray
    nit: int
    status: int
    message: str
    rule: str

    @property
    def success(self) -> bool:
        """True when the loss reached the tolerance."""
        return self.status == 0

    @property
    def fun(self) -> float:
        """The final loss."""
        return float(self.losses[-1])

    @property
    def status_name(self) -> str:
        return STATUS[self.status]

    def steps(self) -> np.ndarray:
        r"""The steps :math:`\Delta x_k = x_{k+1} - x_k`, shape ``(nit, n)``."""
        return np.diff(self.xs, axis=0)

    def __repr__(self) -> str:
        return (f"MinimizeResult(rule={self.rule!r}, status={self.status} ({self.status_name}), "
                f"nit={self.nit}, fun={self.fun:.6g}, message={self.message!r})")


@dataclass(frozen=True)
class Iterate:
    """What the callback sees after each step."""

    nit: int
    x: np.ndarray
    y: np.ndarray
    loss: float


def minimize(
    problem: Problem,
    x0,
    rule: Rule,
    *,
    steps: int = 100,
    tol: float = 0.0,
    blowup: float = 1e8,
    max_time: Optional[float] = None,
    callback: Optional[Callable[[Iterate], Optional[bool]]] = None,
) -> MinimizeResult:
    r"""Minimise ``problem`` from ``x0`` with ``rule``.

    Parameters
    ----------
    problem, x0, rule
        What to minimise, where to start, how to step.
    steps
        Maximum number of steps.
    tol
        Stop (status 0) once the loss is ``<= tol``.
    blowup
        Stop (status 3) once the loss exceeds ``blowup * max(L(x0), tiny)``.
    max_time
        Optional wall-clock budget in seconds (status 6).
    callback
        Called with an :class:`Iterate` after each step; returning ``True``
        stops the run (status 5).

    Examples
    --------
    >>> from companion import problems, rules
    >>> result = minimize(problems.alpha_scaled(100.0), [1.0, 1.0], rules.newton(), tol=1e-12)
    >>> result.status, result.nit, result.x
    (0, 1, array([0., 0.]))
    >>> minimize(problems.alpha_scaled(100.0), [1.0, 1.0], rules.gd(0.1), steps=50).message
    'loss grew from 5000.5 to 4.98e+15 (more than 1e+08 times) at step 2; reduce eta'
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a companion.Problem, got {type(problem).__name__}")
    if not isinstance(rule, Rule):
        raise TypeError(f"rule must be a companion.rules.Rule such as rules.gd(0.1), got {type(rule).__name__}")
    x = as_vector(x0, "x0")
    steps = check_int(steps, "steps")
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not np.isfinite(tol) or tol < 0:
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    blowup = check_positive(blowup, "blowup")
    if max_time is not None:
        max_time = check_positive(max_time, "max_time")
    if callback is not None and not callable(callback):
        raise TypeError("callback must be callable or None")

    start = time.perf_counter()
    y = problem.output(x)
    loss = problem._loss_value(y)
    if not np.isfinite(loss):
        raise ValueError(f"the loss of {problem.name!r} at x0 is {loss} (overflow?); start closer to the target")
    limit = blowup * max(loss, np.finfo(float).tiny)
    xs, ys, losses, times = [x.copy()], [y.copy()], [loss], [0.0]
    state = rule.init(problem, x)
    status, message = 1, f"reached the maximum of {steps} steps"
    if loss <= tol:
        status, message = 0, f"loss {loss:.3g} <= tol {tol:.3g} at the start"
        steps = 0

    for k in range(1, steps + 1):
        try:
            with np.errstate(all="ignore"):
                returned = rule.step(problem, x, state)
            if not (isinstance(returned, tuple) and len(returned) == 2):
                raise ValueError(f"{rule.name}.step must return a pair (dx, state), got {type(returned).__name__}")
            dx, state = returned
            dx = np.asarray(dx, dtype=float)
            if dx.shape != x.shape:
                raise ValueError(f"{rule.name} returned a step of shape {dx.shape}, expected {x.shape}")
            if not np.all(np.isfinite(dx)):
                status, message = 2, f"the step of {rule.name} became non-finite at step {k}; reduce eta"
                break
            with np.errstate(all="ignore"):
                x_new = x + dx
                y_new = problem._simulate(x_new) if np.all(np.isfinite(x_new)) else None
            if y_new is None or not np.all(np.isfinite(y_new)):
                status, message = 2, f"x or P(x) became non-finite at step {k}; reduce eta"
                break
            with np.errstate(all="ignore"):
                loss_new = problem._loss_value(y_new)
            if not np.isfinite(loss_new):
                status, message = 2, f"the loss became non-finite at step {k}; reduce eta"
                break
        except NonFiniteError as exc:  # a derivative, inverse or loss gradient came back NaN/inf
            status, message = 2, f"{rule.name} met a non-finite value at step {k}: {exc}"
            break
        except ValueError as exc:  # includes SingularMatrixError, InverseError, MissingCapabilityError
            status, message = 4, f"{rule.name} failed at step {k}: {exc}"
            break
        x, y, loss = x_new, y_new, loss_new
        xs.append(x.copy())  # copies: a rule mutating x in place must not rewrite history
        ys.append(y.copy())
        losses.append(loss)
        times.append(time.perf_counter() - start)
        if loss > limit:
            status, message = 3, (
                f"loss grew from {losses[0]:.5g} to {loss:.3g} (more than {blowup:.3g} times) "
                f"at step {k}; reduce eta"
            )
            break
        if loss <= tol:
            status, message = 0, f"loss {loss:.3g} <= tol {tol:.3g} after {k} steps"
            break
        if callback is not None and callback(Iterate(k, x.copy(), y.copy(), loss)):
            status, message = 5, f"stopped by the callback at step {k}"
            break
        if max_time is not None and times[-1] > max_time:
            status, message = 6, f"used the time budget of {max_time:.3g} s at step {k}"
            break

    return MinimizeResult(
        x=x.copy(),
        xs=np.array(xs),
        ys=np.array(ys),
        losses=np.array(losses),
        times=np.array(times),
        nit=len(xs) - 1,
        status=status,
        message=message,
        rule=rule.name,
    )
