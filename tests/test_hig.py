"""Tests of companion.hig (HIG and Gauss-Newton steps, training), the chapter's experiments and its benchmark."""

import json

import numpy as np
import pytest
from scipy.differentiate import jacobian as fd_jacobian

from companion import hig, nn
from companion.experiments import hig as ex
from companion.problems import squared_error


def rotation(angle):
    return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])


# =========================================================================== the steps
def test_hig_step_on_a_known_matrix_matches_the_hand_computation():
    # A = U diag(4, 1) V^T  =>  A^{-1/2} = V diag(1/2, 1) U^T
    U, V = rotation(np.pi / 6), rotation(np.pi / 3)
    A = U @ np.diag([4.0, 1.0]) @ V.T
    g = np.array([1.0, 2.0])
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    ug = np.array([c * 1 + s * 2, -s * 1 + c * 2])            # U^T g by hand
    expected = -0.5 * (V @ np.array([ug[0] / 2, ug[1] / 1]))  # -eta V S^{-1/2} U^T g, eta = 0.5
    assert np.allclose(hig.hig_step(A, g, eta=0.5, tau=0.0), expected, rtol=1e-13, atol=1e-14)


def test_the_step_accepts_per_sample_blocks_and_stacks_them_row_by_row():
    rng = np.random.default_rng(1)
    J = rng.normal(size=(3, 2, 5))
    g = rng.normal(size=(3, 2))
    A = np.vstack([J[0], J[1], J[2]])
    assert np.allclose(hig.hig_step(J, g), hig.hig_step(A, g.ravel()))


@pytest.mark.parametrize("shape", [(7, 4), (4, 7), (5, 5)])
def test_kappa_minus_one_is_least_squares_and_kappa_one_the_gradient(shape):
    rng = np.random.default_rng(sum(shape))
    A = rng.normal(size=shape)
    g = rng.normal(size=shape[0])
    lstsq = np.linalg.lstsq(A, g, rcond=None)[0]
    assert np.allclose(hig.gauss_newton_step(A, g, eta=1.0), -lstsq, atol=1e-12)
    assert np.allclose(hig.gauss_newton_step(A, g, eta=0.3), -0.3 * np.linalg.pinv(A) @ g, atol=1e-12)
    assert np.allclose(hig.svd_step(A, g, kappa=1.0, eta=0.2), -0.2 * A.T @ g, atol=1e-12)
    assert np.allclose(hig.gradient_step(A, g, eta=0.2), -0.2 * A.T @ g, atol=1e-12)


def test_hig_squared_is_gauss_newton_on_a_symmetric_positive_matrix():
    # for A = A^T > 0: A^{-1/2} A^{-1/2} = A^{-1}
    rng = np.random.default_rng(2)
    B = rng.normal(size=(4, 4))
    A = B @ B.T + np.eye(4)
    half = hig.svd_step(A, np.eye(4)[0], kappa=-0.5)
    M = np.column_stack([-hig.svd_step(A, e, kappa=-0.5) for e in np.eye(4)])
    assert np.allclose(M @ M, np.linalg.inv(A), atol=1e-12)
    assert np.allclose(-half, M[:, 0])


def test_truncation_drops_small_singular_values_instead_of_clamping():
    A = np.diag([1.0, 1e-8])
    g = np.array([1.0, 1.0])
    kept = hig.hig_step(A, g, eta=1.0, tau=0.0)
    dropped = hig.hig_step(A, g, eta=1.0, tau=1e-4)
    assert np.allclose(kept, [-1.0, -1e4])
    assert dropped.tolist() == [-1.0, 0.0]  # not -(1e-4)^{-1/2} = -100
    assert hig.gauss_newton_step(A, g, tau=1e-4).tolist() == [-1.0, 0.0]
    out = ex.dropped_vs_clamped((1.0, 1e-2, 1e-8), tau=1e-4)
    assert out["dropped"][2] == 0.0 and out["clamped"][2] == pytest.approx(-100.0)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="grad_y"):
        hig.hig_step(np.ones((3, 2)), np.ones(2))
    with pytest.raises(ValueError, match="jacobian"):
        hig.hig_step(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="eta"):
        hig.hig_step(np.eye(2), np.ones(2), eta=-1.0)
    with pytest.raises(ValueError, match="tau"):
        hig.hig_step(np.eye(2), np.ones(2), tau=1.5)
    with pytest.raises(ValueError, match="method"):
        hig.train(nn.MLP((1, 2)), np.zeros(4), np.zeros((2, 1)), np.zeros((2, 2)), method="sgd", eta=1.0, steps=1)
    with pytest.raises(ValueError, match="batch_size"):
        hig.train(nn.MLP((1, 2)), np.zeros(4), np.zeros((2, 1)), np.zeros((2, 2)), method="gn", eta=1.0, steps=1,
                  batch_size=3)


