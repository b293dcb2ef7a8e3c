"""Timing helpers shared by the chapters and the benchmarks."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

__all__ = ["one_blas_thread"]


def _bundled_openblas():
    import ctypes
    import glob
    import os

    folder = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    for path in glob.glob(os.path.join(folder, "*openblas*")):
        try:
            candidate = ctypes.CDLL(path)
        except OSError:  # pragma: no cover - depends on the installation
            continue
        if hasattr(candidate, "scipy_openblas_set_num_threads64_"):
            return candidate
    return None  # pragma: no cover - depends on the installation


@contextmanager
def one_blas_thread():
    """Run the enclosed code with numpy's bundled OpenBLAS limited to one thread (best effort).

    On a machine whose cores are busy with other work, a multi-threaded BLAS
    spends most of a small solve or SVD waiting for its threads, and timings
    measure that wait instead of the arithmetic (a 512 x 30 SVD took 57 ms
    instead of 0.7 ms here).  Yields ``True`` if the thread count was set and
    ``False`` where numpy has no bundled ``scipy_openblas`` library.  The
    ``make`` targets set ``OPENBLAS_NUM_THREADS=1`` for the same reason.

    >>> with one_blas_thread() as limited:
    ...     isinstance(limited, bool)
    True
    """
    library = _bundled_openblas()
    if library is None:  # pragma: no cover - depends on the installation
        yield False
        return
    previous = library.scipy_openblas_get_num_threads64_()
    library.scipy_openblas_set_num_threads64_(1)
    try:
        yield True
    finally:
        library.scipy_openblas_set_num_threads64_(previous)
