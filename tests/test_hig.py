"""Tests of companion.hig (HIG and Gauss-Newton steps, training) and of the rotated-sine task of companion.tasks.

The HIG chapter's analyses and benchmark are tested in tests/test_hig_analysis.py and tests/test_hig_bench.py.
"""


import numpy as np
import pytest
from scipy.differentiate import jacobian as fd_jacobian

from companion import hig, nn, tasks
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
    model = tasks.toy_model(0.01)
    x, t = tasks.toy_data(64)
    theta0 = tasks.toy_theta0(0)
    runs = [hig.train(model, theta0, x, t, method="hig", eta=0.1, steps=20, batch_size=16, rng=3, tau=1e-4)
            for _ in range(2)]
    assert np.array_equal(runs[0].losses, runs[1].losses)
    other = hig.train(model, theta0, x, t, method="hig", eta=0.1, steps=20, batch_size=16, rng=4, tau=1e-4)
    assert not np.array_equal(runs[0].losses, other.losses)


def test_through_physics_jacobian_matches_scipy_differentiate():
    model = tasks.oscillator_model(T=5, dt=0.2, hidden=4)
    states = tasks.oscillator_data(3, seed=0)
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
    model = tasks.toy_model(0.01)
    x, t = tasks.toy_data(16)
    theta = tasks.toy_theta0(0)
    f = model.network.forward(theta, x)
    expected = np.mean(0.5 * (f[:, 0] - t[:, 0]) ** 2 + 0.5 * (0.01 * f[:, 1] - t[:, 1]) ** 2)
    result = hig.train(model, theta, x, t, squared_error(), method="gn", eta=1.0, steps=0)
    assert result.losses[0] == pytest.approx(expected, rel=1e-13)


# =========================================================================== discussion
def test_sine_model_jacobian_matches_scipy_differentiate():
    model = tasks.sine_model(8.0, np.pi / 4, sizes=(2, 3, 2))
    inputs = np.random.default_rng(0).normal(size=(3, 2))
    theta = model.init(np.random.default_rng(1))
    _, A = model.value_and_jacobian(theta, inputs)

    def f(Theta):
        cols = Theta.reshape(model.n_params, -1).T
        out = np.stack([model.forward(th, inputs).ravel() for th in cols], axis=1)
        return out.reshape((6,) + Theta.shape[1:])

    assert np.allclose(A.reshape(6, -1), fd_jacobian(f, theta).df, rtol=1e-7, atol=1e-9)


def test_an_overflow_inside_the_backward_pass_stops_the_run_with_a_status():
    """A diverging run whose backward pass meets a non-finite cotangent ends as non_finite, not with an error."""
    from companion.errors import NonFiniteError

    class Overflowing:
        def __init__(self, model, after):
            self.model, self.after, self.calls = model, after, 0

        def forward(self, theta, inputs):
            return self.model.forward(theta, inputs)

        def vjp(self, theta, inputs, cotangent):
            self.calls += 1
            if self.calls > self.after:
                raise NonFiniteError("cotangent contains 2 non-finite value(s) (NaN or inf)")
            return self.model.vjp(theta, inputs, cotangent)

    model = tasks.toy_model(1.0)
    x, t = tasks.toy_data(16)
    result = hig.train(Overflowing(model, after=3), tasks.toy_theta0(0), x, t, method="adam", eta=0.01, steps=10)
    assert result.status_name == "non_finite" and result.nit == 3 and "step 4" in result.message
    assert np.all(np.isfinite(result.losses))
