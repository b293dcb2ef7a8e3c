r"""Fair comparisons: give every rule its best step size from a small sweep.

A method that wins only against a badly tuned baseline has not won, so the
chapters never pick :math:`\eta` by hand for a comparison: they call
:func:`sweep_step_size`, show the sweep, and use its best value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ._checks import as_vector, check_int, check_positive
from .driver import MinimizeResult, minimize
from .problems import Problem
from .rules import Rule

__all__ = ["SweepResult", "sweep_step_size", "iterations_to_tolerance", "log_grid"]


def log_grid(low: float, high: float, per_decade: int = 4) -> np.ndarray:
    """Log-spaced step sizes from ``low`` to ``high`` inclusive.

    >>> log_grid(0.01, 1, per_decade=2).round(4)
    array([0.01  , 0.0316, 0.1   , 0.3162, 1.    ])
    """
    low = check_positive(low, "low")
    high = check_positive(high, "high")
    if low > high:
        raise ValueError(f"need 0 < low <= high, got low={low!r}, high={high!r}")
    per_decade = check_int(per_decade, "per_decade", minimum=1)
    count = int(round((np.log10(high) - np.log10(low)) * per_decade)) + 1
    return np.logspace(np.log10(low), np.log10(high), count)


def iterations_to_tolerance(result: MinimizeResult) -> float:
    """``result.nit`` if the run converged, else ``inf`` (so it sorts last)."""
    return float(result.nit) if result.success else float("inf")


@dataclass(frozen=True)
class SweepResult:
    """All runs of a step-size sweep and the best one.

    ``best`` is the run that reached ``tol`` in the fewest steps; if none did,
    the one with the lowest final loss.
    """

    etas: np.ndarray
    results: tuple
    best_eta: float
    best: MinimizeResult

    def table(self) -> list[tuple[float, int, float, str]]:
        """Rows ``(eta, nit, final loss, status name)``."""
        return [(float(e), r.nit, r.fun, r.status_name) for e, r in zip(self.etas, self.results)]


def sweep_step_size(problem: Problem, x0, make_rule: Callable[[float], Rule], etas: Sequence[float], *,
                    steps: int = 100, tol: float = 0.0, **options) -> SweepResult:
    r"""Run ``make_rule(eta)`` for each ``eta`` on the same problem, start and budget.

    >>> from companion import problems, rules
    >>> sweep = sweep_step_size(problems.alpha_scaled(10.0), [1.0, 1.0], rules.gd, [0.001, 0.01, 0.019, 0.05],
    ...                         steps=2000, tol=1e-10)
    >>> sweep.best_eta, sweep.best.nit
    (0.019, 583)
    """
    x0 = as_vector(x0, "x0")
    if isinstance(make_rule, Rule) or not callable(make_rule):
        raise TypeError(
            f"make_rule must be a function eta -> Rule such as rules.gd or lambda eta: rules.ig(eta), "
            f"got {type(make_rule).__name__}"
        )
    if etas is None or (isinstance(etas, np.ndarray) and etas.size == 0) or (
            isinstance(etas, (list, tuple)) and len(etas) == 0):
        raise ValueError("etas must be a non-empty sequence of positive finite step sizes")
    etas = as_vector(etas, "etas")
    if np.any(etas <= 0):
        raise ValueError("etas must be a non-empty sequence of positive finite step sizes")
    results = tuple(minimize(problem, x0, make_rule(float(eta)), steps=steps, tol=tol, **options) for eta in etas)
    converged = [i for i, r in enumerate(results) if r.success]
    if converged:
        best = min(converged, key=lambda i: (results[i].nit, results[i].fun))
    else:
        best = min(range(len(results)), key=lambda i: results[i].fun if np.isfinite(results[i].fun) else np.inf)
    return SweepResult(etas, results, float(etas[best]), results[best])
