"""Execute notebooks several times and require identical text outputs.

Usage: python tools/check_determinism.py [--runs 3] [--jobs 2] [--sanitize tests/nbval_sanitize.cfg] book/*.ipynb

Each notebook is executed ``--runs`` times from a fresh kernel, in a temporary copy of its
folder (so nothing it writes lands in the repository).  Compared per code cell: stream
output (stdout/stderr, consecutive chunks joined as nbval does), and the text-like data of results and displays (``text/plain``,
``text/html``, ``text/markdown``, ``text/latex``, JSON, and myst-nb glue records).  Ignored:
images, widget model ids, execution counts, and cells that nbval ignores too (tag
``nbval-ignore-output`` or ``nbval-skip``, or a first line ``# NBVAL_IGNORE_OUTPUT`` /
``# NBVAL_SKIP``).  With ``--sanitize`` the regexes of an nbval sanitize file are applied
first, as ``make test`` does.

Prints one verdict per notebook and, for a notebook whose runs differ, the first
differing cell of each run with both texts.  Exits 1 if any notebook differs or fails.
"""

from __future__ import annotations

import argparse
import configparser
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

IGNORE_TAGS = {"nbval-ignore-output", "nbval-skip"}
IGNORE_MARKERS = ("# NBVAL_IGNORE_OUTPUT", "# NBVAL_SKIP")
TEXT_MIME = re.compile(r"^(text/(plain|html|markdown|latex)|application/(json|javascript)"
                       r"|application/papermill\.record/(text/.*|application/json))$")


def load_sanitizers(path: str | None) -> list[tuple[re.Pattern, str]]:
    """The (regex, replace) pairs of an nbval sanitize file."""
    if not path:
        return []
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    return [(re.compile(parser[s]["regex"]), parser[s].get("replace", "")) for s in parser.sections()]


def ignored(cell) -> bool:
    tags = set(cell.get("metadata", {}).get("tags", []))
    first = cell.get("source", "").lstrip().splitlines()[:1]
    return bool(tags & IGNORE_TAGS) or bool(first and first[0].strip().startswith(IGNORE_MARKERS))


def cell_texts(notebook, sanitizers) -> list[tuple[int, str]]:
    """``(cell index, compared text)`` for every code cell whose output is compared."""
    texts = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or ignored(cell):
            continue
        parts, stream = [], None
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "stream":  # the kernel may split one print into several messages: join them, as nbval does
                name, text = output.get("name"), "".join(output.get("text", ""))
                if stream == name:
                    parts[-1] += text
                else:
                    parts.append(f"[{name}] {text}")
                stream = name
                continue
            stream = None
            if kind in ("execute_result", "display_data"):
                for mime, value in sorted(output.get("data", {}).items()):
                    if TEXT_MIME.match(mime):
                        text = value if isinstance(value, str) else "".join(value) if isinstance(value, list) \
                            else repr(value)
                        parts.append(f"[{mime}] {text}")
            elif kind == "error":
                parts.append(f"[error] {output.get('ename')}: {output.get('evalue')}")
        text = "\n".join(parts)
        for regex, replace in sanitizers:
            text = regex.sub(replace, text)
        texts.append((index, text))
    return texts


def execute(path: Path, timeout: int) -> tuple[object, float]:
    """Run ``path`` top to bottom in a fresh kernel, in a temporary copy of its folder."""
    import nbformat
    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory(prefix="determinism-") as tmp:
        folder = Path(tmp) / path.parent.name
        shutil.copytree(path.parent, folder, ignore=shutil.ignore_patterns("_build", ".ipynb_checkpoints"))
        notebook = nbformat.read(folder / path.name, as_version=4)
        start = time.perf_counter()
        NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(folder)}}).execute(stderr=subprocess.DEVNULL)
        return notebook, time.perf_counter() - start


def check(path: Path, runs: int, timeout: int, sanitizers) -> tuple[bool, str]:
    """Verdict for one notebook: (deterministic, report)."""
    outputs, seconds = [], []
    for run in range(runs):
        try:
            notebook, elapsed = execute(path, timeout)
        except Exception as exc:  # noqa: BLE001 - any failure of a run is the verdict
            first = str(exc).strip().splitlines()
            return False, f"FAILED  {path}: run {run + 1} raised {type(exc).__name__}: {first[-1] if first else ''}"
        outputs.append(cell_texts(notebook, sanitizers))
        seconds.append(elapsed)
    timing = f"{runs} runs, {min(seconds):.1f}-{max(seconds):.1f} s each"
    lines = []
    reference = dict(outputs[0])
    for run, texts in enumerate(outputs[1:], start=2):
        for index, text in texts:
            if reference.get(index) != text:
                lines.append(f"    cell {index} differs between run 1 and run {run}:\n"
                             f"      run 1: {reference.get(index, '')[:600]!r}\n"
                             f"      run {run}: {text[:600]!r}")
                break
    compared = len(outputs[0])
    if lines:
        return False, f"DIFFERS {path} ({timing}, {compared} cells compared)\n" + "\n".join(lines)
    return True, f"same    {path} ({timing}, {compared} cells compared)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1, help="notebooks executed at the same time")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("--sanitize", help="nbval sanitize file whose regexes are applied before comparing")
    args = parser.parse_args(argv)
    if args.runs < 2:
        parser.error("--runs must be at least 2")
    # Kernels must keep matplotlib's inline backend, as in `make test` (the Makefile unexports it too).
    os.environ.pop("MPLBACKEND", None)
    sanitizers = load_sanitizers(args.sanitize)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        verdicts = list(pool.map(lambda p: check(p, args.runs, args.timeout, sanitizers), args.notebooks))
    for _, report in verdicts:
        print(report)
    bad = sum(not ok for ok, _ in verdicts)
    print(f"== check-determinism: {len(verdicts) - bad} of {len(verdicts)} notebook(s) deterministic "
          f"over {args.runs} runs, {time.perf_counter() - start:.0f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
