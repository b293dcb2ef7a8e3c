"""Tests of companion.experiments.inverse_gradients: closed forms, finite differences, exercise answers."""

import numpy as np
import pytest

from companion import SingularMatrixError, linalg, problems, rules
from companion.experiments import inverse_gradients as ig


def central_jacobian(function, x, h=1e-6):
    """Central finite differences of a vector function, column by column."""
    x = np.asarray(x, dtype=float)
    columns = []
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = h
        columns.append((np.asarray(function(x + e)) - np.asarray(function(x - e))) / (2 * h))
    return np.stack(columns, axis=-1)


# --------------------------------------------------------------------------- helpers and dy
def test_loglog_slope_recovers_power_law_and_rejects_bad_input():
    x = np.logspace(-2, 2, 7)
    assert ig.loglog_slope(x, 3 * x**-1.5) == pytest.approx(-1.5)
    with pytest.raises(ValueError, match="positive"):
        ig.loglog_slope([1.0, 2.0], [1.0, -1.0])
    with pytest.raises(ValueError, match="two points"):
        ig.loglog_slope([1.0], [1.0])


def test_weighted_loss_gradient_and_hessian_match_finite_differences():
    loss = ig.weighted_squared_error([2.0, 30.0])
    y, target = np.array([0.3, -1.2]), np.array([1.0, 0.5])
    fd_grad = central_jacobian(lambda v: np.array([loss.value(v, target)]), y)[0]
    np.testing.assert_allclose(loss.gradient(y, target), fd_grad, rtol=1e-7)
    np.testing.assert_allclose(loss.hessian(y, target), central_jacobian(lambda v: loss.gradient(v, target), y),
                               rtol=1e-7)
    with pytest.raises(ValueError, match="weights"):
        ig.weighted_squared_error([1.0, 0.0])


def test_newton_step_in_y_is_eta_times_residual_for_all_quadratic_losses():
    y, target, eta = np.array([1.0, 2.0]), np.array([0.5, -1.0]), 0.3
    steps = ig.newton_steps_in_y(y, target, eta=eta)
    for value in steps.values():
        np.testing.assert_allclose(value, eta * (target - y), atol=1e-14)
    # the full step (eta = 1) lands on the minimum of each quadratic loss
    full = ig.newton_steps_in_y(y, target, eta=1.0)["weighted"]
    assert ig.weighted_squared_error([1.0, 100.0]).value(y + full, target) == pytest.approx(0.0, abs=1e-24)


# --------------------------------------------------------------------------- 1. units
def test_ig_path_is_unit_invariant_and_matches_closed_form():
    out = ig.unit_change_paths(eta_ig=0.5, eta_gd=0.1, steps=6)
    assert out["ig_deviation"] < 1e-12
    assert out["gd_deviation"] > 0.1
    x0 = np.array([-1.0, 2.0])
    expected = out["x_star"] + np.outer(0.5 ** np.arange(7), x0 - out["x_star"])
    np.testing.assert_allclose(out["IG s"], expected, atol=1e-12)
    # x* solves d + 3 t = 4, d - t/2 = 1
    np.testing.assert_allclose(out["x_star"], [10 / 7, 6 / 7])


def test_gd_in_milliseconds_is_worse_even_with_its_best_step():
    sweeps = ig.gd_sweep_in_units(steps=12)
    assert sweeps["other"].best.fun > 10 * sweeps["s"].best.fun


# --------------------------------------------------------------------------- 2. sensitivity
def test_step_sizes_follow_one_over_alpha_and_alpha():
    alphas = np.logspace(-2, 2, 5)
    out = ig.step_sizes_vs_alpha(alphas, eta=0.5)
    np.testing.assert_allclose(out["ig_scalar"], 0.5 / alphas)
    np.testing.assert_allclose(out["gd_scalar"], 0.5 * alphas)
    np.testing.assert_allclose(out["ig_x2"], 0.5 / alphas)
    np.testing.assert_allclose(out["gd_x2"], 0.5 * alphas)
    assert out["slopes"]["ig_x2"] == pytest.approx(-1.0)
    assert out["slopes"]["gd_x2"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="alphas"):
        ig.step_sizes_vs_alpha([-1.0, 1.0])


