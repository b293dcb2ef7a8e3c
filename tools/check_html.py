"""Open every page of the built book in headless Chromium and check what a reader sees.

Usage: python tools/check_html.py [--html _build/html] [--screenshots _build/screenshots]

The pages are served from a local HTTP server on 127.0.0.1 (as a web host would
serve them) and driven with Selenium and Debian's chromium / chromium-driver.
For every page it asserts that

* the maths is typeset: every Sphinx math element holds a MathJax output
  element (``mjx-container``), no MathJax error (``mjx-merror``) is shown, and
  no raw TeX (``$$``, ``$...\\...$``, ``\\(``, ``\\[``) is left in the text outside code;
* every image has loaded (``complete`` and ``naturalWidth > 0``);
* every internal link resolves: the target file exists and, with a fragment,
  the target page has an element with that id (equation references, written
  ``{eq}`` in the sources, are links to ``#equation-...`` and are counted
  separately);
* every notebook page (one with ``_sources/<page>.ipynb``) has a Binder and a
  Colab launch link for its own notebook;
* the browser console shows no error, apart from the ALLOWED ones below.

Allowed console errors (documented in README.md, "Reading the book offline"):
pages with a stored ipywidgets view load RequireJS and the ipywidgets embed
manager from a CDN (myst-nb's ``nb_ipywidgets_js``).  Without network these two
requests fail; the page itself works, only the frozen copy of the widget is not
drawn (the static figure next to each widget makes the same point, and the widget
runs in Jupyter, Binder or Colab).  Also allowed: the 404 of /favicon.ico, which
the browser requests by itself (the book has no favicon).  Any other failed
request, in particular to MathJax, fails the check.

It prints the counts, saves screenshots of three pages in the light and the dark
theme (scrolled to the first figure) under --screenshots, and exits non-zero with
a list of the problems if any check fails.
"""

from __future__ import annotations

import argparse
import functools
import html.parser
import http.server
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

# Console errors that may occur without network: the CDN scripts of the ipywidgets embed manager.
ALLOWED_CONSOLE = [
    re.compile(r"https://cdnjs\.cloudflare\.com/ajax/libs/require\.js/[^ ]*/require\.min\.js"),
    re.compile(r"https://cdn\.jsdelivr\.net/npm/@jupyter-widgets/html-manager@[^ ]*/dist/embed-amd\.js"),
    # the browser asks every host for /favicon.ico; the book has no favicon
    re.compile(r"/favicon\.ico - Failed to load resource"),
]
REFRESH = re.compile(r'<meta[^>]+http-equiv="refresh"[^>]+url=([^"\'>]+)', re.IGNORECASE)
SCREENSHOT_PAGES = ["book/crux.html", "book/inverse_gradients.html", "book/summary.html"]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from repository import repository_slug  # noqa: E402  (the one place the repository is named: _config.yml)

REPOSITORY = repository_slug()
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,1100", "--hide-scrollbars"]

