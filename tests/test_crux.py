"""Tests of companion.experiments.crux and companion.widgets (chapter *The crux of the matter*)."""

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from companion import minimize, problems, rules
from companion.experiments import crux
from companion.tuning import log_grid
from companion import widgets


def central_difference_gradient(problem, x, h=1e-6):
    x = np.asarray(x, dtype=float)
    grad = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        grad[i] = (problem.loss_at(x + e) - problem.loss_at(x - e)) / (2 * h)
    return grad


def brute_force_count(rho, tol_rel):
    """Smallest k with rho^(2k) <= tol_rel, by looping."""
    k, value = 0, 1.0
    while value > tol_rel:
        k += 1
        value *= rho * rho
    return k


# --------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize("alpha", [0.3, 1.0, 4.0, 16.0])
def test_gradient_formula_matches_problem_and_finite_differences(alpha):
    problem = problems.alpha_scaled(alpha)
    x = np.array([1.5, -0.7])
    formula = crux.gd_gradient(alpha, x)
    np.testing.assert_allclose(formula, problem.gradient_at(x), rtol=1e-14)
    np.testing.assert_allclose(formula, central_difference_gradient(problem, x), rtol=1e-6)
    # the square of alpha: not alpha itself
    assert formula[1] == pytest.approx(alpha**2 * x[1])


def test_direction_angle_closed_form():
    for alpha in (2.0, 16.0):
        x = np.array([1.5, 1.5])
        g = np.array([x[0], alpha**2 * x[1]])
        expected = math.degrees(math.acos(g @ x / (np.linalg.norm(g) * np.linalg.norm(x))))
        assert crux.direction_angle(problems.alpha_scaled(alpha), x) == pytest.approx(expected, rel=1e-10)
    assert crux.direction_angle(problems.alpha_scaled(1.0), [0.3, -2.0]) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 3.0, 10.0])
def test_stability_limit_is_two_over_largest_eigenvalue(alpha):
    jac = problems.alpha_scaled(alpha).jacobian_at(np.zeros(2))
    largest = np.max(np.linalg.eigvalsh(jac.T @ jac))
    assert crux.stability_limit(alpha) == pytest.approx(2 / largest, rel=1e-14)
    problem = problems.alpha_scaled(alpha)
    below = minimize(problem, [1.0, 1.0], rules.gd(0.98 * crux.stability_limit(alpha)), steps=2000)
    above = minimize(problem, [1.0, 1.0], rules.gd(1.05 * crux.stability_limit(alpha)), steps=2000)
    assert below.fun < problem.loss_at([1.0, 1.0])
    assert above.fun > problem.loss_at([1.0, 1.0]) or above.status_name == "diverged"


@pytest.mark.parametrize("alpha", [2.0, 3.0, 10.0])
def test_optimal_step_minimises_contraction_and_contraction_is_spectral_radius(alpha):
    etas = np.linspace(1e-4, crux.stability_limit(alpha), 20001)
    radii = [max(abs(np.linalg.eigvals(np.eye(2) - e * np.diag([1.0, alpha**2])))) for e in etas]
    best = etas[int(np.argmin(radii))]
    assert best == pytest.approx(crux.optimal_step(alpha), rel=1e-3)
    for eta in (0.3 * crux.optimal_step(alpha), crux.optimal_step(alpha)):
        radius = max(abs(np.linalg.eigvals(np.eye(2) - eta * np.diag([1.0, alpha**2]))))
        assert crux.contraction(alpha, eta) == pytest.approx(radius, rel=1e-12)
    assert crux.contraction(alpha) == pytest.approx((alpha**2 - 1) / (alpha**2 + 1))


@pytest.mark.parametrize("alpha", [1.0, 3.0, 10.0, 30.0, 1000.0])
def test_predicted_iterations_against_brute_force(alpha):
    expected = 1 if alpha == 1.0 else brute_force_count(crux.contraction(alpha), 1e-8)
    if alpha <= 30:
        assert crux.predicted_iterations(alpha, 1e-8) == expected
    else:  # the loop would take 4.6 million steps; compare with the logarithm instead
        value = math.log(1e-8) / (2 * math.log(crux.contraction(alpha)))
        assert crux.predicted_iterations(alpha, 1e-8) == math.ceil(value)


def test_asymptotic_form_approaches_prediction():
    for alpha in (100.0, 1000.0):
        assert crux.asymptotic_iterations(alpha) == pytest.approx(crux.predicted_iterations(alpha), rel=1e-3)


def test_loss_after_k_steps_at_optimal_step_is_rho_to_the_2k():
    alpha = 7.0
    problem = problems.alpha_scaled(alpha)
    start = np.array([0.4, -1.3])  # any start: both components shrink by rho
    result = minimize(problem, start, rules.gd(crux.optimal_step(alpha)), steps=25)
    rho = crux.contraction(alpha)
    np.testing.assert_allclose(result.losses, problem.loss_at(start) * rho ** (2 * np.arange(26)), rtol=1e-10)


