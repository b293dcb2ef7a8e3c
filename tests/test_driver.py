"""companion.driver.minimize: every status from a real scenario, the recorded history, bad inputs."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from companion import STATUS, minimize, problems, rules
from companion.problems import Problem
from companion.rules import Rule
from companion.errors import ShapeError

SETTINGS = settings(deadline=None, max_examples=60)


def check_result(problem, x0, result):
    """The invariants every result satisfies, whatever the status."""
    assert result.status in STATUS and result.status_name == STATUS[result.status]
    assert result.message
    assert len(result.xs) == len(result.ys) == len(result.losses) == len(result.times) == result.nit + 1
    np.testing.assert_array_equal(result.xs[0], np.asarray(x0, dtype=float))
    np.testing.assert_array_equal(result.x, result.xs[-1])
    for array in (result.xs, result.ys, result.losses, result.times):
        assert np.all(np.isfinite(array)), "a NaN or inf was recorded"
    for x, y, loss in zip(result.xs, result.ys, result.losses):
        np.testing.assert_allclose(y, problem.output(x), rtol=1e-14, atol=0)
        assert loss == pytest.approx(problem.loss_of_output(y), rel=1e-14, abs=0)
    assert np.all(np.diff(result.times) >= 0) and result.times[0] == 0.0
    assert result.fun == result.losses[-1]
    assert result.success == (result.status == 0)
    assert result.steps().shape == (result.nit, len(result.x))
    assert result.rule and str(result.status) in repr(result)


# --------------------------------------------------------------------------- statuses 0..6
def test_status_0_converged():
    p = problems.alpha_scaled(100.0)
    result = minimize(p, [1.0, 1.0], rules.newton(), tol=1e-12)
    check_result(p, [1.0, 1.0], result)
    assert (result.status, result.nit, result.success) == (0, 1, True)
    assert "after 1 steps" in result.message
    # a start that already meets the tolerance takes no step
    at_start = minimize(p, [0.0, 0.0], rules.gd(0.1), tol=0.0)
    assert (at_start.status, at_start.nit) == (0, 0) and "at the start" in at_start.message


def test_status_1_max_steps():
    p = problems.rosenbrock()
    result = minimize(p, [-1.2, 1.0], rules.gd(1e-3), steps=7)
    check_result(p, [-1.2, 1.0], result)
    assert (result.status, result.nit) == (1, 7)
    assert result.status_name == "max_steps" and "7 steps" in result.message
    # steps=0 is allowed: nothing happens
    assert minimize(p, [-1.2, 1.0], rules.gd(1e-3), steps=0).nit == 0


def test_status_2_simulator_produces_inf():
    """GD jumps to x = 5, where this simulator overflows to inf."""
    p = Problem(lambda x: np.where(x < 2.0, x, np.inf), lambda x: np.eye(1), [5.0], name="walled")
    result = minimize(p, [0.0], rules.gd(1.0), steps=10)
    check_result(p, [0.0], result)
    assert (result.status, result.nit) == (2, 0)
    assert result.message == (
        "the simulator of 'walled' returned a non-finite output at a finite x at step 1; "
        "the step may have left the simulator's domain (reduce eta), or the simulator overflows there")


def test_status_2_from_exponential_overflow():
    p = problems.exponential(1.0)
    result = minimize(p, [-700.0], rules.ig(1.0), steps=10)  # dx = (1 - e^-700) / e^-700 ~ 1e304
    check_result(p, [-700.0], result)
    assert (result.status, result.nit) == (2, 0)
    assert "non-finite output at a finite x at step 1" in result.message and "reduce eta" in result.message


def test_an_infinite_loss_at_the_start_is_an_error():
    with pytest.raises(ValueError, match=r"loss of 'y = exp\(x\)' at x0 is inf"):
        with np.errstate(over="ignore"):
            minimize(problems.exponential(1e300), [700.0], rules.ig())


def test_status_2_step_becomes_non_finite():
    """A rule whose step overflows is stopped before the step is taken."""
    p = problems.alpha_scaled(1.0)
    rule = Rule("overflowing", lambda problem, x0: None, lambda problem, x, state: (x * 1e308 * 10, state), 1.0)
    result = minimize(p, [1.0, 1.0], rule, steps=5)
    check_result(p, [1.0, 1.0], result)
    assert result.status == 2 and "step of overflowing became non-finite at step 1" in result.message


def test_status_3_diverged():
    p = problems.alpha_scaled(100.0)
    result = minimize(p, [1.0, 1.0], rules.gd(0.1), steps=50)
    check_result(p, [1.0, 1.0], result)
    assert result.status == 3 and result.status_name == "diverged"
    assert result.message == "loss grew from 5000.5 to 4.98e+15 (more than 1e+08 times) at step 2; reduce eta"
    assert result.losses[-1] > 1e8 * result.losses[0]
    assert np.all(result.losses[:-1] <= 1e8 * result.losses[0])
    # blowup sets the threshold
    lenient = minimize(p, [1.0, 1.0], rules.gd(0.1), steps=3, blowup=1e30)
    assert lenient.status == 1


def test_status_4_rule_failed():
    p = problems.square_second()
    result = minimize(p, [1.0, 0.0], rules.newton(), steps=5)  # singular Hessian at x2 = 0
    check_result(p, [1.0, 0.0], result)
    assert result.status == 4 and result.nit == 0
    assert result.message.startswith("Newton failed at step 1: ") and "singular" in result.message
    no_preimage = minimize(problems.scalar_square(-1.0), [1.0], rules.pg(1.0))
    assert no_preimage.status == 4 and "no real root" in no_preimage.message


def test_status_5_callback():
    seen = []

    def callback(iterate):
        seen.append((iterate.nit, iterate.x.copy(), iterate.loss))
        return iterate.nit == 3

    p = problems.rosenbrock()
    result = minimize(p, [-1.2, 1.0], rules.gd(1e-3), steps=100, callback=callback)
    check_result(p, [-1.2, 1.0], result)
    assert (result.status, result.nit) == (5, 3) and "callback at step 3" in result.message
    assert [k for k, _, _ in seen] == [1, 2, 3]
    for k, x, loss in seen:
        np.testing.assert_array_equal(x, result.xs[k])
        assert loss == result.losses[k]
    # a callback returning None or False never stops the run
    assert minimize(p, [-1.2, 1.0], rules.gd(1e-3), steps=4, callback=lambda it: None).status == 1
    assert minimize(p, [-1.2, 1.0], rules.gd(1e-3), steps=4, callback=lambda it: False).status == 1


def test_status_6_time_budget():
    p = problems.rosenbrock()
    result = minimize(p, [-1.2, 1.0], rules.gd(1e-3), steps=1000, max_time=1e-12)
    check_result(p, [-1.2, 1.0], result)
    assert (result.status, result.nit) == (6, 1) and "time budget" in result.message


def test_every_status_has_a_scenario():
    assert set(STATUS) == set(range(9))


# --------------------------------------------------------------------------- history
def test_history_entries_are_copies_even_if_the_rule_mutates_x():
    seen = []

    def step(problem, x, state):
        seen.append(x.copy())
        x *= 0.5  # mutates the driver's current point in place
        x[0] = -7.0
        return -0.1 * np.ones_like(x), state

    rule = Rule("mutating", lambda problem, x0: None, step, 1.0)
    p = problems.alpha_scaled(2.0)
    x0 = np.array([1.0, 1.0])
    result = minimize(p, x0, rule, steps=4)
    np.testing.assert_array_equal(x0, [1.0, 1.0])  # the caller's array is not touched
    assert result.nit == 4
    np.testing.assert_array_equal(result.xs[0], [1.0, 1.0])
    # each stored point is the point as it was when it was reached
    np.testing.assert_array_equal(result.xs[:-1], np.array(seen))
    for x, y in zip(result.xs, result.ys):
        np.testing.assert_array_equal(y, p.output(x))


def test_history_is_not_shared_with_the_result_or_the_callback():
    def callback(iterate):
        iterate.x[:] = 1e6
        iterate.y[:] = 1e6

    p = problems.alpha_scaled(2.0)
    result = minimize(p, [1.0, 1.0], rules.gd(0.1), steps=3, callback=callback)
    check_result(p, [1.0, 1.0], result)
    # the callback's scribbling changed nothing
    np.testing.assert_array_equal(result.xs, minimize(p, [1.0, 1.0], rules.gd(0.1), steps=3).xs)
    result.x[:] = -1.0
    assert result.xs[-1][0] != -1.0


ALL_RULES = [
    lambda eta: rules.gd(eta), lambda eta: rules.adam(eta), lambda eta: rules.newton(eta),
    lambda eta: rules.gauss_newton(eta), lambda eta: rules.ig(eta, rtol=1e-8),
    lambda eta: rules.pg(eta, fallback=rules.gd(eta)), lambda eta: rules.pg(eta),
    lambda eta: rules.bfgs(eta, line_search=False), lambda eta: rules.bfgs(),
]
ALL_PROBLEMS = [
    (problems.alpha_scaled(30.0, target=(1.0, -1.0)), 2), (problems.square_second(target=(1.0, -0.5)), 2),
    (problems.square_second(target=(1.0, 2.0)), 2), (problems.scalar_square(2.0), 1), (problems.exponential(3.0), 1),
]


@SETTINGS
@given(st.sampled_from(range(len(ALL_RULES))), st.sampled_from(range(len(ALL_PROBLEMS))),
       st.floats(-3, 1).map(lambda e: 10.0**e), st.lists(st.floats(-5, 5), min_size=2, max_size=2),
       st.integers(0, 30), st.sampled_from([0.0, 1e-10]))
def test_invariants_hold_for_every_rule_and_problem(rule_index, problem_index, eta, start, steps, tol):
    problem, n = ALL_PROBLEMS[problem_index]
    x0 = start[:n]
    with np.errstate(all="ignore"):
        result = minimize(problem, x0, ALL_RULES[rule_index](eta), steps=steps, tol=tol, blowup=1e6)
    check_result(problem, x0, result)
    assert result.nit <= steps
    if result.status == 0:
        assert result.fun <= tol
    if result.status == 1:
        assert result.nit == steps


# --------------------------------------------------------------------------- bad inputs
def _user_problem(**overrides):
    pieces = dict(simulator=lambda x: np.array([x[0], 2 * x[1]]), jacobian=lambda x: np.diag([1.0, 2.0]),
                  target=[1.0, 1.0], name="user toy")
    pieces.update(overrides)
    return Problem(**pieces)


@pytest.mark.parametrize("x0, error, match", [
    ([[1.0, 2.0]], ValueError, r"x0 must be a 1-D vector, got an array of shape \(1, 2\)"),
    ([], ValueError, "x0 is empty"),
    ([np.nan, 1.0], ValueError, "x0 contains 1 non-finite"),
    ([np.inf, -np.inf], ValueError, "x0 contains 2 non-finite"),
    ("1, 2", TypeError, "x0 must be an array of numbers"),
    (None, TypeError, "x0 must be an array of numbers"),
    ([1.0, "a"], TypeError, "x0 must be an array of real numbers"),
])
def test_bad_x0(x0, error, match):
    with pytest.raises(error, match=match):
        minimize(_user_problem(), x0, rules.gd(0.1))


def test_x0_of_the_wrong_length():
    # too short: the simulator cannot index it
    with pytest.raises(ValueError, match=r"simulator of 'Rosenbrock' failed on an x with 1 component.*right length"):
        minimize(problems.rosenbrock(), [1.0], rules.gd(0.1))
    # too long: the first user function whose output shape depends on n names it, and the
    # ShapeError propagates (a programming error, not a numerical failure to report in a status)
    with pytest.raises(ShapeError, match=r"jacobian of 'Rosenbrock' returned shape \(2, 2\), expected \(2, 3\)"):
        minimize(problems.rosenbrock(), [1.0, 2.0, 3.0], rules.gd(0.1))
    # an inverse that cannot deliver an x of that length is a failed inverse (a rule may fall back)
    result = minimize(problems.square_second(), [1.0, 2.0, 3.0], rules.pg())
    assert result.status == 4 and "inverse of 'y = (x1, x2^2)' returned shape (2,), expected (3,)" in result.message


def test_lists_and_integers_are_accepted():
    result = minimize(_user_problem(target=[1, 1]), [3, 4], rules.gd(0.25), steps=2)
    assert result.xs.dtype == float and result.nit == 2
    scalar = minimize(problems.scalar_square(4.0), 3.0, rules.pg(), tol=1e-20)
    assert scalar.x.shape == (1,) and scalar.x[0] == pytest.approx(2.0)


def test_user_functions_with_wrong_shapes_or_values_are_named():
    with pytest.raises(ValueError, match=r"simulator of 'user toy' returned shape \(3,\)"):
        minimize(_user_problem(simulator=lambda x: np.zeros(3)), [1.0, 1.0], rules.gd(0.1))
    with pytest.raises(ValueError, match="output of the simulator of 'user toy' contains 1 non-finite"):
        minimize(_user_problem(simulator=lambda x: np.array([np.nan, 1.0])), [1.0, 1.0], rules.gd(0.1))
    with pytest.raises(ValueError, match="target contains 1 non-finite"):
        _user_problem(target=[np.inf, 1.0])
    # a wrong Jacobian is met inside a step: it raises like a wrong simulator output does
    with pytest.raises(ShapeError, match=r"jacobian of 'user toy' returned shape \(2, 3\), expected \(2, 2\)"):
        minimize(_user_problem(jacobian=lambda x: np.ones((2, 3))), [1.0, 1.0], rules.gd(0.1))
    # a simulator that turns NaN later is caught as non-finite, never recorded
    later = _user_problem(simulator=lambda x: np.array([x[0], 2 * x[1]]) if x[0] < 1.5 else np.array([np.nan, 0.0]),
                          target=[3.0, 0.0])
    result = minimize(later, [0.0, 0.0], rules.gd(0.4), steps=10)
    check_result(later, [0.0, 0.0], result)
    assert (result.status, result.nit) == (2, 1) and "simulator of 'user toy' returned a non-finite output at a finite x at step 2" in result.message


def test_a_rule_returning_a_step_of_the_wrong_shape():
    rule = Rule("sloppy", lambda problem, x0: None, lambda problem, x, state: (np.zeros(3), state), 1.0)
    result = minimize(_user_problem(), [1.0, 1.0], rule)
    assert result.status == 4 and "sloppy returned a step of shape (3,), expected (2,)" in result.message


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(steps=-1), ValueError, "steps must be at least 0"),
    (dict(steps=2.5), TypeError, "steps must be an integer"),
    (dict(steps=True), TypeError, "steps must be an integer"),
    (dict(tol=-1.0), ValueError, "tol must be a finite number >= 0"),
    (dict(tol=float("nan")), ValueError, "tol must be a finite number >= 0"),
    (dict(tol="0"), ValueError, "tol must be a finite number >= 0"),
    (dict(tol=True), ValueError, "tol must be a finite number >= 0"),
    (dict(blowup=0.0), ValueError, "blowup must be positive"),
    (dict(max_time=-1.0), ValueError, "max_time must be positive"),
    (dict(callback=3), TypeError, "callback must be callable"),
])
def test_bad_driver_options_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        minimize(problems.rosenbrock(), [0.0, 0.0], rules.gd(0.1), **kwargs)


def test_bad_problem_or_rule_types():
    with pytest.raises(TypeError, match="problem must be a companion.Problem"):
        minimize(lambda x: x, [0.0], rules.gd(0.1))
    with pytest.raises(TypeError, match=r"rule must be a companion.rules.Rule such as rules.gd\(0.1\)"):
        minimize(problems.rosenbrock(), [0.0, 0.0], rules.gd)


# --------------------------------------------------------------------------- stalled, rtol, callbacks, state, calls
def _identity_problem(target=0.0, **overrides):
    """y = x in one dimension, so L = (x - target)^2 / 2."""
    pieces = dict(simulator=lambda x: x.copy(), jacobian=lambda x: np.eye(1), target=[target], name="identity")
    pieces.update(overrides)
    return Problem(**pieces)


def test_status_7_stalled_at_a_zero_step_of_newton_where_the_jacobian_vanishes():
    """y = (x1, x2^2) with x2 = 0: J has a zero column, Newton's step in x2 is zero for ever."""
    p = problems.square_second(target=(1.0, -0.5))
    result = minimize(p, [3.0, 0.0], rules.newton(), steps=500)
    check_result(p, [3.0, 0.0], result)
    assert (result.status, result.status_name, result.nit) == (7, "stalled", 1)
    assert result.message == ("stalled at step 2 at loss 0.125: the step (largest component 0) does not change x "
                              "(a fixed point of Newton, a zero derivative, or a step size below rounding)")
    assert result.fun == pytest.approx(0.125)  # the saddle's loss: stalled, not converged
    # a relative xtol stops it too, and says so
    relative = minimize(p, [3.0, 0.0], rules.newton(), steps=500, xtol=1e-12)
    assert relative.status == 7 and "below xtol 1e-12 relative to it" in relative.message


