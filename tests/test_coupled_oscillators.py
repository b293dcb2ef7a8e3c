"""Tests of companion.physics.coupled_oscillators: RK4 accuracy, energy, and the Jacobians against scipy.differentiate."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.differentiate import jacobian as fd_jacobian

from companion.physics import coupled_oscillators as co

OPTIONS = {"dt": 0.1, "omega": 1.3, "coupling": 0.4, "cubic": 2.0}


def scipy_layout(function, size):
    """Adapt ``(B, size) -> (B, k)`` to scipy.differentiate's ``(size, ...) -> (k, ...)`` layout."""
    def wrapped(X):
        rest = X.shape[1:]
        flat = X.reshape(size, -1).T
        out = function(flat)
        return out.T.reshape((out.shape[1],) + rest)
    return wrapped


def test_free_oscillators_follow_the_exact_solution():
    # no coupling: two independent harmonic oscillators; RK4's error is O(h^4)
    s0 = np.array([1.0, 0.5, 0.0, -0.3])
    errors = []
    for steps in (50, 100):
        sT = co.final_state(s0, np.zeros(steps), dt=2.0 / steps, coupling=0.0, cubic=0.0)
        q = s0[:2] * np.cos(2.0) + s0[2:] * np.sin(2.0)
        p = -s0[:2] * np.sin(2.0) + s0[2:] * np.cos(2.0)
        errors.append(np.abs(sT - np.concatenate([q, p])).max())
    assert errors[1] < 1e-8
    assert 12 < errors[0] / errors[1] < 20  # fourth order: 2^4 = 16


def test_rhs_matches_the_hamiltonian_equations():
    s = np.array([0.7, -0.2, 0.3, 0.1])
    d = s[0] - s[1]
    spring = 0.4 * d + 2.0 * d**3
    expected = [0.3, 0.1, -1.69 * 0.7 - spring + 0.5, -1.69 * -0.2 + spring]
    assert np.allclose(co.rhs(s, 0.5, omega=1.3, coupling=0.4, cubic=2.0), expected)


def test_energy_drift_without_control_vanishes_at_fourth_order_and_control_changes_energy():
    # RK4 is not symplectic: the energy drifts, but the drift falls like h^4 (or faster)
    s0 = np.array([0.8, -0.6, 0.2, 0.4])
    physics = {"omega": 1.3, "coupling": 0.4, "cubic": 2.0}
    drifts = []
    for steps in (400, 800):
        e = co.energy(co.simulate(s0, np.zeros(steps), dt=20.0 / steps, **physics), **physics)
        drifts.append(np.abs(e - e[0]).max() / e[0])
    assert drifts[1] < 1e-5 and drifts[0] / drifts[1] > 16
    pushed = co.simulate(s0, np.ones(200), **OPTIONS)
    assert abs(co.energy(pushed[-1], **physics) - co.energy(s0, **physics)) > 0.1


def test_batch_equals_single_samples():
    rng = np.random.default_rng(0)
    S, U = rng.uniform(-1, 1, (3, 4)), rng.normal(size=(3, 7))
    batch = co.jacobians(S, U, **OPTIONS)
    for i in range(3):
        single = co.jacobians(S[i], U[i], **OPTIONS)
        for a, b in zip(batch, single):
            assert np.allclose(a[i], b, rtol=0, atol=1e-14)


def test_step_jacobian_matches_finite_differences():
    s, u = np.array([0.4, -0.9, 0.3, 0.2]), 0.7
    jac = co.step_jacobian(s, u, **OPTIONS)
    z = np.append(s, u)
    fd = fd_jacobian(scipy_layout(lambda Z: co.rk4_step(Z[:, :4], Z[:, 4], **OPTIONS), 5), z)
    assert np.allclose(jac, fd.df, rtol=1e-9, atol=1e-11)


@settings(max_examples=12, deadline=None)
@given(
    s0=st.lists(st.floats(-1.5, 1.5), min_size=4, max_size=4).map(np.array),
    steps=st.integers(1, 15),
    cubic=st.floats(0.0, 3.0),
    seed=st.integers(0, 1000),
)
def test_jacobians_match_scipy_differentiate(s0, steps, cubic, seed):
    options = dict(OPTIONS, cubic=cubic)
    u = np.random.default_rng(seed).normal(size=steps)
    sT, js, ju = co.jacobians(s0, u, **options)
    assert np.allclose(sT, co.final_state(s0, u, **options), rtol=0, atol=1e-14)
    fd_u = fd_jacobian(scipy_layout(lambda U: co.final_state(np.broadcast_to(s0, (U.shape[0], 4)), U, **options), steps), u)
    fd_s = fd_jacobian(scipy_layout(lambda S: co.final_state(S, np.broadcast_to(u, (S.shape[0], steps)), **options), 4), s0)
    assert np.allclose(ju, fd_u.df, rtol=1e-8, atol=1e-10)
    assert np.allclose(js, fd_s.df, rtol=1e-8, atol=1e-10)


def test_the_cubic_coupling_makes_the_control_jacobian_depend_on_the_control():
    s0 = np.array([0.5, -0.5, 0.0, 0.0])
    u = np.zeros(10)
    linear = [co.jacobians(s0, u + c, dt=0.2, cubic=0.0)[2] for c in (0.0, 1.0)]
    cubic = [co.jacobians(s0, u + c, dt=0.2, cubic=2.0)[2] for c in (0.0, 1.0)]
    assert np.allclose(linear[0], linear[1], atol=1e-13)   # linear dynamics: constant Jacobian
    assert np.abs(cubic[0] - cubic[1]).max() > 1e-2


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: co.simulate(np.zeros(3), np.zeros(5), dt=0.1), ValueError, "state"),
        (lambda: co.simulate(np.zeros((2, 4)), np.zeros(5), dt=0.1), ValueError, "controls"),
        (lambda: co.simulate(np.zeros(4), np.zeros(5), dt=-0.1), ValueError, "dt"),
        (lambda: co.simulate(np.zeros(4), np.zeros(5), dt=0.1, cubic=-1.0), ValueError, "cubic"),
        (lambda: co.simulate(np.zeros(4), [np.nan], dt=0.1), ValueError, "controls"),
        (lambda: co.simulate("abcd", np.zeros(5), dt=0.1), TypeError, "state"),
        (lambda: co.simulate(np.zeros(4), np.zeros(5), dt="0.1"), TypeError, "dt"),
    ],
)
def test_bad_input_names_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()
