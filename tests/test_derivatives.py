"""companion.derivatives and Problem(simulator, None, target): finite-difference derivatives on demand.

Every difference formula is checked against the analytic derivatives of the package's
problems; the complex-step test against simulators that accept complex input wrongly;
the call counts against what the formulas cost.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from companion import derivatives, minimize, problems, rules
from companion.errors import ShapeError
from companion.physics.heat import heat_operator, heat_problem
from companion.physics.oscillators import leapfrog, pendulum_chain_problem
from companion.problems import Problem, reparametrize

SETTINGS = settings(deadline=None, max_examples=40)
coordinate = st.floats(-3.0, 3.0, allow_nan=False)


def numerical(problem: Problem, differences: str = "auto") -> Problem:
    """The same problem without any hand-written derivative."""
    return Problem(problem.simulator, None, problem.target, problem.loss, name=problem.name,
                   differences=differences)


def relative_error(approximate, exact) -> float:
    return float(np.max(np.abs(approximate - exact)) / max(np.max(np.abs(exact)), 1e-300))


# the accuracy each formula must reach on smooth problems (error O(sqrt eps), O(eps^2/3), O(eps))
ACCURACY = {"forward": 1e-6, "central": 1e-9, "complex": 1e-13}


# --------------------------------------------------------------------------- Jacobian
@pytest.mark.parametrize("method", derivatives.METHODS)
@pytest.mark.parametrize("make", [lambda: problems.alpha_scaled(1e3), problems.rosenbrock,
                                  problems.exponential, problems.square_second])
@SETTINGS
@given(data=st.data())
def test_difference_jacobian_matches_the_analytic_one(make, method, data):
    problem = make()
    size = 1 if problem.output_size == 1 else 2
    x = np.array(data.draw(st.lists(coordinate, min_size=size, max_size=size)))
    approximate = numerical(problem, method).jacobian_at(x)
    exact = problem.jacobian_at(x)
    assert np.max(np.abs(approximate - exact)) <= ACCURACY[method] * (1 + np.max(np.abs(exact)))


def test_difference_jacobian_of_the_physics_problems():
    x_true = np.cos(2 * np.pi * np.arange(8) / 8)
    heat = heat_problem(8, 1e-3, heat_operator(8, 1e-3).apply(x_true))
    target = leapfrog([0.4, -0.2, 0.1, 0.3], dt=0.1, steps=20)
    chain = pendulum_chain_problem(2, dt=0.1, steps=20, target=target)
    x = np.linspace(-0.5, 0.5, 8)
    # the FFT of real data (rfft) drops an imaginary part: "auto" must notice and use real differences
    assert not derivatives.supports_complex_step(heat.simulator, x, heat.simulator(x))
    assert relative_error(numerical(heat).jacobian_at(x), heat.jacobian_at(x)) < ACCURACY["forward"]
    assert relative_error(numerical(heat, "central").jacobian_at(x), heat.jacobian_at(x)) < ACCURACY["central"]
    x = np.array([0.3, -0.1, 0.2, 0.1])
    assert relative_error(numerical(chain, "central").jacobian_at(x), chain.jacobian_at(x)) < 1e-8


def test_steps_are_relative_so_large_coordinates_keep_their_accuracy():
    # P(x) = x^3 at x = 1e8: an absolute step of 1e-8 would vanish in x + h (or be pure rounding)
    x = np.array([1e8])
    forward = derivatives.jacobian(lambda x: x ** 3, x, x ** 3, method="forward")
    assert relative_error(forward, 3 * x ** 2) < 1e-6
    steps = derivatives.relative_steps(np.array([0.0, 1e-3, 5e4]), "central", typical_x=[1e-3, 1e-3, 1.0])
    np.testing.assert_allclose(steps, np.finfo(float).eps ** (1 / 3) * np.array([1e-3, 1e-3, 5e4]), rtol=1e-6)


# --------------------------------------------------------------------------- Hessian
@pytest.mark.parametrize("make", [problems.rosenbrock, problems.exponential, problems.square_second,
                                  lambda: problems.alpha_scaled(10.0, target=(1.0, 2.0))])
@pytest.mark.parametrize("differences", ["forward", "auto"])
@SETTINGS
@given(data=st.data())
def test_difference_hessian_matches_the_analytic_one(make, differences, data):
    problem = make().with_target(np.full(make().output_size, 0.5))
    size = 1 if problem.output_size == 1 else 2
    x = np.array(data.draw(st.lists(st.floats(-2.0, 2.0), min_size=size, max_size=size)))
    gradient, hessian = numerical(problem, differences).gradient_and_hessian_at(x)
    exact_gradient, exact_hessian = problem.gradient_and_hessian_at(x)
    assert np.max(np.abs(hessian - exact_hessian)) <= 1e-5 * (1 + np.max(np.abs(exact_hessian)))
    assert np.max(np.abs(gradient - exact_gradient)) <= 1e-6 * (1 + np.max(np.abs(exact_gradient)))
    np.testing.assert_array_equal(hessian, hessian.T)


def test_second_derivative_term_with_weights_is_the_weighted_sum_of_second_derivatives():
    problem = problems.square_second()
    x = np.array([0.7, -1.3])
    weights = np.array([2.0, -3.0])
    exact = np.tensordot(weights, problem.second_derivatives(x), axes=1)
    for complex_step in (False, True):
        term = derivatives.second_derivative_term(problem.simulator, x, problem.simulator(x), weights,
                                                  complex_step=complex_step)
        np.testing.assert_allclose(term, exact, atol=1e-6)


def test_newton_converges_on_a_simulator_only_problem():
    problem = Problem.from_simulator(problems.rosenbrock().simulator, np.zeros(2), differences="forward")
    result = minimize(problem, [-1.2, 1.0], rules.newton(), steps=20, tol=1e-20)
    assert result.success, result.message
    np.testing.assert_allclose(result.x, [1.0, 1.0], atol=1e-8)
    exact = minimize(problems.rosenbrock(), [-1.2, 1.0], rules.newton(), steps=20, tol=1e-20)
    assert result.nit == exact.nit


# --------------------------------------------------------------------------- complex step
def _float_only(x):
    return np.asarray(x, dtype=float) ** 2


@pytest.mark.parametrize("simulator, accepted", [
    (lambda x: np.sin(x) * x[::-1], True),
    (lambda x: np.exp(x) + x @ x, True),
    (lambda x: np.abs(x) ** 3, False),  # |x| of a complex number is its modulus: wrong derivative
    (lambda x: np.array([math.sin(x[0]), x[1]]), False),  # math.sin raises TypeError on complex
    (_float_only, False),  # the imaginary part is dropped (ComplexWarning)
    (lambda x: np.real(x) ** 2, False),
])
def test_complex_step_is_used_only_when_it_gives_the_derivative(simulator, accepted):
    x = np.array([0.4, -1.1])
    assert derivatives.supports_complex_step(simulator, x, np.asarray(simulator(x), dtype=float)) is accepted


def test_a_simulator_that_rejects_complex_input_falls_back_to_real_differences():
    problem = Problem.from_simulator(lambda x: np.array([math.exp(x[0]) * x[1], x[1] ** 2]), [0.0, 0.0])
    jac = problem.jacobian_at([0.5, 2.0])
    np.testing.assert_allclose(jac, [[2 * math.exp(0.5), math.exp(0.5)], [0.0, 4.0]], rtol=1e-6)


# --------------------------------------------------------------------------- cache and counts
def test_calls_count_each_user_function_and_the_cache_saves_repeated_evaluations():
    problem = Problem.from_simulator(lambda x: np.array([x[0] * x[1], x[0] + x[1], x[1] ** 3]), np.zeros(3),
                                     differences="forward")
    x = np.array([1.0, 2.0])
    problem.output(x)
    problem.loss_at(x)
    problem.gradient_at(x)
    assert problem.calls == {"simulator": 1 + 2, "jacobian": 0, "vjp": 0, "hessian": 0, "inverse": 0}
    problem.jacobian_at(x)  # cached at this x
    assert problem.calls["simulator"] == 3
    problem.gradient_and_hessian_at(x)  # 2 n^2 = 8 evaluations for the second-derivative term
    assert problem.calls["simulator"] == 3 + 8
    central = Problem.from_simulator(problem.simulator, np.zeros(3), differences="central")
    central.jacobian_at(x)
    assert central.calls["simulator"] == 1 + 2 * 2


def test_auto_tests_the_complex_step_once():
    problem = Problem.from_simulator(lambda x: np.sin(x), np.zeros(3))
    problem.jacobian_at(np.ones(3))
    assert problem.calls["simulator"] == 1 + 2 + 3
    problem.jacobian_at(np.full(3, 2.0))
    assert problem.calls["simulator"] == 6 + 1 + 3


def test_counts_of_analytic_functions_and_a_fresh_count_for_a_new_target():
    problem = problems.square_second(target=(1.0, 1.0))
    x = np.array([1.0, 2.0])
    problem.gradient_and_hessian_at(x)
    problem.invert(problem.target, x)
    assert problem.calls == {"simulator": 1, "jacobian": 1, "vjp": 0, "hessian": 1, "inverse": 1}
    assert problem.with_target([0.0, 0.0]).calls["simulator"] == 0


def test_the_cache_is_not_fooled_by_a_mutated_input():
    problem = Problem.from_simulator(lambda x: 2 * x, np.zeros(2))
    x = np.array([1.0, 2.0])
    y = problem.output(x)
    x[0] = 5.0
    y[1] = -1.0  # mutating a returned value must not change the cache either
    np.testing.assert_array_equal(problem.output(x), [10.0, 4.0])
    np.testing.assert_array_equal(problem.output([1.0, 2.0]), [2.0, 4.0])


@pytest.mark.parametrize("make", [
    lambda: rules.gauss_newton(),
    lambda: rules.ig(),
    lambda: rules.pg(),
])
def test_at_most_one_simulator_call_per_iteration_with_an_analytic_jacobian(make):
    problem = problems.square_second(target=(2.0, 3.0))
    result = minimize(problem, [1.0, 1.0], make(), steps=8)
    # eight steps, or fewer where the rule reaches the target and stalls there (PG in one step)
    assert result.nit == 8 or (result.status == 7 and result.fun < 1e-24)
    assert result.nit >= 1
    # one evaluation at x0, then the driver's one per iteration: the rule reuses it
    assert problem.calls["simulator"] <= 1 + result.nit


def test_simulator_calls_of_gauss_newton_with_difference_jacobian():
    problem = numerical(problems.rosenbrock(), "forward")
    result = minimize(problem, [-1.2, 1.0], rules.gauss_newton(), steps=5)
    assert result.nit >= 2
    assert problem.calls["simulator"] == 1 + result.nit * (1 + 2)  # driver + n per Jacobian


# --------------------------------------------------------------------------- coordinates and checks
def test_reparametrized_difference_problem_differences_in_its_own_units():
    problem = Problem.from_simulator(problems.rosenbrock().simulator, np.zeros(2), differences="central")
    scale = np.array([1e-6, 1e6])
    rescaled = reparametrize(problem, scale)
    z = np.array([0.5, 2.0]) / scale
    np.testing.assert_allclose(rescaled.jacobian_at(z), problems.rosenbrock().jacobian_at(scale * z) * scale,
                               rtol=1e-8)


def test_a_wrongly_shaped_jacobian_raises_a_shape_error():
    problem = Problem(lambda x: x, lambda x: np.zeros((2, 3)), [0.0, 0.0], name="toy")
    with pytest.raises(ShapeError, match=r"jacobian of 'toy' returned shape \(2, 3\), expected \(2, 2\)"):
        problem.jacobian_at([1.0, 2.0])


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="differences must be"):
        Problem.from_simulator(np.sin, [0.0], differences="backward")
    with pytest.raises(ValueError, match="typical_x must be positive"):
        Problem.from_simulator(np.sin, [0.0], typical_x=[0.0])
    with pytest.raises(ValueError, match=r"takes x with n = 2"):
        Problem.from_simulator(np.sin, [0.0, 0.0], n=2).output([1.0, 2.0, 3.0])


def test_a_target_of_the_wrong_length_is_named_as_a_suspect():
    problem = Problem(lambda x: 2 * x, lambda x: 2 * np.eye(2), [0.0, 0.0, 0.0], name="double")
    with pytest.raises(ShapeError, match=r"returned shape \(2,\), expected \(3,\) \(the size of the target\); "
                                         r"if the simulator is right, pass a target with 2 components"):
        problem.output([1.0, 2.0])


@SETTINGS
@given(log_scale=st.lists(st.floats(-6.0, 6.0), min_size=2, max_size=2), x=st.lists(coordinate, min_size=2, max_size=2))
def test_difference_jacobians_follow_a_change_of_units(log_scale, x):
    # steps relative to |z_i| and to typical_x / scale: the differences are the same in any units
    scale = 10.0 ** np.array(log_scale)
    x = np.array(x)
    for differences in derivatives.METHODS:
        problem = Problem.from_simulator(problems.rosenbrock().simulator, np.zeros(2), differences=differences)
        in_z = reparametrize(problem, scale).jacobian_at(x / scale)
        exact = problems.rosenbrock().jacobian_at(x) * scale
        tolerance = ACCURACY[differences] * (1 + np.abs(problems.rosenbrock().jacobian_at(x)).max())
        assert np.all(np.abs(in_z - exact) <= tolerance * scale)


def test_a_forced_complex_step_on_a_real_only_simulator_fails_loudly():
    problem = Problem.from_simulator(_float_only, np.zeros(2), differences="complex")
    with pytest.raises(ValueError, match="complex step cannot differentiate it"):
        problem.jacobian_at([1.0, 2.0])
