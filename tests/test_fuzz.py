"""Fuzzing: generated bad inputs thrown at every public function of companion's core and physics.

Every case must end in one of two ways:

* a ``ValueError`` or ``TypeError`` whose message names the bad argument, or the user
  function at fault (``simulator of 'fuzz'``, ``jacobian of 'fuzz'``, ``loss ...``);
* a :class:`~companion.MinimizeResult` whose status and message say what went wrong
  (non-finite or diverged, and at which step) and whose arrays hold no NaN or inf.

Nothing else may escape (no ``AttributeError``, ``IndexError``, ``OverflowError``, bare
numpy messages) and no returned array may contain NaN.  The examples are derandomised, so
CI sees the same cases every run; the number of generated cases is printed at the end of
the session (``fuzz: N generated bad inputs``); ``FUZZ_SCALE`` and ``FUZZ_RANDOM`` (see ``FUZZ``)
fuzz deeper.
"""

from __future__ import annotations

import collections
import os
import re
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from companion import STATUS, Loss, MinimizeResult, Problem, linalg, minimize, notebook, plots, problems, rules
from companion.physics import heat, oscillators
from companion.problems import squared_error
from companion.tuning import SweepResult, log_grid, sweep_step_size

# --------------------------------------------------------------------------- bookkeeping
#: generated cases per fuzz target, and how each ended
CASES: collections.Counter = collections.Counter()
OUTCOMES: collections.Counter = collections.Counter()
SECONDS = [0.0]  # wall-clock of this module's tests


class _Report:
    """Prints the number of generated cases in pytest's terminal summary."""

    def pytest_terminal_summary(self, terminalreporter):
        if not CASES:
            return
        total = sum(CASES.values())
        terminalreporter.write_sep("-", f"fuzz: {total} generated bad inputs for {len(CASES)} targets "
                                        f"in {SECONDS[0]:.1f} s")
        terminalreporter.write_line("fuzz: outcomes " + ", ".join(f"{k} {v}" for k, v in sorted(OUTCOMES.items())))


@pytest.fixture(scope="module", autouse=True)
def _report_cases(request):
    manager = request.config.pluginmanager
    if not manager.has_plugin("companion-fuzz-report"):
        manager.register(_Report(), "companion-fuzz-report")
    start = time.perf_counter()
    yield
    SECONDS[0] += time.perf_counter() - start


#: ``FUZZ_SCALE=10 FUZZ_RANDOM=1 pytest tests/test_fuzz.py`` fuzzes ten times deeper with fresh
#: random examples; by default the examples are derandomised, so CI sees the same cases every run.
SCALE = float(os.environ.get("FUZZ_SCALE", "1"))
FUZZ = settings(deadline=None, derandomize=not os.environ.get("FUZZ_RANDOM"), database=None,
                max_examples=max(1, int(60 * SCALE)),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.data_too_large])


def few(n):
    return settings(FUZZ, max_examples=max(1, int(n * SCALE)))


def _mentions(message: str, names) -> bool:
    """``message`` names one of ``names`` (whole words for short names, case-insensitive)."""
    for name in names:
        pattern = re.escape(name.lower())
        if len(name) <= 3:
            pattern = rf"(?<![\w]){pattern}(?![\w])"
        if re.search(pattern, message.lower()):
            return True
    return False


def rejects(target: str, function, /, *args, names, **kwargs):
    """``function(*args, **kwargs)`` must raise ValueError/TypeError naming one of ``names``."""
    CASES[target] += 1
    try:
        value = function(*args, **kwargs)
    except (ValueError, TypeError) as exc:
        assert _mentions(str(exc), names), f"{target}: {type(exc).__name__}({exc!s}) names none of {names}"
        OUTCOMES[type(exc).__name__] += 1
        return exc
    raise AssertionError(f"{target} accepted a bad input and returned {value!r:.300}")


def settles(target: str, function, /, *args, names, **kwargs):
    """Either a ValueError/TypeError naming one of ``names``, or a result without NaN."""
    CASES[target] += 1
    try:
        value = function(*args, **kwargs)
    except (ValueError, TypeError) as exc:
        assert _mentions(str(exc), names), f"{target}: {type(exc).__name__}({exc!s}) names none of {names}"
        OUTCOMES[type(exc).__name__] += 1
        return exc
    assert_no_nan(value, target)
    OUTCOMES["result" if not isinstance(value, MinimizeResult) else f"status {value.status_name}"] += 1
    return value


def assert_no_nan(value, where: str) -> None:
    if isinstance(value, MinimizeResult):
        check_result(value)
    elif isinstance(value, SweepResult):
        for result in value.results:
            check_result(result)
    elif isinstance(value, (tuple, list)):
        for item in value:
            assert_no_nan(item, where)
    elif isinstance(value, (np.ndarray, float, np.floating)):
        assert not np.any(np.isnan(value)), f"{where} returned NaN: {value!r:.300}"


def check_result(result: MinimizeResult) -> None:
    """A run that stopped says why, where, and recorded nothing non-finite."""
    assert result.status in STATUS and result.message
    for array in (result.x, result.xs, result.ys, result.losses, result.times):
        assert np.all(np.isfinite(array)), f"non-finite value recorded: {result!r}"
    assert len(result.xs) == len(result.ys) == len(result.losses) == result.nit + 1
    if result.status == 2:
        assert "non-finite" in result.message and f"at step {result.nit + 1}" in result.message, result.message
    elif result.status == 3:
        assert "grew" in result.message and f"at step {result.nit}" in result.message, result.message
    elif result.status == 4:
        assert f"failed at step {result.nit + 1}" in result.message, result.message


# --------------------------------------------------------------------------- strategies
finite = st.floats(-1e3, 1e3, allow_nan=False)
NON_FINITE = st.sampled_from([np.nan, np.inf, -np.inf])
NOT_NUMBERS = st.sampled_from([None, "1.0", "1, 2", b"\x01\x02", {"x": 1.0}, object(), print, Ellipsis])


def _safe_size(value) -> int:
    try:
        return int(np.size(value))
    except (TypeError, ValueError):
        return -1


def nonfinite_array(shape):
    """An array of ``shape`` with at least one NaN or inf."""
    size = int(np.prod(shape))
    return st.tuples(hnp.arrays(float, shape, elements=finite), st.integers(0, size - 1), NON_FINITE).map(
        lambda t: _poke(*t))


def _poke(array, index, value):
    array = array.copy()
    array.flat[index] = value
    return array


