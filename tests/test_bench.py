"""Tests of companion.bench: the CLI and the parts run by ``all --quick`` (``compare`` and ``inverse_chapter``: tests/test_inverse_bench.py)."""

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from companion import bench

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def all_quick(tmp_path_factory):
    """Run ``python -m companion.bench all --quick --jobs 2 --out <tmp>`` once, as a user would (``make bench-quick``)."""
    out = tmp_path_factory.mktemp("bench")
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, "-m", "companion.bench", "all", "--quick", "--jobs", "2",
                                "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    return out, time.perf_counter() - started


def test_cli_lists_compare_and_rejects_unknown_commands(capsys):
    with pytest.raises(SystemExit) as excinfo:
        bench.main(["--help"])
    assert excinfo.value.code == 0
    listed = capsys.readouterr().out
    for name in ("compare", "scale", "cost", "training", "all"):
        assert name in listed
    with pytest.raises(SystemExit) as excinfo:
        bench.main(["nonsense"])
    assert excinfo.value.code == 2
    with pytest.raises(SystemExit):
        bench.main([])


def test_parser_is_extensible():
    calls = []

    def add_arguments(parser):
        parser.add_argument("--size", type=int, default=3)

    try:
        bench.subcommand("dummy", "a test subcommand", add_arguments)(lambda args: calls.append(args.size) or {})
        assert bench.main(["dummy", "--size", "5"]) == 0
        assert calls == [5]
    finally:
        bench.SUBCOMMANDS.pop("dummy", None)
    assert "dummy" not in bench.SUBCOMMANDS


# --------------------------------------------------------------------------- all --quick: scale, cost, training
def _load(out, name):
    return json.loads((out / f"{name}.json").read_text())


def _check_common(document, schema, command):
    assert document["schema"] == schema and document["command"] == command and document["quick"] is True
    assert set(document) >= {"date", "runtime_seconds", "machine", "seeds", "settings"}
    for key in ("platform", "cpu_count", "python", "numpy", "scipy"):
        assert key in document["machine"]
    assert document["date"][:2] == "20" and "T" in document["date"]


def test_all_quick_is_quick_and_writes_every_file(all_quick):
    out, seconds = all_quick
    # a smoke test: about 40 s on a quiet 2-core machine; the margin absorbs a loaded one
    assert seconds < 90, f"all --quick took {seconds:.1f} s"
    for part, files in bench.PART_FILES.items():
        for name in files:
            if name.endswith(".png"):
                png = (out / name).read_bytes()
                # training.png holds only a note while the training documents hold no comparison records
                assert png[:8] == b"\x89PNG\r\n\x1a\n" and (len(png) > 10_000 or name == "training.png"), name
            else:
                text = (out / name).read_text()
                assert "NaN" not in text and "Infinity" not in text, name
    summary = _load(out, "all")
    assert summary["schema"] == bench.ALL_SCHEMA and summary["jobs"] == 2
    assert set(summary["status"]) == set(bench.PART_FILES) - {"all"}
    assert all(v in ("ok", "not available") for v in summary["status"].values()), summary["errors"]
    assert all(v is None or v >= 0 for v in summary["part_runtime_seconds"].values())
    assert set(summary["headline"]) == {"scale_median_deviation_at_extreme_alpha", "cost_exponent",
                                        "training_verdicts"}


def test_all_writes_every_result_the_chapters_read(all_quick):
    """`make bench` from a fresh clone regenerates every committed result a chapter reads (or names who does)."""
    out, _ = all_quick
    read = bench.chapter_result_files(REPO / "book")
    assert {"sip.json", "hig_chapter.json", "discussion.json", "inverse_chapter.json", "scale.json",
            "cost.json", "training.json"} <= set(read)
    for name in read:
        assert (out / name).exists() or name in bench.SEPARATE_RESULTS, f"all --quick did not write {name}"
    assert bench.unwritten_results(REPO / "book") == []


