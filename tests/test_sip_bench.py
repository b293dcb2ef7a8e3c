"""Tests of companion.bench_sip: the SIP chapter's benchmark and its evidence records."""

import json

import numpy as np
import pytest

from companion import bench_sip, evidence


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("sip")
    return out, bench_sip.run(True, out, log=lambda message: None)


def _records(document):
    return list(evidence.find_comparisons(document))


def test_quick_run_writes_json_and_png(quick):
    out, document = quick
    assert document["runtime_seconds"] < 60
    on_disk = json.loads((out / "sip.json").read_text())
    assert on_disk["schema"] == bench_sip.SCHEMA and on_disk["quick"] is True and "numpy" in on_disk["machine"]
    png = (out / "sip.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert len(_records(on_disk)) == len(on_disk["settings"]["sine"]["configs"]) + 1 + len(
        on_disk["settings"]["multimodal"]["configs"])


def test_every_record_has_five_seeds_a_shared_budget_and_curves_that_reach_it(quick):
    _, document = quick
    for record in _records(document):
        problems = evidence.problems_with(record)
        # the quick run is too short to flatten and its grids are not tuned; everything else must hold
        assert not [p for p in problems if "flatten" not in p and "train longer" not in p
                    and "strictly inside" not in p], problems
        N = record["budget"]["iterations"]
        for method in record["methods"]:
            assert len(method["seeds"]) == 5
            for curve, value in zip(method["curves"], method["test"]):
                assert evidence.value_at(curve, N) == pytest.approx(value, rel=1e-5)
            h = method["hyperparameters"][0]
            medians = [np.median(row) for row in h["validation"]]
            assert h["best"] == h["grid"][int(np.argmin(medians))]


def test_heat_split_adds_up_and_the_prior_baseline_sits_on_the_floor(quick):
    _, document = quick
    heat = document["heat"]
    record = heat["record"]
    assert [m["name"] for m in record["methods"]] == ["SIP", "Adam", "Adam + prior", "supervised"]
    for method in record["methods"]:
        for split, test in zip(heat["split"][method["name"]], method["test"]):
            assert split["total"] == pytest.approx(split["resolved"] + split["discarded"], rel=1e-9)
            assert split["total"] == pytest.approx(test, rel=1e-5)
    for split in heat["split"]["Adam + prior"]:
        assert split["discarded"] == pytest.approx(split["floor"], rel=1e-9, abs=1e-12)


def test_multimodal_records_the_x_error_beside_the_branch_distance(quick):
    _, document = quick
    for entry in document["multimodal"]:
        assert 0 < np.median(entry["beyond"]) < 1
        for method in entry["record"]["methods"]:
            extra = entry["extra"][method["name"]]
            assert [e["branch_distance"] for e in extra] == pytest.approx(method["test"], rel=1e-5)
            assert all(e["x_error"] >= 0 and e["y_error"] >= 0 for e in extra)


def test_targets_keep_the_layout_of_the_training_summary(quick):
    _, document = quick
    targets = document["targets"]
    assert targets["sine_cost_ratio_sip_over_adam"] > 0
    assert 0 < targets["heat_median_sip_fraction_of_adam_iterations"] <= 1
    assert targets["sine_largest_xi"] == max(xi for xi, _ in document["settings"]["sine"]["configs"])
    run = document["sine"]["runs"][0]
    assert {"seed", "xi", "phi", "SIP", "Adam"} <= set(run) and run["SIP"]["x_error"] > 0


def test_cli(tmp_path, capsys):
    assert bench_sip.main(["--quick", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "sip.json").exists()
    out = capsys.readouterr().out.strip().splitlines()
    # one line per shortfall of the evidence standard (the quick run is too short), or the all-clear
    assert out and all(line.startswith("SIP chapter, ") for line in out) or out == [
        "every comparison meets the evidence standard"]


def test_the_chapter_reads_the_committed_results_and_shows_its_loop():
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    notebook = json.loads((repo / "book" / "sip.ipynb").read_text())
    source = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    outputs = "\n".join("".join(o.get("text", "")) for c in notebook["cells"] if c["cell_type"] == "code"
                        for o in c.get("outputs", []))
    assert "companion.experiments" not in source and "from companion.experiments" not in source
    assert "physics.inverse(y + dy, x)" in source and "nn.adam_update(" in source  # the loop is visible
    document = json.loads((repo / "bench_results" / "sip.json").read_text())
    assert document["quick"] is False
    heat_sip = next(m for m in document["heat"]["record"]["methods"] if m["name"] == "SIP")
    assert evidence.describe(heat_sip["test"], ".3g") in outputs, "re-execute book/sip.ipynb after make bench"
    assert "reproduced: False" not in outputs and "the loop reproduces the stored test x-error: True" in outputs
