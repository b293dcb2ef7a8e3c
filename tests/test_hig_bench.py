"""Tests of the HIG chapter's benchmark (companion.bench_hig, `python -m companion.bench hig_chapter`) and its results."""

import json
from pathlib import Path

import numpy as np
import pytest

from companion import bench, bench_hig, evidence, hig, tasks

RESULTS = Path(__file__).resolve().parent.parent / "bench_results"


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench_hig")
    return out, bench_hig.run(quick=True, out=out)


def test_quick_run_writes_one_evidence_record_per_comparison(quick):
    out, document = quick
    on_disk = json.loads((out / "bench_hig.json").read_text())
    assert on_disk["settings"]["quick"] is True and (out / "bench_hig.png").stat().st_size > 1000
    records = list(evidence.find_comparisons(on_disk))
    assert [r["name"] for r in records] == ["toy, lambda = 1", "toy, lambda = 0.01", "coupled oscillators"]
    for record in records:
        assert [m["name"] for m in record["methods"]] == ["Adam", "Gauss-Newton", "HIG"]
        assert record["validation"] != record["test"] and record["published"] and record["departures"]
        for m in record["methods"]:
            assert len(m["curves"]) == len(m["seeds"]) == 2
            for c, status in zip(m["curves"], m["statuses"]):  # every run used both budgets (or stopped early)
                reached = (c["iterations"][-1] >= record["budget"]["iterations"]
                           and c["seconds"][-1] >= record["budget"]["seconds"])
                assert reached or status in ("diverged", "non_finite")


def test_validation_selects_the_rate_and_test_is_reported_at_it(quick):
    _, document = quick
    for record in document["comparisons"].values():
        for m in record["methods"]:
            h = m["hyperparameters"][0]
            medians = [np.inf if v is None else v for v in h["validation_median"]]
            assert h["best"] == h["grid"][int(np.argmin(medians))]


def test_sets_are_different_data():
    config = bench_hig.settings(quick=True)
    sets = bench_hig.evaluation_sets("toy", config)
    assert not np.allclose(sets["validation"][0], sets["test"][0])
    assert not np.allclose(sets["train"][0], sets["validation"][0])
    osc = bench_hig.evaluation_sets("oscillators", config)
    assert not np.allclose(osc["validation"][0], osc["test"][0])


def test_mean_loss_is_what_hig_train_reports():
    model = tasks.toy_model(0.01)
    x, t = tasks.toy_data(32)
    r = hig.train(model, tasks.toy_theta0(1), x, t, method="hig", eta=0.1, steps=5, batch_size=8, rng=0)
    assert bench_hig.mean_loss(model, r.theta, x, t) == pytest.approx(r.fun, rel=1e-9)


def test_run_once_uses_both_budgets():
    config = bench_hig.settings(quick=True)
    data = bench_hig.evaluation_sets("toy", config)
    out = bench_hig.run_once(tasks.toy_model(1.0), tasks.toy_theta0(0), data, method="adam", eta=0.01,
                             iterations=7, seconds=0.03, batch_size=16, tau=1e-4, batch_seed=0, eval_every=5)
    assert out["steps"] >= 7 and out["curve"]["seconds"][-1] >= 0.03 and out["curve"]["iterations"][-1] == out["steps"]
    assert np.isfinite(out["validation"]) and np.isfinite(out["test_at_iterations"])


def test_sensitivity_cell_records_a_failed_grid_instead_of_raising():
    config = bench_hig.chapter_settings(quick=True) | {"steps": 3, "seeds": [0], "etas": [1e6, 1e7, 1e8]}
    cell = bench_hig.sensitivity_cell("gn", 1e-12, 16, config)
    assert cell["eta"]["best"] is None and cell["test"] == [None] and cell["test_spread"]["failed"] == 1


def test_hig_chapter_quick(tmp_path):
    document = bench.run_hig_chapter(quick=True, out=str(tmp_path), log=lambda text: None)
    assert document["schema"] == bench.HIG_CHAPTER_SCHEMA and document["seeds"] == [0, 1]
    table = document["results"]["tau_batch"]
    assert np.array(table["hig"]).shape == (2, 2)
    assert [c["tau"] for c in table["gn"]] == document["settings"]["gn_taus"]
    assert (tmp_path / "hig_chapter.png").stat().st_size > 1000


# ------------------------------------------------------------------ the committed results
def test_committed_bench_hig_meets_the_evidence_standard():
    document = json.loads((RESULTS / "bench_hig.json").read_text())
    assert document["schema"] == bench_hig.SCHEMA and not document["quick"]
    records = list(evidence.find_comparisons(document))
    assert len(records) == 3
    for record in records:
        assert evidence.problems_with(record) == []


def test_committed_hig_chapter_table_has_interior_rates():
    document = json.loads((RESULTS / "hig_chapter.json").read_text())
    assert document["schema"] == bench.HIG_CHAPTER_SCHEMA and not document["quick"]
    assert len(document["seeds"]) >= evidence.MIN_SEEDS
    for row in document["results"]["tau_batch"]["hig"]:
        for cell in row:
            assert cell["eta"]["interior"], cell
    for cell in document["results"]["tau_batch"]["gn"]:  # GN may diverge for every rate (no best then)
        assert cell["eta"]["interior"] or (cell["eta"]["best"] is None and cell["test_spread"]["median"] is None)


def test_training_summary_fields_come_from_the_records(quick):
    _, document = quick
    fields = bench_hig.training_summary_fields(document)
    assert set(fields["toy"]) == {"1", "0.01"} and set(fields["oscillators"]["methods"]) == {"adam", "gn", "hig"}
    hig_record = next(m for m in document["comparisons"]["oscillators"]["methods"] if m["name"] == "HIG")
    assert fields["oscillators"]["methods"]["hig"]["final_loss"] == hig_record["test_at_seconds"]
    assert document["toy"] == fields["toy"]
