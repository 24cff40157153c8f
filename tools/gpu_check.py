"""Every CUDA path of robnetzoo in one prepared run, for a GPU machine held for minutes.

The machine this is for has torch with CUDA and the project's runtime dependencies but no
package registry, so the project is installed from the carried source tree and the wheels
carried beside it: torchattacks (the textbook loops), pytest and its plugins (the gpu tests),
onnxscript and its dependencies (the ONNX export), fetched where a registry is reachable for
the machine's Python (``--python-version`` and ``--platform`` say which)::

    pip download torchattacks pytest pytest-timeout pluggy iniconfig onnxscript onnx-ir ml_dtypes \
        --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux_2_17_x86_64 -d wheels

(about 6 MB). From the repository root:

    python tools/gpu_check.py --output OUT [--wheels wheels] [--device cuda] [--budget 480]
        [--only STEP,STEP] [--skip STEP,STEP] [--tiny]

Steps, in order, each a subprocess with its own time limit (and all of them within
``--budget`` seconds), so one failure or hang cannot eat the rest of the machine's time:

  install      pip install --no-build-isolation --no-deps --no-index -e . (and the wheels)
  environment  torch, CUDA, the GPU, onnx/onnxruntime, what is importable
  pytest-gpu   python -m pytest -m gpu (bf16 training; the TensorRT tests skip, saying why)
  attack       benchmarks/attack_throughput.py (ours, fp32 and bf16, vs torchattacks vs the authors' loop)
  train        benchmarks/train_throughput.py (PGD-7 training, ours channels_last + bf16 vs the textbook loop)
  runtime      benchmarks/runtime_throughput.py (torch eager, BN folded, AOTInductor on the device)
  paper-scale  benchmarks/paper_scale.py (the paper's C=24, 20-cell supernet and robnet-large
               PGD-7 training, timed on synthetic CIFAR-10 files: seconds per image pass)
  torchrun     a one-process torchrun of ``robnetzoo train`` and of sharded ``robnetzoo eval``
               (NCCL on CUDA, gloo on CPU)

Writes ``OUT/gpu_check.json`` (rewritten after every step, so a run cut short keeps what it
had), ``OUT/logs/STEP.log`` and each benchmark's raw figures ``OUT/STEP.json``, and prints a
summary table on stdout. ``robnetzoo search --preset paper --plan --timings OUT/paper-scale.json``
then gives the paper search's hours at the measured rate. Exit status 0 when every step that
ran passed, 1 when one failed or ran out of time, 2 for bad arguments.

``--tiny`` runs every step at the smallest sizes (``--smoke`` in the benchmarks): on CPU
(``--device cpu --tiny``) it is part of the test suite, so the script cannot rot unnoticed. Its
figures mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
FORMAT = "robnetzoo-gpu-check"
BUDGET_S = 480  # the whole run: 8 minutes of one GPU machine


@dataclass
class Options:
    output: Path
    work: Path
    device: str
    tiny: bool
    wheels: Path | None


@dataclass
class Step:
    name: str
    limit_s: int  # at most this long on the GPU machine (the run's budget may cut it shorter)
    commands: Callable[[Options], list[list[str]]]
    figures: Callable[[Options], dict[str, Any]] = field(default=lambda options: {})


def _python(*args: str) -> list[str]:
    return [sys.executable, *args]


def _benchmark(script: str, options: Options, gpu_args: list[str], tiny_args: list[str], name: str) -> list[list[str]]:
    sized = tiny_args if options.tiny else gpu_args
    return [
        _python(
            str(ROOT / "benchmarks" / script),
            "--device",
            options.device,
            *sized,
            "--json",
            str(options.output / f"{name}.json"),
        )
    ]


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


# ----------------------------------------------------------------------------- the steps


def _install(options: Options) -> list[list[str]]:
    commands = [_python("-m", "pip", "install", "--no-build-isolation", "--no-deps", "--no-index", "-e", str(ROOT))]
    wheels = sorted(options.wheels.glob("*.whl")) if options.wheels else []
    if wheels:
        commands.append(_python("-m", "pip", "install", "--no-deps", "--no-index", *map(str, wheels)))
    return commands


ENVIRONMENT = """
import importlib.util, json, sys
import torch
import robnetzoo
cuda = torch.cuda.is_available()
info = {"python": sys.version.split()[0], "torch": torch.__version__, "cuda": torch.version.cuda,
        "robnetzoo": robnetzoo.__version__, "cuda_available": cuda,
        "gpu": torch.cuda.get_device_name() if cuda else None,
        "capability": ".".join(map(str, torch.cuda.get_device_capability())) if cuda else None,
        "bf16": torch.cuda.is_bf16_supported() if cuda else None,
        "gpu_memory_gb": torch.cuda.get_device_properties(0).total_memory / 2**30 if cuda else None,
        "importable": {m: importlib.util.find_spec(m) is not None
                       for m in ("onnx", "onnxscript", "onnxruntime", "tensorrt", "torchattacks", "autoattack", "timm",
                                 "pytest")}}
