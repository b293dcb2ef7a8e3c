"""The chapter "Your own simulator": its simulator (read from the notebook, as the bench reads it) and stored sweeps."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from companion.derivatives import jacobian

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import own_simulator_bench as bench  # noqa: E402


@pytest.fixture(scope="module")
def flight():
    return bench.simulator_from_notebook()["flight"]


def test_batch_rows_match_single_calls(flight):
    X = np.array([[30.0, 50.0, 20.0], [22.0, 35.0, 38.0]])
    single = np.array([flight(x) for x in X])
    assert flight(X).shape == (2, 3)
    assert np.allclose(flight(X), single, rtol=1e-8)


def test_drag_free_limit_is_the_parabola(flight):
    """With a huge terminal speed the drag vanishes: x(2) = 2 v cos a, z(t) = t v sin a - g t^2 / 2."""
    speed, angle = 25.0, 40.0
    vx, vz = speed * np.cos(np.radians(angle)), speed * np.sin(np.radians(angle))
    parabola = [2 * vx, vz - 9.81 / 2, 2 * vz - 9.81 * 2]
    assert np.allclose(flight(np.array([speed, angle, 1e7])), parabola, rtol=1e-8)


def test_complex_step_jacobian_matches_a_tight_reference(flight):
    x = np.array([25.0, 40.0, 25.0])
    reference = jacobian(lambda p: flight(p, rtol=1e-13), x, flight(x, rtol=1e-13), method="central")
    complex_step = jacobian(flight, x, flight(x), method="complex")
    assert np.max(np.abs(complex_step - reference)) <= 1e-8 * np.max(np.abs(reference))


def test_non_physical_parameters_raise_naming_them(flight):
    with pytest.raises(ValueError, match="terminal speed must be positive"):
        flight(np.array([25.0, 40.0, -1.0]))


def test_unit_free_simulator_maps_the_box_corners(flight):
    unit_free = bench.unit_free(flight)
    assert np.allclose(unit_free(-np.ones(3)), flight(bench.LOW))
    assert np.allclose(unit_free(np.ones(3)), flight(bench.HIGH))


def test_stored_sweeps_choose_values_inside_their_grids():
    stored = json.loads(bench.OUTPUT.read_text())
    for name, sweep in stored["rules"].items():
        grid, best = sweep["grid"], sweep["best_eta"]
        assert best in grid and 0 < grid.index(best) < len(grid) - 1, name


def test_stored_training_rates_are_inside_their_grids_and_complete():
    training = json.loads(bench.OUTPUT.read_text())["training"]
    for method in ("sip", "physics"):
        stored = training[method]
        best = stored["rates"].index(stored["best_rate"])
        assert 0 < best < len(stored["rates"]) - 1, method
        assert len(stored["test"]) == len(training["setup"]["seeds"]), method