# Runs in the page: waits for MathJax and the images, then reports what the checks need.
PAGE_PROBE = r"""
const done = arguments[arguments.length - 1];
const withTimeout = (promise, ms) => Promise.race([promise, new Promise(r => setTimeout(r, ms))]);
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await withTimeout(MathJax.startup.promise, 20000);
  }
  const imgs = Array.from(document.images);
  imgs.forEach(img => { if (img.loading === "lazy") img.loading = "eager"; });
  await withTimeout(Promise.all(imgs.map(img => img.complete ? null :
      new Promise(r => { img.addEventListener("load", r); img.addEventListener("error", r); }))), 15000);
  const mathElements = Array.from(document.querySelectorAll(".math"));
  const untypeset = mathElements.filter(el => !el.querySelector("mjx-container"))
                                .map(el => el.textContent.trim().slice(0, 80));
  // text outside code, scripts and typeset maths
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
    acceptNode(node) {
      for (let el = node.parentElement; el; el = el.parentElement) {
        if (["PRE", "CODE", "SCRIPT", "STYLE", "MJX-CONTAINER", "TEXTAREA", "KBD", "SAMP"].includes(el.tagName)) {
          return NodeFilter.FILTER_REJECT;
        }
        if (el.classList && (el.classList.contains("math") || el.classList.contains("highlight"))) {
          return NodeFilter.FILTER_REJECT;
        }
      }
      return NodeFilter.FILTER_ACCEPT;
    }
  });
  const rawTex = [];
  const texLike = /\$\$|\$[^$\s][^$]*[\\^_{][^$]*\$|\\\(|\\\[/;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const match = node.textContent.match(texLike);
    if (match) rawTex.push(node.textContent.trim().slice(0, 100));
  }
  done({
    mathjax: !!(window.MathJax && MathJax.startup),
    math: mathElements.length,
    containers: document.querySelectorAll("mjx-container").length,
    merrors: Array.from(document.querySelectorAll("mjx-merror")).map(e => e.textContent.slice(0, 80)),
    untypeset: untypeset,
    rawTex: rawTex,
    images: imgs.map(img => ({src: img.currentSrc || img.src, ok: img.complete && img.naturalWidth > 0,
                              width: img.naturalWidth})),
    links: Array.from(document.querySelectorAll("a[href]")).map(a => a.getAttribute("href")),
    theme: document.documentElement.dataset.theme || "",
  });
})().catch(err => done({error: String(err)}));
"""


class _Ids(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)


@functools.lru_cache(maxsize=None)
def ids_in(path: Path) -> frozenset:
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(parser.ids)


def serve(root: Path):
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def find_chromium() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        sys.exit("check_html: needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)")
    return browser, driver


