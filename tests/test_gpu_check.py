"""tools/gpu_check.py, the GPU machine's one prepared run, at its smallest on CPU, so the
script, the benchmarks it drives and the torchrun smoke cannot rot while no GPU runs them.

The install step never runs here (the suite's environment is installed already). The default
tier runs the environment and paper-scale steps (about 10 s on 2 cores) and the script's
running machinery; the slow tier runs every step (about 55 s): pytest -m gpu, the attack,
training and runtime benchmarks' smoke runs and the one-process torchrun too."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robnetzoo.cli.app import main

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "gpu_check.py"


def _module():
    if "gpu_check" not in sys.modules:  # a dataclass needs its module registered
        spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules["gpu_check"] = module
        spec.loader.exec_module(module)
    return sys.modules["gpu_check"]


DEFAULT_STEPS = ["environment", "paper-scale"]


def _tiny(out: Path, *args: str) -> tuple[dict, subprocess.CompletedProcess]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--output", str(out), "--device", "cpu", "--tiny", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    steps = json.loads((out / "gpu_check.json").read_text())["steps"]
    assert list(steps) == _module().NAMES
    ran = {name: record["status"] for name, record in steps.items() if record["status"] != "skipped"}
    assert ran == dict.fromkeys(ran, "passed")
    assert all((out / record["log"]).is_file() for record in steps.values() if "log" in record)
    table = done.stdout.splitlines()
    assert [line.split()[0] for line in table[1:-1]] == _module().NAMES
    return steps, done


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-check") / "out"
    steps, done = _tiny(out, "--only", ",".join(DEFAULT_STEPS))
    return out, steps


def test_the_environment_and_paper_scale_steps_run_on_cpu_and_record_their_figures(tiny_run):
    out, steps = tiny_run
    assert [name for name, record in steps.items() if record["status"] == "passed"] == DEFAULT_STEPS
    assert steps["install"] == {"status": "skipped", "why": "not asked for"}
    assert steps["environment"]["figures"]["cuda_available"] is False
    paper = steps["paper-scale"]["figures"]
    assert paper["supernet"]["timed_steps"] == paper["training"]["timed_steps"] == 2
    assert paper["supernet"]["seconds_per_pass"] > 0 and paper["training"]["recipe_hours"] > 0


@pytest.mark.slow
def test_every_step_but_the_install_runs_on_cpu(tmp_path):
    """About 55 s on 2 cores: slow."""
    steps, done = _tiny(tmp_path / "out", "--skip", "install")
    assert [name for name, record in steps.items() if record["status"] == "skipped"] == ["install"]
    tests = steps["pytest-gpu"]["figures"]
    assert tests["tests"] >= 5 and tests["skipped"] == tests["tests"]  # no CUDA here: each gpu test skips
    assert all(outcome.startswith("skipped: ") and outcome != "skipped: " for outcome in tests["outcomes"].values())
    attack = steps["attack"]["figures"]["ratio_to_torchattacks"]
    assert attack["torchattacks"] == 1 and set(attack) >= {"robnetzoo", "reference loop"}
    assert set(steps["train"]["figures"]) == {"digits", "robnet-large"}
    assert "onnxruntime fp32" in steps["runtime"]["figures"]["ratio_to_eager"]
    # a one-process torchrun still forms a process group: gloo here, NCCL on a GPU
    assert steps["torchrun"]["figures"]["train"] == {"status": "finished", "world_size": 1, "backend": "gloo"}
    assert steps["torchrun"]["figures"]["eval"]["backend"] == "gloo"
    assert "attack" in done.stdout and "x1.00" in done.stdout


def test_the_measured_rate_prices_a_plan_of_its_size_and_is_refused_at_another(tiny_run, capsys):
    from robnetzoo.search.plan import plan_search, read_timings, work_of
    from robnetzoo.search.settings import PRESETS

    timings = tiny_run[0] / "paper-scale.json"
    record = read_timings(timings)
    paper = PRESETS["paper"]
    timed = paper.with_overrides(width=4, layers=3, supernet=paper.supernet.with_overrides(batch_size=4))
    plan = plan_search(timed, timings=timings)
    (price,) = plan["prices"]
    assert price["how"] == "measured" and price["smoke"] is True and price["scaled_from"] is None
    passes = sum(phase["passes"] for phase in work_of(timed))
    assert price["hours"] == pytest.approx(passes * record["seconds_per_pass"] / 3600)

    assert main(["search", "--preset", "paper", "--plan", "--timings", str(timings)]) == 2
    error = capsys.readouterr().err
    assert "timed a supernet of C=4, 3 cells, batch 4" in error and "C=24, 20 cells, batch 64" in error
    assert "--timings" in error
    assert main(["search", "--timings", str(timings)]) == 2
    assert "add --plan" in capsys.readouterr().err


def test_a_step_past_its_limit_is_killed_with_its_children(tmp_path):
    gpu_check = _module()
    child = tmp_path / "child.pid"
    script = (
        f"import subprocess, sys, time; c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(child)!r}, 'w').write(str(c.pid)); time.sleep(60)"
    )
    began = time.monotonic()
    status, code = gpu_check.run_command([sys.executable, "-c", script], tmp_path / "log", 2)
    assert (status, code) == ("timeout", None) and time.monotonic() - began < 20
    assert "killed after 2 s" in (tmp_path / "log").read_text()
    pid = int(child.read_text())
    for _ in range(100):  # the launcher's own child (a torchrun worker, say) goes too
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the step's child process outlived the kill")


def test_bad_arguments_are_one_line_and_exit_2(tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "gpu_check.json").write_text("{}")
    for args, says in (
        (["--output", str(tmp_path / "used")], "is not empty"),
        (["--output", str(tmp_path / "new"), "--only", "pytest"], "unknown step 'pytest'"),
        (["--output", str(tmp_path / "new"), "--wheels", str(tmp_path / "none")], "is not a folder"),
    ):
        done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and says in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert (tmp_path / "used" / "gpu_check.json").read_text() == "{}"
