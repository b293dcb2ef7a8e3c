"""Check the PDF of the course the way a reader would look at it (``make check-pdf``).

- no unresolved cross-reference (``??``) and no missing citation, in the text of the PDF
  (pdftotext) and in the LaTeX log;
- as many figures as the HTML book has (images of the chapter pages, against the images
  embedded in the PDF, pdfimages);
- every chapter title of ``_toc.yml`` present;
- every exercise followed by its solution;
- the page count printed, and PNGs of a few chosen pages (pdftoppm) saved next to the
  browser screenshots so that a person can look at them.

Exits 1 and says what is wrong on any failure. Needs poppler-utils (pdftotext, pdfinfo,
pdfimages, pdftoppm), which ``make check-pdf`` installs.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

UNRESOLVED_TEXT = re.compile(r"\?\?|\[\?\]")
UNRESOLVED_LOG = re.compile(r"(Reference|Citation) `[^']*' on page \d+ undefined|There were undefined (references|citations)")


def run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def pdf_pages(pdf: Path) -> list[str]:
    """The text of every page (pdftotext separates pages by form feeds)."""
    return run("pdftotext", "-layout", str(pdf), "-").split("\f")[:-1] or [""]


def page_count(pdf: Path) -> int:
    return int(re.search(r"^Pages:\s+(\d+)", run("pdfinfo", str(pdf)), re.MULTILINE).group(1))


def pdf_images(pdf: Path) -> int:
    """Images embedded in the PDF (soft masks, the alpha channels of PNGs, not counted)."""
    rows = run("pdfimages", "-list", str(pdf)).splitlines()[2:]
    return sum(1 for row in rows if row.split()[2] == "image")


class ImageCounter(HTMLParser):
    """Counts the figures of a chapter page's article: its images and its widget explorers."""

    def __init__(self):
        super().__init__()
        self.depth = 0
        self.images = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "article":
            self.depth += 1
        if tag == "img" and self.depth and "_images/" in (attrs.get("src") or ""):
            self.images.append(attrs["src"])
        # a widget explorer: the page shows the live widget, the PDF its starting figure
        if tag == "script" and self.depth and attrs.get("type") == "application/vnd.jupyter.widget-view+json":
            self.images.append("widget")

    def handle_endtag(self, tag):
        if tag == "article":
            self.depth -= 1


def toc_files(toc: Path) -> list[str]:
    text = toc.read_text()
    return [m.group(1) for m in re.finditer(r"^\s*(?:root|- file):\s*(\S+)", text, re.MULTILINE)]


def html_images(html: Path, files: list[str]) -> int:
    total = 0
    for name in files:
        page = html / f"{name}.html"
        if not page.exists():
            raise SystemExit(f"{page} is missing: run 'make book' first")
        counter = ImageCounter()
        counter.feed(page.read_text())
        total += len(counter.images)
    return total


def title_of(root: Path, name: str) -> str:
    for suffix in (".md", ".ipynb"):
        path = root / f"{name}{suffix}"
        if path.exists():
            if suffix == ".ipynb":
                cells = json.loads(path.read_text())["cells"]
                text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
            else:
                text = path.read_text()
            heading = re.search(r"^# (.+)$", text, re.MULTILINE)
            if heading:
                return heading.group(1).strip()
    raise SystemExit(f"no title found for {name}")


def normalised(text: str) -> str:
    """Letters and digits only, lower case: immune to hyphenation, ligatures and layout."""
    text = text.replace("\ufb01", "fi").replace("\ufb02", "fl").replace("\ufb00", "ff")
    text = re.sub(r"-\s*\n\s*", "", text)
    return re.sub(r"[^0-9a-z]+", "", text.lower())


def plain_title(title: str) -> str:
    """A Markdown heading as it is printed: no math delimiters, code ticks or emphasis."""
    return re.sub(r"[$`*_\\]", "", title)


def find_page(pages: list[str], needle: str, start: int = 0) -> int | None:
    key = normalised(needle)
    for number, text in enumerate(pages[start:], start=start):
        if key in normalised(text):
            return number
    return None


def find_heading(pages: list[str], title: str, start: int = 0) -> int | None:
    """The first page from ``start`` with a line that is ``title`` (a heading, not a mention)."""
    key = normalised(title)
    for number, text in enumerate(pages[start:], start=start):
        if any(normalised(line) == key for line in text.splitlines()):
            return number
    return None


