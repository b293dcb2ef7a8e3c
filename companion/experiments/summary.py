r"""The computed summary table of the Foundations part.

Each function measures one property of every rule on the same problem, start
and budget, so the summary chapter shows numbers rather than adjectives:

* :func:`rescaling_deviation` - scale-invariance: the largest distance between
  the path on a problem and the mapped-back path on the problem with one
  coordinate rescaled;
* :func:`sensitivity_exponent` - how the first step scales with the
  sensitivity :math:`\alpha` of the toy :math:`P(x) = (x_1, \alpha x_2)` when
  started at the same output; the correctly scaled answer is :math:`-1`;
* :func:`iterations_to_tolerance` - steps to a tolerance with the best
  step size from a sweep;
* :func:`requirements` - what the rule needs from the problem;
* :func:`calls_per_step` - evaluations of :math:`P`, :math:`J`, second
  derivatives and :math:`P^{-1}` per step (a cost measure that does not depend
  on the machine).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Dict

import numpy as np

from .. import problems, rules
from ..driver import minimize
from ..errors import MissingCapabilityError
from ..problems import Problem
from ..tuning import log_grid, sweep_step_size

__all__ = [
    "RULES",
    "FIXED_ETA",
    "make_rule",
    "rescaling_deviation",
    "sensitivity_exponent",
    "iterations_to_tolerance",
    "requirements",
    "calls_per_step",
    "summary_problem",
    "SUMMARY_START",
]

#: The rules compared, in the order of the chapters.
RULES = ("GD", "Adam", "Newton", "Gauss-Newton", "BFGS", "IG", "PG")

#: Step sizes used where a property is measured at one fixed step size.
FIXED_ETA = {"GD": 0.02, "Adam": 0.1, "Newton": 0.5, "Gauss-Newton": 0.5, "BFGS": 1.0, "IG": 0.5, "PG": 0.5}

_FACTORIES: Dict[str, Callable[[float], rules.Rule]] = {
    "GD": rules.gd,
    "Adam": rules.adam,
    "Newton": rules.newton,
    "Gauss-Newton": rules.gauss_newton,
    "BFGS": lambda eta: rules.bfgs() if eta == 1.0 else rules.bfgs(eta, line_search=False),
    "IG": rules.ig,
    "PG": rules.pg,
}

#: Start of the summary runs: away from x_2 = 0, where the Jacobian of (x_1, x_2^2) is singular.
SUMMARY_START = np.array([3.0, 3.0])


def make_rule(name: str, eta: float | None = None) -> rules.Rule:
    """The rule called ``name`` (one of :data:`RULES`) with step size ``eta`` (default :data:`FIXED_ETA`).

    >>> make_rule("IG").name
    'IG'
    """
    if name not in _FACTORIES:
        raise ValueError(f"unknown rule {name!r}; choose one of {', '.join(RULES)}")
    return _FACTORIES[name](FIXED_ETA[name] if eta is None else eta)


def summary_problem() -> Problem:
    r"""The nonlinear toy :math:`y = (x_1, x_2^2)` with the reachable target :math:`y^* = (1, 4)`."""
    return problems.square_second(target=(1.0, 4.0))


def rescaling_deviation(name: str, alpha: float, *, steps: int = 20) -> float:
    r"""Largest :math:`|x_k - D z_k|` over ``steps`` steps, :math:`D = \mathrm{diag}(1, \alpha)`.

    :math:`x_k` are the iterates on :func:`summary_problem`, :math:`z_k` those on
    the same problem written in :math:`z = D^{-1} x`, started at
    :math:`z_0 = D^{-1} x_0`.  Zero (to rounding) for a scale-invariant rule.

    >>> rescaling_deviation("Newton", 100.0) < 1e-12
    True
    """
    if not np.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"alpha must be a positive number, got {alpha!r}")
    scale = np.array([1.0, alpha])
    problem = summary_problem()
    original = minimize(problem, SUMMARY_START, make_rule(name), steps=steps)
    rescaled = minimize(problems.reparametrize(problem, scale), SUMMARY_START / scale, make_rule(name), steps=steps)
    if {original.status_name, rescaled.status_name} & {"diverged", "non_finite", "rule_failed"}:
        return float("inf")  # one of the two runs broke down: the paths cannot be compared
    count = min(len(original.xs), len(rescaled.xs))
    return float(np.max(np.linalg.norm(original.xs[:count] - rescaled.xs[:count] * scale, axis=1)))


def sensitivity_exponent(name: str, alphas=(1e-2, 1e-1, 1.0, 1e1, 1e2)) -> float:
    r"""Fitted exponent :math:`p` in :math:`|\Delta x_2| \propto \alpha^p` for the first step.

    On :math:`P(x) = (x_1, \alpha x_2)`, :math:`y^* = 0`, from
    :math:`x_0 = (1, 1/\alpha)` (the same output :math:`y_0 = (1, 1)` for
    every :math:`\alpha`).  The correctly scaled step is
    :math:`\Delta x_2 = -\eta/\alpha`, exponent :math:`-1`; gradient descent
    gives :math:`-\eta\alpha`, exponent :math:`+1`.

    >>> round(sensitivity_exponent("GD"), 6), round(sensitivity_exponent("PG"), 6)
    (1.0, -1.0)
    """
    alphas = np.asarray(alphas, dtype=float)
    if alphas.size < 2 or np.any(alphas <= 0):
        raise ValueError("alphas must hold at least two positive values")
    steps = [abs(make_rule(name).first_step(problems.alpha_scaled(a), [1.0, 1.0 / a])[1]) for a in alphas]
    slope = np.polyfit(np.log(alphas), np.log(steps), 1)[0]
    return float(slope)


def iterations_to_tolerance(name: str, *, tol: float = 1e-10, steps: int = 1000, etas=None):
    r"""Steps to :math:`L \le` ``tol`` on :func:`summary_problem` with the best step size of a sweep.

    Returns the :class:`~companion.tuning.SweepResult` so the sweep can be shown.
    BFGS is run with its Wolfe line search (``eta = 1``) instead of a sweep.
    """
    problem = summary_problem()
    if name == "BFGS":
        result = minimize(problem, SUMMARY_START, rules.bfgs(), steps=steps, tol=tol)
        from ..tuning import SweepResult

        return SweepResult(np.array([1.0]), (result,), 1.0, result)
    if etas is None:
        etas = log_grid(1e-3, 1.0, per_decade=4)
    return sweep_step_size(problem, SUMMARY_START, lambda eta: make_rule(name, eta), etas, steps=steps, tol=tol)


def requirements(name: str) -> str:
    """What the rule needs beyond :math:`P` and :math:`J`, found by offering it a problem without extras.

    >>> requirements("PG"), requirements("GD")
    ('local inverse', 'Jacobian only')
    """
    bare = replace(summary_problem(), second_derivatives=None, hessian=None, inverse=None)
    rule = make_rule(name)
    try:
        rule.init(bare, SUMMARY_START)
        rule.first_step(bare, SUMMARY_START)
    except MissingCapabilityError as error:
        text = str(error)
        return "local inverse" if "inverse" in text else "second derivatives"
    return "Jacobian only"


def _counting(problem: Problem, counts: dict) -> Problem:
    def wrap(function, key):
        if function is None:
            return None

        def counted(*args):
            counts[key] += 1
            return function(*args)

        return counted

    return replace(
        problem,
        simulator=wrap(problem.simulator, "P"),
        jacobian=wrap(problem.jacobian, "J"),
        second_derivatives=wrap(problem.second_derivatives, "d2P"),
        inverse=wrap(problem.inverse, "inverse"),
    )


def calls_per_step(name: str, *, steps: int = 10) -> dict:
    r"""Average evaluations of :math:`P`, :math:`J`, :math:`\partial^2 P` and :math:`P^{-1}` per step.

    Counted over ``steps`` steps of :func:`minimize` with the fixed step size,
    excluding the driver's own evaluation of :math:`P` at each new point.

    >>> calls_per_step("GD")
    {'P': 0.0, 'J': 1.0, 'd2P': 0.0, 'inverse': 0.0}
    """
    counts = {"P": 0, "J": 0, "d2P": 0, "inverse": 0}
    problem = _counting(summary_problem(), counts)
    result = minimize(problem, SUMMARY_START, make_rule(name), steps=steps)
    counts["P"] -= result.nit + 1  # the driver evaluates P once at the start and once per step
    return {key: value / result.nit for key, value in counts.items()}
