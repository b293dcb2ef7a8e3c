"""The Discussion chapter's comparison (companion.bench_discussion) and its committed results."""

import json
from pathlib import Path

import numpy as np
import pytest

from companion import bench, bench_discussion as bd, evidence, tasks, training
from companion.physics import coupled_oscillators as co

REPO = Path(__file__).resolve().parent.parent


def _proxy_gradient_through_training(model, theta, states, local_inverse):
    """SIP's gradient as companion.training computes it: targets from a BatchPhysics, then the network's vjp."""
    physics = training.BatchPhysics(lambda X: model.physics(X, states), local_inverse,
                                    lambda X, V: np.einsum("bmn,bm->bn", model.physics_jacobian(X, states)[1], V),
                                    model.network.n_outputs, 4, name="one batch of oscillators")
    X = model.network.forward(theta, states)
    targets = training.sip_targets(physics, X, states)
    return model.network.vjp(theta, states, (X - targets) / len(states))


def test_pseudo_inverse_sip_is_adam_on_the_proxy_loss_with_target_x_plus_J_plus_dy():
    model = tasks.oscillator_model()
    states = tasks.oscillator_data(6, seed=3)
    theta = model.init(np.random.default_rng(0))

    def local_inverse(Y, X0):  # x~ = x0 + J(x0)^+ (y - P(x0)), per sample
        options = {k: v for k, v in tasks.OSCILLATOR_PHYSICS.items() if k in ("dt", "omega", "coupling", "cubic")}
        final, _, ju = co.jacobians(states, X0, **options)
        return X0 + np.einsum("bnm,bm->bn", np.linalg.pinv(ju), Y - final)

    expected = _proxy_gradient_through_training(model, theta, states, local_inverse)
    sip = bd.sip_through_pseudo_inverse(model)
    y = sip.forward(theta, states)
    got = sip.vjp(theta, states, (y - states) / len(states))
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(y, model.forward(theta, states))  # the loss it reports is the true y-loss
    # and it is not the plain chain rule (J^T): the two gradients differ
    assert not np.allclose(got, model.vjp(theta, states, (y - states) / len(states)), rtol=1e-3)


def test_pseudo_inverse_sip_equals_exact_inverse_sip_for_an_invertible_linear_physics():
    model = tasks.toy_model(0.01)
    inputs, targets = tasks.toy_data(16)
    theta = tasks.toy_theta0(2)
    physics = tasks.toy_sip_physics(0.01)
    X = model.network.forward(theta, inputs)
    exact = model.network.vjp(theta, inputs, (X - training.sip_targets(physics, X, targets)) / 16)
    sip = bd.sip_through_pseudo_inverse(model)
    got = sip.vjp(theta, inputs, (sip.forward(theta, inputs) - targets) / 16)
    np.testing.assert_allclose(got, exact, rtol=1e-9, atol=1e-12)


def test_metrics_vanish_at_the_truth_and_measure_half_the_squared_distance():
    problem = bd.setup("sine")
    theta = problem.model.init(np.random.default_rng(0))
    x = problem.model.network.forward(theta, problem.test.inputs)
    exact = bd.Split(problem.test.inputs, problem.model.forward(theta, problem.test.inputs), x)
    assert bd.y_loss(problem.model, theta, exact) == 0.0 and bd.x_error(problem.model, theta, exact) == 0.0
    shifted = bd.Split(exact.inputs, exact.targets + 0.2, x - 0.1)
    assert bd.y_loss(problem.model, theta, shifted) == pytest.approx(0.5 * 2 * 0.04)
    assert bd.x_error(problem.model, theta, shifted) == pytest.approx(0.5 * 2 * 0.01)
    assert np.isnan(bd.x_error(problem.model, theta, bd.Split(x, exact.targets)))


def test_training_validation_and_test_data_differ():
    for name in bd.PROBLEMS:
        problem = bd.setup(name)
        for a, b in [(problem.train, problem.validation), (problem.train, problem.test),
                     (problem.validation, problem.test)]:
            assert not np.allclose(a.inputs, b.inputs), name
    with pytest.raises(ValueError, match="problem must be one of"):
        bd.setup("toys")


