"""``robnetzoo train``: every bad input is one line on stderr, exit 2, and nothing is lost."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from robnetzoo.cli.app import main

BASE = ["train", "robnet-large", "--width", "4", "--layers", "3", "--dataset", "digits"]


def _fingerprint(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _refused(capsys, args: list[str], message: str) -> None:
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err, err
    assert len(err.strip().splitlines()) == 1, err


def _recipe(tmp_path: Path, recipe_file: Path, **changes) -> Path:
    data = {**json.loads(recipe_file.read_text()), **changes}
    path = tmp_path / "bad-recipe.json"
    path.write_text(json.dumps(data))
    return path


def test_unknown_preset(capsys, tmp_path):
    _refused(capsys, [*BASE, "--preset", "papr", "--output", str(tmp_path / "r")], "unknown preset 'papr'")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"learning_rate": 0.1}, "unknown key(s) learning_rate"),
        ({"lr": -0.1}, "lr must be a positive finite number"),
        ({"lr": float("inf")}, "lr must be a positive finite number"),
        ({"epochs": 0}, "epochs must be at least 1"),
        ({"threat_model": {"norm": "Linf", "eps": 8}}, "did you mean 8/255"),
        ({"attack": "pgdl2"}, "cannot serve the Linf threat model"),
        ({"validation_fraction": 0.75}, "validation_fraction must be in (0, 0.5], got 0.75"),
        ({"augment": "mirror"}, "augment must be one of auto, none, crop, crop-flip"),
    ],
)
def test_bad_recipe_files(capsys, tmp_path, recipe_file, changes, message):
    bad = _recipe(tmp_path, recipe_file, **changes)
    _refused(capsys, [*BASE, "--preset", str(bad), "--output", str(tmp_path / "r")], message)
    assert not (tmp_path / "r").exists()


def test_a_genotype_file_that_is_not_a_genotype(capsys, tmp_path, recipe_file):
    bad = tmp_path / "cell.json"
    bad.write_text(json.dumps({"cells": ["11", "01"]}))
    _refused(
        capsys, ["train", str(bad), "--preset", str(recipe_file), "--output", str(tmp_path / "r")], "is not a genotype"
    )


def test_a_finished_run_is_never_overwritten(capsys, run_copy, recipe_file):
    before = _fingerprint(run_copy)
    _refused(
        capsys,
        [*BASE, "--preset", str(recipe_file), "--seed", "5", "--eval-n", "24", "--output", str(run_copy)],
        "holds a finished run; pass --resume",
    )
    assert _fingerprint(run_copy) == before


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--epochs", "3"], "another recipe (epochs: 2 vs 3)"),
        (["--width", "6"], "another model"),
        (["--seed", "6"], "another seed (5 vs 6)"),
    ],
)
def test_resume_with_other_settings_says_what_differs(capsys, run_copy, recipe_file, extra, message):
    before = _fingerprint(run_copy)
    args = [*BASE, "--preset", str(recipe_file), "--seed", "5", "--eval-n", "24", "--output", str(run_copy), "--resume"]
    # later options win: the override under test comes last
    _refused(capsys, [*args, *extra], message)
    assert _fingerprint(run_copy) == before


def test_resume_of_a_finished_run_changes_nothing(capsys, run_copy, recipe_file):
    before = _fingerprint(run_copy)
    code = main(
        [
            *BASE,
            "--preset",
            str(recipe_file),
            "--seed",
            "5",
            "--eval-n",
            "24",
            "--output",
            str(run_copy),
            "--resume",
            "--json",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out.strip().splitlines()[-1])["event"] == "finished"
    assert _fingerprint(run_copy) == before


def test_nothing_to_resume_and_a_folder_that_is_not_a_run(capsys, tmp_path, recipe_file):
    _refused(
        capsys,
        [*BASE, "--preset", str(recipe_file), "--output", str(tmp_path / "new"), "--resume"],
        "nothing to resume",
    )
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"\xff\xd8")
    _refused(
        capsys, [*BASE, "--preset", str(recipe_file), "--output", str(other)], "is not empty and holds no training run"
    )
    assert [p.name for p in other.iterdir()] == ["cat.jpg"]


def test_a_genotype_file_trains_a_new_architecture(capsys, tmp_path, recipe_file):
    from robnetzoo.config import ModelConfig
    from robnetzoo.genotype import Genotype

    genotype = Genotype.from_codes(["01", "10"] * 7)
    path = tmp_path / "candidate-7.json"
    path.write_text(genotype.dumps())
    code = main(
        [
            "train",
            str(path),
            "--width",
            "4",
            "--layers",
            "3",
            "--preset",
            str(recipe_file),
            "--epochs",
            "1",
            "--train-n",
            "64",
            "--eval-n",
            "8",
            "--output",
            str(tmp_path / "run"),
        ]
    )
    assert code == 0, capsys.readouterr().err
    config = ModelConfig.load(tmp_path / "run" / "config.json")
    assert config.name == "robnet-candidate-7" and config.genotype() == genotype
    assert config.arch_args["C"] == 4 and config.arch_args["layers"] == 3


@pytest.mark.parametrize(
    "size, message",
    [
        (
            "1437",
            "holding out 1,437 images needs more than the 1,437 digits training images; lower --validation-size "
            "(at most 1,373 here)",
        ),
        (
            "1400",
            "holding out 1,400 of the 1,437 digits training images leaves 37 to train on, fewer than one batch "
            "of 64; lower --validation-size or --batch-size",
        ),
        ("0", "validation_size must be at least 1"),
    ],
)
def test_a_held_out_part_that_leaves_too_little_to_train_on(capsys, tmp_path, size, message):
    _refused(capsys, [*BASE, "--preset", "demo", "--validation-size", size, "--output", str(tmp_path / "r")], message)
    assert not (tmp_path / "r").exists()