def exercises_have_solutions(pages: list[str]) -> list[str]:
    """Each "Exercise N" heading is followed by "Solution to Exercise N" before the next exercise.

    Headings are lines holding only "Exercise N" or "Solution to Exercise N", optionally
    with a title in parentheses; "Exercise 8" inside a sentence or a code output is a
    reference, not a heading.
    """
    text = "\n".join(pages)
    heading = re.compile(r"^[ \t]*(Solution to )?Exercise (\d+(?:\.\d+)*)[ \t]*(?:\(.*\))?[ \t]*$", re.MULTILINE)
    events = [(m.start(), "solution" if m.group(1) else "exercise", m.group(2))
              for m in heading.finditer(text)]
    problems, open_exercise = [], None
    for _, kind, label in events:
        if kind == "exercise":
            if open_exercise is not None:
                problems.append(f"exercise {open_exercise} has no solution before exercise {label}")
            open_exercise = label
        elif label == open_exercise:
            open_exercise = None
    if open_exercise is not None:
        problems.append(f"exercise {open_exercise} has no solution")
    return problems


def screenshot(pdf: Path, page: int, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    stem = out.with_suffix("")
    run("pdftoppm", "-png", "-r", "70", "-f", str(page + 1), "-l", str(page + 1), "-singlefile", str(pdf), str(stem))
    return stem.with_suffix(".png")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pdf", type=Path, required=True)
    parser.add_argument("--html", type=Path, required=True, help="the built HTML book (_build/html)")
    parser.add_argument("--toc", type=Path, required=True)
    parser.add_argument("--screenshots", type=Path, required=True)
    parser.add_argument("--log", type=Path, help="the LaTeX log (default: beside the PDF)")
    args = parser.parse_args(argv)
    root = args.toc.parent
    failures: list[str] = []

    pages = pdf_pages(args.pdf)
    count = page_count(args.pdf)
    print(f"{args.pdf}: {count} pages")

    unresolved = [(n + 1, m.group(0)) for n, text in enumerate(pages) for m in UNRESOLVED_TEXT.finditer(text)]
    if unresolved:
        failures.append(f"unresolved references or citations in the text: {unresolved[:10]}")
    log = args.log or args.pdf.with_suffix(".log")
    if log.exists():
        undefined = UNRESOLVED_LOG.findall(log.read_text(errors="replace"))
        if undefined:
            failures.append(f"the LaTeX log reports undefined references or citations ({len(undefined)})")
    else:
        failures.append(f"no LaTeX log at {log}")
    print(f"unresolved references: {len(unresolved)} in the text")

    files = toc_files(args.toc)
    in_html, in_pdf = html_images(args.html, files), pdf_images(args.pdf)
    print(f"figures: {in_pdf} in the PDF, {in_html} in the HTML book")
    if in_pdf != in_html:
        failures.append(f"the PDF has {in_pdf} figures, the HTML book {in_html}")

    # chapter titles are looked for after the table of contents, which lists them all
    body = next((n for n, text in enumerate(pages) if text.lstrip().startswith("Part I")), 0)
    chapter_pages = {}
    for name in files:
        title = title_of(root, name)
        page = find_heading(pages, plain_title(title), start=body) if name != files[0] else 0
        if page is None:
            failures.append(f"chapter title not found in the PDF: {title!r} ({name})")
        else:
            chapter_pages[name] = page
    print(f"chapter titles found: {len(chapter_pages)} of {len(files)}")

    missing_solutions = exercises_have_solutions(pages)
    failures += missing_solutions
    exercises = len(re.findall(r"^[ \t]*Exercise \d+[ \t]*(?:\(.*\))?[ \t]*$", "\n".join(pages), re.MULTILINE))
    print(f"exercises: {exercises}, each followed by its solution: {not missing_solutions}")

    chosen = {"title": 0, "contents": find_page(pages, "Contents") or 1}
    for name, label in (("book/crux", "crux"), ("book/newton", "newton"), ("book/hig", "hig"),
                        ("book/bibliography", "bibliography")):
        if name in chapter_pages:
            chosen[label] = chapter_pages[name]
    exercise_page = find_page(pages, "Solution to Exercise")
    if exercise_page is not None:
        chosen["exercise"] = exercise_page
    for label, page in chosen.items():
        path = screenshot(args.pdf, page, args.screenshots / f"pdf-{label}-page-{page + 1}.png")
        print(f"screenshot: {path}")

    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    print("== check-pdf " + ("failed" if failures else "passed"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