def junk_vectors(size: int):
    """Things that are not a finite real vector of any length (``size`` only shapes them)."""
    return st.one_of(
        NOT_NUMBERS,
        st.booleans(),
        st.lists(st.booleans(), min_size=1, max_size=4),
        hnp.arrays(bool, st.integers(1, 4)),
        st.lists(st.complex_numbers(max_magnitude=10, allow_nan=False).filter(lambda z: z.imag != 0),
                 min_size=1, max_size=4),
        hnp.arrays(complex, size, elements=st.complex_numbers(max_magnitude=10, allow_nan=False)),
        st.lists(finite, min_size=1, max_size=3).map(lambda v: [v, v + [0.0]]),  # ragged
        st.lists(finite, min_size=0, max_size=3).map(lambda v: v + ["a"]),  # strings inside
        st.sampled_from([[], (), np.empty(0), np.empty((0, 2)), [[]]]),  # empty
        hnp.arrays(float, st.tuples(st.integers(1, 3), st.just(size)), elements=finite),  # 2-D
        hnp.arrays(float, st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 2)), elements=finite),
        nonfinite_array((size,)),
        nonfinite_array((1,)) if size != 1 else nonfinite_array((2,)),
    )


def wrong_length(size: int):
    return st.integers(1, size + 3).filter(lambda k: k != size).flatmap(
        lambda k: hnp.arrays(float, k, elements=finite))


def bad_vectors(size: int):
    """Junk, or a finite vector of the wrong length."""
    return st.one_of(junk_vectors(size), wrong_length(size))


_COMMON_BAD_SCALARS = st.one_of(
    NOT_NUMBERS, st.booleans(), st.just(1j), st.text(max_size=3),
    st.lists(finite, min_size=1, max_size=2), NON_FINITE,
)


def bad_scalars(kind: str):
    """Values that the parameter kind must refuse (``kind?``: ``None`` is allowed)."""
    if kind.endswith("?"):
        return bad_scalars(kind[:-1]).filter(lambda v: v is not None)
    extra = {
        "positive": st.one_of(st.floats(max_value=0.0, allow_nan=False, allow_infinity=False),
                              st.integers(max_value=0)),
        "nonneg": st.floats(max_value=-1e-300, allow_nan=False, allow_infinity=False),
        "fraction": st.one_of(st.floats(max_value=-1e-300, allow_nan=False, allow_infinity=False),
                              st.floats(min_value=1.0, allow_nan=False, allow_infinity=False)),
        "real": st.nothing(),
        "int0": st.one_of(st.integers(max_value=-1), st.floats(-5, 5)),
        "int1": st.one_of(st.integers(max_value=0), st.floats(-5, 5)),
    }[kind]
    return st.one_of(_COMMON_BAD_SCALARS, extra)


# --------------------------------------------------------------------------- the base problem
def _sim(x):
    return np.array([x[0], x[1] ** 2])


def _jac(x):
    return np.array([[1.0, 0.0], [0.0, 2.0 * x[1]]])


def _second(x):
    return np.array([np.zeros((2, 2)), [[0.0, 0.0], [0.0, 2.0]]])


def _hess(x):  # of L = 1/2 (x1 - 1)^2 + 1/2 (x2^2 - 4)^2
    return np.array([[1.0, 0.0], [0.0, 6.0 * x[1] ** 2 - 8.0]])


def _inv(y, x0):
    return np.array([y[0], (1.0 if x0[1] >= 0 else -1.0) * np.sqrt(abs(y[1]))])


def base_problem(**overrides) -> Problem:
    """``y = (x1, x2^2)``, target ``(1, 4)``: every rule runs on it without reaching zero loss at once."""
    pieces = dict(simulator=_sim, jacobian=_jac, target=[1.0, 4.0], second_derivatives=_second,
                  inverse=_inv, name="fuzz")
    pieces.update(overrides)
    return Problem(**pieces)


X0 = np.array([3.0, 3.0])

#: every rule with a step size that converges on the base problem
RULES = {
    "gd": lambda: rules.gd(0.02),
    "adam": lambda: rules.adam(0.1),
    "newton": lambda: rules.newton(0.5),
    "gauss_newton": lambda: rules.gauss_newton(0.5),
    "bfgs": lambda: rules.bfgs(),
    "ig": lambda: rules.ig(0.5),
    "pg": lambda: rules.pg(0.5),
}
#: the user functions each rule calls
USES = {
    "gd": ("simulator", "jacobian", "loss.value", "loss.gradient"),
    "adam": ("simulator", "jacobian", "loss.value", "loss.gradient"),
    "newton": ("simulator", "jacobian", "loss.value", "loss.gradient", "loss.hessian", "second_derivatives",
               "hessian"),
    "gauss_newton": ("simulator", "jacobian", "loss.value", "loss.gradient", "loss.hessian"),
    "bfgs": ("simulator", "jacobian", "loss.value", "loss.gradient"),
    "ig": ("simulator", "jacobian", "loss.value", "loss.gradient", "loss.hessian"),
    "pg": ("simulator", "inverse", "loss.value", "loss.gradient", "loss.hessian"),
}
#: how the messages name each user function
SLOT_NAMES = {
    "simulator": ["simulator"],
    "jacobian": ["jacobian"],
    "hessian": ["hessian of 'fuzz'"],
    "second_derivatives": ["second_derivatives"],
    "inverse": ["inverse"],
    "loss.value": ["loss"],
    "loss.gradient": ["loss gradient"],
    "loss.hessian": ["loss hessian", "hessian of the loss"],
}
#: what each user function should return
SLOT_SHAPES = {
    "simulator": (2,), "jacobian": (2, 2), "hessian": (2, 2), "second_derivatives": (2, 2, 2),
    "inverse": (2,), "loss.value": (), "loss.gradient": (2,), "loss.hessian": (2, 2),
}
_SQ = squared_error()
_GOOD = {"simulator": _sim, "jacobian": _jac, "hessian": _hess, "second_derivatives": _second,
         "inverse": _inv, "loss.value": _SQ.value, "loss.gradient": _SQ.gradient, "loss.hessian": _SQ.hessian}


def problem_with(slot: str, function) -> Problem:
    """The base problem with one user function replaced."""
    if slot.startswith("loss."):
        parts = {"value": _SQ.value, "gradient": _SQ.gradient, "hessian": _SQ.hessian}
        parts[slot[5:]] = function
        return base_problem(loss=Loss(parts["value"], parts["gradient"], parts["hessian"], "fuzz loss"))
    if slot == "hessian":
        return base_problem(hessian=function, second_derivatives=None)
    return base_problem(**{slot: function})


EXCEPTIONS = [RuntimeError, ZeroDivisionError, KeyError, IndexError, TypeError, AttributeError,
              OverflowError, FloatingPointError, ValueError, np.linalg.LinAlgError, NotImplementedError]


def bad_returns(shape):
    """``(kind, value)``: what a broken user function returns (or raises) instead of an array of ``shape``."""
    size = int(np.prod(shape)) if shape else 1
    wrong_shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3).filter(
        lambda s: s != tuple(shape) and (shape != () or int(np.prod(s)) != 1))
    return st.one_of(
        st.sampled_from([None, "1.0", {"y": 1.0}, [[1.0], [1.0, 2.0]], object()]).map(lambda v: ("garbage", v)),
        wrong_shapes.flatmap(lambda s: hnp.arrays(float, s, elements=finite)).map(lambda v: ("shape", v)),
        hnp.arrays(complex, shape or (1,), elements=st.complex_numbers(max_magnitude=5, allow_nan=False)).map(
            lambda v: ("complex", v + 1j)),
        hnp.arrays(bool, shape or ()).map(lambda v: ("bool", v)),
        st.sampled_from(EXCEPTIONS).map(lambda e: ("raises", e)),
        (nonfinite_array(shape) if shape else NON_FINITE).map(lambda v: ("nonfinite", v)),
    )


