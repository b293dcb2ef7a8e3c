r"""The 1D heat equation, solved exactly in Fourier space.

The state is a temperature profile :math:`u(x)` sampled at :math:`n` equally
spaced points :math:`x_j = j/n` of the periodic domain :math:`[0, 1)`.  The
heat equation

.. math::
    \partial_t u = \nu\, \partial_{xx} u

diagonalises in the discrete Fourier basis: mode :math:`m = 0, \dots,
\lfloor n/2 \rfloor` with wavenumber :math:`k_m = 2\pi m` decays by the
*gain*

.. math::
    g_m = e^{-\nu t\, k_m^2} \in (0, 1],

so the simulator after time :math:`t` is

.. math::
    P(x) = \mathcal F^{-1}\big(g \odot \mathcal F(x)\big)

with the real FFT :math:`\mathcal F` (``numpy.fft.rfft``).  Only the product
``nu_t`` :math:`= \nu t` matters.  This is the exact solution of the spectrally
discretised equation :math:`\dot u = \nu D_2 u` (with :math:`D_2` the periodic
Fourier second-derivative matrix): :math:`P = e^{\nu t D_2}`, linear, circulant
and symmetric, with eigenvalues :math:`g_m`.  The mean (mode 0, :math:`g_0 =
1`) is conserved: heat is neither created nor lost.

Inversion is the problem: :math:`P^{-1}` multiplies mode :math:`m` by
:math:`1/g_m = e^{\nu t k_m^2}`, which is astronomically large for the short
wavelengths.  Any noise in :math:`y` that lands in those modes is amplified by
the same factor, so :meth:`HeatOperator.apply_inverse` inverts only the modes
with :math:`g_m >` ``cutoff``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .._checks import as_real_array, check_finite, check_fraction, check_int
from ..errors import NonFiniteError
from ..problems import Loss, Problem, squared_error

__all__ = ["HeatOperator", "heat_operator", "heat_problem", "random_boxes", "add_noise", "grid"]


# --------------------------------------------------------------------------- checks
def _nonnegative(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


def _as_profiles(value, name: str, n: int) -> np.ndarray:
    """``value`` as a finite float array whose last axis has length ``n``."""
    array = as_real_array(value, name).copy()
    if array.ndim == 0 or array.shape[-1] != n:
        raise ValueError(
            f"{name} must have {n} grid values along its last axis, got shape {array.shape}"
        )
    check_finite(array, name)
    return array


def _check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy Generator such as np.random.default_rng(0), got {type(rng).__name__}"
        )
    return rng


def _check_range(value, name: str, *, low: float = -np.inf, high: float = np.inf) -> tuple[float, float]:
    try:
        if isinstance(value, (str, bytes)) or any(isinstance(v, (bool, np.bool_, str, bytes)) for v in value):
            raise TypeError
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (low, high) of numbers, got {value!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi or lo < low or hi > high:
        raise ValueError(f"{name} must be a pair low <= high within [{low}, {high}], got {value!r}")
    return lo, hi


def grid(n: int) -> np.ndarray:
    r"""The grid points :math:`x_j = j/n`, :math:`j = 0, \dots, n-1`, of :math:`[0, 1)`.

    >>> grid(4)
    array([0.  , 0.25, 0.5 , 0.75])
    """
    n = check_int(n, "n", minimum=1)
    return np.arange(n) / n


# --------------------------------------------------------------------------- operator
@dataclass(frozen=True)
class HeatOperator:
    r"""The heat flow :math:`P = e^{\nu t D_2}` on :math:`n` periodic points of :math:`[0, 1)`.

    Build it with :func:`heat_operator`.  ``gains[m]`` is
    :math:`g_m = e^{-\nu t (2\pi m)^2}` for the real-FFT modes
    :math:`m = 0, \dots, \lfloor n/2 \rfloor`; every method acts on the last
    axis, so a stack of profiles of shape ``(..., n)`` is processed at once.
    """

    n: int
    nu_t: float
    wavenumbers: np.ndarray
    gains: np.ndarray

    def apply(self, x) -> np.ndarray:
        r""":math:`P(x) = \mathcal F^{-1}(g \odot \mathcal F x)`.

        >>> op = heat_operator(4, 0.01)
        >>> op.apply([1.0, 1.0, 1.0, 1.0])
        array([1., 1., 1., 1.])
        """
        x = _as_profiles(x, "x", self.n)
        with np.errstate(over="ignore", invalid="ignore"):
            y = np.fft.irfft(self.gains * np.fft.rfft(x, axis=-1), n=self.n, axis=-1)
        if not np.all(np.isfinite(y)):
            raise NonFiniteError(
                f"the heat flow overflowed: x holds values up to {np.abs(x).max():.3g}; rescale x"
            )
        return y

    def matrix(self) -> np.ndarray:
        r"""The dense Jacobian :math:`J = \partial P/\partial x`, an ``(n, n)`` matrix.

        :math:`P` is linear, so :math:`J` is :math:`P` itself: circulant
        (:math:`J_{ij}` depends on :math:`i - j \bmod n` only), symmetric,
        with eigenvalues :math:`g_m` and rows summing to 1.

        >>> J = heat_operator(3, 0.01).matrix()
        >>> np.allclose(J, J.T), np.allclose(J.sum(axis=1), 1.0)
        (True, True)
        """
        # Row i of apply(I) is P(e_i) = column i of J; J is symmetric anyway.
        return np.ascontiguousarray(self.apply(np.eye(self.n)).T)

    def retained(self, cutoff: float) -> np.ndarray:
        r"""Boolean mask of the modes with :math:`g_m >` ``cutoff``, those an inverse recovers.

        Gains below the smallest normal float are never retained (their
        reciprocal overflows).

        >>> heat_operator(8, 0.01).retained(0.1)
        array([ True,  True,  True, False, False])
        """
        cutoff = check_fraction(cutoff, "cutoff")
        return (self.gains > cutoff) & (self.gains >= np.finfo(float).tiny)

    def apply_inverse(self, y, *, cutoff: float, x0=None) -> np.ndarray:
        r"""The regularised inverse: undo the decay of the modes with :math:`g_m >` ``cutoff``.

        .. math::
            \hat x_m = \begin{cases} \hat y_m / g_m & g_m > c \\
                                     \hat x_{0,m} & g_m \le c \end{cases}

        with :math:`\hat x_0 = 0` when ``x0`` is ``None`` (the truncated
        pseudo-inverse :math:`R y`) and the current guess' component otherwise
        (the local inverse :math:`x_0 + R\,(y - P(x_0))`).  ``cutoff = 0``
        inverts every mode whose gain is a normal float: exact for clean data,
        disastrous for noisy data (noise in mode :math:`m` is multiplied by
        :math:`1/g_m`).  Raises ``ValueError`` if the result overflows.

        >>> op = heat_operator(8, 1e-3)
        >>> x = np.sin(2 * np.pi * grid(8))
        >>> np.allclose(op.apply_inverse(op.apply(x), cutoff=0.0), x)
        True
        """
        keep = self.retained(cutoff)
        y = _as_profiles(y, "y", self.n)
        y_hat = np.fft.rfft(y, axis=-1)
        if x0 is None:
            x_hat = np.zeros_like(y_hat)
        else:
            x_hat = np.fft.rfft(_as_profiles(x0, "x0", self.n), axis=-1) * np.ones_like(y_hat)
        with np.errstate(over="ignore", invalid="ignore"):
            x_hat[..., keep] = y_hat[..., keep] / self.gains[keep]
            x = np.fft.irfft(x_hat, n=self.n, axis=-1)
        if not np.all(np.isfinite(x)):
            raise ValueError(
                f"the inverse heat flow overflowed (1/g up to {1 / self.gains[keep].min():.3g}); "
                f"raise cutoff (now {cutoff:g})"
            )
        return x


def heat_operator(n: int, nu_t: float) -> HeatOperator:
    r"""The heat flow over :math:`\nu t` = ``nu_t`` on :math:`n` periodic points of :math:`[0, 1)`.

    Mode :math:`m` (wavenumber :math:`k_m = 2\pi m`) is damped by
    :math:`g_m = e^{-\nu t k_m^2}`; ``nu_t = 0`` is the identity.

    >>> op = heat_operator(8, 1e-3)
    >>> op.gains.round(3)
    array([1.   , 0.961, 0.854, 0.701, 0.532])
    >>> round(float(op.apply(np.sin(2 * np.pi * grid(8)))[2]), 4)  # sin(pi/2) e^{-4 pi^2 nu t}
    0.9613
    """
    n = check_int(n, "n", minimum=1)
    nu_t = _nonnegative(nu_t, "nu_t")
    k = 2.0 * np.pi * np.arange(n // 2 + 1)
    with np.errstate(over="ignore", under="ignore"):  # a huge nu_t damps every mode but the mean to 0
        gains = np.exp(-nu_t * k**2)
    k.flags.writeable = False
    gains.flags.writeable = False
    return HeatOperator(n, nu_t, k, gains)


# --------------------------------------------------------------------------- problem
def heat_problem(n: int, nu_t: float, target, *, cutoff: float = 1e-6, loss: Optional[Loss] = None) -> Problem:
    r"""Recover the initial temperature :math:`x` from the profile :math:`y^* \approx P(x)` after time :math:`t`.

    * simulator :math:`P(x) = e^{\nu t D_2} x` (:meth:`HeatOperator.apply`);
    * Jacobian: the dense, symmetric, circulant :math:`J`, built on first use
      and cached (read-only);
    * Hessian of :math:`L` in :math:`x`: :math:`P` is linear, so its second
      derivatives vanish and :math:`\partial^2 L/\partial x^2 = J^\top
      L_{yy}(P(x))\, J` exactly (:math:`cJ^\top J` for ``squared_error(c)``).
      The problem is declared ``affine=True`` rather than given an all-zero
      ``second_derivatives`` tensor of :math:`n^3` entries.  Newton then has
      to invert :math:`J^\top J`, with condition number :math:`1/g_{\min}^2`:
      it fails as soon as the high modes are damped below about
      :math:`10^{-6}`;
    * local inverse

      .. math::
          P^{-1}(y; x_0) = x_0 + R\,(y - P(x_0)),

      with :math:`R` the truncated inverse (:math:`1/g_m` on the modes with
      :math:`g_m >` ``cutoff``, zero on the others).  Retained modes are set
      so that :math:`P(x)` matches :math:`y` exactly; damped modes keep the
      current guess' component.  Those modes have been multiplied by less than
      ``cutoff``: their content in :math:`y` is below any realistic noise
      level and cannot be recovered, and the inverse simulator leaves them
      where the guess has them instead of amplifying noise by up to
      :math:`1/g_m`.  Choose ``cutoff`` near the relative noise level of the
      data.

    The loss defaults to :func:`~companion.problems.squared_error`;
    ``with_target`` gives the same problem for another observation.

    >>> from companion import minimize, rules
    >>> x_true = np.cos(2 * np.pi * grid(16))
    >>> p = heat_problem(16, 1e-3, heat_operator(16, 1e-3).apply(x_true))
    >>> result = minimize(p, np.zeros(16), rules.pg(), tol=1e-20)
    >>> result.nit, bool(np.allclose(result.x, x_true))
    (1, True)
    """
    op = heat_operator(n, nu_t)
    cutoff = check_fraction(cutoff, "cutoff")
    target = _as_profiles(target, "target", op.n)
    if target.ndim != 1:
        raise ValueError(f"target must be a 1-D profile of {op.n} values, got shape {target.shape}")
    if loss is None:
        loss = squared_error()
    elif not isinstance(loss, Loss):
        raise TypeError(f"loss must be a companion.problems.Loss or None, got {type(loss).__name__}")
    cache: dict[str, np.ndarray] = {}

    def jacobian(x):
        if "J" not in cache:
            matrix = op.matrix()
            matrix.flags.writeable = False
            cache["J"] = matrix
        return cache["J"]

    def inverse(y, x0):
        return op.apply_inverse(y, cutoff=cutoff, x0=x0)

    return Problem(
        simulator=op.apply,
        jacobian=jacobian,
        target=target,
        loss=loss,
        inverse=inverse,
        name=f"heat (n={op.n}, nu t={op.nu_t:g})",
        affine=True,
        vjp=lambda x, v: op.apply(v),  # J is symmetric: J^T v = P(v), one FFT pair
    )


# --------------------------------------------------------------------------- data
def random_boxes(n: int, count: int, rng, *, amplitude=(0.5, 1.0), width=(0.05, 0.25),
                 samples: Optional[int] = None) -> np.ndarray:
    r"""Initial temperatures made of ``count`` random hot boxes on the periodic grid of :math:`[0, 1)`.

    .. math::
        x_j = \sum_{b=1}^{\text{count}} h_b\, \mathbf 1\big[(x_j - s_b) \bmod 1 < w_b\big]

    with start :math:`s_b \sim U[0, 1)`, width :math:`w_b \sim U`\ ``width``
    (a fraction of the domain, wrapping around) and height
    :math:`h_b \sim U`\ ``amplitude``, all drawn from ``rng`` (deterministic
    for a seeded generator).  Returns shape ``(n,)``, or ``(samples, n)``.

    >>> x = random_boxes(8, 2, np.random.default_rng(0))
    >>> x.shape, bool(np.all(x >= 0))
    ((8,), True)
    """
    n = check_int(n, "n", minimum=1)
    count = check_int(count, "count", minimum=0)
    rng = _check_rng(rng)
    lo_h, hi_h = _check_range(amplitude, "amplitude")
    lo_w, hi_w = _check_range(width, "width", low=0.0, high=1.0)
    shape = () if samples is None else (check_int(samples, "samples", minimum=1),)
    start = rng.uniform(0.0, 1.0, shape + (count, 1))
    widths = rng.uniform(lo_w, hi_w, shape + (count, 1))
    heights = rng.uniform(lo_h, hi_h, shape + (count, 1))
    inside = np.mod(grid(n) - start, 1.0) < widths
    return np.sum(heights * inside, axis=-2)


def add_noise(y, level: float, rng) -> np.ndarray:
    r"""``y`` plus independent Gaussian noise of standard deviation ``level`` (any shape).

    .. math::
        \tilde y = y + \sigma\, \xi, \qquad \xi \sim \mathcal N(0, I)

    >>> add_noise(np.zeros(3), 0.0, np.random.default_rng(0))
    array([0., 0., 0.])
    """
    level = _nonnegative(level, "level")
    rng = _check_rng(rng)
    y = as_real_array(y, "y").copy()
    check_finite(y, "y")
    with np.errstate(over="ignore", invalid="ignore"):
        noisy = y + level * rng.standard_normal(y.shape)
    if not np.all(np.isfinite(noisy)):
        raise ValueError(f"y plus noise of level {level:g} overflows; use a smaller level or rescale y")
    return noisy
