"""Tests of companion.experiments.inverse_simulators (chapter "Inverse simulators")."""

import numpy as np
import pytest
from scipy.differentiate import jacobian as fd_jacobian

from companion import problems, rules
from companion.experiments import inverse_simulators as invsim
from companion.tuning import log_grid


# --------------------------------------------------------------------------- 1. exactness
def test_pg_lands_exactly_on_requested_output_and_ig_misses_quadratically():
    x0, eta = np.array([3.0, 3.0]), 0.5
    ex = invsim.exactness(problems.square_second(), x0, eta)
    assert ex.residual_pg < 1e-13
    # IG: x2 + dy2/(2 x2) squared overshoots y2 + dy2 by dy2^2 / (4 x2^2)
    dy2 = eta * (0.0 - 9.0)
    assert ex.residual_ig == pytest.approx(dy2**2 / (4 * 9.0), rel=1e-12)
    np.testing.assert_allclose(ex.dx_pg, [-1.5, np.sqrt(4.5) - 3.0], rtol=1e-13)


def test_one_shot_reaches_reachable_target_in_one_step():
    result = invsim.one_shot(problems.square_second(target=(1.0, 4.0)), [3.0, 3.0])
    assert result.nit == 1 and result.success
    np.testing.assert_allclose(result.x, [1.0, 2.0], atol=1e-14)


# --------------------------------------------------------------------------- 2. y = x^2
def test_square_runs_converge_to_the_root_on_the_side_of_the_start():
    neg, pos = invsim.square_runs([-3.0, 0.5], target=4.0, eta=0.5, steps=60)
    assert neg.x[0] == pytest.approx(-2.0, abs=1e-12)
    assert pos.x[0] == pytest.approx(2.0, abs=1e-12)
    assert np.all(neg.xs[:, 0] < 0) and np.all(pos.xs[:, 0] > 0)


def test_path_in_y_is_geometric_and_the_check_detects_a_wrong_rate():
    (run,) = invsim.square_runs([-3.0], target=4.0, eta=0.3, steps=20)
    assert invsim.geometric_deviation(run, [4.0], 0.3) < 1e-12
    assert invsim.geometric_deviation(run, [4.0], 0.4) > 1e-2


def test_exercise_1_matches_independent_closed_form():
    answer = invsim.exercise_square_step(-3.0, 4.0, 0.5)
    assert answer == pytest.approx(3.0 - np.sqrt(6.5), rel=1e-14)
    assert invsim.exercise_square_step_closed_form(-3.0, 4.0, 0.5) == pytest.approx(answer, rel=1e-14)
    # the step lands on y0 + dy = 6.5
    assert (-3.0 + answer) ** 2 == pytest.approx(6.5, rel=1e-14)


def test_exercise_1_closed_form_rejects_unreachable_output():
    with pytest.raises(ValueError, match="no real root"):
        invsim.exercise_square_step_closed_form(1.0, -10.0, 1.0)


# --------------------------------------------------------------------------- 3. local vs global
def test_linearised_inverse_is_one_ig_step():
    p = problems.exponential()
    x0, y = np.array([0.5]), np.array([2.0])
    expected = x0 + (y - np.exp(0.5)) / np.exp(0.5)
    np.testing.assert_allclose(invsim.linearised_inverse(p, y, x0), expected, rtol=1e-14)


def test_local_vs_global_errors_are_zero_and_quadratic():
    dys = np.logspace(-3, -1, 9)
    exact, linear = invsim.local_vs_global(0.5, dys)
    assert np.all(exact == 0.0)
    y0 = np.exp(0.5)
    predicted = np.abs(np.log1p(dys / y0) - dys / y0)  # exact error, computed independently
    np.testing.assert_allclose(linear, predicted, rtol=1e-6)
    assert invsim.fit_slope(dys, linear) == pytest.approx(2.0, abs=0.02)


def test_fit_slope_recovers_a_power_law_and_rejects_zeros():
    h = np.logspace(-4, 0, 7)
    assert invsim.fit_slope(h, 3.0 * h**1.5) == pytest.approx(1.5, abs=1e-12)
    with pytest.raises(ValueError):
        invsim.fit_slope([1.0, 2.0], [0.0, 1.0])