# --------------------------------------------------------------------------- scale-invariance
@pytest.mark.parametrize("alpha", [0.1, 4.0, 1000.0])
def test_reparametrised_problem_is_the_alpha_scaled_toy(alpha):
    assert crux.same_problem_gap(alpha) <= 1e-12 * max(1.0, alpha**2)
    np.testing.assert_allclose(crux.matched_start(alpha, (2.0, 3.0)), [2.0, 3.0 / alpha])
    z0 = crux.matched_start(alpha)
    # the matched start has the same output, hence the same loss, for every alpha
    np.testing.assert_allclose(crux.scaled_problem(alpha).output(z0), np.array(crux.START), rtol=1e-14)


def test_invariance_table_separates_gd_from_inverting_rules():
    alphas = (1.0, 3.0, 100.0)
    table = crux.invariance_table(alphas, steps=15)
    for name in ("Newton", "IG", "PG"):
        assert max(table[name]) < 1e-12, name
    assert table["GD, tuned eta"][0] == 0.0
    assert min(table["GD, tuned eta"][1:]) > 0.5
    assert table["GD, fixed eta"][0] == 0.0 and table["GD, fixed eta"][-1] > 0.1


def test_invariance_deviation_independent_computation():
    alpha, eta, steps = 5.0, 0.01, 6
    deviation = crux.invariance_deviation(lambda a: rules.gd(eta), alpha, steps=steps)
    x = np.array(crux.START)
    z = x / np.array([1.0, alpha])
    worst = 0.0
    for _ in range(steps):
        x = x - eta * x  # alpha = 1: gradient is x
        z = z - eta * np.array([z[0], alpha**2 * z[1]])
        worst = max(worst, np.linalg.norm(z * np.array([1.0, alpha]) - x))
    assert deviation == pytest.approx(worst / np.linalg.norm(crux.START), rel=1e-12)


def test_invariance_deviation_infinite_for_diverging_run():
    assert crux.invariance_deviation(lambda a: rules.gd(0.5), 10.0, steps=30) == float("inf")


# --------------------------------------------------------------------------- iteration counts
@pytest.mark.parametrize("alpha", [3.0, 10.0])
def test_linear_count_equals_driver_sweep_for_every_eta(alpha):
    etas = log_grid(1e-2 / alpha**2, 1.0, per_decade=6)
    driver, linear = crux.compare_with_driver_sweep(alpha, etas, steps=600)
    driver_counts = [r.nit if r.success else math.inf for r in driver.results]
    assert list(linear.iterations) == driver_counts
    assert linear.best_eta == driver.best_eta


def test_linear_count_on_a_general_linear_problem():
    rng = np.random.default_rng(3)
    matrix = rng.normal(size=(3, 2))
    problem = problems.linear(matrix, rng.normal(size=3))
    x0 = np.array([2.0, -1.0])
    lowest = 0.5 * np.sum((matrix @ np.linalg.lstsq(matrix, problem.target, rcond=None)[0] - problem.target) ** 2)
    tol = lowest + 1e-6
    limit = 2 / np.max(np.linalg.eigvalsh(matrix.T @ matrix))
    for eta in (0.1 * limit, 0.5 * limit, 0.9 * limit):
        count = crux.linear_gd_iterations(problem, x0, eta, tol=tol, max_steps=5000)
        run = minimize(problem, x0, rules.gd(eta), steps=5000, tol=tol)
        assert run.success and count.iterations == run.nit
        assert count.fun == pytest.approx(run.fun, rel=1e-9)


@settings(max_examples=15, deadline=None)
@given(alpha=st.floats(1.0, 12.0), fraction=st.floats(0.05, 0.99))
def test_linear_count_property(alpha, fraction):
    problem = problems.alpha_scaled(alpha)
    eta = fraction * crux.stability_limit(alpha)
    x0 = np.array([1.0, -0.5])
    tol = 1e-6 * problem.loss_at(x0)
    count = crux.linear_gd_iterations(problem, x0, eta, tol=tol, max_steps=3000)
    run = minimize(problem, x0, rules.gd(eta), steps=3000, tol=tol)
    expected = run.nit if run.success else math.inf
    assert abs(count.iterations - expected) <= 1 if math.isfinite(expected) else count.iterations == expected


def test_linear_count_edge_cases():
    problem = problems.alpha_scaled(10.0)
    assert crux.linear_gd_iterations(problem, [1.0, 1.0], 0.03, tol=1e-8).status == "diverged"
    assert crux.linear_gd_iterations(problem, [1.0, 1.0], 0.01, tol=100.0).iterations == 0
    capped = crux.linear_gd_iterations(problem, [1.0, 1.0], 1e-5, tol=1e-8, max_steps=50)
    assert capped.status == "max_steps" and capped.iterations == math.inf
    with pytest.raises(ValueError, match="not a linear least-squares"):
        crux.linear_gd_iterations(problems.square_second(), [1.0, 1.0], 0.01, tol=1e-8)
    with pytest.raises(ValueError, match="eta"):
        crux.linear_gd_iterations(problem, [1.0, 1.0], -0.1, tol=1e-8)
    with pytest.raises(ValueError, match="etas"):
        crux.linear_gd_sweep(problem, [1.0, 1.0], [], tol=1e-8)


