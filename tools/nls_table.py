"""Print the Moré-Garbow-Hillstrom test-set table: problems solved and residual evaluations per method.

Every method starts from the standard start of each problem in ``companion.mgh``.
A problem counts as solved when F = |r|^2 at some evaluated point reaches one of
the paper's minimum values (relative 1e-5, absolute 1e-10); the evaluations are the
residual calls up to that point (a repeated call at the same x is not counted).
The companion rules run through ``minimize`` for at most 300 steps; SciPy's
``least_squares`` runs with the analytic Jacobian and its default tolerances.
"Residual calls / iteration" is the median over solved problems of all residual
calls of the run divided by its steps (SciPy: by its Jacobian evaluations, one per
iteration); for LM and the trust region it counts the rejected trials.

Note: with SciPy 1.17.1, ``least_squares(method="lm")`` on Biggs EXP6 returns after
3 evaluations on some calls, depending on earlier calls in the same process, so
its count can be 25 or 26 of 26.

Run: ``PYTHONPATH=$PWD .venv/bin/python tools/nls_table.py [--per-problem]``
"""

from __future__ import annotations

import sys

import numpy as np

from companion import mgh, rules


def methods():
    """(label, runner) for every compared method, ours first."""
    return [
        ("levenberg_marquardt", lambda item: mgh.run_rule(item, rules.levenberg_marquardt())),
        ("gauss_newton", lambda item: mgh.run_rule(item, rules.gauss_newton())),
        ("newton_trust_region", lambda item: mgh.run_rule(item, rules.newton_trust_region())),
        ("bfgs", lambda item: mgh.run_rule(item, rules.bfgs())),
        ("scipy lm", lambda item: mgh.run_scipy(item, "lm")),
        ("scipy trf", lambda item: mgh.run_scipy(item, "trf")),
    ]


def table() -> dict:
    """``{label: [Outcome per problem]}`` over ``mgh.CASES``."""
    return {label: [run(item) for item in mgh.CASES] for label, run in methods()}


def summary_rows(outcomes: dict) -> list:
    """Per method: label, problems solved, and over the solved ones the medians of the residual
    evaluations to the solution, of the Jacobian calls, and of the residual calls per iteration."""
    rows = []
    for label, results in outcomes.items():
        solved = [o for o in results if o.solved]
        if not solved:
            rows.append((label, 0, float("nan"), float("nan"), float("nan")))
            continue
        rows.append((label, len(solved), float(np.median([o.evaluations for o in solved])),
                     float(np.median([o.jacobian_calls for o in solved])),
                     float(np.median([o.residual_calls / max(o.iterations, 1) for o in solved]))))
    return rows


def main(argv=()) -> None:
    outcomes = table()
    total = len(mgh.CASES)
    print(f"{'method':22s} {'solved':>8s} {'median residual evals':>22s} {'median Jacobian evals':>22s} "
          f"{'residual calls / iteration':>27s}")
    for label, solved, evaluations, jacobians, per_iteration in summary_rows(outcomes):
        print(f"{label:22s} {solved:>4d}/{total:<3d} {evaluations:>22.1f} {jacobians:>22.1f} {per_iteration:>27.2f}")
    if "--per-problem" in argv:
        labels = list(outcomes)
        print()
        print(f"{'problem':30s}" + "".join(f"{label[:12]:>13s}" for label in labels))
        for k, item in enumerate(mgh.CASES):
            cells = [outcomes[label][k] for label in labels]
            print(f"{item.name:30s}" + "".join(f"{(str(o.evaluations) if o.solved else '-'):>13s}" for o in cells))


if __name__ == "__main__":
    main(sys.argv[1:])
