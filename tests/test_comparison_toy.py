"""Tests of companion.toy_comparison (the published 2-D toy of chapter "Comparing the optimisers on a nonlinear toy")."""

import math

import numpy as np
import pytest
from scipy.differentiate import jacobian as fd_jacobian

from companion import minimize, problems, rules
from companion import toy_comparison as cmp


def loss(x):
    """The published loss, written out independently: |y|^2 = x1^2 + x2^4."""
    return x[0] ** 2 + x[1] ** 4


# --------------------------------------------------------------------------- the set-up
def test_published_problem_is_twice_the_course_loss():
    p = cmp.published_problem()
    course = problems.square_second()
    for x in ([3.0, 3.0], [-0.5, 1.7], [2.0, -0.3]):
        assert p.loss_at(x) == pytest.approx(loss(np.array(x)), rel=1e-14)
        assert p.loss_at(x) == pytest.approx(2 * course.loss_at(x), rel=1e-14)


def test_gradient_matches_finite_differences_of_the_written_out_loss():
    p = cmp.published_problem()
    x = np.array([1.3, -0.7])
    fd = fd_jacobian(lambda z: z[0] ** 2 + z[1] ** 4, x).df
    np.testing.assert_allclose(p.gradient_at(x), fd, rtol=1e-9)


@pytest.mark.parametrize("x", [(3.0, 3.0), (0.5, -2.0)])
def test_closed_form_first_steps(x):
    """The steps of eq-comparison-steps, derived by hand."""
    x = np.array(x)
    p = cmp.published_problem()
    eta = 0.3
    np.testing.assert_allclose(cmp.make_rule("GD", eta).first_step(p, x), -eta * np.array([2 * x[0], 4 * x[1] ** 3]),
                               rtol=1e-13)
    np.testing.assert_allclose(cmp.make_rule("Newton", eta).first_step(p, x), -eta * np.array([x[0], x[1] / 3]),
                               rtol=1e-12)
    np.testing.assert_allclose(cmp.make_rule("IG", eta).first_step(p, x), -eta * np.array([x[0], x[1] / 2]),
                               rtol=1e-12)
    np.testing.assert_allclose(cmp.make_rule("PG", eta).first_step(p, x),
                               np.array([-eta * x[0], (math.sqrt(1 - eta) - 1) * x[1]]), rtol=1e-12)


def test_make_rule_rejects_unknown_methods_and_bad_eta():
    with pytest.raises(ValueError, match="method must be one of"):
        cmp.make_rule("SGD", 0.1)
    with pytest.raises(ValueError):
        cmp.make_rule("GD", -1.0)


# --------------------------------------------------------------------------- the published runs
def test_published_runs_first_step_lengths_and_final_distances():
    runs = {m: minimize(cmp.published_problem(), cmp.X0, cmp.make_rule(m, eta), steps=cmp.STEPS)
            for m, eta in cmp.PUBLISHED_ETAS.items()}
    rows = {r["method"]: r for r in cmp.step_table(runs, cmp.PUBLISHED_ETAS)}
    assert rows["GD"]["length"] == pytest.approx(math.hypot(0.06, 1.08), rel=1e-12)
    assert rows["Newton"]["length"] == pytest.approx(math.hypot(1.0, 1.0 / 3.0), rel=1e-12)
    assert rows["PG"]["length"] == pytest.approx(math.hypot(0.9, 3 - math.sqrt(6.3)), rel=1e-12)
    # Newton's iterates in closed form: x1 (2/3)^k, x2 (8/9)^k
    assert rows["Newton"]["distance"] == pytest.approx(math.hypot(3 * (2 / 3) ** 10, 3 * (8 / 9) ** 10), rel=1e-10)
    assert rows["PG"]["distance"] < rows["Newton"]["distance"] < rows["GD"]["distance"]
    assert rows["GD"]["angle"] == pytest.approx(math.degrees(math.atan2(-1.08, -0.06)), abs=1e-10)
    assert rows["PG"]["off_target"] == pytest.approx(
        math.degrees(math.acos((0.9 * 3 + (3 - math.sqrt(6.3)) * 3) / (rows["PG"]["length"] * math.sqrt(18)))), abs=1e-9)


def test_step_angle_and_angle_between():
    assert cmp.step_angle([0.0, 1.0]) == pytest.approx(90.0)
    assert cmp.step_angle([-1.0, 0.0]) == pytest.approx(180.0)
    assert cmp.angle_between([1.0, 0.0], [-1.0, 0.0]) == pytest.approx(180.0)
    with pytest.raises(ValueError, match="zero step"):
        cmp.step_angle([0.0, 0.0])
    with pytest.raises(ValueError, match="non-zero"):
        cmp.angle_between([0.0, 0.0], [1.0, 0.0])


def test_pg_path_in_y_is_straight_and_others_are_not():
    runs = {m: minimize(cmp.published_problem(), cmp.X0, cmp.make_rule(m, eta), steps=cmp.STEPS)
            for m, eta in cmp.PUBLISHED_ETAS.items()}
    assert cmp.line_deviation(runs["PG"]) < 1e-14
    assert cmp.contraction_deviation(runs["PG"], 0.3) < 1e-14
    assert cmp.contraction_deviation(runs["PG"], 0.4) > 1e-2
    assert cmp.line_deviation(runs["GD"]) > 0.1
    assert cmp.line_deviation(runs["Newton"]) > 0.01


