"""Tests of companion.physics: the heat equation and the pendulum chain."""

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.differentiate import hessian as fd_hessian
from scipy.differentiate import jacobian as fd_jacobian

from companion import minimize, rules
from companion.errors import SingularMatrixError
from companion.physics import (
    BOUNDARIES,
    add_noise,
    energy,
    grid,
    heat_operator,
    heat_problem,
    leapfrog,
    leapfrog_jacobian,
    leapfrog_tangent,
    leapfrog_vjp,
    pendulum_chain_problem,
    random_boxes,
    symplectic_form,
)
from companion.problems import squared_error


# =========================================================================== heat
def spectral_second_derivative(n: int) -> np.ndarray:
    """Trefethen's closed-form periodic Fourier D2 on [0, 2pi), rescaled to [0, 1).

    Built without any FFT, so that exp(nu t D2) is an independent reference.
    """
    h = 2 * np.pi / n
    k = np.arange(n)
    diff = (k[:, None] - k[None, :]) % n
    with np.errstate(divide="ignore", invalid="ignore"):
        half = diff * h / 2
        if n % 2 == 0:
            off = -0.5 * (-1.0) ** diff / np.sin(half) ** 2
            diag = -np.pi**2 / (3 * h**2) - 1 / 6
        else:
            off = -0.5 * (-1.0) ** diff * np.cos(half) / np.sin(half) ** 2
            diag = -np.pi**2 / (3 * h**2) + 1 / 12
    d2 = np.where(diff == 0, diag, off)
    return (2 * np.pi) ** 2 * d2


@pytest.mark.parametrize("n", [7, 8, 16])
@pytest.mark.parametrize("nu_t", [0.0, 1e-4, 3e-3])
def test_heat_matches_matrix_exponential_of_spectral_laplacian(n, nu_t):
    x = random_boxes(n, 3, np.random.default_rng(n))
    reference = scipy.linalg.expm(nu_t * spectral_second_derivative(n)) @ x
    np.testing.assert_allclose(heat_operator(n, nu_t).apply(x), reference, rtol=0, atol=1e-11)


def test_heat_single_mode_decays_like_the_continuum_solution():
    n, nu_t, m = 32, 2e-3, 3
    x = np.sin(2 * np.pi * m * grid(n) + 0.4)
    expected = np.exp(-nu_t * (2 * np.pi * m) ** 2) * x
    np.testing.assert_allclose(heat_operator(n, nu_t).apply(x), expected, atol=1e-14)


def test_heat_conserves_mass_and_acts_on_batches():
    op = heat_operator(50, 5e-3)
    xs = random_boxes(50, 4, np.random.default_rng(3), samples=6)
    ys = op.apply(xs)
    assert ys.shape == xs.shape
    np.testing.assert_allclose(ys.mean(axis=-1), xs.mean(axis=-1), rtol=1e-13)
    np.testing.assert_allclose(ys[2], op.apply(xs[2]), atol=1e-15)


