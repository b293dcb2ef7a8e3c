"""Open every notebook chapter in JupyterLab, Run All, and check what a reader sees.

Usage: python tools/check_lab.py [--screenshots _build/screenshots] [--chapter crux ...]
                                 [--timeout 240] [--verbose]

Local readers and Binder open the chapters in JupyterLab, where jupyterlab-myst renders
the Markdown (see MECHANISM.md). This check starts JupyterLab from the environment it runs
in (``make check-lab`` uses .venv) on 127.0.0.1 with a random free port and token, opens
every chapter of _toc.yml that is a notebook in headless Chromium (Debian's chromium and
chromium-driver through Selenium, as tools/check_html.py), runs all cells, waits until the
kernel is idle and then counts, in the *rendered* Markdown:

* raw MyST left in the text (outside code and maths): ``{glue`` (a glue role renders as its
  key), ``{eval}``, ``{eq}``, ``{term}``, ``{cite}``, any other ``{role}```, ``:::`` and
  ``)=``; Markdown cells that are not rendered at all count with their whole source;
* ``{eval}`` numbers that did not render: a role in the source without a value after Run
  All, or whose value is an error;
* error outputs of code cells;
* references to a label of the same notebook that did not resolve (references to other
  files cannot resolve in JupyterLab: they are counted as ``other refs`` and do not fail,
  nor do citations, which show their key).

It then moves the eta slider of every explorer (``companion.widgets.explorer``) by one
drag and checks that the figure changes. One screenshot per chapter, of the first explorer
or else the top of the chapter, goes to ``<screenshots>/lab-<chapter>.png``.

Nothing in the repository changes: JupyterLab runs with its own settings, config and
workspace directories in a temporary directory (autosave off, the news pop-up off, every
cell attached to the page), and the notebooks are never saved. JupyterLab and its kernels
are stopped at the end, also on failure or Ctrl-C. Prints a table per chapter and exits
non-zero on raw markup, unrendered numbers, errors or an explorer whose figure did not change.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_html import start_browser, verdict  # noqa: E402  (one Chromium set-up and verdict for both checks)

ROOT = Path(__file__).resolve().parents[1]

#: JupyterLab settings for the check, on top of those of the environment (jupyterlab-overrides.json).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                      "checkForUpdates": False},
    # every cell in the page, so that the whole notebook can be read (the default skips offscreen cells)
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    # never write the executed notebooks back into book/
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}

RAW_MARKERS = ("{glue", "{eval}", "{eq}", "{term}", "{cite", ":::", ")=")
OTHER_ROLE = re.compile(r"\{[A-Za-z][\w:.-]*\}`")
EVAL_ROLE = re.compile(r"\{eval\}`[^`]+`")
GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`([^`:]+)(?::[^`]*)?`")
LABEL_DEFINITIONS = [re.compile(r"^\(([^)\s]+)\)=\s*$", re.MULTILINE),  # (label)= before a heading
                     re.compile(r"^:label:\s*(\S+)", re.MULTILINE),  # :label: of a directive
                     re.compile(r"\$\$\s*\(([^)\s]+)\)")]  # $$ ... $$ (eq-label)

# Runs in the page: waits for the app and the notebook's kernel, then starts Run All.
OPEN_AND_RUN = r"""
const [path, done] = [arguments[0], arguments[arguments.length - 1]];
const sleep = ms => new Promise(r => setTimeout(r, ms));
(async () => {
  for (let i = 0; i < 600 && !window.jupyterapp; i++) await sleep(100);
  if (!window.jupyterapp) throw new Error("JupyterLab did not start (no window.jupyterapp)");
  const app = window.jupyterapp;
  await app.restored;
  app.shell.collapseLeft();  // the file browser would take a quarter of the screenshots
  let panel = null;
  for (let i = 0; i < 1200 && !panel; i++) {
    panel = Array.from(app.shell.widgets("main")).find(w => w.context && w.context.path === path && w.sessionContext);
    if (!panel) await sleep(100);
  }
  if (!panel) throw new Error("the notebook did not open within 120 s");
  app.shell.activateById(panel.id);
  await panel.context.ready;
  await panel.sessionContext.ready;
  for (let i = 0; i < 600 && !(panel.sessionContext.session && panel.sessionContext.session.kernel); i++) {
    await sleep(100);
  }
  await app.commands.execute("notebook:run-all-cells");
  done({ok: true});
})().catch(err => done({error: String(err)}));
"""

# Runs in the page: how far Run All has got.
PROGRESS = r"""
const panel = window.jupyterapp.shell.currentWidget;
const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
let pending = 0, unexecuted = 0, errors = 0;
for (const cell of panel.content.widgets) {
  if (cell.model.type !== "code") continue;
  const prompt = cell.node.querySelector(".jp-InputArea-prompt");
  if (prompt && prompt.textContent.includes("*")) pending++;
  if (cell.model.sharedModel.getSource().trim() && cell.model.executionCount === null) unexecuted++;
  errors += cell.model.outputs.toJSON().filter(o => o.output_type === "error").length;
}
return {status: kernel ? kernel.status : "none", pending, unexecuted, errors};
"""

# Runs in the page: what the reader sees, cell by cell.
READ_CELLS = r"""
const panel = window.jupyterapp.shell.currentWidget;
const skip = el => ["CODE", "PRE", "SCRIPT", "STYLE", "MATH", "ANNOTATION", "TEXTAREA"].includes(el.tagName)
  || (el.classList && (el.classList.contains("katex") || el.classList.contains("cm-editor")));
