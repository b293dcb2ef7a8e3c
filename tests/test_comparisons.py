"""Tests of companion.comparisons and of the ``training`` summary over comparison records."""

import json

import numpy as np
import pytest

from companion import bench, comparisons, evidence


def _method(name, finals, seconds_per_step, *, iterations=100, eta_best_row=1):
    seeds = list(range(len(finals)))
    curves = []
    for final in finals:
        steps = np.arange(max(iterations, int(round(1.0 / seconds_per_step))) + 1)  # both budgets used
        values = 1.0 + (final - 1.0) * np.minimum(1.0, steps / (0.5 * iterations))  # flat over the last half
        curves.append(evidence.curve(steps, steps * seconds_per_step, values))
    scores = [[2.0] * len(seeds) for _ in range(3)]
    scores[eta_best_row] = [1.0] * len(seeds)
    h = evidence.hyperparameter("eta", [0.01, 0.1, 1.0], scores, seeds=seeds)
    return evidence.method(name, seeds=seeds, test=finals, hyperparameters=[h], curves=curves)


def _record(name, *, budget_seconds):
    """A fast method (A) that ends higher and a slow one (B) that ends lower at equal iterations."""
    methods = [_method("A", [0.2, 0.3, 0.25, 0.4, 0.35], 1e-3), _method("B", [0.01, 0.02, 0.015, 0.05, 0.03], 1e-2)]
    return evidence.comparison(name, metric="test loss", validation="seeds 100-104", test="seeds 0-4",
                               budget={"iterations": 100, "seconds": budget_seconds}, methods=methods,
                               published="B beats A")


@pytest.fixture
def documents():
    # two documents of different layouts: the summary must not depend on where the records sit
    sip_like = {"schema": "x/1", "results": {"heat": {"comparison": _record("heat", budget_seconds=1.0)}}}
    hig_like = {"experiments": [_record("toy", budget_seconds=0.2), {"not": "a record"}]}
    return {"sip.json": sip_like, "bench_hig.json": hig_like, "missing.json": None}


def test_summarise_finds_every_record_whatever_the_layout(documents):
    rows = comparisons.summarise(documents)
    assert [(r["source"], r["comparison"], r["method"]) for r in rows] == [
        ("sip.json", "heat", "A"), ("sip.json", "heat", "B"), ("bench_hig.json", "toy", "A"),
        ("bench_hig.json", "toy", "B")]
    a = rows[0]
    assert a["at_iterations"] == evidence.spread([0.2, 0.3, 0.25, 0.4, 0.35])
    assert a["selected"] == {"eta": 0.1} and a["problems"] == []


def test_the_wall_clock_budget_changes_the_verdict(documents):
    rows = comparisons.summarise(documents)
    toy = {r["method"]: r for r in rows if r["comparison"] == "toy"}
    # at 0.2 s the slow method B has done only 20 of its 100 steps: still above A's final values
    assert toy["B"]["at_seconds"]["median"] > toy["A"]["at_seconds"]["median"]
    verdicts = comparisons.verdicts(rows)
    assert verdicts["toy"] == {"at_iterations": "B", "at_seconds": "A"}
    assert verdicts["heat"] == {"at_iterations": "B", "at_seconds": "B"}


def test_table_lists_every_method_and_flags_shortfalls(documents):
    short = _record("short", budget_seconds=1.0)
    short["methods"][0]["hyperparameters"][0]["interior"] = False
    text = comparisons.table(comparisons.summarise({**documents, "other.json": short}))
    assert text.count("\n  A ") == 3 and "B beats A" not in text
    assert "! short / A: best eta" in text
    assert comparisons.table([]) == "no comparison records"


def test_plot_comparison_draws_both_axes(documents):
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    axes = Figure().subplots(1, 2)
    comparisons.plot_comparison(axes, documents["bench_hig.json"]["experiments"][0])
    assert axes[0].get_xlabel() == "iterations" and axes[1].get_xlabel() == "wall-clock seconds"
    assert len(axes[0].lines) >= 2 * 6  # per method 5 seeds and the median, plus the budget line


def test_training_summarises_stored_documents(tmp_path, documents):
    (tmp_path / "sip.json").write_text(json.dumps(documents["sip.json"]))
    (tmp_path / "bench_hig.json").write_text(json.dumps(documents["bench_hig.json"]))
    document = bench.run_training(out=str(tmp_path), stored=True, log=lambda message: None)
    assert document["schema"] == bench.TRAINING_SCHEMA
    assert {r["comparison"] for r in document["summary"]} == {"heat", "toy"}
    assert document["verdicts"]["toy"]["at_seconds"] == "A"
    assert document["seeds"] == [0, 1, 2, 3, 4]
    assert json.loads((tmp_path / "training.json").read_text())["summary"] == document["summary"]
    png = (tmp_path / "training.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_training_names_missing_stored_documents(tmp_path):
    document = bench.run_training(out=str(tmp_path), stored=True, log=lambda message: None)
    assert {m["status"] for m in document["modules"].values()} == {"missing"}
    assert all("make bench" in m["error"] for m in document["modules"].values())
    assert document["summary"] == []
