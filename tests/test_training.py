"""Tests of companion.training: physics adapters, the three training methods, statuses."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.differentiate import jacobian as scipy_jacobian

from companion import problems
from companion.errors import InverseError
from companion.nn import MLP
from companion.physics.heat import heat_operator, random_boxes
from companion.training import (
    BatchPhysics,
    Dataset,
    heat_physics,
    make_dataset,
    newton_step_in_y,
    physics_from_problem,
    rotated_sine_physics,
    rotation,
    sample_fallback_targets,
    sip_targets,
    train,
    train_physics,
    train_sip,
    train_supervised,
)


def rotated_sine_problem(xi, phi, target):
    """The 2-D problem for one sample as a companion Problem: the analytic Jacobian and the batch inverse."""
    physics = rotated_sine_physics(xi, phi)
    R = rotation(phi)
    return problems.Problem(
        simulator=lambda x: physics.forward(x[None, :])[0],
        jacobian=lambda x: np.diag([np.cos(float(R[0] @ x)) / xi, xi]) @ R,
        target=target,
        inverse=lambda y, x0: physics.inverse(y[None, :], x0[None, :])[0],
        name=f"rotated sine (xi={xi:g}, phi={phi:.3g})",
    )


# --------------------------------------------------------------------------- physics adapters
def test_heat_physics_matches_operator_and_its_transpose():
    op = heat_operator(16, 2e-3)
    physics = heat_physics(16, 2e-3, cutoff=1e-3)
    X = np.random.default_rng(0).normal(size=(5, 16))
    V = np.random.default_rng(1).normal(size=(5, 16))
    np.testing.assert_allclose(physics.forward(X), op.apply(X))
    np.testing.assert_allclose(physics.vjp(X, V), V @ op.matrix(), atol=1e-13)  # rows of J^T v = (v^T J)
    # the local inverse reproduces the retained modes of y and keeps the guess elsewhere
    X0 = np.random.default_rng(2).normal(size=(5, 16))
    Y = physics.forward(X)
    Xi = physics.inverse(Y, X0)
    keep = op.retained(1e-3)
    np.testing.assert_allclose(np.fft.rfft(physics.forward(Xi))[:, keep], np.fft.rfft(Y)[:, keep], atol=1e-10)
    np.testing.assert_allclose(np.fft.rfft(Xi)[:, ~keep], np.fft.rfft(X0)[:, ~keep], atol=1e-10)
    zero = heat_physics(16, 2e-3, cutoff=1e-3, unresolved="zero").inverse(Y, X0)
    np.testing.assert_allclose(np.fft.rfft(zero)[:, ~keep], 0.0, atol=1e-10)
    with pytest.raises(ValueError, match="unresolved"):
        heat_physics(16, 2e-3, cutoff=1e-3, unresolved="drop")


@pytest.mark.parametrize("xi, phi", [(1.0, 0.0), (4.0, np.pi / 8), (32.0, np.pi / 4)])
def test_rotated_sine_forward_and_vjp(xi, phi):
    physics = rotated_sine_physics(xi, phi)
    X = np.random.default_rng(3).uniform(-2, 2, (6, 2))
    H = X @ rotation(phi).T
    np.testing.assert_allclose(physics.forward(X), np.column_stack([np.sin(H[:, 0]) / xi, xi * H[:, 1]]))
    V = np.random.default_rng(4).normal(size=(6, 2))
    for x, v, g in zip(X, V, physics.vjp(X, V)):
        ref = scipy_jacobian(lambda z: np.stack([np.sin(np.cos(phi) * z[0] - np.sin(phi) * z[1]) / xi,
                                                  xi * (np.sin(phi) * z[0] + np.cos(phi) * z[1])]), x)
        np.testing.assert_allclose(g, ref.df.T @ v, rtol=1e-9, atol=1e-10)


@settings(max_examples=30, deadline=None)
@given(h1=st.floats(-9.0, 9.0), h2=st.floats(-3, 3), shift=st.floats(-1.2, 1.2), phi=st.floats(0, 1.6))
def test_rotated_sine_inverse_stays_on_the_branch_of_the_guess(h1, h2, shift, phi):
    physics = rotated_sine_physics(3.0, phi)
    R = rotation(phi)
    x_true = R.T @ np.array([h1, h2])
    k = np.round(h1 / np.pi)
    guess = R.T @ np.array([np.clip(h1 + shift, np.pi * k - 1.5, np.pi * k + 1.5), 0.0])  # same branch as h1
    if abs(h1 - np.pi * k) > np.pi / 2 - 1e-6:
        return
    x = physics.inverse(physics.forward(x_true[None]), guess[None])[0]
    np.testing.assert_allclose(x, x_true, atol=1e-7)


def test_rotated_sine_inverse_picks_the_other_branch_and_handles_out_of_range():
    physics = rotated_sine_physics(2.0, 0.0)
    y = physics.forward(np.array([[0.4, 1.0]]))
    on_branch_one = physics.inverse(y, np.array([[3.0, 0.0]]))  # guess near pi: branch k = 1
    np.testing.assert_allclose(on_branch_one, [[np.pi - 0.4, 1.0]])
    with pytest.raises(InverseError, match="no solution"):
        physics.inverse(np.array([[0.6, 0.0]]), np.zeros((1, 2)))  # xi * y1 = 1.2 > 1
    clipped = rotated_sine_physics(2.0, 0.0, out_of_range="clip").inverse(np.array([[0.6, 0.0]]), np.zeros((1, 2)))
    np.testing.assert_allclose(clipped, [[np.pi / 2, 0.0]])
    with pytest.raises(ValueError, match="out_of_range"):
        rotated_sine_physics(2.0, 0.0, out_of_range="wrap")


def test_physics_from_problem_agrees_with_the_vectorised_adapter():
    general = physics_from_problem(rotated_sine_problem(4.0, 0.3, [0.0, 0.0]))
    fast = rotated_sine_physics(4.0, 0.3)
    assert (general.n, general.m) == (2, 2)
    X = np.random.default_rng(5).uniform(-1, 1, (4, 2))
    V = np.random.default_rng(6).normal(size=(4, 2))
    np.testing.assert_allclose(general.forward(X), fast.forward(X))
    np.testing.assert_allclose(general.vjp(X, V), fast.vjp(X, V), atol=1e-14)
    Y = fast.forward(X) * 0.9
    np.testing.assert_allclose(general.inverse(Y, X), fast.inverse(Y, X))


def test_newton_step_in_y_general_loss_goes_through_problem():
    Y = np.array([[1.0, 2.0], [0.0, -1.0]])
    T = np.array([[3.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(newton_step_in_y(Y, T, 0.5), 0.5 * (T - Y))
    # a scaled squared error has the same Newton step; so has a weighted one
    np.testing.assert_allclose(newton_step_in_y(Y, T, 0.5, problems.squared_error(2.0)), 0.5 * (T - Y))
    from companion.losses import weighted_squared_error as weighted_loss

    np.testing.assert_allclose(newton_step_in_y(Y, T, 1.0, weighted_loss([1.0, 9.0])), T - Y)


def test_sip_targets_equal_pg_steps_of_each_sample():
    physics = rotated_sine_physics(4.0, 0.3)
    X = np.random.default_rng(7).uniform(-1, 1, (3, 2))
    T = physics.forward(np.random.default_rng(8).uniform(-1, 1, (3, 2)))
    from companion.rules import pg_step

    targets = sip_targets(physics, X, T, eta=0.5)
    for x, t, xt in zip(X, T, targets):
        np.testing.assert_allclose(xt - x, pg_step(rotated_sine_problem(4.0, 0.3, t), x, 0.5), atol=1e-13)


# --------------------------------------------------------------------------- training methods
def _setup(xi=4.0, phi=0.3, samples=16):
    physics = rotated_sine_physics(xi, phi)
    data, _ = make_dataset(physics, np.random.default_rng(0).uniform(-1, 1, (samples, 2)))
    net = MLP((2, 5, 2))
    return physics, data, net, net.init(np.random.default_rng(1))


def _objectives(method, net, physics, data, eta=1.0):
    """The batch objective of each method as a function of theta (x~ frozen for SIP)."""
    U, T, Xt = data.inputs, data.targets, data.truth
    B = len(data)
    if method == "physics":
        return lambda th: 0.5 * np.sum((physics.forward(net.forward(th, U)) - T) ** 2) / B
    if method == "supervised":
        return lambda th: 0.5 * np.sum((net.forward(th, U) - Xt) ** 2) / B
    return None


@pytest.mark.parametrize("method", ["physics", "supervised", "sip"])
def test_one_gd_step_is_minus_eta_times_the_method_gradient(method):
    physics, data, net, theta0 = _setup()
    eta_nn = 1e-3
    result = train(method, net, theta0, physics, data, iterations=1, batch_size=len(data),
                   rng=np.random.default_rng(0), eta_nn=eta_nn, eta=0.7, optimizer="gd", keep_thetas=True)
    gradient = (result.thetas[0] - result.thetas[1]) / eta_nn
    if method == "sip":
        # independent: x~ from the per-sample companion Problem and its local inverse
        X = net.forward(theta0, data.inputs)
        X_tilde = np.stack([
            x + (rotated_sine_problem(4.0, 0.3, t).invert(
                rotated_sine_problem(4.0, 0.3, t).output(x) + 0.7 * (t - rotated_sine_problem(4.0, 0.3, t).output(x)), x) - x)
            for x, t in zip(X, data.targets)])

        def objective(th):
            return 0.5 * np.sum((net.forward(th, data.inputs) - X_tilde) ** 2) / len(data)
    else:
        objective = _objectives(method, net, physics, data)
    fd = np.array([(objective(theta0 + e) - objective(theta0 - e)) / 2e-6 for e in 1e-6 * np.eye(net.n_params)])
    np.testing.assert_allclose(gradient, fd, rtol=1e-5, atol=1e-8)


def test_training_is_deterministic_and_records_history():
    physics, data, net, theta0 = _setup()
    kwargs = dict(iterations=30, batch_size=4, eta_nn=1e-2, eval_every=10)
    a = train_sip(net, theta0, physics, data, rng=np.random.default_rng(3), **kwargs)
    b = train_sip(net, theta0, physics, data, rng=np.random.default_rng(3), **kwargs)
    np.testing.assert_array_equal(a.theta, b.theta)
    np.testing.assert_array_equal(a.x_error, b.x_error)
    assert a.status_name == "max_steps" and a.success and a.nit == 30
    np.testing.assert_array_equal(a.iterations, [0, 10, 20, 30])
    assert np.all(np.diff(a.time) >= 0) and a.label == "SIP"
    assert a.x_error[-1] < a.x_error[0]
    np.testing.assert_allclose(theta0, net.init(np.random.default_rng(1)))  # theta0 not mutated
    adam = train_physics(net, theta0, physics, data, rng=np.random.default_rng(3), **kwargs)
    sup = train_supervised(net, theta0, physics, data, rng=np.random.default_rng(3), **kwargs)
    assert adam.label == "Adam" and sup.label == "supervised"
    np.testing.assert_allclose(adam.loss, adam.y_error)
    np.testing.assert_allclose(sup.loss, sup.x_error)


def test_sip_equals_supervised_for_linear_exact_physics():
    n = 8
    physics = heat_physics(n, 1e-3, cutoff=0.0)
    data, _ = make_dataset(physics, random_boxes(n, 2, np.random.default_rng(0), samples=24))
    net = MLP((n, 8, n))
    theta0 = net.init(np.random.default_rng(1))
    kwargs = dict(iterations=40, batch_size=8, eta_nn=3e-3, keep_thetas=True)
    sip = train_sip(net, theta0, physics, data, rng=np.random.default_rng(2), **kwargs)
    sup = train_supervised(net, theta0, physics, data, rng=np.random.default_rng(2), **kwargs)
    assert np.max(np.abs(sip.thetas - sup.thetas)) < 1e-12


def test_statuses_diverged_non_finite_and_inverse_failure():
    physics, data, net, theta0 = _setup(xi=32.0)
    diverged = train_physics(net, theta0, physics, data, iterations=50, batch_size=16, rng=np.random.default_rng(0),
                             eta_nn=10.0, optimizer="gd", blowup=10.0)
    assert diverged.status_name == "diverged" and not diverged.success and "blowup" in diverged.message
    assert np.all(np.isfinite(diverged.y_error))

    def nan_forward(X):
        return np.full((X.shape[0], 2), np.nan)

    broken = BatchPhysics(nan_forward, physics.inverse, physics.vjp, 2, 2, name="broken")
    result = train_sip(net, theta0, broken, data, iterations=5, batch_size=4, rng=np.random.default_rng(0), eta_nn=1e-3)
    assert result.status_name == "non_finite" and result.nit == 0
    assert "non-finite" in result.message

    # eta = 3 asks for outputs beyond the range of sin: the inverse fails, the run stops with a message
    failed = train_sip(net, theta0, rotated_sine_physics(32.0, 0.3), data, iterations=5, batch_size=16,
                       rng=np.random.default_rng(0), eta_nn=1e-3, eta=3.0)
    assert failed.status_name == "rule_failed" and failed.nit == 0
    assert "inverse" in failed.message and "eta < 1" in failed.message


def test_bad_arguments_raise_clear_errors():
    physics, data, net, theta0 = _setup()
    rng = np.random.default_rng(0)
    base = dict(iterations=2, batch_size=4, rng=rng, eta_nn=1e-3)
    with pytest.raises(ValueError, match="method"):
        train("newton", net, theta0, physics, data, **base)
    with pytest.raises(ValueError, match="batch_size"):
        train("sip", net, theta0, physics, data, **{**base, "batch_size": 100})
    with pytest.raises(ValueError, match="outputs"):
        train("sip", MLP((2, 3, 3)), MLP((2, 3, 3)).init(rng), physics, data, **base)
    with pytest.raises(ValueError, match="truth"):
        train("supervised", net, theta0, physics, Dataset(data.inputs, data.targets), **base)
    with pytest.raises(ValueError, match="optimizer"):
        train("sip", net, theta0, physics, data, optimizer="sgd", **base)
    with pytest.raises(TypeError, match="rng"):
        train("sip", net, theta0, physics, data, **{**base, "rng": 0})
    with pytest.raises(ValueError, match="eta_nn"):
        train("sip", net, theta0, physics, data, **{**base, "eta_nn": 0.0})
    with pytest.raises(ValueError, match="n_params"):
        train("sip", net, theta0[:-1], physics, data, **base)
    with pytest.raises(ValueError, match="same number"):
        Dataset(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="non-finite"):
        Dataset(np.full((3, 2), np.nan), np.zeros((3, 2)))
    with pytest.raises(TypeError, match="physics"):
        train("sip", net, theta0, "heat", data, **base)
    with pytest.raises(ValueError, match=r"shape \(batch, 2\)"):
        physics.apply(np.zeros(2))


# --------------------------------------------------------------------------- a reader's own problem (issue 14)
def _redundant(batchable: bool, **options) -> problems.Problem:
    """P(x) = x[:2] + x[2] (n = 3 > m = 2), written for one sample or for a batch of rows."""
    if batchable:
        def simulator(x):
            return x[..., :2] + x[..., 2:]

        def inverse(y, x0):
            return np.concatenate([y, np.zeros_like(y[..., :1])], axis=-1)
    else:
        def simulator(x):
            return x[:2] + x[2]

        def inverse(y, x0):
            return np.r_[y, 0.0]
    return problems.Problem(simulator, lambda x: np.array([[1, 0, 1], [0, 1, 1.0]]), [0.0, 0.0],
                            inverse=inverse, **options)


def test_physics_from_problem_knows_the_input_size_when_n_exceeds_m():
    assert physics_from_problem(_redundant(False)).n == 3  # the reproducer (it said 2)
    assert physics_from_problem(_redundant(False), n=3).n == 3
    no_hints = problems.Problem(lambda x: x[:2] + x[2], None, [0.0, 0.0], inverse=lambda y, x0: x0)
    with pytest.raises(ValueError, match="pass n= to physics_from_problem"):
        physics_from_problem(no_hints)
    no_hints.output(np.zeros(3))  # once it has evaluated a point, the problem knows n
    assert physics_from_problem(no_hints).n == 3


@pytest.mark.parametrize("batchable", [True, False])
def test_batched_and_looped_adapters_agree_and_batches_are_used_only_when_verified(batchable):
    problem = _redundant(batchable)
    physics = physics_from_problem(problem)
    X = np.random.default_rng(0).normal(size=(6, 3))
    V = np.random.default_rng(1).normal(size=(6, 2))
    expected = X[:, :2] + X[:, 2:]
    np.testing.assert_allclose(physics.forward(X), expected)
    before = problem.calls["simulator"]
    np.testing.assert_allclose(physics.forward(X), expected)
    assert problem.calls["simulator"] - before == (1 if batchable else 6)
    np.testing.assert_allclose(physics.vjp(X, V), V @ np.array([[1, 0, 1], [0, 1, 1.0]]))
    np.testing.assert_allclose(physics.inverse(expected, X), np.c_[expected, np.zeros(6)])


def test_batched_difference_vjp_matches_the_analytic_one():
    analytic = rotated_sine_physics(4.0, 0.3)
    problem = problems.Problem(lambda x: analytic.forward(np.atleast_2d(x)).reshape(x.shape), None, [0.0, 0.0],
                               n=2, inverse=lambda y, x0: x0)
    X = np.random.default_rng(2).uniform(-1, 1, (5, 2))
    V = np.random.default_rng(3).normal(size=(5, 2))
    physics = physics_from_problem(problem)
    physics.forward(X)  # verifies that the simulator takes batches: the vjp then differences batches
    np.testing.assert_allclose(physics.vjp(X, V), analytic.vjp(X, V), rtol=1e-6, atol=1e-7)


def test_sip_fallback_keeps_training_where_a_sample_has_no_inverse():
    physics, data, net, theta0 = _setup(xi=32.0)
    options = dict(iterations=5, batch_size=16, rng=np.random.default_rng(0), eta_nn=1e-3, eta=3.0)
    failed = train_sip(net, theta0, rotated_sine_physics(32.0, 0.3), data, **options)
    assert failed.status_name == "rule_failed" and "fallback='ig'" in failed.message
    options["rng"] = np.random.default_rng(0)
    kept = train_sip(net, theta0, rotated_sine_physics(32.0, 0.3), data, fallback="ig", **options)
    assert kept.status_name == "max_steps" and kept.nit == 5
    assert 0 < kept.fallbacks <= 5 * 16
    assert np.all(np.isfinite(kept.y_error))


def test_sample_fallback_targets_are_inverse_gradient_steps():
    physics = rotated_sine_physics(4.0, 0.3)
    X = np.random.default_rng(4).uniform(-1, 1, (3, 2))
    dY = np.random.default_rng(5).normal(size=(3, 2))
    targets = sample_fallback_targets(physics, X, dY)
    for x, dy, t in zip(X, dY, targets):
        problem = rotated_sine_problem(4.0, 0.3, [0.0, 0.0])
        np.testing.assert_allclose(t - x, np.linalg.solve(problem.jacobian_at(x), dy), rtol=1e-10)


def test_sip_trains_on_a_simulator_with_a_numerical_inverse():
    from companion.inverse import with_numerical_inverse

    physics_true = rotated_sine_physics(2.0, 0.3)
    problem = with_numerical_inverse(problems.Problem(lambda x: physics_true.forward(x[None])[0], None, [0.0, 0.0],
                                                      n=2, differences="forward"))
    data, _ = make_dataset(physics_true, np.random.default_rng(0).uniform(-1, 1, (16, 2)))
    net = MLP((2, 8, 2))
    result = train_sip(net, net.init(np.random.default_rng(1)), physics_from_problem(problem), data,
                       iterations=20, batch_size=8, rng=np.random.default_rng(2), eta_nn=2e-2, fallback="ig",
                       eval_every=20)
    assert result.status_name == "max_steps"
    assert result.y_error[-1] < 0.5 * result.y_error[0]


def test_kept_iterates_carry_their_training_time():
    physics, data, net, theta0 = _setup()
    result = train("sip", net, theta0, physics, data, iterations=12, batch_size=8, rng=np.random.default_rng(0),
                   eta_nn=1e-3, eval_every=5, keep_thetas=True)
    assert len(result.thetas_time) == len(result.thetas) == result.nit + 1
    assert result.thetas_time[0] == 0.0 and np.all(np.diff(result.thetas_time) > 0)
    # the evaluation points' times are those of the iterates with the same index
    np.testing.assert_array_equal(result.thetas_time[result.iterations], result.time)
