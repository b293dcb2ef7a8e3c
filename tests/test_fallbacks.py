"""rules.pg(fallback=...): any failure of the inverse hands the step to the fallback, and the state says so."""

import math

import numpy as np
import pytest

from companion import linalg, minimize, problems, rules
from companion.problems import Problem
from companion.rules import PGState

# the failing inverses warn (sqrt of a negative number, 1/0) before they fail: expected here
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _square_with(inverse, target: float = -2.0) -> Problem:
    """y = x^2 with an unreachable target (PG's full step asks for y = -2) and the given inverse."""
    return Problem(lambda x: x ** 2, lambda x: np.diag(2 * x), [target], inverse=inverse, name="square")


def _acos(y, x0):
    return np.array([math.acos(y[0])])


def _zero_division(y, x0):
    return np.array([1.0 / (y[0] - y[0])])


FAILING_INVERSES = {
    "nan (np.sqrt of a negative number)": lambda y, x0: np.sqrt(y),
    "ValueError (math.acos outside [-1, 1])": _acos,
    "ZeroDivisionError": _zero_division,
    "InverseError": problems.scalar_square().inverse,
    "wrong shape": lambda y, x0: np.array([1.0, 2.0]),
    "None": lambda y, x0: None,
    "inf": lambda y, x0: np.array([np.inf]),
}


def test_the_issue_reproducer_ends_at_the_minimum_and_counts_the_fallbacks():
    problem = _square_with(lambda y, x0: np.sqrt(y), target=-1.0)
    rule = rules.pg(fallback=rules.gd(0.1))
    result = minimize(problem, [1.0], rule)
    assert result.status_name in ("max_steps", "converged", "stalled")
    assert abs(result.x[0]) < 1e-6 and abs(result.fun - 0.5) < 1e-12  # the minimum of (x^2 + 1)^2 / 2
    state = rule.init(problem, np.array([1.0]))
    x = np.array([1.0])
    for _ in range(3):
        dx, state = rule.step(problem, x, state)
        x = x + dx
    assert state.fallbacks == 3 and "NonFiniteError" in state.last_error
    assert state.describe().startswith("pg fell back to GD 3 times (last: NonFiniteError: ")


@pytest.mark.parametrize("inverse", FAILING_INVERSES.values(), ids=FAILING_INVERSES.keys())
def test_any_failure_of_the_inverse_takes_the_fallback_step(inverse):
    problem = _square_with(inverse)
    rule = rules.pg(fallback=rules.gd(0.1))
    x0 = np.array([1.0])
    dx, state = rule.step(problem, x0, rule.init(problem, x0))
    np.testing.assert_allclose(dx, rules.gd(0.1).first_step(problem, x0))
    assert state.fallbacks == 1 and state.last_error
    assert "pg fell back to GD once (last: " in state.describe()


@pytest.mark.parametrize("inverse", FAILING_INVERSES.values(), ids=FAILING_INVERSES.keys())
def test_without_a_fallback_the_failure_stops_the_run_with_its_reason(inverse):
    result = minimize(_square_with(inverse), [1.0], rules.pg(), steps=5)
    assert result.status_name in ("rule_failed", "non_finite") and result.nit == 0
    assert np.isfinite(result.fun)


def test_keyboard_interrupt_is_never_caught():
    def interrupted(y, x0):
        raise KeyboardInterrupt

    rule = rules.pg(fallback=rules.gd(0.1))
    problem = _square_with(interrupted)
    with pytest.raises(KeyboardInterrupt):
        rule.step(problem, np.array([1.0]), rule.init(problem, np.array([1.0])))


def test_a_working_inverse_leaves_the_state_clean():
    problem = problems.square_second(target=(1.0, 4.0))
    rule = rules.pg(0.5, fallback=rules.adam(0.1))
    state = rule.init(problem, np.array([3.0, 3.0]))
    dx, after = rule.step(problem, np.array([3.0, 3.0]), state)
    assert after == state and after.describe() == ""
    assert isinstance(after, PGState) and after.fallback_state.t == 0  # Adam did not step


def test_a_stateful_fallback_carries_its_own_state():
    problem = _square_with(_acos)
    rule = rules.pg(fallback=rules.adam(0.1))
    x = np.array([1.0])
    state = rule.init(problem, x)
    for k in range(1, 4):
        dx, state = rule.step(problem, x, state)
        x = x + dx
        assert state.fallback_state.t == k


def test_an_ill_conditioned_jacobian_at_the_start_is_noted_when_asked():
    # unit-free condition number: columns scaled first, so diag(1, 1e-13) is perfectly conditioned
    rtol = linalg.DEFAULT_RTOL
    well = rules.pg(rtol=rtol).init(problems.linear(np.diag([1.0, 1e-13]), [1.0, 1.0]), np.zeros(2))
    assert well.describe() == ""
    matrix = np.array([[1.0, 1.0], [1.0, 1.0 + 1e-14]])
    state = rules.pg(rtol=rtol).init(problems.linear(matrix, [1.0, 1.0]), np.zeros(2))
    assert state.describe().startswith("ill-posed: the unit-free condition number of J at x0 is ")
    deblur = np.array([[1.0, 0.5], [0.5, 0.25 + 1e-5]])
    assert rules.pg(rtol=1e-3).init(problems.linear(deblur, [1.0, 1.0]), np.zeros(2)).describe()
    assert rules.pg(rtol=1e-6).init(problems.linear(deblur, [1.0, 1.0]), np.zeros(2)).describe() == ""
    # by default PG calls no Jacobian at all
    problem = problems.linear(matrix, [1.0, 1.0])
    minimize(problem, np.zeros(2), rules.pg(), steps=2)
    assert problem.calls["jacobian"] == 0


def test_pg_refuses_a_foreign_state():
    rule = rules.pg()
    with pytest.raises(TypeError, match="state of PG must be the PGState"):
        rule.step(problems.scalar_square(), np.array([1.0]), None)
