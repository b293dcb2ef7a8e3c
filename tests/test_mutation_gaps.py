"""Tests that pin down behaviour a hand-made mutant of the core formulas got away with (issue 14, item 10).

Each test names the mutant it kills; ``tools/mutate.py`` applies those mutants and runs these tests.
"""

import numpy as np
import pytest

from companion import hig, linalg, minimize, problems, rules
from companion.errors import SingularMatrixError
from companion.problems import Problem


# --------------------------------------------------------------------------- rules._armijo
def _half_square():
    """y = x, L = x^2 / 2: gradient x, minimum at 0."""
    return Problem(lambda x: x.copy(), lambda x: np.eye(1), [0.0], name="half square")


def test_armijo_halves_a_step_that_only_keeps_the_loss_equal():
    """From x = 1 along -2, t = 1 lands on x = -1 with the same loss: not a sufficient decrease.

    Kills ``value + c1 * t * slope`` -> ``value - c1 * t * slope`` (the flipped sign accepts t = 1).
    """
    p = _half_square()
    x, direction = np.array([1.0]), np.array([-2.0])
    assert rules._armijo(p, x, direction, p.gradient_at(x), p.loss_at(x)) == 0.5
    # a step that does decrease the loss enough is taken whole
    assert rules._armijo(p, x, np.array([-1.0]), p.gradient_at(x), p.loss_at(x)) == 1.0
    # overshooting by a factor 2^3 needs three halvings
    assert rules._armijo(p, x, np.array([-16.0]), p.gradient_at(x), p.loss_at(x)) == 0.0625


def test_armijo_shrinks_past_points_where_the_simulator_fails():
    """A trial point outside the simulator's domain (|x| > 2) counts as no decrease."""
    def simulator(x):
        if abs(x[0]) > 2:
            raise ValueError("outside the table")
        return x.copy()

    p = Problem(simulator, lambda x: np.eye(1), [0.0], name="tabulated")
    x = np.array([1.0])
    assert rules._armijo(p, x, np.array([-8.0]), p.gradient_at(x), p.loss_at(x)) == 0.125


# --------------------------------------------------------------------------- linalg truncation boundary
def test_pinv_with_rtol_zero_drops_only_exact_zeros():
    """Kills ``s > rtol * smax`` -> ``s >= rtol * smax``: with rtol = 0 a zero singular value would be inverted."""
    np.testing.assert_array_equal(linalg.pinv(np.diag([2.0, 0.0]), rtol=0.0), np.diag([0.5, 0.0]))
    np.testing.assert_array_equal(linalg.svd_power(np.diag([4.0, 0.0]), -0.5, rtol=0.0), np.diag([0.5, 0.0]))


def test_a_singular_value_exactly_at_the_threshold_is_dropped():
    """s = 0.5 = rtol * smax is dropped (``s > rtol smax`` keeps only larger ones)."""
    np.testing.assert_allclose(linalg.svd_power(np.diag([1.0, 0.5]), -1, rtol=0.5), np.diag([1.0, 0.0]))
    np.testing.assert_allclose(linalg.svd_power(np.diag([1.0, 0.5]), -1, rtol=0.49), np.diag([1.0, 2.0]))


def test_only_negative_powers_truncate():
    """kappa = 0 gives V U^T with every singular direction, a zero one included (no inverse is taken).

    Kills ``if kappa >= 0`` -> ``if kappa > 0``, which sends kappa = 0 through the truncating branch.
    """
    np.testing.assert_array_equal(linalg.svd_power(np.diag([1.0, 0.0]), 0.0), np.eye(2))
    rotation = np.array([[0.0, -1.0], [1.0, 0.0]])
    np.testing.assert_allclose(linalg.svd_power(rotation @ np.diag([3.0, 1e-20]), 0.0), rotation.T, atol=1e-15)


def test_solve_refuses_a_matrix_whose_smallest_singular_value_is_exactly_at_the_threshold():
    """Kills ``s[-1] <= rtol * s[0]`` -> ``s[-1] < rtol * s[0]`` in ``solve``."""
    with pytest.raises(SingularMatrixError, match=r"condition number 2, threshold 2"):
        linalg.solve(np.diag([1.0, 0.5]), [1.0, 1.0], rtol=0.5)
    np.testing.assert_allclose(linalg.solve(np.diag([1.0, 0.5]), [1.0, 1.0], rtol=0.49), [1.0, 2.0])
    with pytest.raises(SingularMatrixError, match="singular"):
        linalg.solve(np.zeros((2, 2)), [1.0, 1.0], rtol=0.0)


# --------------------------------------------------------------------------- reparametrize_linear's vjp
def _nonlinear_with_vjp():
    """P(x) = (x1 x2, sin x1 + x2^2, x2), with J^T v supplied separately from J."""
    def jacobian(x):
        return np.array([[x[1], x[0]], [np.cos(x[0]), 2 * x[1]], [0.0, 1.0]])

    return Problem(lambda x: np.array([x[0] * x[1], np.sin(x[0]) + x[1] ** 2, x[1]]), jacobian,
                   [1.0, 2.0, 3.0], name="nonlinear", vjp=lambda x, v: jacobian(x).T @ v)


