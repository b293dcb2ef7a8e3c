"""The repository URL lives in _config.yml; every other place is derived from it (tools/repository.py)."""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_tool():
    spec = importlib.util.spec_from_file_location("repository_tool", ROOT / "tools" / "repository.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


repository = load_tool()


def test_every_place_agrees_with_the_config():
    assert repository.problems() == []


def test_the_set_up_cell_installs_a_release_tag_never_a_branch():
    line = repository.pip_line()
    assert line.endswith(f'@{repository.release_tag()}"')
    assert repository.release_tag().startswith("v")
    for path in repository.notebooks():
        cell = next(c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
        source = "".join(cell["source"])
        assert line in source, path.name
        assert "@main" not in source and "@master" not in source, path.name


def test_version_is_the_package_version():
    import companion

    assert companion.__version__ == repository.version()


def make_copy(tmp_path):
    for name in ("_config.yml", "README.md", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "companion").mkdir()
    shutil.copy(ROOT / "companion" / "__init__.py", tmp_path / "companion" / "__init__.py")
    shutil.copytree(ROOT / "book", tmp_path / "book", ignore=shutil.ignore_patterns("_build", ".ipynb_checkpoints"))
    return tmp_path


def test_moving_the_repository_is_a_one_line_change(tmp_path):
    root = make_copy(tmp_path)
    config = (root / "_config.yml").read_text()
    old = repository.repository_url(root)
    (root / "_config.yml").write_text(config.replace(f"url: {old}", "url: https://github.com/new-owner/new-name"))
    assert repository.problems(root), "a moved repository must be reported until synced"
    changed = repository.sync(root)
    assert "README.md" in changed and "pyproject.toml" in changed
    assert repository.problems(root) == []
    readme = (root / "README.md").read_text()
    assert "new-owner/new-name" in readme and old.split("github.com/")[1] not in readme
    assert repository.sync(root) == [], "sync is idempotent"


def test_a_moving_branch_in_a_set_up_cell_is_reported(tmp_path):
    root = make_copy(tmp_path)
    path = repository.notebooks(root)[0]
    text = path.read_text().replace(f"@{repository.release_tag(root)}", "@main")
    path.write_text(text)
    assert any(path.name in line for line in repository.problems(root))


def test_the_publishing_check_refuses_another_repository(capsys):
    assert repository.main(["check", "--github-repository", "someone-else/fork"]) == 1
    assert "someone-else/fork" in capsys.readouterr().err
    assert repository.main(["check", "--github-repository", repository.repository_slug()]) == 0


@pytest.mark.parametrize("url", ["http://github.com/a/b", "https://gitlab.com/a/b", "https://github.com/a"])
def test_only_github_urls_are_accepted(tmp_path, url):
    root = make_copy(tmp_path)
    config = (root / "_config.yml").read_text()
    (root / "_config.yml").write_text(config.replace(f"url: {repository.repository_url(root)}", f"url: {url}"))
    with pytest.raises(SystemExit, match="OWNER/NAME"):
        repository.repository_url(root)


def test_results_file_is_local_in_a_clone_and_fetched_from_the_release_tag_elsewhere(tmp_path, monkeypatch):
    from companion import __version__
    from companion.notebook import results_file

    assert results_file("sip.json", folder=ROOT / "bench_results") == ROOT / "bench_results" / "sip.json"
    monkeypatch.setenv("HOME", str(tmp_path))
    fetched = []

    def download(url, target):
        fetched.append(url)
        Path(target).write_text("{}")

    path = results_file("sip.json", folder=tmp_path / "nowhere", download=download)
    assert path.read_text() == "{}" and path.parent == tmp_path / ".cache" / "companion" / __version__
    assert fetched == [f"https://raw.githubusercontent.com/{repository.repository_slug()}/v{__version__}/bench_results/sip.json"]
    assert results_file("sip.json", folder=tmp_path / "nowhere", download=None) == path  # cached: no fetch

    def offline(url, target):
        raise OSError("no network")

    with pytest.raises(FileNotFoundError, match="make bench"):
        results_file("hig.json", folder=tmp_path / "nowhere", download=offline)
