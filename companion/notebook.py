"""Small helpers for the notebooks.

Numbers in the prose: a Markdown cell writes ``{eval}`fmt(eta, ".3g")``` (a MyST
role). The built book evaluates it while it executes the notebook (myst-nb's inline
mode) and JupyterLab does so after Run All (jupyterlab-myst), so one source serves both.
:func:`fmt` returns text whose ``repr`` has no quotes, so both renderers show ``1.55``,
not ``'1.55'``. Each number a paragraph states is also printed by a nearby cell, so that
readers on Colab, which renders no MyST, see it too.

The code of a rule: :func:`show_source` displays the source of a package function as
a highlighted code block, on the page, in JupyterLab, on Colab and in the PDF alike.
"""

from __future__ import annotations

import inspect
import textwrap
import numbers

import numpy as np

__all__ = ["fmt", "Formatted", "show_source", "SourceCode"]


class Formatted(str):
    """Text that prints as itself: ``repr`` without quotes, for ``{eval}`` in prose."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


def fmt(value, spec: str = ".3g") -> Formatted:
    """``value`` formatted with the format ``spec``, for ``{eval}`fmt(x, ".2f")``` in prose.

    Integers, floats, numpy scalars and strings are accepted; ``spec`` is any format
    specification of the built-in ``format`` (``".3g"``, ``".1%"``, ``","``, ``"d"``).

    >>> fmt(0.019812, ".3g")
    0.0198
    >>> fmt(np.float64(2.5e-7), ".1e")
    2.5e-07
    >>> fmt(12000, ",")
    12,000
    >>> fmt([1, 2])
    Traceback (most recent call last):
    ...
    TypeError: fmt formats one number or string, got list; index it first, e.g. fmt(values[0])
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if not isinstance(value, (numbers.Number, str)):
        raise TypeError(
            f"fmt formats one number or string, got {type(value).__name__}; "
            f"index it first, e.g. fmt(values[0])"
        )
    if not isinstance(spec, str):
        raise TypeError(f"spec must be a format string such as '.3g', got {type(spec).__name__}")
    return Formatted(format(value, spec))


class SourceCode:
    """Python source for display: highlighted HTML in notebooks and on the page, a fenced
    code block (Markdown) for the PDF, and the plain text everywhere else."""

    def __init__(self, source: str):
        self.data = source

    def _repr_html_(self) -> str:
        from IPython.display import Code

        return Code(self.data, language="python")._repr_html_()

    def _repr_markdown_(self) -> str:
        fence = "````" if "```" in self.data else "```"
        return f"{fence}python\n{self.data.rstrip()}\n{fence}\n"

    def __repr__(self) -> str:
        return self.data


def show_source(obj) -> SourceCode:
    """The source code of ``obj`` (a function or class of companion), for display in a notebook.

    Jupyter shows it highlighted (HTML); the PDF gets a Python code block (Markdown);
    a plain console prints the text. Methods are dedented.

    >>> from companion import rules
    >>> print(show_source(rules.gd_direction).data.splitlines()[0])
    def gd_direction(problem: Problem, x) -> np.ndarray:
    >>> show_source(42)
    Traceback (most recent call last):
    ...
    TypeError: show_source needs a function or class, got int
    """
    if not (inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismethod(obj)):
        raise TypeError(f"show_source needs a function or class, got {type(obj).__name__}")
    return SourceCode(textwrap.dedent(inspect.getsource(obj)))
