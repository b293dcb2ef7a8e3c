r"""An interactive explorer of update rules on a two-parameter problem.

The pure part is :func:`explore`: given a scale :math:`\alpha`, a step size
:math:`\eta`, a rule name and a start it runs :func:`companion.minimize` and
returns an :class:`Exploration` with a one-line summary.  :func:`draw_paths`,
:func:`render` and :func:`render_many` turn runs into a figure.
:func:`explorer` wires sliders for :math:`\alpha` and :math:`\eta`
(logarithmic), a rule dropdown, an optional problem dropdown and two start
sliders to these functions; the widget itself holds no logic.

For the static pages, where no kernel runs the widget, :func:`iteration_grid`
and :func:`iteration_counts` compute the same question as a table: the
iterations to the tolerance over a grid of step sizes or scales.
:func:`scaled_square` is a nonlinear member of the :math:`\alpha` family whose
inverse differs from its linearisation.

>>> outcome = explore(10.0, 0.5, "Newton", start=(1.5, 1.5), steps=100)
>>> outcome.iterations
14
>>> outcome.summary
'Newton, alpha = 10, eta = 0.5: L <= 1.14e-06 after 14 iterations (final loss 4.23e-07)'
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence

import numpy as np

from . import problems, rules
from ._checks import as_vector, check_int, check_positive
from .driver import MinimizeResult, minimize
from .errors import InverseError
from .plots import MARKERS, color_of, loss_landscape
from .problems import Problem

__all__ = ["DEFAULT_RULES", "Exploration", "explore", "iteration_grid", "iteration_counts", "scaled_square",
           "output_path", "PANELS", "loss_floor", "landscape", "draw_paths", "render", "render_many",
           "aligned_range", "author_value", "gd_stability_limit", "stability_note", "Explorer", "explorer"]

#: Grid spacing of the explorer's log sliders (alpha, eta), in decades, and of its start sliders.
LOG_STEP = 0.05
START_STEP = 0.05

#: The rule factories the explorer offers, by name (each maps ``eta`` to a :class:`~companion.rules.Rule`).
DEFAULT_RULES: dict[str, Callable[[float], rules.Rule]] = {
    "GD": rules.gd,
    "Adam": rules.adam,
    "Newton": rules.newton,
    "Gauss-Newton": rules.gauss_newton,
    "IG": rules.ig,
    "PG": rules.pg,
}


@dataclass(frozen=True)
class Exploration:
    """One run of the explorer: the parameters, the problem, the run and the tolerance it was judged by."""

    alpha: float
    eta: float
    rule: str
    start: np.ndarray
    problem: Problem
    result: MinimizeResult
    tol: float

    @property
    def iterations(self) -> Optional[int]:
        """Steps to reach ``tol``, or ``None`` if the run did not get there."""
        return self.result.nit if self.result.success else None

    @property
    def summary(self) -> str:
        """The run in one line, with the iterations to the tolerance (or why not) and the final loss."""
        head = f"{self.rule}, alpha = {self.alpha:.4g}, eta = {self.eta:.3g}: "
        if self.result.success:
            return head + f"L <= {self.tol:.3g} after {self.result.nit} iterations (final loss {self.result.fun:.3g})"
        return (head + f"L > {self.tol:.3g} after {self.result.nit} iterations "
                f"(final loss {self.result.fun:.3g}; {self.result.status_name}: {self.result.message})")


def explore(alpha, eta, rule_name: str, start=(1.5, 1.5), steps: int = 200, *,
            make_problem: Callable[[float], Problem] = problems.alpha_scaled,
            rules_available: Optional[Mapping[str, Callable[[float], rules.Rule]]] = None,
            tol_rel: float = 1e-8) -> Exploration:
    r"""Run rule ``rule_name`` with step size ``eta`` on ``make_problem(alpha)`` from ``start``.

    The tolerance is ``tol_rel`` :math:`\cdot L(x_0)`; at most ``steps`` steps.

    >>> explore(10.0, 0.01, "GD", steps=50).iterations is None
    True
    """
    alpha = check_positive(alpha, "alpha")
    eta = check_positive(eta, "eta")
    available = DEFAULT_RULES if rules_available is None else rules_available
    if rule_name not in available:
        raise ValueError(f"rule_name must be one of {sorted(available)}, got {rule_name!r}")
    steps = check_int(steps, "steps", minimum=1)
    tol_rel = check_positive(tol_rel, "tol_rel")
    problem = make_problem(alpha)
    if not isinstance(problem, Problem):
        raise TypeError(f"make_problem must return a companion.Problem, got {type(problem).__name__}")
    start = as_vector(start, "start")
    tol = tol_rel * problem.loss_at(start)
    result = minimize(problem, start, available[rule_name](eta), steps=steps, tol=tol)
    return Exploration(alpha, eta, rule_name, start, problem, result, tol)


def iteration_grid(alphas, etas, rule_name: str, start=(1.5, 1.5), steps: int = 200, *,
                   make_problem: Callable[[float], Problem] = problems.alpha_scaled,
                   rules_available: Optional[Mapping[str, Callable[[float], rules.Rule]]] = None,
                   tol_rel: float = 1e-8) -> np.ndarray:
    r"""Iterations to :math:`L \le` ``tol_rel`` :math:`L(x_0)` for every pair of ``alphas`` and ``etas``.

    Row ``i``, column ``j`` is :func:`explore` ``(alphas[i], etas[j], rule_name, ...).iterations``,
    ``nan`` where the run does not get there within ``steps`` (too slow, or
    diverged): the explorer's question asked for a whole grid, for a static
    figure.

    >>> iteration_grid([1.0], [0.5, 1.0, 2.5], "GD", steps=100)
    array([[14.,  1., nan]])
    """
    alphas = np.atleast_1d(np.asarray(alphas, dtype=float))
    etas = np.atleast_1d(np.asarray(etas, dtype=float))
    if alphas.ndim != 1 or etas.ndim != 1 or alphas.size == 0 or etas.size == 0:
        raise ValueError("alphas and etas must be non-empty sequences of numbers")
    table = np.full((alphas.size, etas.size), np.nan)
    for i, alpha in enumerate(alphas):
        for j, eta in enumerate(etas):
            found = explore(alpha, eta, rule_name, start, steps, make_problem=make_problem,
                            rules_available=rules_available, tol_rel=tol_rel).iterations
            if found is not None:
                table[i, j] = found
    return table


def iteration_counts(alphas, rule_name: str, eta, start=(1.5, 1.5), steps: int = 200, *,
                     make_problem: Callable[[float], Problem] = problems.alpha_scaled,
                     rules_available: Optional[Mapping[str, Callable[[float], rules.Rule]]] = None,
                     tol_rel: float = 1e-8) -> np.ndarray:
    r"""Iterations to the tolerance against :math:`\alpha`, with ``eta`` a number or a function of :math:`\alpha`.

    ``eta = lambda alpha: 1 / alpha**2`` follows the stability limit of
    gradient descent; a fixed ``eta`` suits the rules whose step is
    dimensionless.  ``nan`` where the run does not reach the tolerance.

    >>> iteration_counts([1.0, 10.0, 100.0], "IG", 0.5).tolist()
    [14.0, 14.0, 14.0]
    """
    alphas = np.atleast_1d(np.asarray(alphas, dtype=float))
    if alphas.ndim != 1 or alphas.size == 0:
        raise ValueError("alphas must be a non-empty sequence of numbers")
    eta_of = eta if callable(eta) else (lambda alpha: eta)
    counts = np.full(alphas.size, np.nan)
    for i, alpha in enumerate(alphas):
        found = explore(alpha, eta_of(float(alpha)), rule_name, start, steps, make_problem=make_problem,
                        rules_available=rules_available, tol_rel=tol_rel).iterations
        if found is not None:
            counts[i] = found
    return counts


def _scaled_square_inverse(alpha):
    def inverse(y, x0):
        if y[1] / alpha < 0:
            raise InverseError(
                f"y = (x1, alpha x2^2) has no real preimage for y2 = {y[1]:.3g}; take a smaller step eta")
        sign = 1.0 if x0[1] >= 0 else -1.0
        return np.array([y[0], sign * np.sqrt(y[1] / alpha)])
    return inverse


def scaled_square(alpha: float = 1.0, minimum=(1.0, 2.0)) -> Problem:
    r"""The nonlinear scaled toy :math:`P(x) = (x_1, \alpha x_2^2)` with the target :math:`(a, \alpha b^2)`.

    ``minimum = (a, b)``: the loss vanishes at :math:`(a, \pm b)` for every
    :math:`\alpha`, so :math:`\alpha` only rescales the second output, as in
    :func:`companion.problems.alpha_scaled`.  Jacobian
    :math:`\mathrm{diag}(1, 2\alpha x_2)`, second derivative :math:`2\alpha`,
    and the local inverse :math:`(y_1, \operatorname{sign}(x_{0,2}) \sqrt{y_2/\alpha})`,
    which is exact where the linearisation used by IG is not.

    >>> p = scaled_square(10.0)
    >>> p.output(np.array([1.0, -2.0])), p.target
    (array([ 1., 40.]), array([ 1., 40.]))
    >>> p.invert(p.target, np.array([0.0, -0.1]))
    array([ 1., -2.])
    """
    alpha = check_positive(alpha, "alpha")
    a, b = as_vector(minimum, "minimum", size=2)
    return Problem(
        simulator=lambda x: np.array([x[0], alpha * x[1] ** 2]),
        jacobian=lambda x: np.array([[1.0, 0.0], [0.0, 2.0 * alpha * x[1]]]),
        target=(a, alpha * b**2),
        second_derivatives=lambda x: np.array([np.zeros((2, 2)), [[0.0, 0.0], [0.0, 2.0 * alpha]]]),
        inverse=_scaled_square_inverse(alpha),
        name=f"y = (x1, alpha x2^2) (alpha={alpha:g})",
    )


def output_path(exploration: Exploration) -> np.ndarray:
    r"""The iterates mapped to the output space, :math:`y_k = P(x_k)`: an array of shape ``(k + 1, m)``.

    >>> output_path(explore(2.0, 1.0, "PG", steps=5))
    array([[1.5, 3. ],
           [0. , 0. ]])
    """
    return np.array([exploration.problem.output(x) for x in exploration.result.xs])


def landscape(ax, problem: Problem, xlim=(-2.0, 2.0), ylim=(-2.0, 2.0), *, resolution: int = 81,
              decades: float = 5.0, levels: int = 15):
    r"""Contours of :math:`\log_{10} L` over the top ``decades`` decades of the loss in the window (see :func:`companion.plots.loss_landscape`).

    Unlike a plain log plot, values more than ``decades`` decades below the
    largest loss in the window are clipped, so a minimum at exactly zero does
    not squeeze all contours into a corner of the colour scale.  Low loss is
    light, high loss dark.  Returns the filled contour set.
    """
    return loss_landscape(ax, problem, xlim, ylim, resolution=resolution, decades=decades,
                          levels=check_int(levels, "levels", minimum=2), alpha=0.45)


def draw_paths(ax, problem: Problem, paths: Sequence[MinimizeResult], *, xlim=(-2.0, 2.0), ylim=(-2.0, 2.0),
               labels: Optional[Sequence[str]] = None, colors: Optional[Sequence[str]] = None,
               linestyles: Optional[Sequence[str]] = None, resolution: int = 41, legend: bool = True,
               title: Optional[str] = None, minima=((0.0, 0.0),)):
    r"""The :func:`landscape` of :math:`\log_{10} L` with the paths in :math:`x` drawn on top.

    Paths are clipped to the axes (a diverging run leaves the picture); the
    ``minima`` (default: the origin, the minimiser of the toy) are marked with
    stars.  ``labels``, ``colors`` and ``linestyles`` default to the rule's
    name and colour and a solid line.
    """
    landscape(ax, problem, xlim, ylim, resolution=resolution)
    for i, result in enumerate(paths):
        label = labels[i] if labels is not None else result.rule
        color = colors[i] if colors is not None else color_of(result.rule, i)
        marker = MARKERS.get(result.rule, "o")
        points = result.xs
        linestyle = linestyles[i] if linestyles is not None else "-"
        ax.plot(points[:, 0], points[:, 1], marker=marker, markersize=3.5, linewidth=1.2,
                color=color, label=label, linestyle=linestyle)
    stars = np.asarray(minima, dtype=float).reshape(-1, 2)
    ax.plot(stars[:, 0], stars[:, 1], marker="*", markersize=11, color="#F0E442", markeredgecolor="k",
            linestyle="none")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    if legend and paths:
        ax.legend(loc="lower left", fontsize=9)
    return ax


def _window(points: np.ndarray, pad: float = 0.15):
    """Axis limits around ``points`` (rows are 2D points), padded, never of zero width."""
    low, high = points.min(axis=0), points.max(axis=0)
    span = np.maximum(high - low, 1e-3 * np.maximum(1.0, np.abs(high)))
    return (low[0] - pad * span[0], high[0] + pad * span[0]), (low[1] - pad * span[1], high[1] + pad * span[1])


PANELS = ("x", "y", "loss")


def loss_floor(losses: Sequence[np.ndarray], tols: Sequence[float] = ()) -> float:
    r"""Where a log-scale loss plot draws an exact zero: two decades below the smallest positive value.

    The smallest positive value is taken over the losses of all runs and the
    tolerances ``tols``.  A run that lands exactly on the minimum (PG with
    :math:`\eta = 1` on a linear problem) would otherwise stretch the axis down
    to the smallest float; a floor below everything shown keeps the other
    curves readable.

    >>> loss_floor([np.array([2.0, 0.0])], [2e-8])
    2e-10
    >>> loss_floor([np.array([0.0])])
    1e-300
    """
    values = np.concatenate([np.ravel(np.asarray(v, dtype=float)) for v in losses] + [np.asarray(tols, float)])
    positive = values[np.isfinite(values) & (values > 0.0)]
    return float(positive.min()) * 1e-2 if positive.size else 1e-300


def render_many(explorations: Sequence[Exploration], *, labels: Optional[Sequence[str]] = None,
                panels: Sequence[str] = ("x", "loss"), xlim=(-2.0, 2.0), ylim=(-2.0, 2.0),
                minima=((0.0, 0.0),), figsize=None, title: Optional[str] = None):
    r"""Several runs on one problem side by side: one axes per entry of ``panels``.

    ``"x"``: the paths on the landscape of :math:`L` (:func:`draw_paths`);
    ``"y"``: the same iterates in the output space, :math:`y_k = P(x_k)`
    (:func:`output_path`; the window holds the starts and the target, a run
    that leaves it is clipped), with the target marked; ``"loss"``: the loss
    curves with each run's tolerance.  The landscape is that of the first
    run's problem.  Colours follow the rule names when all runs use different
    rules, else the palette by position.  Returns the figure.
    """
    import matplotlib.pyplot as plt

    runs = list(explorations)
    if not runs or not all(isinstance(run, Exploration) for run in runs):
        raise TypeError("explorations must be a non-empty sequence of Exploration (from explore)")
    panels = tuple(panels)
    if not panels or any(panel not in PANELS for panel in panels):
        raise ValueError(f"panels must be a non-empty sequence of {PANELS}, got {panels!r}")
    if labels is not None and len(labels) != len(runs):
        raise ValueError(f"labels must have one entry per run ({len(runs)}), got {len(labels)}")
    names = list(labels) if labels is not None else [run.rule for run in runs]
    distinct = len({run.rule for run in runs}) == len(runs)
    colors = [color_of(run.rule, i) if distinct else color_of("", i) for i, run in enumerate(runs)]
    if figsize is None:
        figsize = (min(10.0, 4.6 * len(panels)), 3.8)
    fig, axes = plt.subplots(1, len(panels), figsize=figsize, squeeze=False)
    for ax, panel in zip(axes[0], panels):
        if panel == "x":
            draw_paths(ax, runs[0].problem, [run.result for run in runs], xlim=xlim, ylim=ylim, labels=names,
                       colors=colors, minima=minima, legend=len(runs) > 1,
                       title=title if title is not None else (
                           f"alpha = {runs[0].alpha:.3g}, eta = {runs[0].eta:.3g}" if len(runs) == 1 else None))
        elif panel == "y":
            target = runs[0].problem.target
            if target.size != 2:
                raise ValueError(f"the 'y' panel needs a problem with two outputs, got {target.size}")
            for i, run in enumerate(runs):
                ys = output_path(run)
                ax.plot(ys[:, 0], ys[:, 1], marker=MARKERS.get(run.rule, "o"), markersize=3.5, linewidth=1.2,
                        color=colors[i], label=names[i])
            anchors = np.vstack([target] + [output_path(run)[:1] for run in runs])
            (x_low, x_high), (y_low, y_high) = _window(anchors)
            ax.plot([target[0]], [target[1]], marker="*", markersize=11, color="#F0E442", markeredgecolor="k",
                    linestyle="none", label="target $y^*$")
            ax.set_xlim(x_low, x_high)
            ax.set_ylim(y_low, y_high)
            ax.set_xlabel("$y_1$")
            ax.set_ylabel("$y_2$")
            ax.set_title("the same iterates in $y$")
            ax.legend(fontsize=9)
        else:
            floor = loss_floor([run.result.losses for run in runs], [run.tol for run in runs])
            for i, run in enumerate(runs):
                losses = np.maximum(run.result.losses, floor)
                steps = np.arange(losses.size)
                ax.semilogy(steps, losses, color=colors[i], label=names[i])
                exact_zero = run.result.losses <= 0.0
                if exact_zero.any():  # drawn on the floor, marked so that it does not read as a value
                    ax.plot(steps[exact_zero], losses[exact_zero], marker="v", color=colors[i], linestyle="none")
            for tol in sorted({run.tol for run in runs}):
                ax.axhline(tol, color="k", linestyle=":", linewidth=1)
            ax.plot([], [], color="k", linestyle=":", linewidth=1, label="tolerance")
            ax.set_xlabel("iteration")
            ax.set_ylabel("loss $L$")
            ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def render(exploration: Exploration, *, xlim=(-2.0, 2.0), ylim=(-2.0, 2.0), figsize=(9.0, 3.8),
           panels: Sequence[str] = ("x", "loss"), minima=((0.0, 0.0),)):
    """A figure of one run: by default the path on the landscape (left) and the loss curve (right).

    ``panels`` and ``minima`` as in :func:`render_many`.
    """
    if tuple(panels) != ("x", "loss") and figsize == (9.0, 3.8):
        figsize = None
    return render_many([exploration], panels=panels, xlim=xlim, ylim=ylim, minima=minima, figsize=figsize)


def aligned_range(value, low, high, step, *, log: bool = False) -> tuple[float, float]:
    r"""Bounds ``(lo, hi)`` of a slider grid that has ``value`` on it and stays inside ``[low, high]``.

    A slider only takes the values ``lo + k * step``; a browser snaps the
    starting value to the nearest of them (and reports the snapped value back),
    so a grid that does not contain the author's value changes the starting
    picture.  Here ``lo = value - k_low * step`` and ``hi = value + k_high * step``
    with the largest whole ``k_low``, ``k_high`` that keep inside the range (up to rounding).
    With ``log=True`` the grid is in :math:`\log_{10}` (a ``FloatLogSlider``,
    whose ``min`` and ``max`` are exponents) and the bounds returned are exponents.

    >>> lo, hi = aligned_range(0.0198, 1e-7, 2.0, 0.05, log=True)
    >>> round(lo, 4), round(hi, 4), float(round((np.log10(0.0198) - lo) / 0.05, 9))
    (-6.9533, 0.2967, 105.0)
    >>> [round(bound, 12) for bound in aligned_range(0.3, -3.0, 3.0, 0.05)]
    [-3.0, 3.0]
    >>> aligned_range(5.0, 1e-7, 2.0, 0.05, log=True)
    Traceback (most recent call last):
    ...
    ValueError: the starting value 5 lies outside the slider's range (1e-07, 2); widen the range or change the value
    """
    step = check_positive(step, "step")
    if not low <= value <= high:
        raise ValueError(f"the starting value {value:.6g} lies outside the slider's range ({low:.6g}, {high:.6g}); "
                         f"widen the range or change the value")
    to_grid = np.log10 if log else (lambda v: v)
    anchor, bottom, top = (float(to_grid(v)) for v in (value, low, high))
    # the small allowance keeps a bound that lies on the grid up to rounding
    below = np.floor((anchor - bottom) / step + 1e-9)
    above = np.floor((top - anchor) / step + 1e-9)
    return float(anchor - below * step), float(anchor + above * step)


def author_value(value: float, start: float, step: float, *, log: bool = False) -> float:
    r"""``start`` when ``value`` is the grid point at ``start`` up to rounding, else ``value``.

    The browser computes the grid point as a float (for a log slider as
    :math:`10^{\mathrm{lo} + k\,\mathrm{step}}`), which may differ from the
    author's value in the last digits; the explorer then keeps computing with
    the exact value the cell passed.  Any other value (a different grid point, or
    one set from Python) is returned unchanged.

    >>> author_value(0.019799999999999998, 0.0198, 0.05, log=True)
    0.0198
    >>> author_value(0.0222, 0.0198, 0.05, log=True)
    0.0222
    """
    distance = abs(np.log10(value / start)) if log else abs(value - start)
    return start if distance <= 1e-6 * step else value


def gd_stability_limit(problem: Problem, x) -> float:
    r"""GD's largest stable step near ``x``: :math:`2/\lambda_{\max}` of the Gauss-Newton matrix :math:`J^\top L_{yy} J`.

    GD multiplies the component along the eigenvector of :math:`\lambda` by
    :math:`1 - \eta\lambda` (exactly for a linear problem with squared error),
    which shrinks only for :math:`\eta < 2/\lambda`.  On the toy
    :math:`P(x) = (x_1, \alpha x_2)`, :math:`\lambda_{\max} = \max(1, \alpha^2)`.

    >>> gd_stability_limit(problems.alpha_scaled(10.0), [1.5, 1.5])
    0.02
    """
    lam = float(np.linalg.eigvalsh(problem.gauss_newton_matrix_at(as_vector(x, "x"))).max())
    if lam <= 0.0:
        return np.inf
    return 2.0 / lam


def stability_note(eta: float, limit: float, name: str = "2/lambda_max") -> str:
    r"""One line on where ``eta`` sits relative to GD's stability limit ``limit`` (:func:`gd_stability_limit`).

    ``name`` is how the limit is written in the line (``"2/alpha^2"`` on the toy).

    >>> stability_note(0.0198, 0.02, "2/alpha^2")
    'eta = 0.0198 = 0.99 x the stability limit 2/alpha^2 = 0.02: just below it, the steep direction flips sign every step and decays slowly'
    """
    ratio = eta / limit
    head = f"eta = {eta:.4g} = {ratio:.3g} x the stability limit {name} = {limit:.4g}: "
    if ratio > 1.0 + 1e-12:
        return head + "above it, the steep direction grows every step"
    if ratio >= 1.0 - 1e-12:
        return head + "at it, the steep direction flips sign every step and does not decay"
    if ratio >= 0.9:
        return head + "just below it, the steep direction flips sign every step and decays slowly"
    return head + "below it"


class Explorer:
    """The widget: controls, a summary line and an output area; see :func:`explorer`.

    ``controls`` maps ``"alpha"``, ``"eta"``, ``"rule"``, ``"x1"``, ``"x2"``
    (and ``"problem"`` when the explorer offers several problems) to their
    widgets; ``last`` is the latest :class:`Exploration`; ``widget`` is the box
    to display (the object displays itself in a notebook).
    """

    def __init__(self, make_problem, rules_available, *, alpha_range, eta_range, start, xlim, ylim,
                 steps, tol_rel, alpha, eta, rule, draw, problems_available=None, problem=None,
                 panels=("x", "loss"), minima=((0.0, 0.0),)):
        import ipywidgets as widgets

        self._make_problem = make_problem
        self._rules = dict(DEFAULT_RULES if rules_available is None else rules_available)
        self._problems = None if problems_available is None else dict(problems_available)
        self._xlim, self._ylim = tuple(xlim), tuple(ylim)
        self._steps, self._tol_rel, self._draw = steps, tol_rel, draw
        self._panels = tuple(panels)
        if not self._panels or any(panel not in PANELS for panel in self._panels):
            raise ValueError(f"panels must be a non-empty sequence of {PANELS}, got {panels!r}")
        self._minima = minima
        low_a, high_a = (check_positive(v, "alpha_range") for v in alpha_range)
        low_e, high_e = (check_positive(v, "eta_range") for v in eta_range)
        if not (low_a < high_a and low_e < high_e):
            raise ValueError("alpha_range and eta_range must be (low, high) with low < high")
        start = as_vector(start, "start", size=2)
        if rule not in self._rules:
            raise ValueError(f"rule must be one of {sorted(self._rules)}, got {rule!r}")
        if self._problems is not None:
            if not self._problems or not all(callable(f) for f in self._problems.values()):
                raise ValueError("problems_available must map names to functions alpha -> Problem")
            problem = next(iter(self._problems)) if problem is None else problem
            if problem not in self._problems:
                raise ValueError(f"problem must be one of {sorted(self._problems)}, got {problem!r}")
        # every slider's grid contains the value the cell passed (see aligned_range, author_value)
        self._starts = {"alpha": float(alpha), "eta": float(eta), "x1": float(start[0]), "x2": float(start[1])}
        self._grid = {"alpha": (LOG_STEP, True), "eta": (LOG_STEP, True), "x1": (START_STEP, False),
                      "x2": (START_STEP, False)}
        alpha_lo, alpha_hi = aligned_range(alpha, low_a, high_a, LOG_STEP, log=True)
        eta_lo, eta_hi = aligned_range(eta, low_e, high_e, LOG_STEP, log=True)
        x1_lo, x1_hi = aligned_range(float(start[0]), self._xlim[0], self._xlim[1], START_STEP)
        x2_lo, x2_hi = aligned_range(float(start[1]), self._ylim[0], self._ylim[1], START_STEP)
        layout = {"style": {"description_width": "70px"}, "layout": widgets.Layout(width="420px")}
        self.controls = {}
        if self._problems is not None:
            self.controls["problem"] = widgets.Dropdown(options=list(self._problems), value=problem,
                                                        description="problem", **layout)
        self.controls.update({
            "alpha": widgets.FloatLogSlider(value=alpha, base=10, min=alpha_lo, max=alpha_hi, step=LOG_STEP,
                                            description="alpha", readout_format=".4", **layout),
            "eta": widgets.FloatLogSlider(value=eta, base=10, min=eta_lo, max=eta_hi, step=LOG_STEP,
                                          description="eta", readout_format=".4", **layout),
            "rule": widgets.Dropdown(options=list(self._rules), value=rule, description="rule", **layout),
            "x1": widgets.FloatSlider(value=float(start[0]), min=x1_lo, max=x1_hi, step=START_STEP,
                                      description="start x1", readout_format=".3", **layout),
            "x2": widgets.FloatSlider(value=float(start[1]), min=x2_lo, max=x2_hi, step=START_STEP,
                                      description="start x2", readout_format=".3", **layout),
        })
        self.summary = widgets.HTML()
        self.output = widgets.Output()
        self.widget = widgets.VBox([*self.controls.values(), self.summary, self.output])
        self.last: Optional[Exploration] = None
        for control in self.controls.values():
            control.observe(self.update, names="value")
        self.update()

    def parameters(self) -> dict:
        """The arguments of :func:`explore` that the controls currently hold (the problem aside)."""
        value = {name: author_value(self.controls[name].value, self._starts[name], step, log=log)
                 for name, (step, log) in self._grid.items()}
        return {"alpha": value["alpha"], "eta": value["eta"], "rule_name": self.controls["rule"].value,
                "start": (value["x1"], value["x2"])}

    def problem_factory(self) -> Callable[[float], Problem]:
        """The function ``alpha -> Problem`` that the controls currently select."""
        if self._problems is None:
            return self._make_problem
        return self._problems[self.controls["problem"].value]

    def minima(self):
        """The points marked as minimisers for the current problem."""
        if isinstance(self._minima, Mapping):
            key = self.controls["problem"].value if self._problems is not None else None
            return self._minima.get(key, ())
        return self._minima

    def update(self, change=None) -> Exploration:
        """Re-run :func:`explore` with the current controls and redraw."""
        self.last = explore(**self.parameters(), steps=self._steps, make_problem=self.problem_factory(),
                            rules_available=self._rules, tol_rel=self._tol_rel)
        lines = [self.last.summary]
        if self.last.rule == "GD":
            limit = gd_stability_limit(self.last.problem, self.last.start)
            # on the toy family lambda_max = alpha^2, the form in which the chapters state the limit
            name = "2/alpha^2" if np.isclose(limit, 2.0 / self.last.alpha**2, rtol=1e-9) else "2/lambda_max"
            lines.append(stability_note(self.last.eta, limit, name))
        self.summary.value = "<br>".join(f"<code>{html.escape(line)}</code>" for line in lines)
        if self._draw:
            from IPython.display import Image, clear_output, display

            self._png = self._render_png()
            with self.output:
                clear_output(wait=True)
                display(Image(data=self._png, format="png"))
        return self.last

    def _render_png(self, dpi: int = 100) -> bytes:
        import io

        import matplotlib.pyplot as plt

        fig = render(self.last, xlim=self._xlim, ylim=self._ylim, panels=self._panels, minima=self.minima())
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
        plt.close(fig)
        return buffer.getvalue()

    def static_png(self) -> bytes:
        """The figure of the current state as PNG bytes (what a reader without a kernel sees)."""
        if self.last is None:
            self.update()
        png = getattr(self, "_png", None)
        return png if png is not None else self._render_png()

    def _repr_mimebundle_(self, **kwargs):
        """The live widget, with the starting figure as PNG and the run's summary as text.

        JupyterLab, Colab and the HTML book show the widget; the PDF (which cannot hold a
        widget) and viewers without widget support fall back to the PNG.
        """
        import base64

        bundle = self.widget._repr_mimebundle_(**kwargs)
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
        data = dict(data)
        if self._draw:
            data["image/png"] = base64.b64encode(self.static_png()).decode("ascii")
        if self.last is not None:
            data["text/plain"] = f"explorer: {self.last.summary}"
        return (data, metadata) if isinstance(bundle, tuple) else data


def explorer(make_problem: Callable[[float], Problem] = problems.alpha_scaled,
             rules_available: Optional[Mapping[str, Callable[[float], rules.Rule]]] = None, *,
             alpha_range=(0.1, 1000.0), eta_range=(1e-7, 2.0), start=(1.5, 1.5),
             xlim=(-2.0, 2.0), ylim=(-2.0, 2.0), steps: int = 200, tol_rel: float = 1e-8,
             alpha: float = 10.0, eta: float = 0.0198, rule: str = "GD", draw: bool = True,
             problems_available: Optional[Mapping[str, Callable[[float], Problem]]] = None,
             problem: Optional[str] = None, panels: Sequence[str] = ("x", "loss"),
             minima=((0.0, 0.0),)) -> Explorer:
    r"""Build the explorer: log sliders for :math:`\alpha` and :math:`\eta`, a rule dropdown, start sliders.

    Every change re-runs :func:`explore` and redraws the landscape, the path
    and the loss curve, and prints the iterations to ``tol_rel`` :math:`L(x_0)`
    and the final loss.  ``draw=False`` skips the figure (for tests).

    ``problems_available`` (name -> ``alpha -> Problem``) adds a problem
    dropdown, starting at ``problem``, and replaces ``make_problem``;
    ``panels`` chooses the plots (see :func:`render_many`); ``minima`` are the
    points starred on the landscape, or a mapping from problem name to them.

    >>> box = explorer(draw=False)
    >>> box.controls["rule"].value = "PG"
    >>> box.last.summary
    'PG, alpha = 10, eta = 0.0198: L > 1.14e-06 after 200 iterations (final loss 0.0381; max_steps: reached the maximum of 200 steps)'
    """
    return Explorer(make_problem, rules_available, alpha_range=alpha_range, eta_range=eta_range, start=start,
                    xlim=xlim, ylim=ylim, steps=check_int(steps, "steps", minimum=1), tol_rel=tol_rel,
                    alpha=alpha, eta=eta, rule=rule, draw=draw, problems_available=problems_available,
                    problem=problem, panels=panels, minima=minima)
