"""Tests of companion.step_cost: the cost study of ``python -m companion.bench cost``."""

import numpy as np
import pytest

from companion import linalg, problems, rules, step_cost
from companion.driver import minimize
from companion.physics import heat_operator


def test_fit_exponent_against_linregress():
    from scipy.stats import linregress

    rng = np.random.default_rng(0)
    ns = np.array([32, 64, 128, 256, 512, 1024])
    times = 1e-7 * ns**2.4 * np.exp(0.05 * rng.normal(size=ns.size))
    assert step_cost.fit_exponent(ns, times) == pytest.approx(linregress(np.log(ns), np.log(times)).slope, rel=1e-10)
    assert step_cost.fit_exponent(ns, times, min_n=256) == pytest.approx(
        linregress(np.log(ns[3:]), np.log(times[3:])).slope)
    assert step_cost.fit_exponent([32, 64, 128], [1.0, None, None]) is None
    with pytest.raises(ValueError):
        step_cost.fit_exponent([32, 64], [1.0, -1.0])


def test_newton_is_regular_matches_the_svd_of_the_dense_jacobian():
    for n, nu_t in ((32, 1e-3), (64, 1e-3), (64, 1e-4), (128, 1e-4)):
        smallest = np.linalg.svd(heat_operator(n, nu_t).matrix(), compute_uv=False).min()
        assert step_cost.newton_is_regular(n, nu_t) == (smallest**2 > linalg.DEFAULT_RTOL), (n, nu_t)


def test_heat_cost_problem_is_the_noisy_observation_of_boxes():
    problem, x0, cutoff = step_cost.heat_cost_problem(64, noise=1e-3, seed=4)
    assert np.all(x0 == 0) and problem.output_size == 64
    again, _, cutoff_again = step_cost.heat_cost_problem(64, noise=1e-3, seed=4)
    np.testing.assert_array_equal(problem.target, again.target)
    assert cutoff == cutoff_again == pytest.approx(1e-3 / np.sqrt(np.mean(problem.target**2)))


def test_cost_rules_take_a_descent_step():
    problem, x0, cutoff = step_cost.heat_cost_problem(32)
    for name in step_cost.COST_RULES:
        result = minimize(problem, x0, step_cost.cost_rule(name, 32, 1e-3, cutoff), steps=2)
        assert result.losses[-1] < result.losses[0], name
    with pytest.raises(ValueError):
        step_cost.cost_rule("HIG", 32, 1e-3, cutoff)


def test_time_step_and_cost_study_skips():
    timing = step_cost.time_step(problems.alpha_scaled(3.0), [1.0, 1.0], rules.newton(), repeats=3, min_sample=1e-4)
    assert 1 <= timing["samples"] <= 3 and timing["wall"] > 0 and timing["calls_per_sample"] >= 1
    study = step_cost.cost_study([16, 32, 64], rule_names=("GD", "IG"), repeats=1, min_sample=1e-4, budget=0.2,
                                 max_step=1e-9, fit_min_n=16)
    rows = study["rows"]
    assert [r["skipped"] for r in rows if r["rule"] == "IG"] == [False, True, True]
    assert "exceeds the cap" in rows[1]["reason"]
    assert study["fits"]["IG"]["exponent_cpu"] is None and study["fits"]["IG"]["largest_n_measured"] == 16
    table = step_cost.cost_table({"results": study, "settings": {"fit_min_n": 16}})
    assert "skip" in table and table.splitlines()[0].split()[0] == "rule"
    with pytest.raises(ValueError, match="increasing"):
        step_cost.cost_study([64, 32])


def test_extrapolate_against_closed_form():
    ns = [256, 512, 1024]
    out = step_cost.extrapolate(ns, [3e-9 * n**2.5 for n in ns], 4096)
    assert out["exponent"] == pytest.approx(2.5, rel=1e-12)
    assert out["prefactor"] == pytest.approx(3e-9, rel=1e-9)
    assert out["predicted"] == pytest.approx(3e-9 * 4096**2.5, rel=1e-9)
    with pytest.raises(ValueError):
        step_cost.extrapolate([256, 512], [1.0, None], 1024)


def test_growth_class():
    assert [step_cost.growth_class(p) for p in (0.3, 1.1, 2.2, 2.9, None)] == [
        "less than n: fixed overhead", "n log n", "n²", "n³", "n/a"]
