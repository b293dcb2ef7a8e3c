"""companion.problems: derivatives of every toy problem against scipy.differentiate, losses, inverses, checks."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import differentiate

from companion import minimize, problems, rules
from companion.errors import InverseError, MissingCapabilityError
from companion.problems import Loss, Problem, reparametrize, squared_error

SETTINGS = settings(deadline=None, max_examples=40)


# --------------------------------------------------------------------------- numerical derivatives
# an absolute tolerance lets scipy stop early on zero derivatives (it otherwise iterates to maxiter)
TOLERANCES = dict(atol=1e-8, rtol=1e-9)


def _vectorised(function):
    """scipy.differentiate calls f with shape (n, ...): apply the (n,) -> (m,) / scalar function along axis 0."""
    return lambda x: np.apply_along_axis(function, 0, x)


def numerical_jacobian(function, x):
    result = differentiate.jacobian(_vectorised(function), np.asarray(x, dtype=float), tolerances=TOLERANCES)
    return result.df


def numerical_hessian(function, x):
    result = differentiate.hessian(_vectorised(function), np.asarray(x, dtype=float), tolerances=TOLERANCES)
    return result.ddf


def assert_close(analytic, numeric, rtol=1e-6):
    numeric = np.atleast_1d(numeric)
    analytic = np.asarray(analytic).reshape(numeric.shape)
    np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=rtol * (1.0 + np.abs(numeric).max()))


# --------------------------------------------------------------------------- losses
def weighted_loss(weights) -> Loss:
    """L = 1/2 r^T W r with a symmetric positive definite (non-diagonal) W."""
    weights = np.asarray(weights, dtype=float)
    return Loss(
        value=lambda y, t: 0.5 * float((y - t) @ weights @ (y - t)),
        gradient=lambda y, t: weights @ (y - t),
        hessian=lambda y, t: weights,
        name="weighted",
    )


def log_cosh_loss() -> Loss:
    """L = sum log cosh(y - y*): not quadratic, so dL/dy is not linear and L_yy is not constant."""
    return Loss(
        # log cosh r = |r| + log(1 + e^{-2|r|}) - log 2, without overflow for large |r|
        value=lambda y, t: float(np.sum(np.abs(y - t) + np.log1p(np.exp(-2 * np.abs(y - t))) - np.log(2.0))),
        gradient=lambda y, t: np.tanh(y - t),
        hessian=lambda y, t: np.diag(1.0 - np.tanh(y - t) ** 2),
        name="log cosh",
    )


WEIGHTS = {1: [[3.0]], 2: [[2.0, 0.7], [0.7, 0.5]], 3: [[2.0, 0.7, 0.0], [0.7, 0.5, 0.1], [0.0, 0.1, 1.0]]}


def losses_for(m):
    return [squared_error(), squared_error(2.0), weighted_loss(WEIGHTS[m]), log_cosh_loss()]


TOYS = {
    "alpha_scaled": (lambda: problems.alpha_scaled(3.0, target=(0.5, -1.0)), 2),
    "square_second": (lambda: problems.square_second(target=(1.0, 2.0)), 2),
    "scalar_square": (lambda: problems.scalar_square(2.0), 1),
    "exponential": (lambda: problems.exponential(1.5), 1),
    "rosenbrock": (problems.rosenbrock, 2),
    "linear": (lambda: problems.linear([[1.0, 2.0], [-0.5, 3.0], [0.3, 0.0]], [1.0, 0.0, -1.0]), 2),
}


def point(n, low=-2.0, high=2.0):
    return st.lists(st.floats(low, high), min_size=n, max_size=n).map(np.array)


def toy_cases():
    """(name, problem factory, n, point, loss index, scale exponents) drawn together."""
    @st.composite
    def draw(draw):
        name = draw(st.sampled_from(sorted(TOYS)))
        factory, n = TOYS[name]
        x = draw(point(n))
        loss_index = draw(st.integers(0, 3))
        exponents = draw(st.lists(st.floats(-1.0, 1.0), min_size=n, max_size=n))
        signs = draw(st.lists(st.sampled_from([1.0, -1.0]), min_size=n, max_size=n))
        return name, factory, x, loss_index, np.array(signs) * 10.0 ** np.array(exponents)
    return draw()


def with_loss(problem, index):
    return replace(problem, loss=losses_for(problem.output_size)[index])


@pytest.mark.parametrize("name", sorted(TOYS))
@SETTINGS
@given(data=st.data())
def test_jacobian_matches_scipy(name, data):
    factory, n = TOYS[name]
    problem = factory()
    x = data.draw(point(n))
    assert_close(problem.jacobian_at(x), numerical_jacobian(problem.output, x))


@pytest.mark.parametrize("name", sorted(TOYS))
@SETTINGS
@given(data=st.data())
def test_second_derivatives_match_scipy(name, data):
    factory, n = TOYS[name]
    problem = factory()
    x = data.draw(point(n))
    if problem.second_derivatives is None:  # declared affine: the second derivatives are zero
        assert problem.affine
        second = np.zeros((problem.output_size, n, n))
    else:
        second = np.asarray(problem.second_derivatives(x))
    for i in range(problem.output_size):
        assert_close(second[i], numerical_hessian(lambda v: problem.output(v)[i], x))


@SETTINGS
@given(toy_cases())
def test_gradient_matches_scipy_for_every_loss(case):
    name, factory, x, loss_index, _ = case
    problem = with_loss(factory(), loss_index)
    assert_close(problem.gradient_at(x), numerical_jacobian(problem.loss_at, x))


@SETTINGS
@given(toy_cases())
def test_composite_hessian_matches_scipy_for_every_loss(case):
    """J^T L_yy J + sum_i dL/dy_i d2P_i/dx2, with quadratic, scaled, weighted and log-cosh losses."""
    name, factory, x, loss_index, _ = case
    problem = with_loss(factory(), loss_index)
    hessian = problem.hessian_at(x)
    np.testing.assert_allclose(hessian, hessian.T, atol=1e-12 * (1 + np.abs(hessian).max()))
    assert_close(hessian, numerical_hessian(problem.loss_at, x))


@SETTINGS
@given(toy_cases())
def test_gauss_newton_matrix_is_the_hessian_without_second_derivatives(case):
    name, factory, x, loss_index, _ = case
    problem = with_loss(factory(), loss_index)
    first_order_only = replace(problem, second_derivatives=lambda v: np.zeros((problem.output_size, x.size, x.size)))
    np.testing.assert_allclose(problem.gauss_newton_matrix_at(x), first_order_only.hessian_at(x), rtol=1e-12, atol=1e-12)


@SETTINGS
@given(toy_cases())
def test_reparametrized_derivatives_match_scipy(case):
    name, factory, x, loss_index, scale = case
    original = with_loss(factory(), loss_index)
    rescaled = reparametrize(original, scale)
    z = x / scale
    # Q(z) = P(scale * z)
    np.testing.assert_allclose(rescaled.output(z), original.output(scale * z), rtol=1e-14)
    assert_close(rescaled.jacobian_at(z), numerical_jacobian(rescaled.output, z))
    assert_close(rescaled.gradient_at(z), numerical_jacobian(rescaled.loss_at, z))
    assert_close(rescaled.hessian_at(z), numerical_hessian(rescaled.loss_at, z))
    if rescaled.second_derivatives is None:
        assert rescaled.affine and original.affine
        second = np.zeros((rescaled.output_size, z.size, z.size))
    else:
        second = rescaled.second_derivatives(z)
    for i in range(rescaled.output_size):
        assert_close(second[i], numerical_hessian(lambda v: rescaled.output(v)[i], z))
    # and the chain rule, exactly: J_Q = J_P D, H_Q = D H_P D, g_Q = D g_P
    d = np.diag(scale)
    np.testing.assert_allclose(rescaled.jacobian_at(z), original.jacobian_at(x) @ d, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(rescaled.gradient_at(z), d @ original.gradient_at(x), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(rescaled.hessian_at(z), d @ original.hessian_at(x) @ d, rtol=1e-9, atol=1e-12)


def _rosenbrock_hessian(x):
    """The Hessian of L = 1/2 [100 (x2 - x1^2)^2 + (1 - x1)^2], written out by hand."""
    return np.array([[600.0 * x[0] ** 2 - 200.0 * x[1] + 1.0, -200.0 * x[0]], [-200.0 * x[0], 100.0]])


@SETTINGS
@given(point(2), st.floats(-2, 2), st.floats(-2, 2))
def test_user_hessian_takes_precedence_and_is_reparametrized(x, e1, e2):
    base = problems.rosenbrock()
    given_hessian = replace(base, second_derivatives=None, hessian=_rosenbrock_hessian)
    assert given_hessian.has_hessian
    np.testing.assert_allclose(given_hessian.hessian_at(x), base.hessian_at(x), rtol=1e-12, atol=1e-12)
    # precedence: a (deliberately wrong) hessian wins over second_derivatives
    both = replace(base, hessian=lambda v: np.eye(2))
    np.testing.assert_array_equal(both.hessian_at(x), np.eye(2))
    scale = np.array([10.0**e1, 10.0**e2])
    rescaled = reparametrize(given_hessian, scale)
    assert rescaled.second_derivatives is None
    assert_close(rescaled.hessian_at(x / scale), numerical_hessian(rescaled.loss_at, x / scale))


# --------------------------------------------------------------------------- losses themselves
@SETTINGS
@given(st.floats(0.1, 10.0), point(3, -5, 5), point(3, -5, 5))
def test_squared_error(scale, y, target):
    loss = squared_error(scale)
    r = y - target
    assert loss.value(y, target) == pytest.approx(0.5 * scale * r @ r, rel=1e-12, abs=1e-300)
    np.testing.assert_allclose(loss.gradient(y, target), scale * r, rtol=1e-12)
    np.testing.assert_allclose(loss.hessian(y, target), scale * np.eye(3))
    p = Problem(lambda x: x, lambda x: np.eye(3), target, loss=loss)
    # the Newton step in y of any squared error is eta (y* - y), whatever the scale
    np.testing.assert_allclose(p.newton_step_in_y(y, 0.5), 0.5 * (target - y), rtol=1e-10, atol=1e-12)


def test_squared_error_names_and_rejects_bad_scales():
    assert squared_error().name == "1/2 |y - y*|^2"
    assert squared_error(2).name == "2/2 |y - y*|^2"
    with pytest.raises(ValueError, match="scale must be positive"):
        squared_error(0.0)
    with pytest.raises(TypeError, match="scale must be a real number"):
        squared_error("2")


def test_newton_step_in_y_of_a_weighted_loss():
    weights = np.array(WEIGHTS[2])
    p = problems.alpha_scaled(2.0, target=(1.0, 1.0), loss=weighted_loss(weights))
    y = np.array([3.0, -1.0])
    np.testing.assert_allclose(p.newton_step_in_y(y, 0.25), 0.25 * (p.target - y), rtol=1e-12)
    logcosh = problems.alpha_scaled(2.0, target=(1.0, 1.0), loss=log_cosh_loss())
    expected = -0.5 * np.tanh(y - 1.0) * np.cosh(y - 1.0) ** 2
    np.testing.assert_allclose(logcosh.newton_step_in_y(y, 0.5), expected, rtol=1e-12)


# --------------------------------------------------------------------------- toy problem values and inverses
def test_toy_values():
    np.testing.assert_array_equal(problems.alpha_scaled(10.0).output([1.0, 1.0]), [1.0, 10.0])
    assert problems.alpha_scaled(10.0).loss_at([1.0, 1.0]) == 50.5
    np.testing.assert_array_equal(problems.square_second().output([3.0, -2.0]), [3.0, 4.0])
    np.testing.assert_array_equal(problems.scalar_square(4.0).output([-3.0]), [9.0])
    assert problems.scalar_square(4.0).loss_at([-3.0]) == 12.5
    assert problems.exponential(1.0).loss_at([0.0]) == 0.0
    p = problems.rosenbrock()
    assert p.loss_at([1.0, 1.0]) == 0.0
    x = np.array([-1.2, 1.0])
    assert p.loss_at(x) == pytest.approx(0.5 * (100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2), rel=1e-14)
    lin = problems.linear([[2.0, 0.0], [0.0, 4.0]], [2.0, 4.0])
    np.testing.assert_array_equal(lin.output([1.0, 1.0]), [2.0, 4.0])


@SETTINGS
@given(st.floats(-3, 3), st.floats(0.0, 9.0), st.floats(-3, 3).filter(lambda v: v != 0))
def test_square_second_inverse_picks_the_sign_of_x0(y1, y2, x02):
    p = problems.square_second()
    x = p.invert([y1, y2], [0.0, x02])
    assert x[0] == y1
    assert x[1] == pytest.approx(np.sign(x02) * np.sqrt(y2), rel=1e-15, abs=0)
    np.testing.assert_allclose(p.output(x), [y1, y2], rtol=1e-14, atol=1e-300)


@SETTINGS
@given(st.floats(0.0, 100.0), st.floats(-10, 10))
def test_scalar_square_inverse_returns_the_root_next_to_x0(y, x0):
    x = problems.scalar_square().invert([y], [x0])
    expected = np.sqrt(y) if x0 >= 0 else -np.sqrt(y)
    assert x[0] == pytest.approx(expected, rel=1e-15, abs=0)


@SETTINGS
@given(st.floats(-5, 5), st.floats(-5, 5))
def test_exponential_inverse_is_the_log(x, x0):
    p = problems.exponential()
    np.testing.assert_allclose(p.invert(p.output([x]), [x0]), [x], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("problem, y, match", [
    (problems.square_second(), [1.0, -0.5], "no real preimage for y2 = -0.5"),
    (problems.scalar_square(), [-2.0], "no real root for y = -2"),
    (problems.exponential(), [0.0], "no preimage for y = 0"),
])
def test_inverses_raise_inverse_error_outside_the_range(problem, y, match):
    with pytest.raises(InverseError, match=match):
        problem.invert(y, np.ones(len(y)))


@SETTINGS
@given(st.floats(-2, 2), st.floats(-2, 2))
def test_reparametrized_inverse(e1, e2):
    scale = np.array([10.0**e1, -(10.0**e2)])
    p = problems.square_second()
    q = reparametrize(p, scale)
    z0 = np.array([0.3, 0.7]) / scale
    z = q.invert([2.0, 9.0], z0)
    np.testing.assert_allclose(scale * z, p.invert([2.0, 9.0], scale * z0), rtol=1e-14)
    np.testing.assert_allclose(q.output(z), [2.0, 9.0], rtol=1e-12)


def test_linear_inverse_is_the_closest_preimage_or_says_why_there_is_none():
    p = problems.linear([[2.0, 1.0], [0.0, 4.0]], [1.0, 2.0])
    x = p.invert(p.target, np.zeros(2))
    np.testing.assert_allclose(p.output(x), p.target)
    # wide A: the preimages of y form a line; the inverse takes the point of it closest to x0 in the
    # unit-free distance |D (x - x0)|, D = diag(column norms of A) = diag(1, 1, sqrt 2)
    wide = problems.linear([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], [0.0, 0.0])
    x0 = np.array([0.3, -0.2, 0.5])
    x = wide.invert([1.0, 2.0], x0)
    np.testing.assert_allclose(wide.output(x), [1.0, 2.0], atol=1e-14)
    d = np.array([1.0, 1.0, np.sqrt(2.0)])
    null = np.array([1.0, 1.0, -1.0])  # A null = 0
    assert abs(float((d * null) @ (d * (x - x0)))) < 1e-14  # D (x - x0) orthogonal to D null: the closest
    # tall or singular A: y outside the range has no preimage
    with pytest.raises(InverseError, match=r"outside the range of A.*rank 2 for 3 output"):
        problems.linear(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), np.zeros(3)).invert([1.0, 2.0, 5.0], np.zeros(2))
    with pytest.raises(InverseError, match=r"1 unit-free singular value\(s\) below rtol"):
        problems.linear([[1.0, 2.0], [2.0, 4.0]], [1.0, 1.0]).invert([1.0, 1.0], np.zeros(2))
    # ... and y inside the range has one, even for a singular A: the closest in |D x|, D = diag(sqrt 5, sqrt 20)
    np.testing.assert_allclose(problems.linear([[1.0, 2.0], [2.0, 4.0]], [0.0, 0.0]).invert([1.0, 2.0], np.zeros(2)),
                               [0.5, 0.25], atol=1e-14)


def test_linear_inverse_is_unit_free():
    # diag(1, 1e-13) is ill-conditioned only in the units of x: the inverse is exact and PG converges
    result = minimize(problems.linear(np.diag([1.0, 1e-13]), [1.0, 1.0]), [0.0, 0.0], rules.pg(), tol=1e-20)
    assert result.success and result.nit == 1
    np.testing.assert_allclose(result.x, [1.0, 1e13])


def test_with_target():
    p = problems.square_second().with_target([1.0, 4.0])
    np.testing.assert_array_equal(p.target, [1.0, 4.0])
    with pytest.raises(ValueError, match="target must have 2 components, got 3"):
        p.with_target([1.0, 2.0, 3.0])


# --------------------------------------------------------------------------- checked evaluations: errors name the problem
def _problem(**overrides):
    pieces = dict(simulator=lambda x: np.array([x[0], x[1] ** 2]),
                  jacobian=lambda x: np.array([[1.0, 0.0], [0.0, 2 * x[1]]]),
                  target=[0.0, 0.0], name="my toy")
    pieces.update(overrides)
    return Problem(**pieces)


def test_lists_are_accepted():
    p = _problem(target=[1, 2])
    np.testing.assert_array_equal(p.output([1, 2]), [1.0, 4.0])
    assert p.target.dtype == float


def test_simulator_of_the_wrong_shape_is_named():
    with pytest.raises(ValueError, match=r"simulator of 'my toy' returned shape \(3,\), expected \(2,\)"):
        _problem(simulator=lambda x: np.zeros(3)).output([1.0, 2.0])
    with pytest.raises(ValueError, match=r"simulator of 'my toy' returned shape \(2, 1\)"):
        _problem(simulator=lambda x: np.zeros((2, 1))).output([1.0, 2.0])


def test_jacobian_of_the_wrong_shape_is_named():
    with pytest.raises(ValueError, match=r"jacobian of 'my toy' returned shape \(2, 3\), expected \(2, 2\)"):
        _problem(jacobian=lambda x: np.zeros((2, 3))).jacobian_at([1.0, 2.0])
    with pytest.raises(ValueError, match=r"jacobian of 'my toy' returned shape \(2, 3\)"):
        _problem(jacobian=lambda x: np.zeros((2, 3))).gradient_at([1.0, 2.0])
    # the transpose is a classic mistake for non-square Jacobians
    p = Problem(lambda x: np.array([x[0], x[1], x[0] + x[1]]), lambda x: np.ones((2, 3)), [0, 0, 0], name="tall")
    with pytest.raises(ValueError, match=r"jacobian of 'tall' returned shape \(2, 3\), expected \(3, 2\)"):
        p.jacobian_at([1.0, 2.0])


def test_non_finite_values_are_named():
    with pytest.raises(ValueError, match="x contains 1 non-finite"):
        _problem().output([np.nan, 1.0])
    with pytest.raises(ValueError, match="target contains 1 non-finite"):
        _problem(target=[0.0, np.inf])
    with pytest.raises(ValueError, match="output of the simulator of 'my toy' contains 2 non-finite"):
        _problem(simulator=lambda x: np.array([np.nan, np.inf])).output([1.0, 2.0])
    with pytest.raises(ValueError, match="jacobian of 'my toy' at x contains 1 non-finite"):
        _problem(jacobian=lambda x: np.array([[1.0, np.nan], [0.0, 1.0]])).jacobian_at([1.0, 2.0])
    with pytest.raises(ValueError, match="second_derivatives of 'my toy' contains"):
        _problem(second_derivatives=lambda x: np.full((2, 2, 2), np.nan)).hessian_at([1.0, 2.0])


def test_wrong_x_shapes_are_named():
    with pytest.raises(ValueError, match=r"x must be a 1-D vector, got an array of shape \(2, 1\)"):
        _problem().output([[1.0], [2.0]])
    with pytest.raises(ValueError, match=r"second_derivatives of 'my toy' returned shape \(2, 2\)"):
        _problem(second_derivatives=lambda x: np.zeros((2, 2))).hessian_at([1.0, 2.0])
    with pytest.raises(ValueError, match=r"inverse of 'my toy' returned shape \(3,\)"):
        _problem(inverse=lambda y, x0: np.zeros(3)).invert([1.0, 1.0], [1.0, 1.0])


def test_missing_capabilities_say_what_to_pass():
    with pytest.raises(MissingCapabilityError, match="'my toy' has no second derivatives.*second_derivatives="):
        _problem().hessian_at([1.0, 2.0])
    with pytest.raises(MissingCapabilityError, match="'my toy' has no local inverse.*inverse="):
        _problem().invert([1.0, 1.0], [1.0, 1.0])


def test_problem_constructor_checks_types():
    with pytest.raises(TypeError, match="simulator must be callable"):
        _problem(simulator=3)
    with pytest.raises(TypeError, match="inverse must be callable or None"):
        _problem(inverse="log")
    with pytest.raises(TypeError, match="loss must be a companion.problems.Loss"):
        _problem(loss=lambda y, t: 0.0)


def test_reparametrize_rejects_zero_scales():
    with pytest.raises(ValueError, match="scale must have no zero component"):
        reparametrize(problems.rosenbrock(), [1.0, 0.0])


@pytest.mark.parametrize("alpha, error", [(0.0, ValueError), (np.inf, ValueError), (True, TypeError), ([1.0], TypeError)])
def test_alpha_scaled_rejects_bad_alpha(alpha, error):
    with pytest.raises(error, match="alpha"):
        problems.alpha_scaled(alpha)


def test_affine_problem_hessian_is_gauss_newton_matrix():
    problem = problems.linear([[1.0, 2.0], [0.0, 3.0], [4.0, 0.0]], [1.0, 2.0, 3.0])
    x = np.array([0.3, -0.7])
    jac = problem.jacobian_at(x)
    np.testing.assert_allclose(problem.hessian_at(x), jac.T @ jac)
    gradient, hessian = problem.gradient_and_hessian_at(x)
    np.testing.assert_allclose(gradient, problem.gradient_at(x))
    np.testing.assert_allclose(hessian, jac.T @ jac)


def test_with_target_refuses_a_user_hessian():
    base = problems.alpha_scaled(2.0)
    with_hessian = replace(base, second_derivatives=None, hessian=lambda x: np.eye(2))
    with pytest.raises(ValueError, match="build a new problem"):
        with_hessian.with_target([1.0, 1.0])
    assert base.with_target([1.0, 1.0]).target.tolist() == [1.0, 1.0]


def test_vjp_hook_gives_the_same_gradient_as_the_jacobian():
    base = problems.square_second(target=(1.0, 4.0))
    with_vjp = replace(base, vjp=lambda x, v: base.jacobian_at(x).T @ v)
    x = np.array([0.7, -1.3])
    np.testing.assert_allclose(with_vjp.gradient_at(x), base.gradient_at(x), rtol=1e-14)
    scale = np.array([1.0, 30.0])
    np.testing.assert_allclose(reparametrize(with_vjp, scale).gradient_at(x / scale),
                               reparametrize(base, scale).gradient_at(x / scale), rtol=1e-12)


def test_vjp_hook_is_used_and_checked():
    calls = []
    base = problems.alpha_scaled(2.0)

    def vjp(x, v):
        calls.append(1)
        return np.array([1.0, 2.0, 3.0])  # wrong shape

    with pytest.raises(ValueError, match="vjp"):
        replace(base, vjp=vjp).gradient_at([1.0, 1.0])
    assert calls
    with pytest.raises(TypeError, match="vjp"):
        replace(base, vjp="not callable")