def test_reparametrize_linear_vjp_with_a_non_symmetric_map():
    """(J_P M)^T v = M^T J_P^T v; kills ``matrix.T @ vjp`` -> ``matrix @ vjp`` (equal only for symmetric M)."""
    matrix = np.array([[1.0, 2.0], [0.0, 3.0]])
    p = _nonlinear_with_vjp()
    q = problems.reparametrize_linear(p, matrix)
    z, v = np.array([0.3, -0.7]), np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(q.vjp(z, v), q.jacobian_at(z).T @ v, rtol=1e-14)
    np.testing.assert_allclose(q.vjp(z, v), matrix.T @ p.jacobian_at(matrix @ z).T @ v, rtol=1e-14)
    # and the gradient the rules use agrees with central differences of L(Q(z))
    h = 1e-6
    numeric = [(q.loss_at(z + h * e) - q.loss_at(z - h * e)) / (2 * h) for e in np.eye(2)]
    np.testing.assert_allclose(q.gradient_at(z), numeric, rtol=1e-7)


def _central_jacobian(function, z, h=1e-6):
    return np.stack([(function(z + h * e) - function(z - h * e)) / (2 * h) for e in np.eye(z.size)], axis=-1)


def test_reparametrize_linear_with_a_non_symmetric_map_has_consistent_pieces():
    """Q(z) = P(Mz): J, second derivatives, a user Hessian and the inverse, all for a non-symmetric M.

    Kills M for M^T (or M^-1 for M) in each piece of ``reparametrize_linear``.
    """
    matrix = np.array([[1.0, 2.0], [-0.5, 3.0]])
    z = np.array([0.4, 0.3])
    q = problems.reparametrize_linear(problems.square_second(target=(1.0, 2.0)), matrix)
    np.testing.assert_allclose(q.jacobian_at(z), _central_jacobian(q.output, z), rtol=1e-8)
    second = q.second_derivatives(z)
    for i in range(2):
        np.testing.assert_allclose(second[i], _central_jacobian(lambda w: q.jacobian_at(w)[i], z), atol=1e-7)
    preimage = q.invert([2.0, 9.0], z)
    np.testing.assert_allclose(q.output(preimage), [2.0, 9.0], rtol=1e-12)
    np.testing.assert_allclose(matrix @ preimage, problems.square_second().invert([2.0, 9.0], matrix @ z))
    # a problem with a user Hessian of L in x
    base = problems.rosenbrock()
    with_hessian = Problem(base.simulator, base.jacobian, base.target, hessian=base.hessian_at, name="user H")
    r = problems.reparametrize_linear(with_hessian, matrix)
    np.testing.assert_allclose(r.hessian_at(z), _central_jacobian(r.gradient_at, z), rtol=1e-6)


# --------------------------------------------------------------------------- driver: NaN loss at a finite output
def test_driver_stops_on_a_nan_loss_at_a_finite_output_without_recording_it():
    """Kills dropping (or inverting) the driver's finiteness check on the new loss."""
    sq = problems.squared_error()
    loss = problems.Loss(lambda y, t: float("nan") if y[0] > 0.5 else sq.value(y, t), sq.gradient, sq.hessian,
                         "nan beyond 0.5")
    p = Problem(lambda x: x.copy(), lambda x: np.eye(1), [1.0], loss=loss, name="fragile")
    result = minimize(p, [0.0], rules.gd(0.3), steps=10)
    assert result.status_name == "non_finite" and result.nit == 1
    assert "nan" in result.message and "at step 2" in result.message
    assert np.isfinite(result.fun) and np.all(np.isfinite(result.losses))
    assert np.all(np.isfinite(result.xs)) and np.all(np.isfinite(result.ys))


# --------------------------------------------------------------------------- hig._batches
@pytest.mark.parametrize("n, batch_size", [(6, 2), (6, 3), (8, 1), (12, 4)])
def test_every_epoch_covers_every_sample_when_the_batch_size_divides_n(n, batch_size):
    """Kills the off-by-one ``range(0, n - batch_size, batch_size)`` that skips each epoch's last batch."""
    batches = hig._batches(n, batch_size, np.random.default_rng(0))
    per_epoch = n // batch_size
    for _ in range(4):
        epoch = np.concatenate([next(batches) for _ in range(per_epoch)])
        np.testing.assert_array_equal(np.sort(epoch), np.arange(n))


def test_batches_when_the_size_does_not_divide_n_and_when_it_is_n():
    batches = hig._batches(7, 3, np.random.default_rng(1))
    for _ in range(3):
        first, second = next(batches), next(batches)  # an epoch: two batches, the 7th sample left out
        assert len(first) == len(second) == 3 and not set(first) & set(second)
    full = hig._batches(5, 5, np.random.default_rng(2))
    np.testing.assert_array_equal(next(full), np.arange(5))


# --------------------------------------------------------------------------- HIG training: blow-up at the last step
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