# --------------------------------------------------------------------------- 4. averaged gradient
@pytest.mark.parametrize("x0, dy", [(1.0, 3.0), (-2.0, -3.0), (2.0, 0.5)])
def test_averaged_inverse_derivative_equals_pg_quotient_for_square(x0, dy):
    p = problems.scalar_square()
    average = invsim.averaged_inverse_derivative(p, [x0], dy)
    closed = (np.sign(x0) * np.sqrt(x0**2 + dy) - x0) / dy
    assert average == pytest.approx(closed, rel=1e-11)
    assert invsim.pg_quotient(p, [x0], dy) == pytest.approx(closed, rel=1e-12)


def test_inverse_derivative_matches_finite_differences():
    p = problems.scalar_square()
    y = 2.5
    res = fd_jacobian(lambda t: np.sqrt(t), np.array([y]))
    assert invsim.inverse_derivative_1d(p, y, [1.0]) == pytest.approx(float(res.df[0, 0]), rel=1e-8)
    assert invsim.inverse_derivative_1d(p, y, [-1.0]) == pytest.approx(-float(res.df[0, 0]), rel=1e-8)


def test_quotient_error_is_first_order():
    p = problems.scalar_square()
    dys = np.logspace(-4, -1, 10)
    errors = invsim.quotient_errors(p, [1.0], dys)
    # (sqrt(1 + d) - 1)/d - 1/2 = -d/8 + d^2/16 - ...
    np.testing.assert_allclose(errors[:3], dys[:3] / 8, rtol=2e-3)
    assert invsim.fit_slope(dys, errors) == pytest.approx(1.0, abs=0.02)


def test_path_integral_reproduces_pg_step_in_2d():
    p = problems.square_second()
    for x0 in ([3.0, 3.0], [-1.0, -2.0]):
        x0 = np.array(x0)
        dy = p.newton_step_in_y(p.output(x0), 0.5)
        np.testing.assert_allclose(invsim.path_integral_step(p, x0, dy), rules.pg_step(p, x0, 0.5),
                                   rtol=1e-10, atol=1e-12)


def test_exercise_2_matches_closed_form():
    a = invsim.exercise_exp_average(0.0, np.exp(2.0), 1.0)
    assert a["dx_pg"] == pytest.approx(2.0, rel=1e-14)
    assert a["average"] == pytest.approx(2.0 / (np.exp(2.0) - 1.0), rel=1e-11)
    assert a["quotient"] == pytest.approx(a["average"], rel=1e-11)
    assert a["local"] == 1.0 and a["dy"] == pytest.approx(np.exp(2.0) - 1.0)


def test_zero_dy_is_rejected():
    with pytest.raises(ValueError, match="dy"):
        invsim.pg_quotient(problems.scalar_square(), [1.0], 0.0)
    with pytest.raises(ValueError, match="dy"):
        invsim.averaged_inverse_derivative(problems.scalar_square(), [1.0], 0.0)


# --------------------------------------------------------------------------- 5. time reversal
def test_pendulum_reversal_is_exact_and_pg_beats_tuned_gd():
    problem, x_true, x0 = invsim.pendulum_setup(3, coupling=4.0, dt=0.1, steps=20, seed=3)
    assert invsim.reversal_error(problem, x_true) < 1e-12
    cmp = invsim.pendulum_comparison(problem, x0, log_grid(1e-2, 1.0, 2), steps=20)
    assert cmp["pg"].nit == 1 and cmp["pg"].success
    assert cmp["sweep"].best.fun > 1e-8  # GD, best step size, same budget: far from converged
    assert len(cmp["sweep"].results) == 5


def test_heat_naive_inversion_amplifies_noise_and_regularisation_recovers():
    setup = invsim.heat_setup(64, nu_t=1e-3, noise_level=1e-3, boxes=3, seed=1)
    _, amplification = invsim.naive_inversion(setup)
    assert amplification > 1e10
    cutoff = invsim.relative_noise_level(setup)
    reg = invsim.regularised_inversion(setup, cutoff)
    assert reg["error"] < 0.3
    assert reg["floor"] <= reg["error"] + 1e-12
    sweep = invsim.cutoff_sweep(setup, [1e-8, cutoff])
    assert sweep[0] > 10 * sweep[1]