# =========================================================================== training
class LinearModel:
    """y_i = M_i theta: a linear 'network' with per-sample matrices M_i (b, m, p)."""

    def __init__(self, M):
        self.M = M
        self.n_params = M.shape[2]

    def forward(self, theta, inputs):
        return np.einsum("bmp,p->bm", self.M[inputs[:, 0].astype(int)], theta)

    def jacobian(self, theta, inputs):
        return self.M[inputs[:, 0].astype(int)]

    def vjp(self, theta, inputs, cotangent):
        return np.einsum("bmp,bm->p", self.M[inputs[:, 0].astype(int)], cotangent)


def linear_task(seed=0, b=3, m=2):
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(b, m, b * m)) * np.array([1.0, 1e-3])[None, :, None]  # badly scaled, square, invertible
    model = LinearModel(M)
    inputs = np.arange(b, dtype=float)[:, None]
    targets = rng.normal(size=(b, m))
    return model, inputs, targets


def test_gauss_newton_with_eta_one_solves_a_square_linear_model_in_one_step():
    model, inputs, targets = linear_task()
    result = hig.train(model, np.zeros(6), inputs, targets, method="gn", eta=1.0, steps=1, tau=0.0)
    assert result.fun < 1e-20 * result.losses[0]
    assert np.allclose(model.forward(result.theta, inputs), targets, atol=1e-9)


def test_hig_on_a_linear_model_shrinks_each_singular_direction_by_one_minus_eta_root_s():
    # linear y = A theta: the residual's component along u_i is multiplied by (1 - eta sqrt(s_i)) per step
    model, inputs, targets = linear_task()
    A = model.M.reshape(6, 6)
    u, s, _ = np.linalg.svd(A)
    eta, steps = 0.3, 20
    result = hig.train(model, np.zeros(6), inputs, targets, method="hig", eta=eta, steps=steps, tau=0.0)
    residual = u @ ((1 - eta * np.sqrt(s)) ** steps * (u.T @ -targets.ravel()))
    assert np.allclose(model.forward(result.theta, inputs).ravel() - targets.ravel(), residual, atol=1e-10)


def test_adam_path_equals_a_manual_loop():
    model, inputs, targets = linear_task(1)
    result = hig.train(model, np.zeros(6), inputs, targets, method="adam", eta=0.01, steps=3)
    theta, state = np.zeros(6), nn.adam_init(np.zeros(6))
    for _ in range(3):
        grad = model.vjp(theta, inputs, (model.forward(theta, inputs) - targets) / 3)
        theta, state = nn.adam_update(theta, grad, state, eta=0.01)
    assert np.allclose(result.theta, theta, rtol=0, atol=1e-15)


def test_statuses_and_history():
    model, inputs, targets = linear_task(2)
    blown = hig.train(model, np.zeros(6), inputs, targets, method="hig", eta=1e6, steps=50, tau=0.0)
    assert blown.status_name in ("diverged", "non_finite")
    assert np.all(np.isfinite(blown.theta))
    timed = hig.train(model, np.zeros(6), inputs, targets, method="hig", eta=0.1, steps=10**6, max_time=1e-9)
    assert timed.status_name == "time_budget" and timed.nit == 1
    kept = hig.train(model, np.zeros(6), inputs, targets, method="hig", eta=0.5, steps=4, keep_params=True)
    assert kept.thetas.shape == (5, 6) and np.allclose(kept.thetas[-1], kept.theta)
    assert not np.shares_memory(kept.thetas, kept.theta)
    assert np.allclose(kept.thetas[0], 0.0)  # the start was not overwritten by later steps
    assert kept.iterations.tolist() == [0, 1, 2, 3, 4] and kept.batch_losses.size == 4


