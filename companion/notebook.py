"""Small helpers for the notebooks.

``glue`` stores a value for the book's prose (myst-nb); where myst-nb is not
installed (Colab, a bare Jupyter) it does nothing, so notebooks run anywhere.
"""

from __future__ import annotations

import numpy as np

__all__ = ["glue"]


def glue(name: str, value, display: bool = False):
    """Glue ``value`` under ``name`` for ``{glue:text}`name``` in Markdown; a no-op without myst-nb.

    >>> glue("example", 3) is None
    True
    """
    if not isinstance(name, str) or not name:
        raise TypeError("name must be a non-empty string")
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return None
    if get_ipython() is None:  # plain Python (tests, doctests): nothing to glue into
        return None
    if isinstance(value, np.generic):  # myst-nb cannot format np.float64(...) reprs
        value = value.item()
    myst_glue(name, value, display=display)
    return None