def start_browser(user_data_dir: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = find_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in CHROME_FLAGS + [f"--user-data-dir={user_data_dir}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_script_timeout(60)
    driver.set_page_load_timeout(60)
    return driver


def check_link(page: Path, href: str, root: Path, problems: list, counts: dict) -> None:
    parsed = urllib.parse.urlsplit(href)
    if parsed.scheme in ("http", "https"):
        counts["external links"] += 1
        return
    if parsed.scheme or href.startswith("//"):  # mailto:, javascript:, data: ...
        return
    path, fragment = urllib.parse.unquote(parsed.path), urllib.parse.unquote(parsed.fragment)
    target = (page.parent / path).resolve() if path else page
    if target.is_dir():
        target = target / "index.html"
    counts["internal links"] += 1
    if not target.is_file():
        remedy = " (the PDF: run 'make pdf' before this check)" if target.name == "course.pdf" else ""
        problems.append(f"{page.relative_to(root)}: broken link {href!r} (no file {target}){remedy}")
        return
    if fragment.startswith("equation-"):
        counts["equation references"] += 1
    if fragment and target.suffix == ".html":
        counts["anchors"] += 1
        if fragment not in ids_in(target):
            problems.append(f"{page.relative_to(root)}: broken anchor {href!r} (no id {fragment!r} in {target.name})")


def check_launch_buttons(page: Path, rel: str, links: list, problems: list, counts: dict, root: Path) -> None:
    source = root / "_sources" / (rel[: -len(".html")] + ".ipynb")
    if not source.is_file():
        return
    counts["notebook pages"] += 1
    notebook = rel[: -len(".html")] + ".ipynb"
    binder = [h for h in links if h.startswith(f"https://mybinder.org/v2/gh/{REPOSITORY}/") and notebook in h]
    colab = [h for h in links if h.startswith(f"https://colab.research.google.com/github/{REPOSITORY}/blob/")
             and h.endswith(notebook)]
    if not binder:
        problems.append(f"{rel}: no Binder launch link for {notebook}")
    if not colab:
        problems.append(f"{rel}: no Colab launch link for {notebook}")
    counts["launch buttons"] += len(binder[:1]) + len(colab[:1])


def console_errors(driver, rel: str, problems: list, counts: dict) -> None:
    for entry in driver.get_log("browser"):
        if entry.get("level") != "SEVERE":
            continue
        message = entry.get("message", "")
        if any(pattern.search(message) for pattern in ALLOWED_CONSOLE):
            counts["allowed console errors"] += 1
            continue
        problems.append(f"{rel}: console error: {message[:300]}")


def set_theme(driver, theme: str) -> None:
    driver.execute_script(
        "localStorage.setItem('mode', arguments[0]); localStorage.setItem('theme', arguments[0]);"
        "document.documentElement.dataset.mode = arguments[0];"
        "document.documentElement.dataset.theme = arguments[0];", theme)


def screenshot(driver, url: str, theme: str, path: Path) -> None:
    driver.get(url)
    set_theme(driver, theme)
    driver.refresh()
    driver.execute_async_script(PAGE_PROBE)
    driver.execute_script(
        "const img = document.querySelector('article img[src*=\"_images/\"]');"
        "if (img) { img.scrollIntoView({block: 'start'}); window.scrollBy(0, -60); }")
    time.sleep(0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", default="_build/html", type=Path)
    parser.add_argument("--screenshots", default="_build/screenshots", type=Path)
    args = parser.parse_args(argv)
    root = args.html.resolve()
    if not (root / "index.html").is_file():
        sys.exit(f"check_html: no built book in {root}; run `make book` first")
    pages = sorted(p for p in root.rglob("*.html")
                   if not any(part.startswith(("_", ".")) for part in p.relative_to(root).parts))
    t0 = time.perf_counter()
    counts = {key: 0 for key in ("pages", "notebook pages", "launch buttons", "maths typeset", "images",
                                 "internal links", "anchors", "equation references", "external links",
                                 "allowed console errors", "screenshots")}
    problems: list[str] = []
    server = serve(root)
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    with tempfile.TemporaryDirectory(prefix="check-html-") as profile:
        driver = start_browser(profile)
        try:
            for page in pages:
                rel = page.relative_to(root).as_posix()
                redirect = REFRESH.search(page.read_text(encoding="utf-8", errors="replace"))
                if redirect:  # index.html only forwards to the first page, which is checked on its own
                    check_link(page, redirect.group(1), root, problems, counts)
                    continue
                driver.get(base + rel)
                report = driver.execute_async_script(PAGE_PROBE)
                counts["pages"] += 1
                if "error" in report:
                    problems.append(f"{rel}: the page probe failed: {report['error']}")
                    continue
                if report["math"] and not report["mathjax"]:
                    problems.append(f"{rel}: {report['math']} math elements but MathJax did not load")
                for text in report["untypeset"]:
                    problems.append(f"{rel}: maths not typeset: {text!r}")
                for text in report["merrors"]:
                    problems.append(f"{rel}: MathJax error: {text!r}")
                for text in report["rawTex"]:
                    problems.append(f"{rel}: raw TeX left in the text: {text!r}")
                counts["maths typeset"] += report["math"] - len(report["untypeset"])
                for image in report["images"]:
                    counts["images"] += 1
                    if not image["ok"]:
                        problems.append(f"{rel}: image did not load: {image['src']}")
                for href in report["links"]:
                    check_link(page, href, root, problems, counts)
                check_launch_buttons(page, rel, report["links"], problems, counts, root)
                console_errors(driver, rel, problems, counts)
            for rel in SCREENSHOT_PAGES:
                if not (root / rel).is_file():
                    problems.append(f"screenshot page {rel} does not exist")
                    continue
                for theme in ("light", "dark"):
                    name = rel.split("/")[-1].replace(".html", f"-{theme}.png")
                    screenshot(driver, base + rel, theme, args.screenshots / name)
                    counts["screenshots"] += 1
                    console_errors(driver, rel, problems, counts)
        finally:
            driver.quit()
            server.shutdown()
    elapsed = time.perf_counter() - t0
    print("check-html: " + ", ".join(f"{value} {key}" for key, value in counts.items()))
    print(f"check-html: screenshots in {args.screenshots}/ ; took {elapsed:.1f} s")
    return verdict("check-html", problems)



def verdict(tool: str, problems: list) -> int:
    """Print the problems a browser check found (or that all passed); the exit code."""
    if problems:
        print(f"{tool}: {len(problems)} problem(s):")
        for problem in problems:
            print("  - " + problem)
        return 1
    print(f"{tool}: all checks passed")
    return 0

if __name__ == "__main__":
    sys.exit(main())
