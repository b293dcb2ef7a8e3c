"""Tests of companion.experiments.sip (chapter *Scale-invariant physics training*) and companion.bench_sip."""

import json
import math

import numpy as np
import pytest
from scipy.differentiate import jacobian as scipy_jacobian

from companion.experiments import sip
from companion.nn import MLP, adam_init, adam_update
from companion.training import heat_physics, rotation


# --------------------------------------------------------------------------- the 2-D problem
@pytest.mark.parametrize("xi, phi", [(1.0, 0.0), (16.0, np.pi / 8), (32.0, np.pi / 4)])
def test_rotated_sine_problem_jacobian_matches_scipy(xi, phi):
    p = sip.rotated_sine_problem(xi, phi, [0.0, 0.0])
    x = np.array([0.4, -0.7])
    ref = scipy_jacobian(lambda z: np.stack([np.sin(np.cos(phi) * z[0] - np.sin(phi) * z[1]) / xi,
                                              xi * (np.sin(phi) * z[0] + np.cos(phi) * z[1])]), x)
    np.testing.assert_allclose(p.jacobian_at(x), ref.df, rtol=1e-9, atol=1e-12)


def test_cotangents_sip_is_the_displacement_and_physics_the_gradient():
    c = sip.cotangents(8.0, 0.3, [0.2, -0.1], [0.0, 0.1])
    np.testing.assert_allclose(c["sip"], np.array([0.2, -0.1]) - np.array([0.0, 0.1]), atol=1e-12)
    p = sip.rotated_sine_problem(8.0, 0.3, sip.rotated_sine_problem(8.0, 0.3, [0, 0]).output([0.0, 0.1]))
    np.testing.assert_allclose(c["physics"], p.gradient_at([0.2, -0.1]), rtol=1e-12)


def test_sine_setup_is_deterministic_and_on_the_central_branch():
    a = sip.sine_setup(4.0, np.pi / 4, samples=32, test=8, seed=3)
    b = sip.sine_setup(4.0, np.pi / 4, samples=32, test=8, seed=3)
    np.testing.assert_array_equal(a.train.inputs, b.train.inputs)
    assert len(a.train) == 32 and len(a.test) == 8
    h = np.vstack([a.train.truth, a.test.truth]) @ rotation(np.pi / 4).T
    assert np.all(np.abs(h[:, 0]) < np.pi / 2)
    np.testing.assert_allclose(a.train.inputs.mean(axis=0), 0.0, atol=0.3)


def test_small_sweep_structure_and_table():
    rows = sip.sine_sweep([1.0, 16.0], [np.pi / 4], etas=(3e-3, 1e-2), iterations=20, samples=32, test=16)
    assert len(rows) == 2 and {"SIP", "Adam"} <= rows[0].keys()
    for row in rows:
        assert row["Adam"].best.nit == 2 * row["SIP"].best.nit == 40
        assert row["SIP"].best_eta in (3e-3, 1e-2)
        assert row["SIP"].best.final_x_error == min(row["SIP"].finals)
    # SIP with eta = 1 and an exact inverse does not see xi (the targets are the true states)
    assert rows[0]["SIP"].best.final_x_error == pytest.approx(rows[1]["SIP"].best.final_x_error, rel=1e-9)
    text = sip.format_sweep_table(rows)
    assert text.count("\n") == 2 and "Adam/SIP" in text


def test_cost_ratio_is_positive():
    cost = sip.cost_ratio(sip.sine_setup(4.0, 0.0, samples=32, test=8), iterations=20, repeats=1)
    assert cost["sip"] > 0 and cost["adam"] > 0 and cost["ratio"] == pytest.approx(cost["sip"] / cost["adam"])


# --------------------------------------------------------------------------- heat
def test_heat_task_cutoff_is_the_relative_noise_level():
    task = sip.heat_task(16, 2e-3, noise=1e-3, samples=32, test=8, seed=0)
    targets = np.vstack([task.train.targets, task.test.targets])
    assert task.cutoff == pytest.approx(1e-3 / np.sqrt(np.mean(targets**2)))
    # the observations are P(truth) plus noise of the right size
    clean = heat_physics(16, 2e-3, cutoff=0.0).forward(task.train.truth)
    assert abs(np.std(task.train.targets - clean) - 1e-3) < 2e-4


