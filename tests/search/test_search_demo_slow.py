"""The acceptance run: ``robnetzoo search`` with no arguments, the whole demo search on digits
(about 7 minutes on 2 CPU cores), tests each finding with its interval, re-scores its choices,
and writes four genotype files in their bands that ``robnetzoo train`` takes."""

from __future__ import annotations

import json

import pytest

from robnetzoo.cli.app import main


@pytest.mark.slow
def test_the_demo_search_tests_each_finding_and_chooses_four_models_in_their_bands(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["search"]) == 0
    folder = tmp_path / "search-demo-seed0"
    analysis = json.loads((folder / "analysis.json").read_text())
    f1 = analysis["finding1_density"]
    assert f1["n"] == 40 and f1["all"]["interval"] is not None and f1["identity_given_convs"]["interval"] is not None
    assert analysis["finding2_direct_edges"]["pairs"] == 18 and analysis["finding3_fsp"]["space"] == "free"
    assert len(analysis["verdicts"]) == 6 and "this search supports" in analysis["notes"][0]
    summary = json.loads((folder / "summary.json").read_text())
    names = sorted(summary["selection"])
    assert names == ["robnet-free", "robnet-large", "robnet-medium", "robnet-small"]
    for name, row in summary["selection"].items():
        assert row["band"][0] <= row["convs_per_cell"] <= row["band"][1] and row["holdout"]["n"] == 160
    assert (folder / "report.html").is_file() and (folder / "results.json").is_file()
    layers = {"robnet-free": "20"}
    for name in names:  # one short epoch each: the files train as they are
        args = [
            "train",
            str(folder / "genotypes" / f"{name}.json"),
            "--dataset",
            "digits",
            "--preset",
            "demo",
            "--width",
            "2",
            "--layers",
            layers.get(name, "5"),
            "--epochs",
            "1",
            "--train-n",
            "64",
            "--batch-size",
            "32",
            "--eval-n",
            "16",
            "--output",
            str(tmp_path / f"run-{name}"),
        ]
        assert main(args) == 0, name
