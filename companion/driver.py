r"""The driver: run any rule from a start point and record what happens.

:func:`minimize` iterates :math:`x_{k+1} = x_k + \Delta x_k` with the step
of a :class:`~companion.rules.Rule`, records the path in :math:`x` and in
:math:`y` and the losses, and stops with a *status* (never with NaNs) when

====  ===============  ======================================================
code  name             meaning
====  ===============  ======================================================
0     converged        the loss fell to ``tol`` or to ``rtol`` times its start, or below
1     max_steps        ``steps`` iterations done
2     non_finite       the step, the new point, its output, its loss or a derivative was NaN/inf
3     diverged         the loss grew by more than ``blowup`` times its start
4     rule_failed      the rule raised (singular matrix, no inverse, ...)
5     callback         the callback returned ``True``
6     time_budget      ``max_time`` seconds of wall-clock were used up
7     stalled          the step would not move x (or fell below ``xtol``), or the
                       loss did not decrease for ``patience`` steps
8     callback_failed  the callback raised an exception (the history is kept)
====  ===============  ======================================================
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from ._checks import as_vector, check_int, check_positive
from .errors import NonFiniteError, ShapeError
from .problems import Problem
from .rules import Rule

__all__ = ["minimize", "MinimizeResult", "STATUS", "is_stalled_step"]

#: The status codes of :func:`minimize` and their names (the table above).
STATUS = {
    0: "converged",
    1: "max_steps",
    2: "non_finite",
    3: "diverged",
    4: "rule_failed",
    5: "callback",
    6: "time_budget",
    7: "stalled",
    8: "callback_failed",
}

@dataclass(frozen=True)
class MinimizeResult:
    """What :func:`minimize` returns, in the spirit of ``scipy.optimize.OptimizeResult``.

    ``xs[k]`` and ``ys[k]`` are the iterates in :math:`x` and :math:`y`
    (``xs[0]`` is ``x0``), ``losses[k]`` the loss there and ``times[k]`` the
    wall-clock seconds since the start; ``nit`` is the number of steps taken.
    ``state`` is the rule's state after the last step.  ``calls`` counts the
    calls of the problem's user functions during the run (a dict with the keys
    of ``problem.calls``: ``"simulator"``, ``"jacobian"``, ``"vjp"``,
    ``"hessian"``, ``"inverse"``), or is ``None`` when the problem does not
    count them.
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
    state: Any = None
    calls: Optional[dict] = None

    @property
    def success(self) -> bool:
        """True when the loss reached the tolerance."""
        return self.status == 0

    @property
    def fun(self) -> float:
        """The final loss."""
        return float(self.losses[-1])

    @property
    def nfev(self) -> Optional[int]:
        """Calls of the simulator during the run (``None`` when the problem does not count them)."""
        return None if self.calls is None else self.calls.get("simulator")

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


