"""Package behaviour that the chapters *The crux of the matter* and *Gradient descent* rely on.

The chapters compute in visible cells; what they take for granted about the package
(the driver runs exactly the GD iteration, reparametrisation transforms derivatives with
D^T, the invariance claims, Adam's two kinds of scaling, the widgets) is tested here.
"""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from companion import minimize, problems, rules, widgets
from companion.tuning import log_grid, sweep_step_size

START = np.array([1.5, 1.5])
TOL_REL = 1e-8


def fd_gradient(f, z, h=1e-6):
    return np.array([(f(z + h * e) - f(z - h * e)) / (2 * h) for e in np.eye(z.size)])


def fd_hessian(f, z, h=1e-4):
    return np.array([(fd_gradient(f, z + h * e) - fd_gradient(f, z - h * e)) / (2 * h) for e in np.eye(z.size)])


def brute_force_count(rho, tol_rel):
    """Smallest k with rho^(2k) <= tol_rel, by looping."""
    k, value = 0, 1.0
    while value > tol_rel:
        k += 1
        value *= rho * rho
    return k


def closed_form_count(alpha, eta, tol_rel=TOL_REL, max_steps=10**7):
    """First k with 1/2 [(1-eta)^2k + (1-eta alpha^2)^2k] <= tol_rel (GD on the toy from the matched start)."""
    factors = np.abs([1.0 - eta, 1.0 - eta * alpha**2])
    if factors.max() >= 1:
        return np.inf
    for k in range(max_steps + 1):
        if 0.5 * np.sum(factors ** (2 * k)) <= tol_rel:
            return k
    return np.inf


def matched(alpha):
    """The round bowl in the units x = diag(1, alpha) z, and the start (1.5, 1.5) in those units."""
    return problems.reparametrize(problems.alpha_scaled(1.0), [1.0, alpha]), START / np.array([1.0, alpha])


# --------------------------------------------------------------------------- GD is the iteration of the chapters
@settings(max_examples=25, deadline=None)
@given(alpha=st.floats(0.2, 30.0), fraction=st.floats(0.05, 0.99))
def test_driver_iterates_are_the_closed_form_of_gd_on_the_toy(alpha, fraction):
    eta = fraction * 2.0 / max(1.0, alpha**2)
    run = minimize(problems.alpha_scaled(alpha), START, rules.gd(eta), steps=30)
    factors = np.array([1.0 - eta, 1.0 - eta * alpha**2])
    expected = START * factors ** np.arange(run.nit + 1)[:, None]
    np.testing.assert_allclose(run.xs, expected, rtol=1e-10, atol=1e-12)  # a factor near 0 cancels


def test_closed_form_counts_equal_the_driver_for_every_step_size_of_the_sweep():
    # the crux chapter counts GD steps at large alpha from eq-crux-loss-ratio instead of running them
    q, z0 = matched(10.0)
    etas = log_grid(10**-2.5, 0.1, per_decade=8)
    sweep = sweep_step_size(q, z0, rules.gd, etas, steps=1000, tol=TOL_REL * q.loss_at(z0))
    driver = [r.nit if r.success else np.inf for r in sweep.results]
    closed = [closed_form_count(10.0, eta, max_steps=1000) for eta in etas]
    assert driver == closed
    assert sum(np.isfinite(driver)) >= 3  # the comparison includes converged runs


@pytest.mark.parametrize("alpha", [1.0, 3.0, 30.0])
def test_eta_star_count_is_independent_of_the_start_and_matches_the_prediction(alpha):
    rho = (alpha**2 - 1) / (alpha**2 + 1)
    predicted = 1 if rho == 0 else brute_force_count(rho, TOL_REL)
    q, z0 = matched(alpha)
    for start in (z0, np.array([-0.3, 2.0])):
        run = minimize(q, start, rules.gd(2 / (1 + alpha**2)), steps=2 * predicted + 5, tol=TOL_REL * q.loss_at(start))
        assert run.success and run.nit == predicted