def broken(kind, value):
    if kind == "raises":
        def function(*args):
            raise value("fuzz: broken user function")
    else:
        def function(*args):
            return value.copy() if isinstance(value, np.ndarray) else value
    return function


def flaky(good, bad, after: int):
    """``good`` for the first ``after`` calls, then ``bad``."""
    calls = [0]

    def function(*args):
        calls[0] += 1
        return good(*args) if calls[0] <= after else bad(*args)

    return function


# =========================================================================== 1. arguments of the core
RULE_PARAMETERS = [
    (rules.gd, "eta", "positive", {}),
    (rules.adam, "eta", "positive", {}),
    (rules.adam, "beta1", "fraction", {}),
    (rules.adam, "beta2", "fraction", {}),
    (rules.adam, "eps", "positive", {}),
    (rules.newton, "eta", "positive", {}),
    (rules.newton, "rtol", "fraction", {}),
    (rules.gauss_newton, "eta", "positive", {}),
    (rules.gauss_newton, "rtol", "fraction", {}),
    (rules.bfgs, "eta", "positive", {"line_search": False}),
    (rules.ig, "eta", "positive", {}),
    (rules.ig, "rtol", "fraction?", {}),
    (rules.pg, "eta", "positive", {}),
    (linalg.pinv, "rtol", "fraction", {"matrix": np.eye(2)}),
    (linalg.svd_power, "kappa", "real", {"matrix": np.eye(2)}),
    (linalg.solve, "rtol", "fraction", {"matrix": np.eye(2), "rhs": [1.0, 1.0]}),
    (linalg.lstsq, "rtol", "fraction", {"matrix": np.eye(2), "rhs": [1.0, 1.0]}),
    (squared_error, "scale", "positive", {}),
    (problems.alpha_scaled, "alpha", "real", {}),
    (log_grid, "low", "positive", {"high": 10.0}),
    (log_grid, "high", "positive", {"low": 1e-3}),
    (log_grid, "per_decade", "int1", {"low": 0.1, "high": 1.0}),
    (heat.grid, "n", "int1", {}),
    (heat.heat_operator, "n", "int1", {"nu_t": 1e-3}),
    (heat.heat_operator, "nu_t", "nonneg", {"n": 8}),
    (oscillators.symplectic_form, "n", "int1", {}),
]


@FUZZ
@given(data=st.data())
def test_scalar_parameters_refuse_bad_values(data):
    """Step sizes, tolerances, exponents and sizes: zero, negative, NaN, inf, bools, strings, lists, None."""
    function, name, kind, kwargs = data.draw(st.sampled_from(RULE_PARAMETERS), label="parameter")
    value = data.draw(bad_scalars(kind), label=name)
    rejects(f"{function.__name__}({name})", function, **kwargs, **{name: value}, names=[name])


MINIMIZE_OPTIONS = [("steps", "int0"), ("tol", "nonneg"), ("blowup", "positive"), ("max_time", "positive")]


@FUZZ
@given(data=st.data())
def test_minimize_refuses_bad_arguments(data):
    problem, rule = problems.alpha_scaled(3.0), rules.gd(0.05)
    which = data.draw(st.sampled_from(["x0", "problem", "rule", "callback", "option"]))
    if which == "x0":
        x0 = data.draw(junk_vectors(2), label="x0")
        rejects("minimize(x0)", minimize, problem, x0, rule, names=["x0"])
    elif which == "problem":
        bad = data.draw(st.one_of(NOT_NUMBERS, st.just(lambda x: x), st.just(rule), finite))
        rejects("minimize(problem)", minimize, bad, [1.0, 1.0], rule, names=["problem"])
    elif which == "rule":
        bad = data.draw(st.one_of(NOT_NUMBERS, st.sampled_from([rules.gd, rules.pg, "gd", (1, 2)]), finite))
        rejects("minimize(rule)", minimize, problem, [1.0, 1.0], bad, names=["rule"])
    elif which == "callback":
        bad = data.draw(st.one_of(st.sampled_from(["stop", 3, 1.5, [print]]), st.booleans()))
        rejects("minimize(callback)", minimize, problem, [1.0, 1.0], rule, callback=bad, names=["callback"])
    else:
        name, kind = data.draw(st.sampled_from(MINIMIZE_OPTIONS))
        value = data.draw(bad_scalars(kind), label=name)
        assume(not (name == "max_time" and value is None))  # None means no budget
        rejects(f"minimize({name})", minimize, problem, [1.0, 1.0], rule, **{name: value}, names=[name])


@few(40)
@given(rule_name=st.sampled_from(sorted(RULES)), x0=wrong_length(2))
def test_minimize_with_an_x0_of_the_wrong_length_names_the_shape(rule_name, x0):
    """A Problem does not know n: the simulator or the first Jacobian/inverse reports the mismatch."""
    result = settles("minimize(x0 of the wrong length)", minimize, base_problem(), x0, RULES[rule_name](),
                     steps=3, names=["x", "x0", "simulator"])
    if isinstance(result, MinimizeResult):
        assert result.status == 4 and result.nit == 0, result
        assert _mentions(result.message, ["jacobian", "inverse", "shape", "x has"]), result.message


PROBLEM_METHODS = ["output", "loss_at", "jacobian_at", "gradient_at", "hessian_at", "gradient_and_hessian_at",
                   "gauss_newton_matrix_at"]
Y_METHODS = ["loss_of_output", "loss_gradient_in_y", "loss_hessian_in_y", "newton_step_in_y"]


@FUZZ
@given(data=st.data())
def test_problem_methods_refuse_bad_points(data):
    problem = base_problem()
    kind = data.draw(st.sampled_from(["x", "y", "invert", "eta", "with_target"]))
    if kind == "x":
        method = data.draw(st.sampled_from(PROBLEM_METHODS))
        # output and loss_at cannot tell a too long x: a Problem does not know n (only the Jacobian does)
        x = data.draw(junk_vectors(2) if method in ("output", "loss_at") else bad_vectors(2), label="x")
        rejects(f"Problem.{method}", getattr(problem, method), x, names=["x", "jacobian", "simulator"])
    elif kind == "y":
        method = data.draw(st.sampled_from(Y_METHODS))
        rejects(f"Problem.{method}", getattr(problem, method), data.draw(bad_vectors(2), label="y"), names=["y"])
    elif kind == "invert":
        if data.draw(st.booleans(), label="bad y"):
            rejects("Problem.invert(y)", problem.invert, data.draw(bad_vectors(2)), X0, names=["y"])
        else:
            rejects("Problem.invert(x0)", problem.invert, [1.0, 4.0], data.draw(junk_vectors(2)), names=["x0"])
    elif kind == "eta":
        rejects("Problem.newton_step_in_y(eta)", problem.newton_step_in_y, [1.0, 1.0],
                data.draw(bad_scalars("real")), names=["eta"])
    else:
        rejects("Problem.with_target", problem.with_target, data.draw(bad_vectors(2)), names=["target"])