def test_check_names_a_result_without_writer(tmp_path, capsys):
    (tmp_path / "x.ipynb").write_text(json.dumps({"cells": [{"source": ['load(results_file("nobody.json"))\n',
                                                                          'results_file("scale.json")']}]}))
    assert bench.chapter_result_files(tmp_path) == {"nobody.json": ["x.ipynb"], "scale.json": ["x.ipynb"]}
    assert bench.main(["check", "--book", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "nobody.json (read by x.ipynb) is written by no part" in captured.err
    assert "scale.json" in captured.out and "all: scale" in captured.out
    assert bench.main(["check", "--book", str(REPO / "book")]) == 0


@pytest.fixture(scope="module")
def own_parts_quick(tmp_path_factory):
    """The quick versions of scale and cost, in this process (independent of the other parts of `all`)."""
    out = tmp_path_factory.mktemp("own")
    quiet = lambda message: None  # noqa: E731
    return out, bench.run_scale(quick=True, out=str(out), log=quiet), bench.run_cost(quick=True, out=str(out), log=quiet)


def test_scale_quick_schema_invariance_and_records(own_parts_quick):
    from companion import evidence

    out, d, _ = own_parts_quick
    _check_common(d, bench.SCALE_SCHEMA, "scale")
    settings, results = d["settings"], d["results"]
    rows = results["rows"]
    assert len(rows) == len(settings["families"]) * len(settings["rules"]) * len(settings["alphas"])
    assert min(settings["alphas"]) == 1e-4 and max(settings["alphas"]) == 1e4
    for row in rows:
        assert {"family", "rule", "alpha", "eta", "tuned", "interior", "iterations", "test", "deviation",
                "statuses"} <= set(row)
        assert len(row["deviation"]) == len(settings["test_seeds"])
        assert row["tuned"] == (row["rule"] in ("GD", "Adam")) and row["interior"]
        if row["alpha"] == 1.0:
            assert all(v is None or v < 1e-15 for v in row["deviation"])  # the same run twice (up to rounding)
    for family in settings["families"]:
        for name in ("Newton", "Gauss-Newton", "IG", "PG"):
            mine = [r for r in rows if r["family"] == family and r["rule"] == name]
            assert {v for r in mine for v in r["iterations"]} == {17}
            assert max(v for r in mine for v in r["deviation"]) < 1e-8, (family, name)
        for name in ("GD", "BFGS"):
            extreme = [v for r in rows if r["family"] == family and r["rule"] == name and r["alpha"] in (1e-4, 1e4)
                       for v in r["deviation"]]
            assert evidence.spread(extreme)["median"] > 0.1, (family, name)
    assert len(results["nonlinear"]) == len(settings["rules"]) * len(settings["alphas"])
    assert len(results["comparisons"]) == len(settings["families"]) * len(settings["record_alphas"])
    for record in results["comparisons"]:
        assert evidence.problems_with(record) == [], record["name"]
    assert (out / "scale.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cost_quick_schema_and_skips(own_parts_quick):
    _, _, d = own_parts_quick
    _check_common(d, bench.COST_SCHEMA, "cost")
    settings, results = d["settings"], d["results"]
    assert settings["ns"] == [32, 64, 128, 256]
    assert len(results["rows"]) == len(settings["ns"]) * len(settings["rules"])
    for row in results["rows"]:
        assert {"rule", "rule_used", "n", "skipped", "reason", "wall", "cpu", "samples"} <= set(row)
        if row["skipped"]:
            assert row["reason"] and row["wall"] is None and row["samples"] == 0
        else:
            assert row["wall"] > 0 and row["cpu"] >= 0 and 1 <= row["samples"] <= settings["repeats"]
        if row["rule"] == "Newton":
            assert row["rule_used"] == ("Newton" if row["n"] == 32 else "Gauss-Newton")
    assert set(results["fits"]) == set(settings["rules"])
    for fit in results["fits"].values():
        assert fit["exponent_cpu_all_sizes"] is not None


def test_training_schema(all_quick):
    out, _ = all_quick
    d = _load(out, "training")
    _check_common(d, bench.TRAINING_SCHEMA, "training")
    assert set(d["modules"]) == set(bench.TRAINING_MODULES)
    for name, record in d["modules"].items():
        assert record["status"] in ("ok", "not available"), record
        if record["status"] == "ok":
            assert (out / record["file"]).exists()
    for row in d["summary"]:
        assert {"source", "comparison", "method", "at_iterations", "at_seconds", "selected", "problems"} <= set(row)
    assert set(d["verdicts"]) == {row["comparison"] for row in d["summary"]}


def test_training_records_missing_and_failing_modules(tmp_path, monkeypatch):
    import types

    failing = types.ModuleType("companion_test_failing_bench")

    def run(quick, out):
        raise RuntimeError("deliberately broken")

    failing.run = run
    monkeypatch.setitem(sys.modules, "companion_test_failing_bench", failing)
    monkeypatch.setattr(bench, "TRAINING_MODULES", {"sip": ("companion_no_such_bench_module", "sip.json"),
                                                    "hig": ("companion_test_failing_bench", "bench_hig.json")})
    document = bench.run_training(quick=True, out=str(tmp_path), log=lambda message: None)
    assert document["modules"]["sip"]["status"] == "not available"
    assert document["modules"]["hig"]["status"] == "failed"
    assert "deliberately broken" in document["modules"]["hig"]["error"]
    assert document["summary"] == [] and document["verdicts"] == {}
    assert (tmp_path / "training.json").exists() and (tmp_path / "training.png").exists()


def test_settings_of_the_full_runs():
    scale = bench.scale_settings()
    assert scale["alphas"][0] == 1e-4 and scale["alphas"][-1] == 1e4 and len(scale["alphas"]) == 9
    assert all(b / a == pytest.approx(10.0) for a, b in zip(scale["alphas"], scale["alphas"][1:]))
    assert len(scale["test_seeds"]) >= 5 and len(scale["validation_seeds"]) >= 5
    assert not set(scale["test_seeds"]) & set(scale["validation_seeds"])
    assert set(scale["record_alphas"]) == {1e-4, 1.0, 1e4}
    cost = bench.cost_settings()
    assert cost["ns"] == [32, 64, 128, 256, 512, 1024, 2048, 4096]
    assert cost["repeats"] >= 3


def test_jobs_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="jobs"):
        bench.run_training(quick=True, out=str(tmp_path), jobs=0, log=lambda message: None)


def test_committed_scale_results_are_what_the_chapter_prints():
    """The benchmarks chapter re-runs one stored configuration live and prints it next to the stored value."""
    document = json.loads((REPO / "bench_results" / "scale.json").read_text())
    assert document["quick"] is False and document["schema"] == bench.SCALE_SCHEMA
    rows = document["results"]["rows"]
    outside = [(r["family"], r["alpha"], r["rule"], r["eta"]) for r in rows if r["tuned"] and not r["interior"]]
    assert outside == [], "a swept step size is at the edge of its grid"
    assert all(len(r["test"]) >= 5 for r in rows)
    outputs = "\n".join(_notebook_outputs("benchmarks"))
    row = next(r for r in document["results"]["rows"]
               if r["family"] == "rotated" and r["alpha"] == max(document["settings"]["alphas"]) and r["rule"] == "PG")
    assert f"stored for this seed: {row['test'][-1]:.3g}" in outputs


# --------------------------------------------------------------------------- the chapters read the stored results
def _notebook_outputs(name: str) -> list:
    """The text output of every code cell of book/<name>.ipynb (as committed, executed top to bottom)."""
    notebook = json.loads((REPO / "book" / f"{name}.ipynb").read_text())
    return ["".join("".join(o.get("text", "")) for o in cell.get("outputs", []))
            for cell in notebook["cells"] if cell["cell_type"] == "code"]


def _notebook_source(name: str) -> str:
    notebook = json.loads((REPO / "book" / f"{name}.ipynb").read_text())
    return "\n".join("".join(cell["source"]) for cell in notebook["cells"])


