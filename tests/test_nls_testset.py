"""companion.mgh: the Moré-Garbow-Hillstrom problems, their derivatives, and LM against SciPy's lm on them."""

import numpy as np
import pytest
from scipy.differentiate import jacobian as numerical_jacobian

from companion import mgh, rules

CASES = {item.name: item for item in mgh.CASES}


def _vectorised(function):
    """scipy.differentiate evaluates at arrays of shape (n, k...): loop over the trailing axes."""
    def call(x):
        flat = x.reshape(x.shape[0], -1)
        out = np.stack([function(flat[:, k]) for k in range(flat.shape[1])], axis=-1)
        return out.reshape(out.shape[:1] + x.shape[1:])
    return call


def _probe(item):
    """A point near the start (the derivatives are checked away from any special point)."""
    rng = np.random.default_rng(abs(hash(item.name)) % 2**32)
    return item.x0 + 0.05 * rng.standard_normal(item.x0.size) * np.maximum(np.abs(item.x0), 1.0)


def test_the_set_has_at_least_20_problems_with_the_papers_starting_values():
    assert len(mgh.CASES) >= 20
    assert len(set(mgh.names())) == len(mgh.CASES)
    # F(x0) as printed in Moré, Garbow & Hillstrom (1981), a check on the data and formulas
    expected = {"Rosenbrock": 24.2, "Freudenstein-Roth": 400.5, "Beale": 14.203125, "Helical valley": 2500.0,
                "Box 3-D": 1031.1535, "Powell singular": 215.0, "Wood": 19192.0, "Watson (n = 6)": 30.0}
    for name, value in expected.items():
        r = CASES[name].residual(CASES[name].x0)
        assert float(r @ r) == pytest.approx(value, rel=1e-6), name


@pytest.mark.parametrize("name", sorted(CASES))
def test_analytic_jacobian_matches_numerical_differentiation(name):
    item = CASES[name]
    x = _probe(item)
    if name == "Gulf research":
        x = np.array([5.0, 2.5, 0.15])  # |y_i - x2|^x3: keep x2 away from every y_i
    result = numerical_jacobian(_vectorised(item.residual), x)
    analytic = item.jacobian(x)
    scale = np.abs(analytic).max()
    np.testing.assert_allclose(analytic, result.df, rtol=1e-6, atol=1e-6 * scale)


@pytest.mark.parametrize("name", ["Rosenbrock", "Beale", "Osborne 1", "Watson (n = 6)"])
def test_second_derivatives_match_differences_of_the_jacobian(name):
    item = CASES[name]
    x = _probe(item)
    second = item.second_derivatives(x)
    h = 1e-6
    for b in range(x.size):
        e = np.zeros_like(x)
        e[b] = h
        column = (item.jacobian(x + e) - item.jacobian(x - e)) / (2 * h)
        np.testing.assert_allclose(second[:, :, b], column, rtol=1e-5, atol=1e-6 * np.abs(column).max() + 1e-9)
    np.testing.assert_allclose(second, second.transpose(0, 2, 1))


@pytest.mark.parametrize("name, minimiser", [
    ("Rosenbrock", [1.0, 1.0]), ("Freudenstein-Roth", [5.0, 4.0]), ("Brown badly scaled", [1e6, 2e-6]),
    ("Beale", [3.0, 0.5]), ("Helical valley", [1.0, 0.0, 0.0]), ("Box 3-D", [1.0, 10.0, 1.0]),
    ("Wood", [1.0, 1.0, 1.0, 1.0]), ("Gulf research", [50.0, 25.0, 1.5]),
    ("Biggs EXP6", [1.0, 10.0, 1.0, 5.0, 4.0, 3.0]),
])
def test_known_zero_residual_minimisers(name, minimiser):
    r = CASES[name].residual(np.array(minimiser))
    assert CASES[name].solved(float(r @ r))


def test_solved_accepts_every_listed_minimum_and_nothing_above():
    item = CASES["Freudenstein-Roth"]
    assert item.solved(0.0) and item.solved(48.9842) and not item.solved(48.99) and not item.solved(1e-3)
    assert not item.solved(30.0)  # between the two minima: on the way, not there


def test_a_counted_problem_does_not_count_a_repeated_point():
    wrapped, count = mgh.counted(CASES["Rosenbrock"])
    x = np.array([0.5, 0.5])
    wrapped.residual(x)
    wrapped.residual(x.copy())
    wrapped.residual(x + 1)
    wrapped.jacobian(x)
    assert (count.residual, count.jacobian) == (2, 1)
    assert count.values[0] == pytest.approx(float(CASES["Rosenbrock"].residual(x) @ CASES["Rosenbrock"].residual(x)))


def test_levenberg_marquardt_solves_as_many_as_scipy_lm_with_no_more_evaluations():
    ours = [mgh.run_rule(item, rules.levenberg_marquardt()) for item in mgh.CASES]
    scipy_lm = [mgh.run_scipy(item, "lm") for item in mgh.CASES]
    assert sum(o.solved for o in ours) >= sum(o.solved for o in scipy_lm)
    assert sum(o.solved for o in ours) >= 25
    both = [(a.evaluations, b.evaluations) for a, b in zip(ours, scipy_lm) if a.solved and b.solved]
    assert len(both) >= 24
    assert np.median([a for a, _ in both]) <= np.median([b for _, b in both])
    assert np.median([o.evaluations for o in ours if o.solved]) <= np.median(
        [o.evaluations for o in scipy_lm if o.solved])


def test_bfgs_leaves_the_jennrich_sampson_plateau():
    """Issue 13: with B0 = I and t0 = 1 BFGS went 2085 -> 1010 and stayed there (L = F/2)."""
    outcome = mgh.run_rule(CASES["Jennrich-Sampson"], rules.bfgs(), steps=200)
    assert outcome.solved, outcome
    assert outcome.final == pytest.approx(124.362, rel=1e-5)