try:
    import onnxruntime
    info["onnxruntime"] = {"version": onnxruntime.__version__, "providers": onnxruntime.get_available_providers()}
except ImportError:
    pass
json.dump(info, open(sys.argv[1], "w"), indent=1)
print(json.dumps(info))
"""


def _environment(options: Options) -> list[list[str]]:
    return [_python("-c", ENVIRONMENT, str(options.output / "environment.json"))]


def _environment_figures(options: Options) -> dict[str, Any]:
    return _read(options.output / "environment.json")


def _pytest(options: Options) -> list[list[str]]:
    return [
        _python(
            "-m",
            "pytest",
            "-m",
            "gpu",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",  # the default tier's options (-n auto) need pytest-xdist, which is not carried
            "-p",
            "no:xdist",
            f"--junitxml={options.output / 'pytest-gpu.xml'}",
            str(ROOT / "tests"),
        )
    ]


def _pytest_figures(options: Options) -> dict[str, Any]:
    path = options.output / "pytest-gpu.xml"
    if not path.is_file():
        return {}
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    outcomes: dict[str, str] = {}
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname')}.{case.get('name')}"
        counts["tests"] += 1
        for kind, key in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
            found = case.find(kind)
            if found is not None:
                counts[key] += 1
                outcomes[name] = (
                    f"{kind}: {(found.get('message') or '').splitlines()[0][:200] if found.get('message') else ''}"
                )
                break
        else:
            outcomes[name] = "passed"
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return {**counts, "outcomes": outcomes}


def _attack(options: Options) -> list[list[str]]:
    return _benchmark(
        "attack_throughput.py", options, ["--batch", "128", "--steps", "10", "--no-compile"], ["--smoke"], "attack"
    )


def _attack_figures(options: Options) -> dict[str, Any]:
    raw = _read(options.output / "attack.json")
    if not raw:
        return {}
    base = raw["part_a"]["torchattacks"]
    return {
        "batch": raw.get("batch"),
        "image_steps_per_second": raw["part_a"],
        "ratio_to_torchattacks": {k: v / base for k, v in raw["part_a"].items()},
    }


def _train(options: Options) -> list[list[str]]:
    return _benchmark(
        "train_throughput.py", options, ["--large-batch", "128", "--large-steps", "10"], ["--smoke"], "train"
    )


def _train_figures(options: Options) -> dict[str, Any]:
    raw = _read(options.output / "train.json")
    return {
        part: {"images_per_second": raw[part]["images_per_second"], "ratio": raw[part]["ratio"]}
        for part in ("digits", "robnet-large")
        if part in raw
    }


def _runtime(options: Options) -> list[list[str]]:
    return _benchmark(
        "runtime_throughput.py",
        options,
        ["--batch", "1", "--batch", "64", "--batch", "256", "--seconds", "2"],
        ["--smoke"],
        "runtime",
    )


def _runtime_figures(options: Options) -> dict[str, Any]:
    raw = _read(options.output / "runtime.json")
    if not raw:
        return {}
    largest = max(int(b) for b in raw["results"][raw["baseline"]])
    base = raw["results"][raw["baseline"]][str(largest)]["images_per_second"]
    return {
        "batch": largest,
        "images_per_second": {
            name: r[str(largest)]["images_per_second"] for name, r in raw["results"].items() if str(largest) in r
        },
        "ratio_to_eager": {
            name: r[str(largest)]["images_per_second"] / base for name, r in raw["results"].items() if str(largest) in r
        },
    }


def _paper(options: Options) -> list[list[str]]:
    return _benchmark(
        "paper_scale.py",
        options,
        ["--steps", "200", "--seconds", "40", "--train-batch", "256"],
        ["--smoke"],
        "paper-scale",
    )


def _paper_figures(options: Options) -> dict[str, Any]:
    raw = _read(options.output / "paper-scale.json")
    picked = {}
    for part, keys in (
        ("supernet", ("batch", "timed_steps", "seconds_per_step", "seconds_per_pass", "search_hours")),
        ("training", ("batch", "timed_steps", "seconds_per_step", "seconds_per_pass", "recipe_hours")),
    ):
        if part in raw:
            picked[part] = {key: raw[part][key] for key in keys}
    return picked


def _torchrun(options: Options) -> list[list[str]]:
    launch = _python("-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1", "-m", "robnetzoo.cli")
    small = (
        ["--width", "4", "--layers", "3", "--train-n", "16", "--eval-n", "4", "--batch-size", "16"]
        if options.tiny
        else []
    )
    run = options.work / "torchrun-train"
    return [
        [
            *launch,
            "train",
            "robnet-large",
            "--dataset",
            "digits",
            "--preset",
            "demo",
            "--epochs",
            "1",
            "--width",
            "8",
            "--layers",
            "5",
            *small,
            "--device",
            options.device,
            "--output",
            str(run),
            "--json",
        ],
        [
            *launch,
            "eval",
            str(run),
            "--dataset",
            "digits",
            "--n-examples",
            "4" if options.tiny else "128",
            "--attack",
            "pgd5",
            "--device",
            options.device,
            "--output",
            str(options.work / "torchrun-eval.json"),
            "--json",
        ],
    ]


def _torchrun_figures(options: Options) -> dict[str, Any]:
    run = _read(options.work / "torchrun-train" / "run.json")
    evaluation = options.work / "torchrun-eval.json"
    figures: dict[str, Any] = {}
    if run:
        figures["train"] = {key: run.get(key) for key in ("status", "world_size", "backend")}
    if evaluation.is_file():
        sys.path.insert(0, str(ROOT))
        from robnetzoo.evaluation.store import read_results_file

        report = read_results_file(evaluation)["report"]
        figures["eval"] = {
            "world_size": report["settings"]["world_size"],
            "backend": report["settings"].get("backend"),
            "clean_accuracy": report["clean_accuracy"],
            "robust_accuracy": report["robust_accuracy"],
        }
    return figures


STEPS = [
    Step("install", 60, _install),
    Step("environment", 30, _environment, _environment_figures),
    Step("pytest-gpu", 90, _pytest, _pytest_figures),
    Step("attack", 60, _attack, _attack_figures),
    Step("train", 60, _train, _train_figures),
    Step("runtime", 120, _runtime, _runtime_figures),
    Step("paper-scale", 120, _paper, _paper_figures),
    Step("torchrun", 90, _torchrun, _torchrun_figures),
]
NAMES = [step.name for step in STEPS]


# ----------------------------------------------------------------------------- running


def run_command(command: list[str], log: Path, limit_s: float) -> tuple[str, int | None]:
    """One command in its own process group, its output appended to ``log``; killed (the whole
    group: torchrun's workers too) when it passes ``limit_s``."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log, "a") as handle:
        handle.write(f"$ {' '.join(command)}\n")
        handle.flush()
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            code = process.wait(timeout=max(limit_s, 1))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            handle.write(f"\n[gpu_check] killed after {limit_s:.0f} s\n")
            return "timeout", None
    return ("passed" if code == 0 else "failed"), code


def run_step(step: Step, options: Options, remaining_s: float) -> dict[str, Any]:
    log = options.output / "logs" / f"{step.name}.log"
    limit = min(step.limit_s, remaining_s)
    began = time.monotonic()
    status, code = "passed", 0
    for command in step.commands(options):
        status, code = run_command(command, log, limit - (time.monotonic() - began))
        if status != "passed":
            break
    record: dict[str, Any] = {
        "status": status,
        "returncode": code,
        "seconds": round(time.monotonic() - began, 1),
        "limit_s": round(limit),
        "log": str(log.relative_to(options.output)),
    }
    try:
        record["figures"] = step.figures(options)
    except (KeyError, ValueError, TypeError, OSError) as exc:  # a figures file cut short by a failure
        record["figures"] = {}
        record["figures_error"] = f"{type(exc).__name__}: {exc}"
    if status != "passed":
        record["tail"] = log.read_text(errors="replace")[-2000:]
    return record


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(summary, indent=1) + "\n")
    os.replace(temporary, path)


