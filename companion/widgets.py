r"""An interactive explorer of update rules on a two-parameter problem.

The pure part is :func:`explore`: given a scale :math:`\alpha`, a step size
:math:`\eta`, a rule name and a start it runs :func:`companion.minimize` and
returns an :class:`Exploration` with a one-line summary.  :func:`draw_paths`
and :func:`render` turn runs into a figure.  :func:`explorer` wires sliders
for :math:`\alpha` and :math:`\eta` (logarithmic), a rule dropdown and two
start sliders to these functions; the widget itself holds no logic.

>>> outcome = explore(10.0, 0.5, "Newton", start=(1.5, 1.5), steps=100)
>>> outcome.iterations
14
>>> outcome.summary
'Newton, alpha = 10, eta = 0.5: L <= 1.14e-06 after 14 iterations (final loss 4.23e-07)'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence

import numpy as np

from . import problems, rules
from ._checks import as_vector, check_int, check_positive
from .driver import MinimizeResult, minimize
from .plots import COLORS, MARKERS, color_of
from .problems import Problem

__all__ = ["DEFAULT_RULES", "Exploration", "explore", "landscape", "draw_paths", "render", "Explorer", "explorer"]

#: Rule factories offered by the explorer: name -> ``eta -> Rule``.
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
        """One line: iterations to the tolerance (or why not) and the final loss."""
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


def landscape(ax, problem: Problem, xlim=(-2.0, 2.0), ylim=(-2.0, 2.0), *, resolution: int = 81,
              decades: float = 5.0, levels: int = 15):
    r"""Contours of :math:`\log_{10} L` over the top ``decades`` decades of the loss in the window.

    Unlike a plain log plot, values more than ``decades`` decades below the
    largest loss in the window are clipped, so a minimum at exactly zero does
    not squeeze all contours into a corner of the colour scale.  Low loss is
    light, high loss dark.  Returns the filled contour set.
    """
    resolution = check_int(resolution, "resolution", minimum=2)
    decades = check_positive(decades, "decades")
    x1 = np.linspace(*xlim, resolution)
    x2 = np.linspace(*ylim, resolution)
    grid = np.array([[problem.loss_at(np.array([a, b])) for a in x1] for b in x2])
    top = np.log10(max(float(grid.max()), np.finfo(float).tiny))
    values = np.log10(np.maximum(grid, 10.0 ** (top - decades)))
    bounds = np.linspace(top - decades, top, check_int(levels, "levels", minimum=2) + 1)
    filled = ax.contourf(x1, x2, values, levels=bounds, cmap="Greys", alpha=0.45)
    ax.contour(x1, x2, values, levels=bounds, colors="k", linewidths=0.3, alpha=0.5)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal", adjustable="box")
    return filled


def draw_paths(ax, problem: Problem, paths: Sequence[MinimizeResult], *, xlim=(-2.0, 2.0), ylim=(-2.0, 2.0),
               labels: Optional[Sequence[str]] = None, colors: Optional[Sequence[str]] = None,
               linestyles: Optional[Sequence[str]] = None, resolution: int = 61, legend: bool = True,
               title: Optional[str] = None):
    r"""The :func:`landscape` of :math:`\log_{10} L` with the paths in :math:`x` drawn on top.

    Paths are clipped to the axes (a diverging run leaves the picture); the
    origin, the minimiser of the toy, is marked with a star.  ``labels``,
    ``colors`` and ``linestyles`` default to the rule's name and colour and a
    solid line.
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
    ax.plot([0.0], [0.0], marker="*", markersize=11, color="#F0E442", markeredgecolor="k", linestyle="none")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    if legend and paths:
        ax.legend(loc="lower left", fontsize=9)
    return ax


