"""Tests of the counting in tools/check_lab.py (the browser part runs in `make check-lab`)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import check_lab  # noqa: E402


def markdown(source, text, *, rendered=True, expressions=(), unresolved=(), citations=0):
    return {"type": "markdown", "source": source, "rendered": rendered, "text": text,
            "expressions": list(expressions), "unresolved": list(unresolved), "citations": citations}


def ok(expression, text):
    return {"expression": expression, "status": "ok", "text": text}


def test_a_converted_chapter_has_nothing_to_report():
    cells = [
        markdown("(ch)=\n# Chapter\n\n$$ a $$ (eq-ch-a)\n\nSee {eq}`eq-ch-a` and {eq}`eq-gd` of the [notation page](notation.md).",
                 "Chapter\n\na\n(1)\n\nSee (1) and eq-gd of the notation page.", unresolved=["eq-gd"]),
        {"type": "code", "source": "x = 1.55", "errors": []},
        markdown("The angle is {eval}`fmt(x, \".3g\")` degrees {cite}`holl2022sip`.",
                 "The angle is 1.55 degrees holl2022sip.", expressions=[ok('fmt(x, ".3g")', "1.55")], citations=1),
    ]
    report = check_lab.analyse("ch", cells)
    assert report.problems() == []
    assert (report.evals, report.evals_shown, report.unresolved_other, report.citations_unresolved) == (1, 1, 1, 1)


def test_what_a_reader_would_see_wrong_is_counted():
    cells = [
        markdown("(ch)=\n# Chapter\n\n:::{exercise}\n:label: ex-ch-1\nDo it.\n:::\n\nAs in {ref}`ex-ch-1`.",
                 "Chapter\nExercise 1\nDo it.\nAs in ex-ch-1.", unresolved=["ex-ch-1"]),
        markdown("At {glue:text}`ch-angle:.1f` degrees, {eval}`fmt(y)` and {eval}`fmt(z)`.",
                 "At ch-angle:.1f degrees, 2.5 and NameError: name 'z' is not defined.",
                 expressions=[ok("fmt(y)", "2.5"), {"expression": "fmt(z)", "status": "error", "text": ""}]),
        markdown("Not rendered: {term}`sensitivity` and {func}`companion.rules.gd`.", "", rendered=False),
        {"type": "code", "source": "1/0", "errors": ["ZeroDivisionError: division by zero"]},
    ]
    report = check_lab.analyse("ch", cells)
    assert report.raw["{glue"] == 1 and report.raw["{term}"] == 1 and report.raw["{role}`"] == 1
    assert report.raw_total == 3
    assert (report.evals, report.evals_shown) == (2, 1) and report.eval_errors == ["fmt(z) (error)"]
    assert report.errors == ["ZeroDivisionError: division by zero"]
    assert report.unresolved_local == ["ex-ch-1"]
    assert len(report.problems()) == 7


def test_the_chapters_are_the_notebooks_of_the_table_of_contents_in_order():
    chapters = check_lab.notebook_chapters()
    assert chapters[:2] == ["book/crux.ipynb", "book/gradient_descent.ipynb"]
    assert all((ROOT / chapter).is_file() for chapter in chapters)
    assert "book/notation.ipynb" not in chapters  # Markdown pages have nothing to run


def test_the_examples_in_the_docstrings():
    import doctest

    assert doctest.testmod(check_lab).failed == 0
