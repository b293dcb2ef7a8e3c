r"""The evidence standard of the course's comparisons, as data and as checks.

Every comparison of methods in the Practice chapters and in ``make bench`` is
stored as one *comparison record* (a JSON-safe dict with
``"schema": EVIDENCE_SCHEMA``), built with :func:`comparison`, and checked by
:func:`problems_with`. A comparison meets the standard when

* every swept hyper-parameter was chosen by its median score over the seeds on
  a **validation** set, and the reported numbers come from a separate **test**
  set (:func:`select`);
* every swept hyper-parameter's best value lies **strictly inside** its grid, so
  a better value outside the grid is unlikely;
* every method ran with at least :data:`MIN_SEEDS` seeds, and the numbers in the
  prose are medians with their spread (:func:`spread`, :func:`describe`);
* every method had the same budget in iterations **and** in wall-clock seconds,
  and per-seed curves of the test metric against both are stored
  (:func:`curve`), so a figure can show them as bands (:func:`plot_bands`);
* the budget was long enough for every method's progress to level off, or the method
  converged (:func:`flattened`);
* the published outcome the experiment is compared with is stated, and so are
  the departures from the published set-up.

``tests/test_evidence.py`` applies :func:`problems_with` to every record in the
committed ``bench_results/*.json``.
"""

from __future__ import annotations

import math
from typing import Iterator, Mapping, Optional, Sequence

import numpy as np

__all__ = [
    "EVIDENCE_SCHEMA", "MIN_SEEDS", "FLAT_FACTOR", "TAIL_FRACTION", "spread", "describe", "select",
    "is_interior", "hyperparameter", "curve", "value_at", "method", "comparison", "flattened",
    "problems_with", "find_comparisons", "plot_bands",
]

#: Identifier of a comparison record.
EVIDENCE_SCHEMA = "companion.evidence/1"

#: The fewest seeds a method may be reported with.
MIN_SEEDS = 5

#: A method's curves have flattened when the median over the seeds of their best-so-far values fell
#: by less than this factor over the last :data:`TAIL_FRACTION` of the budget.
FLAT_FACTOR = 2.0

#: The last part of the iteration budget over which :data:`FLAT_FACTOR` is checked.
TAIL_FRACTION = 0.2

#: Curves are stored with at most this many points per seed.
CURVE_POINTS = 200


def _finite_values(values, name: str) -> np.ndarray:
    array = np.asarray([np.nan if v is None else v for v in values], dtype=float).ravel()
    if array.size == 0:
        raise ValueError(f"{name} must not be empty")
    return array


def spread(values) -> dict:
    """Median, smallest and largest value and the number of values; a non-finite value counts as failed.

    ``None`` (a diverged run stored in JSON) and NaN are counted in ``failed`` and
    left out of the statistics; the median of all-failed runs is ``None``.

    >>> spread([3.0, 1.0, 2.0, None, 5.0])
    {'median': 2.5, 'low': 1.0, 'high': 5.0, 'n': 5, 'failed': 1}
    """
    array = _finite_values(values, "values")
    finite = array[np.isfinite(array)]
    failed = int(array.size - finite.size)
    if finite.size == 0:
        return {"median": None, "low": None, "high": None, "n": int(array.size), "failed": failed}
    return {"median": float(np.median(finite)), "low": float(finite.min()), "high": float(finite.max()),
            "n": int(array.size), "failed": failed}


def describe(values, spec: str = ".2g") -> str:
    """``"median (low to high, n seeds)"`` for the prose, e.g. ``"0.0017 (0.0011 to 0.0055, 5 seeds)"``.

    >>> describe([0.0011, 0.0017, 0.0055, 0.002, 0.0013])
    '0.0017 (0.0011 to 0.0055, 5 seeds)'
    >>> describe([1.0, None, 2.0, 3.0, 4.0])
    '2.5 (1 to 4, 5 seeds, 1 failed)'
    """
    s = spread(values)
    if s["median"] is None:
        return f"failed in all {s['n']} seeds"
    failed = f", {s['failed']} failed" if s["failed"] else ""
    return f"{s['median']:{spec}} ({s['low']:{spec}} to {s['high']:{spec}}, {s['n']} seeds{failed})"