def test_a_step_below_rounding_stalls_and_a_converging_run_does_not():
    p = problems.alpha_scaled(1.0)
    tiny = minimize(p, [1.0, 1.0], rules.gd(1e-17), steps=10)
    assert (tiny.status, tiny.nit) == (7, 0) and "does not change x" in tiny.message
    # a step of 1e-17 on x = 0.1 does move x (its spacing there is 1.4e-17): not stalled
    assert minimize(p, [0.1, 0.1], rules.gd(1e-16), steps=3).status == 1
    # a larger xtol stops earlier: a step of 1e-3 relative is below xtol = 1e-2
    assert minimize(p, [1.0, 1.0], rules.gd(1e-3), steps=10, xtol=1e-2).status == 7
    assert minimize(p, [1.0, 1.0], rules.gd(1e-3), steps=10, xtol=1e-4).status == 1
    # GD halving x every step keeps going, down to the smallest numbers
    converging = minimize(p, [1.0, 1e-20], rules.gd(0.5), steps=60)
    assert (converging.status, converging.nit) == (1, 60)
    assert minimize(p, [1e-150, 1e-150], rules.gd(0.5), steps=20).status == 1  # down to x = 1e-156
    # per component: a large x1 does not hide a moving small x2
    scaled = Problem(lambda x: np.array([x[0] - 1e10, 1e3 * x[1]]), lambda x: np.diag([1.0, 1e3]), [0.0, 0.0])
    moving = minimize(scaled, [1e10, 1e-3], rules.gauss_newton(0.5), steps=20)
    assert (moving.status, moving.nit) == (1, 20)


