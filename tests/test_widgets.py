"""Tests of companion.widgets (the pure part and the widget shell) and of the reader set-up of the notebooks."""

import ast
import json
import math
from pathlib import Path

import numpy as np
import pytest

from companion import InverseError, problems, rules, widgets

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))


def gd_count_closed_form(alpha, eta, start=(1.5, 1.5), tol_rel=1e-8, steps=200):
    """GD on P(x) = (x1, alpha x2) splits into x1 <- (1 - eta) x1, x2 <- (1 - eta alpha^2) x2."""
    x1, x2 = start
    loss0 = 0.5 * (x1**2 + alpha**2 * x2**2)
    for k in range(1, steps + 1):
        x1, x2 = (1 - eta) * x1, (1 - eta * alpha**2) * x2
        if 0.5 * (x1**2 + alpha**2 * x2**2) <= tol_rel * loss0:
            return k
    return None


# --------------------------------------------------------------------------- pure computations
@pytest.mark.parametrize("alpha", [1.0, 3.0, 10.0])
def test_iteration_grid_matches_the_closed_form_of_gd(alpha):
    etas = np.array([0.3, 1.0, 1.8, 1.99, 2.05]) / alpha**2
    grid = widgets.iteration_grid([alpha], etas, "GD", start=(1.5, 1.5), steps=300)
    assert grid.shape == (1, etas.size)
    for eta, found in zip(etas, grid[0]):
        expected = gd_count_closed_form(alpha, eta, steps=300)
        if expected is None:
            assert math.isnan(found)
        else:
            assert found == expected


def test_iteration_counts_with_a_step_size_that_depends_on_alpha():
    alphas = [1.0, 2.0, 5.0]
    counts = widgets.iteration_counts(alphas, "GD", lambda a: 1.0 / a**2, steps=400)
    assert counts.tolist() == [gd_count_closed_form(a, 1.0 / a**2, steps=400) for a in alphas]
    # IG's count is the same for every alpha: (1 - eta)^(2k) <= tol_rel
    flat = widgets.iteration_counts([0.1, 1.0, 1000.0], "IG", 0.5)
    assert flat.tolist() == [math.ceil(math.log(1e-8) / (2 * math.log(0.5)))] * 3
    # a run that does not reach the tolerance is nan, not a number
    assert math.isnan(widgets.iteration_counts([100.0], "GD", 1e-6, steps=10)[0])


def test_iteration_functions_reject_bad_input():
    with pytest.raises(ValueError, match="alphas"):
        widgets.iteration_grid([], [0.1], "GD")
    with pytest.raises(ValueError, match="alphas"):
        widgets.iteration_counts([], "GD", 0.1)
    with pytest.raises(ValueError, match="rule_name"):
        widgets.iteration_counts([1.0], "SGD", 0.1)
    with pytest.raises(ValueError, match="eta"):
        widgets.iteration_grid([1.0], [-0.1], "GD")


def test_scaled_square_derivatives_inverse_and_minima():
    alpha = 7.0
    p = widgets.scaled_square(alpha, minimum=(1.0, 2.0))
    x = np.array([0.3, -1.7])
    h = 1e-6
    numeric = np.column_stack([(p.output(x + h * e) - p.output(x - h * e)) / (2 * h) for e in np.eye(2)])
    np.testing.assert_allclose(p.jacobian_at(x), numeric, rtol=1e-7, atol=1e-7)
    second = np.stack([(p.jacobian_at(x + h * e) - p.jacobian_at(x - h * e)) / (2 * h) for e in np.eye(2)], axis=-1)
    np.testing.assert_allclose(p.second_derivatives(x), second, atol=1e-6)
    for minimum in ([1.0, 2.0], [1.0, -2.0]):
        assert p.loss_at(minimum) == 0.0
    y = np.array([0.5, 3.0])
    for x0 in ([0.0, 0.2], [0.0, -0.2]):
        back = p.invert(y, np.array(x0))
        np.testing.assert_allclose(p.output(back), y)
        assert np.sign(back[1]) == np.sign(x0[1])
    with pytest.raises(InverseError, match="no real preimage"):
        p.invert(np.array([0.0, -1.0]), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="alpha"):
        widgets.scaled_square(-1.0)


