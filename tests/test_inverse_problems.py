"""Tests of companion.experiments.inverse_problems (chapter "Physical inverse problems")."""

import math

import numpy as np
import pytest

from companion import minimize, problems, rules
from companion.experiments import inverse_problems as inv
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


# --------------------------------------------------------------------------- methods
def test_second_order_choice_follows_the_hessian_condition():
    assert inv.second_order_choice(inv.heat_task(32, 1e-4))[0] == "Newton"
    name, condition = inv.second_order_choice(inv.heat_task(64, 1e-3))
    assert name == "Gauss-Newton" and condition > 1e12
    assert inv.second_order_choice(inv.pendulum_task(2, steps=20))[0] == "Newton"


def test_heat_gauss_newton_ig_and_pg_take_the_same_step():
    task = inv.heat_task(64, 1e-3)
    specs = inv.method_specs(task)
    steps = {m: specs[m].make(0.7).first_step(task.problem, task.x0) for m in ("Newton", "IG", "PG")}
    assert specs["Newton"].name == "Gauss-Newton"
    np.testing.assert_allclose(steps["IG"], steps["PG"], atol=1e-12)
    np.testing.assert_allclose(steps["Newton"], steps["PG"], atol=1e-12)
    # and the regularised inverse keeps exactly the modes above the cutoff (FFT, independent of J)
    op = heat_operator(64, 1e-3)
    expected_hat = np.where(op.gains > task.cutoff, 0.7 * np.fft.rfft(task.problem.target) / op.gains, 0.0)
    np.testing.assert_allclose(steps["PG"], np.fft.irfft(expected_hat, n=64), atol=1e-12)


def test_method_specs_grids_override_and_unknown():
    task = inv.pendulum_task(2, steps=10)
    specs = inv.method_specs(task, grids={"GD": [0.2]})
    assert specs["GD"].etas == (0.2,)
    with pytest.raises(ValueError, match="unknown method"):
        inv.method_specs(task, grids={"SGD": [0.1]})
    with pytest.raises(ValueError, match="unknown methods"):
        inv.compare_methods(task, methods=("SGD",))


def test_compare_methods_on_small_pendulum():
    task = inv.pendulum_task(2, steps=20, seed=0)
    results = inv.compare_methods(task, steps=60, repeats=2)
    assert results["PG"].iterations == 1 and results["PG"].eta == 1.0
    assert results["PG"].x_error < 1e-12
    for name in ("Newton", "IG", "BFGS"):
        assert results[name].converged and results[name].iterations > 1
        assert results[name].run.fun <= task.tol
    # the best run of a sweep is the fastest converged one
    for r in results.values():
        converged = [run.nit for run in r.sweep.results if run.success]
        if converged:
            assert r.iterations == min(converged)
    rows = inv.result_rows(results)
    assert [row["method"] for row in rows] == list(inv.METHODS)
    assert all((row["iterations"] is None) == (not row["converged"]) for row in rows)
    text = inv.format_table(results, times=True)
    assert text.splitlines()[0].startswith("method") and len(text.splitlines()) == 7
    speed = inv.speedup(results)
    assert speed["IG"] == results["IG"].iterations


def test_heat_comparison_reaches_the_discrepancy_with_one_inverse_step():
    task = inv.heat_task(32, 1e-3)
    results = inv.compare_methods(task, steps=60, methods=("IG", "PG"))
    for r in results.values():
        assert r.iterations == 1
        assert r.y_error <= 1.1 * task.noise * (1 + 1e-12)


def test_scaling_rows_and_table():
    rows = inv.heat_scaling([(32, 1e-3), (64, 1e-3)], steps=30, methods=("PG", "IG"))
    assert len(rows) == 4 and {r["n"] for r in rows} == {32, 64}
    text = inv.scaling_table(rows, "n", methods=("PG", "IG"))
    assert text.splitlines()[1].split() == ["PG", "1", "1"]
    rows_p = inv.pendulum_scaling([10, 20], n=2, steps=20, methods=("PG",))
    assert [r["T"] for r in rows_p] == [1.0, 2.0]


def test_speedup_checks_its_argument():
    with pytest.raises(ValueError):
        inv.speedup({}, by="flops")