def test_patience_stops_a_run_whose_loss_no_longer_decreases():
    """GD with eta = 2 on L = x^2/2 flips x to -x: the loss never changes."""
    p = _identity_problem()
    stalled = minimize(p, [1.0], rules.gd(2.0), steps=100, patience=5)
    check_result(p, [1.0], stalled)
    assert (stalled.status, stalled.nit) == (7, 5)
    assert stalled.message == "stalled at step 5: the loss has not gone below 0.5 for 5 steps (patience)"
    assert minimize(p, [1.0], rules.gd(2.0), steps=100).status == 1  # patience is off by default
    # a decrease resets the count: GD with eta = 0.5 never stalls
    assert minimize(p, [1.0], rules.gd(0.5), steps=30, patience=1).status == 1
    with pytest.raises(ValueError, match="patience must be at least 1"):
        minimize(p, [1.0], rules.gd(0.5), patience=0)


def test_rtol_is_relative_to_the_starting_loss_and_the_larger_threshold_wins():
    p = _identity_problem()
    run = minimize(p, [1.0], rules.gd(0.5), steps=100, rtol=1e-4)  # L_k = 0.5 * 0.25^k
    assert (run.status, run.nit) == (0, 7) and run.fun <= 1e-4 * run.losses[0] < run.losses[-2]
    assert run.message == "loss 3.05e-05 <= rtol 0.0001 x L(x0) = 5e-05 after 7 steps"
    # the absolute tolerance is larger here, so it decides
    both = minimize(p, [1.0], rules.gd(0.5), steps=100, rtol=1e-4, tol=1e-2)
    assert both.nit == 3 and "<= tol 0.01" in both.message
    # the same run with the loss in other units stops at the same step with rtol, not with tol
    scaled = _identity_problem(loss=problems.squared_error(1e6))
    assert minimize(scaled, [1.0], rules.gauss_newton(0.5), steps=100, rtol=1e-4).nit == 7
    assert minimize(scaled, [1.0], rules.gauss_newton(0.5), steps=100, tol=5e-5).nit > 7
    assert minimize(p, [1.0], rules.gd(0.5), rtol=1.0).nit == 0
    for bad in (-1.0, float("inf"), "1", True):
        with pytest.raises(ValueError, match="rtol must be a finite number >= 0"):
            minimize(p, [1.0], rules.gd(0.5), rtol=bad)


