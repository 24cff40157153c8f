"""torchrun with 2 gloo processes on CPU: (slow) training keeps the replicas identical and a
killed 2-process run resumes bitwise; sharded evaluation merges into a one-process run's results."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from robnetzoo.evaluation.store import read_results_file
from robnetzoo.weights import read_safetensors

TRAIN = [
    "train",
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
    "16",
    "--seed",
    "4",
]


def _torchrun(*args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "robnetzoo.cli",
        *args,
    ]


def _env() -> dict[str, str]:
    # one thread per rank: two ranks on two cores (more would slow both down many times over)
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, env=_env(), timeout=600)


def _train_whole(folder):
    done = _run(_torchrun(*TRAIN, "--output", str(folder)))
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((folder / "run.json").read_text())


@pytest.mark.slow
def test_two_gloo_processes_train_identical_replicas(tmp_path):
    """About 30 s on 2 cores: slow. (The default suite keeps gloo process groups in the sharded
    evaluation test below.)"""
    run = _train_whole(tmp_path / "whole")
    assert run["world_size"] == 2
    assert len(run["replicas"]) == 2 and run["replicas"][0] == run["replicas"][1]


@pytest.mark.slow
def test_a_killed_two_process_run_resumes_bitwise(tmp_path):
    """Three torchrun launches, about 80 s on 2 cores: slow. (One process: test_training.py.)"""
    whole = tmp_path / "whole"
    _train_whole(whole)
    killed = tmp_path / "killed"
    process = subprocess.Popen(
        _torchrun(*TRAIN, "--output", str(killed), "--checkpoint-minutes", "0", "--json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=_env(),
        start_new_session=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if not line.startswith("{"):
            continue
        event = json.loads(line)
        if event.get("event") == "checkpoint" and (event["epoch"], event["step"]) == (1, 1):
            os.killpg(process.pid, signal.SIGKILL)  # the launcher and both ranks, as a preemption would
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (killed / "model.safetensors").exists()

    resumed = _run(_torchrun(*TRAIN, "--output", str(killed), "--resume"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = read_safetensors(whole / "model.safetensors"), read_safetensors(killed / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_sharded_eval_equals_one_process(digits_folder, tmp_path):
    common = [
        "eval",
        str(digits_folder),
        "--dataset",
        "digits",
        "--n-examples",
        "41",
        "--batch-size",
        "8",
        "--attack",
        "pgd5",
        "--attack",
        "fgsm",
        "--json",
    ]
    one = _run([sys.executable, "-m", "robnetzoo.cli", *common, "--output", str(tmp_path / "one.json")])
    two = _run(_torchrun(*common, "--output", str(tmp_path / "two.json")))
    assert one.returncode == 0, one.stderr[-3000:]
    assert two.returncode == 0, two.stderr[-3000:]
    a = read_results_file(tmp_path / "one.json")
    b = read_results_file(tmp_path / "two.json")
    assert a["header"] == b["header"] and a["results"] == b["results"]
    assert b["report"]["settings"]["world_size"] == 2
    for key in ("clean_accuracy", "robust_accuracy", "worst_case_accuracy", "counts"):
        assert a["report"][key] == b["report"][key]
    assert json.loads(two.stdout)["counts"] == a["report"]["counts"]  # rank 0 alone printed the report