def test_gd_above_the_stability_limit_stops_with_a_status():
    alpha = 30.0
    run = minimize(problems.alpha_scaled(alpha), [1.0, 1.0], rules.gd(1.5 * 2 / alpha**2), steps=500)
    assert run.status_name == "diverged" and "reduce eta" in run.message
    assert np.all(np.isfinite(run.losses))


# --------------------------------------------------------------------------- sensitivity
@settings(max_examples=30, deadline=None)
@given(alpha=st.floats(1e-3, 1e3), eta=st.floats(1e-4, 1.0))
def test_one_gd_step_on_the_scaled_scalar_problem(alpha, eta):
    # L = 1/2 (alpha x - 1)^2 from x = 0: step eta alpha, change of L -eta alpha^2 + eta^2 alpha^4 / 2
    problem = problems.linear([[alpha]], [1.0])
    step = rules.gd(eta).first_step(problem, [0.0])[0]
    assert step == pytest.approx(eta * alpha, rel=1e-12)
    change = problem.loss_at([step]) - problem.loss_at([0.0])
    scale = 1.0 + eta * alpha**2 + eta**2 * alpha**4  # size of the terms that cancel
    assert change == pytest.approx(-eta * alpha**2 + 0.5 * eta**2 * alpha**4, rel=1e-9, abs=1e-14 * scale)


@settings(max_examples=30, deadline=None)
@given(x1=st.floats(-2, 2), x2=st.floats(-2, 2), eta_fraction=st.floats(0.01, 0.99))
def test_descent_lemma_on_the_toy(x1, x2, eta_fraction):
    alpha = 10.0
    toy, lipschitz = problems.alpha_scaled(alpha), alpha**2
    eta = eta_fraction * 2 / lipschitz
    x = np.array([x1, x2])
    g = toy.gradient_at(x)
    bound = toy.loss_at(x) - eta * (1 - eta * lipschitz / 2) * (g @ g)
    assert toy.loss_at(x - eta * g) <= bound + 1e-12 * (1 + toy.loss_at(x))


def test_gd_rate_near_a_minimum_is_the_spectral_radius():
    square = problems.square_second(target=(1.0, 4.0))
    optimum = np.array([1.0, 2.0])
    lam = np.linalg.eigvalsh(square.hessian_at(optimum))
    np.testing.assert_allclose(lam, [1.0, 16.0])
    for eta in (0.03, 2 / 17, 0.95 * 2 / 16):
        run = minimize(square, [1.5, 2.2], rules.gd(eta), steps=3000, tol=1e-24)
        errors = np.linalg.norm(run.xs - optimum, axis=1)
        tail = errors[errors > 1e-10][-21:]
        measured = np.exp(np.mean(np.log(tail[1:] / tail[:-1])))
        assert measured == pytest.approx(np.max(np.abs(1 - eta * lam)), rel=1e-4)


def test_rosenbrock_is_half_the_classical_function():
    rng = np.random.default_rng(3)
    for x in rng.uniform(-2, 2, size=(5, 2)):
        classical = 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2
        assert problems.rosenbrock().loss_at(x) == pytest.approx(classical / 2, rel=1e-12)