PROBLEM_FIELDS = ["simulator", "jacobian", "second_derivatives", "hessian", "inverse", "loss", "name", "affine",
                  "target"]


@FUZZ
@given(data=st.data())
def test_problem_construction_refuses_bad_pieces(data):
    field = data.draw(st.sampled_from(PROBLEM_FIELDS))
    if field == "target":
        value = data.draw(junk_vectors(2), label="target")
    elif field == "simulator":
        value = data.draw(st.one_of(NOT_NUMBERS.filter(lambda v: not callable(v)), finite, st.booleans()))
    elif field == "jacobian":  # None is valid: the Jacobian then comes from finite differences
        value = data.draw(st.one_of(NOT_NUMBERS.filter(lambda v: not callable(v) and v is not None), finite,
                                    st.booleans()))
    elif field in ("second_derivatives", "hessian", "inverse"):
        value = data.draw(st.one_of(st.sampled_from(["f", 1.0, np.eye(2), [1]]), st.booleans()))
    elif field == "loss":
        value = data.draw(st.sampled_from([None, "l2", _SQ.value, (1, 2, 3), 2.0]))
    elif field == "name":
        value = data.draw(st.one_of(st.none(), st.integers(), st.just(b"fuzz"), st.just(["a"])))
    else:
        value = data.draw(st.sampled_from(["yes", 1, 0, None, [True]]))
    rejects(f"Problem({field})", base_problem, **{field: value}, names=[field])


# =========================================================================== 2. broken user functions
@FUZZ
@given(data=st.data())
def test_broken_user_functions_are_named_by_the_checked_evaluations(data):
    """User functions that return None, strings, wrong shapes, complex, bools, NaN/inf, or raise."""
    slot = data.draw(st.sampled_from(sorted(SLOT_SHAPES)), label="slot")
    kind, value = data.draw(bad_returns(SLOT_SHAPES[slot]), label="returns")
    problem = problem_with(slot, broken(kind, value))
    calls = {
        "simulator": [("output", (X0,)), ("loss_at", (X0,)), ("gradient_at", (X0,))],
        "jacobian": [("jacobian_at", (X0,)), ("gradient_at", (X0,)), ("gauss_newton_matrix_at", (X0,))],
        "hessian": [("hessian_at", (X0,)), ("gradient_and_hessian_at", (X0,))],
        "second_derivatives": [("hessian_at", (X0,))],
        "inverse": [("invert", ([1.0, 4.0], X0))],
        "loss.value": [("loss_at", (X0,)), ("loss_of_output", ([1.0, 2.0],))],
        "loss.gradient": [("gradient_at", (X0,)), ("loss_gradient_in_y", ([1.0, 2.0],))],
        "loss.hessian": [("loss_hessian_in_y", ([1.0, 2.0],)), ("newton_step_in_y", ([1.0, 2.0],)),
                         ("gauss_newton_matrix_at", (X0,))],
    }[slot]
    method, args = data.draw(st.sampled_from(calls), label="method")
    target = f"Problem.{method} with a broken {slot}"
    if slot == "loss.value" and kind == "nonfinite" and np.isinf(value):
        value_out = settles(target, getattr(problem, method), *args, names=SLOT_NAMES[slot])
        assert isinstance(value_out, Exception) or value_out == np.inf  # an overflowing loss is inf, never NaN
    else:
        rejects(target, getattr(problem, method), *args, names=SLOT_NAMES[slot])


@FUZZ
@given(data=st.data())
def test_user_functions_that_break_mid_run_stop_minimize_with_a_status(data):
    """Every rule, every user function it calls, broken after a few good calls."""
    rule_name = data.draw(st.sampled_from(sorted(RULES)), label="rule")
    slot = data.draw(st.sampled_from(USES[rule_name]), label="slot")
    kind, value = data.draw(bad_returns(SLOT_SHAPES[slot]), label="returns")
    after = data.draw(st.integers(0, 8), label="good calls")
    problem = problem_with(slot, flaky(_GOOD[slot], broken(kind, value), after))
    outcome = settles(f"minimize({rule_name}) with {slot} broken mid-run", minimize, problem, X0,
                      RULES[rule_name](), steps=25, names=SLOT_NAMES[slot])
    if isinstance(outcome, Exception):
        # at x0, before the first step; or a wrongly shaped return, a programming error that
        # minimize raises wherever it is met (it names the function, checked by settles)
        assert slot in ("simulator", "loss.value") or type(outcome).__name__ == "ShapeError", outcome
        return
    if outcome.status in (0, 1):  # the broken call was never reached
        return
    if kind == "nonfinite":
        assert outcome.status == 2, outcome
        assert "non-finite" in outcome.message
    elif slot == "loss.value" and outcome.status == 2:
        pass  # e.g. a complex loss that turned into inf (overflow) first
    else:
        assert outcome.status == 4, outcome
        assert _mentions(outcome.message, SLOT_NAMES[slot]), outcome.message


@few(30)
@given(rule_name=st.sampled_from(sorted(RULES)), data=st.data())
def test_rule_steps_refuse_bad_problems_points_and_states(rule_name, data):
    rule = RULES[rule_name]()
    which = data.draw(st.sampled_from(["problem", "x0", "state"]))
    if which == "problem":
        bad = data.draw(st.one_of(NOT_NUMBERS, st.just(lambda x: x), st.just(rules.gd(0.1))))
        rejects(f"{rule.name}.first_step(problem)", rule.first_step, bad, X0, names=["problem"])
    elif which == "x0":
        rejects(f"{rule.name}.first_step(x0)", rule.first_step, base_problem(), data.draw(junk_vectors(2)),
                names=["x0", "x"])
    elif rule_name in ("adam", "bfgs"):
        bad = data.draw(st.one_of(NOT_NUMBERS, st.just(rule.init(base_problem(), np.zeros(3)))))
        rejects(f"{rule.name}.step(state)", rule.step, base_problem(), X0, bad, names=["state"])
    else:
        rejects(f"{rule.name}.step(x)", rule.step, base_problem(), data.draw(junk_vectors(2)), None, names=["x"])


DIRECTIONS = [
    ("gd_direction", lambda p, x: rules.gd_direction(p, x)),
    ("newton_direction", lambda p, x: rules.newton_direction(p, x)),
    ("gauss_newton_direction", lambda p, x: rules.gauss_newton_direction(p, x)),
    ("ig_direction", lambda p, x: rules.ig_direction(p, x, [0.1, 0.1])),
    ("pg_step", lambda p, x: rules.pg_step(p, x)),
]


