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
import numbers
import textwrap
from pathlib import Path

import numpy as np

__all__ = ["fmt", "Formatted", "show_source", "SourceCode", "results_file", "results_folder"]


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


def _repository_url() -> str:
    """The repository of the installed package (``[project.urls] Repository`` in pyproject.toml)."""
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        entries = metadata("companion").get_all("Project-URL") or []
    except PackageNotFoundError:  # pragma: no cover - companion imported from a source tree
        entries = []
    for entry in entries:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "repository":
            return url.strip().rstrip("/")
    raise LookupError("the installed companion names no repository URL; run from a clone of the course")


def results_file(name: str, folder="../bench_results", *, download=None) -> Path:
    """The path of a committed benchmark result, ``bench_results/<name>``.

    In a clone of the course (local, Binder, CI) it is the file next to ``book/``. Where the
    file is missing (Colab installs only the package), it is downloaded once from the
    release tag of this version of companion, ``<repository>/v<version>/bench_results/``,
    into ``~/.cache/companion/<version>/``.

    >>> results_file("sip.json", folder="bench_results").name
    'sip.json'
    """
    if not isinstance(name, str) or not name or "/" in name or "\\" in name:
        raise ValueError(f"name must be a file name such as 'sip.json', got {name!r}")
    local = Path(folder) / name
    if local.exists():
        return local
    from . import __version__

    cached = Path.home() / ".cache" / "companion" / __version__ / name
    if cached.exists():
        return cached
    url = _repository_url().replace("https://github.com/", "https://raw.githubusercontent.com/")
    url = f"{url}/v{__version__}/bench_results/{name}"
    if download is None:
        from urllib.request import urlretrieve as download
    cached.parent.mkdir(parents=True, exist_ok=True)
    try:
        download(url, str(cached))
    except Exception as exc:  # noqa: BLE001 - any network failure gets the same remedy
        raise FileNotFoundError(
            f"{local} is missing and {url} could not be fetched ({exc}); run the notebook from a clone "
            f"of the course, or regenerate the results with `make bench`"
        ) from exc
    return cached


def results_folder(names, folder="../bench_results", *, download=None) -> Path:
    """A folder holding the benchmark results ``names``: ``folder`` in a clone of the course,
    else the download cache of :func:`results_file`, into which each missing file is fetched.

    >>> results_folder(["sip.json"], folder="bench_results").name
    'bench_results'
    """
    local = Path(folder)
    if local.is_dir():
        return local
    paths = [results_file(name, folder, download=download) for name in names]
    return paths[0].parent