def headline(name: str, figures: dict[str, Any]) -> str:
    """A few figures of a step, for the table (the JSON has them all)."""
    try:
        if name == "environment":
            return f"{figures.get('gpu') or 'no GPU'}, torch {figures['torch']}, CUDA {figures.get('cuda')}"
        if name == "pytest-gpu":
            failed = figures["failures"] + figures["errors"]
            return f"{figures['passed']} passed, {failed} failed, {figures['skipped']} skipped"
        if name == "attack":
            return ", ".join(
                f"{k} x{v:.2f}" for k, v in figures["ratio_to_torchattacks"].items() if k != "torchattacks"
            )
        if name == "train":
            return ", ".join(f"{part} x{v['ratio']:.2f}" for part, v in figures.items())
        if name == "runtime":
            return f"batch {figures['batch']}: " + ", ".join(
                f"{k} x{v:.2f}" for k, v in figures["ratio_to_eager"].items()
            )
        if name == "paper-scale":
            s, t = figures["supernet"], figures.get("training")
            text = f"supernet {s['seconds_per_pass'] * 1e3:.3f} ms/pass ({s['search_hours']:,.0f} h search)"
            return text + (
                f", robnet-large {t['seconds_per_pass'] * 1e3:.3f} ms/pass ({t['recipe_hours']:,.1f} h recipe)"
                if t
                else ""
            )
        if name == "torchrun":
            return (
                f"train {figures['train']['backend']} x{figures['train']['world_size']} {figures['train']['status']}, "
                f"eval {figures['eval']['backend']} clean {figures['eval']['clean_accuracy']:.1f}%"
            )
    except (KeyError, TypeError):
        return ""
    return ""


