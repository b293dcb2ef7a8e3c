"""General behaviour behind the chapters *Inverse simulators* and *Summary*.

The chapters compute in visible cells with the public API; these tests check the
properties the prose relies on against closed forms and independent computations, so
that a wrong formula in ``companion`` fails here and not only on the page.
"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.integrate import quad, quad_vec

from companion import losses, minimize, physics, problems, rules
from companion.tuning import log_grid, sweep_step_size


# --------------------------------------------------------------------------- the PG step
def test_pg_lands_exactly_on_requested_output_and_ig_misses_quadratically():
    p, x0, eta = problems.square_second(), np.array([3.0, 3.0]), 0.5
    y0 = p.output(x0)
    dy = p.newton_step_in_y(y0, eta)
    assert np.max(np.abs(p.output(x0 + rules.pg_step(p, x0, eta)) - (y0 + dy))) < 1e-13
    # IG: x2 + dy2/(2 x2), squared, overshoots y2 + dy2 by dy2^2 / (4 x2^2)
    miss = p.output(x0 + rules.ig_direction(p, x0, dy)) - (y0 + dy)
    assert miss[1] == pytest.approx(dy[1] ** 2 / 36.0, rel=1e-12)
    np.testing.assert_allclose(rules.pg_step(p, x0, eta), [-1.5, np.sqrt(4.5) - 3.0], rtol=1e-13)


def test_hand_written_loop_equals_minimize():
    problem = problems.square_second(target=(1.0, 4.0))
    x, history = np.array([3.0, 3.0]), []
    history.append(x.copy())
    for _ in range(12):
        y = problem.output(x)
        x = problem.invert(y + 0.5 * (problem.target - y), x)
        history.append(x.copy())
    np.testing.assert_array_equal(np.array(history), minimize(problem, [3.0, 3.0], rules.pg(0.5), steps=12).xs)


def test_minimize_history_survives_in_place_updates():
    # erratum 10: the driver stores copies, so a rule's in-place change of x cannot rewrite xs[0]
    problem = problems.square_second(target=(1.0, 4.0))
    result = minimize(problem, [3.0, 3.0], rules.pg(0.5), steps=3)
    np.testing.assert_array_equal(result.xs[0], [3.0, 3.0])
    x = np.array([3.0, 3.0]); stored = [x]
    x += rules.pg_step(problem, x, 0.5)
    assert stored[0][0] != 3.0  # the trap the chapter warns about is real


def test_one_step_with_eta_one():
    result = minimize(problems.square_second(target=(1.0, 4.0)), [3.0, 3.0], rules.pg(1.0), steps=5, tol=1e-24)
    assert result.nit == 1 and result.success
    np.testing.assert_allclose(result.x, [1.0, 2.0], atol=1e-14)


# --------------------------------------------------------------------------- convergence
@settings(max_examples=40, deadline=None)
@given(eta=st.floats(0.05, 1.0), start=st.floats(0.3, 5.0), target=st.floats(0.5, 20.0),
       sign=st.sampled_from([-1.0, 1.0]))
def test_y_error_contracts_by_one_minus_eta_on_square(eta, start, target, sign):
    x0 = sign * start
    if abs(x0**2 - target) < 1e-3:
        return
    run = minimize(problems.scalar_square(target), [x0], rules.pg(eta), steps=6)
    error = run.ys[:, 0] - target
    np.testing.assert_allclose(error[1:], (1 - eta) * error[:-1], rtol=1e-9, atol=1e-12 * abs(error[0]))
    assert np.all(np.sign(run.xs[:, 0]) == sign)  # the local inverse keeps the branch


def test_overshooting_eta_alternates_and_unreachable_request_stops():
    run = minimize(problems.scalar_square(4.0), [-3.0], rules.pg(1.5), steps=10)
    error = run.ys[:, 0] - 4.0
    np.testing.assert_allclose(error[1:] / error[:-1], -0.5, rtol=1e-10)
    failed = minimize(problems.scalar_square(4.0), [-3.0], rules.pg(1.9), steps=10)
    assert failed.status_name == "rule_failed" and "no real root" in failed.message


def _pendulum(n=3, steps=20, seed=3):
    rng = np.random.default_rng(seed)
    x_true = np.concatenate([rng.uniform(-1, 1, n), rng.uniform(-0.5, 0.5, n)])
    target = physics.leapfrog(x_true, dt=0.1, steps=steps, coupling=4.0)
    return physics.pendulum_chain_problem(n, dt=0.1, steps=steps, target=target, coupling=4.0), x_true, target


@pytest.mark.parametrize("eta", [0.3, 1.5])
def test_y_error_contracts_by_one_minus_eta_on_pendulum_chain(eta):
    problem, _, target = _pendulum()
    run = minimize(problem, np.zeros(6), rules.pg(eta), steps=5)
    error = run.ys - target
    np.testing.assert_allclose(error[1:], (1 - eta) * error[:-1], atol=1e-10 * np.abs(error[0]).max())


def test_ig_ratio_tends_to_one_minus_eta():
    run = minimize(problems.scalar_square(4.0), [-3.0], rules.ig(0.5), steps=40)
    ratio = (run.ys[1:, 0] - 4.0) / (run.ys[:-1, 0] - 4.0)
    assert abs(ratio[0] - 0.5) > 0.02 and abs(ratio[19] - 0.5) < 1e-6


# --------------------------------------------------------------------------- averaged gradient
@pytest.mark.parametrize("x0, dy", [(1.0, 3.0), (-2.0, -3.0), (2.0, 0.5)])
def test_averaged_inverse_derivative_equals_pg_quotient(x0, dy):
    p = problems.scalar_square()
    y0 = x0**2
    average = quad(lambda y: 1.0 / p.jacobian_at(p.invert([y], [x0]))[0, 0], y0, y0 + dy, epsrel=1e-13)[0] / dy
    closed = (np.sign(x0) * np.sqrt(x0**2 + dy) - x0) / dy
    assert average == pytest.approx(closed, rel=1e-11)
    assert (p.invert([y0 + dy], [x0])[0] - x0) / dy == pytest.approx(closed, rel=1e-12)


def test_quotient_error_is_first_order():
    p = problems.scalar_square()
    dys = np.logspace(-4, -1, 10)
    errors = np.abs(np.array([p.invert([1.0 + d], [1.0])[0] - 1.0 for d in dys]) / dys - 0.5)
    np.testing.assert_allclose(errors[:3], dys[:3] / 8, rtol=2e-3)  # -d/8 + d^2/16 - ...
    assert np.polyfit(np.log(dys), np.log(errors), 1)[0] == pytest.approx(1.0, abs=0.02)


def test_linearised_inverse_error_is_second_order():
    p, x0 = problems.exponential(), np.array([0.5])
    y0 = np.exp(0.5)
    dys = np.logspace(-3, -1, 9)
    linear = np.array([abs((x0 + rules.ig_direction(p, x0, [d]))[0] - np.log(y0 + d)) for d in dys])
    np.testing.assert_allclose(linear, np.abs(np.log1p(dys / y0) - dys / y0), rtol=1e-6)
    assert all(p.invert([y0 + d], x0)[0] == np.log(y0 + d) for d in dys)


def test_path_integral_reproduces_pg_step_in_2d():
    p = problems.square_second()
    for x0 in (np.array([3.0, 3.0]), np.array([-1.0, -2.0])):
        y0 = p.output(x0)
        dy = p.newton_step_in_y(y0, 0.5)
        path = quad_vec(lambda t: np.linalg.solve(p.jacobian_at(p.invert(y0 + t * dy, x0)), dy), 0, 1,
                        epsabs=1e-14, epsrel=1e-13)[0]
        np.testing.assert_allclose(path, rules.pg_step(p, x0, 0.5), rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- time reversal
def test_pendulum_reversal_is_exact_and_pg_beats_tuned_gd():
    problem, x_true, target = _pendulum()
    assert np.max(np.abs(problem.invert(target, np.zeros(6)) - x_true)) < 1e-12
    pg_run = minimize(problem, np.zeros(6), rules.pg(1.0), steps=20, tol=1e-20)
    assert pg_run.nit == 1 and pg_run.success
    sweep = sweep_step_size(problem, np.zeros(6), rules.gd, log_grid(1e-2, 1.0, 2), steps=20, tol=1e-20)
    assert sweep.best.fun > 1e-8  # GD with its best step size and the same budget: far from converged


def test_gd_stability_limit_of_the_pendulum_chain():
    problem, _, _ = _pendulum()
    lam_max = np.linalg.eigvalsh(problem.gauss_newton_matrix_at(np.zeros(6))).max()
    below = minimize(problem, np.zeros(6), rules.gd(0.8 * 2 / lam_max), steps=60)
    above = minimize(problem, np.zeros(6), rules.gd(1.5 * 2 / lam_max), steps=60)
    # below 2/lambda_max the loss falls; above it the run does not settle (the nonlinearity bounds the blow-up)
    assert below.fun < 1e-3 * below.losses[0] and above.fun > above.losses[0]


def test_heat_regularised_inverse_recovers_and_naive_amplifies_noise():
    rng = np.random.default_rng(1)
    op = physics.heat_operator(64, 1e-3)
    x_true = physics.random_boxes(64, 3, rng)
    y_clean = op.apply(x_true)
    y_noisy = physics.add_noise(y_clean, 1e-3, rng)
    rms = lambda a: np.sqrt(np.mean(np.square(a)))
    assert rms(op.apply_inverse(y_noisy, cutoff=0.0) - x_true) / rms(y_noisy - y_clean) > 1e10
    cutoff = 1e-3 / rms(y_noisy)
    heat = physics.heat_problem(64, 1e-3, y_noisy, cutoff=cutoff)
    x = minimize(heat, np.zeros(64), rules.pg(1.0), steps=1).x
    assert rms(x - x_true) / rms(x_true) < 0.3


def test_heat_inverse_without_noise_is_exact():
    op = physics.heat_operator(32, 1e-5)
    x_true = physics.random_boxes(32, 2, np.random.default_rng(0))
    heat = physics.heat_problem(32, 1e-5, op.apply(x_true), cutoff=0.0)
    np.testing.assert_allclose(minimize(heat, np.zeros(32), rules.pg(1.0), steps=1).x, x_true, atol=1e-10)


# --------------------------------------------------------------------------- losses
def _central_differences(function, y, h=1e-6):
    columns = []
    for i in range(y.size):
        e = np.zeros_like(y)
        e[i] = h
        columns.append((np.asarray(function(y + e)) - np.asarray(function(y - e))) / (2 * h))
    return np.stack(columns, axis=-1)


@pytest.mark.parametrize("loss", [losses.weighted_squared_error([1.0, 7.0]), losses.quadratic_plus_quartic([2.0, 0.5])])
def test_loss_derivatives_match_finite_differences(loss):
    y, target = np.array([1.3, -0.4]), np.array([0.2, 0.5])
    np.testing.assert_allclose(loss.gradient(y, target), _central_differences(lambda v: loss.value(v, target), y),
                               rtol=1e-6)
    np.testing.assert_allclose(loss.hessian(y, target), _central_differences(lambda v: loss.gradient(v, target), y),
                               rtol=1e-6, atol=1e-8)


def test_newton_step_in_y_for_weighted_and_quartic_losses():
    x = np.array([3.0, 3.0])
    weighted = problems.square_second(loss=losses.weighted_squared_error([1.0, 100.0]))
    np.testing.assert_allclose(weighted.newton_step_in_y(weighted.output(x), 0.7), 0.7 * np.array([-3.0, -9.0]),
                               rtol=1e-14)
    quartic = problems.square_second(loss=losses.quadratic_plus_quartic([1.0, 0.0]))
    r, w = np.array([3.0, 9.0]), np.array([1.0, 0.0])
    np.testing.assert_allclose(quartic.newton_step_in_y(quartic.output(x), 1.0), -r * (1 + w * r**2) / (1 + 3 * w * r**2),
                               rtol=1e-14)
    dy = quartic.newton_step_in_y(quartic.output(x), 1.0)
    np.testing.assert_allclose(rules.pg_step(quartic, x, 1.0), quartic.invert(quartic.output(x) + dy, x) - x)


def test_loss_factories_reject_bad_weights():
    with pytest.raises(ValueError, match="positive"):
        losses.weighted_squared_error([1.0, 0.0])
    with pytest.raises(ValueError, match=">= 0"):
        losses.quadratic_plus_quartic([-1.0])


# --------------------------------------------------------------------------- fall-back
def test_fallback_to_gd_settles_at_best_reachable_point():
    p = problems.square_second(target=(1.0, -1.0))
    alone = minimize(p, [3.0, 3.0], rules.pg(0.5), steps=100)
    assert alone.status_name == "rule_failed" and alone.nit == 3  # y2 = 9, 4, 1.5, 0.25, then -0.375
    with_gd = minimize(p, [3.0, 3.0], rules.pg(0.5, fallback=rules.gd(0.2)), steps=100)
    assert with_gd.fun == pytest.approx(0.5, abs=1e-10)
    np.testing.assert_allclose(with_gd.x, [1.0, 0.0], atol=1e-8)
    with_ig = minimize(p, [3.0, 3.0], rules.pg(0.5, fallback=rules.ig(0.5)), steps=100)
    assert not np.all(np.abs(with_ig.losses[-50:] - 0.5) < 1e-6)


# --------------------------------------------------------------------------- invariance
def _cubed_second(base):
    phi = lambda z: np.array([z[0], z[1] ** 3])
    phi_inv = lambda x: np.array([x[0], np.cbrt(x[1])])
    q = problems.Problem(simulator=lambda z: base.simulator(phi(z)),
                         jacobian=lambda z: base.jacobian_at(phi(z)) @ np.diag([1.0, 3 * z[1] ** 2]),
                         target=base.target, inverse=lambda y, z0: phi_inv(base.invert(y, phi(z0))))
    return q, phi, phi_inv


@pytest.mark.parametrize("eta", [0.3, 0.5, 1.0])
def test_pg_is_invariant_under_a_nonlinear_reparametrisation_and_ig_is_not(eta):
    base = problems.square_second(target=(1.0, 4.0))
    q, phi, phi_inv = _cubed_second(base)
    x0 = np.array([3.0, 3.0])
    for rule, invariant in [(rules.pg(eta), True), (rules.ig(eta), False)]:
        xs = minimize(base, x0, rule, steps=10).xs
        zs = minimize(q, phi_inv(x0), rule, steps=10).xs
        count = min(len(xs), len(zs))
        gap = max(np.max(np.abs(phi(z) - x)) for z, x in zip(zs[:count], xs[:count]))
        assert (gap < 1e-12) == invariant


# --------------------------------------------------------------------------- summary: Adam and rescaling
def test_adam_path_ignores_rescaled_gradient_components_from_a_fixed_start():
    reference = minimize(problems.alpha_scaled(1.0), [1.0, 1.0], rules.adam(0.1), steps=50).xs
    for alpha in (10.0, 1000.0):
        xs = minimize(problems.alpha_scaled(alpha), [1.0, 1.0], rules.adam(0.1), steps=50).xs
        np.testing.assert_allclose(xs, reference, atol=1e-7)  # only Adam's epsilon makes a difference


def test_adam_is_not_invariant_under_a_change_of_units_with_the_start_mapped():
    problem, x0 = problems.square_second(target=(1.0, 4.0)), np.array([3.0, 3.0])
    best = []
    for alpha in (1.0, 1000.0):
        scale = np.array([1.0, alpha])
        in_z = problems.reparametrize(problem, scale)
        sweep = sweep_step_size(in_z, x0 / scale, rules.adam, log_grid(1e-3, 1.0, per_decade=2), steps=400, tol=1e-10)
        best.append(sweep.best_eta)
        path = minimize(in_z, x0 / scale, rules.adam(0.1), steps=20).xs * scale
        gap = np.max(np.abs(path - minimize(problem, x0, rules.adam(0.1), steps=20).xs))
        assert (gap == 0.0) == (alpha == 1.0)
    assert best[1] <= best[0] / 3  # the best eta moves with the units


@pytest.mark.parametrize("make", [rules.newton, rules.gauss_newton, rules.ig, rules.pg])
def test_inverting_rules_are_invariant_under_a_change_of_units(make):
    problem, x0, scale = problems.square_second(target=(1.0, 4.0)), np.array([3.0, 3.0]), np.array([1.0, 100.0])
    xs = minimize(problem, x0, make(0.5), steps=15).xs
    zs = minimize(problems.reparametrize(problem, scale), x0 / scale, make(0.5), steps=15).xs
    np.testing.assert_allclose(zs * scale, xs, rtol=1e-12, atol=1e-12)


def test_gauss_newton_equals_ig_for_a_square_invertible_jacobian():
    problem = problems.square_second(target=(1.0, 4.0))
    for eta in (0.3, 1.0):
        np.testing.assert_allclose(minimize(problem, [3.0, 3.0], rules.gauss_newton(eta), steps=10).xs,
                                   minimize(problem, [3.0, 3.0], rules.ig(eta), steps=10).xs, rtol=1e-13)


# --------------------------------------------------------------------------- summary: compositions
_INNER = {"exp": (np.exp, np.exp, np.exp, np.log),
          "cube": (lambda x: x**3, lambda x: 3 * x**2, lambda x: 6 * x, np.cbrt)}


def _composite(f, df, d2f, f_inv):
    return problems.Problem(
        simulator=lambda x: f(x) ** 2, jacobian=lambda x: np.array([[2 * f(x[0]) * df(x[0])]]),
        target=np.array([1.0]),
        second_derivatives=lambda x: np.array([[[2 * df(x[0]) ** 2 + 2 * f(x[0]) * d2f(x[0])]]]),
        inverse=lambda y, x0: f_inv(np.sign(f(x0)) * np.sqrt(y)))


def _delta_u(make, eta, key):
    f, _, _, f_inv = _INNER[key]
    x0 = np.array([f_inv(2.0)])
    return (f(x0 + make(eta).first_step(_composite(*_INNER[key]), x0)) - f(x0))[0]


def test_composite_derivatives_match_finite_differences():
    for key, funcs in _INNER.items():
        p, x, h = _composite(*funcs), np.array([0.7]), 1e-6
        fd = (p.simulator(x + h) - p.simulator(x - h)) / (2 * h)
        assert p.jacobian_at(x)[0, 0] == pytest.approx(fd[0], rel=1e-7)
        fd2 = (p.jacobian_at(x + h) - p.jacobian_at(x - h))[0, 0] / (2 * h)
        assert p.second_derivatives(x)[0, 0, 0] == pytest.approx(fd2, rel=1e-6)


def test_pg_update_of_the_intermediate_is_exactly_the_outer_pg_step():
    outer = problems.scalar_square(target=1.0)
    for eta in (0.05, 0.5, 1.0):
        alone = rules.pg(eta).first_step(outer, [2.0])[0]
        for key in _INNER:
            assert _delta_u(rules.pg, eta, key) == pytest.approx(alone, abs=1e-14)


@pytest.mark.parametrize("make, order", [(rules.gd, 1.0), (rules.newton, 1.0), (rules.ig, 2.0)])
def test_order_at_which_the_inner_function_enters(make, order):
    etas = np.logspace(-6, -4, 5)  # small enough that the GD step stays in the linear regime
    gaps = [abs(_delta_u(make, e, "exp") - _delta_u(make, e, "cube")) for e in etas]
    assert np.polyfit(np.log(etas), np.log(gaps), 1)[0] == pytest.approx(order, abs=0.1)