def test_regularised_inversion_without_noise_and_mild_diffusion_is_exact():
    setup = invsim.heat_setup(32, nu_t=1e-5, noise_level=0.0, seed=0)
    reg = invsim.regularised_inversion(setup, 0.0)
    assert reg["error"] < 1e-10 and reg["floor"] == pytest.approx(0.0, abs=1e-14)


def test_rms():
    assert invsim.rms([1.0, -1.0, 1.0, -1.0]) == 1.0


# --------------------------------------------------------------------------- 6. losses and fall-back
def _central_differences(function, y, h=1e-6):
    columns = []
    for i in range(y.size):
        e = np.zeros_like(y)
        e[i] = h
        columns.append((np.asarray(function(y + e)) - np.asarray(function(y - e))) / (2 * h))
    return np.stack(columns, axis=-1)


def _fd_check_loss(loss, y, target):
    grad = _central_differences(lambda v: loss.value(v, target), y)
    np.testing.assert_allclose(loss.gradient(y, target), grad, rtol=1e-6)
    hess = _central_differences(lambda v: loss.gradient(v, target), y)
    np.testing.assert_allclose(loss.hessian(y, target), hess, rtol=1e-6, atol=1e-8)


def test_losses_derivatives_match_finite_differences():
    y, target = np.array([1.3, -0.4]), np.array([0.2, 0.5])
    _fd_check_loss(invsim.weighted_loss([1.0, 7.0]), y, target)
    _fd_check_loss(invsim.quartic_loss([2.0, 0.5]), y, target)


def test_newton_step_in_y_for_weighted_and_quartic_losses():
    x = [3.0, 3.0]
    weighted = problems.square_second(loss=invsim.weighted_loss([1.0, 100.0]))
    info = invsim.newton_dy_vs_residual(weighted, x, 0.7)
    np.testing.assert_allclose(info["dy"], 0.7 * np.array([-3.0, -9.0]), rtol=1e-14)
    assert info["angle_deg"] == pytest.approx(0.0, abs=1e-6)
    quartic = problems.square_second(loss=invsim.quartic_loss([1.0, 0.0]))
    info = invsim.newton_dy_vs_residual(quartic, x, 1.0)
    r = np.array([3.0, 9.0])
    expected = -r * (1 + np.array([1.0, 0.0]) * r**2) / (1 + 3 * np.array([1.0, 0.0]) * r**2)
    np.testing.assert_allclose(info["dy"], expected, rtol=1e-14)
    cos = expected @ -r / (np.linalg.norm(expected) * np.linalg.norm(r))
    assert info["angle_deg"] == pytest.approx(np.degrees(np.arccos(cos)), rel=1e-10)
    assert info["pg_consistent"] < 1e-14


def test_loss_factories_reject_bad_weights():
    with pytest.raises(ValueError):
        invsim.weighted_loss([1.0, 0.0])
    with pytest.raises(ValueError):
        invsim.quartic_loss([-1.0])


def test_fallback_runs():
    fb = invsim.fallback_runs(target=(1.0, -1.0), x0=(3.0, 3.0), eta=0.5, gd_eta=0.2, steps=100)
    assert fb["pg"].status_name == "rule_failed"
    assert "no real preimage" in fb["pg"].message
    # y2 = 9, 4, 1.5, 0.25 then -0.375: fails at the fourth step
    assert fb["pg"].nit == 3
    assert fb["pg+gd"].fun == pytest.approx(0.5, abs=1e-10)
    np.testing.assert_allclose(fb["pg+gd"].x, [1.0, 0.0], atol=1e-8)
    assert not np.all(np.abs(fb["pg+ig"].losses[-50:] - 0.5) < 1e-6)
    # the best reachable loss really is 1/2: minimise 1/2 (y2 + 1)^2 over y2 >= 0
    from scipy.optimize import minimize as scipy_minimize

    direct = scipy_minimize(problems.square_second(target=(1.0, -1.0)).loss_at, [3.0, 3.0], method="L-BFGS-B")
    assert direct.fun == pytest.approx(0.5, abs=1e-8)


def test_bad_eta_is_rejected():
    with pytest.raises(ValueError, match="eta"):
        invsim.exactness(problems.square_second(), [3.0, 3.0], 0.0)
    with pytest.raises(ValueError, match="eta"):
        invsim.square_runs([1.0], eta=-1.0)