def test_loss_decrease_closed_forms():
    alphas = np.logspace(-2, 2, 9)
    eta = 0.1
    out = ig.loss_decrease_vs_alpha(alphas, eta=eta)
    np.testing.assert_allclose(out["ig"], 0.5 * (1 - (1 - eta) ** 2))
    np.testing.assert_allclose(out["gd"], 0.5 * (1 - (1 - eta * alphas**2) ** 2))
    assert out["gd_small_alpha_slope"] == pytest.approx(2.0, abs=0.02)
    assert out["ig_spread"] == pytest.approx(1.0)
    assert np.all(out["gd"][alphas > out["gd_divergence_alpha"]] < 0)


# --------------------------------------------------------------------------- 3. near the optimum
def test_exponential_ratios_and_quadratic_convergence():
    out = ig.exponential_runs(steps=40)
    table = out["ig"]
    assert table.ratio[-1] == pytest.approx(0.5, abs=1e-4)
    assert table.residual_ratio[-1] == pytest.approx(0.5, abs=1e-4)
    # independent: Newton's iteration for e^x = c, e_{k+1} = e_k - 1 + exp(-e_k)
    e = [1.0 - np.log(0.1)]
    for _ in range(len(out["ig1"].distance) - 1):
        e.append(e[-1] - 1 + np.exp(-e[-1]))
    np.testing.assert_allclose(out["ig1"].distance, e, rtol=1e-9, atol=1e-14)
    assert out["quadratic_ratios"][-1] == pytest.approx(0.5, abs=1e-3)
    assert np.all(out["gd"].ratio[1:] < 0.01)


def test_square_second_ig_halves_x2_and_gd_stalls():
    out = ig.square_second_runs(eta=1.0, steps=20)
    np.testing.assert_allclose(out["ig_factors"], 0.5)
    np.testing.assert_allclose(out["ig"].ratio, 0.5)
    assert out["ig_x1_after_one"] == 0.0
    assert np.all(np.diff(out["gd"].ratio[1:]) < 0)  # GD's relative step keeps shrinking
    assert out["gd"].ratio[-1] < 1e-3


def test_near_optimum_table_by_hand():
    table = ig.near_optimum_table(problems.alpha_scaled(2.0), [1.0, 1.0], [0.0, 0.0], rules.ig(0.25), 3)
    np.testing.assert_allclose(table.ratio, 0.25)
    np.testing.assert_allclose(table.residual_ratio, 0.75)
    np.testing.assert_allclose(table.distance, np.sqrt(2) * 0.75 ** np.arange(3))


# --------------------------------------------------------------------------- 4. compositions
@pytest.mark.parametrize("name", ["f1", "f2"])
def test_composed_derivatives_match_finite_differences(name):
    maps = ig.composition_maps()
    problem = ig.compose(maps[name], maps["g"], np.zeros(2))
    x = np.array([0.7, -0.3])
    np.testing.assert_allclose(problem.jacobian_at(x), central_jacobian(problem.simulator, x), rtol=1e-7, atol=1e-9)
    second = problem.second_derivatives(x)
    fd_second = central_jacobian(problem.jacobian, x, h=1e-5)  # (m, n, n)
    np.testing.assert_allclose(second, fd_second, rtol=1e-6, atol=1e-8)
    for inner in ("f1", "f2"):
        np.testing.assert_allclose(maps[inner].second(x), central_jacobian(maps[inner].jacobian, x, h=1e-5),
                                   atol=1e-8)


def test_composition_ig_is_second_order_newton_first_order():
    etas = np.logspace(-5, -2, 4)
    out = ig.composition_consistency(etas)
    assert out["slopes"]["ig_diff"] == pytest.approx(2.0, abs=0.05)
    assert out["slopes"]["ig_first_order_error"] == pytest.approx(2.0, abs=0.05)
    assert out["slopes"]["newton_diff"] == pytest.approx(1.0, abs=0.05)
    # independent first-order prediction: dy = J_g^{-1} dz
    maps = ig.composition_maps()
    jg = maps["g"].jacobian(maps["y0"])
    predicted = np.linalg.solve(jg, etas[0] * np.array([0.3, 0.3]))
    for inner in ("f1", "f2"):
        np.testing.assert_allclose(out["ig_dy"][0][inner], predicted, rtol=1e-3)
    # Newton's first-order change of y differs between the inner functions
    newton = out["newton_dy"][0]
    assert np.linalg.norm(newton["f1"] - newton["f2"]) > 0.1 * np.linalg.norm(newton["f1"])
    # both Hessians are positive definite: the difference is not caused by a non-descent Newton step
    assert min(out["hessian_min_eigenvalue"].values()) > 0


