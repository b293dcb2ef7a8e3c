"""A small hand-made mutation runner for the core modules of companion.

Each mutant replaces one piece of text (an operator, a sign, an index, a
constant) in one of ``companion/{rules,linalg,problems,driver,hig}.py``.  The
runner copies ``companion/``, ``tests/`` and ``pyproject.toml`` into a
temporary directory, applies one mutant at a time to the *copy* (the real
files are never edited), runs the fast tests relevant to that module with
``pytest -x`` and counts the mutant *killed* when a test fails (or the run
times out), *survived* when every test passes.  Mutants marked equivalent
(the change cannot alter any result; the reason is written beside them) are
run too but left out of the score.

Usage, from the repository root::

    PYTHONPATH=$PWD .venv/bin/python tools/mutate.py               # every module
    PYTHONPATH=$PWD .venv/bin/python tools/mutate.py linalg driver # some modules
    PYTHONPATH=$PWD .venv/bin/python tools/mutate.py --list        # print the mutants only

It first runs the tests on the unmutated copy: tests that already fail there
are deselected for the mutants and listed.  Hypothesis runs with a fixed seed,
so that a verdict does not depend on the examples drawn.  The runner exits
with status 1 when a non-equivalent mutant survives.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 300  # seconds per mutant; a mutant that loops for ever counts as killed

#: The fast tests run against the mutants of each module, cheapest and most targeted first (pytest -x).
TESTS = {
    "linalg": ["tests/test_mutation_gaps.py", "--doctest-modules", "companion/linalg.py", "tests/test_linalg.py",
               "tests/test_rules.py"],
    "rules": ["tests/test_mutation_gaps.py", "--doctest-modules", "companion/rules.py", "tests/test_rules.py",
              "tests/test_scale_invariance.py", "tests/test_driver.py"],
    "problems": ["tests/test_mutation_gaps.py", "--doctest-modules", "companion/problems.py",
                 "tests/test_problems.py", "tests/test_rules.py"],
    "driver": ["tests/test_mutation_gaps.py", "--doctest-modules", "companion/driver.py", "tests/test_driver.py"],
    "hig": ["tests/test_mutation_gaps.py", "--doctest-modules", "companion/hig.py", "tests/test_hig.py"],
}


@dataclass(frozen=True)
class Mutant:
    module: str
    old: str
    new: str
    what: str
    equivalent: str = ""  # why the change cannot alter a result, when it cannot


M = Mutant
MUTANTS = [
    # ------------------------------------------------------------------ linalg
    M("linalg", "keep = s > rtol * s[0]", "keep = s >= rtol * s[0]", "svd_power keeps s = rtol smax"),
    M("linalg", "if kappa >= 0:", "if kappa > 0:", "svd_power: kappa = 0 takes the truncating branch"),
    M("linalg", "powered[keep] = s[keep] ** kappa", "powered[keep] = s[keep] ** -kappa", "svd_power: sign of kappa"),
    M("linalg", "result = (vt.T * powered) @ u.T", "result = (vt.T * powered) @ u", "svd_power: U instead of U^T"),
    M("linalg", "if s[0] == 0 or s[-1] <= rtol * s[0]:", "if s[0] == 0 or s[-1] < rtol * s[0]:",
      "solve accepts smin = rtol smax"),
    M("linalg", "solution = vt.T @ ((u.T @ rhs) / s)", "solution = vt @ ((u.T @ rhs) / s)", "solve: V^T for V"),
    M("linalg", "return float(s[0] / s[-1]) if s[-1] > 0", "return float(s[-1] / s[0]) if s[-1] > 0",
      "condition_number inverted"),
    M("linalg", "DEFAULT_RTOL = 1e-12", "DEFAULT_RTOL = 1e-6", "default threshold 1e-6"),
    M("linalg", "keep = s > rtol * s[0] if s[0] > 0 else", "keep = s > rtol * s[0] if s[0] >= 0 else",
      "svd_power: zero matrix takes the comparison branch",
      equivalent="for s[0] = 0 every s is 0 and 's > 0' is False everywhere, as in the else branch"),
    # ------------------------------------------------------------------ rules
    M("rules", "<= value + c1 * t * slope", "<= value - c1 * t * slope", "Armijo: sign of the decrease"),
    M("rules", "c1=1e-4, tries=60", "c1=1e-4, tries=2", "Armijo: two tries"),
    M("rules", "    return -d * linalg.solve(", "    return d * linalg.solve(", "Newton: sign of the step"),
    M("rules", "hessian * np.outer(d, d), d * gradient", "hessian * np.outer(d, d), gradient",
      "Newton: unscaled gradient"),
    M("rules", "d = 1.0 / np.sqrt(np.where(regular", "d = 1.0 / (np.where(regular", "Newton: D without the root"),
    M("rules", "regular = diagonal > np.finfo(float).tiny", "regular = diagonal >= 0",
      "Newton: a zero diagonal entry is used as a scale"),
    M("rules", "@ problem.loss_gradient_in_y(y) / curvature", "@ problem.loss_gradient_in_y(y) * curvature",
      "GN: curvature multiplies"),
    M("rules", "@ (inverse_root @ problem.loss_gradient_in_y(y))", "@ (root @ problem.loss_gradient_in_y(y))",
      "GN general loss: L_yy^(1/2) for L_yy^(-1/2)"),
    M("rules", "        return d * linalg.solve(\n            jac * d, dy,",
      "        return linalg.solve(\n            jac * d, dy,", "IG: column scale not undone"),
    M("rules", "return problem.invert(y + problem.newton_step_in_y(y, eta), x) - x",
      "return problem.invert(y + problem.newton_step_in_y(y, eta), x) + x", "PG: + x0"),
    M("rules", "return problem.invert(y + problem.newton_step_in_y(y, eta), x) - x",
      "return problem.invert(y - problem.newton_step_in_y(y, eta), x) - x", "PG: step away from the target"),
    M("rules", "problem.newton_step_in_y(problem.output(x), 1.0), rtol=rtol)",
      "problem.newton_step_in_y(problem.output(x), 0.5), rtol=rtol)", "IG: half the output step"),
    M("rules", "return eta * direction(_check_problem(problem)", "return direction(_check_problem(problem)",
      "stateless rules ignore eta"),
    M("rules", "m = beta1 * state.m + (1 - beta1) * g", "m = beta1 * state.m + (1 - beta2) * g", "Adam: beta2 in m"),
    M("rules", "v = beta2 * state.v + (1 - beta2) * g * g", "v = beta2 * state.v + (1 - beta2) * g",
      "Adam: g for g^2"),
    M("rules", "m_hat = m / (1 - beta1**t)", "m_hat = m", "Adam: no bias correction of m"),
    M("rules", "v_hat = v / (1 - beta2**t)", "v_hat = v", "Adam: no bias correction of v"),
    M("rules", "(np.sqrt(v_hat) + eps)", "(v_hat + eps)", "Adam: v for sqrt(v)"),
    M("rules", "t = state.t + 1", "t = state.t + 2", "Adam: counter"),
    M("rules", "if sy <= 1e-12 * np.linalg.norm(s)", "if sy >= 1e-12 * np.linalg.norm(s)",
      "BFGS: skips the good updates"),
    M("rules", "rho = 1.0 / sy", "rho = 0.5 / sy", "BFGS: rho halved"),
    M("rules", "(rho * rho * float(y @ by) + rho)", "(rho * rho * float(y @ by) - rho)", "BFGS: sign of rho s s^T"),
    M("rules", "np.outer(s, by) + np.outer(by, s)", "np.outer(s, by) + np.outer(s, by)", "BFGS: non-symmetric update"),
    M("rules", "_bfgs_update(inverse_hessian, x - state.x, gradient - state.gradient)",
      "_bfgs_update(inverse_hessian, gradient - state.gradient, x - state.x)", "BFGS: s and y swapped"),
    M("rules", "return eta * direction, BFGSState(inverse_hessian, x, gradient)",
      "return direction, BFGSState(inverse_hessian, x, gradient)", "BFGS without line search ignores eta"),
    M("rules", "if float(direction @ gradient) >= 0:", "if float(direction @ gradient) > 0:",
      "BFGS: restart test strict",
      equivalent="direction @ gradient = 0 only when B g = 0 for a positive definite B, i.e. g = 0, "
                 "where both branches give a zero direction"),
    M("rules", "            if fallback is None:\n                raise",
      "            if fallback is not None:\n                raise", "PG: fallback inverted"),
    # ------------------------------------------------------------------ problems
    M("problems", "return 0.5 * c * float(r @ r)", "return c * float(r @ r)", "squared error without 1/2"),
    M("problems", "return c * (y - target)", "return (y - target)", "squared error gradient without c"),
    M("problems", "return c * np.eye(y.size)", "return np.eye(y.size)", "squared error Hessian without c"),
    M("problems", "isotropic_curvature=c)", "isotropic_curvature=1.0)", "curvature always 1"),
    M("problems", "return self.jacobian_at(x).T @ grad_y", "return -self.jacobian_at(x).T @ grad_y",
      "gradient sign"),
    M("problems", "hessian = hessian + np.tensordot(grad_y, second, axes=1)",
      "hessian = hessian - np.tensordot(grad_y, second, axes=1)", "composite Hessian: sign of the second term"),
    M("problems", "hessian = jac.T @ self.loss_hessian_in_y(y) @ jac", "hessian = jac.T @ jac",
      "composite Hessian ignores L_yy"),
    M("problems", "return jac.T @ self.loss_hessian_in_y(self.output(x)) @ jac", "return jac.T @ jac",
      "Gauss-Newton matrix ignores L_yy"),
    M("problems", "return -eta * self.loss_gradient_in_y(y) / self.loss.isotropic_curvature",
      "return -eta * self.loss_gradient_in_y(y) * self.loss.isotropic_curvature", "Newton step in y: c multiplies"),
    M("problems", "        return -eta * linalg.solve(\n            self.loss_hessian_in_y(y),",
      "        return eta * linalg.solve(\n            self.loss_hessian_in_y(y),", "Newton step in y: sign"),
    M("problems", "return problem.jacobian_at(to_x(z)) * scale", "return problem.jacobian_at(to_x(z)) / scale",
      "reparametrize: J D^-1"),
    M("problems", "return problem.second_derivatives(to_x(z)) * np.outer(scale, scale)",
      "return problem.second_derivatives(to_x(z)) * scale", "reparametrize: second derivatives scaled once"),
    M("problems", "return problem.hessian(to_x(z)) * np.outer(scale, scale)",
      "return problem.hessian(to_x(z)) * scale", "reparametrize: user Hessian scaled once"),
    M("problems", "return problem.invert(y, to_x(z0)) / scale", "return problem.invert(y, to_x(z0)) * scale",
      "reparametrize: inverse D"),
    M("problems", "return scale * problem.vjp(to_x(z), v)", "return problem.vjp(to_x(z), v)",
      "reparametrize: vjp unscaled"),
    M("problems", "return matrix.T @ problem.vjp(matrix @ z, v)", "return matrix @ problem.vjp(matrix @ z, v)",
      "reparametrize_linear: vjp with M for M^T"),
    M("problems", "return inverse_matrix @ problem.invert(y, matrix @ z0)",
      "return matrix @ problem.invert(y, matrix @ z0)", "reparametrize_linear: inverse with M"),
    M("problems", '"ai,kab,bj->kij"', '"ia,kab,bj->kij"', "reparametrize_linear: M for M^T in the second derivatives"),
    M("problems", "problem.jacobian_at(matrix @ z) @ matrix,", "problem.jacobian_at(matrix @ z) @ inverse_matrix,",
      "reparametrize_linear: J M^-1"),
    M("problems", "return matrix.T @ problem.hessian(matrix @ z) @ matrix",
      "return matrix @ problem.hessian(matrix @ z) @ matrix", "reparametrize_linear: user Hessian with M for M^T"),
    M("problems", "linalg.condition_number(matrix) >= 1 / linalg.DEFAULT_RTOL",
      "linalg.condition_number(matrix) <= 1 / linalg.DEFAULT_RTOL", "reparametrize_linear refuses good maps"),
    M("problems", "sign = 1.0 if x0[1] >= 0 else -1.0", "sign = 1.0 if x0[1] > 0 else -1.0",
      "square_second inverse: x0_2 = 0 picks the negative root"),
    M("problems", "    if y[0] < 0:\n        raise InverseError(\n            f\"y = x^2",
      "    if y[0] <= 0:\n        raise InverseError(\n            f\"y = x^2", "scalar_square inverse refuses y = 0"),
    M("problems", "jacobian=lambda x: np.array([[1.0, 0.0], [0.0, 2.0 * x[1]]])",
      "jacobian=lambda x: np.array([[1.0, 0.0], [0.0, x[1]]])", "square_second Jacobian"),
    M("problems", "return np.array([[-20.0 * x[0], 10.0], [-1.0, 0.0]])",
      "return np.array([[-10.0 * x[0], 10.0], [-1.0, 0.0]])", "Rosenbrock Jacobian"),
    M("problems", "return np.array([[[-20.0, 0.0], [0.0, 0.0]], np.zeros((2, 2))])",
      "return np.array([[[20.0, 0.0], [0.0, 0.0]], np.zeros((2, 2))])", "Rosenbrock second derivatives"),
    M("problems", "    if y[0] <= 0:\n        raise InverseError(f\"y = exp(x)",
      "    if y[0] < 0:\n        raise InverseError(f\"y = exp(x)", "exponential inverse accepts y = 0"),
    M("problems", "inverse=lambda y, x0: y / diagonal,", "inverse=lambda y, x0: y * diagonal,",
      "alpha_scaled inverse"),
    M("problems", "if square and linalg.condition_number(matrix) < 1 / linalg.DEFAULT_RTOL:",
      "if square and linalg.condition_number(matrix) > 1 / linalg.DEFAULT_RTOL:", "linear keeps only bad inverses"),
    # ------------------------------------------------------------------ driver
    M("driver", "        if loss > limit:", "        if loss >= limit:", "blow-up at exactly the limit",
      equivalent="the loss would have to equal blowup * L(x0) to the last bit; no run can be made to hit it "
                 "except by construction, and then both readings are defensible"),
    M("driver", "limit = blowup * max(loss, np.finfo(float).tiny)", "limit = blowup * loss",
      "blow-up limit without the floor",
      equivalent="L(x0) = 0 makes the run stop at the start as converged (0 <= tol), before the limit is used"),
    M("driver", "        if loss <= threshold:\n            status, message = 0, f\"loss {loss:.3g} <= {reached} after",
      "        if loss < threshold:\n            status, message = 0, f\"loss {loss:.3g} <= {reached} after",
      "convergence test strict in the loop"),
    M("driver", "    if loss <= threshold:\n        status, message = 0,",
      "    if loss < threshold:\n        status, message = 0,", "convergence test strict at the start"),
    M("driver", "threshold = max(tol, rtol * loss)", "threshold = min(tol, rtol * loss)", "rtol: smaller threshold"),
    M("driver", "    if np.isnan(loss_new):", "    if False:", "no NaN check of the loss"),
    M("driver", "    if not np.isfinite(loss_new):", "    if np.isneginf(loss_new):",
      "no overflow check of the loss"),
    M("driver", "        if not np.all(np.isfinite(y_new)):", "        if np.all(np.isnan(y_new)):",
      "simulator: only an all-NaN output is caught"),
    M("driver", "        if not np.all(np.isfinite(x_new)):", "        if np.all(np.isnan(x_new)):",
      "overflowing x not caught"),
    M("driver", "            if not np.all(np.isfinite(dx)):", "            if np.all(np.isnan(dx)):",
      "non-finite step not caught"),
    M("driver", "return bool(np.all(unchanged | (np.abs(dx) <= xtol * np.abs(x))))",
      "return bool(np.any(unchanged | (np.abs(dx) <= xtol * np.abs(x))))", "stall test on any component"),
    M("driver", "return bool(np.all(unchanged | (np.abs(dx) <= xtol * np.abs(x))))",
      "return bool(np.all(unchanged & (np.abs(dx) <= xtol * np.abs(x))))", "stall needs both tests"),
    M("driver", "unchanged = x + dx == x", "unchanged = dx == 0", "only an exactly zero step is stalled"),
    M("driver", "return bool(np.all(unchanged | (np.abs(dx) <= xtol * np.abs(x))))",
      "return bool(np.all(unchanged | (np.abs(dx) < xtol * np.abs(x))))", "relative stall test strict",
      equivalent="differs only when |dx_i| equals xtol |x_i| to the last bit with x_i + dx_i != x_i"),
    M("driver", "if patience is not None and since_best >= patience:", "if patience is not None and since_best > patience:",
      "patience off by one"),
    M("driver", "        if loss < best:", "        if loss <= best:", "an equal loss counts as a decrease"),
    M("driver", "nit=len(xs) - 1,", "nit=len(xs),", "nit off by one"),
    M("driver", "return {key: int(after[key]) - int(before.get(key, 0)) for key in after}",
      "return {key: int(after[key]) for key in after}", "calls not relative to the start"),
    M("driver", "            if stop:", "            if stop is not None:", "a callback returning False stops"),
    M("driver", "status, message = 8, f\"the callback raised", "status, message = 5, f\"the callback raised",
      "raising callback reported as status 5"),
    M("driver", "    if description:\n        message = f\"{message}; {description}\"",
      "    if False:\n        message = f\"{message}; {description}\"", "describe() ignored"),
    # ------------------------------------------------------------------ hig
    M("hig", "for start in range(0, n - batch_size + 1, batch_size):",
      "for start in range(0, n - batch_size, batch_size):", "_batches: last batch of each epoch skipped"),
    M("hig", "    if batch_size == n:\n        full", "    if batch_size >= n:\n        full",
      "_batches: >= n", equivalent="train checks batch_size <= n before calling _batches"),
    M("hig", 'KAPPA = {"gd": 1.0, "gn": -1.0, "hig": -0.5}', 'KAPPA = {"gd": 1.0, "gn": -1.0, "hig": -0.25}',
      "HIG exponent"),
    M("hig", "return -eta * (svd_power(A, kappa", "return eta * (svd_power(A, kappa", "svd_step: sign"),
    M("hig", 'return -check_positive(eta, "eta") * (A.T @ g)', 'return check_positive(eta, "eta") * (A.T @ g)',
      "gradient_step: sign"),
    M("hig", "last = k == steps or", "last = k == steps + 1 or", "last step not evaluated"),
    M("hig", "grad = vjp(g / len(idx))", "grad = vjp(g)", "Adam: summed, not mean, gradient"),
    M("hig", "batch_losses.append(float(loss.value(np.ravel(y), tb.ravel())) / len(idx))",
      "batch_losses.append(float(loss.value(np.ravel(y), tb.ravel())) / n)", "batch loss over n"),
    M("hig", "return float(loss.value(np.ravel(y), targets.ravel())) / n",
      "return float(loss.value(np.ravel(y), targets.ravel())) / (n + 1)", "full loss over n + 1"),
    M("hig", "if k % eval_every == 0 or last:", "if k % eval_every == 1 or last:", "evaluation steps shifted"),
    M("hig", 'np.einsum("bmn,bm->bn", jp, cotangent)', 'np.einsum("bnm,bm->bn", jp, cotangent)',
      "ThroughPhysics vjp with J^T for J"),
    M("hig", "return y, np.matmul(jp, jn)", "return y, 2 * np.matmul(jp, jn)", "ThroughPhysics Jacobian doubled"),
]


def _prepare(workdir: Path) -> None:
    shutil.copytree(ROOT / "companion", workdir / "companion", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests", workdir / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", workdir / "pyproject.toml")


def _pytest(workdir: Path, arguments: list, timeout: float):
    env = dict(os.environ, PYTHONPATH=str(workdir), PYTHONDONTWRITEBYTECODE="1", OPENBLAS_NUM_THREADS="1")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--hypothesis-seed=0", *arguments]
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)


def _baseline_failures(workdir: Path, module: str) -> list:
    """The tests of ``module`` that already fail without a mutant (they are deselected, and reported)."""
    completed = _pytest(workdir, ["-rf", *TESTS[module]], timeout=10 * TIMEOUT)
    failed = [line.split()[1] for line in completed.stdout.splitlines() if line.startswith("FAILED ")]
    if completed.returncode != 0 and not failed:
        raise SystemExit(f"the tests of {module} do not run without a mutant:\n{completed.stdout[-3000:]}")
    return failed


def _run_tests(workdir: Path, module: str, deselected: list) -> str:
    """``"passed"``, ``"failed"`` or ``"timeout"`` for the tests of ``module`` on the copy in ``workdir``."""
    arguments = ["-x", *TESTS[module]] + [f"--deselect={node}" for node in deselected]
    try:
        completed = _pytest(workdir, arguments, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return "timeout"
    return "passed" if completed.returncode == 0 else "failed"


def _apply(source: str, mutant: Mutant) -> str:
    count = source.count(mutant.old)
    if count != 1:
        raise SystemExit(f"mutant {mutant.what!r}: its text occurs {count} times in {mutant.module}.py, expected once")
    return source.replace(mutant.old, mutant.new)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"some of {', '.join(TESTS)} (default: all)")
    parser.add_argument("--list", action="store_true", help="print the mutants and exit")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.modules) - set(TESTS))
    if unknown:
        parser.error(f"unknown module(s) {unknown}; choose from {list(TESTS)}")
    args.modules = args.modules or list(TESTS)
    chosen = [m for m in MUTANTS if m.module in args.modules]
    for mutant in chosen:  # every mutant applies before anything runs
        _apply((ROOT / "companion" / f"{mutant.module}.py").read_text(), mutant)
    if args.list:
        for mutant in chosen:
            print(f"{mutant.module:9s} {mutant.what}{'  [equivalent]' if mutant.equivalent else ''}")
        return 0

    outcome = {}
    with tempfile.TemporaryDirectory(prefix="mutate-") as tmp:
        workdir = Path(tmp)
        _prepare(workdir)
        deselected = {module: _baseline_failures(workdir, module) for module in args.modules}
        for module, failed in deselected.items():
            for node in failed:
                print(f"deselected (fails without a mutant): {module}: {node}", flush=True)
        for mutant in chosen:
            path = workdir / "companion" / f"{mutant.module}.py"
            original = path.read_text()
            path.write_text(_apply(original, mutant))
            start = time.perf_counter()
            try:
                result = _run_tests(workdir, mutant.module, deselected[mutant.module])
            finally:
                path.write_text(original)
            verdict = "SURVIVED" if result == "passed" else ("KILLED (timeout)" if result == "timeout" else "KILLED")
            outcome[mutant] = verdict
            note = "  [equivalent]" if mutant.equivalent else ""
            print(f"{verdict:17s} {mutant.module:9s} {mutant.what}{note}  ({time.perf_counter() - start:.0f} s)",
                  flush=True)

    print()
    print(f"{'module':9s} {'killed':>7s} {'of':>4s} {'equivalent':>11s}  score")
    survivors = []
    total_killed = total_counted = 0
    for module in args.modules:
        mutants = [m for m in chosen if m.module == module]
        counted = [m for m in mutants if not m.equivalent]
        killed = [m for m in counted if outcome[m].startswith("KILLED")]
        survivors += [m for m in counted if not outcome[m].startswith("KILLED")]
        total_killed += len(killed)
        total_counted += len(counted)
        score = f"{100 * len(killed) / len(counted):.0f} %" if counted else "-"
        print(f"{module:9s} {len(killed):7d} {len(counted):4d} {len(mutants) - len(counted):11d}  {score}")
    if total_counted:
        print(f"{'all':9s} {total_killed:7d} {total_counted:4d} {'':11s}  {100 * total_killed / total_counted:.0f} %")
    for mutant in survivors:
        print(f"survived: {mutant.module}: {mutant.what}: {mutant.old!r} -> {mutant.new!r}")
    equivalent_killed = [m for m in chosen if m.equivalent and outcome[m].startswith("KILLED")]
    for mutant in equivalent_killed:
        print(f"marked equivalent but killed (check the reason): {mutant.module}: {mutant.what}")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