def parse_steps(text: str | None, flag: str) -> list[str]:
    if text is None:
        return []
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in NAMES]
    if unknown:
        raise SystemExit(_usage(f"{flag}: unknown step {unknown[0]!r}; the steps are {', '.join(NAMES)}"))
    return names


def _usage(message: str) -> int:
    print(f"gpu_check: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, required=True, help="folder for the figures and logs (new or empty)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--wheels", type=Path, help="a folder of extra wheels to install (torchattacks)")
    parser.add_argument("--budget", type=float, default=BUDGET_S, help="seconds for the whole run")
    parser.add_argument("--only", help="comma-separated steps to run (the others are skipped)")
    parser.add_argument("--skip", help="comma-separated steps to skip")
    parser.add_argument(
        "--tiny", action="store_true", help="the smallest sizes (the test suite's CPU run); figures mean nothing"
    )
    parser.add_argument("--work", type=Path, help="folder for scratch files (default: a temporary folder, removed)")
    args = parser.parse_args(argv)
    if args.output.exists() and any(args.output.iterdir()):
        return _usage(f"{args.output} is not empty; give a new folder (earlier figures are never overwritten)")
    if args.wheels is not None and not args.wheels.is_dir():
        return _usage(f"--wheels {args.wheels} is not a folder; give the folder the wheels were downloaded to")
    only, skip = parse_steps(args.only, "--only"), parse_steps(args.skip, "--skip")
    (args.output / "logs").mkdir(parents=True, exist_ok=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="gpu-check-"))
    options = Options(args.output.resolve(), work.resolve(), args.device, args.tiny, args.wheels)
    summary: dict[str, Any] = {
        "format": FORMAT,
        "device": args.device,
        "tiny": args.tiny,
        "budget_s": args.budget,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "steps": {},
    }
    began = time.monotonic()
    try:
        for step in STEPS:
            remaining = args.budget - (time.monotonic() - began)
            if (only and step.name not in only) or step.name in skip:
                summary["steps"][step.name] = {"status": "skipped", "why": "not asked for"}
            elif remaining < 1:
                summary["steps"][step.name] = {"status": "skipped", "why": "the run's budget was spent"}
            else:
                print(
                    f"[gpu_check] {step.name} (at most {min(step.limit_s, remaining):.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
                summary["steps"][step.name] = run_step(step, options, remaining)
            summary["seconds"] = round(time.monotonic() - began, 1)
            write_summary(options.output / "gpu_check.json", summary)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"{'step':<13}{'status':<9}{'seconds':>8}  figures")
    for name, record in summary["steps"].items():
        seconds = f"{record['seconds']:.0f}" if "seconds" in record else ""
        print(f"{name:<13}{record['status']:<9}{seconds:>8}  {headline(name, record.get('figures', {}))}")
    print(
        f"total {summary['seconds']:.0f} s of a {args.budget:.0f} s budget; figures in "
        f"{options.output / 'gpu_check.json'}"
    )
    failed = [name for name, record in summary["steps"].items() if record["status"] in ("failed", "timeout")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
