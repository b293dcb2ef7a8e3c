"""Test helper: step a rule by hand, without the driver, so that its state stays visible."""

import numpy as np


def iterates(problem, x0, rule, steps):
    """The iterates (one row each, the start first) and the final state of ``steps`` steps of ``rule``."""
    x = np.asarray(x0, dtype=float)
    state = rule.init(problem, x)
    xs = [x]
    for _ in range(steps):
        dx, state = rule.step(problem, x, state)
        x = x + dx
        xs.append(x)
    return np.array(xs), state
