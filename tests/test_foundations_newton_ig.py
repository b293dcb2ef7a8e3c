"""What the chapters on Newton's method and inverse gradients rely on, tested on the public API.

Each test states a mathematical fact the chapters show (invariance, convergence rates,
Gauss-Newton identities, dependences in a chain of functions) and checks it against an
independent computation: finite differences, numpy/scipy, or a closed form.
"""

import numpy as np
import pytest
import scipy.optimize
from scipy.differentiate import hessian as fd_hessian

from companion import Loss, Problem, SingularMatrixError, linalg, minimize, problems, rules
from companion.nn import MLP

UNIT = np.array([np.diag([1.0, 0.0]), np.diag([0.0, 1.0])])  # d2(u_i^2 / 2)/du2


def vectorised(loss):
    """``loss`` of one point, applied to the arrays of shape (n, ...) that scipy.differentiate passes."""
    def call(v):
        flat = v.reshape(v.shape[0], -1)
        return np.array([loss(flat[:, i]) for i in range(flat.shape[1])]).reshape(v.shape[1:])
    return call


def chain(matrix, x_c, y0, kappa_f, outer, kappa_g, target):
    """x -> y = y0 + A (x - x_c) + kappa_f/2 (x - x_c)^2 -> z = B y + kappa_g/2 (y - y0)^2, L = |z - z*|^2 / 2."""
    A, B = np.asarray(matrix, float), np.asarray(outer, float)

    def f(x):
        return y0 + A @ (x - x_c) + kappa_f / 2 * (x - x_c) ** 2

    def jf(x):
        return A + kappa_f * np.diag(x - x_c)

    def g(y):
        return B @ y + kappa_g / 2 * (y - y0) ** 2

    def jg(y):
        return B + kappa_g * np.diag(y - y0)

    def second(x):
        j, jgy = jf(x), jg(f(x))
        return np.array([j.T @ (kappa_g * UNIT[k]) @ j + np.tensordot(jgy[k], kappa_f * UNIT, axes=1)
                         for k in range(2)])

    problem = Problem(lambda x: g(f(x)), lambda x: jg(f(x)) @ jf(x), target=target, second_derivatives=second)
    return problem, f


# --------------------------------------------------------------------------- Newton
def test_newton_loop_by_hand_matches_minimize_on_rosenbrock():
    problem = problems.rosenbrock()
    x = np.array([-1.2, 1.0])
    by_hand = [x]
    for _ in range(5):
        x = x - np.linalg.solve(problem.hessian_at(x), problem.gradient_at(x))
        by_hand.append(x)
    run = minimize(problem, [-1.2, 1.0], rules.newton(1.0), steps=5)
    np.testing.assert_allclose(run.xs, np.array(by_hand), atol=1e-10)
    assert run.fun < 1e-10


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_newton_path_is_invariant_under_any_invertible_linear_change(seed):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(2, 2)) + 2 * np.eye(2)
    problem, x0 = problems.rosenbrock(), np.array([-1.2, 1.0])
    xs = minimize(problem, x0, rules.newton(0.7), steps=6).xs
    zs = minimize(problems.reparametrize_linear(problem, A), np.linalg.solve(A, x0), rules.newton(0.7), steps=6).xs
    np.testing.assert_allclose(zs @ A.T, xs, atol=1e-8)
    # gradient descent is not invariant under the same change
    gd_x = rules.gd(1e-3).first_step(problem, x0)
    gd_z = A @ rules.gd(1e-3).first_step(problems.reparametrize_linear(problem, A), np.linalg.solve(A, x0))
    assert np.max(np.abs(gd_z - gd_x)) > 1e-4


def test_newton_is_quadratic_at_a_nondegenerate_minimum_with_the_predicted_constant():
    # L = (e^x - a)^2 / 2: L'' = a^2, L''' = 3 a^2 at x* = log a, so e_{k+1}/e_k^2 -> 3/2
    for a in (0.5, 2.0):
        run = minimize(problems.exponential(target=a), [np.log(a) + 0.3], rules.newton(1.0), steps=4)
        e = np.abs(run.xs[:, 0] - np.log(a))
        assert e[3] / e[2] ** 2 == pytest.approx(1.5, rel=2e-2)


