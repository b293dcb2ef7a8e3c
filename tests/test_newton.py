"""Tests of companion.experiments.newton: the computations of the chapter on Newton and quasi-Newton methods.

Every formula is checked against an independent computation: closed forms,
scipy.differentiate, finite differences, or numpy's own solvers.
"""

import numpy as np
import pytest
from scipy.differentiate import derivative, hessian as fd_hessian

from companion import rules
from companion.errors import SingularMatrixError
from companion.experiments import newton as nt
from companion.problems import rosenbrock


# --------------------------------------------------------------------------- helpers
def test_significant_and_slope():
    assert nt.significant(123456.0, 3) == 123000.0
    assert nt.loglog_slope([1, 2, 4, 8], [5, 40, 320, 2560]) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="x must hold positive"):
        nt.loglog_slope([0.0, 1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="same length"):
        nt.loglog_slope([1.0, 2.0], [1.0, 2.0, 3.0])


# --------------------------------------------------------------------------- 1. units and sensitivity
def test_alpha_scaling_matches_closed_form():
    alphas = np.logspace(-2, 3, 6)
    x = np.array([0.7, -1.3])
    result = nt.alpha_scaling(alphas, x)
    np.testing.assert_allclose(result.inverse_hessians[:, 1, 1], alphas**-2.0, rtol=1e-12)
    np.testing.assert_allclose(result.inverse_hessians[:, 0, 0], 1.0, rtol=1e-12)
    np.testing.assert_allclose(result.gradients[:, 1], alphas**2 * x[1], rtol=1e-12)
    np.testing.assert_allclose(result.newton_steps, np.tile(-x, (alphas.size, 1)), rtol=1e-12)
    np.testing.assert_allclose(result.gd_steps[:, 1], -(alphas**2) * x[1], rtol=1e-12)
    assert result.slope_inverse_hessian == pytest.approx(-2.0, abs=1e-9)
    assert result.slope_gradient == pytest.approx(2.0, abs=1e-9)


def test_alpha_scaling_rejects_bad_input():
    with pytest.raises(ValueError, match="alphas"):
        nt.alpha_scaling([1.0, -2.0])
    with pytest.raises(ValueError, match="x_2"):
        nt.alpha_scaling([1.0, 2.0], x=(1.0, 0.0))


def test_newton_paths_are_the_closed_form_for_every_alpha():
    eta, steps = 0.4, 6
    x0 = np.array([1.0, -2.0])
    paths, deviation = nt.paths_across_alpha([1e-3, 1.0, 1e4], x0, eta, steps)
    expected = np.array([(1 - eta) ** k * x0 for k in range(steps + 1)])
    for path in paths:
        np.testing.assert_allclose(path, expected, rtol=1e-13, atol=1e-15)
    assert deviation < 1e-14


def test_units_newton_is_covariant_gd_is_not():
    for scale in (1e-3, 7.0, 1e3):
        check = nt.units_check(alpha=3.0, scale=scale, x=(0.5, 2.0))
        assert check["newton_mismatch"] < 1e-12 * max(1.0, np.max(np.abs(check["newton_x"])))
        assert check["gd_ratio"] == pytest.approx(scale**2, rel=1e-12)


# --------------------------------------------------------------------------- 2. larger steps where flat
def test_quartic_derivatives_against_scipy():
    problem = nt.quartic()
    for x in (-1.5, 0.3, 2.0):
        gradient = derivative(lambda t: t**4 / 4, x).df
        curvature = derivative(lambda t: t**3, x).df
        assert problem.loss_at([x]) == pytest.approx(x**4 / 4, rel=1e-12)
        assert problem.gradient_at([x])[0] == pytest.approx(gradient, rel=1e-9)
        assert problem.hessian_at([x])[0, 0] == pytest.approx(curvature, rel=1e-9)


def test_step_length_ratio_is_the_inverse_curvature():
    positions = np.array([0.01, 0.2, 1.0, 3.0])
    lengths = nt.step_lengths(positions, eta=0.3)
    np.testing.assert_allclose(lengths["newton"], 0.3 * positions / 3, rtol=1e-12)
    np.testing.assert_allclose(lengths["gd"], 0.3 * positions**3, rtol=1e-12)
    np.testing.assert_allclose(lengths["ratio"], 1 / (3 * positions**2), rtol=1e-12)
    np.testing.assert_allclose(lengths["ratio"], lengths["inverse_curvature"], rtol=1e-12)
    with pytest.raises(ValueError, match="positions"):
        nt.step_lengths([0.0, 1.0])


# --------------------------------------------------------------------------- 3. BFGS
def test_counted_counts_forward_and_jacobian_calls():
    problem, counter = nt.counted(rosenbrock())
    problem.loss_at([0.0, 0.0])
    problem.loss_at([1.0, 0.0])
    problem.gradient_at([0.0, 0.0])
    assert (counter.simulator, counter.jacobian) == (3, 1)
    counter.reset()
    assert (counter.simulator, counter.jacobian) == (0, 0)
    with pytest.raises(TypeError, match="problem"):
        nt.counted("rosenbrock")


def test_compare_bfgs_reaches_the_minimum_with_all_three():
    comparison = nt.compare_bfgs(tol=1e-10)
    assert comparison.companion.success and comparison.newton.success
    np.testing.assert_allclose(comparison.companion.x, [1.0, 1.0], atol=1e-4)
    np.testing.assert_allclose(comparison.scipy_x, [1.0, 1.0], atol=1e-4)
    np.testing.assert_allclose(comparison.scipy_path[-1], comparison.scipy_x)
    assert comparison.scipy_losses[-1] <= 1e-10
    assert comparison.scipy_nit == len(comparison.scipy_path) - 1
    assert rosenbrock().loss_at(comparison.scipy_x) == pytest.approx(comparison.scipy_losses[-1])
    for counts, nit in ((comparison.companion_counts, comparison.companion.nit),
                        (comparison.scipy_counts, comparison.scipy_nit),
                        (comparison.newton_counts, comparison.newton.nit)):
        assert counts[0] >= nit and counts[1] >= nit
    assert comparison.newton.nit < comparison.companion.nit


def test_bfgs_trace_secant_condition_and_line_search():
    trace = nt.bfgs_trace(steps=60)
    assert rosenbrock().loss_at(trace.xs[-1]) <= 1e-10
    assert np.all(trace.secant_residuals < 1e-10)
    assert np.all((trace.step_lengths > 0) & (trace.step_lengths <= 1.0 + 1e-12))
    # the estimate approaches the true inverse Hessian at the solution
    assert trace.final_inverse_hessian_error < 0.5
    for b in trace.inverse_hessians:
        np.testing.assert_allclose(b, b.T, atol=1e-10 * np.abs(b).max())
        assert np.all(np.linalg.eigvalsh(b) > 0)


# --------------------------------------------------------------------------- 4. compositions
def _composite_loss(x, matrix, target, kappa, y0, curved):
    """Vectorised L(g(A x)) for scipy.differentiate (x has shape (n, ...))."""
    y = np.einsum("ij,j...->i...", matrix, x)
    z = y + 0.5 * kappa * (y - y0.reshape((-1,) + (1,) * (y.ndim - 1))) ** 2 if curved else y
    residual = z - target.reshape((-1,) + (1,) * (z.ndim - 1))
    return 0.5 * np.sum(residual**2, axis=0)


@pytest.mark.parametrize("x", [(1.0, 0.5), (-0.4, 2.0)])
def test_composite_hessian_against_scipy(x):
    matrix = np.array([[2.0, 1.0], [0.0, 1.0]])
    target = np.array([0.3, -0.2])
    kappa = 0.8
    steps = nt.composite_newton_steps(x, matrix, target, kappa)
    y0 = steps["y0"]
    for key, curved in (("a", False), ("b", True)):
        numeric_x = fd_hessian(lambda t: _composite_loss(t, matrix, target, kappa, y0, curved), np.array(x)).ddf
        np.testing.assert_allclose(steps[key]["hessian_x"], numeric_x, rtol=1e-6, atol=1e-8)
        numeric_y = fd_hessian(lambda t: _composite_loss(t, np.eye(2), target, kappa, y0, curved), y0).ddf
        np.testing.assert_allclose(steps[key]["hessian_y"], numeric_y, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(steps[key]["newton_y"], -np.linalg.solve(numeric_y, steps[key]["gradient_y"]),
                                   rtol=1e-6)
        np.testing.assert_allclose(steps[key]["newton_x"],
                                   -np.linalg.solve(numeric_x, matrix.T @ steps[key]["gradient_y"]), rtol=1e-6)
    # same value, Jacobian and gradient at y0; different Newton steps
    for quantity in ("value", "jacobian_y", "gradient_y"):
        np.testing.assert_allclose(steps["a"][quantity], steps["b"][quantity], rtol=1e-14)
    assert np.max(np.abs(steps["a"]["newton_y"] - steps["b"]["newton_y"])) > 0.1


def test_composite_rejects_mismatched_matrix():
    with pytest.raises(ValueError, match="matrix"):
        nt.composite_newton_steps(x=(1.0, 2.0, 3.0))


# --------------------------------------------------------------------------- 5. dependence on the Hessian
def test_dense_quadratic_and_flops():
    problem = nt.dense_quadratic(5, seed=3)
    x = np.linspace(-1, 1, 5)
    matrix = problem.jacobian(x)
    np.testing.assert_allclose(problem.gradient_at(x), matrix.T @ (matrix @ x - problem.target))
    step = rules.newton_direction(problem, x)
    np.testing.assert_allclose(problem.gradient_at(x + step), 0.0, atol=1e-10)
    flops = nt.newton_flops(np.array([10, 100]))
    np.testing.assert_allclose(flops["newton"], 4 * np.array([10, 100]) ** 2 + (2 + 2 / 3) * np.array([10, 100]) ** 3)


def test_timing_smoke():
    timing = nt.time_newton_vs_gradient(ns=(20, 40, 80), repeats=2, budget=0.05, fit_from=20)
    for key in ("gradient", "newton", "companion"):
        assert timing[key].shape == (3,) and np.all(timing[key] > 0)
        assert np.isfinite(timing[f"slope_{key}"])
    with pytest.raises(ValueError, match="fit_from"):
        nt.time_newton_vs_gradient(ns=(20, 40), fit_from=100)


def test_condition_sweep_error_grows_like_kappa():
    sweep = nt.condition_sweep(np.logspace(0, 10, 6), samples=100)
    assert np.all(np.diff(sweep["errors"]) > 0)
    assert 0.7 < sweep["slope"] < 1.3
    assert np.all(sweep["errors"] <= 100 * sweep["kappas"] * sweep["epsilon"])
    with pytest.raises(ValueError, match="kappas"):
        nt.condition_sweep([0.5, 10.0])


def test_singular_hessian_message_and_invertible_case():
    message = nt.singular_hessian_message()
    assert "singular" in message and "condition number inf" in message
    with pytest.raises(ValueError, match="invertible"):
        nt.singular_hessian_message(matrix=((1.0, 0.0), (0.0, 1.0)))


def test_double_well_step_goes_uphill():
    x0 = 0.3
    step = nt.double_well_step(x0)
    hessian = 6 * x0**2 - 2
    gradient = 2 * x0 * (x0**2 - 1)
    assert step["hessian"] == pytest.approx(hessian)
    assert step["gradient"] == pytest.approx(gradient)
    assert step["step"] == pytest.approx(-gradient / hessian)
    assert step["loss_after"] == pytest.approx(0.5 * ((x0 - gradient / hessian) ** 2 - 1) ** 2)
    assert step["loss_after"] > step["loss_before"]
    assert step["gd_step"] == pytest.approx(-gradient)
    # beyond the inflection point the step goes downhill
    far = nt.double_well_step(2.0)
    assert far["hessian"] > 0 and far["loss_after"] < far["loss_before"]


def test_saddle_runs():
    runs = nt.saddle_runs()
    np.testing.assert_allclose(runs["newton"].x, [0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(runs["gradient_end"], 0.0, atol=1e-12)
    np.testing.assert_allclose(runs["eigenvalues_end"], [-2.0, 1.0], atol=1e-9)
    assert runs["eigenvalues_start"][0] < 0
    assert runs["newton"].fun == pytest.approx(0.5)
    assert abs(runs["gd"].x[1] - 1.0) < 1e-2 and runs["gd"].fun < 1e-3


def test_relu_forward_and_jacobian():
    net = nt.relu_network(3, 5, 2, seed=4)
    rng = np.random.default_rng(0)
    points = rng.standard_normal((7, 3))
    batch = nt.relu_forward(net, points)
    for point, out in zip(points, batch):
        hidden = np.array([max(0.0, float(w @ point + b)) for w, b in zip(net.w1, net.b1)])
        np.testing.assert_allclose(out, net.w2 @ hidden + net.b2, rtol=1e-12)
        jac = nt.relu_jacobian(net, point)
        h = 1e-6
        numeric = np.array([(nt.relu_forward(net, point + h * e) - nt.relu_forward(net, point - h * e)) / (2 * h)
                            for e in np.eye(3)]).T
        np.testing.assert_allclose(jac, numeric, rtol=1e-6, atol=1e-8)
    with pytest.raises(ValueError, match="input size"):
        nt.relu_forward(net, np.zeros(4))


def test_relu_output_hessian_vanishes_but_tanh_would_not(monkeypatch):
    net = nt.relu_network()
    points = np.random.default_rng(1).standard_normal((30, 4))
    hessians, margin = nt.relu_output_hessian_fd(net, points, h=1e-3)
    assert margin > 2e-3
    assert np.max(np.abs(hessians)) < 1e-8
    # the same stencil sees the curvature of a smooth network: it is not blind
    monkeypatch.setattr(nt, "relu_forward", lambda n, u: np.tanh(u @ n.w1.T + n.b1) @ n.w2.T + n.b2)
    curved, _ = nt.relu_output_hessian_fd(net, points, h=1e-3)
    assert np.max(np.abs(curved)) > 1e-2


def test_relu_loss_hessian_is_gauss_newton_of_low_rank():
    net = nt.relu_network(inputs=4, hidden=16, outputs=2)
    u = np.random.default_rng(1).standard_normal(4)
    result = nt.relu_loss_hessian(net, u, np.zeros(2))
    jac = nt.relu_jacobian(net, u)
    np.testing.assert_allclose(result["gauss_newton"], jac.T @ jac, rtol=1e-12)
    assert result["difference"] < 1e-6
    assert result["rank"] == 2 == np.linalg.matrix_rank(jac.T @ jac)
    with pytest.raises(SingularMatrixError):
        rules.newton().first_step(result["problem"], u)
    step = rules.gauss_newton().first_step(result["problem"], u)
    assert result["problem"].loss_at(u + step) < result["problem"].loss_at(u)


# --------------------------------------------------------------------------- exercises
def test_exercise_quadratic_step():
    hessian = np.array([[4.0, 1.0], [1.0, 3.0]])
    gradient = np.array([1.0, 2.0])
    step = nt.exercise_quadratic_step(hessian, gradient)
    np.testing.assert_allclose(step, [-1 / 11, -7 / 11], rtol=1e-12)
    np.testing.assert_allclose(step, -np.linalg.solve(hessian, gradient), rtol=1e-12)
    # one step from any start lands on the minimiser of 1/2 x^T H x - b^T x
    rng = np.random.default_rng(2)
    b = rng.standard_normal(2)
    for x0 in rng.standard_normal((5, 2)):
        x1 = x0 + nt.exercise_quadratic_step(hessian, hessian @ x0 - b)
        np.testing.assert_allclose(hessian @ x1 - b, 0.0, atol=1e-12)


def test_exercise_composite_hessian_against_scipy():
    for x, target in ((1.0, 2.0), (0.7, -1.0), (-1.2, 0.5)):
        answer = nt.exercise_composite_hessian(x, target)
        numeric = fd_hessian(lambda t: 0.5 * (t[0] ** 3 - target) ** 2, np.array([x])).ddf[0, 0]
        assert answer["hessian"] == pytest.approx(numeric, rel=1e-7)
        assert answer["gradient"] == pytest.approx(derivative(lambda t: 0.5 * (t**3 - target) ** 2, x).df,
                                                   rel=1e-8)
        assert answer["gauss_newton_term"] + answer["second_term"] == pytest.approx(answer["hessian"])
        assert answer["newton_step"] == pytest.approx(-answer["gradient"] / numeric, rel=1e-7)
    answer = nt.exercise_composite_hessian()
    assert (answer["hessian"], answer["newton_step"], answer["gauss_newton_step"]) == (3.0, 1.0, pytest.approx(1 / 3))


def test_exercise_bfgs_update_against_the_hessian_form():
    rng = np.random.default_rng(5)
    for _ in range(5):
        a = rng.standard_normal((3, 3))
        b0 = a @ a.T + 3 * np.eye(3)
        s = rng.standard_normal(3)
        y = s + 0.3 * rng.standard_normal(3)
        if s @ y <= 0:
            continue
        b1 = nt.exercise_bfgs_update(b0, s, y)
        np.testing.assert_allclose(b1 @ y, s, rtol=1e-10, atol=1e-12)
        # the same update written for the Hessian approximation C = B^{-1}
        c0 = np.linalg.inv(b0)
        c1 = c0 - np.outer(c0 @ s, c0 @ s) / (s @ c0 @ s) + np.outer(y, y) / (y @ s)
        np.testing.assert_allclose(b1, np.linalg.inv(c1), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(nt.exercise_bfgs_update(), [[0.75, -0.5], [-0.5, 1.0]], rtol=1e-14)
    with pytest.raises(ValueError, match="curvature condition"):
        nt.exercise_bfgs_update(s=(1.0, 0.0), y=(-1.0, 0.0))