def test_line_deviation_of_a_known_bent_path():
    class Fake:
        ys = np.array([[2.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    assert cmp.line_deviation(Fake(), [0.0, 0.0]) == pytest.approx(0.5)


# --------------------------------------------------------------------------- step-size rules
@pytest.mark.parametrize("method", ["Newton", "PG", "Adam", "IG"])
def test_equal_first_step_rule_matches_the_gd_length(method):
    p = cmp.published_problem()
    x0 = np.array(cmp.X0)
    target = np.linalg.norm(cmp.make_rule("GD", 0.01).first_step(p, x0))
    etas = cmp.equal_length_etas((method,))
    step = cmp.make_rule(method, etas[method]).first_step(p, x0)
    assert np.linalg.norm(step) == pytest.approx(target, rel=1e-10)


def test_equal_first_step_etas_in_closed_form():
    length = math.hypot(0.06, 1.08)
    etas = cmp.equal_length_etas()
    assert etas["Newton"] == pytest.approx(length / math.hypot(3.0, 1.0), rel=1e-12)
    assert etas["IG"] == pytest.approx(length / math.hypot(3.0, 1.5), rel=1e-12)
    assert etas["Adam"] == pytest.approx(length / math.sqrt(2), rel=1e-6)  # eps of Adam
    # PG: |(-3 eta, 3 sqrt(1-eta) - 3)| = length, solved independently by bisection
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if math.hypot(3 * mid, 3 - 3 * math.sqrt(1 - mid)) < length:
            lo = mid
        else:
            hi = mid
    assert etas["PG"] == pytest.approx(lo, rel=1e-10)
    # the published values are these rounded
    assert round(etas["Newton"], 1) == pytest.approx(0.3) and round(etas["PG"], 1) == pytest.approx(0.3)


def test_equal_length_rejects_bfgs():
    with pytest.raises(ValueError, match="line search"):
        cmp.equal_length_etas(("BFGS",))


def test_toy_tasks_draw_their_starts_from_the_seed():
    a, b, c = cmp.toy_task(0), cmp.toy_task(0), cmp.toy_task(1)
    np.testing.assert_array_equal(a.x0, b.x0)
    assert not np.allclose(a.x0, c.x0) and np.all((a.x0 >= 1) & (a.x0 <= 4))
    assert a.tol == 1e-24 and not np.any(a.x_true)
    with pytest.raises(ValueError, match="high must exceed low"):
        cmp.toy_task(0, low=2.0, high=1.0)


def test_toy_rules_cover_every_method_with_its_grid():
    table = cmp.toy_rules({"GD": (0.1, 0.2, 0.3)})
    assert list(table) == list(cmp.METHODS) and table["GD"][1] == (0.1, 0.2, 0.3) and table["BFGS"][1] == ()
    assert table["IG"][0](0.5).name == "IG"
    # PG with eta = 1 inverts the toy exactly: one step to L = 0
    task = cmp.toy_task(3)
    run = minimize(task.problem, task.x0, table["PG"][0](1.0), steps=5, tol=task.tol)
    assert run.nit == 1 and run.fun == 0.0


# --------------------------------------------------------------------------- numerical inverse
def test_numerical_inverse_finds_the_local_preimage():
    p, inverse = cmp.numerical_inverse_problem()
    x = p.invert(np.array([1.0, 4.0]), np.array([0.5, -1.5]))
    np.testing.assert_allclose(x, [1.0, -2.0], atol=1e-8)  # the side of x0
    x = p.invert(np.array([1.0, 4.0]), np.array([0.5, 1.5]))
    np.testing.assert_allclose(x, [1.0, 2.0], atol=1e-8)
    assert len(inverse.evaluations) == 2 and all(e > 0 for e in inverse.evaluations)


def test_numerical_vs_analytic_agree_and_count_cost():
    res = cmp.numerical_vs_analytic()
    assert res["step_deviation"] < 1e-8
    assert res["path_deviation"] < 1e-8
    assert res["evaluations"].size == cmp.STEPS
    assert 2 <= res["mean_evaluations"] < 100
    loose = cmp.numerical_vs_analytic(gradient=False, ftol=2.220446049250313e-09, gtol=1e-05)
    assert loose["step_deviation"] > res["step_deviation"]
    assert loose["mean_evaluations"] > res["mean_evaluations"]


def test_numerical_inverse_checks_arguments():
    with pytest.raises(TypeError):
        cmp.NumericalInverse("not a problem")
    with pytest.raises(TypeError):
        cmp.NumericalInverse(cmp.published_problem(), gradient="yes")
    with pytest.raises(ValueError):
        cmp.NumericalInverse(cmp.published_problem(), ftol=-1.0)


# --------------------------------------------------------------------------- exercises
def test_exercise_1_companion_run_equals_closed_form():
    assert cmp.exercise_pg_distance() == pytest.approx(cmp.exercise_pg_distance_closed_form(), rel=1e-13)
    assert cmp.exercise_pg_distance_closed_form() == pytest.approx(3 * math.sqrt(0.7**20 + 0.7**10), rel=1e-14)
    with pytest.raises(ValueError, match="overshoots"):
        cmp.exercise_pg_distance_closed_form(eta=1.5)


@pytest.mark.parametrize("threshold", [1e-1, 1e-3, 1e-6])
def test_exercise_2_runs_equal_closed_form(threshold):
    assert cmp.exercise_iterations_below(threshold) == cmp.exercise_iterations_below_closed_form(threshold)


def test_exercise_2_answer():
    assert cmp.exercise_iterations_below_closed_form(1e-3) == {"Newton": 68, "PG": 45}
    # independent check: 3 q^k < 1e-3
    assert 3 * (8 / 9) ** 68 < 1e-3 <= 3 * (8 / 9) ** 67
    assert 3 * math.sqrt(0.7) ** 45 < 1e-3 <= 3 * math.sqrt(0.7) ** 44