def test_newton_is_linear_with_eta_below_one_and_at_a_degenerate_minimum():
    run = minimize(problems.exponential(target=0.5), [0.0], rules.newton(0.5), steps=30)
    e = np.abs(run.xs[:, 0] - np.log(0.5))
    assert e[30] / e[29] == pytest.approx(0.5, rel=1e-4)
    quartic = Problem(lambda x: x**2 / np.sqrt(2), lambda x: np.array([[np.sqrt(2) * x[0]]]), target=[0.0],
                      second_derivatives=lambda x: np.array([[[np.sqrt(2)]]]))
    assert quartic.loss_at([0.7]) == pytest.approx(0.7**4 / 4)
    for eta in (0.5, 1.0):
        xs = minimize(quartic, [1.0], rules.newton(eta), steps=10).xs[:, 0]
        np.testing.assert_allclose(xs[1:] / xs[:-1], 1 - eta / 3, rtol=1e-12)


def test_bfgs_converges_superlinearly_on_rosenbrock_like_scipy():
    problem, x_star = problems.rosenbrock(), np.array([1.0, 1.0])
    run = minimize(problem, [-1.2, 1.0], rules.bfgs(), steps=200, tol=1e-24)
    e = np.linalg.norm(run.xs - x_star, axis=1)
    assert e[-1] < 1e-10
    tail = e[-4:] / e[-5:-1]
    assert np.max(tail) < 0.3 and tail[-1] < 0.05  # far below any linear rate near 1
    reference = scipy.optimize.minimize(problem.loss_at, [-1.2, 1.0], jac=problem.gradient_at, method="BFGS")
    np.testing.assert_allclose(run.x, reference.x, atol=1e-4)


def test_chain_second_derivatives_match_finite_differences():
    problem, _ = chain([[2.0, 1.0], [0.0, 1.0]], np.array([1.0, 0.5]), np.array([2.5, 0.5]), 0.8,
                       [[1.0, 0.5], [-0.3, 1.0]], 0.6, target=[0.1, -0.2])
    for x in (np.array([1.0, 0.5]), np.array([0.3, -0.7])):
        reference = fd_hessian(vectorised(problem.loss_at), x).ddf
        np.testing.assert_allclose(problem.hessian_at(x), reference, atol=1e-6)


def test_newton_change_of_an_intermediate_depends_on_curvature_before_and_after_it():
    x0, A = np.array([1.0, 0.5]), np.array([[2.0, 1.0], [0.0, 1.0]])
    y0 = A @ x0
    steps = {}
    for kappa_f, kappa_g in [(0.0, 0.0), (0.0, 0.8), (0.8, 0.0)]:
        problem, _ = chain(A, x0, y0, kappa_f, np.eye(2), kappa_g, target=[0.0, 0.0])
        steps[kappa_f, kappa_g] = A @ rules.newton(1.0).first_step(problem, x0)
        # same gradient in all cases: backpropagation cannot tell them apart
        np.testing.assert_allclose(problem.gradient_at(x0), A.T @ y0)
        # IG's change of y depends only on the later Jacobian, here I
        np.testing.assert_allclose(A @ rules.ig(1.0).first_step(problem, x0), -y0, atol=1e-12)
    np.testing.assert_allclose(steps[0.0, 0.0], -y0, atol=1e-12)
    assert np.max(np.abs(steps[0.0, 0.8] - steps[0.0, 0.0])) > 0.1   # later function
    assert np.max(np.abs(steps[0.8, 0.0] - steps[0.0, 0.0])) > 0.1   # earlier function


def test_newton_change_of_y_is_independent_of_a_linear_inner_function():
    rng = np.random.default_rng(3)
    y0 = np.array([1.0, -0.5])
    reference = None
    for _ in range(3):
        A = rng.normal(size=(2, 2)) + 2 * np.eye(2)
        x0 = np.linalg.solve(A, y0)
        problem, _ = chain(A, x0, y0, 0.0, [[1.0, 0.5], [-0.3, 1.0]], 0.6, target=[0.2, 0.1])
        dy = A @ rules.newton(1.0).first_step(problem, x0)
        if reference is None:
            reference = dy
        np.testing.assert_allclose(dy, reference, atol=1e-10)