def test_heat_comparison_small_run():
    task = sip.heat_task(16, 2e-3, noise=1e-3, samples=64, test=16, seed=0)
    runs = sip.heat_comparison(task, etas=(3e-3,), iterations=60, hidden=(16,), eval_every=10)
    assert set(runs) == {"SIP", "Adam", "supervised", "SIP (keep)"}
    for tuned in runs.values():
        assert tuned.best.success and tuned.best.iterations[-1] == 60
        assert tuned.best.final_x_error < tuned.best.x_error[0]
    sample = sip.predictions(task, runs, index=1, hidden=(16,))
    assert sample["SIP"].shape == (16,)


def test_iterations_to_reach():
    from types import SimpleNamespace

    r = SimpleNamespace(iterations=np.array([0, 5, 10]), x_error=np.array([2.0, 0.9, 0.1]))
    assert sip.iterations_to_reach(r, 0.95) == 5.0
    assert sip.iterations_to_reach(r, 0.01) == math.inf


# --------------------------------------------------------------------------- caveat and exercises
def test_caveat_exact_linear_equals_supervised_and_the_others_differ():
    diff = sip.caveat(iterations=40)
    assert diff["linear, exact"] < 1e-12
    assert diff["nonlinear, eta=1"] < 1e-12
    assert diff["linear, regularised"] > 1e-4
    assert diff["nonlinear, eta=0.5"] > 1e-4


def test_effective_rate_of_gradient_descent():
    rate = sip.effective_rate(eta=0.5, eta_nn=0.2, iterations=30)
    assert rate["eta_eff"] == pytest.approx(0.1)
    assert rate["max_difference"] < 1e-12


def test_exercise_adam_eta_against_a_hand_written_adam_loop():
    """Independent computation: supervised Adam with the gradient scaled by eta, same batches."""
    eta, eta_nn, iterations = 0.25, 3e-3, 40
    answer = sip.exercise_adam_eta(eta, eta_nn, iterations=iterations, seed=0)
    task, _ = sip._linear_task(0)
    net = MLP((16, 16, 16))
    theta = net.init(np.random.default_rng(1))
    state = adam_init(theta)
    rng = np.random.default_rng(2)
    data = task.train
    order, position = np.empty(0, dtype=int), 0
    for k in range(iterations):
        if position + 16 > order.size:
            order, position = rng.permutation(len(data)), 0
        index = order[position:position + 16]
        position += 16
        u, x_true = data.inputs[index], data.truth[index]
        gradient = net.vjp(theta, u, eta * (net.forward(theta, u) - x_true) / 16)
        theta, state = adam_update(theta, gradient, state, eta=eta_nn)
        np.testing.assert_allclose(answer["sip"].thetas[k + 1], theta, atol=1e-12)
    assert 0 < answer["max_difference"] < 1e-4 * answer["max_change"]
    assert answer["max_difference_eta_1"] < 1e-12


@pytest.mark.parametrize("phi", [0.0, np.pi / 8, np.pi / 4])
def test_exercise_conditioning_against_svd_of_a_finite_difference_jacobian(phi):
    xi = 32.0
    answer = sip.exercise_conditioning(xi, phi)
    physics = sip.rotated_sine_problem(xi, phi, [0.0, 0.0])
    h = 1e-6
    J = np.column_stack([(physics.output(h * e) - physics.output(-h * e)) / (2 * h) for e in np.eye(2)])
    s = np.linalg.svd(J, compute_uv=False)
    assert answer["J"] == pytest.approx(s[0] / s[-1], rel=1e-6)
    assert answer["J"] == pytest.approx(xi**2, rel=1e-9)
    Jd = J / np.linalg.norm(J, axis=0)
    sd = np.linalg.svd(Jd, compute_uv=False)
    assert answer["J D"] == pytest.approx(sd[0] / sd[-1], rel=1e-6)
    closed = {0.0: 1.0, np.pi / 4: xi**2}
    if phi in closed:
        assert answer["J D"] == pytest.approx(closed[phi], rel=1e-9)
