"""The issue's acceptance run: ``robnetzoo search`` with no arguments, the whole demo search on
digits (about 7 minutes on 2 CPU cores), shows Finding 1 and writes four genotype files that
``robnetzoo train`` takes."""

from __future__ import annotations

import json

import pytest

from robnetzoo.cli.app import main


@pytest.mark.slow
def test_the_demo_search_shows_finding_one_and_chooses_four_models(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["search"]) == 0
    folder = tmp_path / "search-demo-seed0"
    analysis = json.loads((folder / "analysis.json").read_text())
    f1 = analysis["finding1_density"]
    assert f1["n"] >= 40 and f1["spearman"] > 0 and f1["spearman_p"] < 0.05
    names = sorted(p.stem for p in (folder / "genotypes").iterdir())
    assert names == ["robnet-free", "robnet-large", "robnet-medium", "robnet-small"]
    layers = {"robnet-free": "5"}
    for name in names:  # one short epoch each: the files train as they are
        args = ["train", str(folder / "genotypes" / f"{name}.json"), "--dataset", "digits", "--preset", "demo",
                "--width", "2", "--layers", layers.get(name, "5"), "--epochs", "1", "--train-n", "64",
                "--batch-size", "32", "--eval-n", "16", "--output", str(tmp_path / f"run-{name}")]
        assert main(args) == 0, name
