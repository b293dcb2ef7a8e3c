"""Tests of companion.experiments.gradient_descent (the chapter *Gradient descent*)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.differentiate import jacobian as fd_jacobian

from companion import minimize, problems, rules
from companion.experiments import gradient_descent as gd


def numerical_jacobian(function, x):
    """Jacobian of ``function`` (R^n -> R^m) at ``x`` by scipy.differentiate (vectorised wrapper)."""

    def vectorised(xi):
        flat = xi.reshape(xi.shape[0], -1)
        out = np.stack([np.atleast_1d(function(flat[:, k])) for k in range(flat.shape[1])], axis=-1)
        return out.reshape((out.shape[0],) + xi.shape[1:])

    return fd_jacobian(vectorised, np.asarray(x, dtype=float), initial_step=0.1).df


# --------------------------------------------------------------------------- units
units = st.builds(gd.Unit, st.integers(-4, 4), st.integers(-4, 4), st.integers(-4, 4))


@given(units, units, units)
def test_unit_algebra_is_a_group(a, b, c):
    assert (a * b) * c == a * (b * c)
    assert a / a == gd.ONE
    assert (a * b) / b == a
    assert a**2 == a * a
    assert a**-1 == gd.ONE / a


def test_unit_strings_and_joule():
    assert str(gd.JOULE) == "kg m^2 s^-2"
    assert str(gd.ONE) == "1"
    assert gd.JOULE / gd.METRE == gd.Unit(kg=1, m=1, s=-2)  # newton
    with pytest.raises(TypeError, match="loss_unit"):
        gd.gd_step_units("J", [gd.METRE])
    with pytest.raises(TypeError, match="param_units"):
        gd.gd_step_units(gd.JOULE, gd.METRE)


def test_step_units_of_the_ball():
    step = gd.gd_step_units(gd.METRE**2, [gd.METRE, gd.SECOND])
    assert step[0] == gd.METRE  # a dimensionless eta gives the height step in metres
    assert step[1] == gd.METRE**2 / gd.SECOND  # ... but the time step in m^2/s, not s
    eta_time = gd.eta_unit_for(gd.METRE**2, gd.SECOND)
    assert gd.gd_step_units(gd.METRE**2, [gd.SECOND], eta_time)[0] == gd.SECOND


@pytest.mark.parametrize("scale", [1e-3, 1e3, 2.5])
def test_units_agree_with_reparametrize(scale):
    """[dL/dx_1] = [L]/[x_1]: measuring x_1 in a unit `scale` times the old one multiplies the value by `scale`."""
    ball = gd.ball_apex()
    x = np.array(gd.BALL_START)
    q = problems.reparametrize(ball, [scale, 1.0])
    g_x = ball.gradient_at(x)
    g_z = q.gradient_at(x / np.array([scale, 1.0]))
    np.testing.assert_allclose(g_z, g_x * np.array([scale, 1.0]), rtol=1e-12)
    # and the GD step with the same eta, expressed in metres, is scale**2 times the old one
    step_x = rules.gd(0.01).first_step(ball, x)
    step_z = rules.gd(0.01).first_step(q, x / np.array([scale, 1.0])) * np.array([scale, 1.0])
    np.testing.assert_allclose(step_z, step_x * np.array([scale**2, 1.0]), rtol=1e-12)


@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=4).filter(lambda g: max(map(abs, g)) > 1e-3),
       st.floats(1e-3, 1e2))
@settings(max_examples=25, deadline=None)
def test_model_step_is_minus_eta_gradient(gradient, eta):
    expected = -eta * np.asarray(gradient)
    np.testing.assert_allclose(gd.model_step(gradient, eta), expected, rtol=1e-6,
                               atol=1e-9 * np.linalg.norm(expected))


# --------------------------------------------------------------------------- the ball problem
@pytest.mark.parametrize("x", [gd.BALL_START, gd.BALL_TRUTH, (3.0, -0.4)])
def test_ball_jacobian_and_hessian_match_finite_differences(x):
    ball = gd.ball_apex()
    x = np.array(x)
    np.testing.assert_allclose(ball.jacobian_at(x), numerical_jacobian(ball.simulator, x), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(ball.hessian_at(x), numerical_jacobian(ball.gradient_at, x), rtol=1e-7, atol=1e-7)


def test_ball_physics():
    ball = gd.ball_apex()
    y = ball.output(np.array([2.0, 0.6]))
    np.testing.assert_allclose(y.max(), 2.0)  # the apex is recorded at t = 0.6 s
    np.testing.assert_allclose(y[0], 2.0 - 0.5 * 9.81 * 0.36)
    assert ball.loss_at(np.array(gd.BALL_TRUTH)) == 0.0


def test_restrict_gives_one_component_of_the_gradient():
    ball = gd.ball_apex()
    x = np.array([1.3, 0.45])
    for index in (0, 1):
        sub = gd.restrict(ball, index, x)
        np.testing.assert_allclose(sub.gradient_at(x[index:index + 1]), ball.gradient_at(x)[index:index + 1])
        np.testing.assert_allclose(sub.hessian_at(x[index:index + 1]), ball.hessian_at(x)[index, index])
    with pytest.raises(ValueError, match="index"):
        gd.restrict(ball, 2, x)


@pytest.fixture(scope="module")
def units_result():
    return gd.units_experiment()


def test_units_experiment_best_eta_moves_with_the_square_of_the_unit(units_result):
    result = units_result
    metres, millimetres = result["m, s"], result["mm, s"]
    assert millimetres.best_etas["height"] / metres.best_etas["height"] == pytest.approx(1e6, rel=1e-9)
    assert millimetres.best_etas["time"] == metres.best_etas["time"]
    # the per-parameter runs in mm are the same runs as in m, so they take the same number of steps
    assert millimetres.sweeps["height"].best.nit == metres.sweeps["height"].best.nit
    assert metres.joint.success and not millimetres.joint.success
    np.testing.assert_allclose(metres.hessian_eigenvalues[0], 7.0)  # 7 samples, d y_j / d h = 1
    np.testing.assert_allclose(millimetres.hessian_eigenvalues[0], 7e-6)


def test_physical_paths_start_together_and_part():
    paths = gd.physical_paths(0.003, 200)
    np.testing.assert_allclose(paths["m, s"][0], paths["mm, s"][0])
    assert abs(paths["m, s"][-1, 0] - 2.0) < 0.2  # the height moves in metres ...
    assert abs(paths["mm, s"][-1, 0] - 1.0) < 1e-3  # ... and barely in millimetres


def test_iterations_for_rate():
    assert gd.iterations_for_rate(0.9, 0.9**17) == pytest.approx(17)
    with pytest.raises(ValueError, match="rate"):
        gd.iterations_for_rate(1.0, 0.5)


# --------------------------------------------------------------------------- sensitivity
@given(st.floats(1e-4, 1e4), st.floats(1e-4, 1.0))
@settings(max_examples=30, deadline=None)
def test_linear_loss_step_and_decrease(alpha, eta):
    dx, dl = gd.linear_loss_first_steps([alpha], eta, x0=0.3)
    assert dx[0] == pytest.approx(eta * alpha, rel=1e-12)
    assert dl[0] == pytest.approx(eta * alpha**2, rel=1e-9)


def test_loglog_slope_and_errors():
    alphas = np.logspace(-3, 3, 13)
    dx, dl = gd.linear_loss_first_steps(alphas, 0.01)
    assert gd.loglog_slope(alphas, dx) == pytest.approx(1.0, abs=1e-9)
    assert gd.loglog_slope(alphas, dl) == pytest.approx(2.0, abs=1e-9)
    with pytest.raises(ValueError):
        gd.loglog_slope([1.0], [1.0])
    with pytest.raises(ValueError, match="alpha"):
        gd.linear_loss(0.0)


def test_divergence_above_two_over_alpha_squared():
    assert gd.divergent_run(100.0, factor=1.5).status_name == "diverged"
    assert gd.divergent_run(100.0, factor=0.9, steps=200).status_name == "max_steps"


@pytest.mark.parametrize("alpha, eta", [(10.0, 0.01), (100.0, 1e-4), (3.0, 0.2)])
def test_halving_steps(alpha, eta):
    measured, predicted = gd.halving_steps(alpha, eta)
    assert measured == math.ceil(predicted)
    assert (1 - eta) ** measured <= 0.5 < (1 - eta) ** (measured - 1)  # independent count


@given(st.floats(0.1, 50.0), st.floats(1e-3, 0.3), st.floats(-3.0, 3.0).filter(lambda v: abs(v) > 0.01))
@settings(max_examples=30, deadline=None)
def test_exercise_quadratic_ratio_closed_form(lam, eta, x0):
    measured, closed = gd.exercise_quadratic_ratio(lam, eta, x0)
    # L = lam x^2/2, g = lam x: decrease = lam/2 (x^2 - (x - eta lam x)^2)
    decrease = lam / 2 * (x0**2 - (x0 - eta * lam * x0) ** 2)
    assert measured == pytest.approx(decrease / (eta * (lam * x0) ** 2), rel=1e-9, abs=1e-9)
    assert measured == pytest.approx(closed, rel=1e-9, abs=1e-9)


def test_decrease_ratio_tends_to_one_with_deviation_linear_in_eta():
    p = problems.rosenbrock()
    x = np.array([-1.2, 1.0])
    etas = 10.0 ** -np.arange(4, 9)
    ratios = gd.decrease_ratios(p, x, etas)
    assert np.all(ratios > 0)  # a decrease, not an increase: the sign is +eta |grad L|^2
    assert abs(1 - ratios[-1]) < 1e-5
    coefficient = gd.decrease_coefficient(p, x)
    np.testing.assert_allclose((1 - ratios[-3:]) / etas[-3:], coefficient, rtol=1e-3)
    assert gd.loglog_slope(etas, 1 - ratios) == pytest.approx(1.0, abs=0.02)
    with pytest.raises(ValueError, match="gradient vanishes"):
        gd.decrease_ratios(p, [1.0, 1.0], [0.1])


# --------------------------------------------------------------------------- near the optimum
def test_linear_rate_matches_gd_on_a_quadratic():
    p = problems.alpha_scaled(4.0)
    eta = 0.05
    run = minimize(p, [1.0, 1.0], rules.gd(eta), steps=80)
    distances = np.linalg.norm(run.xs, axis=1)
    assert gd.measured_rate(distances) == pytest.approx(gd.linear_rate(eta, [1.0, 16.0]), rel=1e-9)


def test_near_optimum():
    result = gd.near_optimum()
    np.testing.assert_allclose(result["eigenvalues"], [1.0, 16.0], rtol=1e-12)
    assert result["measured_rate"] == pytest.approx(result["predicted_rate"], rel=1e-6)
    assert result["run"].success
    assert result["gd_iterations"] == sorted(result["gd_iterations"])
    assert all(n < g for n, g in zip(result["newton_iterations"], result["gd_iterations"]))
    # the step length shrinks with the gradient: |dx_k| = eta |grad L(x_k)|
    run = result["run"]
    grads = np.array([result["problem"].gradient_at(x) for x in run.xs[:-1]])
    np.testing.assert_allclose(result["step_lengths"], result["eta"] * np.linalg.norm(grads, axis=1),
                               rtol=1e-9, atol=1e-14)


def test_iterations_to_distance():
    xs = np.array([[3.0, 0.0], [1.0, 0.0], [0.1, 0.0]])
    assert gd.iterations_to_distance(xs, [0.0, 0.0], 0.5) == 2
    assert gd.iterations_to_distance(xs, [0.0, 0.0], 0.01) == math.inf


# --------------------------------------------------------------------------- Adam
def test_rotated_toy_has_the_same_singular_values():
    for alpha in (0.5, 10.0):
        s = np.linalg.svd(gd.rotated_alpha_scaled(alpha).jacobian_at(np.zeros(2)), compute_uv=False)
        np.testing.assert_allclose(sorted(s), sorted([1.0, alpha]))


def test_adam_first_step_and_aligned_invariance():
    rows = gd.adam_comparison((1.0, 10.0, 100.0), etas=[0.1, 0.3], steps=400)
    for row in rows:
        np.testing.assert_allclose(row["first_step"], [-1.0, -1.0], rtol=1e-6)
    assert len({row["aligned"] for row in rows}) == 1  # same count for every alpha
    assert rows[0]["rotated"] == rows[0]["aligned"]  # alpha = 1: rotation changes nothing
    assert rows[2]["rotated"] > rows[0]["rotated"]


# --------------------------------------------------------------------------- exercises
def test_exercise_units():
    answer = gd.exercise_units()
    newton, watt = gd.Unit(1, 1, -2), gd.Unit(1, 2, -3)
    assert answer["step_x1"] == newton
    assert answer["step_x2"] == watt
    assert answer["eta_for_x1"] == gd.Unit(kg=-1, s=2)  # m^2 / J
    assert answer["eta_for_x1"] * newton == gd.METRE
    assert answer["step_x2_with_eta1"] == gd.METRE**2 / gd.SECOND
    assert answer["factor"] == gd.SECOND**2 / gd.METRE**2
    assert answer["eta_for_x2"] * watt == gd.SECOND


@given(st.floats(0.01, 100.0), st.floats(1.01, 1e3))
@settings(max_examples=25, deadline=None)
def test_exercise_optimal_rate_beats_a_grid(low, ratio):
    eigenvalues = [low, low * ratio]
    eta_star, rate = gd.exercise_optimal_rate(eigenvalues)
    assert gd.linear_rate(eta_star, eigenvalues) == pytest.approx(rate, rel=1e-9)
    grid = np.linspace(0.01, 2.0, 2000) / (low * ratio)
    grid_rates = np.max(np.abs(1.0 - grid[:, None] * np.asarray(eigenvalues)), axis=1)  # independent of linear_rate
    assert grid_rates.min() >= rate - 1e-9


def test_exercise_optimal_rate_errors():
    with pytest.raises(ValueError, match="positive"):
        gd.exercise_optimal_rate([0.0, 1.0])


# --------------------------------------------------------------------------- helpers of the notebook
def test_unit_text_forms():
    assert gd.JOULE.latex() == r"\mathrm{kg\,m^{2}\,s^{-2}}"
    assert gd.JOULE.unicode() == "kg·m²·s⁻²"
    assert gd.ONE.latex() == gd.ONE.unicode() == "1"
    assert (gd.SECOND**-12).unicode() == "s⁻¹²"


def test_predicted_iterations_against_the_measured_run(units_result):
    result = units_result
    metres = result["m, s"]
    # the asymptotic estimate is close to the measured count where the run converges ...
    assert gd.predicted_iterations(metres) == pytest.approx(metres.joint.nit, rel=0.1)
    # ... and in millimetres it is (1 - eta lambda_min) per step with lambda_min = 7e-6
    mm = result["mm, s"]
    rate = 1 - mm.best_etas["both"] * 7e-6
    reduction = math.sqrt(2e-12 / 7e-6) / 1000.0  # error of 1000 mm must fall to sqrt(2 tol / lambda)
    assert gd.predicted_iterations(mm) == pytest.approx(math.log(reduction) / math.log(rate), rel=1e-6)
    with pytest.raises(TypeError, match="UnitChoice"):
        gd.predicted_iterations(metres.joint)
