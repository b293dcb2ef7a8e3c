"""Tests of companion.inverse_setups: the pendulum rings (even and uneven masses) and the noisy heat problem, and traced runs."""

import math

import numpy as np
import pytest

from companion import minimize, problems, rules
from companion import evidence, linalg
from companion import inverse_setups as inv
from companion.physics import heat_operator, heat_problem, leapfrog


# --------------------------------------------------------------------------- efficient()
@pytest.mark.parametrize("make", [lambda: rules.gd(0.1), lambda: rules.newton(0.5), lambda: rules.ig(0.5),
                                  lambda: rules.pg(0.5), lambda: rules.adam(0.1), lambda: rules.bfgs()])
def test_efficient_problem_takes_exactly_the_same_steps(make):
    bare = problems.square_second(target=(1.0, 2.0))
    fast = inv.efficient(bare)
    a = minimize(bare, [3.0, 3.0], make(), steps=8)
    b = minimize(fast, [3.0, 3.0], make(), steps=8)
    np.testing.assert_array_equal(a.xs, b.xs)


def test_efficient_keeps_a_general_loss_and_its_newton_step():
    weights = np.array([1.0, 4.0])
    loss = problems.Loss(lambda y, t: 0.5 * float(np.sum(weights * (y - t) ** 2)),
                         lambda y, t: weights * (y - t), lambda y, t: np.diag(weights))
    bare = problems.square_second(target=(1.0, 2.0), loss=loss)
    fast = inv.efficient(bare)
    y = np.array([3.0, 5.0])
    np.testing.assert_allclose(fast.newton_step_in_y(y, 0.5), bare.newton_step_in_y(y, 0.5), rtol=1e-14)
    assert not fast.l2 and inv.efficient(problems.square_second()).l2


def test_efficient_does_not_return_a_shared_output_array():
    fast = inv.efficient(problems.square_second())
    y = fast.simulator(np.array([1.0, 2.0]))
    y[0] = 99.0
    assert fast.simulator(np.array([1.0, 2.0]))[0] == 1.0


def test_rms():
    assert inv.rms([1.0, -1.0, 1.0, -1.0]) == 1.0
    with pytest.raises(ValueError):
        inv.rms([])


# --------------------------------------------------------------------------- tasks
def test_pendulum_task_observation_is_the_leapfrog_output_and_pg_inverts_it():
    task = inv.pendulum_task(3, dt=0.1, steps=40, seed=2)
    np.testing.assert_allclose(task.problem.target, leapfrog(task.x_true, dt=0.1, steps=40, coupling=1.0), rtol=1e-15)
    assert task.tol == pytest.approx(1e-10 * 0.5 * np.sum(task.problem.target**2), rel=1e-12)
    run = minimize(task.problem, task.x0, rules.pg(1.0), steps=3, tol=task.tol)
    assert run.nit == 1 and np.max(np.abs(run.x - task.x_true)) < 1e-12


def test_heat_task_noise_cutoff_and_discrepancy():
    task = inv.heat_task(64, 1e-3, noise=1e-3, seed=1)
    y = task.problem.target
    assert inv.rms(y - task.y_clean) == pytest.approx(1e-3, rel=0.3)  # the noise level
    assert task.cutoff == pytest.approx(1e-3 / inv.rms(y), rel=1e-14)
    assert task.tol == pytest.approx(0.5 * 64 * (1.1e-3) ** 2, rel=1e-14)
    np.testing.assert_allclose(task.y_clean, heat_operator(64, 1e-3).apply(task.x_true), rtol=1e-14)


def test_task_arguments_are_checked():
    with pytest.raises(ValueError):
        inv.pendulum_task(0)
    with pytest.raises(ValueError):
        inv.heat_task(64, -1.0)
    with pytest.raises(ValueError):
        inv.heat_task(64, 1e-3, noise=0.0)


# --------------------------------------------------------------------------- the ring with uneven masses
def test_unit_masses_reproduce_the_course_leapfrog():
    x = np.random.default_rng(0).uniform(-1, 1, 6)
    np.testing.assert_allclose(inv.uneven_leapfrog(x, np.ones(3), dt=0.1, steps=30),
                               leapfrog(x, dt=0.1, steps=30, coupling=1.0), rtol=1e-13, atol=1e-14)


def test_uneven_leapfrog_conserves_its_energy_and_runs_backwards():
    masses = np.array([1.0, 5.0, 25.0])
    x = np.r_[0.5, -0.3, 0.2, 0.1, 1.0, -2.0]

    def energy(s):
        q, p = s[:3], s[3:]
        return np.sum(p**2 / (2 * masses) + masses * (1 - np.cos(q))) + 0.5 * np.sum((np.roll(q, -1) - q) ** 2)

    y = inv.uneven_leapfrog(x, masses, dt=0.01, steps=500)
    assert abs(energy(y) - energy(x)) < 1e-4 * energy(x)
    np.testing.assert_allclose(inv.uneven_leapfrog(y, masses, dt=-0.01, steps=500), x, atol=1e-12)


