r"""Scale invariance: rescaling one coordinate, x = D z, does not change the Newton, IG, PG, Gauss-Newton,
Levenberg-Marquardt and trust-region Newton paths.

For a scale-invariant rule the iterates on the rescaled problem Q(z) = P(D z),
started at z0 = D^{-1} x0 and mapped back with x = D z, are the iterates on P, to
rounding.  Gradient descent is the counter-example: its path changes.
"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from companion import minimize, problems, rules
from companion.problems import reparametrize

SETTINGS = settings(deadline=None, max_examples=40)

# alpha = 10^e, log-uniform on [1e-4, 1e4]
alphas = st.floats(-4.0, 4.0).map(lambda e: 10.0**e)


def assert_same_path(problem, x0, rule, scale, steps, rtol=1e-9):
    scale = np.asarray(scale, dtype=float)
    original = minimize(problem, x0, rule, steps=steps)
    rescaled = minimize(reparametrize(problem, scale), np.asarray(x0, dtype=float) / scale, rule, steps=steps)
    # with tol = 0 a run stops when its loss is exactly 0, which rounding may decide one step
    # earlier in one of the two runs; then the other one must be at rounding level there
    n = min(len(original.xs), len(rescaled.xs))
    # (or stalls there: a step below rounding in x cannot move it, status 7)
    if original.nit != rescaled.nit or original.status != rescaled.status:
        for run in (original, rescaled):
            if run.status != 1:
                assert run.status in (0, 7) and run.fun <= 1e-24 * run.losses[0], (original, rescaled)
        longer = original if original.nit >= rescaled.nit else rescaled
        assert longer.losses[n - 1] <= 1e-24 * longer.losses[0], (original, rescaled)
    assert original.status in (0, 1, 7) and rescaled.status in (0, 1, 7), (original, rescaled)
    size = np.abs(original.xs).max()
    np.testing.assert_allclose(rescaled.xs[:n] * scale, original.xs[:n], rtol=rtol, atol=rtol * 1e-3 * size)
    np.testing.assert_allclose(rescaled.ys[:n], original.ys[:n], rtol=rtol,
                               atol=rtol * 1e-3 * np.abs(original.ys).max())
    return original, rescaled


CASES = {
    # name: (problem, start, rules)
    "square_second": (problems.square_second(target=(1.0, 4.0)), [3.0, 3.0],
                      ("newton", "ig", "pg", "pg_half", "gauss_newton", "lm", "newton_tr")),
    "square_second_to_zero": (problems.square_second(), [3.0, -3.0], ("newton", "ig", "pg_half", "gauss_newton")),
    "rosenbrock": (problems.rosenbrock(), [-1.2, 1.0], ("newton", "ig", "gauss_newton", "lm", "newton_tr")),
    "alpha_scaled": (problems.alpha_scaled(10.0, target=(1.0, -2.0)), [3.0, 3.0],
                     ("newton", "ig", "pg", "pg_half", "gauss_newton", "lm")),
}
RULES = {"newton": rules.newton(), "ig": rules.ig(), "pg": rules.pg(), "pg_half": rules.pg(0.5),
         "gauss_newton": rules.gauss_newton(), "lm": rules.levenberg_marquardt(),
         "newton_tr": rules.newton_trust_region()}


@pytest.mark.parametrize("case, rule", [(c, r) for c, (_, _, rs) in CASES.items() for r in rs])
@pytest.mark.parametrize("which", [1, 0])
@SETTINGS
@given(alpha=alphas)
def test_iterates_do_not_depend_on_the_scale_of_one_coordinate(case, rule, which, alpha):
    problem, x0, _ = CASES[case]
    scale = np.ones(2)
    scale[which] = alpha
    assert_same_path(problem, x0, RULES[rule], scale, steps=12)


@SETTINGS
@given(alpha=alphas, sign=st.sampled_from([1.0, -1.0]))
def test_a_negative_scale_flips_the_coordinate_without_changing_the_path(alpha, sign):
    assert_same_path(problems.rosenbrock(), [-1.2, 1.0], rules.newton(), [sign, -alpha], steps=12)
    assert_same_path(problems.square_second(target=(1.0, 4.0)), [3.0, 3.0], rules.pg(0.5), [-alpha, sign], steps=12)


@pytest.mark.parametrize("problem, x0", [(problems.scalar_square(4.0), [-3.0]), (problems.exponential(5.0), [2.0])])
@pytest.mark.parametrize("rule", ["newton", "ig", "pg_half"])
@SETTINGS
@given(alpha=alphas)
def test_one_dimensional_problems(problem, x0, rule, alpha):
    assert_same_path(problem, x0, RULES[rule], [alpha], steps=12)


@SETTINGS
@given(alpha=alphas)
def test_alpha_scaled_is_alpha_scaled_one_in_other_units(alpha):
    """alpha_scaled(alpha) *is* alpha_scaled(1) with x2 measured in units of 1/alpha: Newton, IG and PG
    take the same steps on both (mapped back), and reach the minimum in one step for every alpha."""
    base = problems.alpha_scaled(1.0, target=(1.0, 2.0))
    scaled = problems.alpha_scaled(alpha, target=(1.0, 2.0))
    x0 = np.array([3.0, 3.0])
    for rule in (rules.newton(), rules.ig(), rules.pg()):
        step = rule.first_step(scaled, x0 / [1.0, alpha])
        np.testing.assert_allclose(step * [1.0, alpha], rule.first_step(base, x0), rtol=1e-12)
        np.testing.assert_allclose(scaled.output(x0 / [1.0, alpha] + step), [1.0, 2.0], rtol=1e-12)


@pytest.mark.parametrize("problem, x0", [
    (problems.square_second(target=(1.0, 4.0)), [3.0, 3.0]),
    (problems.alpha_scaled(3.0, target=(1.0, -2.0)), [3.0, 3.0]),
    (problems.rosenbrock(), [-1.2, 1.0]),
])
@SETTINGS
@given(alpha=alphas.filter(lambda a: abs(a - 1.0) > 0.1))
def test_gradient_descent_is_not_scale_invariant(problem, x0, alpha):
    """Mapped back, the GD step of the rescaled problem is D^2 times the original step: alpha^2 in x2."""
    scale = np.array([1.0, alpha])
    x0 = np.asarray(x0, dtype=float)
    rule = rules.gd(1e-3)
    original = rule.first_step(problem, x0)
    rescaled = rule.first_step(reparametrize(problem, scale), x0 / scale) * scale
    assert abs(original[1]) > 0
    np.testing.assert_allclose(rescaled, scale**2 * original, rtol=1e-9)
    assert abs(rescaled[1] - original[1]) > 0.1 * abs(original[1])
    # and the paths recorded by the driver part from the first step on
    runs = [minimize(problem, x0, rule, steps=2), minimize(reparametrize(problem, scale), x0 / scale, rule, steps=2)]
    mapped_back = runs[1].steps() * scale
    # in the rescaled coordinate the step differs by the factor alpha^2, |alpha^2 - 1| > 0.19
    first = runs[0].steps()[0]
    assert abs(mapped_back[0][1] - first[1]) > 0.15 * abs(first[1])