def test_same_seed_gives_the_same_batches_and_results():
    model = ex.toy_model(0.01)
    x, t = ex.toy_data(64)
    theta0 = ex.toy_theta0(0)
    runs = [hig.train(model, theta0, x, t, method="hig", eta=0.1, steps=20, batch_size=16, rng=3, tau=1e-4)
            for _ in range(2)]
    assert np.array_equal(runs[0].losses, runs[1].losses)
    other = hig.train(model, theta0, x, t, method="hig", eta=0.1, steps=20, batch_size=16, rng=4, tau=1e-4)
    assert not np.array_equal(runs[0].losses, other.losses)


def test_through_physics_jacobian_matches_scipy_differentiate():
    model = ex.oscillator_model(T=5, dt=0.2, hidden=4)
    states = ex.oscillator_data(3, seed=0)
    theta = model.init(np.random.default_rng(0))
    y, A = model.value_and_jacobian(theta, states)

    def f(Theta):  # (p, k) -> (3 * 4, k)
        cols = Theta.reshape(model.n_params, -1).T
        out = np.stack([model.forward(th, states).ravel() for th in cols], axis=1)
        return out.reshape((12,) + Theta.shape[1:])

    fd = fd_jacobian(f, theta)
    assert np.allclose(A.reshape(12, -1), fd.df, rtol=1e-7, atol=1e-9)
    cot = np.random.default_rng(1).normal(size=y.shape)
    assert np.allclose(model.vjp(theta, states, cot), A.reshape(12, -1).T @ cot.ravel(), atol=1e-12)


def test_toy_loss_is_the_course_convention():
    model = ex.toy_model(0.01)
    x, t = ex.toy_data(16)
    theta = ex.toy_theta0(0)
    f = model.network.forward(theta, x)
    expected = np.mean(0.5 * (f[:, 0] - t[:, 0]) ** 2 + 0.5 * (0.01 * f[:, 1] - t[:, 1]) ** 2)
    result = hig.train(model, theta, x, t, squared_error(), method="gn", eta=1.0, steps=0)
    assert result.losses[0] == pytest.approx(expected, rel=1e-13)


# =========================================================================== experiments
def test_family_steps_are_gd_hig_gn():
    rng = np.random.default_rng(3)
    A, g = rng.normal(size=(6, 4)), rng.normal(size=6)
    steps = ex.family_steps(A, g, eta=1.0)
    assert np.allclose(steps["gd"], -A.T @ g)
    assert np.allclose(steps["gn"], -np.linalg.pinv(A) @ g)
    u, s, vt = np.linalg.svd(A, full_matrices=False)
    assert np.allclose(steps["hig"], -vt.T @ (s**-0.5 * (u.T @ g)))


def test_stacked_and_per_sample_steps_differ():
    out = ex.stacked_vs_per_sample()
    assert out["rank_per_sample"] <= 2 < out["rank_stacked"]
    assert out["relative_difference"] > 0.3
    assert out["linear_loss_stacked"] < out["linear_loss_averaged"]


def test_saturation_counts_units_beyond_the_threshold():
    net = nn.MLP((1, 3, 1))
    theta = np.zeros(net.n_params)
    W, b = net.layers(theta)[0]
    W[...] = [[0.0, 10.0, 1.0]]
    x = np.array([[1.0], [0.1]])
    z = x @ W
    assert ex.saturation(net, theta, x) == pytest.approx(np.mean(np.abs(np.tanh(z)) > 0.99)) == pytest.approx(1 / 6)


def test_truncation_effect_without_truncation_blows_up():
    rows = ex.truncation_effect(steps=30)
    (tau0, loss0, status0, step0, _), (tau1, loss1, status1, step1, _) = rows
    assert tau0 == 0.0 and status0 in ("diverged", "non_finite") and step0 > 1e3
    assert status1 == "max_steps" and step1 < 100 and loss1 < rows[0][1]


def test_fit_cost_recovers_a_known_law():
    rows = [(n, p, 3e-10 * min(n, p) ** 2 * max(n, p), 0, 0) for n, p in [(10, 100), (100, 100), (400, 50), (50, 800)]]
    fit = ex.fit_cost(rows)
    assert fit["exponent"] == pytest.approx(1.0) and fit["c"] == pytest.approx(3e-10) and fit["c_fixed"] == pytest.approx(3e-10)


