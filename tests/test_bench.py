"""Tests of companion.bench: the ``compare`` subcommand in --quick mode and the CLI."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from companion import bench
from companion.experiments.inverse_problems import METHODS

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """Run ``python -m companion.bench compare --quick --out <tmp>`` once, as a user would."""
    out = tmp_path_factory.mktemp("bench")
    completed = subprocess.run([sys.executable, "-m", "companion.bench", "compare", "--quick", "--out", str(out)],
                               cwd=REPO, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    return out, json.loads((out / "compare.json").read_text())


def test_quick_run_writes_json_and_png(quick_run):
    out, document = quick_run
    png = (out / "compare.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_quick_run_is_quick(quick_run):
    _, document = quick_run
    assert document["runtime_seconds"] < 30


def test_json_schema(quick_run):
    _, d = quick_run
    assert d["schema"] == bench.COMPARE_SCHEMA and d["command"] == "compare" and d["quick"] is True
    assert set(d) >= {"date", "runtime_seconds", "machine", "seeds", "settings", "results", "summary"}
    for key in ("platform", "cpu_count", "numpy", "scipy", "python"):
        assert key in d["machine"]
    assert isinstance(d["machine"]["cpu_count"], int) and d["machine"]["cpu_count"] >= 1
    assert d["seeds"] == [0] and d["settings"]["seeds"] == [0]
    assert d["date"][:2] == "20" and "T" in d["date"]
    row_keys = {"problem", "n", "seed", "method", "rule", "eta", "iterations", "converged", "seconds",
                "final_loss", "y_error", "x_error", "status", "nit"}
    problems_seen = set()
    for row in d["results"]:
        assert row_keys <= set(row)
        problems_seen.add(row["problem"])
        assert row["method"] in METHODS
        assert row["converged"] == (row["iterations"] is not None) == (row["seconds"] is not None)
        if row["converged"]:
            assert isinstance(row["iterations"], int) and row["iterations"] >= 1 and row["seconds"] >= 0
        assert math.isfinite(row["final_loss"]) and row["eta"] > 0
        if row["problem"] == "pendulum":
            assert {"steps", "dt", "T"} <= set(row)
        else:
            assert "nu_t" in row
    assert problems_seen == {"pendulum", "heat"}
    expected_rows = len(d["seeds"]) * (len(d["settings"]["pendulum"]) + len(d["settings"]["heat"])) * len(METHODS)
    assert len(d["results"]) == expected_rows
    for entry in d["summary"]:
        assert entry["runs"] == len(d["seeds"]) and 0 <= entry["converged"] <= entry["runs"]


def test_quick_results_make_physical_sense(quick_run):
    _, d = quick_run
    for row in d["results"]:
        if row["method"] == "PG":
            assert row["iterations"] == 1, row
        if row["problem"] == "heat" and row["converged"]:
            options = d["settings"]["heat_options"]
            assert row["y_error"] <= options["tau"] * options["noise"] * (1 + 1e-9)


def test_json_has_no_nan(quick_run):
    out, _ = quick_run
    text = (out / "compare.json").read_text()
    assert "NaN" not in text and "Infinity" not in text


def test_cli_lists_compare_and_rejects_unknown_commands(capsys):
    with pytest.raises(SystemExit) as excinfo:
        bench.main(["--help"])
    assert excinfo.value.code == 0
    assert "compare" in capsys.readouterr().out
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


def test_compare_settings():
    full = bench.compare_settings()
    assert max(s["n"] for s in full["heat"]) == 1024
    assert max(s["n"] for s in full["pendulum"]) == 32
    assert len(full["seeds"]) >= 3
    assert bench.compare_settings(True, seeds=[4, 5])["seeds"] == [4, 5]
    with pytest.raises(ValueError):
        bench.compare_settings(seeds=[])


def test_summarise_medians():
    rows = [
        {"problem": "heat", "n": 8, "nu_t": 1e-3, "method": "PG", "rule": "PG", "converged": True, "iterations": it,
         "seconds": s, "x_error": 0.1, "eta": 1.0}
        for it, s in ((1, 0.1), (3, 0.3), (None, None))
    ]
    rows[2]["converged"] = False
    (entry,) = bench.summarise(rows)
    assert entry["runs"] == 3 and entry["converged"] == 2
    assert entry["median_iterations"] == 2.0 and entry["median_seconds"] == pytest.approx(0.2)