def test_relu_network_has_zero_input_curvature_so_newton_equals_gauss_newton():
    net = MLP((2, 16, 2), activation="relu")
    theta = net.init(np.random.default_rng(0))

    def f(u):
        return net.forward(theta, u)

    def jac(u):
        return net.input_jacobian(theta, u)

    u0, h = np.random.default_rng(1).standard_normal(2), 1e-6
    second = np.stack([(jac(u0 + h * e) - jac(u0 - h * e)) / (2 * h) for e in np.eye(2)], axis=-1)
    assert np.max(np.abs(second)) < 1e-8
    problem = Problem(f, jac, target=[0.5, -0.3], second_derivatives=lambda u: np.zeros((2, 2, 2)))
    np.testing.assert_allclose(rules.newton(1.0).first_step(problem, u0),
                               rules.gauss_newton(1.0).first_step(problem, u0), atol=1e-10)
    # with fewer outputs than inputs J^T J is singular and Newton refuses
    wide = MLP((4, 16, 2), activation="relu")
    theta4 = wide.init(np.random.default_rng(0))
    p4 = Problem(lambda u: wide.forward(theta4, u), lambda u: wide.input_jacobian(theta4, u), target=[0.5, -0.3],
                 second_derivatives=lambda u: np.zeros((2, 4, 4)))
    with pytest.raises(SingularMatrixError):
        rules.newton(1.0).first_step(p4, np.ones(4))


# --------------------------------------------------------------------------- inverse gradients
def test_ig_loop_by_hand_matches_minimize():
    problem = problems.square_second(target=(1.0, 4.0))
    x = np.array([3.0, 3.0])
    by_hand = [x]
    for _ in range(10):
        x = x + np.linalg.solve(problem.jacobian_at(x), 0.5 * (problem.target - problem.output(x)))
        by_hand.append(x)
    run = minimize(problem, [3.0, 3.0], rules.ig(0.5), steps=10)
    np.testing.assert_allclose(run.xs, np.array(by_hand), atol=1e-12)


def test_newton_step_in_y_ignores_constant_factors_and_weights_of_the_loss():
    w = np.array([1.0, 100.0])
    weighted = Loss(lambda y, t: 0.5 * float(w @ (y - t) ** 2), lambda y, t: w * (y - t), lambda y, t: np.diag(w))
    y, target = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    for loss in (problems.squared_error(), problems.squared_error(2.0), weighted):
        p = Problem(lambda x: x, lambda x: np.eye(2), target=target, loss=loss)
        np.testing.assert_allclose(p.newton_step_in_y(y, 0.5), 0.5 * (target - y))


def test_ig_path_is_the_same_in_seconds_and_milliseconds_and_gd_is_not():
    seconds = problems.linear([[1.0, 3.0], [1.0, -0.5]], [4.0, 1.0])
    D = np.array([1.0, 1e-3])
    millis = problems.reparametrize(seconds, D)
    x0 = np.array([-1.0, 2.0])
    ig_s = minimize(seconds, x0, rules.ig(0.5), steps=12).xs
    ig_ms = minimize(millis, x0 / D, rules.ig(0.5), steps=12).xs * D
    np.testing.assert_allclose(ig_ms, ig_s, rtol=1e-12, atol=1e-12)
    x_star = np.linalg.solve([[1.0, 3.0], [1.0, -0.5]], [4.0, 1.0])
    relative = np.max(np.abs(ig_s[-1] - x_star) / np.abs(x_star))
    assert relative == pytest.approx(np.max(np.abs(x0 - x_star) / np.abs(x_star)) * 0.5**12, rel=1e-8)
    gd_s = minimize(seconds, x0, rules.gd(0.1), steps=12).xs
    gd_ms = minimize(millis, x0 / D, rules.gd(0.1), steps=12).xs * D
    assert np.max(np.abs(gd_ms - gd_s)) > 0.1


