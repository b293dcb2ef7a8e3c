"""The summary table's measurements against their closed forms."""

import numpy as np
import pytest

from companion.experiments import summary


@pytest.mark.parametrize("name, expected", [
    ("GD", 1.0), ("Adam", 0.0), ("Newton", -1.0), ("Gauss-Newton", -1.0), ("IG", -1.0), ("PG", -1.0),
])
def test_sensitivity_exponent_matches_closed_form(name, expected):
    # GD: dx2 = -eta * alpha^2 * x2 with x2 = 1/alpha -> -eta*alpha; inverting rules: -eta/alpha;
    # Adam's first step is -eta * sign(g), independent of alpha.
    assert summary.sensitivity_exponent(name) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("name", ["Newton", "Gauss-Newton", "IG", "PG"])
@pytest.mark.parametrize("alpha", [1e-3, 0.5, 7.0, 1e3])
def test_inverting_rules_are_scale_invariant(name, alpha):
    assert summary.rescaling_deviation(name, alpha) < 1e-9


@pytest.mark.parametrize("name", ["GD", "Adam", "BFGS"])
def test_first_order_rules_are_not_scale_invariant(name):
    assert summary.rescaling_deviation(name, 10.0) > 1e-3


def test_alpha_one_changes_nothing():
    for name in summary.RULES:
        assert summary.rescaling_deviation(name, 1.0) == 0.0


def test_requirements():
    assert summary.requirements("Newton") == "second derivatives"
    assert summary.requirements("PG") == "local inverse"
    for name in ("GD", "Adam", "Gauss-Newton", "BFGS", "IG"):
        assert summary.requirements(name) == "Jacobian only"


def test_pg_uses_no_jacobian_and_one_inverse_per_step():
    calls = summary.calls_per_step("PG")
    assert calls["J"] == 0 and calls["inverse"] == 1.0


def test_iterations_pg_one_step_and_gd_many():
    assert summary.iterations_to_tolerance("PG").best.nit == 1
    gd = summary.iterations_to_tolerance("GD")
    assert gd.best.success and gd.best.nit > 50


def test_bad_names_and_alphas():
    with pytest.raises(ValueError, match="unknown rule"):
        summary.make_rule("SGD")
    with pytest.raises(ValueError, match="alpha"):
        summary.rescaling_deviation("GD", -1.0)
    with pytest.raises(ValueError, match="alphas"):
        summary.sensitivity_exponent("GD", alphas=[1.0])


def test_exercise_answers():
    bfgs = [summary.rescaling_deviation("BFGS", a) for a in (10.0, 100.0)]
    assert 0 < bfgs[0] and np.all(np.isfinite(bfgs))
