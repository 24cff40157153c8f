"""A finished tiny training run, made once per session (about 20 s on 2 cores)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from robnetzoo.search.recipes import PRESETS


def tiny_recipe():
    """The demo recipe cut to seconds: 128 training images, 2 epochs, a cheap validation attack."""
    return PRESETS["demo"].with_overrides(
        epochs=2, batch_size=32, train_examples=128, validation_size=48, validation_attack="pgd5"
    )


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    from robnetzoo.search.runs import train_run

    output = tmp_path_factory.mktemp("runs") / "tiny"
    train_run("robnet-large", dataset="digits", recipe=tiny_recipe(), output=output, width=4, layers=3,
              seed=5, eval_n=24)
    return output


@pytest.fixture()
def run_copy(finished_run, tmp_path) -> Path:
    """A copy of the finished run a test may change."""
    return Path(shutil.copytree(finished_run, tmp_path / "run"))


@pytest.fixture()
def recipe_file(tmp_path) -> Path:
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(tiny_recipe().to_dict()))
    return path
