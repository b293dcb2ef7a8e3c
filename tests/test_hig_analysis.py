"""Tests of companion.hig_analysis (the HIG chapter's analyses of the step) and of hig.train's time budgets."""

import numpy as np
import pytest

from companion import hig, hig_analysis, nn, tasks


def test_family_steps_are_gd_hig_gn():
    rng = np.random.default_rng(3)
    A, g = rng.normal(size=(6, 4)), rng.normal(size=6)
    steps = hig_analysis.family_steps(A, g, eta=1.0)
    assert np.allclose(steps["gd"], -A.T @ g)
    assert np.allclose(steps["gn"], -np.linalg.pinv(A) @ g)
    u, s, vt = np.linalg.svd(A, full_matrices=False)
    assert np.allclose(steps["hig"], -vt.T @ (s**-0.5 * (u.T @ g)))


def test_stacked_and_per_sample_steps_differ_on_the_toy():
    model = tasks.toy_model(0.01)
    x, t = tasks.toy_data(256)
    batch = np.random.default_rng(0).permutation(256)[:16]
    y, jac = model.value_and_jacobian(tasks.toy_theta0(0), x[batch])
    out = hig_analysis.stacked_vs_per_sample(jac, y - t[batch])
    assert out["rank_per_sample"] <= 2 < out["rank_stacked"]
    assert out["relative_difference"] > 0.3
    assert out["linear_loss_stacked"] < out["linear_loss_averaged"]


def test_stacked_step_of_one_sample_is_the_per_sample_step():
    rng = np.random.default_rng(1)
    jac, r = rng.normal(size=(1, 3, 5)), rng.normal(size=(1, 3))
    out = hig_analysis.stacked_vs_per_sample(jac, r)
    assert out["relative_difference"] == pytest.approx(0.0, abs=1e-12) and out["cosine"] == pytest.approx(1.0)


def test_stacked_vs_per_sample_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="residual"):
        hig_analysis.stacked_vs_per_sample(np.ones((2, 3, 4)), np.ones((2, 2)))


def test_dropped_and_clamped_truncation():
    out = hig_analysis.dropped_vs_clamped((1.0, 1e-2, 1e-8), tau=1e-4)
    assert out["dropped"][2] == 0.0 and out["clamped"][2] == pytest.approx(-100.0)
    assert out["dropped"][1] == pytest.approx(-10.0) and out["norm_clamped"] > out["norm_dropped"]


def test_fit_cost_recovers_a_known_law():
    rows = [(n, p, 3e-10 * min(n, p) ** 2 * max(n, p), 0, 0) for n, p in [(10, 100), (100, 100), (400, 50), (50, 800)]]
    fit = hig_analysis.fit_cost(rows)
    assert fit["exponent"] == pytest.approx(1.0) and fit["c"] == pytest.approx(3e-10)
    assert fit["c_fixed"] == pytest.approx(3e-10)


def test_step_cost_rows_have_the_requested_shapes():
    rows = hig_analysis.step_cost([(8, 5), (5, 8)], repeats=2, budget=0.01)
    assert [(r[0], r[1]) for r in rows] == [(8, 5), (5, 8)] and all(min(r[2:]) > 0 for r in rows)


@pytest.mark.parametrize("s", [(100.0, 1.0), (3.0, 0.5), (7.0, 2.0)])
def test_exercise_1_output_ratios_are_powers_of_the_singular_value_ratio(s):
    ratios = hig_analysis.output_step_ratios(s)
    q = s[0] / s[1]
    assert ratios["gd"] == pytest.approx(q**2) and ratios["hig"] == pytest.approx(q**0.5)
    assert ratios["gn"] == pytest.approx(1.0)


@pytest.mark.parametrize("shape", [(6, 40), (40, 6), (8, 8)])
def test_exercise_2_gram_route_equals_the_svd_route(shape):
    rng = np.random.default_rng(shape[0])
    A = rng.normal(size=shape)
    A[:, 0] *= 1e-9  # a direction that the truncation must drop (tall case)
    g = rng.normal(size=shape[0])
    assert np.allclose(hig_analysis.hig_step_gram(A, g, eta=0.7, tau=1e-5), hig.hig_step(A, g, eta=0.7, tau=1e-5),
                       atol=1e-8)


def test_unit_variance_is_the_variance_of_tanh_across_inputs():
    net = nn.MLP((1, 3, 1))
    theta = net.init(np.random.default_rng(0))
    x = np.linspace(-1, 1, 11)[:, None]
    W, b = net.layers(theta)[0]
    expected = np.var(np.tanh(x @ W + b), axis=0)
    assert np.allclose(hig_analysis.unit_variance(net, theta, x), expected)
    W[...] = 0.0  # a unit with no input weight outputs a constant: zero variance
    assert np.allclose(hig_analysis.unit_variance(net, theta, x), 0.0)


def test_min_time_trains_past_the_step_budget_until_the_seconds_are_used():
    model = tasks.toy_model(1.0)
    x, t = tasks.toy_data(32)
    r = hig.train(model, tasks.toy_theta0(0), x, t, method="adam", eta=0.01, steps=3, min_time=0.02, rng=0)
    assert r.nit > 3 and r.times[-1] >= 0.02 and r.status_name == "max_steps" and r.iterations[-1] == r.nit
    short = hig.train(model, tasks.toy_theta0(0), x, t, method="adam", eta=0.01, steps=3, rng=0)
    assert short.nit == 3 and np.array_equal(short.losses, r.losses[:4])  # the same first steps
    with pytest.raises(ValueError, match="min_time"):
        hig.train(model, tasks.toy_theta0(0), x, t, method="adam", eta=0.01, steps=3, min_time=1.0, max_time=0.1)