def test_status_8_a_raising_callback_keeps_the_history():
    def callback(iterate):
        if iterate.nit == 3:
            raise ZeroDivisionError("division by zero in my plot")

    p = problems.rosenbrock()
    result = minimize(p, [-1.2, 1.0], rules.gd(1e-3), steps=100, callback=callback)
    check_result(p, [-1.2, 1.0], result)
    assert (result.status, result.status_name, result.nit) == (8, "callback_failed", 3)
    assert result.message == "the callback raised ZeroDivisionError at step 3: division by zero in my plot"
    np.testing.assert_array_equal(result.xs, minimize(p, [-1.2, 1.0], rules.gd(1e-3), steps=3).xs)


def test_keyboard_interrupt_in_the_callback_is_not_swallowed():
    def callback(iterate):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        minimize(problems.rosenbrock(), [-1.2, 1.0], rules.gd(1e-3), callback=callback)


def test_a_nan_loss_at_a_finite_output_stops_with_a_status_and_no_nan():
    """The loss (not the simulator, not the step) turns NaN once x passes 0.5."""
    sq = problems.squared_error()
    loss = problems.Loss(lambda y, t: sq.value(y, t) if y[0] < 0.5 else float("nan"), sq.gradient, sq.hessian,
                         "fragile")
    p = _identity_problem(target=1.0, loss=loss)
    result = minimize(p, [0.0], rules.gd(0.3), steps=10)
    assert (result.status, result.nit) == (2, 1)
    assert result.message == ("the loss 'fragile' returned nan (non-finite) at a finite output at step 2; "
                              "check the loss function")
    for array in (result.xs, result.ys, result.losses, result.times):
        assert np.all(np.isfinite(array))
    assert np.isfinite(result.fun) and result.x[0] == pytest.approx(0.3)
    # a loss that overflows is told apart from a NaN
    huge = problems.Loss(lambda y, t: sq.value(y, t) if y[0] < 0.5 else float("inf"), sq.gradient, sq.hessian)
    overflow = minimize(_identity_problem(target=1.0, loss=huge), [0.0], rules.gd(0.3), steps=10)
    assert overflow.status == 2 and "non-finite (overflow) at step 2" in overflow.message


