"""The documentation site builds, its Python blocks run, its error catalogue matches the code,
and no tracked file speaks of how the project was made instead of what it is."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)


@pytest.mark.policy
def test_the_site_builds_strictly(tmp_path):
    """Broken links, pages missing from the navigation or a bad config fail ``--strict``."""
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert built.returncode == 0, built.stderr[-4000:]
    assert (tmp_path / "site" / "errors" / "index.html").is_file()


@pytest.mark.policy
def test_every_page_is_in_the_navigation():
    nav = (ROOT / "mkdocs.yml").read_text()
    assert [p.name for p in PAGES if p.name not in nav] == []


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)], ids=lambda p: p.stem)
def test_python_blocks_run(page, tmp_path, monkeypatch):
    """Each page's blocks in order, in one namespace, in an empty folder."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in python_blocks(page):
        exec(compile(block, str(page), "exec"), namespace)  # noqa: S102 - our own docs


def _generated_page(tool: str, page: str) -> str:
    """``page`` after ``tools/<tool> --check`` says it matches what the tool writes."""
    checked = subprocess.run(
        [sys.executable, str(ROOT / "tools" / tool), "--check"], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stderr
    return (DOCS / page).read_text()


@pytest.mark.policy
def test_the_error_catalogue_is_read_from_the_code():
    page = _generated_page("error_catalogue.py", "errors.md")
    assert "`overwrite=True` to replace it" in page and "search's candidates.jsonl" in page


def test_the_command_reference_is_read_from_the_app():
    page = _generated_page("cli_reference.py", "cli.md")
    for command in ("models", "info", "convert", "eval", "compare", "train", "publish", "search", "export"):
        assert f"\n## {command}\n" in page, command
    assert "`robnetzoo eval [OPTIONS] MODEL`" in page and "| `--attack, -a` |" in page
    assert "pgd&lt;k&gt;" in page  # the attack names' <k> would otherwise vanish as an HTML tag


def test_the_api_page_documents_every_name_the_readme_tour_calls():
    """What the README's and the guides' Python blocks call is on the API page, with its types."""
    api = (DOCS / "api.md").read_text()
    called = set()
    for text in [(ROOT / "README.md").read_text(), *(p.read_text() for p in PAGES)]:
        for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
            called |= set(re.findall(r"robnetzoo\.(\w+)\(", block))
    documented = set(re.findall(r"^::: [\w.]*?\.(\w+)$", api, flags=re.M))
    assert called - documented == set(), called - documented
    for name in ("list_models", "load_dataset", "push_to_hub", "ThreatModel", "convert_checkpoint"):
        assert name in documented, name
    assert "members: [batch]" in api  # the data set's batch(), which the tour uses
    assert "show_signature_annotations: true" in (ROOT / "mkdocs.yml").read_text()


@pytest.mark.parametrize("page", ["index.md", "getting-started.md"])
def test_code_blocks_on_the_first_pages_keep_their_comments_in_view(page):
    """A comment at the end of a long command hides behind the block's horizontal scroll."""
    text = (DOCS / page).read_text()
    hidden = [
        line
        for block in re.findall(r"```\w*\n(.*?)```", text, flags=re.S)
        for line in block.splitlines()
        if " # " in line and len(line) > 88
    ]
    assert hidden == []


@pytest.mark.policy
def test_the_readme_is_a_landing_page():
    """About 120 lines that say what the project is and how to start; measurements, which change
    from run to run and machine to machine, live in benchmarks/results/ and the pages built on them."""
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 130
    figures = re.findall(r"\b\d[\d,.]*(?:-\d[\d,.]*)? ?(?:s|ms|seconds|minutes|hours|img/s|%)(?=[\s),;.]|$)", readme)
    assert [f for f in figures if f != "95%"] == [], figures  # a 95% interval is a method, not a figure
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).is_file(), link


# How the project was made is not what it is: sessions, lent machines, issue numbers, paths
# outside the repository.
SELF_REFERENCE = re.compile(
    r"(?i:\blent\b|this session|no GPU was|\.\./shared|\bissues? \d+\b|was written on|"
    r"where this was written|cannot be installed here)|\bCI machine"
)


@pytest.mark.policy
def test_no_tracked_file_speaks_of_how_the_project_was_made():
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("needs a git checkout")
    hits = []
    for name in listed.stdout.splitlines():
        path = ROOT / name
        if path.suffix not in {".py", ".md", ".toml", ".yml", ".txt", ""} or not path.is_file():
            continue
        if name == "tests/test_docs.py":
            continue  # the patterns themselves
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if SELF_REFERENCE.search(line) and "github.com" not in line:
                hits.append(f"{name}:{number}: {line.strip()}")
    assert hits == []


@pytest.mark.policy
def test_every_module_the_architecture_page_lists_exists():
    """The page says where each concept lives: each file or folder it names (a bare name, such
    as `hub.py` after `robnetzoo/factory.py`, is in the folder of the path before it) exists."""
    import re

    root = Path(__file__).resolve().parents[1]
    missing, checked = [], 0
    for line in (root / "docs" / "architecture.md").read_text().splitlines():
        if not line.startswith("|") or line.count("|") < 3:
            continue
        folder = None
        for name in re.findall(r"`([\w./-]+)`", line.rstrip(" |").rsplit("|", 1)[-1]):
            if not name.endswith((".py", "/", ".npz")):
                continue
            if "/" in name.rstrip("/"):
                path = root / name
                folder = path if name.endswith("/") else path.parent
            elif folder is not None:
                path = folder / name
            else:
                continue
            checked += 1
            if not path.exists():
                missing.append(name)
    assert checked > 40 and not missing, missing


def test_the_file_schemas_the_docs_print_are_generated_from_the_records():
    """A field added to, renamed in or documented differently in a record class must reach the
    docs: the tables are ``schema_table`` of the classes that write the files."""
    from robnetzoo._io import schema, schema_table
    from robnetzoo.export.exporting import ExportReport
    from robnetzoo.search.results import SCHEMA

    assert schema_table(SCHEMA) in (DOCS / "search.md").read_text()
    assert schema_table(schema(ExportReport), header="field") in (DOCS / "export.md").read_text()
    assert "paired_bits" not in SCHEMA and "rank" in SCHEMA  # the private fields stay out of what users query