# --------------------------------------------------------------------------- noise
def test_fit_versus_truth_fit_improves_while_truth_degrades():
    task = inv.heat_task(64, 1e-3)
    out = inv.fit_versus_truth(task, [1e-14, 1e-8, task.cutoff])
    assert out["y_error"][0] < out["y_error"][1] < out["y_error"][2]
    assert out["x_error"][0] > out["x_error"][1] > out["x_error"][2]
    assert list(out["modes"]) == sorted(out["modes"], reverse=True)
    # the reconstruction with the task's cutoff is the problem's own PG step
    run = minimize(task.problem, task.x0, rules.pg(1.0), steps=1)
    assert out["x_error"][2] == pytest.approx(inv.rms(run.x - task.x_true) / inv.rms(task.x_true), rel=1e-12)
    with pytest.raises(ValueError, match="heat task"):
        inv.fit_versus_truth(inv.pendulum_task(2, steps=5), [1e-3])


def test_error_history_starts_at_the_start():
    task = inv.heat_task(32, 1e-3)
    run = minimize(task.problem, task.x0, rules.gd(1.0), steps=5)
    h = inv.error_history(task, run)
    assert h["x_error"][0] == pytest.approx(1.0)  # x0 = 0
    assert h["y_error"][0] == pytest.approx(inv.rms(task.problem.target))
    assert np.all(np.diff(h["y_error"]) < 0)


def test_unregularised_newton_fits_the_noise():
    """Plain Newton at n = 32 inverts every mode: smaller y error, much larger x error than PG."""
    task = inv.heat_task(32, 1e-3)
    newton = minimize(task.problem, task.x0, rules.newton(1.0), steps=1)
    pg = minimize(task.problem, task.x0, rules.pg(1.0), steps=1)
    fit = lambda x: inv.rms(task.problem.output(x) - task.problem.target)  # noqa: E731
    err = lambda x: inv.rms(x - task.x_true) / inv.rms(task.x_true)  # noqa: E731
    assert fit(newton.x) < 1e-8 < fit(pg.x)
    assert err(newton.x) > 5 * err(pg.x)


# --------------------------------------------------------------------------- exercises
@pytest.mark.parametrize("n, nu_t, cutoff", [(64, 1e-3, 1e-3), (64, 1e-3, 1e-6), (16, 1e-4, 1e-2), (8, 1e-5, 0.5)])
def test_exercise_1_count_equals_closed_form(n, nu_t, cutoff):
    count = inv.exercise_retained_modes(n, nu_t, cutoff)
    assert count == inv.exercise_retained_modes_closed_form(n, nu_t, cutoff)
    # independent: count the gains directly
    gains = np.exp(-nu_t * (2 * np.pi * np.arange(n // 2 + 1)) ** 2)
    assert count == int(np.sum(gains > cutoff))


def test_exercise_1_answer():
    assert inv.exercise_retained_modes(64, 1e-3, 1e-3) == 14


@pytest.mark.parametrize("eta", [0.5, 0.3, 1.0])
def test_exercise_2_pg_iterations_equal_closed_form(eta):
    assert inv.exercise_pg_iterations(eta, 1e-10, n=2, steps=20) == inv.exercise_pg_iterations_closed_form(eta, 1e-10)


def test_exercise_2_answer_and_checks():
    assert inv.exercise_pg_iterations_closed_form(0.5, 1e-10) == math.ceil(10 / math.log10(4)) == 17
    with pytest.raises(ValueError):
        inv.exercise_pg_iterations_closed_form(2.5)


def test_one_blas_thread_is_reentrant():
    with inv.one_blas_thread():
        with inv.one_blas_thread():
            a = np.linalg.svd(np.eye(3))[1]
    np.testing.assert_array_equal(a, np.ones(3))


def test_heat_problem_hessian_is_what_second_order_choice_inspects():
    p = heat_problem(16, 1e-3, np.zeros(16))
    np.testing.assert_allclose(p.hessian_at(np.zeros(16)), p.jacobian_at(np.zeros(16)).T @ p.jacobian_at(np.zeros(16)),
                               atol=1e-14)
