"""Kept only for ``tests/test_training.py``, which imports ``weighted_loss`` from here.

The chapter *Inverse simulators* now computes everything in visible cells; the
weighted loss lives in :mod:`companion.losses`.  Once that test imports
:func:`companion.losses.weighted_squared_error`, this module can be deleted.
"""

from ..losses import weighted_squared_error as weighted_loss

__all__ = ["weighted_loss"]
