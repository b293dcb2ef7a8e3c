"""Tests of companion.bench: the ``compare`` subcommand in --quick mode and the CLI."""

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from companion import bench
from companion.experiments.inverse_problems import METHODS

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


@pytest.fixture(scope="module")
def quick_run(all_quick):
    """The ``compare --quick`` part of that run."""
    out, _ = all_quick
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
    assert seconds < 60, f"all --quick took {seconds:.1f} s"
    for name in ("scale", "cost", "compare", "training", "discussion", "hig_chapter", "inverse_chapter"):
        png = (out / f"{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000, name
        text = (out / f"{name}.json").read_text()
        assert "NaN" not in text and "Infinity" not in text, name
    summary = _load(out, "all")
    assert summary["schema"] == bench.ALL_SCHEMA and summary["jobs"] == 2
    assert set(summary["status"]) == {"scale", "cost", "compare", "discussion", "hig_chapter", "inverse_chapter",
                                       "training:sip", "training:hig"}
    assert all(v in ("ok", "not available") for v in summary["status"].values()), summary["errors"]
    assert {"scale.json", "cost.json", "compare.json", "training.json", "discussion.json",
            "hig_chapter.json", "inverse_chapter.json"} <= set(summary["files"])
    assert all(v is None or v >= 0 for v in summary["part_runtime_seconds"].values())
    headline = summary["headline"]
    assert set(headline) >= {"scale_deviation", "scale_iterations", "cost_exponent", "training"}


def test_scale_schema_and_invariance(all_quick):
    out, _ = all_quick
    d = _load(out, "scale")
    _check_common(d, bench.SCALE_SCHEMA, "scale")
    settings = d["settings"]
    rows = d["results"]["rows"]
    assert len(rows) == len(settings["families"]) * len(settings["rules"]) * len(settings["alphas"])
    assert min(settings["alphas"]) == 1e-4 and max(settings["alphas"]) == 1e4
    for row in rows:
        assert {"family", "rule", "alpha", "eta", "tuned", "iterations", "converged", "status", "deviation",
                "final_loss_ratio"} <= set(row)
        assert row["converged"] == (row["iterations"] is not None)
        assert row["tuned"] == (row["rule"] in ("GD", "Adam"))
        if row["alpha"] == 1.0 and row["deviation"] is not None:
            assert row["deviation"] == 0.0  # the same run twice
    for family in settings["families"]:
        for name in ("Newton", "Gauss-Newton", "IG", "PG"):
            mine = [r for r in rows if r["family"] == family and r["rule"] == name]
            assert len({r["iterations"] for r in mine}) == 1 and mine[0]["iterations"] is not None
            assert max(r["deviation"] for r in mine) < 1e-8, (family, name)
        for name in ("GD", "BFGS"):
            extreme = [r for r in rows if r["family"] == family and r["rule"] == name and r["alpha"] in (1e-4, 1e4)]
            assert all(r["deviation"] is None or r["deviation"] > 0.1 for r in extreme), (family, name)
    gd_extreme = [r for r in rows if r["rule"] == "GD" and r["alpha"] in (1e-4, 1e4)]
    assert all(not r["converged"] for r in gd_extreme)  # condition number 1e8: far beyond the budget
    assert len(d["results"]["nonlinear"]) == len(settings["rules"]) * len(settings["alphas"])


def test_cost_schema_and_skips(all_quick):
    out, _ = all_quick
    d = _load(out, "cost")
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
    summary = d["summary"]
    if d["modules"]["hig"]["status"] == "ok":
        for entry in summary["hig"]["experiments"].values():
            assert entry["adam_over_hig"] > 0 and set(entry["median_final_loss"]) >= {"adam", "hig"}
    if d["modules"]["sip"]["status"] == "ok":
        assert summary["sip"]["sip_over_adam_cost_per_iteration"] > 0
        assert summary["sip"]["sine_series"]["xis"]


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
    assert document["summary"] == {"sip": None, "hig": None}
    assert (tmp_path / "training.json").exists() and (tmp_path / "training.png").exists()


def test_settings_of_the_full_runs():
    scale = bench.scale_settings()
    assert scale["alphas"][0] == 1e-4 and scale["alphas"][-1] == 1e4 and len(scale["alphas"]) == 17
    assert all(b / a == pytest.approx(10**0.5) for a, b in zip(scale["alphas"], scale["alphas"][1:]))
    cost = bench.cost_settings()
    assert cost["ns"] == [32, 64, 128, 256, 512, 1024, 2048, 4096]
    assert cost["repeats"] >= 3


def test_jobs_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="jobs"):
        bench.run_training(quick=True, out=str(tmp_path), jobs=0, log=lambda message: None)


