r"""Nonlinear least-squares test problems of Moré, Garbow & Hillstrom :cite:`more1981testing`.

Each problem is a residual :math:`r: \mathbb{R}^n \to \mathbb{R}^m` with its
analytic Jacobian, the standard start :math:`x_0` and the known minimum values
of :math:`F(x) = \sum_i r_i(x)^2` (the paper's convention; the course's loss is
:math:`L = F/2`).  Where the paper lists several local minima (Freudenstein &
Roth, Biggs EXP6) every listed value counts as a solution.

:func:`problem` returns a :class:`~companion.problems.Problem` with target 0,
whose second derivatives are central differences of the analytic Jacobian (so
Newton-type rules can run on it without extra residual evaluations).

>>> [case.name for case in CASES][:3]
['Rosenbrock', 'Freudenstein-Roth', 'Powell badly scaled']
>>> p = problem("Rosenbrock")
>>> float(2 * p.loss_at(CASES[0].x0))  # F(x0) = 24.2 in the paper
24.2
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .problems import Problem

__all__ = ["NLSCase", "CASES", "problem", "case", "names", "Count", "counted", "Outcome", "run_rule", "run_scipy"]


@dataclass(frozen=True)
class NLSCase:
    r"""One test problem: residual, Jacobian, standard start and known minimum values of :math:`F = |r|^2`."""

    name: str
    residual: Callable[[np.ndarray], np.ndarray]
    jacobian: Callable[[np.ndarray], np.ndarray]
    x0: np.ndarray
    minima: tuple

    def solved(self, value: float, rtol: float = 1e-5, atol: float = 1e-10) -> bool:
        r"""Whether :math:`F = |r|^2` is one of the known minimum values (or below the lowest).

        :math:`|F - F_k| \le` ``rtol`` :math:`F_k +` ``atol`` for a listed :math:`F_k`: a value
        between two listed local minima (an iterate on its way) is not a solution.
        """
        lowest = min(self.minima)
        return value <= lowest * (1 + rtol) + atol or any(
            abs(value - minimum) <= rtol * minimum + atol for minimum in self.minima)

    def second_derivatives(self, x) -> np.ndarray:
        r""":math:`\partial^2 r_i / \partial x_a \partial x_b` by central differences of the analytic Jacobian.

        Step :math:`h_b = 10^{-5} \max(|x_b|, 1)`; the result is symmetrised.
        """
        x = np.asarray(x, dtype=float)
        h = 1e-5 * np.maximum(np.abs(x), 1.0)
        columns = []
        for b in range(x.size):
            e = np.zeros_like(x)
            e[b] = h[b]
            columns.append((self.jacobian(x + e) - self.jacobian(x - e)) / (2 * h[b]))
        second = np.stack(columns, axis=2)  # [i, a, b] = d J_ia / d x_b
        return 0.5 * (second + second.transpose(0, 2, 1))

    def problem(self) -> Problem:
        """The case as a :class:`~companion.problems.Problem` with target 0 and loss :math:`|r|^2/2`."""
        m = self.residual(self.x0).size
        return Problem(self.residual, self.jacobian, np.zeros(m), name=self.name,
                       second_derivatives=self.second_derivatives)


def _rosenbrock():
    def r(x):
        return np.array([10 * (x[1] - x[0] ** 2), 1 - x[0]])

    def j(x):
        return np.array([[-20 * x[0], 10.0], [-1.0, 0.0]])

    return NLSCase("Rosenbrock", r, j, np.array([-1.2, 1.0]), (0.0,))


def _freudenstein_roth():
    def r(x):
        return np.array([-13 + x[0] + ((5 - x[1]) * x[1] - 2) * x[1],
                         -29 + x[0] + ((x[1] + 1) * x[1] - 14) * x[1]])

    def j(x):
        return np.array([[1.0, 10 * x[1] - 3 * x[1] ** 2 - 2], [1.0, 3 * x[1] ** 2 + 2 * x[1] - 14]])

    return NLSCase("Freudenstein-Roth", r, j, np.array([0.5, -2.0]), (0.0, 48.9842))


def _powell_badly_scaled():
    def r(x):
        return np.array([1e4 * x[0] * x[1] - 1, np.exp(-x[0]) + np.exp(-x[1]) - 1.0001])

    def j(x):
        return np.array([[1e4 * x[1], 1e4 * x[0]], [-np.exp(-x[0]), -np.exp(-x[1])]])

    return NLSCase("Powell badly scaled", r, j, np.array([0.0, 1.0]), (0.0,))


def _brown_badly_scaled():
    def r(x):
        return np.array([x[0] - 1e6, x[1] - 2e-6, x[0] * x[1] - 2])

    def j(x):
        return np.array([[1.0, 0.0], [0.0, 1.0], [x[1], x[0]]])

    return NLSCase("Brown badly scaled", r, j, np.array([1.0, 1.0]), (0.0,))


def _beale():
    y = np.array([1.5, 2.25, 2.625])
    i = np.arange(1, 4)

    def r(x):
        return y - x[0] * (1 - x[1] ** i)

    def j(x):
        return np.column_stack([-(1 - x[1] ** i), x[0] * i * x[1] ** (i - 1)])

    return NLSCase("Beale", r, j, np.array([1.0, 1.0]), (0.0,))


def _jennrich_sampson(m=10):
    i = np.arange(1, m + 1)

    def r(x):
        return 2 + 2 * i - (np.exp(i * x[0]) + np.exp(i * x[1]))

    def j(x):
        return np.column_stack([-i * np.exp(i * x[0]), -i * np.exp(i * x[1])])

    return NLSCase("Jennrich-Sampson", r, j, np.array([0.3, 0.4]), (124.362,))


def _helical_valley():
    def theta(x):
        return np.arctan2(x[1], x[0]) / (2 * np.pi)  # the paper's branch: arctan(x2/x1)/2pi (+1/2 for x1 < 0)

    def r(x):
        return np.array([10 * (x[2] - 10 * (theta(x) % 1.0 if x[0] < 0 else theta(x))),
                         10 * (np.hypot(x[0], x[1]) - 1), x[2]])

    def j(x):
        rho2 = x[0] ** 2 + x[1] ** 2
        rho = np.sqrt(rho2)
        dtheta = np.array([-x[1], x[0]]) / (2 * np.pi * rho2)
        return np.array([[-100 * dtheta[0], -100 * dtheta[1], 10.0],
                         [10 * x[0] / rho, 10 * x[1] / rho, 0.0],
                         [0.0, 0.0, 1.0]])

    return NLSCase("Helical valley", r, j, np.array([-1.0, 0.0, 0.0]), (0.0,))


def _bard():
    y = np.array([0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96, 1.34, 2.10, 4.39])
    u = np.arange(1.0, 16.0)
    v = 16 - u
    w = np.minimum(u, v)

    def r(x):
        return y - (x[0] + u / (v * x[1] + w * x[2]))

    def j(x):
        d2 = (v * x[1] + w * x[2]) ** 2
        return np.column_stack([-np.ones_like(u), u * v / d2, u * w / d2])

    return NLSCase("Bard", r, j, np.array([1.0, 1.0, 1.0]), (8.21487e-3,))


def _gaussian():
    y = np.array([0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521, 0.3989,
                  0.3521, 0.2420, 0.1295, 0.0540, 0.0175, 0.0044, 0.0009])
    t = (8 - np.arange(1.0, 16.0)) / 2

    def r(x):
        return x[0] * np.exp(-x[1] * (t - x[2]) ** 2 / 2) - y

    def j(x):
        e = np.exp(-x[1] * (t - x[2]) ** 2 / 2)
        return np.column_stack([e, -x[0] * e * (t - x[2]) ** 2 / 2, x[0] * e * x[1] * (t - x[2])])

    return NLSCase("Gaussian", r, j, np.array([0.4, 1.0, 0.0]), (1.12793e-8,))


def _meyer():
    y = np.array([34780, 28610, 23650, 19630, 16370, 13720, 11540, 9744,
                  8261, 7030, 6005, 5147, 4427, 3820, 3307, 2872], dtype=float)
    t = 45 + 5 * np.arange(1.0, 17.0)

    def r(x):
        return x[0] * np.exp(x[1] / (t + x[2])) - y

    def j(x):
        e = np.exp(x[1] / (t + x[2]))
        return np.column_stack([e, x[0] * e / (t + x[2]), -x[0] * e * x[1] / (t + x[2]) ** 2])

    return NLSCase("Meyer", r, j, np.array([0.02, 4000.0, 250.0]), (87.9458,))


def _gulf(m=99):
    t = np.arange(1.0, m + 1) / 100
    y = 25 + (-50 * np.log(t)) ** (2 / 3)

    def r(x):
        return np.exp(-np.abs(y - x[1]) ** x[2] / x[0]) - t

    def j(x):
        d = np.abs(y - x[1])
        p = d ** x[2]
        e = np.exp(-p / x[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            log_d = np.where(d > 0, np.log(d), 0.0)
            d_pow = np.where(d > 0, x[2] * d ** (x[2] - 1), 0.0)
        return np.column_stack([e * p / x[0] ** 2, e * d_pow * np.sign(y - x[1]) / x[0], -e * p * log_d / x[0]])

    return NLSCase("Gulf research", r, j, np.array([5.0, 2.5, 0.15]), (0.0,))


def _box_3d(m=10):
    t = 0.1 * np.arange(1.0, m + 1)

    def r(x):
        return np.exp(-t * x[0]) - np.exp(-t * x[1]) - x[2] * (np.exp(-t) - np.exp(-10 * t))

    def j(x):
        return np.column_stack([-t * np.exp(-t * x[0]), t * np.exp(-t * x[1]), -(np.exp(-t) - np.exp(-10 * t))])

    return NLSCase("Box 3-D", r, j, np.array([0.0, 10.0, 20.0]), (0.0,))


def _powell_singular():
    s5, s10 = np.sqrt(5.0), np.sqrt(10.0)

    def r(x):
        return np.array([x[0] + 10 * x[1], s5 * (x[2] - x[3]), (x[1] - 2 * x[2]) ** 2, s10 * (x[0] - x[3]) ** 2])

    def j(x):
        a, b = 2 * (x[1] - 2 * x[2]), 2 * s10 * (x[0] - x[3])
        return np.array([[1.0, 10.0, 0.0, 0.0], [0.0, 0.0, s5, -s5], [0.0, a, -2 * a, 0.0], [b, 0.0, 0.0, -b]])

    return NLSCase("Powell singular", r, j, np.array([3.0, -1.0, 0.0, 1.0]), (0.0,))


def _wood():
    s90, s10 = np.sqrt(90.0), np.sqrt(10.0)

    def r(x):
        return np.array([10 * (x[1] - x[0] ** 2), 1 - x[0], s90 * (x[3] - x[2] ** 2), 1 - x[2],
                         s10 * (x[1] + x[3] - 2), (x[1] - x[3]) / s10])

    def j(x):
        return np.array([[-20 * x[0], 10.0, 0.0, 0.0], [-1.0, 0.0, 0.0, 0.0],
                         [0.0, 0.0, -2 * s90 * x[2], s90], [0.0, 0.0, -1.0, 0.0],
                         [0.0, s10, 0.0, s10], [0.0, 1 / s10, 0.0, -1 / s10]])

    return NLSCase("Wood", r, j, np.array([-3.0, -1.0, -3.0, -1.0]), (0.0,))


def _kowalik_osborne():
    y = np.array([0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323, 0.0235, 0.0246])
    u = np.array([4.0, 2.0, 1.0, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625])

    def r(x):
        return y - x[0] * (u**2 + u * x[1]) / (u**2 + u * x[2] + x[3])

    def j(x):
        num, den = u**2 + u * x[1], u**2 + u * x[2] + x[3]
        return np.column_stack([-num / den, -x[0] * u / den, x[0] * num * u / den**2, x[0] * num / den**2])

    return NLSCase("Kowalik-Osborne", r, j, np.array([0.25, 0.39, 0.415, 0.39]), (3.07505e-4,))


def _brown_dennis(m=20):
    t = np.arange(1.0, m + 1) / 5

    def r(x):
        return (x[0] + t * x[1] - np.exp(t)) ** 2 + (x[2] + x[3] * np.sin(t) - np.cos(t)) ** 2

    def j(x):
        a, b = 2 * (x[0] + t * x[1] - np.exp(t)), 2 * (x[2] + x[3] * np.sin(t) - np.cos(t))
        return np.column_stack([a, a * t, b, b * np.sin(t)])

    return NLSCase("Brown-Dennis", r, j, np.array([25.0, 5.0, -5.0, -1.0]), (85822.2,))


def _osborne1():
    y = np.array([0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818, 0.784, 0.751, 0.718,
                  0.685, 0.658, 0.628, 0.603, 0.580, 0.558, 0.538, 0.522, 0.506, 0.490, 0.478, 0.467,
                  0.457, 0.448, 0.438, 0.431, 0.424, 0.420, 0.414, 0.411, 0.406])
    t = 10 * np.arange(33.0)

    def r(x):
        return y - (x[0] + x[1] * np.exp(-t * x[3]) + x[2] * np.exp(-t * x[4]))

    def j(x):
        e4, e5 = np.exp(-t * x[3]), np.exp(-t * x[4])
        return np.column_stack([-np.ones_like(t), -e4, -e5, t * x[1] * e4, t * x[2] * e5])

    return NLSCase("Osborne 1", r, j, np.array([0.5, 1.5, -1.0, 0.01, 0.02]), (5.46489e-5,))


def _biggs_exp6(m=13):
    t = 0.1 * np.arange(1.0, m + 1)
    y = np.exp(-t) - 5 * np.exp(-10 * t) + 3 * np.exp(-4 * t)

    def r(x):
        return x[2] * np.exp(-t * x[0]) - x[3] * np.exp(-t * x[1]) + x[5] * np.exp(-t * x[4]) - y

    def j(x):
        e1, e2, e5 = np.exp(-t * x[0]), np.exp(-t * x[1]), np.exp(-t * x[4])
        return np.column_stack([-t * x[2] * e1, t * x[3] * e2, e1, -e2, -t * x[5] * e5, e5])

    return NLSCase("Biggs EXP6", r, j, np.array([1.0, 2.0, 1.0, 1.0, 1.0, 1.0]), (0.0, 5.65565e-3))


def _osborne2():
    y = np.array([1.366, 1.191, 1.112, 1.013, 0.991, 0.885, 0.831, 0.847, 0.786, 0.725, 0.746, 0.679,
                  0.608, 0.655, 0.616, 0.606, 0.602, 0.626, 0.651, 0.724, 0.649, 0.649, 0.694, 0.644,
                  0.624, 0.661, 0.612, 0.558, 0.533, 0.495, 0.500, 0.423, 0.395, 0.375, 0.372, 0.391,
                  0.396, 0.405, 0.428, 0.429, 0.523, 0.562, 0.607, 0.653, 0.672, 0.708, 0.633, 0.668,
                  0.645, 0.632, 0.591, 0.559, 0.597, 0.625, 0.739, 0.710, 0.729, 0.720, 0.636, 0.581,
                  0.428, 0.292, 0.162, 0.098, 0.054])
    t = np.arange(65.0) / 10

    def r(x):
        model = x[0] * np.exp(-t * x[4])
        for k in range(3):
            model = model + x[1 + k] * np.exp(-(t - x[8 + k]) ** 2 * x[5 + k])
        return y - model

    def j(x):
        jac = np.zeros((t.size, 11))
        e = np.exp(-t * x[4])
        jac[:, 0], jac[:, 4] = -e, t * x[0] * e
        for k in range(3):
            d = t - x[8 + k]
            g = np.exp(-d**2 * x[5 + k])
            jac[:, 1 + k] = -g
            jac[:, 5 + k] = x[1 + k] * d**2 * g
            jac[:, 8 + k] = -2 * x[1 + k] * x[5 + k] * d * g
        return jac

    return NLSCase("Osborne 2", r, j, np.array([1.3, 0.65, 0.65, 0.7, 0.6, 3.0, 5.0, 7.0, 2.0, 4.5, 5.5]),
                   (4.01377e-2,))


def _watson(n=6):
    t = np.arange(1.0, 30.0) / 29
    powers = np.arange(n)

    def r(x):
        tp = t[:, None] ** powers  # t^(j-1), j = 1..n
        first = tp[:, :-1] @ (powers[1:] * x[1:])  # sum_{j>=2} (j-1) x_j t^(j-2)
        second = tp @ x
        return np.concatenate([first - second**2 - 1, [x[0], x[1] - x[0] ** 2 - 1]])

    def j(x):
        tp = t[:, None] ** powers
        second = tp @ x
        top = np.zeros((t.size, n))
        top[:, 1:] = powers[1:] * tp[:, :-1]
        top -= 2 * second[:, None] * tp
        tail = np.zeros((2, n))
        tail[0, 0], tail[1, 0], tail[1, 1] = 1.0, -2 * x[0], 1.0
        return np.vstack([top, tail])

    return NLSCase("Watson (n = 6)", r, j, np.zeros(n), (2.28767e-3,))


def _extended_rosenbrock(n=10):
    def r(x):
        out = np.empty(n)
        out[0::2] = 10 * (x[1::2] - x[0::2] ** 2)
        out[1::2] = 1 - x[0::2]
        return out

    def j(x):
        jac = np.zeros((n, n))
        i = np.arange(0, n, 2)
        jac[i, i], jac[i, i + 1], jac[i + 1, i] = -20 * x[i], 10.0, -1.0
        return jac

    return NLSCase("Extended Rosenbrock (n = 10)", r, j, np.tile([-1.2, 1.0], n // 2), (0.0,))


def _penalty1(n=4):
    a = np.sqrt(1e-5)

    def r(x):
        return np.concatenate([a * (x - 1), [x @ x - 0.25]])

    def j(x):
        return np.vstack([a * np.eye(n), 2 * x])

    return NLSCase("Penalty I (n = 4)", r, j, np.arange(1.0, n + 1), (2.24997e-5,))


def _penalty2(n=4):
    a = np.sqrt(1e-5)
    i = np.arange(2, n + 1)
    y = np.exp(i / 10) + np.exp((i - 1) / 10)
    weights = n - np.arange(n)  # n - j + 1, j = 1..n

    def r(x):
        e = np.exp(x / 10)
        return np.concatenate([[x[0] - 0.2], a * (e[1:] + e[:-1] - y), a * (e[1:] - np.exp(-0.1)),
                               [weights @ x**2 - 1]])

    def j(x):
        e = np.exp(x / 10) / 10
        jac = np.zeros((2 * n, n))
        jac[0, 0] = 1.0
        rows = np.arange(1, n)
        jac[rows, rows], jac[rows, rows - 1] = a * e[1:], a * e[:-1]
        jac[n - 1 + rows, rows] = a * e[1:]
        jac[-1] = 2 * weights * x
        return jac

    return NLSCase("Penalty II (n = 4)", r, j, np.full(n, 0.5), (9.37629e-6,))


def _variably_dimensioned(n=8):
    j_index = np.arange(1.0, n + 1)

    def r(x):
        s = j_index @ (x - 1)
        return np.concatenate([x - 1, [s, s**2]])

    def j(x):
        s = j_index @ (x - 1)
        return np.vstack([np.eye(n), j_index, 2 * s * j_index])

    return NLSCase("Variably dimensioned (n = 8)", r, j, 1 - j_index / n, (0.0,))


def _linear_full_rank(n=5, m=10):
    matrix = np.eye(m, n) - 2.0 / m

    def r(x):
        return matrix @ x - 1

    def j(x):
        return matrix

    return NLSCase("Linear full rank", r, j, np.ones(n), (float(m - n),))


def _linear_rank1(n=5, m=10):
    matrix = np.outer(np.arange(1.0, m + 1), np.arange(1.0, n + 1))

    def r(x):
        return matrix @ x - 1

    def j(x):
        return matrix

    return NLSCase("Linear rank 1", r, j, np.ones(n), (m * (m - 1) / (2 * (2 * m + 1)),))


CASES: tuple = tuple(make() for make in (
    _rosenbrock, _freudenstein_roth, _powell_badly_scaled, _brown_badly_scaled, _beale, _jennrich_sampson,
    _helical_valley, _bard, _gaussian, _meyer, _gulf, _box_3d, _powell_singular, _wood, _kowalik_osborne,
    _brown_dennis, _osborne1, _biggs_exp6, _osborne2, _watson, _extended_rosenbrock, _penalty1, _penalty2,
    _variably_dimensioned, _linear_full_rank, _linear_rank1,
))


def names() -> list:
    """The names of the test problems, in the paper's order."""
    return [item.name for item in CASES]


