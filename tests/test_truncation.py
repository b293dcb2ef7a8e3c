r"""Unit-free truncation: ig, newton and gauss_newton drop the same modes whatever the units of x.

A diagonal change of units x = S z (S from 1e-12 to 1e12 per coordinate) must map
the iterates of the rescaled problem onto those of the original, including when
modes are dropped, and a dropped mode must be reported (count and unit-free
condition number) in the rule's state.
"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from companion import linalg, minimize, problems, rules
from companion.errors import SingularMatrixError
from companion.problems import Problem, reparametrize

from stepping import iterates

SETTINGS = settings(deadline=None, max_examples=40)
exponents = st.floats(-12.0, 12.0)


def redundant_problem() -> Problem:
    """m = 2 < n = 3: every step of GN / truncated IG has a choice, made by the smallest |D dx|."""
    return Problem(lambda x: np.array([x[0] + x[1] + x[2], x[0] * x[1] - x[2] ** 2]),
                   lambda x: np.array([[1.0, 1.0, 1.0], [x[1], x[0], -2 * x[2]]]),
                   [1.0, 0.5], name="redundant")


def proportional_columns() -> Problem:
    """J has two proportional columns at every x: unit-free rank 2 of 3, one mode dropped each step."""
    def simulator(x):
        u = x[0] + 2 * x[1]
        return np.array([u, u**2 + x[2], np.sin(x[2])])

    def jacobian(x):
        u = x[0] + 2 * x[1]
        return np.array([[1.0, 2.0, 0.0], [2 * u, 4 * u, 1.0], [0.0, 0.0, np.cos(x[2])]])

    return Problem(simulator, jacobian, [0.5, 1.0, 0.3], name="proportional columns")


def rank_one_quadratic() -> Problem:
    """L = (x1 + 2 x2 - 1)^2 / 2: a singular Hessian everywhere."""
    return problems.linear([[1.0, 2.0]], [1.0])


CASES = [
    ("rosenbrock", problems.rosenbrock, [-1.2, 1.0], rules.newton()),
    ("rosenbrock", problems.rosenbrock, [-1.2, 1.0], rules.ig()),
    ("rosenbrock", problems.rosenbrock, [-1.2, 1.0], rules.gauss_newton()),
    ("redundant", redundant_problem, [1.0, 2.0, 0.5], rules.gauss_newton()),
    ("redundant", redundant_problem, [1.0, 2.0, 0.5], rules.ig(rtol=linalg.DEFAULT_RTOL)),
    ("proportional", proportional_columns, [1.0, 0.5, 0.2], rules.gauss_newton()),
    ("proportional", proportional_columns, [1.0, 0.5, 0.2], rules.ig(rtol=linalg.DEFAULT_RTOL)),
    ("rank one", rank_one_quadratic, [3.0, -1.0], rules.newton(truncate=True)),
    ("rank one", rank_one_quadratic, [3.0, -1.0], rules.gauss_newton()),
]


@pytest.mark.parametrize("name, make, x0, rule", CASES, ids=[f"{c[0]}-{c[3].name}" for c in CASES])
@SETTINGS
@given(data=st.data())
def test_iterates_map_to_each_other_under_a_diagonal_change_of_units(name, make, x0, rule, data):
    problem = make()
    scale = 10.0 ** np.array(data.draw(st.lists(exponents, min_size=len(x0), max_size=len(x0))))
    original, state = iterates(problem, x0, rule, steps=6)
    rescaled, rescaled_state = iterates(reparametrize(problem, scale), np.asarray(x0) / scale, rule, steps=6)
    size = np.abs(original).max()
    np.testing.assert_allclose(rescaled * scale, original, rtol=1e-8, atol=1e-10 * size)
    assert rescaled_state.dropped == state.dropped
    assert np.isclose(rescaled_state.condition, state.condition, rtol=1e-3) or state.condition > 1e13


def test_modes_are_dropped_and_reported_where_expected():
    assert iterates(proportional_columns(), [1.0, 0.5, 0.2], rules.gauss_newton(), 3)[1].dropped == 1
    assert iterates(rank_one_quadratic(), [3.0, -1.0], rules.newton(truncate=True), 1)[1].dropped == 1
    assert iterates(problems.rosenbrock(), [-1.2, 1.0], rules.gauss_newton(), 3)[1].describe() == ""


@pytest.mark.parametrize("make", [rules.gauss_newton, rules.ig, rules.newton])
def test_the_issue_reproducer_reaches_the_target_with_every_truncating_rule(make):
    """alpha = 1e-11 makes the raw J = diag(1, 1e-11) look singular; unit-free it is the identity."""
    result = minimize(problems.alpha_scaled(1e-11, target=(1, 1e-11)), [0, 0], make(), steps=3)
    np.testing.assert_allclose(result.x, [1.0, 1.0], rtol=1e-12)


@pytest.mark.parametrize("rule", [rules.ig(), rules.newton()])
def test_ig_and_newton_refuse_a_singular_unit_free_matrix_by_default(rule):
    problem = rank_one_quadratic() if rule.name == "Newton" else problems.linear([[1.0, 1.0], [1.0, 1.0 + 1e-14]],
                                                                                [1.0, 1.0])
    refusal = r"unit-free condition number .* 1/rtol = 1e\+12.*(rtol|truncate=True)"
    with pytest.raises(SingularMatrixError, match=refusal):
        rule.first_step(problem, [0.5, 0.5])


def blur(n: int, width: float) -> np.ndarray:
    """A row-normalised Gaussian blur on n points (an ill-posed deconvolution)."""
    offsets = np.subtract.outer(np.arange(n), np.arange(n))
    kernel = np.exp(-0.5 * (offsets / width) ** 2)
    return kernel / kernel.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("make", [lambda: rules.gauss_newton(rtol=1e-3), lambda: rules.ig(rtol=1e-3)])
def test_an_ill_posed_deblurring_problem_does_not_look_like_plain_success(make):
    matrix = blur(40, 2.0)
    unit_free = matrix / np.linalg.norm(matrix, axis=0)
    singular_values = np.linalg.svd(unit_free, compute_uv=False)
    condition = singular_values[0] / singular_values[-1]
    assert 1e3 < condition < 1e12
    x_true = np.sin(np.linspace(0, 3, 40)) + (np.arange(40) > 20)
    problem = problems.linear(matrix, matrix @ x_true)
    rule = make()
    xs, state = iterates(problem, np.zeros(40), rule, steps=2)
    assert state.dropped == np.sum(singular_values <= 1e-3 * singular_values[0]) > 0
    description = state.describe()
    assert description.startswith(f"{state.rule} dropped {state.dropped} of 40 modes (unit-free condition number ")
    assert f"{condition:.2g}" in description and "1/rtol = 1e+03" in description
    result = minimize(problem, np.zeros(40), rule, steps=2)
    if hasattr(result, "state"):  # the driver that keeps the rule's state appends its description
        assert description in result.message


def test_the_default_rtol_reports_a_matrix_beyond_1e12():
    problem = problems.linear([[1.0, 1.0], [1.0, 1.0 + 1e-14]], [2.0, 2.0])
    state = iterates(problem, [0.0, 0.0], rules.gauss_newton(), 1)[1]
    assert state.dropped == 1 and state.condition > 1e12
    assert "gauss_newton dropped 1 of 2 modes" in state.describe() and "1/rtol = 1e+12" in state.describe()
