"""companion.rules: every update rule against its formula, on problems whose answer is known."""

import numpy as np
import pytest
import scipy.optimize
from hypothesis import assume, given, settings, strategies as st

from companion import minimize, problems, rules
from companion.errors import InverseError, MissingCapabilityError, SingularMatrixError
from companion.problems import Problem

SETTINGS = settings(deadline=None, max_examples=50)


@st.composite
def linear_problems(draw, max_n=5, square=True, log_spread=1.0):
    """(A, b, x0): A = U diag(s) V^T with s in 10^[-spread, spread] (condition number <= 100)."""
    n = draw(st.integers(1, max_n))
    m = n if square else draw(st.integers(n, max_n + 2))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    s = 10.0 ** np.array(draw(st.lists(st.floats(-log_spread, log_spread), min_size=n, max_size=n)))
    u = np.linalg.qr(rng.normal(size=(m, m)))[0][:, :n]
    v = np.linalg.qr(rng.normal(size=(n, n)))[0]
    a = (u * s) @ v.T
    b = np.array(draw(st.lists(st.floats(-10, 10), min_size=m, max_size=m)))
    x0 = np.array(draw(st.lists(st.floats(-10, 10), min_size=n, max_size=n)))
    return a, b, x0


def etas():
    return st.floats(0.05, 1.0)


def close(actual, expected, rtol=1e-9, scale=1.0):
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


# --------------------------------------------------------------------------- one step on a linear problem
ONE_STEP_RULES = {
    "newton": rules.newton,
    "gauss_newton": rules.gauss_newton,
    "ig": rules.ig,
    "pg": rules.pg,
}


@pytest.mark.parametrize("name", sorted(ONE_STEP_RULES))
@SETTINGS
@given(case=linear_problems())
def test_second_order_and_inverse_rules_solve_a_linear_problem_in_one_step(name, case):
    a, b, x0 = case
    p = problems.linear(a, b)
    solution = np.linalg.solve(a, b)
    scale = 1 + np.abs(solution).max() + np.abs(x0).max()
    x1 = x0 + ONE_STEP_RULES[name]().first_step(p, x0)
    close(x1, solution, scale=scale)
    # and the driver stops there: converged after exactly one step
    tol = 1e-20 * scale**2 * max(1.0, np.abs(a).max()) ** 2
    assume(p.loss_at(x0) > 1e6 * tol)
    result = minimize(p, x0, ONE_STEP_RULES[name](), steps=10, tol=tol)
    assert (result.status, result.nit) == (0, 1), result


@pytest.mark.parametrize("name", sorted(ONE_STEP_RULES))
@SETTINGS
@given(case=linear_problems(), eta=etas())
def test_step_size_scales_the_step_on_a_linear_problem(name, case, eta):
    """x1 = x0 + eta (x* - x0) for Newton, Gauss-Newton, IG and PG."""
    a, b, x0 = case
    p = problems.linear(a, b)
    solution = np.linalg.solve(a, b)
    scale = 1 + np.abs(solution).max() + np.abs(x0).max()
    close(ONE_STEP_RULES[name](eta).first_step(p, x0), eta * (solution - x0), scale=scale)


@SETTINGS
@given(case=linear_problems(square=False))
def test_gauss_newton_and_ig_with_rtol_give_the_least_squares_solution_for_tall_matrices(case):
    a, b, x0 = case
    p = problems.linear(a, b)
    solution = np.linalg.lstsq(a, b, rcond=None)[0]
    scale = 1 + np.abs(solution).max() + np.abs(x0).max()
    close(x0 + rules.gauss_newton().first_step(p, x0), solution, scale=scale)
    if a.shape[0] > a.shape[1]:
        close(x0 + rules.ig(rtol=1e-10).first_step(p, x0), solution, scale=scale)