# --------------------------------------------------------------------------- change of variables
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reparametrize_linear_transforms_gradient_and_hessian_with_the_transpose(seed):
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(2, 2))
    assert not np.allclose(matrix, matrix.T)
    rosen = problems.rosenbrock()
    q = problems.reparametrize_linear(rosen, matrix)
    z = rng.normal(size=2) * 0.5
    loss_in_z = lambda v: rosen.loss_at(matrix @ v)
    x = matrix @ z
    np.testing.assert_allclose(q.gradient_at(z), fd_gradient(loss_in_z, z), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(q.gradient_at(z), matrix.T @ rosen.gradient_at(x), rtol=1e-12)
    np.testing.assert_allclose(q.hessian_at(z), fd_hessian(loss_in_z, z), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(q.hessian_at(z), matrix.T @ rosen.hessian_at(x) @ matrix, rtol=1e-12)


def mapped_back_deviation(rule, matrix, problem, start=START, steps=20):
    reference = minimize(problem, start, rule, steps=steps)
    changed = minimize(problems.reparametrize_linear(problem, matrix), np.linalg.solve(matrix, start), rule, steps=steps)
    assert reference.nit == changed.nit == steps
    return np.max(np.linalg.norm(changed.xs @ matrix.T - reference.xs, axis=1)) / np.linalg.norm(start)


def test_newton_is_invariant_under_any_invertible_matrix_and_gd_only_under_orthogonal_ones():
    rng = np.random.default_rng(1)
    ellipse = problems.alpha_scaled(4.0)
    rotation = np.linalg.qr(rng.normal(size=(2, 2)))[0]
    general = np.random.default_rng(0).normal(size=(2, 2))
    units = np.diag([1.0, 10.0])
    for matrix in (rotation, general, units):
        assert mapped_back_deviation(rules.newton(0.5), matrix, ellipse) < 1e-12
    assert mapped_back_deviation(rules.gd(0.01), rotation, ellipse) < 1e-12
    assert mapped_back_deviation(rules.gd(0.01), general, ellipse) > 1e-2
    assert mapped_back_deviation(rules.gd(0.001), units, ellipse) > 1e-2


def test_reparametrized_round_bowl_is_the_alpha_scaled_toy():
    rng = np.random.default_rng(0)
    for alpha in (4.0, 1000.0):
        direct, q = problems.alpha_scaled(alpha), problems.reparametrize(problems.alpha_scaled(1.0), [1.0, alpha])
        for z in rng.uniform(-2, 2, size=(10, 2)):
            assert direct.loss_at(z) == q.loss_at(z)
            np.testing.assert_array_equal(direct.gradient_at(z), q.gradient_at(z))


# --------------------------------------------------------------------------- Adam's two kinds of scaling
def test_adam_path_ignores_rescaled_gradient_components_but_not_a_change_of_units():
    bowl = problems.alpha_scaled(1.0)
    reference = minimize(bowl, START, rules.adam(0.3), steps=100)
    for alpha in (10.0, 1000.0):
        rescaled = minimize(problems.alpha_scaled(alpha), START, rules.adam(0.3), steps=100)
        np.testing.assert_allclose(rescaled.xs, reference.xs, atol=1e-6)  # only eps differs
        scale = np.array([1.0, alpha])
        new_units = minimize(problems.reparametrize(bowl, scale), START / scale, rules.adam(0.3), steps=100)
        assert np.max(np.abs(new_units.xs * scale - reference.xs)) > 0.5


def test_adam_best_step_size_moves_with_the_units():
    bowl = problems.alpha_scaled(1.0)
    etas = log_grid(1e-2, 1.0, per_decade=4)
    best = {}
    for alpha in (1.0, 10.0):
        q, z0 = matched(alpha)
        best[alpha] = sweep_step_size(q, z0, rules.adam, etas, steps=250, tol=TOL_REL * bowl.loss_at(START))
    assert best[1.0].best.success and best[10.0].best.success
    assert best[10.0].best_eta < best[1.0].best_eta / 3
    assert best[10.0].best.nit > best[1.0].best.nit


# --------------------------------------------------------------------------- widgets (used by both chapters)
def test_explore_pure_function():
    outcome = widgets.explore(16.0, 0.5, "PG", start=(1.5, 1.5), steps=100)
    assert outcome.iterations == brute_force_count(0.5, 1e-8)
    assert outcome.tol == pytest.approx(1e-8 * problems.alpha_scaled(16.0).loss_at([1.5, 1.5]))
    assert "iterations" in outcome.summary and outcome.rule == "PG"
    diverged = widgets.explore(16.0, 0.5, "GD", start=(1.5, 1.5), steps=100)
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


def test_explorer_as_the_chapters_call_it_builds_and_reacts():
    box = widgets.explorer(draw=False, alpha=10.0, eta=0.0198, rule="GD", start=(1.5, 1.5))
    assert box.last.rule == "GD" and box.last.alpha == pytest.approx(10.0)
    box.controls["rule"].value = "Newton"
    box.controls["eta"].value = 1.0
    assert box.last.rule == "Newton" and box.last.iterations == 1
    box.controls["x1"].value = -1.0
    np.testing.assert_allclose(box.last.start, [-1.0, 1.5])
    assert "Newton" in box.summary.value
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
