"""Fixtures of the search and training tests (the finished run itself is in tests/conftest.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support import tiny_recipe


@pytest.fixture()
def run_copy(finished_run, tmp_path) -> Path:
    """A copy of the finished run a test may change."""
    return Path(shutil.copytree(finished_run, tmp_path / "run"))


@pytest.fixture()
def recipe_file(tmp_path) -> Path:
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(tiny_recipe().to_dict()))
    return path
