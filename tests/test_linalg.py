"""companion.linalg: fractional SVD powers, truncation, solve and its errors."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from companion import linalg
from companion.errors import SingularMatrixError

SETTINGS = settings(deadline=None, max_examples=60)


@st.composite
def well_conditioned(draw, square=False, max_n=5, log_spread=1.0):
    """A random matrix U diag(s) V^T with singular values in 10^[-spread, spread]."""
    rows = draw(st.integers(1, max_n))
    cols = rows if square else draw(st.integers(1, max_n))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    k = min(rows, cols)
    exponents = draw(st.lists(st.floats(-log_spread, log_spread), min_size=k, max_size=k))
    u = np.linalg.qr(rng.normal(size=(rows, rows)))[0][:, :k]
    v = np.linalg.qr(rng.normal(size=(cols, cols)))[0][:, :k]
    return (u * 10.0 ** np.array(exponents)) @ v.T


@st.composite
def spd(draw, max_n=5):
    n = draw(st.integers(1, max_n))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    q = np.linalg.qr(rng.normal(size=(n, n)))[0]
    eigenvalues = 10.0 ** np.array(draw(st.lists(st.floats(-1.5, 1.5), min_size=n, max_size=n)))
    return (q * eigenvalues) @ q.T


# --------------------------------------------------------------------------- svd_power
@SETTINGS
@given(well_conditioned())
def test_power_one_is_the_transpose(a):
    np.testing.assert_allclose(linalg.svd_power(a, 1), a.T, rtol=1e-12, atol=1e-12 * np.abs(a).max())


@SETTINGS
@given(well_conditioned())
def test_power_minus_one_is_the_pseudo_inverse(a):
    expected = np.linalg.pinv(a)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(linalg.svd_power(a, -1), expected, rtol=1e-10, atol=1e-11 * scale)
    np.testing.assert_allclose(linalg.pinv(a), expected, rtol=1e-10, atol=1e-11 * scale)
    assert linalg.svd_power(a, -1).shape == a.T.shape


@SETTINGS
@given(well_conditioned(square=True))
def test_power_minus_one_of_a_square_matrix_is_its_inverse(a):
    np.testing.assert_allclose(linalg.svd_power(a, -1) @ a, np.eye(len(a)), atol=1e-10)


@SETTINGS
@given(spd())
def test_half_inverse_squared_is_the_inverse(a):
    half = linalg.svd_power(a, -0.5)
    np.testing.assert_allclose(half, half.T, atol=1e-10 * np.abs(half).max())
    np.testing.assert_allclose(half @ half, np.linalg.inv(a), rtol=1e-9, atol=1e-10 * np.abs(half @ half).max())
    # and it really is a *half* inverse: A^{-1/2} A A^{-1/2} = I
    np.testing.assert_allclose(half @ a @ half, np.eye(len(a)), atol=1e-9)


@SETTINGS
@given(spd())
def test_half_power_is_the_square_root(a):
    root = linalg.svd_power(a, 0.5)
    np.testing.assert_allclose(root @ root, a, rtol=1e-9, atol=1e-10 * np.abs(a).max())


@SETTINGS
@given(well_conditioned(), st.floats(-2.0, 2.0))
def test_power_acts_on_singular_values(a, kappa):
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    expected = (vt.T * s**kappa) @ u.T
    np.testing.assert_allclose(linalg.svd_power(a, kappa), expected, rtol=1e-8, atol=1e-10 * np.abs(expected).max())


def test_docstring_example_half_inverse():
    np.testing.assert_allclose(linalg.svd_power(np.diag([4.0, 0.25]), -0.5), np.diag([0.5, 2.0]))


def test_truncation_drops_small_singular_values_instead_of_clamping():
    a = np.diag([1.0, 1e-14])
    inverse = linalg.svd_power(a, -1)  # default rtol = 1e-12: 1e-14 is dropped
    np.testing.assert_array_equal(inverse, np.diag([1.0, 0.0]))
    np.testing.assert_array_equal(linalg.svd_power(a, -0.5), np.diag([1.0, 0.0]))
    # a smaller rtol keeps it, and inverts it exactly
    np.testing.assert_allclose(linalg.svd_power(a, -1, rtol=1e-15), np.diag([1.0, 1e14]))
    # a value just above the threshold is kept, just below dropped
    b = np.diag([2.0, 1e-3])
    np.testing.assert_allclose(linalg.pinv(b, rtol=0.4e-3), np.diag([0.5, 1e3]))
    np.testing.assert_allclose(linalg.pinv(b, rtol=0.6e-3), np.diag([0.5, 0.0]))


@SETTINGS
@given(well_conditioned(log_spread=0.5), st.integers(1, 4))
def test_truncation_agrees_with_numpy_pinv_on_rank_deficient_matrices(a, drop):
    """Zero out the smallest singular values: the pseudo-inverse of the remaining rank."""
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    drop = min(drop, s.size - 1) if s.size > 1 else 0
    s_small = s.copy()
    if drop:
        s_small[-drop:] = s[0] * 1e-14
    deficient = (u * s_small) @ vt
    expected = np.linalg.pinv(deficient, rcond=1e-12)
    result = linalg.pinv(deficient)
    np.testing.assert_allclose(result, expected, atol=1e-9 * np.abs(expected).max())
    # truncated: the norm stays of order 1/s_min of the kept part, no 1e14 from clamping
    assert np.linalg.norm(result, 2) <= 1.0001 / s_small[s_small > 1e-12 * s[0]].min()


def test_zero_matrix_has_zero_pseudo_inverse():
    np.testing.assert_array_equal(linalg.pinv(np.zeros((2, 3))), np.zeros((3, 2)))


@pytest.mark.parametrize("kappa", [True, "1", float("nan"), [1.0]])
def test_bad_kappa_is_rejected(kappa):
    with pytest.raises(TypeError, match="kappa"):
        linalg.svd_power(np.eye(2), kappa)


@pytest.mark.parametrize("rtol", [-0.1, 1.0, float("nan")])
def test_bad_rtol_is_rejected(rtol):
    with pytest.raises(ValueError, match="rtol"):
        linalg.svd_power(np.eye(2), -1, rtol=rtol)


def test_bad_matrices_are_named():
    with pytest.raises(ValueError, match="J must be a 2-D matrix"):
        linalg.svd_power(np.ones(3), 1, name="J")
    with pytest.raises(ValueError, match="H contains 1 non-finite"):
        linalg.pinv(np.array([[1.0, np.nan], [0.0, 1.0]]), name="H")


# --------------------------------------------------------------------------- solve / lstsq
@SETTINGS
@given(well_conditioned(square=True), st.data())
def test_solve_solves(a, data):
    b = data.draw(st.lists(st.floats(-10, 10), min_size=len(a), max_size=len(a)))
    x = linalg.solve(a, b)
    np.testing.assert_allclose(a @ x, b, atol=1e-9 * (1 + np.abs(b).max()))
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-9, atol=1e-10 * (1 + np.abs(x).max()))


def test_solve_raises_for_a_singular_matrix_and_names_it():
    with pytest.raises(SingularMatrixError, match=r"the Hessian of 'toy' is singular.*condition number inf.*use gd"):
        linalg.solve(np.diag([1.0, 0.0]), [1.0, 1.0], name="the Hessian of 'toy'", remedy="use gd")
    with pytest.raises(SingularMatrixError, match="rank one is singular"):
        linalg.solve(np.array([[1.0, 2.0], [2.0, 4.0]]), [1.0, 1.0], name="rank one")
    with pytest.raises(SingularMatrixError, match=r"A is singular or nearly so \(condition number 1e\+13"):
        linalg.solve(np.diag([1.0, 1e-13]), [1.0, 1.0], name="A")
    with pytest.raises(SingularMatrixError, match="zero matrix is singular"):
        linalg.solve(np.zeros((2, 2)), [1.0, 1.0], name="zero matrix")
    # a matrix just inside the threshold is solved
    np.testing.assert_allclose(linalg.solve(np.diag([1.0, 1e-11]), [1.0, 1.0]), [1.0, 1e11])


def test_solve_raises_for_a_non_square_matrix_and_names_it():
    with pytest.raises(SingularMatrixError, match=r"J is not square \(shape \(3, 2\)\).*try lstsq"):
        linalg.solve(np.ones((3, 2)), [1.0, 1.0, 1.0], name="J", remedy="try lstsq")


def test_singular_matrix_error_is_a_value_error():
    with pytest.raises(ValueError):
        linalg.solve(np.zeros((2, 2)), [1.0, 1.0])
    assert issubclass(SingularMatrixError, np.linalg.LinAlgError)


def test_solve_checks_the_right_hand_side():
    with pytest.raises(ValueError, match="rhs must have 2 components, got 3"):
        linalg.solve(np.eye(2), [1.0, 2.0, 3.0])


@SETTINGS
@given(well_conditioned(), st.data())
def test_lstsq_is_the_minimum_norm_least_squares_solution(a, data):
    b = np.array(data.draw(st.lists(st.floats(-10, 10), min_size=a.shape[0], max_size=a.shape[0])))
    expected = np.linalg.lstsq(a, b, rcond=None)[0]
    np.testing.assert_allclose(linalg.lstsq(a, b), expected, atol=1e-9 * (1 + np.abs(expected).max()))


def test_condition_number():
    assert linalg.condition_number(np.diag([1.0, 1e-3])) == pytest.approx(1000.0)
    assert linalg.condition_number(np.diag([1.0, 0.0])) == float("inf")
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert linalg.condition_number(a) == pytest.approx(np.linalg.cond(a), rel=1e-12)


# --------------------------------------------------------------------------- unit-free truncation
unit_exponents = st.lists(st.floats(-12, 12), min_size=5, max_size=5)


@SETTINGS
@given(matrix=well_conditioned(max_n=5), exponents=unit_exponents, seed=st.integers(0, 2**32 - 1))
def test_unit_free_lstsq_maps_back_under_a_change_of_units(matrix, exponents, seed):
    """A S^{-1}-scaled problem: x(A S) = S^{-1} x(A), and the same modes dropped, for S from 1e-12 to 1e12."""
    rows, cols = matrix.shape
    scale = 10.0 ** np.array(exponents[:cols])
    rhs = np.random.default_rng(seed).normal(size=rows)
    x, info = linalg.unit_free_lstsq(matrix, rhs)
    z, scaled_info = linalg.unit_free_lstsq(matrix * scale, rhs)
    np.testing.assert_allclose(z * scale, x, rtol=1e-8, atol=1e-10 * np.abs(x).max())
    assert (scaled_info.dropped, scaled_info.modes) == (info.dropped, info.modes)
    assert scaled_info.condition == pytest.approx(info.condition, rel=1e-6)


@SETTINGS
@given(matrix=well_conditioned(max_n=4), seed=st.integers(0, 2**32 - 1))
def test_unit_free_lstsq_is_the_least_squares_solution_for_full_column_rank(matrix, seed):
    rows, cols = matrix.shape
    rhs = np.random.default_rng(seed).normal(size=rows)
    x, info = linalg.unit_free_lstsq(matrix, rhs)
    if rows >= cols:
        np.testing.assert_allclose(x, np.linalg.lstsq(matrix, rhs, rcond=None)[0], rtol=1e-8, atol=1e-10)
    else:  # underdetermined: exact, and the smallest |D x| among the solutions
        np.testing.assert_allclose(matrix @ x, rhs, atol=1e-9 * (1 + np.abs(rhs).max()))
        d = np.linalg.norm(matrix, axis=0)
        null = np.linalg.svd(matrix)[2][rows:].T
        assert np.allclose((null.T * d) @ (d * x), 0.0, atol=1e-9 * (1 + np.abs(d * x).max()))
    assert info.dropped == 0 and info.modes == min(rows, cols)


def test_unit_free_truncation_boundary_and_refusal():
    # unit-free singular values of [[1, 1], [1, 1 + e]] / column norms: about 2 and e / 2
    nearly = np.array([[1.0, 1.0], [1.0, 1.0 + 1e-6]])
    s = np.linalg.svd(nearly / np.linalg.norm(nearly, axis=0), compute_uv=False)
    ratio = s[1] / s[0]
    assert linalg.unit_free_lstsq(nearly, [1.0, 1.0], rtol=0.999 * ratio)[1].dropped == 0
    assert linalg.unit_free_lstsq(nearly, [1.0, 1.0], rtol=ratio)[1].dropped == 1  # s <= rtol s_max is dropped
    assert linalg.unit_free_lstsq(nearly, [1.0, 1.0], rtol=0.0)[1].dropped == 0
    with pytest.raises(SingularMatrixError, match="unit-free condition number.*1/rtol = 1e\\+06"):
        linalg.unit_free_lstsq(nearly, [1.0, 1.0], rtol=1e-6, truncate=False)
    with pytest.raises(SingularMatrixError, match="not square"):
        linalg.unit_free_lstsq(np.ones((3, 2)), np.ones(3), truncate=False)
    zero = linalg.unit_free_lstsq(np.zeros((2, 2)), [1.0, 1.0])
    np.testing.assert_array_equal(zero[0], 0.0)
    assert zero[1].dropped == 2 and zero[1].condition == float("inf")


@SETTINGS
@given(n=st.integers(2, 5), seed=st.integers(0, 2**32 - 1), exponents=unit_exponents,
       zeros=st.lists(st.booleans(), min_size=5, max_size=5))
def test_symmetric_scales_follow_the_units_even_with_zero_diagonal_entries(n, seed, exponents, zeros):
    """d(S H S) = |S| d(H), so D^{-1} H D^{-1} is unit-free (a saddle's zero diagonal included)."""
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(n, n))
    hessian = m + m.T
    zero = np.array(zeros[:n])
    if zero.all():
        zero[0] = False
    hessian[np.diag_indices(n)] = np.where(zero, 0.0, np.diag(hessian))
    scale = 10.0 ** np.array(exponents[:n]) * np.where(rng.random(n) < 0.5, -1.0, 1.0)
    np.testing.assert_allclose(linalg.symmetric_scales(hessian * np.outer(scale, scale)),
                               np.abs(scale) * linalg.symmetric_scales(hessian), rtol=1e-12)
    x, info = linalg.unit_free_symmetric_solve(hessian, np.ones(n))
    z, scaled_info = linalg.unit_free_symmetric_solve(hessian * np.outer(scale, scale), scale * np.ones(n))
    np.testing.assert_allclose(z * scale, x, rtol=1e-7, atol=1e-9 * np.abs(x).max())
    assert scaled_info.dropped == info.dropped


def test_unit_free_symmetric_solve_refuses_or_truncates_a_singular_matrix():
    rank_one = np.array([[1.0, 2.0], [2.0, 4.0]])
    with pytest.raises(SingularMatrixError, match="singular"):
        linalg.unit_free_symmetric_solve(rank_one, [1.0, 2.0], truncate=False)
    x, info = linalg.unit_free_symmetric_solve(rank_one, [1.0, 2.0])
    np.testing.assert_allclose(rank_one @ x, [1.0, 2.0])
    assert info.dropped == 1
    with pytest.raises(SingularMatrixError, match="square"):
        linalg.unit_free_symmetric_solve(np.ones((2, 3)), [1.0, 1.0])