def test_output_path_and_the_straight_line_of_pg():
    run = widgets.explore(3.0, 0.5, "PG", start=(-1.5, 0.3), steps=50, make_problem=widgets.scaled_square)
    ys = widgets.output_path(run)
    np.testing.assert_allclose(ys, [run.problem.output(x) for x in run.result.xs])
    target = run.problem.target
    k = np.arange(len(ys))[:, None]
    np.testing.assert_allclose(ys, target + 0.5**k * (ys[0] - target), atol=1e-10)
    # IG with the same eta leaves that line at the first step (the linearisation overshoots)
    ig_run = widgets.explore(3.0, 0.5, "IG", start=(-1.5, 0.3), steps=50, make_problem=widgets.scaled_square)
    assert widgets.output_path(ig_run)[1, 1] > 2 * ys[1, 1]


# --------------------------------------------------------------------------- figures
def test_render_many_panels_and_errors():
    import matplotlib.pyplot as plt

    runs = [widgets.explore(2.0, 0.5, rule, start=(-1.0, 0.5), steps=40, make_problem=widgets.scaled_square)
            for rule in ("IG", "PG")]
    fig = widgets.render_many(runs, panels=("x", "y", "loss"), xlim=(-3, 3), ylim=(-3, 3),
                              minima=[(1.0, 2.0), (1.0, -2.0)])
    left, middle, right = fig.axes[:3]
    assert left.get_xlabel() == "$x_1$" and middle.get_xlabel() == "$y_1$" and right.get_ylabel() == "loss $L$"
    assert [text.get_text() for text in middle.get_legend().get_texts()] == ["IG", "PG", "target $y^*$"]
    plt.close(fig)
    single = widgets.render(runs[1], panels=("y",))
    assert len(single.axes) == 1
    plt.close(single)
    with pytest.raises(ValueError, match="panels"):
        widgets.render_many(runs, panels=("z",))
    with pytest.raises(ValueError, match="labels"):
        widgets.render_many(runs, labels=["only one"])
    with pytest.raises(TypeError, match="Exploration"):
        widgets.render_many([runs[0].result])
    scalar = widgets.explore(2.0, 1.0, "GD", start=(1.0, 1.0, 1.0), steps=3,
                             make_problem=lambda a: problems.linear([[a, 0.0, 0.0], [0.0, 1.0, 0.0],
                                                                     [0.0, 0.0, 1.0]], np.zeros(3)))
    with pytest.raises(ValueError, match="two outputs"):
        widgets.render_many([scalar], panels=("y",))
    plt.close("all")


# --------------------------------------------------------------------------- the widget shell
def test_explorer_with_a_problem_dropdown_builds_without_display():
    box = widgets.explorer(rules_available={"GD": rules.gd, "IG": rules.ig},
                           problems_available={"linear": problems.alpha_scaled, "nonlinear": widgets.scaled_square},
                           minima={"linear": [(0.0, 0.0)], "nonlinear": [(1.0, 2.0), (1.0, -2.0)]},
                           start=(-1.5, 0.5), alpha=10.0, eta=0.5, rule="IG", draw=False)
    assert list(box.controls) == ["problem", "alpha", "eta", "rule", "x1", "x2"]
    assert box.last.problem.name.startswith("alpha-scaled") and box.last.iterations == 14
    assert box.minima() == [(0.0, 0.0)]
    box.controls["problem"].value = "nonlinear"
    assert box.last.problem.name.startswith("y = (x1, alpha x2^2)") and box.minima() == [(1.0, 2.0), (1.0, -2.0)]
    box.controls["rule"].value = "GD"
    assert box.last.rule == "GD" and "GD" in box.summary.value
    assert box.parameters() == {"alpha": 10.0, "eta": 0.5, "rule_name": "GD", "start": (-1.5, 0.5)}
    with pytest.raises(ValueError, match="problem"):
        widgets.explorer(problems_available={"linear": problems.alpha_scaled}, problem="other", draw=False)
    with pytest.raises(ValueError, match="panels"):
        widgets.explorer(panels=("x", "w"), draw=False)