def test_iteration_table():
    rows = crux.iteration_table((1.0, 10.0, 100.0, 1000.0))
    half = brute_force_count(0.5, crux.TOL_REL)  # (1 - 1/2)^(2k) <= tol_rel
    for row in rows:
        assert (row.newton, row.pg) == (1.0, 1.0)
        assert row.newton_half == row.pg_half == row.ig_half == half
        assert 0.9 < row.ratio < 1.15
        assert row.best_eta <= crux.stability_limit(row.alpha)
    assert crux.loglog_slope([r.alpha for r in rows[1:]], [r.gd for r in rows[1:]]) == pytest.approx(2.0, abs=0.05)


def test_loglog_slope_and_errors():
    assert crux.loglog_slope([1, 2, 4], [1, 8, 64]) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="positive"):
        crux.loglog_slope([1, 2], [0, 1])
    with pytest.raises(ValueError, match="alpha"):
        crux.optimal_step(0.0)
    with pytest.raises(TypeError, match="alpha"):
        crux.stability_limit("ten")
    with pytest.raises(ValueError, match="tol_rel"):
        crux.predicted_iterations(10.0, 2.0)


# --------------------------------------------------------------------------- exercises
def test_exercise_largest_stable_step():
    answer = crux.largest_stable_step(10.0)
    jac = problems.alpha_scaled(10.0).jacobian_at(np.zeros(2))
    assert answer == pytest.approx(2 / np.max(np.linalg.eigvalsh(jac.T @ jac)), rel=1e-3)
    assert crux.largest_stable_step(0.5) == pytest.approx(2.0, rel=1e-3)
    with pytest.raises(ValueError, match="high"):
        crux.largest_stable_step(10.0, high=0.01)


def test_exercise_iterations():
    predicted, measured = crux.exercise_iterations(30.0)
    assert predicted == measured == brute_force_count(crux.contraction(30.0), crux.TOL_REL)


# --------------------------------------------------------------------------- widgets
def test_explore_pure_function():
    outcome = widgets.explore(16.0, 0.5, "PG", start=(1.5, 1.5), steps=100)
    assert outcome.iterations == brute_force_count(0.5, 1e-8)
    assert outcome.tol == pytest.approx(1e-8 * problems.alpha_scaled(16.0).loss_at([1.5, 1.5]))
    assert "iterations" in outcome.summary and outcome.rule == "PG"
    diverged = widgets.explore(16.0, 0.5, "GD", steps=100)
    assert diverged.iterations is None and "diverged" in diverged.summary
    with pytest.raises(ValueError, match="rule_name"):
        widgets.explore(1.0, 0.1, "SGD")
    with pytest.raises(ValueError, match="eta"):
        widgets.explore(1.0, 0.0, "GD")


def test_explore_custom_problem_and_rules():
    outcome = widgets.explore(2.0, 1.0, "mine", make_problem=lambda a: problems.linear([[a, 0.0], [0.0, 1.0]], [0, 0]),
                              rules_available={"mine": rules.gauss_newton}, steps=5)
    assert outcome.iterations == 1
    with pytest.raises(TypeError, match="make_problem"):
        widgets.explore(2.0, 1.0, "GD", make_problem=lambda a: None)


def test_render_and_draw_paths():
    import matplotlib.pyplot as plt

    fig = widgets.render(widgets.explore(4.0, 0.05, "GD", steps=30))
    assert len(fig.axes) >= 2
    assert fig.axes[0].get_xlabel() == "$x_1$" and fig.axes[1].get_ylabel() == "loss $L$"
    plt.close(fig)


def test_explorer_builds_without_display_and_reacts(capsys):
    box = widgets.explorer(draw=False, alpha=10.0, eta=0.0198, rule="GD")
    assert box.last.rule == "GD" and box.last.alpha == pytest.approx(10.0)
    box.controls["rule"].value = "Newton"
    box.controls["eta"].value = 1.0
    assert box.last.rule == "Newton" and box.last.iterations == 1
    box.controls["x1"].value = -1.0
    np.testing.assert_allclose(box.last.start, [-1.0, 1.5])
    assert "Newton" in box.summary.value
    assert set(box.controls) == {"alpha", "eta", "rule", "x1", "x2"}
    drawn = widgets.explorer(draw=True)  # draws into an Output widget; works without a kernel
    assert drawn.last is not None
    with pytest.raises(ValueError, match="rule"):
        widgets.explorer(draw=False, rule="SGD")
    with pytest.raises(ValueError, match="alpha_range"):
        widgets.explorer(draw=False, alpha_range=(10.0, 1.0))


def test_landscape_clips_to_the_top_decades():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    filled = widgets.landscape(ax, problems.alpha_scaled(16.0), (-2, 2), (-2, 2), resolution=21, decades=3.0)
    top = np.log10(problems.alpha_scaled(16.0).loss_at([2.0, 2.0]))
    assert filled.levels[-1] == pytest.approx(top) and filled.levels[0] == pytest.approx(top - 3.0)
    assert ax.get_xlim() == (-2.0, 2.0)
    plt.close(fig)