def test_the_sweep_widens_its_grid_until_the_best_rate_is_inside():
    problem = bd.setup("toy")
    record, runs = bd.sweep(problem, "adam", (1e-3, 3e-3, 1e-2), (0, 1), iterations=40, eval_every=20,
                            max_extensions=6)
    assert record["interior"] and len(record["grid"]) > 3 and max(record["grid"]) > 1e-2
    assert set(runs) == set(record["grid"])
    with pytest.raises(ValueError, match="at least three"):
        bd.sweep(problem, "adam", (0.1, 0.3), (0,), iterations=20, eval_every=10)


def test_a_run_is_deterministic_and_continues_its_prefix():
    problem = bd.setup("toy")
    short = bd.train_one(problem, "hig", 0.03, 1, steps=20, eval_every=10)
    long = bd.train_one(problem, "hig", 0.03, 1, steps=40, eval_every=10)
    np.testing.assert_array_equal(short.theta_at(20), long.theta_at(20))
    with pytest.raises(ValueError, match="method must be one of"):
        bd.train_one(problem, "bfgs", 0.1, 0, steps=5, eval_every=5)


@pytest.fixture(scope="module")
def quick_document(tmp_path_factory):
    out = tmp_path_factory.mktemp("discussion")
    return bench.run_discussion(quick=True, out=str(out), log=lambda message: None), out


def test_quick_run_writes_evidence_records_that_only_lack_seeds(quick_document):
    document, out = quick_document
    assert (out / "discussion.json").is_file() and (out / "discussion.png").is_file()
    assert document["schema"] == bench.DISCUSSION_SCHEMA and document["settings"]["problems"] == ["toy"]
    record = document["results"]["toy"]["y_loss"]
    assert [m["settings"]["key"] for m in record["methods"]] == list(bd.METHODS)
    # a quick run has 3 seeds and a short budget; nothing else may fall short of the standard
    problems = evidence.problems_with(record, min_seeds=3)
    assert all("train longer" in p for p in problems), problems
    assert any("fewer than 5" in p for p in evidence.problems_with(record))


def test_the_live_check_reproduces_a_stored_entry(quick_document):
    document, _ = quick_document
    check = bd.live_check(document, "toy", "sip", seed=1)
    assert check["live"]["y_loss"] == pytest.approx(check["stored"]["y_loss"], rel=1e-6)


def test_load_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="make bench"):
        bd.load(tmp_path / "discussion.json")
    (tmp_path / "discussion.json").write_text(json.dumps({"schema": "something else"}))
    with pytest.raises(ValueError, match="expected 'companion.bench.discussion/1'"):
        bd.load(tmp_path / "discussion.json")


def test_committed_results_cover_every_problem_and_method_and_the_chapter_reads_them():
    document = bd.load(REPO / "bench_results" / "discussion.json")
    assert set(document["results"]) == set(bd.PROBLEMS) and "x_error" in document["results"]["sine"]
    for records in document["results"].values():
        for record in records.values():
            assert [m["settings"]["key"] for m in record["methods"]] == list(bd.METHODS)
            assert evidence.problems_with(record) == [], record["name"]
    notebook = json.loads((REPO / "book" / "discussion.ipynb").read_text())
    source = "\n".join("".join(cell["source"]) for cell in notebook["cells"])
    outputs = "\n".join("".join(o.get("text", "")) for cell in notebook["cells"] if cell["cell_type"] == "code"
                        for o in cell.get("outputs", []))
    assert "companion.experiments" not in source and "bd.load(" in source
    assert "the live run reproduces the stored one: True" in outputs
    for records in document["results"].values():  # the chapter printed the committed numbers
        for record in records.values():
            for m in record["methods"]:
                assert evidence.describe(m["test"]) in outputs, (record["name"], m["name"])


def test_a_committed_entry_is_reproduced_by_the_live_check():
    document = bd.load(REPO / "bench_results" / "discussion.json")
    check = bd.live_check(document, "sine", "sip", seed=2)
    assert check["live"]["y_loss"] == pytest.approx(check["stored"]["y_loss"], rel=1e-6)
    assert check["live"]["x_error"] == pytest.approx(check["stored"]["x_error"], rel=1e-6)