def test_explorer_draws_three_panels_into_its_output_without_a_kernel():
    box = widgets.explorer(widgets.scaled_square, {"PG": rules.pg, "IG": rules.ig}, panels=("x", "y", "loss"),
                           minima=[(1.0, 2.0), (1.0, -2.0)], xlim=(-3, 3), ylim=(-3, 3), start=(-1.5, 0.3),
                           alpha=1.0, eta=0.5, rule="PG", steps=50)
    assert box.last.iterations == 14
    box.controls["eta"].value = 1.0
    assert box.last.iterations == 1


def test_default_explorer_is_unchanged():
    box = widgets.explorer(draw=False)
    assert set(box.controls) == {"alpha", "eta", "rule", "x1", "x2"}
    assert box.problem_factory() is problems.alpha_scaled and box.minima() == ((0.0, 0.0),)


# --------------------------------------------------------------------------- explorers start where the author put them
STARTING_VALUES = ("alpha", "eta", "start", "alpha_range", "eta_range", "xlim", "ylim", "steps")


def explorer_calls():
    """(notebook, literal keyword arguments) of every ``widgets.explorer(...)`` call in the chapters."""
    found = []
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] != "code" or "widgets.explorer(" not in source:
                continue
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.Call) and ast.unparse(node.func) == "widgets.explorer":
                    literal = {}
                    for keyword in node.keywords:
                        if keyword.arg in STARTING_VALUES:
                            try:
                                literal[keyword.arg] = ast.literal_eval(keyword.value)
                            except ValueError:  # a name such as crux.START: the default problem's test covers it
                                pass
                    found.append(pytest.param(literal, id=path.stem))
    return found


def browser_snap(slider, log):
    """The value a browser's slider reports for the slider's value: the nearest point of its grid."""
    position = math.log10(slider.value) if log else slider.value
    k = round((position - slider.min) / slider.step)
    snapped = slider.min + k * slider.step
    return 10.0**snapped if log else snapped


def test_the_chapters_have_explorers():
    assert len(explorer_calls()) >= 4


@pytest.mark.parametrize("arguments", explorer_calls())
def test_each_explorer_computes_first_with_the_values_its_cell_passes(arguments):
    box = widgets.explorer(draw=False, **arguments)
    first = box.last
    expected = {"alpha": 10.0, "eta": 0.0198, "start": (1.5, 1.5)} | arguments
    assert first.alpha == expected["alpha"] and first.eta == expected["eta"]  # exact, not approximately
    assert tuple(first.start) == tuple(expected["start"])
    # In the browser every slider snaps its value to its grid and sends it back: the grid holds the
    # author's value (up to rounding), and the explorer keeps computing with the exact value.
    for name, log, value in [("alpha", True, first.alpha), ("eta", True, first.eta),
                             ("x1", False, first.start[0]), ("x2", False, first.start[1])]:
        shown = browser_snap(box.controls[name], log)
        assert shown == pytest.approx(value, rel=1e-12, abs=1e-12), name
        box.controls[name].value = shown
    again = box.last
    assert again.eta == first.eta and again.alpha == first.alpha and tuple(again.start) == tuple(first.start)
    assert again.result.fun == first.result.fun
    # a different grid point is a real change
    box.controls["eta"].value = 10.0 ** (math.log10(first.eta) - widgets.LOG_STEP)
    assert box.last.eta < first.eta


