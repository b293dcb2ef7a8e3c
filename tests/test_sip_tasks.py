"""Tests of companion.sip_tasks and of the training-loop options the SIP benchmark uses (companion.training)."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from companion import nn, sip_tasks, training
from companion.physics.heat import heat_operator


def _projection_matrix(n, keep):
    """The projection on the kept real Fourier modes, built column by column from the DFT's definition."""
    k = np.arange(n)
    columns = []
    for j in range(n):
        e = np.zeros(n)
        e[j] = 1.0
        coefficients = np.array([np.sum(e * np.exp(-2j * np.pi * m * k / n)) for m in range(n // 2 + 1)])
        full = np.zeros(n, dtype=complex)
        for m in range(n // 2 + 1):
            if keep[m]:
                full[m] = coefficients[m]
                if 0 < m < n - m:
                    full[n - m] = np.conj(coefficients[m])
        columns.append(np.real(np.fft.ifft(full)))
    return np.array(columns).T


def test_resolved_projection_is_the_orthogonal_projection_on_the_kept_modes():
    n = 12
    keep = heat_operator(n, 2e-2).retained(1e-2)
    assert 0 < keep.sum() < keep.size
    P = _projection_matrix(n, keep)
    X = np.random.default_rng(0).normal(size=(3, n))
    np.testing.assert_allclose(sip_tasks.resolved_projection(X, keep), X @ P.T, atol=1e-12)
    np.testing.assert_allclose(P, P.T, atol=1e-12)
    np.testing.assert_allclose(P @ P, P, atol=1e-12)
    with pytest.raises(ValueError, match="real Fourier modes"):
        sip_tasks.resolved_projection(X, keep[:-1])


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(4, 20))
def test_split_x_error_adds_up(seed, n):
    rng = np.random.default_rng(seed)
    keep = rng.random(n // 2 + 1) < 0.5
    X, truth = rng.normal(size=(5, n)), rng.normal(size=(5, n))
    s = sip_tasks.split_x_error(X, truth, keep)
    assert s["total"] == pytest.approx(s["resolved"] + s["discarded"], rel=1e-10)
    assert s["total"] == pytest.approx(0.5 * np.mean(np.sum((X - truth) ** 2, axis=1)), rel=1e-12)
    # a prediction confined to the resolved modes has exactly the floor in the discarded ones
    inside = sip_tasks.split_x_error(sip_tasks.resolved_projection(X, keep), truth, keep)
    assert inside["discarded"] == pytest.approx(s["floor"], rel=1e-9, abs=1e-12)


def test_heat_task_sets_are_disjoint_and_the_cutoff_is_the_relative_noise_level():
    task = sip_tasks.heat_task(32, 2e-3, noise=1e-3, samples=40, validation=10, test=12, seed=1)
    assert (len(task.train), len(task.validation), len(task.test)) == (40, 10, 12)
    everything = np.vstack([task.train.targets, task.validation.targets, task.test.targets])
    assert task.info["cutoff"] == pytest.approx(1e-3 / np.sqrt(np.mean(everything ** 2)))
    assert len({row.tobytes() for row in np.vstack([task.train.truth, task.validation.truth, task.test.truth])}) == 62
    np.testing.assert_array_equal(task.info["keep"], heat_operator(32, 2e-3).retained(task.info["cutoff"]))
    again = sip_tasks.heat_task(32, 2e-3, noise=1e-3, samples=40, validation=10, test=12, seed=1)
    np.testing.assert_array_equal(task.test.targets, again.test.targets)


def test_projected_heat_physics_vjp_is_the_transpose_by_finite_differences():
    task = sip_tasks.heat_task(16, 5e-3, samples=4, validation=2, test=2, seed=0)
    physics = sip_tasks.projected_heat_physics(task)
    rng = np.random.default_rng(3)
    X, dX, V = rng.normal(size=(2, 16)), rng.normal(size=(2, 16)), rng.normal(size=(2, 16))
    h = 1e-6
    directional = (physics.forward(X + h * dX) - physics.forward(X - h * dX)) / (2 * h)
    np.testing.assert_allclose(np.sum(directional * V, axis=1), np.sum(dX * physics.vjp(X, V), axis=1), rtol=1e-6)
    # the discarded modes do not reach the output
    discarded = X - sip_tasks.resolved_projection(X, task.info["keep"])
    np.testing.assert_allclose(physics.forward(X), physics.forward(X - discarded), atol=1e-12)


def test_sine_task_beyond_the_branch_has_two_preimages():
    task = sip_tasks.sine_task(4.0, np.pi / 8, reach=2.5, samples=200, validation=20, test=20, seed=0)
    R = training.rotation(np.pi / 8)
    hat = task.train.truth @ R.T
    assert np.all(np.abs(hat[:, 0]) <= 2.5) and np.any(np.abs(hat[:, 0]) > np.pi / 2)
    mirror = np.column_stack([np.pi * np.sign(hat[:, 0]) - hat[:, 0], hat[:, 1]]) @ R
    np.testing.assert_allclose(task.physics.forward(mirror), task.train.targets, atol=1e-12)
    on_branch = sip_tasks.sine_task(4.0, np.pi / 8, samples=50, validation=5, test=5, seed=0)
    assert on_branch.info["beyond"] == 0.0
    with pytest.raises(ValueError, match="3 pi / 2"):
        sip_tasks.sine_task(4.0, 0.0, reach=5.0)


def test_branch_distance_is_zero_on_either_preimage_and_the_squared_distance_otherwise():
    physics = training.rotated_sine_physics(2.0, 0.0)
    truth = np.array([[0.4, 0.3], [-1.0, 0.2]])
    y = physics.forward(truth)
    mirror = np.array([[np.pi - 0.4, 0.3], [-np.pi + 1.0, 0.2]])
    assert sip_tasks.branch_distance(physics, truth, y) == pytest.approx(0.0, abs=1e-24)
    assert sip_tasks.branch_distance(physics, mirror, y) == pytest.approx(0.0, abs=1e-24)
    shifted = truth + np.array([[0.1, 0.0], [0.0, -0.2]])
    assert sip_tasks.branch_distance(physics, shifted, y) == pytest.approx(0.5 * (0.01 + 0.04) / 2, rel=1e-9)


# --------------------------------------------------------------------------- the loop in the open
def visible_sip_loop(net, theta, physics, data, *, iterations, batch_size, rng, eta_nn, eta):
    """The loop of book/sip.ipynb, written with public pieces only."""
    state = nn.adam_init(theta)
    order, position, history = np.empty(0, dtype=int), 0, []
    for _ in range(iterations):
        if position + batch_size > order.size:
            order, position = rng.permutation(len(data)), 0
        batch = order[position:position + batch_size]
        position += batch_size
        u, y_star = data.inputs[batch], data.targets[batch]
        x = net.forward(theta, u)
        y = physics.forward(x)
        x_tilde = physics.inverse(y + eta * (y_star - y), x)
        grad = net.vjp(theta, u, (x - x_tilde) / len(batch))
        theta, state = nn.adam_update(theta, grad, state, eta=eta_nn)
        X_all = net.forward(theta, data.inputs)
        history.append(0.5 * np.mean(np.sum((physics.forward(X_all) - data.targets) ** 2, axis=1)))
    return theta, np.array(history)


@pytest.mark.parametrize("eta", [1.0, 0.5])
def test_the_visible_loop_is_train_sip(eta):
    task = sip_tasks.sine_task(8.0, np.pi / 4, samples=70, validation=8, test=8, seed=2)
    net = nn.MLP((2, 8, 2))
    theta, history = visible_sip_loop(net, net.init(np.random.default_rng(5)), task.physics, task.train,
                                      iterations=30, batch_size=16, rng=np.random.default_rng(6), eta_nn=1e-2, eta=eta)
    result = training.train_sip(net, net.init(np.random.default_rng(5)), task.physics, task.train, iterations=30,
                                batch_size=16, rng=np.random.default_rng(6), eta_nn=1e-2, eta=eta)
    np.testing.assert_allclose(result.y_error[1:], history, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(result.theta, theta, rtol=1e-12, atol=1e-15)


def test_until_seconds_continues_the_same_run_and_snapshots_follow_the_history():
    task = sip_tasks.sine_task(2.0, 0.0, samples=64, validation=8, test=8, seed=0)
    net = nn.MLP((2, 8, 2))
    options = dict(batch_size=16, eta_nn=1e-2, eval_every=5, snapshots=True)
    plain = training.train_sip(net, net.init(np.random.default_rng(0)), task.physics, task.train, iterations=20,
                               rng=np.random.default_rng(1), **options)
    longer = training.train_sip(net, net.init(np.random.default_rng(0)), task.physics, task.train, iterations=20,
                                rng=np.random.default_rng(1), until_seconds=plain.time[-1] * 3 + 1e-3, **options)
    assert plain.snapshots.shape[0] == plain.iterations.size == 5
    assert longer.nit > 20 and longer.time[-1] >= plain.time[-1] * 3 and longer.success
    assert longer.iterations[-1] == longer.nit and "s of training" in longer.message
    np.testing.assert_array_equal(longer.snapshots[:5], plain.snapshots)
    np.testing.assert_array_equal(net.forward(longer.snapshots[-1], task.train.inputs),
                                  net.forward(longer.theta, task.train.inputs))
    with pytest.raises(ValueError, match="until_seconds"):
        training.train_sip(net, net.init(np.random.default_rng(0)), task.physics, task.train, iterations=2,
                           rng=np.random.default_rng(1), batch_size=16, eta_nn=1e-2, until_seconds=-1.0)


def _linear_pair(method_rates, optimizer, eta):
    """SIP and supervised runs on the clean, exactly invertible heat equation (same start and batches)."""
    task = sip_tasks.heat_task(16, 2e-4, noise=0.0, samples=64, validation=1, test=1, seed=0)
    net = nn.MLP((16, 16, 16))
    runs = [training.train(method, net, net.init(np.random.default_rng(1)), task.physics, task.train, eta=eta,
                           iterations=40, batch_size=16, rng=np.random.default_rng(2), eta_nn=rate,
                           optimizer=optimizer, keep_thetas=True) for method, rate in method_rates]
    return runs[0].thetas, runs[1].thetas


def test_sip_with_gradient_descent_on_linear_exact_physics_is_supervised_with_the_product_rate():
    sip, supervised = _linear_pair([("sip", 0.2), ("supervised", 0.5 * 0.2)], "gd", eta=0.5)
    assert np.max(np.abs(sip - supervised)) < 1e-12
    sip, supervised = _linear_pair([("sip", 0.2), ("supervised", 0.2)], "gd", eta=0.5)
    assert np.max(np.abs(sip - supervised)) > 1e-3  # the same rate is not the same run


def test_with_adam_eta_drops_out_up_to_epsilon():
    sip, supervised = _linear_pair([("sip", 3e-3), ("supervised", 3e-3)], "adam", eta=0.25)
    change = np.max(np.abs(supervised - supervised[0]))
    assert 0 < np.max(np.abs(sip - supervised)) < 1e-3 * change
    sip, supervised = _linear_pair([("sip", 3e-3), ("supervised", 3e-3)], "adam", eta=1.0)
    assert np.max(np.abs(sip - supervised)) < 1e-12