def _check_tolerance(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _calls(problem) -> Optional[dict]:
    """A snapshot of ``problem.calls`` (``None`` for a problem that does not count its calls)."""
    calls = getattr(problem, "calls", None)
    return None if calls is None else dict(calls)


def _calls_since(before: Optional[dict], problem) -> Optional[dict]:
    after = _calls(problem)
    if before is None or after is None:
        return None
    return {key: int(after[key]) - int(before.get(key, 0)) for key in after}


def is_stalled_step(dx: np.ndarray, x: np.ndarray, xtol: float = 0.0) -> bool:
    r"""True when no component of the step moves :math:`x`: for every :math:`i`, either
    :math:`x_i + \Delta x_i = x_i` in floating point or :math:`|\Delta x_i| \le x_{\rm tol}\,|x_i|`.

    The first condition is exact: such a step changes nothing, and every rule
    of :mod:`companion.rules` then computes the same step again from the same
    :math:`x`, so the run is stuck for good (a zero step of Newton where
    :math:`J = 0`, a step size below rounding).  It never stops a run that
    still moves :math:`x`, however slowly.  The relative threshold
    ``xtol`` (default 0, off) is per component and has no absolute floor, so
    it does not depend on the units of :math:`x`: a badly scaled :math:`x`
    (components :math:`10^{10}` and :math:`10^{-3}`) is not declared stalled
    while its small component moves, and a run converging geometrically to
    :math:`x_i = 0` is never stopped by it.

    >>> is_stalled_step(np.array([0.0, 1e-20]), np.array([1.0, 1e-3]))
    True
    >>> is_stalled_step(np.array([0.0, 1e-7]), np.array([1e10, 1e-3]), 1e-6)
    False
    >>> is_stalled_step(np.array([1e-7, 1e-10]), np.array([1e10, 1e-3]), 1e-6)
    True
    """
    with np.errstate(all="ignore"):
        unchanged = x + dx == x
    return bool(np.all(unchanged | (np.abs(dx) <= xtol * np.abs(x))))


def _describe(state) -> str:
    """The rule's own account of its last step (``state.describe()``), or ``""``."""
    describe = getattr(state, "describe", None)
    if not callable(describe):
        return ""
    text = describe()
    return text if isinstance(text, str) else ""


def _stalled_message(k: int, loss: float, dx: np.ndarray, xtol: float, rule: str) -> str:
    why = "does not change x" if xtol == 0 else f"does not change x or is below xtol {xtol:.3g} relative to it"
    return (f"stalled at step {k} at loss {loss:.3g}: the step (largest component {np.max(np.abs(dx)):.3g}) {why} "
            f"(a fixed point of {rule}, a zero derivative, or a step size below rounding)")


def _evaluate(problem: Problem, x: np.ndarray, dx: np.ndarray, k: int):
    """``(x + dx, P(x + dx), L, "")``, or a message naming what became non-finite at step ``k`` last.

    The message tells an overflowing step (reduce eta) from a simulator that
    returns NaN/inf at a finite point and from a loss that does so at a finite
    output (a defect of the loss, not of the step size).
    """
    with np.errstate(all="ignore"):
        x_new = x + dx
        if not np.all(np.isfinite(x_new)):
            return x_new, None, None, f"x became non-finite at step {k} (the step overflowed); reduce eta"
        y_new = problem._simulate(x_new)
        if not np.all(np.isfinite(y_new)):
            return x_new, y_new, None, (
                f"the simulator of {problem.name!r} returned a non-finite output at a finite x at step {k}; "
                f"the step may have left the simulator's domain (reduce eta), or the simulator overflows there"
            )
        loss_new = problem._loss_value(y_new)
    if np.isnan(loss_new):
        return x_new, y_new, loss_new, (
            f"the loss {problem.loss.name!r} returned nan (non-finite) at a finite output at step {k}; "
            f"check the loss function"
        )
    if not np.isfinite(loss_new):
        return x_new, y_new, loss_new, f"the loss became non-finite (overflow) at step {k}; reduce eta"
    return x_new, y_new, loss_new, ""


def minimize(
    problem: Problem,
    x0,
    rule: Rule,
    *,
    steps: int = 100,
    tol: float = 0.0,
    rtol: float = 0.0,
    xtol: float = 0.0,
    patience: Optional[int] = None,
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
        Stop (status 0) once the loss is ``<= tol`` (an absolute value, in the
        units of the loss).
    rtol
        Stop (status 0) once the loss is ``<= rtol * L(x0)``: a tolerance that
        does not change with the units of :math:`y`.  With both, the larger
        threshold applies.  ``0`` (the default) turns it off.
    xtol
        Stop (status 7, ``stalled``) before taking a step that does not move
        :math:`x`: in every component either :math:`x_i + \Delta x_i = x_i`
        in floating point or :math:`|\Delta x_i| \le x_{\rm tol}\,|x_i|`
        (see :func:`is_stalled_step`).  The default ``xtol = 0`` stops only
        steps that change nothing (a zero step of Newton where :math:`J = 0`,
        a step size below rounding), so it never stops a run that is still
        moving; a positive ``xtol`` (say ``1e-12``) also stops steps that are
        small relative to :math:`x`.
    patience
        Stop (status 7) when the lowest loss so far was not lowered during the
        last ``patience`` steps.  ``None`` (the default) turns the check off,
        because a loss may rise for many steps and then fall (Adam, GD near
        its stability limit), and no fixed number of steps tells such a
        plateau from a stall in general.
    blowup
        Stop (status 3) once the loss exceeds ``blowup * max(L(x0), tiny)``.
    max_time
        Optional wall-clock budget in seconds (status 6).
    callback
        Called with an :class:`Iterate` after each step; returning ``True``
        stops the run (status 5).  If it raises an ``Exception``, the run
        stops with status 8 and a message naming the exception; the history up
        to that step is kept.  ``KeyboardInterrupt`` is not caught.

    Returns
    -------
    MinimizeResult
        The path, the status and its message.  When the rule's final state has
        a ``describe()`` method returning a non-empty string (for instance the
        singular values a rule truncated), that text is appended to the
        message after ``"; "``.  ``result.calls`` is the difference of
        ``problem.calls`` between the start and the end of the run, and
        ``None`` when the problem does not count its calls.

    Examples
    --------
    >>> from companion import problems, rules
    >>> result = minimize(problems.alpha_scaled(100.0), [1.0, 1.0], rules.newton(), tol=1e-12)
    >>> result.status, result.nit, result.x
    (0, 1, array([0., 0.]))
    >>> minimize(problems.alpha_scaled(100.0), [1.0, 1.0], rules.gd(0.1), steps=50).message
    'loss grew from 5000.5 to 4.98e+15 (more than 1e+08 times) at step 2; reduce eta'

    A relative tolerance stops at the same step whatever the units of :math:`y`:

    >>> for scale in (1.0, 1e6):
    ...     problem = problems.alpha_scaled(10.0, loss=problems.squared_error(scale))
    ...     run = minimize(problem, [1.0, 1.0], rules.gauss_newton(0.5), rtol=1e-6, steps=50)
    ...     print(run.status_name, run.nit, f"{run.fun / run.losses[0]:.3g}")
    converged 10 9.54e-07
    converged 10 9.54e-07
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a companion.Problem, got {type(problem).__name__}")
    if not isinstance(rule, Rule):
        raise TypeError(f"rule must be a companion.rules.Rule such as rules.gd(0.1), got {type(rule).__name__}")
    x = as_vector(x0, "x0")
    steps = check_int(steps, "steps")
    tol = _check_tolerance(tol, "tol")
    rtol = _check_tolerance(rtol, "rtol")
    xtol = _check_tolerance(xtol, "xtol")
    if patience is not None:
        patience = check_int(patience, "patience", minimum=1)
    blowup = check_positive(blowup, "blowup")
    if max_time is not None:
        max_time = check_positive(max_time, "max_time")
    if callback is not None and not callable(callback):
        raise TypeError("callback must be callable or None")

    calls_before = _calls(problem)
    start = time.perf_counter()
    y = problem.output(x)
    loss = problem._loss_value(y)
    if not np.isfinite(loss):
        raise ValueError(f"the loss of {problem.name!r} at x0 is {loss} (overflow?); start closer to the target")
    limit = blowup * max(loss, np.finfo(float).tiny)
    threshold = max(tol, rtol * loss)
    reached = f"tol {tol:.3g}" if tol >= rtol * loss else f"rtol {rtol:.3g} x L(x0) = {threshold:.3g}"
    xs, ys, losses, times = [x.copy()], [y.copy()], [loss], [0.0]
    best, since_best = loss, 0
    state = rule.init(problem, x)
    status, message = 1, f"reached the maximum of {steps} steps"
    if loss <= threshold:
        status, message = 0, f"loss {loss:.3g} <= {reached} at the start"
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
            if is_stalled_step(dx, x, xtol):
                status, message = 7, _stalled_message(k, loss, dx, xtol, rule.name)
                break
            x_new, y_new, loss_new, failure = _evaluate(problem, x, dx, k)
            if failure:
                status, message = 2, failure
                break
        except NonFiniteError as exc:  # a derivative, inverse or loss gradient came back NaN/inf
            status, message = 2, f"{rule.name} met a non-finite value at step {k}: {exc}"
            break
        except ShapeError:  # a programming error in a user function: raise, as at x0
            raise
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
        if loss <= threshold:
            status, message = 0, f"loss {loss:.3g} <= {reached} after {k} steps"
            break
        if loss < best:
            best, since_best = loss, 0
        else:
            since_best += 1
        if callback is not None:
            try:
                stop = callback(Iterate(k, x.copy(), y.copy(), loss))
            except Exception as exc:  # not BaseException: KeyboardInterrupt and SystemExit pass
                status, message = 8, f"the callback raised {type(exc).__name__} at step {k}: {exc}"
                break
            if stop:
                status, message = 5, f"stopped by the callback at step {k}"
                break
        if patience is not None and since_best >= patience:
            status, message = 7, (
                f"stalled at step {k}: the loss has not gone below {best:.6g} for {patience} steps (patience)"
            )
            break
        if max_time is not None and times[-1] > max_time:
            status, message = 6, f"used the time budget of {max_time:.3g} s at step {k}"
            break

    description = _describe(state)
    if description:
        message = f"{message}; {description}"
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
        state=state,
        calls=_calls_since(calls_before, problem),
    )