const visibleText = root => {
  const parts = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {acceptNode(node) {
    for (let el = node.parentElement; el && el !== root; el = el.parentElement) {
      if (skip(el)) return NodeFilter.FILTER_REJECT;
    }
    return NodeFilter.FILTER_ACCEPT;
  }});
  for (let node = walker.nextNode(); node; node = walker.nextNode()) parts.push(node.textContent);
  return parts.join("");
};
return panel.content.widgets.map(cell => {
  const model = cell.model;
  const out = {type: model.type, source: model.sharedModel.getSource()};
  if (model.type === "markdown") {
    const rendered = cell.node.querySelector(".myst, .jp-RenderedMarkdown");
    out.rendered = !!rendered && cell.rendered;
    out.text = rendered ? visibleText(rendered) : "";
    out.unresolved = rendered ? Array.from(rendered.querySelectorAll('[title="Cross Reference Not Found"]'))
                                  .map(el => el.textContent.trim()) : [];
    out.citations = rendered ? rendered.querySelectorAll('[title="Citation Not Found"]').length : 0;
    out.expressions = (model.getMetadata("user_expressions") || []).map(e => ({
      expression: e.expression, status: e.result ? e.result.status : "missing",
      text: e.result && e.result.data ? (e.result.data["text/plain"] || e.result.data["text/html"] || "") : ""}));
  } else if (model.type === "code") {
    out.errors = model.outputs.toJSON().filter(o => o.output_type === "error")
                      .map(o => o.ename + ": " + o.evalue);
  }
  return out;
});
"""

# Runs in the page: the explorers (a VBox with an "eta" slider and a figure), with what is needed to move them.
FIND_EXPLORERS = r"""
const explorers = [];
for (const label of document.querySelectorAll(".jp-Notebook .widget-slider .widget-label")) {
  if (label.textContent.trim() !== "eta") continue;
  const slider = label.closest(".widget-slider");
  const box = slider.closest(".widget-vbox");
  if (!box) continue;
  const image = box.querySelector(".jp-OutputArea-output img");
  explorers.push({handle: slider.querySelector(".noUi-handle"), box: box,
                  readout: (slider.querySelector(".widget-readout") || {textContent: ""}).textContent.trim(),
                  figure: image ? image.src : ""});
}
return explorers;
"""

# Runs in the page: scrolls to the first paragraph with a number from the computation, else to the top.
SCROLL_TO_NUMBERS = r"""
const cells = window.jupyterapp.shell.currentWidget.content.widgets;
const cell = cells.find(c => c.model.type === "markdown" && /\{(eval|glue)/.test(c.model.sharedModel.getSource()))
             || cells[0];
if (cell) cell.node.scrollIntoView({block: "start"});
"""

FIGURE_OF = r"""
const image = arguments[0].querySelector(".jp-OutputArea-output img");
return image ? image.src : "";
"""


@dataclass
class ChapterReport:
    """What the check found in one chapter."""

    name: str
    cells: int = 0
    raw: dict = field(default_factory=dict)  # marker -> count in the rendered text
    evals: int = 0  # {eval} roles in the Markdown source
    evals_shown: int = 0  # of these, rendered with a value
    eval_errors: list = field(default_factory=list)
    errors: list = field(default_factory=list)  # error outputs of code cells
    unresolved_local: list = field(default_factory=list)
    unresolved_other: int = 0
    citations_unresolved: int = 0
    explorers: int = 0
    explorers_changed: int = 0
    readouts: list = field(default_factory=list)  # the eta readout of each explorer before moving it
    seconds: float = 0.0
    failure: str = ""  # the chapter could not be checked at all

    @property
    def raw_total(self) -> int:
        return sum(self.raw.values())

    def problems(self) -> list[str]:
        found = []
        if self.failure:
            found.append(f"{self.name}: {self.failure}")
        for marker, count in sorted(self.raw.items()):
            if count:
                found.append(f"{self.name}: {count} x raw {marker!r} in the rendered text")
        if self.evals_shown < self.evals:
            found.append(f"{self.name}: {self.evals - self.evals_shown} of {self.evals} {{eval}} numbers not rendered")
        found += [f"{self.name}: {{eval}} error: {text}" for text in self.eval_errors]
        found += [f"{self.name}: error output: {text}" for text in self.errors]
        found += [f"{self.name}: reference to {label!r} of this notebook did not resolve"
                  for label in self.unresolved_local]
        if self.explorers_changed < self.explorers:
            found.append(f"{self.name}: {self.explorers - self.explorers_changed} of {self.explorers} explorers "
                         "did not redraw after moving the eta slider")
        return found


def notebook_chapters(toc: Path = ROOT / "_toc.yml") -> list[str]:
    """The chapters of the table of contents that are notebooks, in book order, as ``book/<name>.ipynb``.

    >>> chapters = notebook_chapters()
    >>> chapters[0], all(c.endswith(".ipynb") for c in chapters)
    ('book/crux.ipynb', True)
    """
    import yaml

    def files(entries):
        for entry in entries or []:
            if "file" in entry:
                yield entry["file"]
            yield from files(entry.get("chapters"))
            yield from files(entry.get("sections"))
            yield from files(entry.get("parts"))

    config = yaml.safe_load(toc.read_text())
    names = [config["root"], *files(config.get("chapters")), *files(config.get("parts"))]
    return [f"{name}.ipynb" for name in names if (toc.parent / f"{name}.ipynb").is_file()]


def labels_defined(sources: list[str]) -> set[str]:
    r"""The labels a notebook defines: ``(label)=`` targets, ``:label:`` options and equation labels.

    >>> sorted(labels_defined(["(crux-toy)=\n# Toy", "$$ a $$ (eq-crux-a)", ":::{exercise}\n:label: ex-crux-1\n:::"]))
    ['crux-toy', 'eq-crux-a', 'ex-crux-1']
    """
    return {match for source in sources for pattern in LABEL_DEFINITIONS for match in pattern.findall(source)}


def raw_markup(text: str) -> dict[str, int]:
    """Counts of raw MyST markers in rendered text; roles other than the listed ones are counted as ``{role}```.

    >>> raw_markup("at {eq}`eq-gd` and {ref}`x` (crux)= ::: 1.55")
    {'{glue': 0, '{eval}': 0, '{eq}': 1, '{term}': 0, '{cite': 0, ':::': 1, ')=': 1, '{role}`': 1}
    """
    counts = {marker: text.count(marker) for marker in RAW_MARKERS}
    listed = sum(1 for match in OTHER_ROLE.finditer(text)
                 if any(match.group().startswith(marker) for marker in RAW_MARKERS))
    counts["{role}`"] = len(OTHER_ROLE.findall(text)) - listed
    return counts


def analyse(name: str, cells: list[dict]) -> ChapterReport:
    """Count what a reader sees wrong in the cells read from the page (see READ_CELLS)."""
    report = ChapterReport(name, cells=len(cells))
    raw = {marker: 0 for marker in (*RAW_MARKERS, "{role}`")}
    local = labels_defined([cell["source"] for cell in cells])
    for cell in cells:
        if cell["type"] == "code":
            report.errors += cell["errors"]
            continue
        if cell["type"] != "markdown":
            continue
        text = cell["text"] if cell["rendered"] else cell["source"]
        for marker, count in raw_markup(text).items():
            raw[marker] += count
        if cell["rendered"]:  # a glue role renders as its key: the key in the text is the raw glue
            raw["{glue"] += sum(1 for key in GLUE_ROLE.findall(cell["source"]) if key in text)
        roles = len(EVAL_ROLE.findall(cell["source"]))
        report.evals += roles
        # a value counts as shown when its text is in the rendered paragraph
        shown = [e for e in cell["expressions"]
                 if e["status"] == "ok" and e["text"].strip() and e["text"].strip().strip("'\"") in text]
        report.evals_shown += min(roles, len(shown)) if cell["rendered"] else 0
        report.eval_errors += [f"{e['expression']} ({e['status']})" for e in cell["expressions"]
                               if e["status"] != "ok"]
        for label in cell["unresolved"]:
            if label in local:
                report.unresolved_local.append(label)
            else:
                report.unresolved_other += 1
        report.citations_unresolved += cell["citations"]
    report.raw = raw
    return report


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class JupyterLab:
    """JupyterLab of this environment on 127.0.0.1 with its own settings; a context manager that stops it."""

    def __init__(self, root: Path, workdir: Path):
        self.root, self.workdir = root, workdir
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.process = None

    def __enter__(self):
        settings = self.workdir / "settings"
        for relative, values in LAB_SETTINGS.items():
            path = settings / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings),
                   JUPYTERLAB_WORKSPACES_DIR=str(self.workdir / "workspaces"),
                   JUPYTER_CONFIG_DIR=str(self.workdir / "config"), JUPYTER_RUNTIME_DIR=str(self.workdir / "runtime"),
                   PYTHONPATH=str(self.root), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        env.pop("MPLBACKEND", None)  # the kernels draw with the inline backend, as a reader's do
        command = [str(Path(sys.executable).with_name("jupyter-lab")), "--no-browser",
                   "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                   f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
                   "--LabApp.expose_app_in_browser=True",
                   # JupyterLab writes a checkpoint of every notebook it opens; an absolute directory
                   # keeps them in the temporary directory instead of book/.ipynb_checkpoints
                   f"--FileCheckpoints.checkpoint_dir={self.workdir / 'checkpoints'}"]
        if os.geteuid() == 0:  # CI containers run as root
            command.append("--allow-root")
        self.log = open(self.workdir / "jupyterlab.log", "w")
        # its own process group: stopping it also stops the kernels it started
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                urllib.request.urlopen(f"{self.base}/api/status?token={self.token}", timeout=2)
                return self
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"JupyterLab did not answer within 90 s:\n{self.log_tail()}")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """The notebook in a fresh workspace of its own (nothing restored from the previous chapter)."""
        return f"{self.base}/lab/workspaces/check-{Path(path).stem}/tree/{path}?reset&token={self.token}"

    def shutdown_kernels(self) -> None:
        """Stop every kernel (each chapter starts its own)."""
        request = urllib.request.Request(f"{self.base}/api/kernels?token={self.token}")
        for kernel in json.load(urllib.request.urlopen(request, timeout=10)):
            urllib.request.urlopen(urllib.request.Request(
                f"{self.base}/api/kernels/{kernel['id']}?token={self.token}", method="DELETE"), timeout=30)

    def log_tail(self, characters: int = 3000) -> str:
        self.log.flush()
        return (self.workdir / "jupyterlab.log").read_text(errors="replace")[-characters:]

    def __exit__(self, *exc):
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()
        return False


def run_all(driver, lab: JupyterLab, path: str, timeout: float) -> None:
    """Open ``path`` in JupyterLab, Run All and wait until every cell has run (or one failed) and the kernel is idle."""
    driver.get(lab.url(path))
    driver.set_script_timeout(240)
    started = driver.execute_async_script(OPEN_AND_RUN, path)
    if "error" in started:
        raise RuntimeError(started["error"])
    deadline, quiet = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        state = driver.execute_script(PROGRESS)
        finished = state["pending"] == 0 and (state["unexecuted"] == 0 or state["errors"] > 0)
        quiet = quiet + 1 if finished and state["status"] == "idle" else 0
        if quiet >= 3:  # three polls in a row: the markdown cells' expressions have come back too
            return
        time.sleep(0.5)
    raise TimeoutError(f"Run All did not finish within {timeout:.0f} s (last state {state})")


def wait_for(condition, timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


def move_explorers(driver, report: ChapterReport, screenshot: Path) -> None:
    """Screenshot the first explorer (or the first paragraph with numbers), then drag each eta slider and check that its figure is redrawn."""
    from selenium.webdriver.common.action_chains import ActionChains

    wait_for(lambda: all(e["figure"] for e in driver.execute_script(FIND_EXPLORERS)), 30)
    explorers = driver.execute_script(FIND_EXPLORERS)
    report.explorers = len(explorers)
    report.readouts = [e["readout"] for e in explorers]
    if explorers:
        driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", explorers[0]["box"])
    else:
        driver.execute_script(SCROLL_TO_NUMBERS)
    time.sleep(0.5)
    driver.save_screenshot(str(screenshot))
    for explorer in explorers:
        before = hashlib.sha1(explorer["figure"].encode()).hexdigest()
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", explorer["handle"])
        ActionChains(driver).drag_and_drop_by_offset(explorer["handle"], -40, 0).perform()
        changed = wait_for(lambda: hashlib.sha1(driver.execute_script(FIGURE_OF, explorer["box"]).encode())
                           .hexdigest() not in (before, hashlib.sha1(b"").hexdigest()), 45)
        report.explorers_changed += int(changed)


def check_chapter(driver, lab: JupyterLab, path: str, screenshots: Path, timeout: float,
                  verbose: bool = False) -> ChapterReport:
    name = Path(path).stem
    t0 = time.perf_counter()
    try:
        run_all(driver, lab, path, timeout)
        t1 = time.perf_counter()
        time.sleep(1.0)  # let the last Markdown cells re-render with their values
        report = analyse(name, driver.execute_script(READ_CELLS))
        move_explorers(driver, report, screenshots / f"lab-{name}.png")
        if verbose:
            print(f"check-lab: {name}: Run All took {t1 - t0:.1f} s, reading and explorers {time.perf_counter() - t1:.1f} s",
                  flush=True)
    except Exception as error:  # noqa: BLE001 - one broken chapter must not hide the others
        report = ChapterReport(name, failure=f"{type(error).__name__}: {str(error).splitlines()[0][:300]}")
        try:
            driver.save_screenshot(str(screenshots / f"lab-{name}.png"))
        except Exception:  # noqa: BLE001
            pass
    finally:
        try:
            lab.shutdown_kernels()
        except OSError:
            pass
    report.seconds = time.perf_counter() - t0
    return report


def table(reports: list[ChapterReport]) -> str:
    header = ("chapter", "raw", "eval shown", "eval err", "errors", "local refs", "other refs", "cites",
              "explorers moved", "eta readout", "s")
    rows = [header]
    for r in reports:
        rows.append((r.name, str(r.raw_total), f"{r.evals_shown}/{r.evals}", str(len(r.eval_errors)),
                     str(len(r.errors)), str(len(r.unresolved_local)), str(r.unresolved_other),
                     str(r.citations_unresolved), f"{r.explorers_changed}/{r.explorers}",
                     ",".join(r.readouts) or "-", f"{r.seconds:.0f}") if not r.failure else
                    (r.name, "FAILED", "", "", "", "", "", "", "", "", f"{r.seconds:.0f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) for row in rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshots", default="_build/screenshots", type=Path)
    parser.add_argument("--chapter", action="append", default=[],
                        help="check only this chapter (name without .ipynb); may be repeated")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds for Run All of one chapter")
    parser.add_argument("--verbose", action="store_true", help="print the time of Run All per chapter")
    args = parser.parse_args(argv)
    chapters = notebook_chapters()
    if args.chapter:
        unknown = set(args.chapter) - {Path(c).stem for c in chapters}
        if unknown:
            parser.error(f"not a notebook chapter of _toc.yml: {', '.join(sorted(unknown))}")
        chapters = [c for c in chapters if Path(c).stem in args.chapter]
    args.screenshots.mkdir(parents=True, exist_ok=True)
    # SIGTERM (a CI timeout) unwinds like Ctrl-C, through the finally blocks that stop what was started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t0 = time.perf_counter()
    reports = []
    with tempfile.TemporaryDirectory(prefix="check-lab-") as workdir:
        with JupyterLab(ROOT, Path(workdir)) as lab:
            driver = start_browser(str(Path(workdir) / "chromium"))
            try:
                for path in chapters:
                    report = check_chapter(driver, lab, path, args.screenshots, args.timeout, args.verbose)
                    reports.append(report)
                    print(f"check-lab: {report.name}: {report.raw_total} raw, "
                          f"{report.evals_shown}/{report.evals} eval shown, {len(report.errors)} errors, "
                          f"{report.explorers_changed}/{report.explorers} explorers redrawn "
                          f"({report.seconds:.0f} s){' FAILED: ' + report.failure if report.failure else ''}",
                          flush=True)
            finally:
                driver.quit()
    print(table(reports))
    problems = [problem for report in reports for problem in report.problems()]
    print(f"check-lab: {len(reports)} chapters, screenshots in {args.screenshots}/lab-<chapter>.png ; "
          f"took {time.perf_counter() - t0:.0f} s")
    return verdict("check-lab", problems)


if __name__ == "__main__":
    sys.exit(main())