@pytest.mark.parametrize("alpha", [0.01, 1.0, 100.0])
def test_ig_and_gd_steps_on_the_scalar_sensitivity_problem(alpha):
    p = problems.linear([[alpha]], [1.0])  # L = (alpha x - 1)^2 / 2, the set-up of the GD chapter
    assert rules.ig(0.5).first_step(p, [0.0])[0] == pytest.approx(0.5 / alpha)
    assert rules.gd(0.5).first_step(p, [0.0])[0] == pytest.approx(0.5 * alpha)
    decrease = p.loss_at([0.0]) - p.loss_at(rules.ig(0.1).first_step(p, [0.0]))
    assert decrease == pytest.approx(0.5 * (1 - 0.9**2))


def test_ig_with_eta_one_is_quadratic_on_the_exponential_and_counts_steps_correctly():
    run = minimize(problems.exponential(target=0.1), [1.0], rules.ig(1.0), steps=8)
    e = np.abs(run.xs[:, 0] - np.log(0.1))
    assert 1e-9 < e[7] < 1e-8          # the chapter's "7.8e-09 after 7 steps"
    assert e[7] / e[6] ** 2 == pytest.approx(0.5, rel=1e-2)  # |P''| / (2 |P'|) for e^x
    assert e[8] < 1e-15


def test_ig_halves_x2_when_the_jacobian_is_singular_at_the_solution():
    run = minimize(problems.square_second(), [3.0, 3.0], rules.ig(1.0), steps=30)
    np.testing.assert_allclose(run.xs[1:, 1] / run.xs[:-1, 1], 0.5, rtol=1e-12)
    assert run.xs[1, 0] == 0.0


def test_gauss_newton_is_the_linearised_least_squares_step_and_ig_with_pinv():
    rng = np.random.default_rng(0)
    over = problems.linear(rng.normal(size=(5, 3)), rng.normal(size=5))
    x = np.ones(3)
    J, r = over.jacobian_at(x), over.output(x) - over.target
    expected = np.linalg.lstsq(J, -r, rcond=None)[0]
    np.testing.assert_allclose(rules.gauss_newton(1.0).first_step(over, x), expected, atol=1e-12)
    np.testing.assert_allclose(rules.ig(1.0, rtol=1e-10).first_step(over, x), expected, atol=1e-12)
    assert np.linalg.norm(over.gradient_at(x + expected)) < 1e-10


@pytest.mark.parametrize("start", [(3.0, 3.0), (-1.0, 0.5), (0.2, -2.0)])
def test_gauss_newton_equals_ig_for_a_square_invertible_jacobian(start):
    for problem in (problems.square_second(target=(1.0, 4.0)), problems.rosenbrock()):
        np.testing.assert_allclose(rules.gauss_newton(0.5).first_step(problem, start),
                                   rules.ig(0.5).first_step(problem, start), atol=1e-12)


def test_newton_and_gauss_newton_differ_in_proportion_to_the_residual():
    p = problems.exponential(target=1.0)
    ratios = []
    for x in (1e-2, 1e-3, 1e-4):
        newton, gn = rules.newton(1.0).first_step(p, [x])[0], rules.gauss_newton(1.0).first_step(p, [x])[0]
        residual = p.output([x])[0] - 1.0
        ratios.append(abs(newton - gn) / abs(gn) / abs(residual))
    np.testing.assert_allclose(ratios, 1.0, rtol=2e-2)  # Newton: H = e^{2x} + r e^x, GN: e^{2x}


