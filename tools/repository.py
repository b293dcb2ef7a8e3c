"""The course's repository URL and release, kept in one place: ``_config.yml``.

``repository.url`` in ``_config.yml`` names the GitHub repository of the course. Everything
else that names it is derived from it and checked against it:

- the set-up cell of every notebook, which on Colab installs ``companion`` from that
  repository at the release tag ``v<version>`` (``version`` in ``pyproject.toml``), never
  from a moving branch;
- the Binder and Colab badges of ``README.md``;
- ``[project.urls]`` in ``pyproject.toml``;
- ``companion.__version__``, which must equal the version in ``pyproject.toml``.

Usage::

    python tools/repository.py check                 # exit 1 and list every mismatch
    python tools/repository.py sync                  # rewrite the derived places
    python tools/repository.py check --github-repository OWNER/NAME
                                                     # also refuse when the configured
                                                     # repository is not OWNER/NAME (CI)
    python tools/repository.py version               # print the release tag, e.g. v0.2.0

Moving the repository is a one-line change of ``_config.yml`` followed by ``sync``.
Only the standard library is used, so the publishing workflow can run it before any
environment exists.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SETUP_MARKER = "# Set-up: on Colab this installs the course package; elsewhere it does nothing."
PIP_LINE = re.compile(r'^(?P<indent>\s*)%pip install --quiet "[^"]*"\s*$', re.MULTILINE)
BINDER_BADGE = re.compile(r"https://mybinder\.org/v2/gh/[^/\s)]+/[^/\s)]+/[^?\s)]+")
COLAB_BADGE = re.compile(r"https://colab\.research\.google\.com/github/[^/\s)]+/[^/\s)]+/blob/[^/\s)]+")
PYPROJECT_URL = re.compile(r'^Repository = "[^"]*"$', re.MULTILINE)
PYPROJECT_VERSION = re.compile(r'^version = "([^"]+)"$', re.MULTILINE)
INIT_VERSION = re.compile(r'^__version__ = "([^"]+)"$', re.MULTILINE)
GITHUB_URL = re.compile(r"^https://github\.com/(?P<slug>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)$")


def _config_value(text: str, section: str, key: str) -> str:
    """``key`` of the top-level mapping ``section`` in a simple YAML file (no PyYAML needed)."""
    block = re.search(rf"^{section}:\s*\n((?:[ \t]+.*\n|\s*\n)*)", text, re.MULTILINE)
    if block is None:
        raise SystemExit(f"_config.yml has no '{section}:' section")
    value = re.search(rf"^[ \t]+{key}:[ \t]*(\S+)", block.group(1), re.MULTILINE)
    if value is None:
        raise SystemExit(f"_config.yml has no '{section}.{key}'")
    return value.group(1).strip("\"'")


def repository_url(root: Path = ROOT) -> str:
    """The configured repository URL, ``https://github.com/OWNER/NAME``."""
    url = _config_value((root / "_config.yml").read_text(), "repository", "url")
    if GITHUB_URL.match(url) is None:
        raise SystemExit(f"repository.url in _config.yml must be https://github.com/OWNER/NAME, got {url!r}")
    return url


def repository_slug(root: Path = ROOT) -> str:
    """``OWNER/NAME`` of the configured repository."""
    return GITHUB_URL.match(repository_url(root)).group("slug")


def branch(root: Path = ROOT) -> str:
    return _config_value((root / "_config.yml").read_text(), "repository", "branch")


def version(root: Path = ROOT) -> str:
    found = PYPROJECT_VERSION.search((root / "pyproject.toml").read_text())
    if found is None:
        raise SystemExit("pyproject.toml has no version")
    return found.group(1)


def release_tag(root: Path = ROOT) -> str:
    """The tag the notebooks install ``companion`` from on Colab: ``v<version>``."""
    return f"v{version(root)}"


def pip_line(root: Path = ROOT) -> str:
    return f'%pip install --quiet "companion @ git+{repository_url(root)}@{release_tag(root)}"'


def notebooks(root: Path = ROOT) -> list[Path]:
    return sorted((root / "book").glob("*.ipynb"))


