"""The evidence standard (companion.evidence) and every comparison in the committed bench results."""

import json
from pathlib import Path

import numpy as np
import pytest

from companion import evidence

RESULTS = Path(__file__).resolve().parent.parent / "bench_results"


def committed_comparisons():
    found = []
    for path in sorted(RESULTS.glob("*.json")):
        document = json.loads(path.read_text())
        for record in evidence.find_comparisons(document):
            found.append((path.name, record))
    return found


def _record(seeds=5, grid=(0.01, 0.1, 1.0), best_row=1, tail_drop=1.0, budget_seconds=1.0):
    seeds = list(range(seeds))
    methods = []
    for name in ("A", "B"):
        scores = [[2.0] * len(seeds) for _ in grid]
        scores[best_row] = [1.0] * len(seeds)
        h = evidence.hyperparameter("eta", grid, scores, seeds=seeds)
        curves = [evidence.curve(np.arange(101), np.linspace(0, 1.2, 101),
                                 np.r_[np.linspace(2, 1, 81), np.linspace(1, 1 / tail_drop, 20)]) for _ in seeds]
        methods.append(evidence.method(name, seeds=seeds, test=[1.0] * len(seeds), hyperparameters=[h],
                                       curves=curves))
    return evidence.comparison("toy", metric="loss", validation="val set", test="test set",
                               budget={"iterations": 100, "seconds": budget_seconds}, methods=methods,
                               published="the paper reports A = B")


def test_a_good_record_has_no_problems():
    assert evidence.problems_with(_record()) == []


@pytest.mark.parametrize("change, message", [
    (dict(seeds=3), "fewer than 5"),
    (dict(best_row=0), "not strictly inside"),
    (dict(best_row=2), "not strictly inside"),
    (dict(tail_drop=10.0), "train longer"),
    (dict(budget_seconds=5.0), "before the wall-clock budget"),
])
def test_each_shortfall_is_named(change, message):
    assert any(message in p for p in evidence.problems_with(_record(**change)))


def test_same_validation_and_test_data_is_a_problem():
    record = _record()
    record["test"] = record["validation"]
    assert any("same data" in p for p in evidence.problems_with(record))


def test_selection_uses_the_median_and_penalises_failed_seeds():
    assert evidence.select([1, 2, 3], [[5, 5, 5], [1, 9, 1], [0.1, None, 0.1]]) == 1
    with pytest.raises(ValueError, match="one row"):
        evidence.select([1, 2], [[1.0]])


def test_value_at_the_wall_clock_budget():
    c = evidence.curve([0, 1, 2, 3], [0.0, 0.5, 1.0, 1.5], [4.0, 3.0, 2.0, 1.0])
    assert evidence.value_at(c, 1.2, axis="seconds") == 2.0
    assert evidence.value_at(c, 3) == 1.0


def test_curves_are_thinned_but_keep_both_ends():
    c = evidence.curve(np.arange(5000), np.linspace(0, 1, 5000), np.linspace(1, 0, 5000))
    assert len(c["iterations"]) <= evidence.CURVE_POINTS
    assert c["iterations"][0] == 0 and c["iterations"][-1] == 4999


def test_plot_bands_draws_a_median(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    record = _record()
    ax = Figure().subplots()
    line = evidence.plot_bands(ax, record["methods"][0], axis="seconds")
    assert np.all(np.isfinite(line.get_ydata()[1:]))


@pytest.mark.parametrize("name, record", committed_comparisons(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_committed_comparison_meets_the_standard(name, record):
    assert evidence.problems_with(record) == [], f"{name}: {record['name']}"


def test_bands_on_the_seconds_axis_start_at_the_first_positive_time():
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    curves = [evidence.curve(np.arange(50), np.linspace(0, 1 + s, 50), np.linspace(2, 1, 50)) for s in range(5)]
    record = evidence.method("A", seeds=range(5), test=[1.0] * 5, curves=curves)
    line = evidence.plot_bands(Figure().subplots(), record, axis="seconds")
    assert line.get_xdata()[0] < 0.05


#: The comparisons the chapters draw conclusions from: file -> the fewest records it must hold.
EXPECTED_RECORDS = {"sip.json": 6, "bench_hig.json": 3, "discussion.json": 4, "compare.json": 3,
                    "inverse_chapter.json": 3, "scale.json": 6, "own_simulator.json": 1}


@pytest.mark.parametrize("name, fewest", EXPECTED_RECORDS.items())
def test_every_comparison_of_the_chapters_is_stored_as_a_record(name, fewest):
    document = json.loads((RESULTS / name).read_text())
    assert len(list(evidence.find_comparisons(document))) >= fewest


def test_a_spike_before_the_end_is_not_progress_but_a_steady_fall_is():
    iterations, seconds = np.arange(101), np.linspace(0, 1.2, 101)
    flat_with_spike = np.r_[np.linspace(2, 1, 81), np.ones(20)]
    flat_with_spike[80] = 5.0                       # a spike at the start of the last fifth
    falling = np.r_[np.linspace(2, 1, 81), np.geomspace(1, 0.1, 20)]
    for values, expected in ((flat_with_spike, True), (falling, False)):
        curves = [evidence.curve(iterations, seconds, values) for _ in range(5)]
        record = evidence.method("A", seeds=range(5), test=[1.0] * 5, curves=curves)
        assert evidence.flattened(record, {"iterations": 100, "seconds": 1.0}) is expected