@few(40)
@given(data=st.data())
def test_unit_directions_refuse_bad_problems_and_points(data):
    name, direction = data.draw(st.sampled_from(DIRECTIONS))
    which = data.draw(st.sampled_from(["problem", "x", "extra"]))
    if which == "problem":
        rejects(name, direction, data.draw(st.one_of(NOT_NUMBERS, st.just(lambda x: x))), X0, names=["problem"])
    elif which == "x":
        rejects(name, direction, base_problem(), data.draw(bad_vectors(2)),
                names=["x", "jacobian", "simulator", "inverse"])
    elif name == "ig_direction":
        rejects(name, rules.ig_direction, base_problem(), X0, data.draw(bad_vectors(2)), names=["dy"])
    elif name == "pg_step":
        rejects(name, rules.pg_step, base_problem(), X0, data.draw(bad_scalars("positive")), names=["eta"])
    else:
        function = getattr(rules, name)
        rejects(name, function, base_problem(), X0, rtol=data.draw(bad_scalars("fraction")), names=["rtol"])


@few(30)
@given(which=st.sampled_from(["pg fallback", "bfgs line_search", "bfgs eta"]), data=st.data())
def test_rule_options_refuse_bad_values(which, data):
    if which == "pg fallback":
        bad = data.draw(st.one_of(NOT_NUMBERS.filter(lambda v: v is not None), st.sampled_from([rules.gd, "gd", 0.1])))
        rejects("pg(fallback)", rules.pg, 1.0, fallback=bad, names=["fallback"])
    elif which == "bfgs line_search":
        bad = data.draw(st.one_of(NOT_NUMBERS, st.integers(), st.just("yes")))
        rejects("bfgs(line_search)", rules.bfgs, line_search=bad, names=["line_search"])
    else:  # a step size that a Wolfe line search would ignore
        eta = data.draw(st.floats(1e-3, 1e3).filter(lambda e: e != 1.0))
        rejects("bfgs(eta) with line_search", rules.bfgs, eta, names=["eta"])


# =========================================================================== 3. divergence
#: (rule factory, step sizes that make it diverge on alpha_scaled(alpha) from any x0 with x0[1] != 0)
DIVERGING = {
    "gd": (rules.gd, lambda alpha: (2.5 / alpha**2, 1e300)),
    "adam": (rules.adam, lambda alpha: (1e10, 1e300)),  # Adam's steps are about eta long whatever the gradient
    "newton": (rules.newton, lambda alpha: (2.5, 1e300)),
    "gauss_newton": (rules.gauss_newton, lambda alpha: (2.5, 1e300)),
    "bfgs": (lambda eta: rules.bfgs(eta, line_search=False), lambda alpha: (1e7, 1e300)),
    "ig": (rules.ig, lambda alpha: (2.5, 1e300)),
    "pg": (rules.pg, lambda alpha: (2.5, 1e300)),
}


@few(60)
@given(rule_name=st.sampled_from(sorted(DIVERGING)), alpha=st.floats(1.0, 100.0), data=st.data(),
       x0=st.tuples(st.floats(0.1, 10.0), st.floats(0.1, 10.0)), signs=st.tuples(st.booleans(), st.booleans()))
def test_every_rule_with_a_diverging_step_size_stops_with_non_finite_or_diverged(rule_name, alpha, data, x0,
                                                                                 signs):
    factory, interval = DIVERGING[rule_name]
    low, high = interval(alpha)
    eta = data.draw(st.floats(low, high), label="eta")
    blowup = data.draw(st.sampled_from([1e8, 1e3, 1e12]), label="blowup")
    start = [x0[0] * (-1) ** signs[0], x0[1] * (-1) ** signs[1]]
    result = settles(f"minimize({rule_name}) diverging", minimize, problems.alpha_scaled(alpha), start,
                     factory(eta), steps=300, blowup=blowup, names=[])
    assert result.status in (2, 3), result  # check_result has checked the message and the step
    if result.status == 3:
        assert result.losses[-1] > blowup * result.losses[0]
        assert f"more than {blowup:.3g} times" in result.message


@few(30)
@given(rule_name=st.sampled_from(sorted(RULES)), scale=st.floats(150.0, 300.0))
def test_a_loss_that_overflows_mid_run_is_non_finite_at_its_step(rule_name, scale):
    """``y = 10^scale x`` overflows the squared error once x has grown a little."""
    factor = 10.0 ** (scale / 2)

    def simulator(x):
        return factor * x * np.exp(np.minimum(np.abs(x), 700.0))

    def jacobian(x):
        e = np.exp(np.minimum(np.abs(x), 700.0))
        return np.diag(factor * e * (1 + np.sign(x) * x))

    p = Problem(simulator, jacobian, target=[0.0, 0.0], name="overflowing",
                second_derivatives=lambda x: np.zeros((2, 2, 2)), inverse=lambda y, x0: -x0 * 3)
    outcome = settles(f"minimize({rule_name}) overflowing loss", minimize, p, [1e-150, 1e-150],
                      RULES[rule_name](), steps=40, names=["loss", "overflow"])
    if isinstance(outcome, MinimizeResult):
        assert outcome.status in (1, 2, 3, 4), outcome


# =========================================================================== 4. linear algebra
def bad_matrices():
    return st.one_of(
        NOT_NUMBERS.filter(lambda v: not isinstance(v, dict)),
        st.booleans(),
        hnp.arrays(bool, (2, 2)),
        hnp.arrays(complex, (2, 2), elements=st.complex_numbers(max_magnitude=3, allow_nan=False)),
        st.lists(finite, min_size=1, max_size=3).map(lambda v: [v, v + [1.0]]),
        st.sampled_from([[], [[]], np.empty((0, 2)), np.empty((2, 0)), 3.0]),
        hnp.arrays(float, st.integers(1, 4), elements=finite),  # 1-D
        hnp.arrays(float, (1, 2, 2), elements=finite),
        nonfinite_array((2, 2)),
    )


def _rhs_for(matrix):
    return np.ones(np.shape(matrix)[0]) if isinstance(matrix, np.ndarray) and matrix.ndim == 2 else [1.0, 1.0]


LINALG = {
    "solve": lambda m, **kw: linalg.solve(m, _rhs_for(m), **kw),
    "lstsq": lambda m, **kw: linalg.lstsq(m, _rhs_for(m), **kw),
    "pinv": lambda m, **kw: linalg.pinv(m, **kw),
    "svd_power": lambda m, **kw: linalg.svd_power(m, -0.5, **kw),
    "condition_number": lambda m, **kw: linalg.condition_number(m, **kw),
}


@FUZZ
@given(function=st.sampled_from(sorted(LINALG)), matrix=bad_matrices())
def test_linalg_refuses_bad_matrices(function, matrix):
    rejects(f"linalg.{function}", LINALG[function], matrix, name="A_fuzz", names=["A_fuzz"])


@FUZZ
@given(function=st.sampled_from(["solve", "lstsq"]), rhs=bad_vectors(2))
def test_linalg_refuses_bad_right_hand_sides(function, rhs):
    rejects(f"linalg.{function}(rhs)", getattr(linalg, function), np.eye(2), rhs, names=["rhs"])