def _median_score(row: np.ndarray) -> float:
    finite = row[np.isfinite(row)]
    if finite.size < row.size:  # a failed seed makes the setting worse than any finite score
        return math.inf
    return float(np.median(finite))


def select(grid: Sequence[float], scores) -> int:
    """Index of the grid value with the lowest median validation score over the seeds.

    ``scores[i, s]`` is the validation score (lower is better) of grid value ``i``
    and seed ``s``. A setting with a failed (non-finite) seed ranks behind every
    setting whose seeds all succeeded. Raises ``ValueError`` when every setting failed.

    >>> select([0.01, 0.1, 1.0], [[3.0, 3.1], [1.0, 1.2], [2.0, None]])
    1
    """
    grid = list(grid)
    scores = np.asarray([[np.nan if v is None else v for v in row] for row in scores], dtype=float)
    if scores.ndim != 2 or scores.shape[0] != len(grid):
        raise ValueError(f"scores must have one row of per-seed scores per grid value ({len(grid)}), "
                         f"got shape {scores.shape}")
    medians = np.array([_median_score(row) for row in scores])
    if not np.any(np.isfinite(medians)):
        finite_rows = [i for i, row in enumerate(scores) if np.any(np.isfinite(row))]
        if not finite_rows:
            raise ValueError("every setting of the grid failed on every seed; widen the grid or check the runs")
        medians = np.array([np.median(row[np.isfinite(row)]) if np.any(np.isfinite(row)) else np.inf
                            for row in scores])
    return int(np.argmin(medians))


def is_interior(grid: Sequence[float], best: float) -> bool:
    """True when ``best`` is a value of ``grid`` with a smaller and a larger value beside it.

    >>> is_interior([0.1, 0.3, 1.0], 0.3), is_interior([0.1, 0.3, 1.0], 1.0)
    (True, False)
    """
    values = sorted(float(v) for v in grid)
    return len(values) >= 3 and values[0] < float(best) < values[-1] and any(
        math.isclose(float(best), v, rel_tol=1e-12) for v in values)


def _json_number(value) -> Optional[float]:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def hyperparameter(name: str, grid: Sequence[float], scores, *, seeds: Sequence[int]) -> dict:
    """The record of one swept hyper-parameter: grid, validation scores per seed, and the selected value.

    >>> record = hyperparameter("eta", [0.01, 0.1, 1.0], [[3, 3], [1, 1], [2, 2]], seeds=[0, 1])
    >>> record["best"], record["interior"]
    (0.1, True)
    """
    index = select(grid, scores)
    grid = [float(g) for g in grid]
    return {
        "name": str(name),
        "grid": grid,
        "seeds": [int(s) for s in seeds],
        "validation": [[_json_number(v) for v in row] for row in scores],
        "validation_median": [spread(row)["median"] if spread(row)["failed"] == 0 else None for row in scores],
        "best": grid[index],
        "interior": is_interior(grid, grid[index]),
    }


def _thin(indices: int, points: int = CURVE_POINTS) -> np.ndarray:
    if indices <= points:
        return np.arange(indices)
    return np.unique(np.round(np.geomspace(1, indices, points)).astype(int) - 1)