def test_training_checks_for_a_blow_up_at_a_last_step_that_is_not_an_evaluation_step():
    """Gauss-Newton with eta = 11 on a square linear model multiplies the residual by -10 per step.

    The loss is 1e2, 1e4, 1e6 times its start after steps 1, 2, 3; with ``eval_every=2`` step 2 is
    evaluated (1e4 < blowup = 1e5) and step 3 only because it is the last.  Kills ``last = k == steps``
    -> ``last = False`` (or ``k == steps + 1``): the run then ends ``max_steps`` with the blown-up loss.
    """
    rng = np.random.default_rng(0)
    M = rng.normal(size=(3, 2, 6))
    model, inputs, targets = LinearModel(M), np.arange(3.0)[:, None], rng.normal(size=(3, 2))
    result = hig.train(model, np.zeros(6), inputs, targets, method="gn", eta=11.0, steps=3, tau=0.0,
                       eval_every=2, blowup=1e5)
    assert result.status_name == "diverged" and result.nit == 3
    assert result.iterations.tolist() == [0, 2, 3]
    np.testing.assert_allclose(result.losses / result.losses[0], [1.0, 1e4, 1e6], rtol=1e-8)
    assert "at step 3" in result.message
    # with a larger blowup the same run ends normally, its last step still evaluated
    calm = hig.train(model, np.zeros(6), inputs, targets, method="gn", eta=11.0, steps=3, tau=0.0,
                     eval_every=2, blowup=1e7)
    assert calm.status_name == "max_steps" and calm.iterations.tolist() == [0, 2, 3]


# --------------------------------------------------------------------------- inverses at the edges of their cases
def test_square_second_inverse_at_x0_on_the_fold_takes_the_positive_root():
    """x0_2 = 0 lies on the fold of y2 = x2^2: both roots are equally close and the rule is the positive one.

    Kills ``x0[1] >= 0`` -> ``x0[1] > 0``; PG from x2 = 0 must not flip the sign convention of its start.
    """
    np.testing.assert_array_equal(problems.square_second().invert([1.0, 4.0], [5.0, 0.0]), [1.0, 2.0])
    np.testing.assert_array_equal(problems.square_second().invert([1.0, 4.0], [5.0, -0.0]), [1.0, 2.0])


def test_scalar_square_inverse_of_zero_is_zero():
    """y = 0 is in the range of y = x^2 (kills ``y < 0`` -> ``y <= 0``)."""
    np.testing.assert_array_equal(problems.scalar_square().invert([0.0], [-3.0]), [0.0])


def test_alpha_scaled_inverse_divides_by_alpha():
    """Kills ``y / diagonal`` -> ``y * diagonal`` (the same for alpha = 1, the only value other tests invert)."""
    p = problems.alpha_scaled(10.0)
    np.testing.assert_allclose(p.invert([1.0, 10.0], [0.0, 0.0]), [1.0, 1.0], rtol=1e-15)
    np.testing.assert_allclose(p.output(p.invert([3.0, -4.0], [0.0, 0.0])), [3.0, -4.0], rtol=1e-15)


# --------------------------------------------------------------------------- driver: tolerance boundaries
def test_a_loss_exactly_at_the_tolerance_has_converged():
    """GD with eta = 1/2 on L = x^2/2 from x = 1: L_k = 0.5 * 0.25^k, exact in binary.

    Kills ``loss <= threshold`` -> ``loss < threshold`` in the loop (and tol = 0 reached exactly).
    """
    p = _half_square()
    exact = minimize(p, [1.0], rules.gd(0.5), steps=50, tol=0.5 * 0.25**3)
    assert (exact.status_name, exact.nit, exact.fun) == ("converged", 3, 0.5 * 0.25**3)
    relative = minimize(p, [1.0], rules.gd(0.5), steps=50, rtol=0.25**3)
    assert (relative.status_name, relative.nit) == ("converged", 3)
    zero = minimize(p, [1.0], rules.gd(1.0), steps=50)  # lands on x = 0: L = 0 = tol
    assert (zero.status_name, zero.nit, zero.fun) == ("converged", 1, 0.0)


def test_the_batch_loss_is_the_mean_over_the_batch():
    """``batch_losses[k]`` is the mean loss over the batch of step k + 1 (kills dividing by n instead)."""
    rng = np.random.default_rng(3)
    model = LinearModel(rng.normal(size=(6, 2, 4)))
    inputs, targets, theta0 = np.arange(6.0)[:, None], rng.normal(size=(6, 2)), rng.normal(size=4)
    result = hig.train(model, theta0, inputs, targets, method="gn", eta=0.5, steps=1, batch_size=2, rng=7)
    batch = next(hig._batches(6, 2, np.random.default_rng(7)))
    residual = model.forward(theta0, inputs[batch]) - targets[batch]
    assert result.batch_losses[0] == pytest.approx(0.5 * np.sum(residual**2) / 2, rel=1e-14)
    assert result.losses[0] == pytest.approx(0.5 * np.sum((model.forward(theta0, inputs) - targets) ** 2) / 6,
                                             rel=1e-14)