@FUZZ
@given(function=st.sampled_from(sorted(LINALG)), shape=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       rank=st.integers(0, 4), exponent=st.integers(-320, 300), data=st.data())
def test_linalg_on_singular_non_square_and_extreme_matrices(function, shape, rank, exponent, data):
    """Singular or non-square for solve: a named SingularMatrixError; everything else: no NaN, no inf."""
    rows, cols = shape
    rank = min(rank, rows, cols)
    left = data.draw(hnp.arrays(float, (rows, max(rank, 1)), elements=st.floats(-1, 1)))
    right = data.draw(hnp.arrays(float, (max(rank, 1), cols), elements=st.floats(-1, 1)))
    with np.errstate(all="ignore"):
        matrix = (left @ right) * (rank > 0) * 10.0**exponent
    assume(np.all(np.isfinite(matrix)))
    rtol = data.draw(st.sampled_from([linalg.DEFAULT_RTOL, 0.0, 1e-3, 0.5]), label="rtol")
    kwargs = {} if function == "condition_number" else {"rtol": rtol}
    outcome = settles(f"linalg.{function} on rank-deficient/extreme matrices", LINALG[function], matrix,
                      name="A_fuzz", names=["A_fuzz", "rtol"], **kwargs)
    if isinstance(outcome, Exception):
        assert isinstance(outcome, ValueError)
    elif function != "condition_number":
        assert np.all(np.isfinite(outcome)), outcome


# =========================================================================== 5. tuning
@FUZZ
@given(data=st.data())
def test_tuning_refuses_bad_grids_and_sweeps(data):
    p = problems.alpha_scaled(3.0)
    which = data.draw(st.sampled_from(["order", "etas", "make_rule", "x0", "problem", "span"]))
    if which == "order":
        low = data.draw(st.floats(1e-6, 1e6))
        rejects("log_grid(low > high)", log_grid, low, low * data.draw(st.floats(0.01, 0.99)), names=["low"])
    elif which == "etas":
        bad = data.draw(st.one_of(junk_vectors(3), st.lists(st.floats(max_value=0.0, allow_nan=False),
                                                             min_size=1, max_size=3)))
        rejects("sweep_step_size(etas)", sweep_step_size, p, [1.0, 1.0], rules.gd, bad, steps=3, names=["etas"])
    elif which == "make_rule":
        bad = data.draw(st.one_of(NOT_NUMBERS.filter(lambda v: not callable(v)), st.just(rules.gd(0.1)),
                                  st.just(lambda eta: None), st.just(lambda eta: "gd")))
        rejects("sweep_step_size(make_rule)", sweep_step_size, p, [1.0, 1.0], bad, [0.1], steps=3,
                names=["make_rule", "rule"])
    elif which == "x0":
        rejects("sweep_step_size(x0)", sweep_step_size, p, data.draw(junk_vectors(2)), rules.gd, [0.1], steps=3,
                names=["x0"])
    elif which == "problem":
        rejects("sweep_step_size(problem)", sweep_step_size, data.draw(NOT_NUMBERS), [1.0, 1.0], rules.gd, [0.1],
                steps=3, names=["problem"])
    else:  # extreme but valid spans: no overflow, no NaN
        low = 10.0 ** data.draw(st.integers(-308, 0))
        high = 10.0 ** data.draw(st.integers(0, 308))
        grid = settles("log_grid(extreme span)", log_grid, low, high, names=[])
        assert np.all(np.isfinite(grid)) and grid[0] == pytest.approx(low) and grid[-1] == pytest.approx(high)


@few(20)
@given(rule_name=st.sampled_from(["gd", "ig", "pg", "newton"]), etas=st.lists(st.floats(1e-3, 1e6), min_size=1,
                                                                               max_size=4))
def test_a_sweep_over_diverging_step_sizes_records_statuses_not_nans(rule_name, etas):
    factory = {"gd": rules.gd, "ig": rules.ig, "pg": rules.pg, "newton": rules.newton}[rule_name]
    sweep = settles("sweep_step_size(diverging etas)", sweep_step_size, problems.alpha_scaled(10.0), [1.0, 1.0],
                    factory, etas, steps=60, tol=1e-12, names=[])
    assert any(result is sweep.best for result in sweep.results) and np.isfinite(sweep.best.fun)


# =========================================================================== 6. toy problems
@FUZZ
@given(data=st.data())
def test_toy_problem_factories_refuse_bad_arguments(data):
    which = data.draw(st.sampled_from(["alpha target", "square target", "scalar", "exp", "loss", "linear matrix",
                                       "linear target", "reparametrize scale", "reparametrize problem"]))
    if which == "alpha target":
        rejects("alpha_scaled(target)", problems.alpha_scaled, 2.0, target=data.draw(bad_vectors(2)),
                names=["target"])
    elif which == "square target":
        rejects("square_second(target)", problems.square_second, target=data.draw(bad_vectors(2)),
                names=["target"])
    elif which in ("scalar", "exp"):
        factory = problems.scalar_square if which == "scalar" else problems.exponential
        bad = data.draw(st.one_of(bad_scalars("real").filter(lambda v: not (isinstance(v, list) and len(v) == 1)),
                                  wrong_length(1)))
        rejects(f"{factory.__name__}(target)", factory, bad, names=["target"])
    elif which == "loss":
        factory = data.draw(st.sampled_from([problems.alpha_scaled, problems.square_second]))
        bad = data.draw(st.sampled_from(["l2", 0, 1.0, _SQ.value, (1, 2, 3)]))
        rejects(f"{factory.__name__}(loss)", factory, loss=bad, names=["loss"])
    elif which == "linear matrix":
        rejects("linear(matrix)", problems.linear, data.draw(bad_matrices()), [1.0, 1.0], names=["matrix"])
    elif which == "linear target":
        rejects("linear(target)", problems.linear, np.eye(2), data.draw(bad_vectors(2)), names=["target"])
    elif which == "reparametrize scale":
        bad = data.draw(st.one_of(junk_vectors(2), st.just([0.0, 1.0]), st.just([1.0, 0.0])))
        rejects("reparametrize(scale)", problems.reparametrize, base_problem(), bad, names=["scale"])
    else:
        rejects("reparametrize(problem)", problems.reparametrize, data.draw(st.one_of(NOT_NUMBERS, st.just(_sim))),
                [1.0, 1.0], names=["problem"])


@few(30)
@given(scale=wrong_length(2).filter(lambda s: np.all(s != 0)), method=st.sampled_from(["output", "jacobian_at", "invert", "hessian_at"]))
def test_a_reparametrisation_with_a_scale_of_the_wrong_length_says_so(scale, method):
    q = problems.reparametrize(base_problem(), scale)
    args = (X0 / 2,) if method != "invert" else ([1.0, 4.0], X0 / 2)
    rejects(f"reparametrize(scale of the wrong length).{method}", getattr(q, method), *args, names=["scale"])


