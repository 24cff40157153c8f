"""CUDA training: bf16 autocast, channels_last, and resume on a GPU (skipped without CUDA)."""

from __future__ import annotations

import json

import pytest

from robnetzoo.cli.app import main

pytestmark = pytest.mark.gpu  # deselected by default; skipped without CUDA by conftest.py


def test_training_on_cuda_with_bf16_resumes_and_evaluates(tmp_path):
    args = [
        "train",
        "robnet-large",
        "--width",
        "8",
        "--layers",
        "5",
        "--dataset",
        "digits",
        "--preset",
        "demo",
        "--epochs",
        "2",
        "--device",
        "cuda",
        "--output",
        str(tmp_path / "run"),
        "--json",
    ]
    assert main(args) == 0
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["status"] == "finished" and len(run["history"]) == 2
    assert all(entry["loss"] == entry["loss"] for entry in run["history"])  # no NaN under bf16
    assert json.loads((tmp_path / "run" / "eval.json").read_text())["settings"]["device"].startswith("cuda")