def test_a_step_that_overflows_x_is_told_apart_from_a_bad_simulator():
    rule = Rule("doubling", lambda problem, x0: None, lambda problem, x, state: (x.copy(), state), 1.0)
    flat = _identity_problem(1.0, simulator=lambda x: np.zeros(1), jacobian=lambda x: np.zeros((1, 1)))
    result = minimize(flat, [1e308], rule, steps=3)
    assert (result.status, result.nit) == (2, 0)
    assert result.message == "x became non-finite at step 1 (the step overflowed); reduce eta"


class _Described:
    """A rule state that reports on itself, like the states of pg, ig, newton and gauss_newton."""

    def __init__(self, count, text):
        self.count, self.text = count, text

    def describe(self):
        return self.text


def _counting_rule(text):
    return Rule("counting", lambda problem, x0: _Described(0, text),
                lambda problem, x, state: (-0.5 * x, _Described(state.count + 1, text)), 0.5)


def test_the_result_keeps_the_rules_final_state_and_its_description():
    p = _identity_problem()
    result = minimize(p, [1.0], _counting_rule("dropped 1 of 2 modes (condition number 3e+04)"), steps=4)
    assert result.state.count == 4
    assert result.message == "reached the maximum of 4 steps; dropped 1 of 2 modes (condition number 3e+04)"
    assert minimize(p, [1.0], _counting_rule(""), steps=4).message == "reached the maximum of 4 steps"
    # a state without describe() leaves the message alone; a stateless rule's state is None
    assert minimize(p, [1.0], rules.gd(0.5), steps=2).state is None
    bfgs = minimize(problems.rosenbrock(), [-1.2, 1.0], rules.bfgs(), steps=3)
    assert bfgs.state is not None and bfgs.message == "reached the maximum of 3 steps"