# =========================================================================== 7. physics: heat
OP = heat.heat_operator(8, 1e-3)


def bad_profiles(n: int):
    """Bad vectors, except finite float stacks ``(k, n)``, which the heat operator accepts."""
    def valid_stack(v):
        return (isinstance(v, np.ndarray) and v.dtype == float and v.ndim >= 2 and v.shape[-1] == n
                and v.size > 0 and bool(np.all(np.isfinite(v))))
    return bad_vectors(n).filter(lambda v: not valid_stack(v))


@FUZZ
@given(data=st.data())
def test_heat_functions_refuse_bad_arguments(data):
    rng = np.random.default_rng(0)
    which = data.draw(st.sampled_from(["apply", "apply_inverse y", "apply_inverse x0", "cutoff", "problem target",
                                       "problem cutoff", "problem loss", "boxes", "noise y", "noise level",
                                       "noise rng"]))
    if which == "apply":
        rejects("HeatOperator.apply", OP.apply, data.draw(bad_profiles(8)),
                names=["x"])
    elif which == "apply_inverse y":
        rejects("HeatOperator.apply_inverse(y)", OP.apply_inverse,
                data.draw(bad_profiles(8)), cutoff=1e-6, names=["y"])
    elif which == "apply_inverse x0":
        rejects("HeatOperator.apply_inverse(x0)", OP.apply_inverse, np.ones(8), cutoff=1e-6,
                x0=data.draw(bad_profiles(8).filter(lambda v: v is not None)), names=["x0"])
    elif which == "cutoff":
        function = data.draw(st.sampled_from([OP.retained, lambda c: OP.apply_inverse(np.ones(8), cutoff=c)]))
        rejects("HeatOperator cutoff", function, data.draw(bad_scalars("fraction")), names=["cutoff"])
    elif which == "problem target":
        rejects("heat_problem(target)", heat.heat_problem, 8, 1e-3, data.draw(bad_vectors(8)), names=["target"])
    elif which == "problem cutoff":
        rejects("heat_problem(cutoff)", heat.heat_problem, 8, 1e-3, np.ones(8),
                cutoff=data.draw(bad_scalars("fraction")), names=["cutoff"])
    elif which == "problem loss":
        rejects("heat_problem(loss)", heat.heat_problem, 8, 1e-3, np.ones(8),
                loss=data.draw(st.sampled_from(["l2", 1.0, _SQ.value])), names=["loss"])
    elif which == "boxes":
        name, value = data.draw(st.one_of(
            st.tuples(st.just("n"), bad_scalars("int1")),
            st.tuples(st.just("count"), bad_scalars("int0")),
            st.tuples(st.just("samples"), bad_scalars("int1").filter(lambda v: v is not None)),
            st.tuples(st.just("rng"), st.one_of(NOT_NUMBERS, st.just(np.random.RandomState(0)), st.integers())),
            st.tuples(st.just("amplitude"), st.one_of(NOT_NUMBERS, st.just((1.0, 0.0)), st.just((True, 2.0)),
                                                      st.just((np.nan, 1.0)), st.just((1.0,)))),
            st.tuples(st.just("width"), st.one_of(NOT_NUMBERS, st.just((0.5, 0.1)), st.just((-0.1, 0.5)),
                                                  st.just((0.1, 1.5)))),
        ))
        kwargs = dict(n=8, count=2, rng=rng)
        kwargs[name] = value
        rejects(f"random_boxes({name})", heat.random_boxes, **kwargs, names=[name])
    elif which == "noise y":
        # add_noise takes any shape, even an empty array: only the junk that is not an array of numbers
        bad = data.draw(junk_vectors(3).filter(lambda v: not (isinstance(v, np.ndarray) and v.dtype == float
                                                              and np.all(np.isfinite(v)))
                                               and not (isinstance(v, (list, tuple)) and _safe_size(v) == 0)))
        rejects("add_noise(y)", heat.add_noise, bad, 0.1, rng, names=["y"])
    elif which == "noise level":
        rejects("add_noise(level)", heat.add_noise, np.ones(3), data.draw(bad_scalars("nonneg")), rng,
                names=["level"])
    else:
        rejects("add_noise(rng)", heat.add_noise, np.ones(3), 0.1, data.draw(st.one_of(NOT_NUMBERS, st.integers())),
                names=["rng"])


@few(30)
@given(nu_t=st.floats(0.0, 1e308), level=st.floats(0.0, 1e308), magnitude=st.floats(0.0, 1e308))
def test_heat_with_extreme_diffusion_and_noise_never_returns_nan(nu_t, level, magnitude):
    op = settles("heat_operator(extreme nu_t)", heat.heat_operator, 16, nu_t, names=["nu_t"])
    assert np.all(np.isfinite(op.gains))
    y = settles("HeatOperator.apply(extreme)", op.apply, np.full(16, magnitude), names=["heat flow overflowed"])
    if isinstance(y, Exception):
        return
    settles("HeatOperator.apply_inverse(extreme)", op.apply_inverse, y, cutoff=1e-6, names=["overflow", "y"])
    settles("add_noise(extreme)", heat.add_noise, y, level, np.random.default_rng(1), names=["overflow", "level"])


# =========================================================================== 8. physics: oscillators
def bad_states():
    """Not a finite array of (q, p) pairs: junk, odd or zero length."""
    odd = st.integers(0, 3).flatmap(lambda k: hnp.arrays(float, 2 * k + 1, elements=finite))
    def valid_batch(v):  # (..., 2n) finite float arrays are batches of states (possibly of none)
        return (isinstance(v, np.ndarray) and v.dtype == float and v.ndim >= 2 and v.shape[-1] > 0
                and v.shape[-1] % 2 == 0 and bool(np.all(np.isfinite(v))))
    return st.one_of(junk_vectors(2).filter(lambda v: not valid_batch(v)), odd)


LEAPFROG_OPTIONS = [("dt", "real"), ("steps", "int0"), ("omega", "real"), ("coupling", "nonneg")]