def test_ig_change_of_an_intermediate_is_second_order_in_the_inner_function_newton_first_order():
    y0, B = np.array([1.25, 0.5]), np.array([[1.0, 0.5], [-0.3, 1.0]])
    target = B @ y0 + np.array([0.3, 0.3])
    inner = [(np.array([[1.0, 1.0], [0.5, 1.0]]), np.array([1.0, 0.5]), -0.8),
             (np.array([[2.7, -1.0], [1.0, 0.5]]), np.array([0.2, -0.4]), -0.5)]
    etas = np.array([1e-4, 1e-3, 1e-2])
    diffs = {"ig": [], "newton": []}
    for eta in etas:
        dys = {"ig": [], "newton": []}
        for A, x_c, kappa in inner:
            p, f = chain(A, x_c, y0, kappa, B, 0.6, target)
            assert np.linalg.eigvalsh(p.hessian_at(x_c))[0] > 0
            dys["ig"].append(f(x_c + rules.ig(eta).first_step(p, x_c)) - y0)
            dys["newton"].append(f(x_c + rules.newton(eta).first_step(p, x_c)) - y0)
            # first order: IG's change of y is B^{-1} dz
            np.testing.assert_allclose(dys["ig"][-1], np.linalg.solve(B, eta * np.array([0.3, 0.3])),
                                       atol=5 * eta**2)
        for key in diffs:
            diffs[key].append(np.linalg.norm(dys[key][0] - dys[key][1]))
    slopes = {k: np.polyfit(np.log(etas), np.log(v), 1)[0] for k, v in diffs.items()}
    assert slopes["ig"] == pytest.approx(2.0, abs=0.05)
    assert slopes["newton"] == pytest.approx(1.0, abs=0.05)


def test_truncated_pseudo_inverse_bounds_the_step_and_gives_minimum_norm_solutions():
    rng = np.random.default_rng(1)
    J, dy = rng.normal(size=(2, 4)), np.array([1.0, -0.5])
    dx = linalg.pinv(J, rtol=1e-10) @ dy
    np.testing.assert_allclose(J @ dx, dy, atol=1e-12)
    null_space = np.linalg.svd(J)[2][2:]
    for c in rng.normal(size=(5, 2)):
        assert np.linalg.norm(dx + c @ null_space) > np.linalg.norm(dx)
    rotation = np.array([[np.cos(0.6), -np.sin(0.6)], [np.sin(0.6), np.cos(0.6)]])
    for s in (1e-3, 1e-8, 1e-12):
        nearly = rotation @ np.diag([1.0, s])
        untruncated = np.linalg.norm(linalg.pinv(nearly, rtol=0.0) @ np.ones(2))
        truncated = np.linalg.norm(linalg.pinv(nearly, rtol=1e-2) @ np.ones(2))
        assert untruncated > 0.1 / s
        assert truncated <= np.sqrt(2) / (1e-2 * 1.0) + 1e-12


def test_rank_one_exercise_projects_onto_the_range_and_refuses_without_rtol():
    rank_one = problems.linear([[1.0, 2.0], [2.0, 4.0]], [0.0, 0.0])
    dx = rules.ig_direction(rank_one, [0.0, 0.0], [1.0, 1.0], rtol=1e-6)
    # the rule's step is the smallest in the unit-free norm |D dx|, D = column norms (sqrt5, 2 sqrt5)
    np.testing.assert_allclose(dx, [0.3, 0.15], atol=1e-12)
    np.testing.assert_allclose(rank_one.jacobian_at([0.0, 0.0]) @ dx, [0.6, 1.2], atol=1e-12)
    euclidean = linalg.pinv(rank_one.jacobian_at([0.0, 0.0]), rtol=1e-6) @ [1.0, 1.0]
    np.testing.assert_allclose(euclidean, [0.12, 0.24], atol=1e-12)
    with pytest.raises(SingularMatrixError):
        rules.ig_direction(rank_one, [0.0, 0.0], [1.0, 1.0])


def test_composite_hessian_exercise_against_scipy():
    cube = Problem(lambda x: x**3, lambda x: np.array([[3 * x[0] ** 2]]), target=[2.0],
                   second_derivatives=lambda x: np.array([[[6 * x[0]]]]))
    reference = fd_hessian(lambda v: 0.5 * (v[0] ** 3 - 2.0) ** 2, np.array([1.0])).ddf
    assert cube.hessian_at([1.0])[0, 0] == pytest.approx(float(np.squeeze(reference)), rel=1e-6)
    assert cube.gauss_newton_matrix_at([1.0])[0, 0] == pytest.approx(9.0)
    assert rules.newton(1.0).first_step(cube, [1.0])[0] == pytest.approx(1.0)
    assert rules.gauss_newton(1.0).first_step(cube, [1.0])[0] == pytest.approx(1 / 3)