def curve(iterations, seconds, values, *, points: int = CURVE_POINTS) -> dict:
    """One seed's curve of a metric against iterations and wall-clock seconds, thinned to ``points``.

    Points are kept log-spaced in the index so the start and the tail both stay visible;
    the last point is always kept. Non-finite values become ``None``.

    >>> curve([0, 1, 2], [0.0, 0.1, 0.2], [1.0, 0.5, float("nan")])
    {'iterations': [0, 1, 2], 'seconds': [0.0, 0.1, 0.2], 'values': [1.0, 0.5, None]}
    """
    iterations = np.asarray(iterations, dtype=float).ravel()
    seconds = np.asarray(seconds, dtype=float).ravel()
    values = np.asarray(values, dtype=float).ravel()
    if not (iterations.size == seconds.size == values.size) or iterations.size == 0:
        raise ValueError(f"iterations, seconds and values must have the same non-zero length, "
                         f"got {iterations.size}, {seconds.size}, {values.size}")
    keep = _thin(iterations.size, points)
    return {
        "iterations": [int(i) for i in iterations[keep]],
        "seconds": [float(f"{s:.6g}") for s in seconds[keep]],
        "values": [None if not math.isfinite(v) else float(f"{v:.6g}") for v in values[keep]],
    }


def value_at(curve_record: Mapping, budget: float, *, axis: str = "iterations") -> Optional[float]:
    """The curve's last value at or before ``budget`` on ``axis`` (``"iterations"`` or ``"seconds"``).

    >>> c = curve([0, 10, 20], [0.0, 1.0, 2.0], [4.0, 2.0, 1.0])
    >>> value_at(c, 1.5, axis="seconds"), value_at(c, 20)
    (2.0, 1.0)
    """
    if axis not in ("iterations", "seconds"):
        raise ValueError(f"axis must be 'iterations' or 'seconds', got {axis!r}")
    xs, ys = curve_record[axis], curve_record["values"]
    chosen = None
    for x, y in zip(xs, ys):
        if x <= budget * (1 + 1e-9):
            chosen = y
    return chosen


def method(name: str, *, seeds: Sequence[int], test: Sequence[float], hyperparameters: Sequence[dict] = (),
           curves: Sequence[dict] = (), test_at_seconds: Optional[Sequence[float]] = None,
           statuses: Optional[Sequence[str]] = None, settings: Optional[Mapping] = None,
           note: str = "") -> dict:
    """The record of one method in a comparison.

    ``test`` holds the test metric per seed at the iteration budget, ``test_at_seconds``
    at the wall-clock budget (default: read from ``curves``). ``curves`` has one
    :func:`curve` per seed; ``statuses`` says per seed how the run ended (``"converged"``
    excuses a curve that ends before the budget). ``settings`` are the fixed (not swept)
    hyper-parameters.
    """
    seeds = [int(s) for s in seeds]
    test = [_json_number(v) for v in test]
    if len(test) != len(seeds):
        raise ValueError(f"{name}: one test value per seed expected ({len(seeds)}), got {len(test)}")
    if curves and len(curves) != len(seeds):
        raise ValueError(f"{name}: one curve per seed expected ({len(seeds)}), got {len(curves)}")
    record = {
        "name": str(name),
        "seeds": seeds,
        "hyperparameters": list(hyperparameters),
        "settings": dict(settings or {}),
        "test": test,
        "test_spread": spread(test),
        "curves": list(curves),
        "statuses": list(statuses) if statuses is not None else None,
        "note": note,
    }
    if test_at_seconds is not None:
        record["test_at_seconds"] = [_json_number(v) for v in test_at_seconds]
        record["test_at_seconds_spread"] = spread(record["test_at_seconds"])
    return record