@FUZZ
@given(data=st.data())
def test_oscillator_functions_refuse_bad_arguments(data):
    state = np.array([0.3, -0.2, 0.1, 0.4])
    which = data.draw(st.sampled_from(["state", "option", "boundary", "tangents", "cotangent", "problem"]))
    functions = {
        "leapfrog": lambda s, **kw: oscillators.leapfrog(s, **{"dt": 0.1, "steps": 5, **kw}),
        "leapfrog_jacobian": lambda s, **kw: oscillators.leapfrog_jacobian(s, **{"dt": 0.1, "steps": 5, **kw}),
        "leapfrog_tangent": lambda s, **kw: oscillators.leapfrog_tangent(s, np.eye(4)[:, :2],
                                                                         **{"dt": 0.1, "steps": 5, **kw}),
        "leapfrog_vjp": lambda s, **kw: oscillators.leapfrog_vjp(s, np.ones(4), **{"dt": 0.1, "steps": 5, **kw}),
        "energy": lambda s, **kw: oscillators.energy(s, **{k: v for k, v in kw.items() if k not in ("dt", "steps")}),
    }
    name = data.draw(st.sampled_from(sorted(functions)))
    if which == "state":
        bad = data.draw(bad_states())
        if name in ("leapfrog_vjp", "leapfrog_tangent"):
            assume(not isinstance(bad, np.ndarray) or bad.size != 4)
        rejects(f"{name}(state)", functions[name], bad, names=["state"])
    elif which == "option":
        option, kind = data.draw(st.sampled_from(LEAPFROG_OPTIONS if name != "energy" else LEAPFROG_OPTIONS[2:]))
        rejects(f"{name}({option})", functions[name], state, **{option: data.draw(bad_scalars(kind))},
                names=[option])
    elif which == "boundary":
        bad = data.draw(st.one_of(st.text(max_size=5).filter(lambda s: s not in oscillators.BOUNDARIES),
                                  NOT_NUMBERS.filter(lambda v: not isinstance(v, str)), st.integers()))
        rejects(f"{name}(boundary)", functions[name], state, boundary=bad, names=["boundary"])
    elif which == "tangents":
        bad = data.draw(st.one_of(junk_vectors(4), wrong_length(4),
                                  hnp.arrays(float, (3, 2), elements=finite)))
        rejects("leapfrog_tangent(tangents)", oscillators.leapfrog_tangent, state, bad, dt=0.1, steps=3,
                names=["tangents"])
    elif which == "cotangent":
        bad = data.draw(st.one_of(bad_states(), wrong_length(4).filter(lambda v: v.size % 2 == 0)))
        rejects("leapfrog_vjp(cotangent)", oscillators.leapfrog_vjp, state, bad, dt=0.1, steps=3,
                names=["cotangent"])
    else:
        option, value = data.draw(st.one_of(
            st.tuples(st.just("n"), bad_scalars("int1")),
            st.tuples(st.just("dt"), bad_scalars("real")),
            st.tuples(st.just("steps"), bad_scalars("int0")),
            st.tuples(st.just("target"), bad_vectors(4)),
            st.tuples(st.just("hessian_step"), bad_scalars("positive").filter(lambda v: v is not None)),
            st.tuples(st.just("loss"), st.sampled_from(["l2", 1.0, _SQ.value])),
        ))
        kwargs = dict(n=2, dt=0.1, steps=5, target=np.zeros(4))
        kwargs[option] = value
        rejects(f"pendulum_chain_problem({option})", oscillators.pendulum_chain_problem, **kwargs, names=[option])


@few(30)
@given(dt=st.floats(0.5, 1e300), amplitude=st.floats(1.0, 1e300), steps=st.integers(1, 50),
       function=st.sampled_from(["leapfrog", "leapfrog_jacobian", "leapfrog_vjp", "minimize"]))
def test_unstable_leapfrog_runs_raise_or_stop_instead_of_returning_nan(dt, amplitude, steps, function):
    """Large dt or amplitudes overflow the scheme: a named NonFiniteError, or status 2 inside minimize."""
    x = np.array([amplitude, -amplitude / 2, 0.0, amplitude])
    if function == "leapfrog":
        settles("leapfrog(unstable)", oscillators.leapfrog, x, dt=dt, steps=steps, names=["leapfrog"])
    elif function == "leapfrog_jacobian":
        settles("leapfrog_jacobian(unstable)", oscillators.leapfrog_jacobian, x, dt=dt, steps=steps,
                names=["leapfrog"])
    elif function == "leapfrog_vjp":
        settles("leapfrog_vjp(unstable)", oscillators.leapfrog_vjp, x, np.ones(4), dt=dt, steps=steps,
                names=["leapfrog"])
    else:
        p = oscillators.pendulum_chain_problem(2, dt=dt, steps=steps, target=np.zeros(4))
        outcome = settles("minimize on an unstable pendulum chain", minimize, p, x / amplitude, rules.gd(1.0),
                          steps=5, names=["leapfrog", "simulator", "loss"])
        if isinstance(outcome, MinimizeResult):
            assert outcome.status in (0, 1, 2, 3), outcome


# =========================================================================== 9. notebook helpers and plots
@few(20)
@given(value=st.one_of(st.none(), st.just([1.0, 2.0]), st.just(np.ones(2)), st.just({"a": 1})))
def test_fmt_refuses_what_is_not_one_number(value):
    rejects("notebook.fmt(value)", notebook.fmt, value, names=["number", "index"])


@few(30)
@given(data=st.data())
def test_plot_helpers_refuse_bad_arguments(data):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    try:
        which = data.draw(st.sampled_from(["xlim", "ylim", "resolution", "problem", "points", "space", "against"]))
        p = problems.alpha_scaled(2.0)
        if which in ("xlim", "ylim"):
            bad = data.draw(st.one_of(NOT_NUMBERS, st.just((1.0, 0.0)), st.just((0.0, 0.0)), st.just((0.0,)),
                                      st.just((np.nan, 1.0)), st.just((0.0, 1.0, 2.0)), st.just(("a", "b"))))
            limits = {"xlim": (-1.0, 1.0), "ylim": (-1.0, 1.0), which: bad}
            rejects(f"loss_landscape({which})", plots.loss_landscape, ax, p, limits["xlim"], limits["ylim"],
                    names=[which])
        elif which == "resolution":
            rejects("loss_landscape(resolution)", plots.loss_landscape, ax, p, (-1, 1), (-1, 1),
                    resolution=data.draw(st.one_of(bad_scalars("int1"), st.just(1))), names=["resolution"])
        elif which == "problem":
            rejects("loss_landscape(problem)", plots.loss_landscape, ax, data.draw(NOT_NUMBERS), (-1, 1), (-1, 1),
                    names=["problem"])
        elif which == "points":
            bad = data.draw(st.one_of(NOT_NUMBERS, hnp.arrays(float, st.integers(1, 4)),
                                      hnp.arrays(float, (3, 3)), st.just(np.empty((0, 2)))))
            rejects("plot_path(points)", plots.plot_path, ax, bad, label="x", names=["points"])
        elif which == "space":
            bad = data.draw(st.text(max_size=3).filter(lambda s: s not in ("x", "y")))
            rejects("plot_paths(space)", plots.plot_paths, ax, [], space=bad, names=["space"])
        else:
            bad = data.draw(st.text(max_size=5).filter(lambda s: s not in ("iterations", "time")))
            rejects("plot_losses(against)", plots.plot_losses, ax, [], against=bad, names=["against"])
    finally:
        plt.close(fig)


# =========================================================================== the count
def test_zz_the_fuzz_generated_enough_cases():
    """Runs last (file order): at least 200 generated cases when the whole module ran."""
    if len(CASES) < 20:
        pytest.skip("only part of the fuzz module was selected")
    total = sum(CASES.values())
    print(f"\nfuzz: {total} generated bad inputs for {len(CASES)} targets")
    assert total >= 200, CASES
