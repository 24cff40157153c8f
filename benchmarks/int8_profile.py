"""Why int8 on ONNX Runtime is not faster than fp32 here: a per-operator profile, and remedies
measured in the same run.

The model (full-size robnet-large by default, registry weights: time does not depend on them)
is exported once in fp32 and quantized several ways, each calibrated on the same 64 digits
training images (3x32x32, like CIFAR):

* ``int8`` — the shipped graph: per-channel int8 weights, uint8 activations (``to_int8``);
* ``int8, depthwise convolutions in float`` — the same with every depthwise convolution
  (group > 1) left in fp32 (``keep_float``): the suspects, since a depthwise convolution does
  a few multiply-adds per value it reads, where quantize / dequantize and the int8 kernels'
  packing cost most;
* ``int8, per-tensor weights`` — another quantization of every convolution.

Each graph runs in an ``OnnxRuntimeTarget``'s session options (the precise-int8 option on, as
robnetzoo evaluates int8) at ``--batch`` images: throughput over ``--seconds``, then one profiled
session (ONNX Runtime's ``enable_profiling``) whose per-node kernel times are summed by operator
type. The table prints each variant's images/s and ratio to fp32 and, per operator type, its
share of the kernel time and its milliseconds per batch. The CPU's flags and the int8 kernel
ONNX Runtime chooses on it are printed and written with the raw figures. Nodes kept in float
stay in float only because the sessions leave out ONNX Runtime's ``WeightBiasQuantization``
(``runtimes.disabled_optimizers_for``), which would quantize them again.

    python benchmarks/int8_profile.py [--width C --layers L] [--batch 64] [--seconds 5]
        [--smoke] [--json FILE (default: benchmarks/results/)]

Run it alone: another process on the same cores changes every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _results import default_path, write  # benchmarks/_results.py: raw figures and the machine

import robnetzoo  # noqa: E402
from robnetzoo.data import first_n, load_dataset, take  # noqa: E402


def depthwise_convolutions(path: Path) -> list[str]:
    """The names of the graph's grouped (depthwise) convolutions."""
    import onnx

    graph = onnx.load(str(path)).graph
    names = []
    for node in graph.node:
        if node.op_type == "Conv":
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            if group > 1:
                names.append(node.name)
    return names


def throughput(path: Path, images: torch.Tensor, seconds: float) -> float:
    from robnetzoo.export.runtimes import OnnxRuntimeTarget

    target = OnnxRuntimeTarget(path, sub_batch=None)
    target.logits(images)  # warm-up
    runs, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds or runs < 2:
        target.logits(images)
        runs += 1
    return runs * len(images) / (time.perf_counter() - began)


def profile(path: Path, images: torch.Tensor, runs: int, folder: Path) -> dict[str, Any]:
    """Kernel time per operator type over ``runs`` profiled batches (ms per batch)."""
    import onnxruntime as ort

    from robnetzoo.export.host import PRECISE_INT8_OPTION
    from robnetzoo.export.onnx import INPUT_NAME

    options = ort.SessionOptions()
    options.add_session_config_entry(PRECISE_INT8_OPTION, "1")
    options.enable_profiling = True
    options.profile_file_prefix = str(folder / path.stem)
    from robnetzoo.export.runtimes import disabled_optimizers_for

    session = ort.InferenceSession(
        str(path), options, providers=["CPUExecutionProvider"], disabled_optimizers=disabled_optimizers_for(path)
    )
    feed = {INPUT_NAME: images.numpy()}
    for _ in range(runs + 1):  # the first run warms up and is left out below
        session.run(None, feed)
    trace = json.loads(Path(session.end_profiling()).read_text())
    by_type: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    model_runs = sorted(e["ts"] for e in trace if e.get("cat") == "Session" and e.get("name") == "model_run")
    first_timed = model_runs[1] if len(model_runs) > 1 else 0
    for event in trace:
        if event.get("cat") != "Node" or not event.get("name", "").endswith("_kernel_time"):
            continue
        if event["ts"] < first_timed:
            continue
        op = event.get("args", {}).get("op_name", "?")
        by_type[op] += event["dur"] / 1000 / runs
        counts[op] += 1
    total = sum(by_type.values())
    return {
        "ms_per_batch": total,
        "by_op": {
            op: {"ms_per_batch": ms, "share": ms / total, "nodes": counts[op] // runs}
            for op, ms in sorted(by_type.items(), key=lambda item: -item[1])
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="robnet-large")
    parser.add_argument("--width", type=int)
    parser.add_argument("--layers", type=int)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--profile-runs", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="smallest sizes: checks the script runs")
    parser.add_argument("--json", type=Path, default=default_path("int8_profile"))
    args = parser.parse_args()
    if args.smoke:
        args.width, args.layers, args.batch, args.seconds, args.profile_runs = 4, 3, 2, 0.1, 1
    overrides = {k: v for k, v in (("C", args.width), ("layers", args.layers)) if v is not None}

    from robnetzoo.export.host import cpu, int8_kernel
    from robnetzoo.export.onnx import export_onnx
    from robnetzoo.export.precision import to_int8

    host = cpu()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {host['name']} "
        f"({', '.join(host['flags'] or [])})"
    )
    print(f"int8 kernel ONNX Runtime runs here: {int8_kernel(precise=True, host=host)['kernel']}")
    model = robnetzoo.create_model(args.model, **overrides).eval()
    calibration, _ = take(first_n(load_dataset("digits", "train"), 64), list(range(64)))
    test = load_dataset("digits", "test")
    images, _ = take(test, [i % len(test) for i in range(args.batch)])
    report: dict[str, Any] = {"host": host, "batch": args.batch, "model": args.model, "sizes": overrides}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        began = time.perf_counter()
        fp32 = export_onnx(model, folder / "model.onnx").path
        depthwise = depthwise_convolutions(fp32)
        print(f"export: {time.perf_counter() - began:.0f} s; {len(depthwise)} depthwise convolutions", flush=True)
        graphs = {"fp32": fp32}
        recipes = {
            "int8 (shipped: per channel, uint8 activations)": {},
            "int8, depthwise convolutions in float": {"keep_float": tuple(depthwise)},
            "int8, per-tensor weights": {"per_channel": False},
        }
        for name, options in recipes.items():
            began = time.perf_counter()
            graphs[name] = to_int8(fp32, folder / f"graph{len(graphs)}.onnx", calibration, **options)
            print(f"{name}: quantized in {time.perf_counter() - began:.0f} s", flush=True)
        rows: dict[str, Any] = {}
        for name, path in graphs.items():
            rows[name] = {
                "images_per_s": throughput(path, images, args.seconds),
                "profile": profile(path, images, args.profile_runs, folder),
            }
            print(f"{name}: {rows[name]['images_per_s']:.1f} img/s", flush=True)
    report["variants"] = rows
    report["depthwise_convolutions"] = len(depthwise)
    base = rows["fp32"]["images_per_s"]
    print(f"\n{args.model} {overrides or ''}, batch {args.batch}: images/s (ratio to fp32) and kernel time by operator")
    for name, row in rows.items():
        print(f"\n  {name}: {row['images_per_s']:.1f} img/s  x{row['images_per_s'] / base:.2f}")
        for op, entry in list(row["profile"]["by_op"].items())[:8]:
            print(
                f"    {op:24s} {entry['share'] * 100:5.1f}%  {entry['ms_per_batch']:8.1f} ms  ({entry['nodes']} nodes)"
            )
    if args.json:
        write(args.json, report)


if __name__ == "__main__":
    main()
