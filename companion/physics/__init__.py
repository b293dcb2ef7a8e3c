r"""Physical simulators for the course: heat diffusion and a pendulum chain.

Both come as :class:`~companion.problems.Problem` factories with Jacobians and
inverse simulators, so that every update rule in :mod:`companion.rules` can be
run on them:

* :mod:`~companion.physics.heat` -- the 1D heat equation on a periodic grid,
  solved exactly in Fourier space; linear, with an exponentially
  ill-conditioned inverse that has to be regularised
  (:func:`heat_problem`).
* :mod:`~companion.physics.oscillators` -- a chain of nonlinear pendulums
  integrated with the symplectic, time-reversible leapfrog scheme; its
  reversed run is a global inverse (:func:`pendulum_chain_problem`).

>>> from companion import minimize, rules
>>> from companion.physics import heat_problem, heat_operator, grid
>>> x_true = np.sin(2 * np.pi * grid(8))
>>> problem = heat_problem(8, 1e-3, heat_operator(8, 1e-3).apply(x_true))
>>> minimize(problem, np.zeros(8), rules.pg(), tol=1e-20).nit
1
"""

import numpy as np  # noqa: F401  (used by the doctest above)

from . import heat, oscillators
from .heat import HeatOperator, add_noise, grid, heat_operator, heat_problem, random_boxes
from .oscillators import (
    BOUNDARIES,
    energy,
    leapfrog,
    leapfrog_jacobian,
    leapfrog_tangent,
    leapfrog_vjp,
    pendulum_chain_problem,
    symplectic_form,
)

__all__ = [
    "heat",
    "oscillators",
    "HeatOperator",
    "heat_operator",
    "heat_problem",
    "random_boxes",
    "add_noise",
    "grid",
    "BOUNDARIES",
    "leapfrog",
    "leapfrog_tangent",
    "leapfrog_jacobian",
    "leapfrog_vjp",
    "energy",
    "symplectic_form",
    "pendulum_chain_problem",
]
