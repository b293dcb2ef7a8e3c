"""rules.levenberg_marquardt: the damped step's formula, its damping update, scale invariance, failures."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from companion import mgh, minimize, problems, rules
from companion.problems import Problem, reparametrize

from stepping import iterates

SETTINGS = settings(deadline=None, max_examples=30)


def test_the_first_step_solves_the_marquardt_scaled_damped_system():
    """(J^T J + mu diag(J^T J)) dx = -J^T r with mu = damping0 at the first step."""
    item = mgh.case("Osborne 1")
    problem = item.problem()
    x0 = item.x0
    jac, r = item.jacobian(x0), item.residual(x0)
    for damping in (1e-3, 1.0, 10.0):
        a = jac.T @ jac
        expected = np.linalg.solve(a + damping * np.diag(np.diag(a)), -jac.T @ r)
        rule = rules.levenberg_marquardt(damping0=damping)
        state = rule.init(problem, x0)
        dx, new_state = rule.step(problem, x0, state)
        if new_state.rejected == 0:
            np.testing.assert_allclose(dx, expected, rtol=1e-8, atol=1e-12 * np.abs(expected).max())
            assert new_state.accepted == 1


def test_small_damping_gives_gauss_newton_and_large_damping_a_scaled_gradient_step():
    problem = problems.rosenbrock()
    x0 = np.array([0.9, 0.8])  # close enough that the Gauss-Newton trial is accepted
    gn = rules.gauss_newton().first_step(problem, x0)
    lm = rules.levenberg_marquardt(damping0=1e-9).step(problem, x0, rules.LMState(1e-9))[0]
    np.testing.assert_allclose(lm, gn, rtol=1e-6)
    # mu -> inf: dx -> -diag(J^T J)^{-1} J^T r / mu, a diagonally scaled gradient step
    jac = problem.jacobian_at(x0)
    mu = 1e5
    direction = -(jac.T @ (problem.output(x0) - problem.target)) / np.sum(jac * jac, axis=0) / mu
    lm = rules.levenberg_marquardt(damping0=mu).step(problem, x0, rules.LMState(mu))[0]
    np.testing.assert_allclose(lm, direction, rtol=1e-4)


def test_a_rejected_trial_raises_the_damping_and_is_retried_inside_the_step():
    """From far away with tiny damping the Gauss-Newton trial overshoots; LM rejects it and damps more."""
    problem = mgh.case("Jennrich-Sampson").problem()
    x0 = mgh.case("Jennrich-Sampson").x0
    rule = rules.levenberg_marquardt(damping0=1e-9)
    dx, state = rule.step(problem, x0, rule.init(problem, x0))
    assert state.rejected >= 1 and state.accepted == 1
    assert state.damping > 1e-9
    assert problem.loss_at(x0 + dx) < problem.loss_at(x0)
    np.testing.assert_array_equal(state.x, x0 + dx)  # cached: the next step needs no new P(x)


def test_one_simulator_call_per_trial():
    calls = []
    item = mgh.case("Box 3-D")

    def simulator(x):
        calls.append(np.array(x))
        return item.residual(x)

    problem = Problem(simulator, item.jacobian, np.zeros(10))
    rule = rules.levenberg_marquardt()
    x, state = item.x0, rule.init(problem, item.x0)
    for _ in range(5):
        dx, state = rule.step(problem, x, state)
        x = x + dx
    assert len(calls) == 1 + state.accepted + state.rejected


def test_the_damping_update_follows_nielsen():
    """Accepted with gain ratio rho: mu *= max(1/3, 1 - (2 rho - 1)^3); a quadratic model is exact (rho = 1)."""
    problem = problems.linear([[2.0, 1.0], [0.0, 3.0], [1.0, 1.0]], [1.0, 2.0, 3.0])
    rule = rules.levenberg_marquardt(damping0=0.5)
    _, state = rule.step(problem, np.zeros(2), rule.init(problem, np.zeros(2)))
    assert state.damping == pytest.approx(0.5 / 3)


@pytest.mark.parametrize("name, make, x0", [
    ("rosenbrock", problems.rosenbrock, [-1.2, 1.0]),
    ("osborne", lambda: mgh.problem("Osborne 1"), mgh.case("Osborne 1").x0),
    ("brown badly scaled", lambda: mgh.problem("Brown badly scaled"), [1.0, 1.0]),
])
@SETTINGS
@given(data=st.data())
def test_iterates_do_not_depend_on_the_units_of_x(name, make, x0, data):
    problem = make()
    x0 = np.asarray(x0, dtype=float)
    scale = 10.0 ** np.array(data.draw(st.lists(st.floats(-12, 12), min_size=x0.size, max_size=x0.size)))
    original, state = iterates(problem, x0, rules.levenberg_marquardt(), 8)
    rescaled, rescaled_state = iterates(reparametrize(problem, scale), x0 / scale, rules.levenberg_marquardt(), 8)
    np.testing.assert_allclose(rescaled * scale, original, rtol=1e-7, atol=1e-9 * np.abs(original).max())
    assert (rescaled_state.accepted, rescaled_state.rejected) == (state.accepted, state.rejected)


def test_gauss_newton_is_scale_invariant_on_the_badly_scaled_problem_of_the_issue():
    """Issue 14: rescaled by diag(1e3, 1e-3) Gauss-Newton stalled at f = 0.135; unit-free truncation fixes it."""
    item = mgh.case("Powell badly scaled")
    problem = reparametrize(item.problem(), [1e3, 1e-3])
    result = minimize(problem, item.x0 / [1e3, 1e-3], rules.gauss_newton(), steps=60, tol=1e-24)
    assert result.success and result.nit <= 20, result


def test_it_stops_stepping_at_a_solution_and_says_why():
    problem = problems.rosenbrock()
    xs, state = iterates(problem, [-1.2, 1.0], rules.levenberg_marquardt(), 60)
    np.testing.assert_allclose(xs[-1], [1.0, 1.0], atol=1e-10)
    assert state.stopped and "levenberg_marquardt stopped after" in state.describe()
    assert np.all(np.diff(xs[-5:], axis=0) == 0)
    assert rules.LMState(1e-3).describe() == ""


def test_a_wrong_jacobian_ends_with_a_clear_error():
    problem = Problem(lambda x: np.array([x[0] ** 2 - 1.0]), lambda x: np.array([[-2 * x[0]]]), [0.0])
    with pytest.raises(rules.NoAcceptableStepError, match="did not lower the loss.*finite differences"):
        iterates(problem, [3.0], rules.levenberg_marquardt(xtol=0.0, max_tries=10), 3)
    result = minimize(problem, [3.0], rules.levenberg_marquardt(xtol=0.0, max_tries=10), steps=5)
    assert result.status_name == "rule_failed" and "did not lower the loss" in result.message
    # with the default xtol the damped step becomes negligible first: the rule stops and says why
    xs, state = iterates(problem, [3.0], rules.levenberg_marquardt(), 3)
    np.testing.assert_array_equal(xs, 3.0)
    assert "rejected trials" in state.describe() and "wrong Jacobian" in state.describe()


def test_the_driver_runs_it_to_convergence_on_a_general_loss():
    weights = np.diag([1.0, 100.0])
    loss = problems.Loss(lambda y, t: 0.5 * float((y - t) @ weights @ (y - t)), lambda y, t: weights @ (y - t),
                         lambda y, t: weights, "weighted")
    problem = Problem(problems.rosenbrock().simulator, problems.rosenbrock().jacobian, [0.0, 0.0], loss=loss)
    result = minimize(problem, [-1.2, 1.0], rules.levenberg_marquardt(), steps=100, tol=1e-20)
    assert result.success
    np.testing.assert_allclose(result.x, [1.0, 1.0], atol=1e-9)


@pytest.mark.parametrize("kwargs, match", [
    ({"damping0": 0.0}, "damping0"), ({"xtol": 2.0}, "xtol"), ({"max_tries": 0}, "max_tries"),
    ({"eta": -1.0}, "eta"), ({"max_tries": True}, "max_tries"),
])
def test_bad_parameters_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        rules.levenberg_marquardt(**kwargs)