def test_uneven_jacobian_matches_central_differences():
    masses = np.array([1.0, 3.0, 9.0])
    x = np.random.default_rng(1).uniform(-0.8, 0.8, 6)
    y, jac = inv.uneven_leapfrog_jacobian(x, masses, dt=0.1, steps=20)
    np.testing.assert_allclose(y, inv.uneven_leapfrog(x, masses, dt=0.1, steps=20), rtol=1e-15)
    h = 1e-6
    numeric = np.array([(inv.uneven_leapfrog(x + h * e, masses, dt=0.1, steps=20)
                         - inv.uneven_leapfrog(x - h * e, masses, dt=0.1, steps=20)) / (2 * h) for e in np.eye(6)]).T
    np.testing.assert_allclose(jac, numeric, rtol=1e-6, atol=1e-7)


def test_uneven_hessian_matches_differences_of_the_loss():
    task = inv.uneven_pendulum_task(2, mass_ratio=4.0, steps=10, seed=3)
    x = task.x_true + 0.05
    hessian = task.problem.hessian_at(x)
    h = 1e-4
    eye = np.eye(4)
    numeric = np.array([[(task.problem.loss_at(x + h * a + h * b) - task.problem.loss_at(x + h * a - h * b)
                          - task.problem.loss_at(x - h * a + h * b) + task.problem.loss_at(x - h * a - h * b))
                         / (4 * h * h) for b in eye] for a in eye])
    np.testing.assert_allclose(hessian, numeric, rtol=1e-4, atol=1e-6)


def test_uneven_masses_make_the_jacobian_badly_conditioned():
    kappas = [linalg.condition_number(inv.uneven_pendulum_task(4, mass_ratio=r).problem.jacobian_at(np.zeros(8)))
              for r in (1.0, 10.0, 100.0)]
    assert kappas[0] < 10 < kappas[1] < kappas[2] and kappas[2] > 1e3


def test_uneven_task_and_its_checks():
    task = inv.uneven_pendulum_task(3, mass_ratio=9.0, steps=10, seed=4)
    assert task.scale["masses"] == [1.0, 3.0, 9.0]
    run = minimize(task.problem, task.x0, rules.pg(1.0), steps=3, tol=task.tol)
    assert run.nit == 1 and np.max(np.abs(run.x - task.x_true)) < 1e-12
    with pytest.raises(ValueError, match="masses must be positive"):
        inv.uneven_leapfrog(np.zeros(4), [1.0, -1.0], dt=0.1, steps=2)
    with pytest.raises(ValueError):
        inv.uneven_pendulum_task(1)


# --------------------------------------------------------------------------- methods and traced runs
def test_second_order_choice_follows_the_hessian_condition():
    assert inv.second_order_choice(inv.heat_task(32, 1e-4))[0] == "Newton"
    name, condition = inv.second_order_choice(inv.heat_task(64, 1e-3))
    assert name == "Gauss-Newton" and condition > 1e12


@pytest.mark.parametrize("make_task", [lambda: inv.heat_task(64, 1e-3), lambda: inv.uneven_pendulum_task(3, steps=20)])
def test_gauss_newton_ig_and_pg_agree_where_they_should(make_task):
    task = make_task()
    table = inv.method_rules(task)
    steps = {m: table[m][0](0.7).first_step(task.problem, task.x0) for m in ("GN", "IG")}
    np.testing.assert_allclose(steps["GN"], steps["IG"], rtol=1e-9, atol=1e-12)
    if task.name == "heat":  # the regularised inverse is IG's truncated J^+ (circulant J): the same step
        np.testing.assert_allclose(table["PG"][0](0.7).first_step(task.problem, task.x0), steps["IG"], atol=1e-12)


def test_method_rules_grids_override_and_unknown():
    task = inv.pendulum_task(2, steps=10)
    table = inv.method_rules(task, grids={"GD": [0.2, 0.3, 0.4]})
    assert table["GD"][1] == (0.2, 0.3, 0.4) and table["BFGS"][1] == ()
    with pytest.raises(ValueError, match="unknown method"):
        inv.method_rules(task, grids={"SGD": [0.1]})


def test_traced_run_uses_both_budgets_unless_it_converges():
    task = inv.uneven_pendulum_task(2, steps=10)
    trace = inv.traced_run(task, rules.gd(1e-3), iterations=5, seconds=0.05)
    assert trace.status == "budget" and trace.iterations[-1] >= 5 and trace.seconds[-1] >= 0.05
    assert trace.x_errors[0] == pytest.approx(1.0) and trace.x_error_at(10**6) == trace.x_errors[-1]
    done = inv.traced_run(task, rules.pg(1.0), iterations=5, seconds=10.0)
    assert done.status == "converged" and done.run.nit == 1 and done.seconds[-1] < 10.0


def test_budget_score_orders_converged_before_missed_before_diverged():
    task = inv.pendulum_task(2, steps=10)
    fast = minimize(task.problem, task.x0, rules.pg(1.0), steps=20, tol=task.tol)
    slow = minimize(task.problem, task.x0, rules.pg(0.5), steps=20, tol=task.tol)
    missed = minimize(task.problem, task.x0, rules.gd(0.01), steps=20, tol=task.tol)
    scores = [inv.budget_score(r, 20, task.tol) for r in (fast, slow, missed)]
    assert scores[0] == 1 < scores[1] <= 20 < scores[2]
    diverged = minimize(task.problem, task.x0, rules.gd(1e3), steps=20, tol=task.tol)
    assert math.isnan(inv.budget_score(diverged, 20, task.tol))