# --------------------------------------------------------------------------- 5. non-square, singular
def test_ig_without_rtol_rejects_non_square_jacobian():
    problem = problems.linear(np.ones((3, 2)), np.zeros(3))
    with pytest.raises(SingularMatrixError, match="not square"):
        rules.ig().first_step(problem, [0.0, 0.0])


def test_overdetermined_ig_is_gauss_newton_and_least_squares():
    out = ig.overdetermined_ig_vs_gn()
    assert out["max_difference"] < 1e-12
    problem, x0 = out["problem"], out["x0"]
    a = problem.jacobian_at(x0)
    lstsq = np.linalg.lstsq(a, problem.target, rcond=None)[0]
    np.testing.assert_allclose(x0 + out["ig"] / 0.5, lstsq, atol=1e-12)
    assert out["gradient_after_full_step"] < 1e-12
    with pytest.raises(ValueError, match="m > n"):
        ig.overdetermined_ig_vs_gn(m=2, n=3)


def test_underdetermined_step_is_minimum_norm():
    out = ig.underdetermined_min_norm()
    assert out["residual"] < 1e-12
    assert out["null_component"] < 1e-12
    assert np.all(out["other_norms"] > out["norm"])
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 4)), rng.normal(size=2)
    np.testing.assert_allclose(out["step"], np.linalg.pinv(a) @ b, atol=1e-12)


def test_step_length_blows_up_without_truncation_and_is_bounded_with_it():
    s = np.logspace(-0.1, -12.1, 13)
    out = ig.step_length_vs_smin(s, [0.0, 1e-4])
    dy = np.array([1.0, 1.0])
    for i, value in enumerate(s):
        jac = ig.jacobian_with_smallest_singular_value(float(value))
        # round-off grows with the condition number 1/s
        np.testing.assert_allclose(out[0.0][i], np.linalg.norm(np.linalg.solve(jac, dy)), rtol=1e-4)
    assert np.all(out[1e-4] <= np.linalg.norm(dy) / 1e-4)
    assert out[0.0][-1] > 1e11
    u, sv, vt = np.linalg.svd(ig.jacobian_with_smallest_singular_value(1e-8))
    np.testing.assert_allclose(out[1e-4][-1], abs(u[:, 0] @ dy) / sv[0])


def test_flop_counts():
    assert ig.svd_flops(4, 4) == pytest.approx(8 / 3 * 64)
    assert ig.svd_flops(2, 5) == ig.svd_flops(5, 2)
    assert ig.lu_flops(3) == pytest.approx(18.0)
    assert ig.gradient_flops(3, 4) == 24.0
    timing = ig.time_svd([10, 20], repeats=1)
    assert timing["svd"].shape == (2,) and np.all(timing["svd"] > 0)


# --------------------------------------------------------------------------- exercises
def test_exercise_1_answer():
    out = ig.exercise_ig_step()
    a, b, c, d = out["J"].ravel()
    inverse = np.array([[d, -b], [-c, a]]) / (a * d - b * c)
    np.testing.assert_allclose(out["dx"], inverse @ out["dy"])
    np.testing.assert_allclose(out["dx"], [2.0, -3.0])


def test_exercise_2_answer():
    out = ig.exercise_truncated_step()
    # J = v v^T with v = (1, 2): J^+ = J / |v|^4
    np.testing.assert_allclose(out["dx"], out["J"] @ out["dy"] / 25.0)
    np.testing.assert_allclose(out["achieved"], [0.6, 1.2])
    assert "singular" in out["untruncated_error"]


@pytest.mark.parametrize("eta", [0.2, 0.5, 1.0, 1.5])
def test_exercise_3_answer(eta):
    assert ig.exercise_contraction(eta) == pytest.approx(1 - eta / 2, rel=1e-12)
    with pytest.raises(ValueError, match="eta"):
        ig.exercise_contraction(2.5)