def comparison(name: str, *, metric: str, validation: str, test: str, budget: Mapping, methods: Sequence[dict],
               published: str, departures: Sequence[str] = (), note: str = "") -> dict:
    """A comparison record (``"schema": EVIDENCE_SCHEMA``).

    ``metric`` names what ``test`` values measure (lower is better); ``validation`` and
    ``test`` describe the two data sets (e.g. ``"256 samples, seed 1"``); ``budget`` is
    ``{"iterations": N, "seconds": S}``, the same for every method. When the methods'
    records lack ``test_at_seconds`` it is read from their curves at ``budget["seconds"]``.
    """
    budget = {"iterations": int(budget["iterations"]), "seconds": float(budget["seconds"])}
    methods = [dict(m) for m in methods]
    for m in methods:
        if "test_at_seconds" not in m and m["curves"]:
            m["test_at_seconds"] = [value_at(c, budget["seconds"], axis="seconds") for c in m["curves"]]
            m["test_at_seconds_spread"] = spread(m["test_at_seconds"])
    return {
        "schema": EVIDENCE_SCHEMA,
        "name": str(name),
        "metric": str(metric),
        "validation": str(validation),
        "test": str(test),
        "budget": budget,
        "published": str(published),
        "departures": [str(d) for d in departures],
        "methods": methods,
        "note": note,
    }


def _median_curve(curves: Sequence[Mapping], axis: str, grid: np.ndarray, *, best_so_far: bool = False) -> np.ndarray:
    rows = []
    for c in curves:
        xs = np.asarray(c[axis], dtype=float)
        ys = np.asarray([np.nan if v is None else v for v in c["values"]], dtype=float)
        if best_so_far:   # the lowest value reached up to each point: progress, without the spikes
            ys = np.fmin.accumulate(ys)
        index = np.searchsorted(xs, grid, side="right") - 1
        row = np.where(index >= 0, ys[np.clip(index, 0, None)], np.nan)
        rows.append(row)
    with np.errstate(all="ignore"):
        return np.nanmedian(np.array(rows), axis=0) if rows else np.full(grid.shape, np.nan)


def flattened(record: Mapping, budget: Mapping, *, axis: str = "iterations", factor: float = FLAT_FACTOR,
              tail: float = TAIL_FRACTION) -> bool:
    """True when the method's median progress fell by less than ``factor`` over the last ``tail`` of the budget.

    Progress is each seed's best value so far (the running minimum of its curve), so that a
    spike of a noisy run shortly before the end is not mistaken for a method still learning,
    and a run that keeps improving is. A method whose every seed ``"converged"`` (see
    :func:`method`) counts as flattened.
    """
    statuses = record.get("statuses")
    if statuses and all(s == "converged" for s in statuses):
        return True
    curves = record.get("curves") or []
    if not curves:
        return False
    end = float(budget[axis])
    grid = np.array([(1 - tail) * end, end])
    with np.errstate(all="ignore"):
        before, after = _median_curve(curves, axis, grid, best_so_far=True)
    if not (np.isfinite(before) and np.isfinite(after)):
        return False
    return bool(after <= 0 or before <= factor * after)


