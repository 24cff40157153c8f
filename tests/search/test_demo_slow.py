"""The demo's acceptance run: the demo preset makes a digits RobNet (C=8, 5 cells) far more
robust than standard training of the same architecture. About 10 minutes on 2 CPU cores (the demo
run alone took 297 s in benchmarks/demo_choice.py)."""

from __future__ import annotations

import json

import pytest

from robnetzoo.cli.app import main


@pytest.mark.slow
def test_demo_training_beats_standard_training_under_pgd20(tmp_path, capsys):
    base = ["train", "robnet-large", "--width", "8", "--layers", "5", "--dataset", "digits", "--preset", "demo"]
    assert main([*base, "--output", str(tmp_path / "demo")]) == 0
    assert main([*base, "--attack", "none", "--output", str(tmp_path / "standard")]) == 0
    robust = json.loads((tmp_path / "demo" / "eval.json").read_text())["robust_accuracy"]["pgd20"]
    standard = json.loads((tmp_path / "standard" / "eval.json").read_text())["robust_accuracy"]["pgd20"]
    assert robust > standard + 20, (robust, standard)
