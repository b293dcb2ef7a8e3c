"""Tests of companion.bench_inverse and the ``compare`` / ``inverse_chapter`` parts of companion.bench."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from companion import bench, bench_inverse, evidence

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quick_chapter(tmp_path_factory):
    out = tmp_path_factory.mktemp("inverse")
    return out, bench.run_inverse_chapter(quick=True, out=str(out), log=lambda message: None)


def test_quick_chapter_writes_a_png_and_json_without_nan(quick_chapter):
    out, _ = quick_chapter
    png = (out / "inverse_chapter.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    text = (out / "inverse_chapter.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)["schema"] == bench.INVERSE_CHAPTER_SCHEMA


def test_quick_chapter_records_are_complete_evidence(quick_chapter):
    _, document = quick_chapter
    comparisons = document["results"]["comparisons"]
    assert set(comparisons) == {"pendulum", "uneven pendulum", "heat"}
    for name, record in comparisons.items():
        assert record["schema"] == evidence.EVIDENCE_SCHEMA and record["published"] and record["departures"]
        assert record["validation"] != record["test"]
        for m in record["methods"]:
            assert len(m["seeds"]) >= 5 and len(m["curves"]) == len(m["seeds"])
            for h in m["hyperparameters"]:
                assert h["seeds"] == document["settings"][name]["validation_seeds"]
                assert not set(h["seeds"]) & set(m["seeds"])  # validation and test instances differ
            for c, status in zip(m["curves"], m["statuses"]):
                assert status == "converged" or (c["iterations"][-1] >= record["budget"]["iterations"]
                                                 and c["seconds"][-1] >= 0.999 * record["budget"]["seconds"])


def test_quick_chapter_physics_makes_sense(quick_chapter):
    _, document = quick_chapter
    for name in ("pendulum", "uneven pendulum"):
        pg = next(m for m in document["results"]["comparisons"][name]["methods"] if m["name"] == "PG")
        assert pg["settings"]["eta"] == 1.0 and pg["settings"]["iterations_to_tolerance"] == [1] * 5
        assert max(pg["test"]) < 1e-12
    heat = document["results"]["comparisons"]["heat"]["methods"]
    errors = {m["name"]: m["test_spread"]["median"] for m in heat}
    assert errors["GN"] == pytest.approx(errors["IG"], rel=1e-6) == pytest.approx(errors["PG"], rel=1e-6)
    rows = document["summary"]
    assert {r["method"] for r in rows} == {"GD", "Adam", "GN", "BFGS", "IG", "PG"}


def test_settings_quick_and_seeds():
    quick = bench_inverse.settings_of(bench_inverse.CHAPTER, quick=True)
    full = bench_inverse.settings_of(bench_inverse.CHAPTER)
    assert all(quick[k]["iterations"] <= full[k]["iterations"] for k in full)
    for entry in full.values():
        assert len(entry["test_seeds"]) >= 5 and not set(entry["test_seeds"]) & set(entry["validation_seeds"])
    assert all(e["test_seeds"] == [7, 8] for e in bench.compare_settings(True, seeds=[7, 8]).values())
    with pytest.raises(ValueError, match="seeds must not be empty"):
        bench.compare_settings(seeds=[])
    with pytest.raises(ValueError, match="unknown problem"):
        bench_inverse.run_problem("nonsense", {**full["heat"]})


def test_a_stalled_curve_is_held_to_the_budgets():
    from companion import inverse_setups, rules

    task = inverse_setups.pendulum_task(2, steps=10)
    trace = inverse_setups.traced_run(task, rules.pg(1.0), iterations=3)
    stalled = trace._replace(status="stalled")
    curve = bench_inverse._curve(stalled, 50, 2.0)
    assert curve["iterations"][-1] == 50 and curve["seconds"][-1] == 2.0
    assert curve["values"][-1] == curve["values"][-2]


@pytest.mark.parametrize("name", ["compare", "inverse_chapter"])
def test_committed_results_are_full_runs_with_every_record_meeting_the_standard(name):
    document = json.loads((REPO / "bench_results" / f"{name}.json").read_text())
    assert document["quick"] is False and document["runtime_seconds"] < 240
    records = list(evidence.find_comparisons(document))
    assert records and all(evidence.problems_with(r) == [] for r in records)
    for record in records:
        for m in record["methods"]:
            assert all(v is None or math.isfinite(v) for v in m["test"])
            assert np.all(np.asarray([v for v in m["test"] if v is not None]) >= 0)
