"""Tests of companion.nn: the MLP's derivatives and the functional Adam."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.differentiate import jacobian as scipy_jacobian

from companion import problems, rules
from companion.nn import MLP, AdamState, adam_init, adam_update

FLOATS = st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False)


def _central_jacobian(function, point, step=1e-6):
    """Central finite differences of ``function`` (array out) w.r.t. a flat ``point``."""
    columns = []
    for k in range(point.size):
        d = np.zeros_like(point)
        d[k] = step
        columns.append((function(point + d) - function(point - d)) / (2 * step))
    return np.stack(columns, axis=-1)


def _away_from_kinks(net, theta, inputs, margin=1e-3):
    """True if no relu pre-activation lies within ``margin`` of 0 (the FD would straddle a kink)."""
    a = inputs
    layers = net.layers(theta)
    for index, (W, b) in enumerate(layers[:-1]):
        z = a @ W + b
        if np.min(np.abs(z)) < margin:
            return False
        a = np.maximum(z, 0.0) if net.activation == "relu" else np.tanh(z)
    return True


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_jacobian_and_vjp_match_central_differences(activation, data):
    net = MLP((3, 6, 5, 2), activation)
    seed = data.draw(st.integers(0, 2**16))
    theta = net.init(np.random.default_rng(seed))
    inputs = data.draw(arrays(float, (4, 3), elements=FLOATS))
    if activation == "relu" and not _away_from_kinks(net, theta, inputs):
        return
    jac = net.jacobian(theta, inputs)
    fd = _central_jacobian(lambda t: net.forward(t, inputs), theta)
    assert jac.shape == (4, 2, net.n_params)
    np.testing.assert_allclose(jac, fd, atol=1e-7)
    cotangent = data.draw(arrays(float, (4, 2), elements=FLOATS))
    np.testing.assert_allclose(net.vjp(theta, inputs, cotangent), np.einsum("bo,bop->p", cotangent, fd), atol=1e-7)
    # input Jacobian
    fd_in = np.stack([_central_jacobian(lambda u: net.forward(theta, u), inputs[i]) for i in range(4)])
    np.testing.assert_allclose(net.input_jacobian(theta, inputs), fd_in, atol=1e-7)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_jacobian_matches_scipy_differentiate(activation):
    net = MLP((2, 7, 3), activation)
    theta = np.random.default_rng(2).normal(0.0, 0.7, size=net.n_params)  # nonzero biases too
    inputs = np.random.default_rng(5).normal(size=(3, 2))
    assert activation == "tanh" or _away_from_kinks(net, theta, inputs, margin=1e-2)
    jac = net.jacobian(theta, inputs)
    for i in range(3):
        # scipy evaluates f on arrays of shape (n_params, ...): the parameter axis comes first
        def f(t, u=inputs[i]):
            flat = t.reshape(net.n_params, -1)
            out = np.stack([net.forward(flat[:, j], u) for j in range(flat.shape[1])], axis=-1)
            return out.reshape((net.n_outputs,) + t.shape[1:])

        # (entries that are exactly zero, e.g. output o w.r.t. the weights of output o' != o,
        # need not be flagged as converged by scipy: compare values only)
        ref = scipy_jacobian(f, theta, initial_step=1e-3)
        np.testing.assert_allclose(jac[i], ref.df, atol=1e-8)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), batch=st.integers(1, 6))
def test_jacobian_contracted_with_cotangent_is_vjp(seed, batch):
    rng = np.random.default_rng(seed)
    net = MLP((4, 8, 8, 3), "tanh")
    theta = net.init(rng)
    inputs = rng.normal(size=(batch, 4))
    cot = rng.normal(size=(batch, 3))
    np.testing.assert_allclose(
        np.einsum("bo,bop->p", cot, net.jacobian(theta, inputs)), net.vjp(theta, inputs, cot), atol=1e-12
    )


def test_single_input_shapes_and_batch_consistency():
    net = MLP((2, 5, 3))
    theta = net.init(np.random.default_rng(0))
    u = np.array([0.3, -0.2])
    assert net.forward(theta, u).shape == (3,)
    np.testing.assert_allclose(net.forward(theta, u), net.forward(theta, u[None])[0])
    assert net.jacobian(theta, u).shape == (3, net.n_params)
    assert net.input_jacobian(theta, u).shape == (3, 2)
    assert net.vjp(theta, u, np.ones(3)).shape == (net.n_params,)


def test_layers_are_views_and_layout():
    net = MLP((2, 3, 1))
    theta = np.arange(net.n_params, dtype=float)
    (W1, b1), (W2, b2) = net.layers(theta)
    assert W1.shape == (2, 3) and b1.shape == (3,) and W2.shape == (3, 1) and b2.shape == (1,)
    W1[0, 0] = -5.0
    assert theta[0] == -5.0
    assert net.n_params == 2 * 3 + 3 + 3 + 1


def test_init_is_deterministic_and_scaled():
    net = MLP((50, 50, 1))
    a = net.init(np.random.default_rng(3))
    b = net.init(np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    W = net.layers(a)[0][0]
    assert np.max(np.abs(W)) <= np.sqrt(6 / 100)
    assert np.all(net.layers(a)[0][1] == 0)
    he = net.layers(net.init(np.random.default_rng(3), scale="he"))[0][0]
    assert abs(he.std() - np.sqrt(2 / 50)) < 0.02


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="activation"):
        MLP((2, 3), activation="sigmoid")
    with pytest.raises(ValueError, match="at least"):
        MLP((2,))
    with pytest.raises(ValueError, match="at least 1"):
        MLP((2, 0, 1))
    with pytest.raises(TypeError, match="integers"):
        MLP((2, 3.5, 1))
    with pytest.raises(TypeError, match="sizes"):
        MLP("23")
    net = MLP((2, 3, 1))
    theta = net.init(np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_params"):
        net.forward(theta[:-1], np.zeros(2))
    with pytest.raises(ValueError, match="inputs"):
        net.forward(theta, np.zeros((4, 3)))
    bad = theta.copy()
    bad[0] = np.nan
    with pytest.raises(ValueError, match="theta"):
        net.forward(bad, np.zeros(2))
    with pytest.raises(ValueError, match="inputs"):
        net.forward(theta, np.array([np.nan, 0.0]))
    with pytest.raises(ValueError, match="cotangent"):
        net.vjp(theta, np.zeros((4, 2)), np.zeros((4, 2)))
    with pytest.raises(TypeError, match="rng"):
        net.init(0)
    with pytest.raises(ValueError, match="scale"):
        net.init(np.random.default_rng(0), scale="lecun")
    with pytest.raises(TypeError, match="state"):
        adam_update(theta, theta, None, eta=0.1)
    with pytest.raises(ValueError, match="eta"):
        adam_update(theta, theta, adam_init(theta), eta=-1.0)
    with pytest.raises(ValueError, match="gradient"):
        adam_update(theta, np.full_like(theta, np.nan), adam_init(theta), eta=0.1)


def test_adam_update_matches_companion_rules_adam():
    problem = problems.alpha_scaled(30.0, target=(1.0, -2.0))
    x = np.array([0.5, 0.5])
    rule = rules.adam(0.05)
    state = rule.init(problem, x)
    theta, nn_state = x.copy(), adam_init(x)
    for _ in range(6):
        dx, state = rule.step(problem, x, state)
        x = x + dx
        before = theta.copy()
        theta, nn_state = adam_update(theta, problem.gradient_at(theta), nn_state, eta=0.05)
        assert not np.shares_memory(theta, before)
        np.testing.assert_allclose(theta, x, rtol=0, atol=1e-14)
    assert isinstance(nn_state, AdamState) and nn_state.t == 6


def test_adam_update_is_pure():
    theta = np.ones(3)
    state = adam_init(theta)
    g = np.array([1.0, -2.0, 3.0])
    copies = theta.copy(), g.copy(), state.m.copy(), state.v.copy()
    adam_update(theta, g, state, eta=0.1)
    for a, b in zip((theta, g, state.m, state.v), copies):
        np.testing.assert_array_equal(a, b)