def test_toy_comparison_is_fair_and_hig_beats_gn_at_small_lambda():
    sweeps = ex.toy_comparison(0.01, steps=60, etas={"adam": (0.1, 1.0), "gn": (0.03, 0.3), "hig": (0.1, 0.3)})
    for method, sweep in sweeps.items():
        assert [r.losses[0] for r in sweep.results] == [sweeps["hig"].results[0].losses[0]] * 2  # same start
        assert sweep.best.fun == min(r.fun for r in sweep.results)
    assert sweeps["hig"].best.fun < sweeps["adam"].best.fun


# =========================================================================== exercises
@pytest.mark.parametrize("s", [(100.0, 1.0), (3.0, 0.5), (7.0, 2.0)])
def test_exercise_1_output_ratios_are_powers_of_the_singular_value_ratio(s):
    ratios = ex.output_step_ratios(s)
    q = s[0] / s[1]
    assert ratios["gd"] == pytest.approx(q**2) and ratios["hig"] == pytest.approx(q**0.5)
    assert ratios["gn"] == pytest.approx(1.0)


@pytest.mark.parametrize("shape", [(6, 40), (40, 6), (8, 8)])
def test_exercise_2_gram_route_equals_the_svd_route(shape):
    rng = np.random.default_rng(shape[0])
    A = rng.normal(size=shape)
    A[:, 0] *= 1e-9  # a direction that the truncation must drop (tall case)
    g = rng.normal(size=shape[0])
    assert np.allclose(ex.hig_step_gram(A, g, eta=0.7, tau=1e-5), hig.hig_step(A, g, eta=0.7, tau=1e-5), atol=1e-8)


# =========================================================================== benchmark
def test_bench_quick_writes_json_and_png(tmp_path):
    from companion import bench_hig

    report = bench_hig.run(quick=True, out=tmp_path)
    on_disk = json.loads((tmp_path / "bench_hig.json").read_text())
    assert on_disk["settings"]["quick"] is True and on_disk["machine"]["numpy"]
    assert (tmp_path / "bench_hig.png").stat().st_size > 1000
    assert set(report["toy"]) == {"1", "0.01"} and set(report["toy"]["0.01"]["methods"]) == {"adam", "gn", "hig"}
    assert report["oscillators"]["methods"]["hig"]["final_loss"]


# =========================================================================== discussion
def test_sine_model_jacobian_matches_scipy_differentiate():
    model = ex.sine_model(8.0, np.pi / 4, sizes=(2, 3, 2))
    inputs = np.random.default_rng(0).normal(size=(3, 2))
    theta = model.init(np.random.default_rng(1))
    _, A = model.value_and_jacobian(theta, inputs)

    def f(Theta):
        cols = Theta.reshape(model.n_params, -1).T
        out = np.stack([model.forward(th, inputs).ravel() for th in cols], axis=1)
        return out.reshape((6,) + Theta.shape[1:])

    assert np.allclose(A.reshape(6, -1), fd_jacobian(f, theta).df, rtol=1e-7, atol=1e-9)


def test_svd_work_and_the_exercise_ratio():
    assert ex.svd_work(16, 4, 490) == 64**2 * 490
    assert ex.svd_work(256, 4, 490) == 490**2 * 1024
    assert ex.svd_work(256, 4, 490) / ex.svd_work(16, 4, 490) == pytest.approx(490 * 256 / (16**2 * 4))


def test_discussion_exercise_2_sip_on_the_toy_is_supervised_training():
    assert ex.toy_sip_equals_supervised(steps=10) < 1e-12


def test_toy_sip_uses_the_same_start_and_loss_as_hig_training():
    sip = ex.toy_sip(0.01, etas=(0.3,), steps=5, eval_every=5)
    model = ex.toy_model(0.01)
    x, t = ex.toy_data()
    start = hig.train(model, ex.toy_theta0(), x, t, method="hig", eta=0.1, steps=0)
    assert sip.losses[0] == pytest.approx(start.losses[0], rel=1e-12)
    assert sip.method == "SIP" and sip.best_eta == 0.3