def test_gauss_newton_truncates_singular_values_of_j_not_of_j_transpose_j():
    """The default rtol keeps a singular value ratio of 2.5e-7 of J (6e-14 in J^T J) and drops 2.5e-15."""
    near = np.array([[1.0, 1.0], [1.0, 1.0 + 1e-6]])
    target = near @ [1.0, -1.0]
    close(rules.gauss_newton().first_step(problems.linear(near, target), [0.0, 0.0]), [1.0, -1.0], rtol=1e-6)
    # ... and drops the mode whose unit-free singular value ratio is below rtol: the step then has
    # the smallest |D dx| (D = column norms), here equal components
    flat = np.array([[1.0, 1.0], [1.0, 1.0 + 1e-14]])
    step = rules.gauss_newton().first_step(problems.linear(flat, [2.0, 2.0]), [0.0, 0.0])
    close(step, [1.0, 1.0], rtol=1e-6)
    # a raw diag(1, 1e-11) is only badly scaled, not singular: nothing is dropped
    tiny = problems.linear(np.diag([1.0, 1e-11]), [0.0, 0.0])
    close(rules.gauss_newton().first_step(tiny, [1.0, 1.0]), [-1.0, -1.0])


@SETTINGS
@given(case=linear_problems(), eta=st.floats(1e-3, 10.0))
def test_gd_step_is_minus_eta_times_the_gradient(case, eta):
    a, b, x0 = case
    p = problems.linear(a, b)
    step = rules.gd(eta).first_step(p, x0)
    np.testing.assert_array_equal(step, -eta * p.gradient_at(x0))
    gradient = a.T @ (a @ x0 - b)
    close(step, -eta * gradient, scale=eta * (1 + np.abs(gradient).max()), rtol=1e-12)


def test_gd_is_not_scale_invariant_on_alpha_scaled():
    np.testing.assert_array_equal(rules.gd(0.1).first_step(problems.alpha_scaled(2.0), [1.0, 1.0]), [-0.1, -0.4])


# --------------------------------------------------------------------------- general losses
def _weighted_loss(weights):
    weights = np.asarray(weights, dtype=float)
    return problems.Loss(lambda y, t: 0.5 * float((y - t) @ weights @ (y - t)),
                         lambda y, t: weights @ (y - t), lambda y, t: weights, "weighted")


@SETTINGS
@given(case=linear_problems(max_n=3), scale=st.floats(0.1, 10.0))
def test_loss_scale_and_weights_do_not_change_newton_gn_ig_pg_on_a_linear_problem(case, scale):
    a, b, x0 = case
    n = len(b)
    weights = np.eye(n) + 0.3 * np.ones((n, n))
    solution = np.linalg.solve(a, b)
    bound = 1 + np.abs(solution).max() + np.abs(x0).max()
    from dataclasses import replace

    for loss in (problems.squared_error(scale), _weighted_loss(weights)):
        p = replace(problems.linear(a, b), loss=loss)
        for rule in (rules.newton(), rules.gauss_newton(), rules.ig(), rules.pg()):
            close(x0 + rule.first_step(p, x0), solution, scale=bound, rtol=1e-8)


# --------------------------------------------------------------------------- Adam
@SETTINGS
@given(st.floats(-3, 3), st.floats(-3, 3), st.floats(-3, 3), st.floats(1e-3, 1.0))
def test_adam_first_step_has_length_eta_in_every_component(log_alpha, x1, x2, eta):
    p = problems.alpha_scaled(10.0**log_alpha)
    gradient = p.gradient_at([x1, x2])
    assume(np.all(np.abs(gradient) > 1e-4))
    step = rules.adam(eta).first_step(p, [x1, x2])
    # exactly eta |g| / (|g| + eps), i.e. eta to within eps / |g|
    np.testing.assert_allclose(np.abs(step), eta * np.abs(gradient) / (np.abs(gradient) + 1e-8), rtol=1e-12)
    np.testing.assert_allclose(np.abs(step), eta, rtol=1e-4)
    np.testing.assert_array_equal(np.sign(step), -np.sign(gradient))


def _adam_reference(gradient, x0, eta, beta1, beta2, eps, steps):
    x, m, v, path = np.array(x0, float), 0.0, 0.0, [np.array(x0, float)]
    for t in range(1, steps + 1):
        g = gradient(x)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        x = x - eta * m_hat / (np.sqrt(v_hat) + eps)
        path.append(x.copy())
    return np.array(path), m, v