def render(exploration: Exploration, *, xlim=(-2.0, 2.0), ylim=(-2.0, 2.0), figsize=(9.0, 3.8)):
    """A figure with the path on the landscape (left) and the loss curve (right)."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=figsize)
    draw_paths(left, exploration.problem, [exploration.result], xlim=xlim, ylim=ylim,
               title=f"alpha = {exploration.alpha:.3g}, eta = {exploration.eta:.3g}")
    losses = np.maximum(exploration.result.losses, 1e-300)
    right.semilogy(np.arange(losses.size), losses, color=COLORS.get(exploration.rule, "#0072B2"),
                   label=exploration.rule)
    right.axhline(exploration.tol, color="k", linestyle=":", linewidth=1, label="tolerance")
    right.set_xlabel("iteration")
    right.set_ylabel("loss $L$")
    right.legend()
    fig.tight_layout()
    return fig


class Explorer:
    """The widget: controls, a summary line and an output area; see :func:`explorer`.

    ``controls`` maps ``"alpha"``, ``"eta"``, ``"rule"``, ``"x1"``, ``"x2"`` to
    their widgets; ``last`` is the latest :class:`Exploration`; ``widget`` is
    the box to display (the object displays itself in a notebook).
    """

    def __init__(self, make_problem, rules_available, *, alpha_range, eta_range, start, xlim, ylim,
                 steps, tol_rel, alpha, eta, rule, draw):
        import ipywidgets as widgets

        self._make_problem = make_problem
        self._rules = dict(DEFAULT_RULES if rules_available is None else rules_available)
        self._xlim, self._ylim = tuple(xlim), tuple(ylim)
        self._steps, self._tol_rel, self._draw = steps, tol_rel, draw
        low_a, high_a = (check_positive(v, "alpha_range") for v in alpha_range)
        low_e, high_e = (check_positive(v, "eta_range") for v in eta_range)
        if not (low_a < high_a and low_e < high_e):
            raise ValueError("alpha_range and eta_range must be (low, high) with low < high")
        start = as_vector(start, "start", size=2)
        if rule not in self._rules:
            raise ValueError(f"rule must be one of {sorted(self._rules)}, got {rule!r}")
        layout = {"style": {"description_width": "70px"}, "layout": widgets.Layout(width="420px")}
        self.controls = {
            "alpha": widgets.FloatLogSlider(value=alpha, base=10, min=np.log10(low_a), max=np.log10(high_a),
                                            step=0.05, description="alpha", readout_format=".3g", **layout),
            "eta": widgets.FloatLogSlider(value=eta, base=10, min=np.log10(low_e), max=np.log10(high_e),
                                          step=0.05, description="eta", readout_format=".3g", **layout),
            "rule": widgets.Dropdown(options=list(self._rules), value=rule, description="rule", **layout),
            "x1": widgets.FloatSlider(value=float(start[0]), min=self._xlim[0], max=self._xlim[1], step=0.05,
                                      description="start x1", **layout),
            "x2": widgets.FloatSlider(value=float(start[1]), min=self._ylim[0], max=self._ylim[1], step=0.05,
                                      description="start x2", **layout),
        }
        self.summary = widgets.HTML()
        self.output = widgets.Output()
        self.widget = widgets.VBox([*self.controls.values(), self.summary, self.output])
        self.last: Optional[Exploration] = None
        for control in self.controls.values():
            control.observe(self.update, names="value")
        self.update()

    def parameters(self) -> dict:
        """The arguments of :func:`explore` that the controls currently hold."""
        c = self.controls
        return {"alpha": c["alpha"].value, "eta": c["eta"].value, "rule_name": c["rule"].value,
                "start": (c["x1"].value, c["x2"].value)}

    def update(self, change=None) -> Exploration:
        """Re-run :func:`explore` with the current controls and redraw."""
        self.last = explore(**self.parameters(), steps=self._steps, make_problem=self._make_problem,
                            rules_available=self._rules, tol_rel=self._tol_rel)
        self.summary.value = f"<code>{self.last.summary}</code>"
        if self._draw:
            import matplotlib.pyplot as plt
            from IPython.display import clear_output, display

            with self.output:
                clear_output(wait=True)
                fig = render(self.last, xlim=self._xlim, ylim=self._ylim)
                display(fig)
                plt.close(fig)
        return self.last

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def explorer(make_problem: Callable[[float], Problem] = problems.alpha_scaled,
             rules_available: Optional[Mapping[str, Callable[[float], rules.Rule]]] = None, *,
             alpha_range=(0.1, 1000.0), eta_range=(1e-7, 2.0), start=(1.5, 1.5),
             xlim=(-2.0, 2.0), ylim=(-2.0, 2.0), steps: int = 200, tol_rel: float = 1e-8,
             alpha: float = 10.0, eta: float = 0.0198, rule: str = "GD", draw: bool = True) -> Explorer:
    r"""Build the explorer: log sliders for :math:`\alpha` and :math:`\eta`, a rule dropdown, start sliders.

    Every change re-runs :func:`explore` and redraws the landscape, the path
    and the loss curve, and prints the iterations to ``tol_rel`` :math:`L(x_0)`
    and the final loss.  ``draw=False`` skips the figure (for tests).

    >>> box = explorer(draw=False)
    >>> box.controls["rule"].value = "PG"
    >>> box.last.summary
    'PG, alpha = 10, eta = 0.0198: L > 1.14e-06 after 200 iterations (final loss 0.0381; max_steps: reached the maximum of 200 steps)'
    """
    return Explorer(make_problem, rules_available, alpha_range=alpha_range, eta_range=eta_range, start=start,
                    xlim=xlim, ylim=ylim, steps=check_int(steps, "steps", minimum=1), tol_rel=tol_rel,
                    alpha=alpha, eta=eta, rule=rule, draw=draw)
