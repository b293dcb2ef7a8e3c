"""Tests of companion.scaling: the scale-invariance study of ``python -m companion.bench scale``."""

import numpy as np
import pytest

from companion import evidence, problems, rules, scaling
from companion.driver import minimize


@pytest.mark.parametrize("alpha", [1e-3, 0.5, 7.0, 1e4])
def test_family_members_are_reparametrisations_of_alpha_one(alpha):
    rng = np.random.default_rng(3)
    for family in scaling.FAMILIES:
        matrix = scaling.family_map(family, alpha)
        direct = scaling.family_problem(family, alpha)
        mapped = problems.reparametrize_linear(scaling.family_problem(family, 1.0), matrix)
        for z in rng.normal(size=(3, 2)):
            np.testing.assert_allclose(direct.output(z), mapped.output(z), rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(direct.jacobian_at(z), mapped.jacobian_at(z), rtol=1e-12, atol=1e-12)
            y = rng.normal(size=2)
            np.testing.assert_allclose(direct.invert(y, z), mapped.invert(y, z), rtol=1e-9, atol=1e-12)


def test_rotated_problem_is_symmetric_and_not_diagonal():
    jac = scaling.rotated_problem(100.0).jacobian_at(np.zeros(2))
    np.testing.assert_allclose(jac, jac.T, atol=1e-14)
    np.testing.assert_allclose(np.linalg.eigvalsh(jac), [1.0, 100.0], rtol=1e-12)
    assert abs(jac[0, 1]) > 10  # ill-conditioned along a rotated axis: Adam's coordinates do not align with it


def test_path_deviation():
    matrix = np.array([[2.0, 1.0], [0.0, 1.0]])
    zs = np.array([[1.0, 1.0], [0.5, 0.2], [0.0, 0.0]])
    xs = zs @ matrix.T
    assert scaling.path_deviation(xs, zs, matrix) == 0.0
    shifted = xs + np.array([0.0, 0.3])
    assert scaling.path_deviation(shifted, zs, matrix) == pytest.approx(0.3 / np.linalg.norm(shifted[0]))
    with pytest.raises(ValueError):
        scaling.path_deviation([[0.0, 0.0]], [[0.0, 0.0]], np.eye(2))


def test_invariant_rules_have_zero_deviation_and_gd_does_not():
    """A change of units maps Newton's path exactly onto itself; GD's path (same eta rule) departs from it."""
    matrix = scaling.family_map("alpha_scaled", 1e3)
    x0 = scaling.start_point(1)
    for name, invariant in (("Newton", True), ("PG", True), ("GD", False)):
        base = minimize(scaling.family_problem("alpha_scaled", 1.0), x0, scaling.make_rule(name, 0.5), steps=30)
        run = minimize(scaling.family_problem("alpha_scaled", 1e3), np.linalg.solve(matrix, x0),
                       scaling.make_rule(name, 0.5 if invariant else 0.5e-6), steps=30)
        deviation = scaling.path_deviation(base.xs, run.xs, matrix)
        assert (deviation < 1e-12) == invariant, (name, deviation)


def test_start_points_lie_on_the_unit_circle_and_differ_per_seed():
    starts = np.array([scaling.start_point(s) for s in range(10)])
    np.testing.assert_allclose(np.linalg.norm(starts, axis=1), 1.0)
    assert len({tuple(np.round(s, 12)) for s in starts}) == 10
    with pytest.raises(ValueError):
        scaling.start_point(-1)


def test_gd_grid_brackets_the_stability_limit():
    for alpha in (1e-2, 1.0, 30.0):
        lam = max(1.0, alpha**2)
        grid = scaling.gd_step_grid(problems.alpha_scaled(alpha), [1.0, 1.0])
        assert max(grid) > 2 / lam > sorted(grid)[-2]  # the largest value diverges, the others do not
        assert any(e == pytest.approx(1 / lam) for e in grid)
        diverged = minimize(problems.alpha_scaled(alpha), [1.0, 1.0], rules.gd(max(grid)), steps=200)
        assert diverged.status_name == "diverged"


def test_adam_grid_scales_with_the_start():
    small, large = scaling.adam_step_grid([[0.1, 0.0]]), scaling.adam_step_grid([[1.0, -10.0]])
    np.testing.assert_allclose(np.array(large) / np.array(small), 100.0)
    with pytest.raises(ValueError, match="minimum"):
        scaling.adam_step_grid([[0.0, 0.0]])
    with pytest.raises(ValueError, match="not swept"):
        scaling.step_grid("PG", problems.alpha_scaled(1.0), [[1.0, 1.0]])


def test_progress_score_ranks_faster_runs_lower_and_broken_runs_none():
    problem = problems.alpha_scaled(10.0)
    scores = {eta: scaling.progress_score(minimize(problem, [1.0, 0.1], rules.gd(eta), steps=100, rtol=1e-10),
                                          iterations=100, floor=1e-10) for eta in (1e-4, 1e-3, 1e-2, 0.05)}
    assert scores[1e-4] > scores[1e-3] > scores[1e-2]  # larger stable steps progress faster
    assert scores[0.05] is None  # beyond 2/lambda_max = 0.02: diverged
    exact = minimize(problems.alpha_scaled(1.0), [1.0, 1.0], rules.gd(1.0), steps=10, rtol=1e-10)
    assert scaling.progress_score(exact, iterations=10, floor=1e-10) == pytest.approx(-10 * 10 / 11)


def test_run_to_budget_uses_both_budgets_or_converges():
    problem = problems.alpha_scaled(100.0)
    run = scaling.run_to_budget(problem, [1.0, 0.01], rules.gd(1e-5), iterations=20, seconds=0.02)
    assert run.nit >= 20 and run.times[-1] >= 0.02 and run.status_name == "callback"
    fast = scaling.run_to_budget(problem, [1.0, 0.01], rules.newton(), iterations=20, seconds=5.0, rtol=1e-10)
    assert fast.success and fast.nit < 20
    with pytest.raises(ValueError):
        scaling.run_to_budget(problem, [1.0, 0.01], rules.newton(), iterations=20, seconds=-1.0)


@pytest.fixture(scope="module")
def comparison_at_large_alpha():
    return scaling.scale_comparison("rotated", 1e3, validation_seeds=range(100, 105), test_seeds=range(5),
                                    iterations=60, seconds=0.01, rule_names=("GD", "Adam", "PG"))


def test_scale_comparison_is_a_record_that_meets_the_standard(comparison_at_large_alpha):
    out = comparison_at_large_alpha
    record = out["record"]
    assert record["schema"] == evidence.EVIDENCE_SCHEMA
    assert [m["name"] for m in record["methods"]] == ["GD", "Adam", "PG"]
    assert record["validation"] != record["test"]
    assert evidence.problems_with(record) == []
    for m in record["methods"]:
        assert len(m["curves"]) == 5 and all(c["values"][0] == 1.0 for c in m["curves"])
    tuned = {m["name"]: m["hyperparameters"] for m in record["methods"]}
    assert len(tuned["GD"]) == len(tuned["Adam"]) == 1 and tuned["PG"] == []


def test_scale_comparison_rows_are_consistent(comparison_at_large_alpha):
    rows = {r["rule"]: r for r in comparison_at_large_alpha["rows"]}
    assert rows["PG"]["iterations"] == [17] * 5 and max(rows["PG"]["deviation"]) < 1e-8
    assert rows["GD"]["tuned"] and rows["GD"]["interior"]
    assert all(d > 0.05 for d in rows["GD"]["deviation"])
    # the test value is the loss ratio at the iteration budget; re-running GD reproduces it
    problem, matrix = scaling.family_problem("rotated", 1e3), scaling.family_map("rotated", 1e3)
    run = minimize(problem, np.linalg.solve(matrix, scaling.start_point(2)), rules.gd(rows["GD"]["eta"]), steps=60)
    assert run.losses[-1] / run.losses[0] == pytest.approx(rows["GD"]["test"][2], rel=1e-9)


def test_scale_comparison_without_wall_clock_has_no_record():
    out = scaling.scale_comparison("alpha_scaled", 10.0, validation_seeds=range(5), test_seeds=range(5, 10),
                                   iterations=20, rule_names=("PG",))
    assert out["record"] is None and out["rows"][0]["iterations"] == [17] * 5
    with pytest.raises(ValueError):
        scaling.scale_comparison("alpha_scaled", 10.0, validation_seeds=[0], test_seeds=[1], iterations=5,
                                 seconds=float("nan"))


def test_by_alpha_sorts_and_counts_failures():
    rows = [{"family": "f", "rule": "GD", "alpha": a, "deviation": v}
            for a, v in ((10.0, [1.0, None, 3.0]), (0.1, [0.5, 0.5, 0.5]))]
    s = scaling.by_alpha(rows, "f", "GD", "deviation")
    assert s["alpha"] == [0.1, 10.0] and s["median"] == [0.5, 2.0] and s["failed"] == [0, 1]
    with pytest.raises(ValueError, match="no rows"):
        scaling.by_alpha(rows, "f", "PG", "deviation")


@pytest.mark.parametrize("name", ["Newton", "Gauss-Newton", "IG", "PG"])
@pytest.mark.parametrize("alpha", [1e-3, 0.5, 7.0, 1e3])
def test_inverting_rules_are_invariant_on_the_nonlinear_toy(name, alpha):
    assert scaling.nonlinear_deviation(name, alpha) < 1e-9


@pytest.mark.parametrize("name", ["GD", "Adam", "BFGS"])
def test_first_order_rules_are_not_invariant_on_the_nonlinear_toy(name):
    deviation = scaling.nonlinear_deviation(name, 10.0)
    assert deviation is None or deviation > 1e-3  # None: the rescaled run diverged


def test_alpha_one_changes_nothing_on_the_nonlinear_toy():
    for name in scaling.SCALE_RULES:
        assert scaling.nonlinear_deviation(name, 1.0) == 0.0


def test_optimal_gd_iterations_against_a_run():
    for alpha in (0.5, 3.0, 10.0):
        eta = 2.0 / (1.0 + alpha**2)
        problem = problems.alpha_scaled(alpha)
        x0 = np.array([1.0, 1.0 / alpha])  # y0 = (1, 1)
        result = minimize(problem, x0, rules.gd(eta), steps=5000, tol=1e-10 * problem.loss_at(x0) * (1 + 1e-9))
        assert result.success and result.nit == scaling.optimal_gd_iterations(alpha), alpha
    assert scaling.optimal_gd_iterations(1.0) == 1


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="family"):
        scaling.family_problem("circle", 1.0)
    with pytest.raises(ValueError, match="alpha"):
        scaling.family_map("alpha_scaled", -1.0)
    with pytest.raises(TypeError, match="alpha"):
        scaling.family_problem("rotated", "big")
    with pytest.raises(ValueError, match="unknown rule"):
        scaling.make_rule("SGD")
