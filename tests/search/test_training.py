"""The training engine and ``robnetzoo train``: resume after SIGKILL, selection, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import torch

from robnetzoo.weights import read_safetensors

TRAIN = [
    "robnet-large",
    "--width",
    "4",
    "--layers",
    "3",
    "--dataset",
    "digits",
    "--preset",
    "demo",
    "--epochs",
    "2",
    "--batch-size",
    "32",
    "--train-n",
    "128",
    "--eval-n",
    "24",
    "--validation-size",
    "32",  # the epoch's PGD-20 validation, not the steps, is most of a tiny run's time
    "--seed",
    "3",
]


def _env() -> dict[str, str]:
    """The killed run computes with this process's thread count (one per pytest-xdist worker),
    so its resumption here reproduces its arithmetic to the bit."""
    return {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads()), "PYTHONUNBUFFERED": "1"}


def _train(output: Path, *extra: str) -> int:
    """``robnetzoo train`` in this process (the same thread count as the killed one's
    OMP_NUM_THREADS): only the run to be killed needs a process of its own."""
    from robnetzoo.cli.app import main

    return main(["train", *TRAIN, "--output", str(output), *extra])


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return read_safetensors(run / "model.safetensors")


def _kill_at_checkpoint(output: Path, epoch: int, step: int) -> None:
    """Start a run that checkpoints after every step and SIGKILL it once the checkpoint of
    (epoch, step) is on disk: a mid-epoch kill, as a preempted job would see."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "robnetzoo.cli",
            "train",
            *TRAIN,
            "--output",
            str(output),
            "--checkpoint-minutes",
            "0",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=_env(),
    )
    assert process.stdout is not None
    for line in process.stdout:
        event = json.loads(line)
        if event.get("event") == "checkpoint" and (event["epoch"], event["step"]) == (epoch, step):
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"


def test_a_run_killed_mid_epoch_resumes_to_bitwise_equal_weights(tmp_path):
    whole = tmp_path / "whole"
    assert _train(whole) == 0

    killed = tmp_path / "killed"
    _kill_at_checkpoint(killed, epoch=1, step=2)  # in the second epoch, 2 of 4 steps done
    assert not (killed / "model.safetensors").exists()
    assert _train(killed, "--resume") == 0

    a, b = _weights(whole), _weights(killed)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert (
        json.loads((whole / "eval.json").read_text())["counts"]
        == json.loads((killed / "eval.json").read_text())["counts"]
    )
    log_whole = [json.loads(line) for line in (whole / "train_log.jsonl").read_text().splitlines()]
    log_killed = [json.loads(line) for line in (killed / "train_log.jsonl").read_text().splitlines()]

    def strip(log):
        return [{k: v for k, v in e.items() if k not in ("seconds", "images_per_second")} for e in log]

    assert strip(log_whole) == strip(log_killed)


def test_a_run_records_its_splits_augmentation_and_learning_rate(finished_run):
    run = json.loads((finished_run / "run.json").read_text())
    # the recipe holds out 48 of the 1,437 digits training images and trains on its first 128
    assert {k: run["data"][k] for k in ("train", "validation", "test")} == {"train": 128, "validation": 48, "test": 360}
    assert run["data"]["validation_rule"] == "48 held-out training images" and run["data"]["augment"] == "none"
    # the demo's lr 0.05 was set for batch 64; this run's batch is 32
    assert run["lr"] == {
        "peak": 0.025,
        "recipe_lr": 0.05,
        "recipe_batch": 64,
        "batch": 32,
        "scaled": "lr 0.025: the recipe's 0.05 at batch 64, scaled linearly to batch 32",
    }
