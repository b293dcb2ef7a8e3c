"""companion: the tested update rules behind the course *Scale-Invariance and Inversion*.

>>> import companion
>>> result = companion.minimize(companion.problems.alpha_scaled(10.0), [1.0, 1.0], companion.rules.pg(), tol=1e-20)
>>> result.nit, result.status_name
(1, 'converged')
"""

from . import errors, linalg, problems, rules
from .driver import MinimizeResult, STATUS, minimize
from .errors import InverseError, MissingCapabilityError, SingularMatrixError
from .problems import Loss, Problem, squared_error

__all__ = [
    "errors",
    "linalg",
    "problems",
    "rules",
    "minimize",
    "MinimizeResult",
    "STATUS",
    "Problem",
    "Loss",
    "squared_error",
    "InverseError",
    "MissingCapabilityError",
    "SingularMatrixError",
]

__version__ = "0.2.0"