def test_heat_jacobian_matches_numerical_differentiation_and_is_symmetric_circulant():
    n = 12
    op = heat_operator(n, 4e-3)
    J = op.matrix()
    x = random_boxes(n, 2, np.random.default_rng(0))
    numerical = fd_jacobian(lambda X: np.moveaxis(op.apply(np.moveaxis(X, 0, -1)), -1, 0), x).df
    np.testing.assert_allclose(J, numerical, atol=1e-9)
    np.testing.assert_allclose(J, J.T, atol=1e-15)
    np.testing.assert_allclose(J, np.roll(np.roll(J, 1, axis=0), 1, axis=1), atol=1e-15)
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(J)),
                               np.sort(np.concatenate([op.gains, op.gains[1:(n + 1) // 2]])), atol=1e-14)


def test_heat_problem_jacobian_is_cached_and_read_only():
    problem = heat_problem(10, 1e-3, np.zeros(10))
    J = problem.jacobian_at(np.zeros(10))
    assert problem.jacobian(np.ones(10)) is problem.jacobian(np.zeros(10))
    with pytest.raises(ValueError):
        J[0, 0] = 5.0


def test_heat_problem_hessian_is_loss_aware():
    n = 10
    op = heat_operator(n, 1e-3)
    J = op.matrix()
    x = np.random.default_rng(0).standard_normal(n)
    np.testing.assert_allclose(heat_problem(n, 1e-3, np.zeros(n)).hessian_at(x), J.T @ J, atol=1e-14)
    scaled = heat_problem(n, 1e-3, np.zeros(n), loss=squared_error(2.0))
    np.testing.assert_allclose(scaled.hessian_at(x), 2 * J.T @ J, atol=1e-14)


def test_local_inverse_matches_retained_modes_and_keeps_the_guess_elsewhere():
    n, nu_t, cutoff = 32, 3e-3, 1e-4
    rng = np.random.default_rng(5)
    op = heat_operator(n, nu_t)
    keep = op.retained(cutoff)
    assert 0 < keep.sum() < keep.size
    y = op.apply(random_boxes(n, 3, rng))
    x0 = rng.standard_normal(n)
    problem = heat_problem(n, nu_t, y, cutoff=cutoff)
    x = problem.invert(y, x0)
    y_hat, x_hat, x0_hat = (np.fft.rfft(v) for v in (y, x, x0))
    np.testing.assert_allclose(np.fft.rfft(op.apply(x))[keep], y_hat[keep], atol=1e-12)
    np.testing.assert_allclose(x_hat[~keep], x0_hat[~keep], atol=1e-12)
    # the formula x0 + R (y - P(x0)) of the docstring
    np.testing.assert_allclose(x, x0 + op.apply_inverse(y - op.apply(x0), cutoff=cutoff), atol=1e-11)


def test_inverse_is_exact_for_mild_diffusion_and_tiny_cutoff():
    n, nu_t = 32, 1e-5
    x = random_boxes(n, 3, np.random.default_rng(9))
    op = heat_operator(n, nu_t)
    np.testing.assert_allclose(op.apply_inverse(op.apply(x), cutoff=1e-14), x, atol=1e-13)
    problem = heat_problem(n, nu_t, op.apply(x), cutoff=1e-14)
    np.testing.assert_allclose(problem.invert(problem.target, np.zeros(n)), x, atol=1e-13)


def noise_amplification(op, y, noise, cutoff):
    """|R(y + noise) - R y| / |noise|: how much the inverse magnifies the noise."""
    return (np.linalg.norm(op.apply_inverse(y + noise, cutoff=cutoff) - op.apply_inverse(y, cutoff=cutoff))
            / np.linalg.norm(noise))


def test_naive_inversion_amplifies_noise_but_the_regularised_one_does_not():
    n, nu_t, level = 64, 2e-3, 1e-3
    rng = np.random.default_rng(2)
    op = heat_operator(n, nu_t)
    x = random_boxes(n, 3, rng)
    y = op.apply(x)
    noisy = add_noise(y, level, rng)
    naive = noise_amplification(op, y, noisy - y, cutoff=0.0)
    regularised = noise_amplification(op, y, noisy - y, cutoff=1e-2)
    assert naive > 1e20  # measured 1.5e34
    assert regularised < 1 / 1e-2  # the operator norm of R is 1/cutoff; measured 7.4
    # the regularised reconstruction is close to the truth, the naive one is garbage
    assert np.linalg.norm(op.apply_inverse(noisy, cutoff=1e-2) - x) < 0.5 * np.linalg.norm(x)
    assert np.linalg.norm(op.apply_inverse(noisy, cutoff=0.0) - x) > 1e20 * np.linalg.norm(x)


def test_overflowing_inverse_raises_with_advice():
    op = heat_operator(256, 705 / (2 * np.pi * 128) ** 2)  # smallest gain e^-705, still a normal float
    y = 1e10 * np.random.default_rng(0).standard_normal(256)
    with pytest.raises(ValueError, match="raise cutoff"):
        op.apply_inverse(y, cutoff=0.0)
    assert np.all(np.isfinite(op.apply_inverse(y, cutoff=1e-6)))


def test_pg_solves_the_heat_problem_in_one_step_newton_fails_when_ill_conditioned():
    n, nu_t = 64, 2e-3
    x_true = random_boxes(n, 3, np.random.default_rng(4))
    problem = heat_problem(n, nu_t, heat_operator(n, nu_t).apply(x_true), cutoff=1e-6)
    pg = minimize(problem, np.zeros(n), rules.pg(), steps=1)
    # only the modes damped below the cutoff are missing: loss <= (cutoff |x|)^2 / 2
    assert pg.fun <= 0.5 * (1e-6 * np.linalg.norm(x_true)) ** 2
    newton = minimize(problem, np.zeros(n), rules.newton(), steps=1)
    assert newton.status_name == "rule_failed" and "singular" in newton.message
    with pytest.raises(SingularMatrixError):
        rules.newton_direction(problem, np.zeros(n))
    mild = heat_problem(16, 1e-4, heat_operator(16, 1e-4).apply(x_true[:16]))
    assert minimize(mild, np.zeros(16), rules.newton(), tol=1e-24).nit == 1


def test_random_boxes_are_deterministic_and_shaped():
    a = random_boxes(40, 3, np.random.default_rng(7), amplitude=(1.0, 2.0), width=(0.1, 0.2))
    b = random_boxes(40, 3, np.random.default_rng(7), amplitude=(1.0, 2.0), width=(0.1, 0.2))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (40,) and a.min() >= 0 and 1.0 <= a.max() <= 6.0
    assert random_boxes(40, 3, np.random.default_rng(7), samples=5).shape == (5, 40)
    np.testing.assert_array_equal(random_boxes(10, 0, np.random.default_rng(0)), np.zeros(10))
    # a single box of width 0.25 covers a quarter of the grid, wrapping around
    box = random_boxes(40, 1, np.random.default_rng(1), amplitude=(1.0, 1.0), width=(0.25, 0.25))
    assert np.count_nonzero(box) in (10, 11)


def test_add_noise_has_the_requested_level():
    noisy = add_noise(np.ones((200, 50)), 0.1, np.random.default_rng(0))
    assert abs((noisy - 1).std() - 0.1) < 0.005
    np.testing.assert_array_equal(add_noise([1.0, 2.0], 0.0, np.random.default_rng(0)), [1.0, 2.0])


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: heat_operator(0, 1e-3), ValueError, "n"),
        (lambda: heat_operator(8.0, 1e-3), TypeError, "n"),
        (lambda: heat_operator(8, -1e-3), ValueError, "nu_t"),
        (lambda: heat_operator(8, "1"), TypeError, "nu_t"),
        (lambda: heat_operator(8, 1e-3).apply(np.zeros(7)), ValueError, "x"),
        (lambda: heat_operator(8, 1e-3).apply([np.nan] * 8), ValueError, "x"),
        (lambda: heat_operator(8, 1e-3).apply_inverse(np.zeros(8), cutoff=1.5), ValueError, "cutoff"),
        (lambda: heat_operator(8, 1e-3).apply_inverse(np.zeros(8), cutoff=0.1, x0=np.zeros(3)), ValueError, "x0"),
        (lambda: heat_problem(8, 1e-3, np.zeros(9)), ValueError, "target"),
        (lambda: heat_problem(8, 1e-3, np.zeros(8), loss="l2"), TypeError, "loss"),
        (lambda: random_boxes(8, 2, 0), TypeError, "rng"),
        (lambda: random_boxes(8, -1, np.random.default_rng(0)), ValueError, "count"),
        (lambda: random_boxes(8, 2, np.random.default_rng(0), width=(0.5, 0.1)), ValueError, "width"),
        (lambda: random_boxes(8, 2, np.random.default_rng(0), amplitude=3), TypeError, "amplitude"),
        (lambda: add_noise(np.zeros(3), -1.0, np.random.default_rng(0)), ValueError, "level"),
        (lambda: add_noise("abc", 1.0, np.random.default_rng(0)), TypeError, "y"),
    ],
)
def test_heat_input_errors_name_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


# =========================================================================== pendulum chain
def batched(function):
    """Adapt a (..., 2n) -> (..., k) function to scipy.differentiate's (2n, ...) -> (k, ...) layout."""
    return lambda X: np.moveaxis(function(np.moveaxis(X, 0, -1)), -1, 0)


states = st.integers(1, 4).flatmap(
    lambda n: st.lists(st.floats(-1.5, 1.5), min_size=2 * n, max_size=2 * n).map(np.array)
)


@settings(max_examples=15, deadline=None)
@given(
    x=states,
    steps=st.integers(1, 20),
    dt=st.floats(0.01, 0.2),
    boundary=st.sampled_from(BOUNDARIES),
)
def test_leapfrog_jacobian_matches_numerical_differentiation(x, steps, dt, boundary):
    options = dict(dt=dt, steps=steps, omega=1.3, coupling=0.7, boundary=boundary)
    y, J = leapfrog_jacobian(x, **options)
    np.testing.assert_allclose(y, leapfrog(x, **options), rtol=0, atol=1e-15)
    numerical = fd_jacobian(batched(lambda s: leapfrog(s, **options)), x, initial_step=0.1,
                            tolerances=dict(atol=1e-10))  # some entries are exactly 0 for few steps
    assert np.all(numerical.success)
    np.testing.assert_allclose(J, numerical.df, rtol=1e-6, atol=1e-8)


def test_tangent_of_a_vector_equals_jacobian_times_vector():
    x = np.random.default_rng(0).uniform(-1, 1, 10)
    v = np.random.default_rng(1).standard_normal(10)
    _, J = leapfrog_jacobian(x, dt=0.05, steps=40)
    _, Jv = leapfrog_tangent(x, v, dt=0.05, steps=40)
    np.testing.assert_allclose(Jv, J @ v, atol=1e-13)


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_vjp_matches_transposed_jacobian_on_a_batch(boundary):
    rng = np.random.default_rng(2)
    xs, ws = rng.uniform(-1, 1, (3, 8)), rng.standard_normal((3, 8))
    options = dict(dt=0.07, steps=50, boundary=boundary)
    ys, grads = leapfrog_vjp(xs, ws, **options)
    for x, w, y, g in zip(xs, ws, ys, grads):
        y_ref, J = leapfrog_jacobian(x, **options)
        np.testing.assert_allclose(y, y_ref, atol=1e-14)
        np.testing.assert_allclose(g, J.T @ w, atol=1e-12)


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_time_reversal_is_exact_to_rounding(boundary):
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, 32)
    forward = leapfrog(x, dt=0.05, steps=1000, boundary=boundary)
    back = leapfrog(forward, dt=-0.05, steps=1000, boundary=boundary)
    assert np.abs(back - x).max() / np.abs(x).max() < 1e-12  # measured ~1e-14
    # batches reverse too
    xs = rng.uniform(-1, 1, (4, 6))
    np.testing.assert_allclose(leapfrog(leapfrog(xs, dt=0.1, steps=100), dt=-0.1, steps=100), xs, atol=1e-13)


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("steps", [1, 300])
def test_jacobian_is_symplectic(boundary, steps):
    n = 5
    x = np.random.default_rng(4).uniform(-1.5, 1.5, 2 * n)
    _, J = leapfrog_jacobian(x, dt=0.1, steps=steps, omega=1.2, coupling=0.8, boundary=boundary)
    omega = symplectic_form(n)
    assert np.abs(J.T @ omega @ J - omega).max() < 1e-10  # measured ~1e-14
    assert abs(np.linalg.det(J) - 1) < 1e-8


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_energy_error_is_bounded_and_second_order(boundary):
    x = np.random.default_rng(5).uniform(-1, 1, 12)
    e0 = energy(x, boundary=boundary)

    def max_energy_error(dt, steps):
        errors, state = [], x
        for _ in range(100):
            state = leapfrog(state, dt=dt, steps=steps // 100, boundary=boundary)
            errors.append(abs(energy(state, boundary=boundary) - e0))
        return max(errors) / e0

    coarse, fine = max_energy_error(0.02, 10_000), max_energy_error(0.01, 20_000)
    assert coarse < 1e-3  # over 10^4 steps (t = 200), no drift
    assert 3 < coarse / fine < 5  # O(dt^2)


def test_energy_of_simple_states():
    assert energy([0.0, 0.0]) == 0.0
    assert energy([np.pi, 0.0], omega=2.0) == pytest.approx(8.0)  # 2 omega^2 at the top
    batch = energy(np.zeros((3, 4)))
    assert batch.shape == (3,) and np.all(batch == 0)


def make_chain(n=4, dt=0.1, steps=60, seed=1, **options):
    rng = np.random.default_rng(seed)
    x_true = rng.uniform(-1, 1, 2 * n)
    target = leapfrog(x_true, dt=dt, steps=steps, **options)
    problem = pendulum_chain_problem(n, dt=dt, steps=steps, target=target, **options)
    return problem, x_true, x_true + 0.3 * rng.standard_normal(2 * n)


def test_pg_converges_in_one_step_gd_needs_many():
    problem, x_true, x0 = make_chain()
    pg = minimize(problem, x0, rules.pg(1.0), tol=1e-20)
    assert pg.status_name == "converged" and pg.nit == 1
    np.testing.assert_allclose(pg.x, x_true, atol=1e-12)
    for eta in np.logspace(-1.5, 0, 7):  # the best step size (~0.5) needs 33 steps, eta = 1 diverges
        gd = minimize(problem, x0, rules.gd(eta), steps=20, tol=1e-10)
        assert not gd.success and gd.fun > 1e-8


def test_inverse_is_global_and_ignores_the_guess():
    problem, x_true, x0 = make_chain(boundary="fixed")
    np.testing.assert_allclose(problem.invert(problem.target, x0), x_true, atol=1e-13)
    np.testing.assert_allclose(problem.invert(problem.target, -x0), x_true, atol=1e-13)


def test_finite_difference_hessian_matches_numerical_hessian():
    problem, _, x0 = make_chain(n=3, steps=40)
    target = problem.target

    def loss(X):
        y = leapfrog(np.moveaxis(X, 0, -1), dt=0.1, steps=40)
        return 0.5 * np.sum((y - target) ** 2, axis=-1)

    numerical = fd_hessian(loss, x0, initial_step=0.05)
    H = problem.hessian_at(x0)
    np.testing.assert_allclose(H, H.T, atol=0)
    np.testing.assert_allclose(H, numerical.ddf, rtol=1e-5, atol=1e-6 * np.abs(H).max())
    # Gauss-Newton part plus a genuine second-order part
    gauss_newton = problem.gauss_newton_matrix_at(x0)
    assert np.abs(H - gauss_newton).max() > 1e-3 * np.abs(H).max()


def test_newton_with_the_approximate_hessian_converges_quadratically():
    problem, x_true, x0 = make_chain()
    result = minimize(problem, x0, rules.newton(), steps=20, tol=1e-20)
    assert result.success and result.nit <= 6  # measured 4
    np.testing.assert_allclose(result.x, x_true, atol=1e-9)
    # each loss is roughly the square of the previous one (relative to the start)
    ratios = np.log(result.losses[2:-1]) / np.log(result.losses[1:-2])
    assert np.all(ratios > 1.5)


def test_problem_with_a_custom_loss_uses_it_in_the_hessian():
    problem, _, x0 = make_chain(n=2, steps=20)
    scaled = pendulum_chain_problem(2, dt=0.1, steps=20, target=problem.target, loss=squared_error(2.0))
    np.testing.assert_allclose(scaled.hessian_at(x0), 2 * problem.hessian_at(x0), rtol=1e-6,
                               atol=1e-8 * np.abs(problem.hessian_at(x0)).max())


def test_forward_and_jacobian_are_fast_for_large_chains():
    import time

    x = np.random.default_rng(0).uniform(-1, 1, 128)
    start = time.perf_counter()
    y, J = leapfrog_jacobian(x, dt=0.05, steps=1000)
    assert time.perf_counter() - start < 1.0  # measured ~0.06 s
    assert J.shape == (128, 128)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: leapfrog(np.zeros(3), dt=0.1, steps=1), ValueError, "state"),
        (lambda: leapfrog("abc", dt=0.1, steps=1), TypeError, "state"),
        (lambda: leapfrog(np.zeros(4), dt=np.nan, steps=1), ValueError, "dt"),
        (lambda: leapfrog(np.zeros(4), dt="0.1", steps=1), TypeError, "dt"),
        (lambda: leapfrog(np.zeros(4), dt=0.1, steps=-1), ValueError, "steps"),
        (lambda: leapfrog(np.zeros(4), dt=0.1, steps=2.0), TypeError, "steps"),
        (lambda: leapfrog(np.zeros(4), dt=0.1, steps=1, coupling=-1.0), ValueError, "coupling"),
        (lambda: leapfrog(np.zeros(4), dt=0.1, steps=1, boundary="open"), ValueError, "boundary"),
        (lambda: leapfrog(np.zeros(4), dt=0.1, steps=1, omega=None), TypeError, "omega"),
        (lambda: leapfrog_tangent(np.zeros(4), np.zeros((3, 2)), dt=0.1, steps=1), ValueError, "tangents"),
        (lambda: leapfrog_tangent(np.zeros(4), None, dt=0.1, steps=1), TypeError, "tangents"),
        (lambda: leapfrog_jacobian(np.zeros((2, 4)), dt=0.1, steps=1), ValueError, "state"),
        (lambda: leapfrog_vjp(np.zeros(4), np.zeros(6), dt=0.1, steps=1), ValueError, "cotangent"),
        (lambda: energy([np.inf, 0.0]), ValueError, "state"),
        (lambda: symplectic_form(0), ValueError, "n"),
        (lambda: pendulum_chain_problem(2, dt=0.1, steps=5, target=np.zeros(3)), ValueError, "target"),
        (lambda: pendulum_chain_problem(2, dt=0.1, steps=5, target=np.zeros(4), hessian_step=0.0),
         ValueError, "hessian_step"),
        (lambda: pendulum_chain_problem(2, dt=0.1, steps=5, target=np.zeros(4), loss=1), TypeError, "loss"),
    ],
)
def test_chain_input_errors_name_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_problem_gradients_from_the_vjp_match_the_dense_jacobian():
    from dataclasses import replace as _replace

    from companion.physics import heat_problem, pendulum_chain_problem

    rng = np.random.default_rng(3)
    heat = heat_problem(16, 2e-3, rng.normal(size=16))
    chain = pendulum_chain_problem(3, dt=0.1, steps=30, target=rng.normal(size=6))
    for problem in (heat, chain):
        x = rng.normal(size=problem.output_size)
        dense = _replace(problem, vjp=None)
        np.testing.assert_allclose(problem.gradient_at(x), dense.gradient_at(x), rtol=1e-10, atol=1e-12)
