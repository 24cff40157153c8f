"""The built wheel and sdist hold every module and data file of the source tree.

An editable install (what the test suite runs on) imports straight from the tree, so a package
missing from ``pyproject.toml`` goes unnoticed until someone installs the wheel: it happened
(``robnetzoo.evaluation`` was absent). This builds both distributions from a copy of the tree,
through setuptools' own build hooks, and compares their file lists with the tree.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.policy  # a check of the repository, run as its own step of .ci/run

ROOT = Path(__file__).resolve().parents[1]
# source folder -> where its files land in the installed package (pyproject's package-dir)
LAYOUT = {"robnetzoo": "robnetzoo", "search": "robnetzoo/search", "export": "robnetzoo/export", "cli": "robnetzoo/cli"}


def _tree_files() -> set[str]:
    """Every file the installed package should hold, as its path inside the wheel."""
    files = set()
    for folder, installed in LAYOUT.items():
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files.add(f"{installed}/{path.relative_to(ROOT / folder).as_posix()}")
    return files


def _copy_of_the_tree(target: Path) -> Path:
    """The files git would commit (tracked, and untracked but not ignored), so nothing left in
    an old ``build/`` folder can make a missing module look present."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("needs a git checkout to know which files are the source tree")
    for name in listed.stdout.splitlines():
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="module")
def distributions(tmp_path_factory) -> tuple[Path, Path]:
    tree = _copy_of_the_tree(tmp_path_factory.mktemp("tree"))
    out = tmp_path_factory.mktemp("dist")
    for hook in ("build_wheel", "build_sdist"):  # one process each, as a build frontend runs them
        code = f"import sys; from setuptools import build_meta; build_meta.{hook}(sys.argv[1])"
        built = subprocess.run(
            [sys.executable, "-c", code, str(out)], cwd=tree, capture_output=True, text=True, timeout=240
        )
        assert built.returncode == 0, built.stderr[-3000:]
    (wheel,), (sdist,) = out.glob("*.whl"), out.glob("*.tar.gz")
    return wheel, sdist


def test_the_wheel_holds_exactly_the_source_tree(distributions):
    wheel, _ = distributions
    with zipfile.ZipFile(wheel) as archive:
        packaged = {name for name in archive.namelist() if name.startswith("robnetzoo/")}
    expected = _tree_files()
    assert "robnetzoo/evaluation/evaluator.py" in expected and "robnetzoo/_data/digits.npz" in expected
    assert not expected - packaged, f"missing from the wheel: {sorted(expected - packaged)}"
    assert not packaged - expected, f"in the wheel but not in the tree: {sorted(packaged - expected)}"


def test_the_sdist_holds_every_source_file(distributions):
    _, sdist = distributions
    with tarfile.open(sdist) as archive:
        top = archive.getnames()[0].split("/")[0]
        packaged = {name[len(top) + 1 :] for name in archive.getnames()}
    expected = {
        f"{folder}/{p.relative_to(ROOT / folder).as_posix()}"
        for folder in LAYOUT
        for p in (ROOT / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert not expected - packaged, f"missing from the sdist: {sorted(expected - packaged)}"
    assert {"pyproject.toml", "README.md"} <= packaged


def test_the_version_has_one_source(distributions):
    from robnetzoo import __version__
    from robnetzoo.cli.app import main

    wheel, _ = distributions
    assert wheel.name.startswith(f"robnetzoo-{__version__}-")
    result = subprocess.run(
        [sys.executable, "-m", "robnetzoo.cli", "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stdout.strip() == f"robnetzoo {__version__}"
    assert main(["--version"]) == 0