# --------------------------------------------------------------------------- companion.experiments.benchmarks
import numpy as np  # noqa: E402

from companion import problems, rules  # noqa: E402
from companion.driver import minimize  # noqa: E402
from companion.experiments import benchmarks as bm  # noqa: E402


@pytest.mark.parametrize("alpha", [1e-3, 0.5, 7.0, 1e4])
def test_family_members_are_reparametrisations_of_alpha_one(alpha):
    rng = np.random.default_rng(3)
    for family in bm.FAMILIES:
        matrix = bm.family_map(family, alpha)
        direct = bm.family_problem(family, alpha)
        mapped = bm.reparametrize_linear(bm.family_problem(family, 1.0), matrix)
        for z in rng.normal(size=(3, 2)):
            np.testing.assert_allclose(direct.output(z), mapped.output(z), rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(direct.jacobian_at(z), mapped.jacobian_at(z), rtol=1e-12, atol=1e-12)
            y = rng.normal(size=2)
            np.testing.assert_allclose(direct.invert(y, z), mapped.invert(y, z), rtol=1e-9, atol=1e-12)
    # the diagonal family is exactly companion's own reparametrisation
    q = problems.reparametrize(problems.alpha_scaled(1.0), [1.0, alpha])
    z = np.array([0.3, -1.7])
    np.testing.assert_array_equal(q.output(z), problems.alpha_scaled(alpha).output(z))


def test_rotated_problem_is_symmetric_and_not_diagonal():
    p = bm.rotated_problem(100.0)
    jac = p.jacobian_at(np.zeros(2))
    np.testing.assert_allclose(jac, jac.T, atol=1e-14)
    np.testing.assert_allclose(np.linalg.eigvalsh(jac), [1.0, 100.0], rtol=1e-12)
    assert abs(jac[0, 1]) > 10  # ill-conditioned along a rotated axis: Adam's coordinates do not align with it
    hessian = jac.T @ jac
    np.testing.assert_allclose(p.hessian_at(np.ones(2)), hessian, rtol=1e-12)


def test_reparametrize_linear_matches_reparametrize_for_diagonal_maps():
    base = problems.square_second(target=(1.0, 4.0))
    scale = np.array([2.0, -0.5])
    ours, theirs = bm.reparametrize_linear(base, np.diag(scale)), problems.reparametrize(base, scale)
    z = np.array([0.7, 1.3])
    np.testing.assert_allclose(ours.output(z), theirs.output(z))
    np.testing.assert_allclose(ours.jacobian_at(z), theirs.jacobian_at(z))
    np.testing.assert_allclose(ours.hessian_at(z), theirs.hessian_at(z))
    y = np.array([0.5, 2.0])
    np.testing.assert_allclose(ours.invert(y, z), theirs.invert(y, z))
    with pytest.raises(ValueError, match="invertible"):
        bm.reparametrize_linear(base, [[1.0, 2.0], [2.0, 4.0]])


def test_path_deviation():
    matrix = np.array([[2.0, 1.0], [0.0, 1.0]])
    zs = np.array([[1.0, 1.0], [0.5, 0.2], [0.0, 0.0]])
    xs = zs @ matrix.T
    assert bm.path_deviation(xs, zs, matrix) == 0.0
    shifted = xs + np.array([0.0, 0.3])
    assert bm.path_deviation(shifted, zs, matrix) == pytest.approx(0.3 / np.linalg.norm(shifted[0]))
    with pytest.raises(ValueError):
        bm.path_deviation([[0.0, 0.0]], [[0.0, 0.0]], np.eye(2))


def test_gd_step_grid_brackets_the_stability_limit():
    for alpha in (1e-2, 1.0, 30.0):
        p = problems.alpha_scaled(alpha)
        lam = max(1.0, alpha**2)
        grid = bm.gd_step_grid(p, [1.0, 1.0])
        assert max(grid) < 2 / lam and min(grid) == pytest.approx(1e-3 / lam)
        assert any(e == pytest.approx(1 / lam) for e in grid)


def test_scale_run_tuned_and_fixed():
    row = bm.scale_run("rotated", "PG", 1e3, steps=200)
    assert row["iterations"] == 17 and row["deviation"] < 1e-10 and not row["tuned"]
    gd = bm.scale_run("alpha_scaled", "GD", 1e2, steps=50)
    assert gd["tuned"] and not gd["converged"] and gd["deviation"] > 0.5
    with pytest.raises(ValueError):
        bm.scale_run("alpha_scaled", "SGD", 1.0)
    with pytest.raises(ValueError):
        bm.family_problem("circle", 1.0)
    with pytest.raises(ValueError):
        bm.family_map("alpha_scaled", -1.0)


def test_fit_exponent_against_linregress():
    from scipy.stats import linregress

    rng = np.random.default_rng(0)
    ns = np.array([32, 64, 128, 256, 512, 1024])
    times = 1e-7 * ns**2.4 * np.exp(0.05 * rng.normal(size=ns.size))
    expected = linregress(np.log(ns), np.log(times)).slope
    assert bm.fit_exponent(ns, times) == pytest.approx(expected, rel=1e-10)
    assert bm.fit_exponent(ns, times, min_n=256) == pytest.approx(linregress(np.log(ns[3:]), np.log(times[3:])).slope)
    assert bm.fit_exponent([32, 64, 128], [1.0, None, None]) is None
    with pytest.raises(ValueError):
        bm.fit_exponent([32, 64], [1.0, -1.0])


def test_newton_is_regular_matches_the_svd_of_the_hessian():
    from companion.experiments.inverse_problems import heat_task, second_order_choice

    for n, nu_t in ((32, 1e-3), (64, 1e-3), (64, 1e-4), (128, 1e-4)):
        expected = second_order_choice(heat_task(n, nu_t))[0] == "Newton"
        assert bm.newton_is_regular(n, nu_t) == expected, (n, nu_t)


def test_cost_rules_take_a_descent_step():
    problem, x0, cutoff = bm.heat_cost_problem(32)
    for name in bm.COST_RULES:
        rule = bm.cost_rule(name, 32, 1e-3, cutoff)
        result = minimize(problem, x0, rule, steps=2)
        assert result.losses[-1] < result.losses[0], name
    with pytest.raises(ValueError):
        bm.cost_rule("HIG", 32, 1e-3, cutoff)


def test_time_step_and_cost_study_skips():
    timing = bm.time_step(problems.alpha_scaled(3.0), [1.0, 1.0], rules.newton(), repeats=3, min_sample=1e-4)
    assert 1 <= timing["samples"] <= 3 and timing["wall"] > 0 and timing["calls_per_sample"] >= 1
    study = bm.cost_study([16, 32, 64], rule_names=("GD", "IG"), repeats=1, min_sample=1e-4, budget=0.2,
                          max_step=1e-9, fit_min_n=16)
    rows = study["rows"]
    assert [r["skipped"] for r in rows if r["rule"] == "IG"] == [False, True, True]
    assert "exceeds the cap" in rows[1]["reason"]
    assert study["fits"]["IG"]["exponent_cpu"] is None and study["fits"]["IG"]["largest_n_measured"] == 16
    with pytest.raises(ValueError, match="increasing"):
        bm.cost_study([64, 32])


def test_training_summary_from_synthetic_documents():
    hig = {"settings": {"toy": {"steps": 100, "seeds": [0, 1]}, "oscillators": {"steps": 10, "seeds": [0]}},
           "toy": {"1": {"methods": {m: {"median_final_loss": v, "final_loss": [v, v], "ms_per_step": t}
                                     for m, v, t in (("adam", 1.0, 1.0), ("gn", 0.1, 3.0), ("hig", 0.01, 2.0))}}},
           "oscillators": {"methods": {"adam": {"median_final_loss": 0.5, "final_loss": [0.5], "ms_per_step": 1.0},
                                       "hig": {"median_final_loss": 0.05, "final_loss": [0.05], "ms_per_step": 4.0}}}}
    sip = {"seeds": [0, 1], "settings": {"sine": {"iterations": 50, "adam_factor": 2}},
           "targets": {"sine_largest_xi": 64.0, "sine_median_x_error_ratio_at_largest_xi_by_phi": {"0.0": 5.0, "0.7854": 9.0},
                       "sine_cost_ratio_sip_over_adam": 1.5, "heat_median_sip_fraction_of_adam_iterations": 0.25},
           "sine": {"runs": [{"seed": s, "xi": xi, "phi": 0.7854, "SIP": {"x_error": 0.01 * (s + 1)},
                              "Adam": {"x_error": 0.1 * xi}} for s in (0, 1) for xi in (1.0, 64.0)]}}
    out = bm.training_summary(sip, hig)
    toy = out["hig"]["experiments"]["toy, lambda = 1"]
    assert toy["adam_over_hig"] == pytest.approx(100.0) and toy["gn_over_hig"] == pytest.approx(10.0)
    assert toy["hig_over_adam_time_per_step"] == pytest.approx(2.0)
    assert out["hig"]["experiments"]["oscillators"]["gn_over_hig"] is None
    assert out["sip"]["adam_over_sip_x_error_at_largest_xi_min_over_phi"] == 5.0
    assert out["sip"]["iterations"] == {"SIP": 50, "Adam": 100}
    series = out["sip"]["sine_series"]
    assert series["xis"] == [1.0, 64.0] and series["SIP"]["median"] == [pytest.approx(0.015)] * 2
    assert series["SIP"]["min"] == [0.01, 0.01] and series["Adam"]["max"] == [pytest.approx(0.1), pytest.approx(6.4)]


def test_exercise_gd_iterations_against_a_run():
    for alpha in (0.5, 3.0, 10.0):
        eta = 2.0 / (1.0 + alpha**2)
        problem = problems.alpha_scaled(alpha)
        x0 = np.array([1.0, 1.0 / alpha])  # y0 = (1, 1)
        result = minimize(problem, x0, rules.gd(eta), steps=5000, tol=1e-10 * problem.loss_at(x0) * (1 + 1e-9))
        assert result.success and result.nit == bm.exercise_gd_iterations(alpha), alpha
    assert bm.exercise_gd_iterations(1.0) == 1


def test_exercise_extrapolate_against_closed_form():
    ns = [256, 512, 1024]
    times = [3e-9 * n**2.5 for n in ns]
    out = bm.exercise_extrapolate(ns, times, 4096)
    assert out["exponent"] == pytest.approx(2.5, rel=1e-12)
    assert out["prefactor"] == pytest.approx(3e-9, rel=1e-9)
    assert out["predicted"] == pytest.approx(3e-9 * 4096**2.5, rel=1e-9)
    with pytest.raises(ValueError):
        bm.exercise_extrapolate([256, 512], [1.0, None], 1024)


# --------------------------------------------------------------------------- the chapters read the stored results
def _notebook_outputs(name: str) -> list:
    """The text output of every code cell of book/<name>.ipynb (as committed, executed top to bottom)."""
    notebook = json.loads((REPO / "book" / f"{name}.ipynb").read_text())
    return ["".join("".join(o.get("text", "")) for o in cell.get("outputs", []))
            for cell in notebook["cells"] if cell["cell_type"] == "code"]


def _notebook_source(name: str) -> str:
    notebook = json.loads((REPO / "book" / f"{name}.ipynb").read_text())
    return "\n".join("".join(cell["source"]) for cell in notebook["cells"])


def test_discussion_quick_schema_and_best_runs(all_quick):
    from companion.experiments import hig as ex

    out, _ = all_quick
    d = _load(out, "discussion")
    _check_common(d, bench.DISCUSSION_SCHEMA, "discussion")
    assert d["settings"]["problems"] == ["toy"]
    runs = ex.discussion_from_document(d["results"])
    assert set(runs["equal_steps"]) == {"toy"} and runs["factors"] == {"toy": ex.DISCUSSION["toy"]["time_factor"]}
    for key, r in runs["equal_steps"]["toy"].items():
        grid = ex.DISCUSSION["toy"]["etas"][key]
        assert r.best_eta in grid and [e for e, _ in r.table] == list(grid)
        finite = [f for _, f in r.table if math.isfinite(f)]
        assert r.final_loss == min(finite) and r.final_loss == r.losses[-1]
        assert r.ms_per_step > 0 and r.iterations[-1] == ex.DISCUSSION["toy"]["steps"]
    # the live re-run of one stored entry gives the stored loss (same start, data and batches)
    gn = runs["equal_steps"]["toy"]["gn"]
    assert ex.discussion_single("toy", "gn", gn.best_eta).final_loss == pytest.approx(gn.final_loss, rel=1e-9)
    with pytest.raises(ValueError, match="no local inverse"):
        ex.discussion_single("oscillators", "sip", 0.1)
    with pytest.raises(ValueError, match="problems must be"):
        ex.discussion_runs(problems=("toys",))


def test_method_run_round_trip_keeps_nan():
    from companion.experiments import hig as ex

    run = ex.MethodRun("HIG", 0.3, 0.5, 1.25, ((0.1, 0.7), (1.0, float("nan"))), np.array([0, 10]),
                       np.array([1.0, 0.5]), np.array([0.0, 0.01]))
    stored = json.loads(json.dumps(bench._clean(ex.method_run_to_dict(run)), allow_nan=False))
    back = ex.method_run_from_dict(stored)
    assert back.table[0] == (0.1, 0.7) and math.isnan(back.table[1][1])
    assert back.method == "HIG" and back.best_eta == 0.3 and back.final_loss == 0.5
    np.testing.assert_array_equal(back.losses, run.losses)


def test_committed_discussion_results_are_what_the_chapter_prints():
    from companion.experiments import hig as ex

    document = ex.load_discussion(REPO / "bench_results" / "discussion.json")
    assert document["quick"] is False and document["settings"]["problems"] == list(ex.DISCUSSION)
    runs = ex.discussion_from_document(document["results"])
    source = _notebook_source("discussion")
    assert "ex.load_discussion(" in source and "ex.discussion_runs(" not in source
    table_output = next(text for text in _notebook_outputs("discussion") if "loss, equal steps" in text)
    for problem, method, eta, loss, _, _ in ex.discussion_table(runs):
        assert f"{problem:12s} {method:13s} {eta:9.3g} {loss:18.3g}" in table_output, (problem, method)


def test_load_discussion_names_the_fix(tmp_path):
    from companion.experiments import hig as ex

    with pytest.raises(FileNotFoundError, match="make bench"):
        ex.load_discussion(tmp_path / "discussion.json")
    (tmp_path / "discussion.json").write_text(json.dumps({"schema": "something else"}))
    with pytest.raises(ValueError, match="expected 'companion.bench.discussion/1'"):
        ex.load_discussion(tmp_path / "discussion.json")


def test_sip_bench_sweep_from_the_quick_run(all_quick):
    from companion.experiments import sip

    out, _ = all_quick
    d = json.loads((out / "sip.json").read_text())
    s = d["settings"]["sine"]
    rows = sip.bench_sweep(d)
    assert len(rows) == len(s["xis"]) * len(s["phis"])
    for row in rows:
        entries = [sip.bench_entry(d, row["xi"], row["phi"], seed) for seed in d["seeds"]]
        for name in ("SIP", "Adam"):
            assert row[name]["etas"] == tuple(e[name]["eta_nn"] for e in entries)
            assert row[name]["x_error"] == pytest.approx(np.median([e[name]["x_error"] for e in entries]))
    assert "Adam/SIP" in sip.format_sweep_table(rows)
    with pytest.raises(KeyError, match="no stored run"):
        sip.bench_entry(d, 3.0, 0.0, 0)
    chapter = d["heat_chapter"]
    assert set(chapter["methods"]) == {"SIP", "Adam", "supervised", "SIP (keep)"}
    for name, m in chapter["methods"].items():
        assert m["eta_nn"] in m["etas"] and m["x_error"] == min(m["sweep_x_errors"])
    with pytest.raises(ValueError, match="--quick"):
        sip.load_bench(out / "sip.json")


def test_committed_sip_results_are_what_the_chapter_prints():
    from companion.experiments import sip

    document = sip.load_bench(REPO / "bench_results" / "sip.json")
    source = _notebook_source("sip")
    assert "sip.load_bench(" in source and "sip.sine_sweep(" not in source
    table = sip.format_sweep_table(sip.bench_sweep(document))
    assert any(table in text for text in _notebook_outputs("sip")), "re-execute book/sip.ipynb after make bench"
    assert set(document["heat_chapter"]["methods"]) == {"SIP", "Adam", "supervised", "SIP (keep)"}
    # the prose about the live configuration (xi = 32, phi = pi/4, first seed): no rate rescues Adam,
    # and its best rate is the smallest of the grid
    live = sip.bench_entry(document, 32.0, math.pi / 4, document["seeds"][0])
    assert min(live["Adam"]["sweep_x_errors"]) > 10 * live["SIP"]["x_error"]
    assert live["Adam"]["eta_nn"] == min(document["settings"]["sine"]["etas"]) and live["Adam"]["at_edge_of_grid"]


def test_heat_comparison_rates_per_method():
    from companion.experiments import sip

    task = sip.heat_task(8, 2e-3, samples=16, test=8, seed=0)
    runs = sip.heat_comparison(task, etas={"SIP": (1e-2,), "Adam": (3e-3,), "supervised": (1e-3, 1e-2)},
                               iterations=4, hidden=(8,), eval_every=2, batch_size=8)
    assert runs["SIP"].best_eta == 1e-2 and runs["Adam"].etas == (3e-3,) and runs["supervised"].etas == (1e-3, 1e-2)
    assert runs["SIP (keep)"].best_eta == 1e-2
    with pytest.raises(KeyError, match="supervised"):
        sip.heat_comparison(task, etas={"SIP": (1e-2,), "Adam": (3e-3,)}, iterations=4, hidden=(8,), batch_size=8)


def test_inverse_chapter_quick_schema(all_quick):
    from companion.experiments import inverse_problems as inv

    out, _ = all_quick
    d = _load(out, "inverse_chapter")
    _check_common(d, bench.INVERSE_CHAPTER_SCHEMA, "inverse_chapter")
    results = d["results"]
    assert {r["method"] for r in results["pendulum"]} == set(METHODS) == {r["method"] for r in results["heat"]}
    assert {r["T"] for r in results["pendulum"]} == {2.5}
    assert {(r["n"], r["nu_t"]) for r in results["heat"]} == {(32, 1e-3)}
    for row in results["pendulum"] + results["heat"]:
        assert (row["iterations"] is None) == (not row["converged"]) and row["status"]
    assert "PG" in inv.scaling_table(results["heat"], "n", "iterations")
    with pytest.raises(ValueError, match="--quick"):
        inv.load_scaling(out / "inverse_chapter.json")


def test_committed_inverse_chapter_results_are_what_the_chapter_prints():
    from companion.experiments import inverse_problems as inv

    document = inv.load_scaling(REPO / "bench_results" / "inverse_chapter.json")
    assert document["settings"]["pendulum"]["step_counts"] == list(inv.SCALING["pendulum"]["step_counts"])
    assert [tuple(s) for s in document["settings"]["heat"]["settings"]] == list(inv.SCALING["heat"]["settings"])
    source = _notebook_source("physical_inverse_problems")
    assert "inv.load_scaling(" in source and "inv.pendulum_scaling(" not in source and "inv.heat_scaling(" not in source
    outputs = "\n".join(_notebook_outputs("physical_inverse_problems"))
    heat = document["results"]["heat"]
    for row in heat:
        if row["nu_t"] == 1e-3 and row["n"] == 32:  # x errors at n = 32 (a stored column of the table)
            assert f"{row['x_error']:.3f}" in outputs
    newton_32 = next(r for r in heat if r["method"] == "Newton" and r["n"] == 32)
    assert f"n = 32: x error Newton {newton_32['x_error']:.2f}" in outputs