@pytest.mark.parametrize("beta1, beta2, eps", [(0.9, 0.999, 1e-8), (0.5, 0.8, 1e-3), (0.0, 0.3, 0.5)])
@SETTINGS
@given(x0=st.lists(st.floats(-2, 2), min_size=2, max_size=2), eta=st.floats(1e-3, 0.1))
def test_adam_matches_a_hand_written_reference(beta1, beta2, eps, x0, eta):
    p = problems.rosenbrock()
    steps = 6
    expected, m, v = _adam_reference(p.gradient_at, x0, eta, beta1, beta2, eps, steps)
    rule = rules.adam(eta, beta1=beta1, beta2=beta2, eps=eps)
    assume(p.loss_at(x0) > 0)  # else the driver stops at once
    # blowup off: from a start near the minimum a large step may raise the loss a millionfold
    result = minimize(p, x0, rule, steps=steps, blowup=1e300)
    assert result.nit == steps
    np.testing.assert_allclose(result.xs, expected, rtol=1e-12, atol=1e-12)
    # the moments in the state, stepping by hand
    state, x = rule.init(p, np.array(x0)), np.array(x0, float)
    for _ in range(steps):
        dx, state = rule.step(p, x, state)
        x = x + dx
    assert state.t == steps
    np.testing.assert_allclose(state.m, m, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(state.v, v, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- BFGS
@SETTINGS
@given(case=linear_problems(max_n=4), seed=st.integers(0, 2**32 - 1))
def test_bfgs_update_satisfies_the_secant_condition(case, seed):
    """After a step from x0 to x1, B_1 (g1 - g0) = x1 - x0, B_1 symmetric positive definite."""
    a, b, x0 = case
    p = problems.linear(a, b)
    x1 = x0 + np.random.default_rng(seed).normal(size=x0.size)
    rule = rules.bfgs(line_search=False)
    _, state = rule.step(p, x0, rule.init(p, x0))
    _, state = rule.step(p, x1, state)
    inverse_hessian = state.inverse_hessian
    s, y = x1 - x0, p.gradient_at(x1) - p.gradient_at(x0)
    close(inverse_hessian @ y, s, rtol=1e-8, scale=np.abs(s).max())
    close(inverse_hessian, inverse_hessian.T, rtol=1e-10, scale=np.abs(inverse_hessian).max())
    assert np.linalg.eigvalsh(inverse_hessian).min() > 0
    # and the step it takes next is -B_1 g1
    dx, _ = rule.step(p, x1, rule.step(p, x0, rule.init(p, x0))[1])
    close(dx, -inverse_hessian @ p.gradient_at(x1), scale=np.abs(dx).max())


@SETTINGS
@given(st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_bfgs_update_formula_on_random_pairs(n, seed):
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(n, n))
    b0 = m @ m.T + n * np.eye(n)
    s, y = rng.normal(size=n), rng.normal(size=n)
    assume(s @ y > 1e-3 * np.linalg.norm(s) * np.linalg.norm(y))
    b1 = rules._bfgs_update(b0, s, y)
    close(b1 @ y, s, scale=np.abs(s).max())
    rho = 1 / (s @ y)
    expected = (np.eye(n) - rho * np.outer(s, y)) @ b0 @ (np.eye(n) - rho * np.outer(y, s)) + rho * np.outer(s, s)
    close(b1, expected, scale=np.abs(expected).max())
    # a pair that violates the curvature condition leaves the estimate alone
    np.testing.assert_array_equal(rules._bfgs_update(b0, s, -y), b0)


def _exact_line_search(inner, hessian):
    """Wrap bfgs(line_search=False) with the exact step length of a quadratic of Hessian H."""
    def step(problem, x, state):
        direction, state = inner.step(problem, x, state)
        curvature = direction @ hessian @ direction
        t = 0.0 if curvature == 0 else -(problem.gradient_at(x) @ direction) / curvature
        return t * direction, state

    return rules.Rule("BFGS exact", inner.init, step, 1.0)


@SETTINGS
@given(case=linear_problems(max_n=5, log_spread=0.5))
def test_bfgs_with_exact_line_search_solves_a_quadratic_in_n_steps(case):
    a, b, x0 = case
    n = len(b)
    p = problems.linear(a, b)
    hessian = a.T @ a
    solution = np.linalg.solve(a, b)
    inner = rules.bfgs(line_search=False)
    result = minimize(p, x0, _exact_line_search(inner, hessian), steps=n)
    scale = 1 + np.abs(solution).max() + np.abs(x0).max()
    close(result.x, solution, rtol=1e-7, scale=scale)
    # hereditary secant condition: the final estimate B_n maps H s_j to s_j for every step j
    assume(np.linalg.norm(p.gradient_at(x0)) > 1e-3 * scale)
    state, x, steps = inner.init(p, x0), x0.copy(), []
    for _ in range(n):
        dx, state = _exact_line_search(inner, hessian).step(p, x, state)
        steps.append(dx)
        x = x + dx
    np.testing.assert_allclose(x, result.x, rtol=1e-12, atol=1e-12 * scale)
    # the n-th update (the rule applies it only at its next step, where g = 0 would restart it)
    estimate = rules._bfgs_update(state.inverse_hessian, x - state.x, p.gradient_at(x) - state.gradient)
    if all(np.abs(s).max() > 1e-6 * scale for s in steps):  # no early convergence, then rounding-level steps
        for s in steps:
            close(estimate @ hessian @ s, s, rtol=1e-6, scale=np.abs(s).max())
        close(estimate, np.linalg.inv(hessian), rtol=1e-5, scale=np.abs(np.linalg.inv(hessian)).max())


@SETTINGS
@given(case=linear_problems(max_n=4))
def test_bfgs_with_wolfe_line_search_solves_a_quadratic(case):
    a, b, x0 = case
    p = problems.linear(a, b)
    solution = np.linalg.solve(a, b)
    scale = 1 + np.abs(solution).max() + np.abs(x0).max()
    result = minimize(p, x0, rules.bfgs(), steps=200, tol=1e-24 * scale**2)
    close(result.x, solution, rtol=1e-8, scale=scale)
    assert np.all(np.diff(result.losses) <= 1e-12 * result.losses[0])  # a line search never goes uphill


def test_bfgs_first_step_without_line_search_is_minus_eta_gradient():
    np.testing.assert_array_equal(rules.bfgs(0.5, line_search=False).first_step(problems.alpha_scaled(1.0), [1.0, 1.0]),
                                  [-0.5, -0.5])


def test_bfgs_rejects_eta_with_line_search():
    with pytest.raises(ValueError, match="eta has no effect with line_search=True"):
        rules.bfgs(0.5)
    with pytest.raises(TypeError, match="line_search must be True or False"):
        rules.bfgs(line_search="yes")


# --------------------------------------------------------------------------- Rosenbrock against scipy
@pytest.mark.parametrize("x0", [(-1.2, 1.0), (2.0, 2.0), (-0.5, 2.0), (0.0, 0.0), (1.5, -1.0)])
def test_newton_and_bfgs_find_scipys_rosenbrock_minimiser(x0):
    p = problems.rosenbrock()
    reference = scipy.optimize.minimize(p.loss_at, x0, jac=p.gradient_at, method="BFGS", options={"gtol": 1e-12})
    assert reference.success
    for rule, steps in ((rules.newton(), 50), (rules.bfgs(), 300)):
        result = minimize(p, x0, rule, steps=steps, tol=1e-24)
        assert result.status == 0, result
        np.testing.assert_allclose(result.x, reference.x, atol=1e-6)
    np.testing.assert_allclose(reference.x, [1.0, 1.0], atol=1e-6)


# --------------------------------------------------------------------------- inverse simulator
@SETTINGS
@given(st.floats(0.1, 10.0), st.floats(0.1, 10.0), st.sampled_from([1.0, -1.0]), st.floats(0.1, 1.0))
def test_pg_on_scalar_square_converges_to_the_root_on_the_side_of_the_start(target, start, sign, eta):
    x0 = sign * start
    assume(abs(start**2 - target) > 1e-10 * target)  # else the start already meets tol: no step to check
    result = minimize(problems.scalar_square(target), [x0], rules.pg(eta), steps=500, tol=1e-24 * target**2)
    assert result.status == 0, result
    assert result.x[0] == pytest.approx(sign * np.sqrt(target), rel=1e-10)
    assert np.all(np.sign(result.xs[:, 0]) == sign)  # it never crosses the kink at 0
    # y moves towards the target by eta of the remaining distance
    close(result.ys[1], result.ys[0] + eta * (target - result.ys[0]), rtol=1e-12, scale=target)


def test_pg_docstring_example():
    np.testing.assert_allclose(rules.pg_step(problems.scalar_square(target=4.0), [-1.0]), [-1.0])
    np.testing.assert_allclose(rules.pg(0.5).first_step(problems.square_second(), [3.0, 3.0]),
                               [-1.5, np.sqrt(4.5) - 3.0], rtol=1e-14)


@SETTINGS
@given(st.floats(0.5, 5.0), st.sampled_from([1.0, -1.0]), st.floats(0.1, 1.0))
def test_pg_on_square_second_keeps_the_sign_of_x2(start, sign, eta):
    p = problems.square_second(target=(1.0, 4.0))
    result = minimize(p, [3.0, sign * start], rules.pg(eta), steps=500, tol=1e-24)
    assert result.status == 0, result
    close(result.x, [1.0, sign * 2.0], rtol=1e-10)


def test_pg_falls_back_when_the_inverse_fails():
    p = problems.square_second(target=(0.0, -1.0))  # y2 = -1 has no preimage
    x0 = np.array([3.0, 3.0])
    with pytest.raises(InverseError, match="no real preimage"):
        rules.pg(1.0).first_step(p, x0)
    for fallback in (rules.ig(1.0), rules.gd(0.01), rules.newton(0.5)):
        np.testing.assert_array_equal(rules.pg(1.0, fallback=fallback).first_step(p, x0), fallback.first_step(p, x0))
    # with eta = 0.5 the inverse exists and the fallback is not used
    np.testing.assert_allclose(rules.pg(0.5, fallback=rules.gd(0.01)).first_step(p, x0), [-1.5, 2.0 - 3.0])
    # a stateful fallback gets its own state
    step = rules.pg(1.0, fallback=rules.adam(0.1)).first_step(p, x0)
    np.testing.assert_allclose(np.abs(step), [0.1, 0.1], rtol=1e-6)


def test_pg_without_fallback_fails_in_the_driver_with_the_inverse_message():
    p = problems.square_second(target=(0.0, -1.0))
    result = minimize(p, [3.0, 3.0], rules.pg(1.0), steps=10)
    assert result.status == 4
    assert "PG failed at step 1" in result.message and "no real preimage for y2 = -1" in result.message
    assert result.nit == 0 and len(result.xs) == 1
    with_fallback = minimize(p, [3.0, 3.0], rules.pg(1.0, fallback=rules.ig(0.5)), steps=20)
    assert with_fallback.status == 1 and with_fallback.nit == 20


def test_pg_rejects_a_fallback_that_is_not_a_rule():
    with pytest.raises(TypeError, match="fallback must be a Rule"):
        rules.pg(fallback=lambda p, x: x)


# --------------------------------------------------------------------------- misuse: clear errors
def _no_extras():
    return Problem(lambda x: np.array([x[0], x[1] ** 2]), lambda x: np.array([[1.0, 0.0], [0.0, 2 * x[1]]]),
                   [0.0, 0.0], name="bare")


def test_pg_needs_an_inverse():
    with pytest.raises(MissingCapabilityError, match="pg needs a local inverse.*'Rosenbrock'.*inverse="):
        rules.pg().first_step(problems.rosenbrock(), [0.0, 0.0])
    with pytest.raises(MissingCapabilityError, match="inverse"):
        minimize(_no_extras(), [1.0, 1.0], rules.pg())
    with pytest.raises(MissingCapabilityError, match="inverse"):
        rules.pg_step(_no_extras(), [1.0, 1.0])


def test_newton_needs_second_derivatives():
    with pytest.raises(MissingCapabilityError, match="newton needs the Hessian.*'bare'.*second_derivatives"):
        rules.newton().first_step(_no_extras(), [1.0, 1.0])
    with pytest.raises(MissingCapabilityError, match="second_derivatives"):
        minimize(_no_extras(), [1.0, 1.0], rules.newton())
    # the Jacobian-only rules work on it
    for rule in (rules.gd(0.1), rules.gauss_newton(), rules.ig(), rules.bfgs(), rules.adam(0.1)):
        assert np.all(np.isfinite(rule.first_step(_no_extras(), [1.0, 1.0])))


def test_newton_on_a_singular_hessian():
    p = problems.square_second()  # at x2 = 0 the Hessian is diag(1, 0)
    with pytest.raises(SingularMatrixError, match=r"Hessian of 'y = \(x1, x2\^2\)' is singular.*use gauss_newton"):
        rules.newton().first_step(p, [1.0, 0.0])
    result = minimize(p, [1.0, 0.0], rules.newton())
    assert result.status == 4 and "singular" in result.message


@pytest.mark.parametrize("alpha", [1e-8, 1e-3, 1.0, 1e4, 1e8])
def test_newton_is_not_fooled_by_badly_scaled_but_regular_hessians(alpha):
    """diag(1, alpha^2) is invertible for every alpha: Newton takes the exact step."""
    close(rules.newton().first_step(problems.alpha_scaled(alpha), [1.0, 1.0]), [-1.0, -1.0], rtol=1e-12)


def test_ig_needs_a_square_jacobian_or_rtol():
    p = problems.linear([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]], [1.0, 2.0, 5.0])
    with pytest.raises(SingularMatrixError, match=r"Jacobian of 'linear \(3x2\)' is not square.*rtol"):
        rules.ig().first_step(p, [0.0, 0.0])
    np.testing.assert_allclose(rules.ig(rtol=1e-8).first_step(p, [0.0, 0.0]), [1.0, 1.0])
    np.testing.assert_allclose(rules.ig(0.5, rtol=1e-8).first_step(p, [0.0, 0.0]), [0.5, 0.5])
    # a singular square Jacobian is also reported, and rtol repairs it too
    flat = problems.square_second(target=(1.0, 1.0))
    with pytest.raises(SingularMatrixError, match="singular.*rtol"):
        rules.ig().first_step(flat, [0.0, 0.0])
    np.testing.assert_allclose(rules.ig(rtol=1e-8).first_step(flat, [0.0, 0.0]), [1.0, 0.0])


@pytest.mark.parametrize("factory", [rules.gd, rules.adam, rules.newton, rules.gauss_newton, rules.ig, rules.pg,
                                     lambda eta: rules.bfgs(eta, line_search=False)])
@pytest.mark.parametrize("eta, error, match", [
    (0.0, ValueError, "eta must be positive"),
    (-0.1, ValueError, "eta must be positive"),
    (float("nan"), ValueError, "eta must be finite"),
    (float("inf"), ValueError, "eta must be finite"),
    (True, TypeError, "eta must be a real number, got bool"),
    ("0.1", TypeError, "eta must be a real number, got str"),
    (None, TypeError, "eta must be a real number"),
])
def test_bad_step_sizes_name_eta(factory, eta, error, match):
    with pytest.raises(error, match=match):
        factory(eta)


@pytest.mark.parametrize("make", [lambda: rules.adam(beta1=1.0), lambda: rules.adam(beta2=-0.1),
                                  lambda: rules.adam(eps=0.0), lambda: rules.newton(rtol=2.0),
                                  lambda: rules.gauss_newton(rtol=-1.0), lambda: rules.ig(rtol=1.0)])
def test_bad_hyper_parameters_are_named(make):
    with pytest.raises(ValueError, match="beta1|beta2|eps|rtol"):
        make()


def test_rules_reject_things_that_are_not_problems():
    with pytest.raises(TypeError, match="problem must be a companion.Problem"):
        rules.gd(0.1).first_step("rosenbrock", [1.0, 1.0])


def test_first_step_checks_x0():
    with pytest.raises(ValueError, match="x0 contains 1 non-finite"):
        rules.gd(0.1).first_step(problems.rosenbrock(), [np.nan, 1.0])
    with pytest.raises(ValueError, match=r"x0 must be a 1-D vector"):
        rules.gd(0.1).first_step(problems.rosenbrock(), [[1.0, 1.0]])


# --------------------------------------------------------------------------- BFGS: initial scaling, first trial step
def _convex_problem():
    """L(x) = x^T Q x / 2 + sum exp(x_i) - c^T x: smooth, strictly convex, not quadratic."""
    q = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 0.5]])
    c = np.array([1.0, -2.0, 0.5])
    loss = problems.Loss(lambda y, t: float(0.5 * y @ q @ y + np.sum(np.exp(y)) - c @ y),
                         lambda y, t: q @ y + np.exp(y) - c, lambda y, t: q + np.diag(np.exp(y)), "convex")
    minimum = np.zeros(3)
    for _ in range(50):  # Newton's method, to rounding
        minimum = minimum - np.linalg.solve(q + np.diag(np.exp(minimum)), q @ minimum + np.exp(minimum) - c)
    return Problem(lambda x: x, lambda x: np.eye(3), np.zeros(3), loss=loss, affine=True), minimum