def case(name: str) -> NLSCase:
    """The test problem called ``name`` (see :func:`names`)."""
    for item in CASES:
        if item.name == name:
            return item
    raise ValueError(f"no test problem called {name!r}; choose one of {names()}")


def problem(name: str) -> Problem:
    """The test problem ``name`` as a :class:`~companion.problems.Problem` (target 0)."""
    return case(name).problem()


# --------------------------------------------------------------------------- counting and comparing
@dataclass
class Count:
    """Calls of the residual and of the Jacobian, and :math:`F = |r|^2` at every residual call."""

    residual: int = 0
    jacobian: int = 0
    values: list = field(default_factory=list)

    def evaluations_to_solve(self, item: NLSCase) -> int | None:
        """The number of residual calls up to the first one at a solution of ``item`` (``None``: never)."""
        for k, value in enumerate(self.values):
            if item.solved(value):
                return k + 1
        return None


def counted(item: NLSCase) -> tuple[NLSCase, Count]:
    """``item`` with its residual and Jacobian wrapped to count their calls.

    A call at the same ``x`` as the previous residual call is answered from a
    one-entry cache and not counted: the driver evaluates every new iterate,
    and the rule then asks for :math:`P(x)` at the same point (as a problem
    that caches its last evaluation does).  The Jacobians behind the
    finite-difference second derivatives are counted.
    """
    count = Count()
    last = {}

    def residual(x):
        x = np.asarray(x, dtype=float)
        if "x" in last and last["x"].shape == x.shape and np.array_equal(last["x"], x):
            return last["r"].copy()
        r = item.residual(x)
        count.residual += 1
        count.values.append(float(r @ r) if np.all(np.isfinite(r)) else float("inf"))
        last["x"], last["r"] = x.copy(), np.array(r, dtype=float)
        return r

    def jacobian(x):
        count.jacobian += 1
        return item.jacobian(x)

    return NLSCase(item.name, residual, jacobian, item.x0, item.minima), count


