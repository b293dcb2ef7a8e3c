r"""Tables and figures of the comparison records (:mod:`companion.evidence`) stored in benchmark documents.

Whatever comparisons a document holds, :func:`summarise` finds them
(:func:`companion.evidence.find_comparisons`) and gives one row per method: the median
test value over the seeds at the iteration budget and at the wall-clock budget, each with
its spread (smallest and largest seed), and the selected hyper-parameters.
:func:`table` prints those rows; :func:`plot_comparison` draws a record's per-seed curves
as bands against iterations and against seconds.
"""

from __future__ import annotations

from typing import Mapping, Optional

from . import evidence

__all__ = ["summarise", "table", "plot_comparison", "verdicts"]


def _selected(method: Mapping) -> dict:
    return {h["name"]: h["best"] for h in method.get("hyperparameters", [])}


def summarise(documents: Mapping[str, Optional[dict]]) -> list[dict]:
    """One row per method of every comparison record in ``documents`` (``{source: document or None}``).

    Each row: ``source``, ``comparison``, ``metric``, ``method``, ``budget`` (iterations and
    seconds), ``at_iterations`` and ``at_seconds`` (:func:`companion.evidence.spread` of the
    per-seed test values), ``selected`` (hyper-parameter name -> chosen value) and
    ``problems`` (:func:`companion.evidence.problems_with` of the record; empty when it meets
    the standard). A missing document (``None``) contributes no rows.

    >>> c = evidence.curve([0, 10], [0.0, 1.0], [1.0, 0.5])
    >>> m = [evidence.method(n, seeds=[0], test=[0.5], curves=[c]) for n in ("A", "B")]
    >>> r = evidence.comparison("toy", metric="loss", validation="v", test="t",
    ...                         budget={"iterations": 10, "seconds": 1.0}, methods=m, published="A = B")
    >>> rows = summarise({"doc.json": {"results": [r]}, "missing.json": None})
    >>> [(row["method"], row["at_iterations"]["median"], row["at_seconds"]["median"]) for row in rows]
    [('A', 0.5, 0.5), ('B', 0.5, 0.5)]
    """
    rows = []
    for source, document in documents.items():
        if document is None:
            continue
        for record in evidence.find_comparisons(document):
            found = evidence.problems_with(record)
            for method in record["methods"]:
                at_seconds = method.get("test_at_seconds")
                rows.append({
                    "source": source,
                    "comparison": record["name"],
                    "metric": record["metric"],
                    "method": method["name"],
                    "budget": dict(record["budget"]),
                    "at_iterations": evidence.spread(method["test"]),
                    "at_seconds": evidence.spread(at_seconds) if at_seconds else None,
                    "selected": _selected(method),
                    "problems": found,
                })
    return rows


def _cell(s: Optional[Mapping], spec: str) -> str:
    if s is None or s["median"] is None:
        return "n/a" if s is None else f"failed ({s['n']})"
    failed = f", {s['failed']} failed" if s["failed"] else ""
    return f"{s['median']:{spec}} ({s['low']:{spec}}-{s['high']:{spec}}{failed})"


def table(rows, spec: str = ".2g") -> str:
    """Text table of :func:`summarise` rows, one block per comparison.

    >>> c = evidence.curve([0, 10], [0.0, 1.0], [1.0, 0.5])
    >>> m = [evidence.method(n, seeds=[0], test=[0.5], curves=[c]) for n in ("A", "B")]
    >>> r = evidence.comparison("toy", metric="loss", validation="v", test="t",
    ...                         budget={"iterations": 10, "seconds": 1.0}, methods=m, published="A = B")
    >>> print(table(summarise({"doc.json": r})).splitlines()[0])
    doc.json: toy (loss; median over 1 seeds, min-max in brackets)
    """
    lines, current = [], None
    for row in rows:
        key = (row["source"], row["comparison"])
        if key != current:
            current = key
            budget = row["budget"]
            if lines:
                lines.append("")
            lines.append(f"{row['source']}: {row['comparison']} ({row['metric']}; median over "
                         f"{row['at_iterations']['n']} seeds, min-max in brackets)")
            lines.append(f"  {'method':22s} {'at ' + str(budget['iterations']) + ' iterations':>28s} "
                         f"{'at ' + format(budget['seconds'], '.3g') + ' s':>28s}  selected")
            for problem in row["problems"]:
                lines.append(f"  ! {problem}")
        selected = ", ".join(f"{k} = {v:.3g}" for k, v in row["selected"].items()) or "-"
        lines.append(f"  {row['method']:22s} {_cell(row['at_iterations'], spec):>28s} "
                     f"{_cell(row['at_seconds'], spec):>28s}  {selected}")
    return "\n".join(lines) if lines else "no comparison records"


def verdicts(rows) -> dict:
    """Per comparison, the method with the lowest median at the iteration budget and at the wall-clock budget.

    Returns ``{comparison: {"at_iterations": method, "at_seconds": method}}`` (``None`` where
    every method failed).
    """
    out: dict = {}
    for row in rows:
        entry = out.setdefault(row["comparison"], {"at_iterations": None, "at_seconds": None, "_best": {}})
        for key in ("at_iterations", "at_seconds"):
            value = (row[key] or {}).get("median")
            if value is not None and (entry[key] is None or value < entry["_best"][key]):
                entry[key], entry["_best"][key] = row["method"], value
    for entry in out.values():
        entry.pop("_best")
    return out


def plot_comparison(axes, record: Mapping, *, log_y: bool = True) -> None:
    """Bands of every method of ``record`` against iterations (``axes[0]``) and seconds (``axes[1]``).

    The dotted vertical lines mark the budgets.
    """
    for ax, axis in zip(axes, ("iterations", "seconds")):
        for method in record["methods"]:
            evidence.plot_bands(ax, method, axis=axis)
        ax.axvline(record["budget"][axis], color="0.5", ls=":", lw=1)
        if axis == "iterations":
            ax.set_xscale("symlog", linthresh=1)
            ax.set_xlim(left=0)
        else:
            ax.set_xscale("log")
        if log_y:
            ax.set_yscale("log")
        ax.set_xlabel("iterations" if axis == "iterations" else "wall-clock seconds")
        ax.set_ylabel(record["metric"], fontsize=8)
        ax.set_title(record["name"], fontsize=9)
    axes[0].legend(fontsize=7)