def test_slider_grids_are_aligned_to_the_starting_value_and_stay_in_range():
    lo, hi = widgets.aligned_range(0.019, 1e-5, 2.0, 0.05, log=True)
    assert math.log10(1e-5) - 1e-9 <= lo and hi <= math.log10(2.0) + 1e-9
    assert (math.log10(0.019) - lo) / 0.05 == pytest.approx(round((math.log10(0.019) - lo) / 0.05), abs=1e-9)
    assert hi > math.log10(2.0) - 0.05  # no more than one step short of the range
    with pytest.raises(ValueError, match="outside the slider's range"):
        widgets.explorer(draw=False, eta=3.0, eta_range=(1e-7, 2.0))
    with pytest.raises(ValueError, match="outside the slider's range"):
        widgets.explorer(draw=False, start=(2.5, 0.0), xlim=(-2.0, 2.0))
    # values set from Python are taken as they are
    box = widgets.explorer(draw=False, alpha=10.0, eta=0.0198, rule="GD")
    box.controls["eta"].value = 1.0
    assert box.last.eta == 1.0


def test_readout_says_where_eta_sits_against_the_stability_limit_of_gd():
    box = widgets.explorer(draw=False, alpha=10.0, eta=0.0198, rule="GD")
    assert "eta = 0.0198 = 0.99 x the stability limit 2/alpha^2 = 0.02: just below it" in box.summary.value
    assert widgets.gd_stability_limit(problems.alpha_scaled(10.0), [1.5, 1.5]) == pytest.approx(0.02)
    # the limit is 2/lambda_max of J^T J: it does not depend on the orientation of the valley
    assert widgets.gd_stability_limit(problems.linear([[0.6, -0.8], [8.0, 6.0]], [0.0, 0.0]), [0, 0]) \
        == pytest.approx(0.02)
    box.controls["eta"].value = 0.021
    assert "above it" in box.summary.value and box.last.iterations is None
    box.controls["eta"].value = 0.002
    assert "= 0.1 x" in box.summary.value and "below it" in box.summary.value
    box.controls["alpha"].value = 0.5  # lambda_max = max(1, alpha^2) = 1 is no longer alpha^2
    assert "the stability limit 2/lambda_max = 2:" in box.summary.value
    box.controls["rule"].value = "PG"
    assert "stability limit" not in box.summary.value  # only GD has this limit


def test_loss_panel_draws_an_exact_zero_on_a_floor_below_the_other_values():
    import matplotlib.pyplot as plt

    exact = widgets.explore(1.0, 1.0, "PG", steps=5)
    assert exact.result.losses[-1] == 0.0
    fig = widgets.render(exact)
    bottom = fig.axes[1].get_ylim()[0]
    assert exact.tol * 1e-4 < bottom < exact.tol
    plt.close(fig)
    assert widgets.loss_floor([np.array([1.0, 1e-3, 0.0])], [1e-8]) == pytest.approx(1e-10)
    assert widgets.loss_floor([np.array([0.0, np.nan])]) == 1e-300


# --------------------------------------------------------------------------- the notebooks as readers meet them
def code_cells(path):
    return [cell for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "code"]


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 6


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_is_the_install_guard(path):
    """On Colab companion is missing: the first code cell installs it; elsewhere the import succeeds."""
    first = "".join(code_cells(path)[0]["source"])
    lines = [line.strip() for line in first.splitlines()]
    assert lines[:3] == ["try:", "import companion", "except ImportError:"] or \
        lines[1:4] == ["try:", "import companion", "except ImportError:"], first[:200]
    assert '%pip install --quiet "companion @ git+https://github.com/' in first  # pinned: tests/test_repository.py
    assert "use_style()" in first


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_widget_cells_are_not_compared_by_nbval(path):
    for cell in code_cells(path):
        if "widgets.explorer(" in "".join(cell["source"]):
            assert "nbval-ignore-output" in cell["metadata"].get("tags", []), "".join(cell["source"])[:80]


def test_launch_buttons_point_at_the_repository_the_install_guard_uses():
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["repository"]["url"].startswith("https://github.com/")  # one place: tests/test_repository.py
    assert config["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    # Binder builds exactly requirements.txt + runtime.txt
    assert (ROOT / "runtime.txt").read_text().strip() == "python-3.11"
    assert (ROOT / "requirements.txt").read_text().rstrip().splitlines()[-1] == "-e ."