@dataclass(frozen=True)
class Outcome:
    """How one method did on one problem: ``evaluations`` residual calls to the first solution (or None)."""

    problem: str
    method: str
    solved: bool
    evaluations: int | None
    residual_calls: int
    jacobian_calls: int
    final: float
    #: Steps of the run for companion rules; for SciPy, Jacobian evaluations (one per iteration).
    iterations: int = 0


def run_rule(item: NLSCase, rule, steps: int = 300) -> Outcome:
    """Run a companion rule with :func:`~companion.minimize` from the standard start, counting calls.

    The run stops at the first iterate that solves the problem (a callback), after
    ``steps`` steps, or when the rule fails.
    """
    from .driver import minimize

    wrapped, count = counted(item)
    result = minimize(wrapped.problem(), item.x0, rule, steps=steps,
                      callback=lambda it: item.solved(2 * it.loss))
    evaluations = count.evaluations_to_solve(item)
    return Outcome(item.name, rule.name, evaluations is not None, evaluations, count.residual, count.jacobian,
                   2 * result.fun, result.nit)


def run_scipy(item: NLSCase, method: str = "lm") -> Outcome:
    """Run ``scipy.optimize.least_squares(method=...)`` with the analytic Jacobian and default tolerances."""
    from scipy.optimize import least_squares

    wrapped, count = counted(item)
    result = least_squares(wrapped.residual, item.x0, jac=wrapped.jacobian, method=method)
    evaluations = count.evaluations_to_solve(item)
    return Outcome(item.name, f"scipy {method}", evaluations is not None, evaluations, count.residual,
                   count.jacobian, float(2 * result.cost), count.jacobian)