class _CountedProblem(Problem):
    """A Problem whose ``calls`` property counts the calls of its simulator and Jacobian."""

    @property
    def calls(self):
        return dict(self._counter)


def _counted(counter):
    def simulator(x):
        counter["simulator"] += 1
        return x.copy()

    def jacobian(x):
        counter["jacobian"] += 1
        return np.eye(x.size)

    p = _CountedProblem(simulator, jacobian, [0.0, 0.0], name="counted")
    object.__setattr__(p, "_counter", counter)
    return p


def test_calls_are_the_difference_of_problem_calls_over_the_run():
    counter = {"simulator": 0, "jacobian": 0, "vjp": 0, "hessian": 0, "inverse": 0}
    p = _counted(counter)
    p.output(np.ones(2)), p.jacobian_at(np.ones(2))  # calls before the run are not the run's
    before = dict(counter)
    result = minimize(p, [1.0, 1.0], rules.gd(0.25), steps=5)
    during = {key: counter[key] - before[key] for key in counter}
    assert result.calls == during
    # x0 was evaluated before the run: the problem's cache saves that call
    assert result.nfev == during["simulator"] >= result.nit
    # J(x0) too was computed before the run and is reused from the cache
    assert during["jacobian"] == result.nit - 1 and during["inverse"] == 0


