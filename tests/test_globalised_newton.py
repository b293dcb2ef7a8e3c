"""rules.newton_trust_region: the exact trust-region subproblem, saddles, Rosenbrock, scale invariance."""

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from companion import minimize, problems, rules
from companion.problems import Loss, Problem, reparametrize

SETTINGS = settings(deadline=None, max_examples=40)


def saddle_problem(shift: float = 2.0) -> Problem:
    """L(x, y) = x^2 - y^2 + y^4/4 + shift: a saddle at 0, minima -1 + shift at (0, +-sqrt 2)."""
    loss = Loss(lambda y, t: float(y[0] ** 2 - y[1] ** 2 + y[1] ** 4 / 4 + shift),
                lambda y, t: np.array([2 * y[0], -2 * y[1] + y[1] ** 3]),
                lambda y, t: np.diag([2.0, -2.0 + 3 * y[1] ** 2]), "saddle")
    return Problem(lambda x: x, lambda x: np.eye(2), np.zeros(2), loss=loss, affine=True, name="saddle")


def test_plain_newton_stops_at_the_saddle_and_the_trust_region_leaves_it():
    problem = saddle_problem()
    newton = minimize(problem, [1.0, 0.0], rules.newton(), steps=20)
    np.testing.assert_allclose(newton.x, [0.0, 0.0], atol=1e-14)  # Newton's step lands on the saddle
    result = minimize(problem, [1.0, 0.0], rules.newton_trust_region(), steps=50, tol=1.0 + 1e-14)
    assert result.success, result
    np.testing.assert_allclose(np.abs(result.x), [0.0, np.sqrt(2.0)], atol=1e-7)
    assert np.all(np.diff(result.losses) < 0)


def test_it_leaves_a_point_with_zero_gradient_along_negative_curvature():
    problem = saddle_problem()
    step = rules.newton_trust_region(radius0=0.5).first_step(problem, [0.0, 0.0])
    assert step[1] != 0 and problem.loss_at(step) < problem.loss_at(np.zeros(2))


def test_rosenbrock_from_the_standard_start():
    result = minimize(problems.rosenbrock(), [-1.2, 1.0], rules.newton_trust_region(), steps=100, tol=1e-20)
    assert result.success and result.nit <= 40, result
    np.testing.assert_allclose(result.x, [1.0, 1.0], atol=1e-9)
    assert np.all(np.diff(result.losses) < 0)  # only accepted steps reach the driver


@st.composite
def subproblems(draw):
    n = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    q = np.linalg.qr(rng.normal(size=(n, n)))[0]
    eigenvalues = np.array(draw(st.lists(st.floats(-3, 3), min_size=n, max_size=n)))
    gradient = rng.normal(size=n) * draw(st.sampled_from([0.0, 1e-3, 1.0]))
    radius = draw(st.floats(0.05, 5.0))
    return (q * eigenvalues) @ q.T, gradient, radius


@SETTINGS
@given(case=subproblems())
def test_the_subproblem_solution_satisfies_the_optimality_conditions(case):
    r"""(H + lambda I) z = -g, lambda >= 0, lambda (Delta - |z|) = 0, H + lambda I positive semi-definite."""
    hessian, gradient, radius = case
    z = rules._trust_region_subproblem(hessian, gradient, radius)
    assert np.linalg.norm(z) <= radius * (1 + 1e-9)
    residual = hessian @ z + gradient
    if np.linalg.norm(z) < radius * (1 - 1e-9):  # interior: the Newton step of a convex model
        assert np.linalg.norm(residual) <= 1e-8 * (1 + np.linalg.norm(gradient))
        assert np.linalg.eigvalsh(hessian)[0] >= -1e-12
        return
    # on the boundary: residual = -lambda z with lambda >= max(0, -lowest eigenvalue)
    assume(np.linalg.norm(z) > 0)
    lam = -float(residual @ z) / float(z @ z)
    np.testing.assert_allclose(residual, -lam * z, atol=1e-7 * (1 + np.linalg.norm(gradient) + abs(lam)))
    assert lam >= np.linalg.eigvalsh(hessian)[0] * -1 - 1e-7 and lam >= -1e-9


@SETTINGS
@given(case=subproblems(), seed=st.integers(0, 2**32 - 1))
def test_no_point_of_the_region_has_a_lower_model(case, seed):
    hessian, gradient, radius = case
    z = rules._trust_region_subproblem(hessian, gradient, radius)

    def model(p):
        return gradient @ p + 0.5 * p @ hessian @ p

    rng = np.random.default_rng(seed)
    samples = rng.normal(size=(200, gradient.size))
    samples *= radius * rng.uniform(0, 1, size=(200, 1)) ** (1 / gradient.size) / np.linalg.norm(
        samples, axis=1, keepdims=True)
    assert model(z) <= min(model(p) for p in samples) + 1e-9 * (1 + radius**2)


@pytest.mark.parametrize("make, x0", [(problems.rosenbrock, [-1.2, 1.0]), (saddle_problem, [1.0, 0.0]),
                                      (lambda: problems.square_second(target=(1.0, 4.0)), [3.0, 3.0])])
@SETTINGS
@given(exponents=st.lists(st.floats(-12, 12), min_size=2, max_size=2))
def test_iterates_do_not_depend_on_the_units_of_x(make, x0, exponents):
    problem = make()
    scale = 10.0 ** np.array(exponents)
    x0 = np.asarray(x0, dtype=float)
    original = minimize(problem, x0, rules.newton_trust_region(), steps=15)
    rescaled = minimize(reparametrize(problem, scale), x0 / scale, rules.newton_trust_region(), steps=15)
    n = min(len(original.xs), len(rescaled.xs))
    np.testing.assert_allclose(rescaled.xs[:n] * scale, original.xs[:n], rtol=1e-7,
                               atol=1e-9 * np.abs(original.xs).max())


def test_it_needs_a_hessian_and_names_its_parameters():
    with pytest.raises(ValueError, match="Hessian"):
        rules.newton_trust_region().init(Problem(lambda x: x, lambda x: np.eye(2), np.zeros(2)), np.zeros(2))
    with pytest.raises(ValueError, match="radius0"):
        rules.newton_trust_region(radius0=0.0)
    with pytest.raises(ValueError, match="max_tries"):
        rules.newton_trust_region(max_tries=0)


def test_a_wrong_gradient_ends_with_a_clear_error():
    loss = Loss(lambda y, t: float(y @ y), lambda y, t: -2 * y, lambda y, t: 2 * np.eye(y.size), "wrong")
    problem = Problem(lambda x: x, lambda x: np.eye(2), np.zeros(2), loss=loss, affine=True)
    with pytest.raises(rules.NoAcceptableStepError, match="did not lower the loss"):
        rules.newton_trust_region(xtol=0.0, max_tries=20).first_step(problem, [1.0, 1.0])


def test_a_trial_that_raises_the_loss_only_slightly_is_still_rejected():
    """Gain ratio -3e-5: the model (wrong gradient) promises a decrease of 1, the loss grows by 3e-5."""
    loss = Loss(lambda y, t: float(1 + 1e-5 * y @ y), lambda y, t: -2 * y, lambda y, t: 2 * np.eye(y.size), "flat")
    problem = Problem(lambda x: x, lambda x: np.eye(1), np.zeros(1), loss=loss, affine=True)
    with pytest.raises(rules.NoAcceptableStepError):
        rules.newton_trust_region(xtol=0.0, max_tries=3).first_step(problem, [1.0])
