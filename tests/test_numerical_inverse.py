"""companion.inverse.numerical_inverse: the closest preimage by damped least squares, InverseError when unreachable."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from companion import minimize, problems, rules
from companion.errors import InverseError
from companion.inverse import numerical_inverse, with_numerical_inverse
from companion.problems import Problem, reparametrize

REDUNDANT = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])  # P(x) = x[:2] + x[2]


def redundant(**options) -> Problem:
    return Problem(lambda x: x[:2] + x[2], lambda x: REDUNDANT, [1.0, 2.0], name="redundant", **options)


@pytest.mark.parametrize("x0", [np.zeros(3), np.array([0.3, -0.2, 0.5]), np.array([-4.0, 7.0, 1e3])])
def test_the_preimage_closest_to_x0_on_a_redundant_problem(x0):
    y = np.array([1.0, 2.0])
    exact = problems.linear(REDUNDANT, y).invert(y, x0)  # closest in the same unit-free metric, by SVD
    for simulator in (redundant(), lambda x: x[:2] + x[2]):  # analytic Jacobian, or differences
        x = numerical_inverse(simulator)(y, x0)
        np.testing.assert_allclose(x, exact, atol=1e-8 * (1 + np.abs(x0).max()))


def test_the_closest_preimage_from_a_far_start():
    # D = diag(column norms) = diag(1, 1, sqrt 2); A null = 0 for null = (1, 1, -1): the closest preimage
    # has D (x - x0) orthogonal to D null
    y = np.array([1.0, 2.0])
    x0 = np.array([0.0, 0.0, 10.0])
    x = numerical_inverse(redundant())(y, x0)
    d = np.array([1.0, 1.0, np.sqrt(2.0)])
    assert abs(float((d * np.array([1.0, 1.0, -1.0])) @ (d * (x - x0)))) < 1e-9
    np.testing.assert_allclose(x[:2] + x[2], y, atol=1e-10)


def test_a_nonlinear_inverse_stays_on_the_branch_of_x0():
    inverse = numerical_inverse(problems.square_second())
    np.testing.assert_allclose(inverse(np.array([1.0, 4.0]), np.array([0.0, -3.0])), [1.0, -2.0], atol=1e-9)
    np.testing.assert_allclose(inverse(np.array([1.0, 4.0]), np.array([0.0, 0.5])), [1.0, 2.0], atol=1e-9)


@pytest.mark.parametrize("simulator, y, x0", [
    (problems.scalar_square(), [-1.0], [1.0]),  # x^2 = -1
    (lambda x: np.cos(x), [2.0], [0.3]),  # cos x = 2
    (lambda x: np.array([x[0], x[0]]), [1.0, 2.0], [0.0]),  # y outside the range of a line
])
def test_an_unreachable_target_raises_inverse_error(simulator, y, x0):
    with pytest.raises(InverseError, match=r"numerical inverse of .* reached \|P\(x\) - y\| = .* > tol"):
        numerical_inverse(simulator)(np.array(y), np.array(x0))


def test_bounds_are_respected():
    y = np.array([1.0, 2.0])
    x = numerical_inverse(redundant(), bounds=([-np.inf, -np.inf, -np.inf], [np.inf, np.inf, 0.25]))(y, np.zeros(3))
    assert x[2] <= 0.25 + 1e-12
    np.testing.assert_allclose(x[:2] + x[2], y, atol=1e-9)
    with pytest.raises(InverseError):  # x^2 = 4 with -10 <= x <= -3: both roots lie outside the bounds
        numerical_inverse(problems.scalar_square(), bounds=(-10.0, -3.0))(np.array([4.0]), np.array([-4.0]))


def test_the_inverse_does_not_depend_on_the_units_of_x():
    scale = np.array([1e-3, 1e3, 1.0])
    y = np.array([1.0, 2.0])
    x0 = np.array([0.3, -0.2, 0.5])
    x = numerical_inverse(redundant())(y, x0)
    z = numerical_inverse(reparametrize(redundant(), scale))(y, x0 / scale)
    np.testing.assert_allclose(scale * z, x, rtol=1e-8, atol=1e-10)


def test_pg_runs_with_the_numerical_inverse():
    problem = with_numerical_inverse(redundant())
    result = minimize(problem, [0.3, -0.2, 0.5], rules.pg(), tol=1e-20)
    assert result.success and result.nit == 1
    rosenbrock = with_numerical_inverse(problems.rosenbrock())
    result = minimize(rosenbrock, [-1.2, 1.0], rules.pg(), tol=1e-20)
    assert result.success
    np.testing.assert_allclose(result.x, [1.0, 1.0], atol=1e-9)
    # the calls of the inverse are counted on the problem it belongs to
    assert rosenbrock.calls["simulator"] > 1 + result.nit and rosenbrock.calls["inverse"] == result.nit


def test_pg_falls_back_when_the_numerical_inverse_cannot_reach_the_target():
    problem = with_numerical_inverse(Problem(lambda x: x ** 2, lambda x: np.diag(2 * x), [-1.0]))
    rule = rules.pg(fallback=rules.gd(0.1))
    result = minimize(problem, [1.0], rule, steps=60)
    assert abs(result.x[0]) < 1e-3 and np.isfinite(result.fun)
    state = rule.init(problem, np.array([1.0]))
    _, state = rule.step(problem, np.array([1.0]), state)
    assert state.fallbacks == 1 and "InverseError" in state.last_error


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="reduction must lie in"):
        numerical_inverse(redundant(), reduction=2.0)
    with pytest.raises(ValueError, match="scale must be positive"):
        numerical_inverse(redundant(), scale=[1.0, 0.0, 1.0])
    with pytest.raises(TypeError, match="simulator must be a companion Problem"):
        numerical_inverse(3.0)
    with pytest.raises(ValueError, match="lower bound must be below"):
        numerical_inverse(redundant(), bounds=(1.0, 0.0))(np.ones(2), np.zeros(3))


@settings(deadline=None, max_examples=30)
@given(x1=st.floats(-3.0, 3.0), x2=st.floats(0.2, 3.0), side=st.sampled_from([-1.0, 1.0]),
       shift=st.floats(-0.15, 0.15))
def test_numerical_and_analytic_local_inverses_agree_on_the_branch_of_x0(x1, x2, side, shift):
    problem = problems.square_second()
    y = problem.simulator(np.array([x1, side * x2]))
    x0 = np.array([x1 + shift, side * x2 * (1 + shift)])
    np.testing.assert_allclose(numerical_inverse(problem)(y, x0), problem.invert(y, x0), rtol=1e-8, atol=1e-9)