def test_calls_of_a_plain_problem():
    """None until Problem counts its calls; then the run's share of problem.calls."""
    p = problems.alpha_scaled(3.0)
    result = minimize(p, [1.0, 1.0], rules.gd(0.05), steps=4)
    if not hasattr(p, "calls"):
        assert result.calls is None and result.nfev is None
        return
    assert set(result.calls) >= {"simulator", "jacobian", "vjp", "hessian", "inverse"}
    assert all(isinstance(v, int) and v >= 0 for v in result.calls.values())
    assert result.nfev == result.calls["simulator"] >= result.nit + 1
    assert result.calls["inverse"] == result.calls["hessian"] == 0
    again = minimize(p, [1.0, 1.0], rules.gd(0.05), steps=4)
    assert again.calls == result.calls  # counted per run, not since the problem was made


def test_a_wrongly_shaped_jacobian_raises_mid_run_like_the_simulator():
    """A Jacobian of the wrong shape is a programming error: minimize raises, it does not end the run quietly."""
    from companion.errors import ShapeError

    calls = []

    def jacobian(x):
        calls.append(1)
        return np.eye(2) if len(calls) < 3 else np.eye(3)

    problem = Problem(lambda x: 2.0 * x, jacobian, target=[1.0, 1.0])
    with pytest.raises(ShapeError, match="shape"):
        minimize(problem, [0.0, 0.0], rules.gd(0.1), steps=10)
    with pytest.raises(ShapeError, match="shape"):
        minimize(Problem(lambda x: np.r_[x, 0.0], None, target=[1.0, 1.0]), [0.0, 0.0], rules.gd(0.1))