def problems_with(record: Mapping, *, min_seeds: int = MIN_SEEDS) -> list[str]:
    """Everything in a comparison record that falls short of the standard (empty: it meets it)."""
    found = []
    label = record.get("name", "?")
    if record.get("schema") != EVIDENCE_SCHEMA:
        return [f"{label}: schema is {record.get('schema')!r}, not {EVIDENCE_SCHEMA!r}"]
    for key in ("metric", "validation", "test", "published"):
        if not str(record.get(key, "")).strip():
            found.append(f"{label}: '{key}' is empty")
    if record.get("validation") == record.get("test"):
        found.append(f"{label}: validation and test are the same data ({record.get('test')!r})")
    budget = record.get("budget") or {}
    if not budget.get("iterations") or not budget.get("seconds"):
        found.append(f"{label}: the budget needs both iterations and seconds, got {budget}")
    methods = record.get("methods") or []
    if len(methods) < 2:
        found.append(f"{label}: a comparison needs at least two methods")
    for m in methods:
        who = f"{label} / {m.get('name')}"
        if len(m.get("seeds", [])) < min_seeds:
            found.append(f"{who}: {len(m.get('seeds', []))} seeds, fewer than {min_seeds}")
        for h in m.get("hyperparameters", []):
            if not h.get("interior"):
                found.append(f"{who}: best {h.get('name')} = {h.get('best')} is not strictly inside "
                             f"its grid {h.get('grid')}")
            if len(h.get("seeds", [])) < min_seeds:
                found.append(f"{who}: {h.get('name')} was selected with {len(h.get('seeds', []))} seeds, "
                             f"fewer than {min_seeds}")
        curves = m.get("curves") or []
        if len(curves) != len(m.get("seeds", [])):
            found.append(f"{who}: {len(curves)} curves for {len(m.get('seeds', []))} seeds")
            continue
        if "test_at_seconds" not in m:
            found.append(f"{who}: no test values at the wall-clock budget")
        statuses = m.get("statuses") or [None] * len(curves)
        for c, status in zip(curves, statuses):
            if status == "converged":
                continue
            if budget.get("iterations") and c["iterations"][-1] < budget["iterations"]:
                found.append(f"{who}: a curve stops at iteration {c['iterations'][-1]} before the budget "
                             f"{budget['iterations']} (status {status})")
                break
            if budget.get("seconds") and c["seconds"][-1] < budget["seconds"] * 0.999:
                found.append(f"{who}: a curve stops at {c['seconds'][-1]:.3g} s before the wall-clock budget "
                             f"{budget['seconds']:.3g} s (status {status})")
                break
        if budget.get("iterations") and not flattened(m, budget, axis="iterations"):
            found.append(f"{who}: its median best-so-far curve still falls by more than {FLAT_FACTOR}x over the last "
                         f"{TAIL_FRACTION:.0%} of the iteration budget; train longer")
    return found


def find_comparisons(document) -> Iterator[dict]:
    """Every comparison record anywhere inside a (JSON) document, depth first."""
    if isinstance(document, Mapping):
        if document.get("schema") == EVIDENCE_SCHEMA:
            yield document
            return
        for value in document.values():
            yield from find_comparisons(value)
    elif isinstance(document, (list, tuple)):
        for value in document:
            yield from find_comparisons(value)


def plot_bands(ax, record: Mapping, *, axis: str = "iterations", color: Optional[str] = None,
               label: Optional[str] = None, seeds_lines: bool = True):
    """Draw a method's per-seed curves (thin) and their median (thick) with the min-max band.

    ``record`` is a :func:`method` record; ``axis`` is ``"iterations"`` or ``"seconds"``.
    Returns the median line.
    """
    from .plots import color_of

    curves = record.get("curves") or []
    if not curves:
        raise ValueError(f"{record.get('name')}: no curves stored; re-run the benchmark that writes them")
    color = color or color_of(record.get("name", ""))
    label = record.get("name") if label is None else label
    ends = [c[axis][-1] for c in curves if c[axis]]
    if axis == "seconds":
        positive = [v for c in curves for v in c[axis] if v > 0]
        if not positive:
            raise ValueError(f"{record.get('name')}: the curves have no positive times")
        grid = np.geomspace(min(positive), max(ends), 200)
    else:
        grid = np.unique(np.concatenate([np.asarray(c[axis], dtype=float) for c in curves]))
    rows = []
    for c in curves:
        xs = np.asarray(c[axis], dtype=float)
        ys = np.asarray([np.nan if v is None else v for v in c["values"]], dtype=float)
        index = np.searchsorted(xs, grid, side="right") - 1
        # past its end a curve keeps its last value: a run stops early only when it has converged
        rows.append(np.where(index >= 0, ys[np.clip(index, 0, None)], np.nan))
        if seeds_lines:
            ax.plot(xs, ys, color=color, lw=0.6, alpha=0.35)
    rows = np.array(rows)
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(rows, axis=0)
            low, high = np.nanmin(rows, axis=0), np.nanmax(rows, axis=0)
    ax.fill_between(grid, low, high, color=color, alpha=0.15, lw=0)
    (line,) = ax.plot(grid, median, color=color, lw=2, label=f"{label} (median of {len(curves)})")
    return line