def _setup_cell(notebook: dict, path: Path) -> dict:
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            if SETUP_MARKER not in "".join(cell["source"]):
                raise SystemExit(f"{path.name}: the first code cell is not the set-up cell ('{SETUP_MARKER}')")
            return cell
    raise SystemExit(f"{path.name}: no code cell")


def _expected(root: Path) -> dict[str, str]:
    slug, ref = repository_slug(root), branch(root)
    return {
        "pip": pip_line(root),
        "binder": f"https://mybinder.org/v2/gh/{slug}/{ref}",
        "colab": f"https://colab.research.google.com/github/{slug}/blob/{ref}",
        "pyproject": f'Repository = "{repository_url(root)}"',
    }


def problems(root: Path = ROOT) -> list[str]:
    """Every place that disagrees with ``_config.yml`` (empty when all agree)."""
    expected, found = _expected(root), []
    for path in notebooks(root):
        source = "".join(_setup_cell(json.loads(path.read_text()), path)["source"])
        lines = [m.group(0).strip() for m in PIP_LINE.finditer(source)]
        if lines != [expected["pip"]]:
            found.append(f"book/{path.name}: set-up cell installs {lines or 'nothing'}, expected [{expected['pip']!r}]")
    readme = (root / "README.md").read_text()
    for kind, pattern in (("binder", BINDER_BADGE), ("colab", COLAB_BADGE)):
        links = pattern.findall(readme)
        if not links or any(link != expected[kind] for link in links):
            found.append(f"README.md: {kind} links {links}, expected {expected[kind]}")
    pyproject = (root / "pyproject.toml").read_text()
    if expected["pyproject"] not in pyproject:
        found.append(f"pyproject.toml: [project.urls] should say {expected['pyproject']}")
    init = INIT_VERSION.search((root / "companion" / "__init__.py").read_text())
    if init is None or init.group(1) != version(root):
        found.append(f"companion/__init__.py: __version__ {init and init.group(1)!r} differs from pyproject.toml's {version(root)!r}")
    return found


def sync(root: Path = ROOT) -> list[str]:
    """Rewrite every derived place from ``_config.yml``; returns the files changed."""
    expected, changed = _expected(root), []
    for path in notebooks(root):
        text = path.read_text()
        notebook = json.loads(text)
        cell = _setup_cell(notebook, path)
        source = "".join(cell["source"])
        new = PIP_LINE.sub(lambda m: m.group("indent") + expected["pip"], source)
        if new != source:
            cell["source"] = new.splitlines(keepends=True)
            path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
            changed.append(f"book/{path.name}")
    readme = root / "README.md"
    text = readme.read_text()
    new = COLAB_BADGE.sub(expected["colab"], BINDER_BADGE.sub(expected["binder"], text))
    if new != text:
        readme.write_text(new)
        changed.append("README.md")
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text()
    new = PYPROJECT_URL.sub(expected["pyproject"], text)
    if new != text:
        pyproject.write_text(new)
        changed.append("pyproject.toml")
    init = root / "companion" / "__init__.py"
    text = init.read_text()
    new = INIT_VERSION.sub(f'__version__ = "{version(root)}"', text)
    if new != text:
        init.write_text(new)
        changed.append("companion/__init__.py")
    return changed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["check", "sync", "version", "url", "slug"])
    parser.add_argument("--github-repository", metavar="OWNER/NAME",
                        help="with check: also fail unless the configured repository is this one")
    args = parser.parse_args(argv)
    if args.command == "version":
        print(release_tag())
        return 0
    if args.command == "url":
        print(repository_url())
        return 0
    if args.command == "slug":
        print(repository_slug())
        return 0
    if args.command == "sync":
        for name in sync():
            print(f"updated {name}")
    found = problems()
    if args.github_repository and args.github_repository.lower() != repository_slug().lower():
        found.append(f"_config.yml names the repository {repository_slug()}, but this runs in "
                     f"{args.github_repository}: set repository.url in _config.yml to "
                     f"https://github.com/{args.github_repository}, run 'python tools/repository.py sync' "
                     "and commit, so that launch buttons and Colab installs point at this repository")
    for line in found:
        print(line, file=sys.stderr)
    if found:
        return 1
    print(f"repository {repository_url()}, release {release_tag()}: all places agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