def test_bfgs_converges_superlinearly_on_a_smooth_strictly_convex_problem():
    """e_{k+1} / e_k -> 0 (Nocedal & Wright Thm 6.6), not merely < 1."""
    problem, minimum = _convex_problem()
    result = minimize(problem, [2.0, 2.0, -2.0], rules.bfgs(), steps=40)
    errors = np.linalg.norm(result.xs - minimum, axis=1)
    assert errors.min() < 1e-9
    above_rounding = np.flatnonzero(errors > 1e-9)
    ratios = errors[above_rounding[1:]] / errors[above_rounding[1:] - 1]
    assert np.all(ratios[-3:] < 0.1), ratios
    assert ratios[-1] < 0.1 * np.median(ratios[: len(ratios) // 2]), ratios


def test_bfgs_scales_the_initial_inverse_hessian_before_its_first_update():
    """B_1 = update(gamma I, s, y) with gamma = s^T y / y^T y (Nocedal & Wright eq. 6.20)."""
    p = problems.alpha_scaled(30.0, target=(1.0, 2.0))
    x0, x1 = np.array([3.0, 3.0]), np.array([2.0, 2.5])
    rule = rules.bfgs(line_search=False)
    _, state = rule.step(p, x0, rule.init(p, x0))
    assert not state.scaled
    _, state = rule.step(p, x1, state)
    s, y = x1 - x0, p.gradient_at(x1) - p.gradient_at(x0)
    gamma = (s @ y) / (y @ y)
    assert state.scaled
    np.testing.assert_allclose(state.inverse_hessian, rules._bfgs_update(gamma * np.eye(2), s, y), rtol=1e-12)


def test_the_first_line_search_trial_repeats_the_previous_decrease():
    """t0 = min(1, 1.01 * 2 (f_k - f_{k-1}) / phi'(0)); at the first step |t0 d| = 1.01 for d = -g."""
    assert rules._first_trial_step(5.0, 6.0, -4.0, 2.0) == pytest.approx(1.01 * 2 * (5.0 - 6.0) / -4.0)
    assert rules._first_trial_step(5.0, 100.0, -4.0, 2.0) == 1.0  # capped at 1
    assert rules._first_trial_step(5.0, 4.0, -4.0, 2.0) == 1.0  # no previous decrease: the full step
    g = np.array([300.0, -400.0])
    t0 = rules._first_trial_step(1e5, None, -float(g @ g), float(np.linalg.norm(g)))
    assert t0 * np.linalg.norm(g) == pytest.approx(1.01)
