"""Figures shared by the chapters.

Colours are the Okabe-Ito palette (safe for the common colour-vision
deficiencies); figures get an opaque white background so they stay legible on
the dark theme of the book.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from ._checks import as_real_array, check_finite, check_int, check_positive
from .driver import MinimizeResult
from .problems import Problem

__all__ = ["COLORS", "MARKERS", "use_style", "color_of", "loss_landscape", "plot_path", "plot_paths", "plot_losses"]

#: One colour per method, used consistently across chapters.
COLORS = {
    "GD": "#E69F00",
    "Adam": "#CC79A7",
    "Newton": "#0072B2",
    "Gauss-Newton": "#56B4E9",
    "BFGS": "#009E73",
    "IG": "#D55E00",
    "PG": "#000000",
    "SIP": "#000000",
    "HIG": "#D55E00",
    "supervised": "#999999",
}
MARKERS = {"GD": "o", "Adam": "v", "Newton": "s", "Gauss-Newton": "D", "BFGS": "^", "IG": "P", "PG": "X"}
_FALLBACK = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000"]


def use_style() -> None:
    """Set matplotlib defaults for the book: readable fonts, white background, modest dpi."""
    import matplotlib as mpl

    mpl.rcParams.update({
        "figure.dpi": 80,
        "savefig.dpi": 80,
        "figure.facecolor": "white",
        "axes.facecolor": "white",
        "savefig.facecolor": "white",
        "font.size": 11,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "legend.framealpha": 0.9,
        "axes.prop_cycle": mpl.cycler(color=_FALLBACK),
    })


def color_of(name: str, index: int = 0) -> str:
    """The colour of a method (by its rule name), or a palette colour by index."""
    return COLORS.get(name, _FALLBACK[index % len(_FALLBACK)])


def loss_landscape(ax, problem: Problem, xlim: Sequence[float], ylim: Sequence[float], *,
                   resolution: int = 121, levels: int = 14, log: bool = True, decades: float = 5.0,
                   cmap: str = "Greys", alpha: float = 0.55):
    r"""Filled contours of :math:`L(x_1, x_2)` (of :math:`\log_{10} L` when ``log``) on a grid.

    With ``log`` only the top ``decades`` orders of magnitude in the window get
    their own shades; lower values share the darkest one.

    Works for any two-parameter problem; returns the contour set.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a companion.Problem, got {type(problem).__name__}")
    xlim, ylim = _window(xlim, "xlim"), _window(ylim, "ylim")
    resolution = check_int(resolution, "resolution", minimum=2)
    if not isinstance(levels, (int, np.integer)) or isinstance(levels, bool):
        levels = as_real_array(levels, "levels")  # explicit contour levels
    decades = check_positive(decades, "decades")
    x1 = np.linspace(*xlim, resolution)
    x2 = np.linspace(*ylim, resolution)
    grid = np.array([[problem.loss_at(np.array([a, b])) for a in x1] for b in x2])
    if log:  # keep the top `decades` of the window: the zero at a minimum would swallow the colour scale
        top = np.log10(max(float(grid.max()), np.finfo(float).tiny))
        values = np.log10(np.maximum(grid, 10.0 ** (top - decades)))
        if isinstance(levels, (int, np.integer)):  # evenly spaced over exactly those decades
            levels = np.linspace(top - decades, top, int(levels) + 1)
    else:
        values = grid
    contour = ax.contourf(x1, x2, values, levels=levels, cmap=cmap, alpha=alpha)
    ax.contour(x1, x2, values, levels=levels, colors="k", linewidths=0.3, alpha=0.5)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal", adjustable="box")
    return contour


def _window(limits, name: str) -> tuple[float, float]:
    """``limits`` as a pair ``(low, high)`` of finite numbers with ``low < high``."""
    pair = as_real_array(limits, name, what="a pair (low, high)")
    if pair.shape != (2,):
        raise ValueError(f"{name} must be a pair (low, high), got an array of shape {pair.shape}")
    check_finite(pair, name)
    if not pair[0] < pair[1]:
        raise ValueError(f"{name} must have low < high, got {tuple(pair)}")
    return float(pair[0]), float(pair[1])


def plot_path(ax, points: np.ndarray, *, label: str, color: str | None = None,
              marker: str = "o", markersize: float = 4, **kwargs):
    """Draw a path of 2-D points (``(k, 2)`` array) with markers at the iterates."""
    points = as_real_array(points, "points")
    if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] == 0:
        raise ValueError(f"points must be a (k, 2) array of 2-D points, got shape {points.shape}")
    color = color or COLORS.get(label, None)
    return ax.plot(points[:, 0], points[:, 1], marker=marker, markersize=markersize,
                   color=color, label=label, **kwargs)


def plot_paths(ax, results: Iterable[MinimizeResult], *, space: str = "x", labels: Sequence[str] | None = None):
    """Draw the paths of several :class:`~companion.MinimizeResult` in ``x`` or ``y`` space."""
    if space not in ("x", "y"):
        raise ValueError(f"space must be 'x' or 'y', got {space!r}")
    for i, result in enumerate(results):
        label = labels[i] if labels is not None else result.rule
        points = result.xs if space == "x" else result.ys
        plot_path(ax, points, label=label, color=color_of(result.rule, i),
                  marker=MARKERS.get(result.rule, "o"))
    ax.legend()


def plot_losses(ax, results: Iterable[MinimizeResult], *, against: str = "iterations",
                labels: Sequence[str] | None = None, floor: float = 1e-30):
    """Loss curves (log scale) against iterations or wall-clock seconds.

    Losses below ``floor`` (an exact zero, say) are drawn at ``floor``.
    """
    if against not in ("iterations", "time"):
        raise ValueError(f"against must be 'iterations' or 'time', got {against!r}")
    for i, result in enumerate(results):
        label = labels[i] if labels is not None else result.rule
        xaxis = np.arange(result.nit + 1) if against == "iterations" else result.times
        ax.semilogy(xaxis, np.maximum(result.losses, floor), label=label, color=color_of(result.rule, i))
    ax.set_xlabel("iteration" if against == "iterations" else "wall-clock [s]")
    ax.set_ylabel("loss $L$")
    ax.legend()
