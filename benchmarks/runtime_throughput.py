"""Inference throughput and latency of the deployment runtimes against torch eager, same run,
same model: torch eager (NCHW and channels_last), torch with BatchNorm folded, ONNX Runtime fp32
(the shipped export, the export without the FactorizedReduce rewrite, whole batches, and the
sweep of sub-batches at the largest batch that chose ``OnnxRuntimeTarget``'s default), ONNX
Runtime int8 (the shipped per-channel graph with uint8 activations, and the int8-activation
graph it replaced), AOTInductor. With ``--device cuda``: torch eager, BN folded and AOTInductor
on the GPU, ONNX Runtime's CUDA provider (where onnxruntime-gpu is installed) and TensorRT
engines (where TensorRT is installed); ONNX Runtime's CPU sessions are left out there (they
would measure the GPU machine's CPU).

    python benchmarks/runtime_throughput.py [--model robnet-large] [--width C --layers L]
        [--batch 1 --batch 8 --batch 64] [--seconds 3] [--sub-batch 16 --sub-batch 32]
        [--skip-aoti] [--device cuda] [--smoke] [--json FILE (default: benchmarks/results/)]

``--smoke`` measures a width-4, 3-cell model at batch 2 for 0.1 s per runtime, without
AOTInductor and the graphs the shipped ones replaced, to check the script runs end to end
(``tools/gpu_check.py --tiny``); its figures mean nothing.

For each runtime and batch: images per second, the ratio to torch eager (NCHW) at that batch,
latency percentiles per call (p50 / p90 / p99, ms) and the peak resident memory that running
added (MB above the process's memory before its first call; Linux only). The CPU's flags and
each ONNX Runtime session's options are printed and written with the figures.

Weights are the registry architecture's initial ones (throughput does not depend on them);
int8 is calibrated on 64 digits training images (3x32x32, like CIFAR). Exporting full-size
robnet-large takes minutes on 2 cores, AOTInductor longer. Run it alone: another torch process
on the same cores slows both many times over.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _results import default_path, write  # benchmarks/_results.py: raw figures and the machine

import robnetzoo  # noqa: E402
from robnetzoo.data import first_n, load_dataset, take  # noqa: E402
from robnetzoo.fast import fold_batchnorm  # noqa: E402

BASELINE = "torch eager"


def _rss_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Linux lets a process reset its peak resident size (VmHWM) to the current one."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def measure(run: Callable[[torch.Tensor], object], batch: int, seconds: float, device: str) -> dict[str, Any]:
    """Images per second over ``seconds`` after a warm-up, per-call latency percentiles, and
    the peak memory the calls added."""
    x = torch.rand(batch, 3, 32, 32, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    peak_known = device == "cpu" and _reset_peak()
    before = _rss_kb("VmRSS") if peak_known else None
    for _ in range(3):
        run(x)
    sync()
    latencies: list[float] = []
    began = time.perf_counter()
    while time.perf_counter() - began < seconds or len(latencies) < 5:
        start = time.perf_counter()
        run(x)
        sync()
        latencies.append(time.perf_counter() - start)
    elapsed = time.perf_counter() - began
    peak = _rss_kb("VmHWM") if peak_known else None
    p50, p90, p99 = (float(v) * 1000 for v in np.percentile(latencies, [50, 90, 99]))
    return {
        "images_per_second": batch * len(latencies) / elapsed,
        "calls": len(latencies),
        "latency_ms": {"p50": p50, "p90": p90, "p99": p99},
        "peak_added_mb": (peak - before) / 1024 if peak is not None and before is not None else None,
    }


def gpu_runners(onnx_path: Path, fp16_path: Path, int8_graph: Callable[[], Path], folder: Path, device: str) -> dict:
    """ONNX Runtime's CUDA provider and TensorRT engines, where installed (said when not)."""
    import onnxruntime

    from robnetzoo.export.runtimes import OnnxRuntimeTarget

    runners: dict[str, Callable[[torch.Tensor], object]] = {}
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        runners["onnxruntime cuda fp32"] = OnnxRuntimeTarget(onnx_path, device=device).logits
    else:
        print("onnxruntime has no CUDA provider here (onnxruntime-gpu not installed): skipped", flush=True)
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        print("TensorRT is not installed here: skipped", flush=True)
        return runners
    from robnetzoo.export.tensorrt import TensorRTTarget, build_engine

    for precision, path in (("fp32", onnx_path), ("fp16", fp16_path), ("int8", int8_graph())):
        engine = build_engine(path, folder / f"model-{precision}.engine", precision=precision, device=device)
        runners[f"tensorrt {precision}"] = TensorRTTarget(engine.path, device=device).logits
    return runners


def cpu_onnx_targets(
    model: torch.nn.Module,
    onnx_path: Path,
    int8_path: Path,
    calibration: torch.Tensor,
    folder: Path,
    replaced: bool = True,
) -> dict[str, Any]:
    """ONNX Runtime's CPU sessions: the shipped graphs and (``replaced``) the ones they replaced, whole batches."""
    from robnetzoo.export.onnx import export_onnx
    from robnetzoo.export.precision import to_int8
    from robnetzoo.export.runtimes import OnnxRuntimeTarget

    shipped = {
        "onnxruntime fp32": OnnxRuntimeTarget(onnx_path, sub_batch=None),
        "onnxruntime int8": OnnxRuntimeTarget(int8_path, sub_batch=None),
    }
    if not replaced:
        return shipped
    unmerged = timed(
        "ONNX export without the FactorizedReduce rewrite",
        lambda: export_onnx(model, folder / "unmerged.onnx", merge_reduce=False).path,
    )
    int8_acts = timed(
        "int8 (per tensor, int8 activations: the earlier graph)",
        lambda: to_int8(
            onnx_path, folder / "model-int8-acts.onnx", calibration, int8_activations=True, per_channel=False
        ),
    )
    return {  # whole batches, one session.run each; the sub-batch sweep follows
        "onnxruntime fp32": OnnxRuntimeTarget(onnx_path, sub_batch=None),
        "onnxruntime fp32, no reduce rewrite": OnnxRuntimeTarget(unmerged, sub_batch=None),
        "onnxruntime int8": OnnxRuntimeTarget(int8_path, sub_batch=None),
        "onnxruntime int8, int8 activations": OnnxRuntimeTarget(int8_acts, sub_batch=None),
    }


def timed(label: str, work: Callable[[], Any]) -> Any:
    began = time.perf_counter()
    result = work()
    print(f"{label}: {time.perf_counter() - began:.0f} s", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="robnet-large")
    parser.add_argument("--width", type=int)
    parser.add_argument("--layers", type=int)
    parser.add_argument("--batch", type=int, action="append")
    parser.add_argument(
        "--sub-batch", type=int, action="append", help="ONNX Runtime fp32 sub-batches tried at the largest batch"
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--skip-aoti", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--smoke", action="store_true", help="smallest sizes: checks the script runs; figures mean nothing"
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=default_path("runtime_throughput"),
        help="raw figures (default: benchmarks/results/)",
    )
    args = parser.parse_args()
    if args.smoke:
        args.width, args.layers, args.batch, args.sub_batch, args.seconds, args.skip_aoti = 4, 3, [2], [1], 0.1, True
    overrides = {k: v for k, v in (("C", args.width), ("layers", args.layers)) if v is not None}
    model = robnetzoo.create_model(args.model, **overrides).eval()
    folded = fold_batchnorm(model)[0].eval().to(args.device)
    batches = sorted(args.batch or [1, 8, 64])
    sub_batches = args.sub_batch or [8, 16, 32]

    from robnetzoo.export.host import cpu, int8_kernel
    from robnetzoo.export.onnx import export_onnx
    from robnetzoo.export.precision import to_fp16, to_int8
    from robnetzoo.export.runtimes import OnnxRuntimeTarget

    runners: dict[str, Callable[[torch.Tensor], object]] = {}
    only_at: dict[str, int] = {}  # runners measured at one batch only (the sub-batch sweep)
    sessions: dict[str, dict[str, Any]] = {}
    on_cuda = args.device.startswith("cuda")
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        folder = Path(tmp)
        onnx_path = timed("ONNX export", lambda: export_onnx(model, folder / "model.onnx").path)
        calibration, _ = take(first_n(load_dataset("digits", "train"), 64), list(range(64)))

        def int8_graph() -> Path:
            return timed(
                "int8 (per channel, uint8 activations)",
                lambda: to_int8(onnx_path, folder / "model-int8.onnx", calibration),
            )

        runners[BASELINE] = model.to(args.device)
        runners["torch eager, channels_last"] = _channels_last(model, args.device)
        runners["torch, BN folded"] = folded
        onnx_targets = (
            {}
            if on_cuda
            else cpu_onnx_targets(model, onnx_path, int8_graph(), calibration, folder, replaced=not args.smoke)
        )
        for sub in sub_batches if not on_cuda else []:
            if sub < batches[-1]:
                name = f"onnxruntime fp32, sub-batch {sub}"
                onnx_targets[name] = OnnxRuntimeTarget(onnx_path, sub_batch=sub)
                only_at[name] = batches[-1]
        for name, target in onnx_targets.items():
            runners[name] = target.logits
            sessions[name] = target.session_options
        if on_cuda:
            fp16_path = to_fp16(onnx_path, folder / "model-fp16.onnx")
            runners.update(gpu_runners(onnx_path, fp16_path, int8_graph, folder, args.device))
        if not args.skip_aoti:
            from robnetzoo.export.aoti import AotiTarget, export_aoti

            package = timed(
                "AOTInductor compile", lambda: export_aoti(model, folder / "model.pt2", device=args.device).path
            )
            runners["aotinductor"] = AotiTarget(package, device=args.device).logits
        results = {
            name: {b: measure(run, b, args.seconds, args.device) for b in batches if only_at.get(name, b) == b}
            for name, run in runners.items()
        }

    host = cpu()
    where = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else host["name"]
    print(
        f"\n{args.model} {overrides or ''} on {where} ({', '.join(host['flags'] or ['flags unknown'])}), "
        f"{torch.get_num_threads()} CPU threads, torch {torch.__version__}"
    )
    if "onnxruntime fp32" in sessions:
        print(
            f"onnxruntime session options: {sessions['onnxruntime fp32']}; int8 kernel: "
            f"{int8_kernel(precise=True)['kernel']}"
        )
    header = "".join(f"{f'batch {b} img/s':>15}{'vs eager':>9}{'p50/p99 ms':>14}" for b in batches)
    print(f"{'runtime':<38}{header}{'peak MB':>9}")
    for name, by_batch in results.items():
        cells = ""
        for b in batches:
            if b not in by_batch:
                cells += " " * 38
                continue
            r = by_batch[b]
            ratio = r["images_per_second"] / results[BASELINE][b]["images_per_second"]
            cells += (
                f"{r['images_per_second']:>15.1f}{ratio:>8.2f}x"
                f"{r['latency_ms']['p50']:>7.0f}/{r['latency_ms']['p99']:<6.0f}"
            )
        peaks = [r["peak_added_mb"] for r in by_batch.values() if r["peak_added_mb"] is not None]
        print(f"{name:<38}{cells}{max(peaks) if peaks else float('nan'):>9.0f}")
    if args.json:
        write(
            args.json,
            {
                "model": args.model,
                "overrides": overrides,
                "device": args.device,
                "host": host,
                "int8_kernel": int8_kernel(precise=True),
                "session_options": sessions,
                "baseline": BASELINE,
                "results": results,
            },
        )


def _channels_last(model: torch.nn.Module, device: str) -> Callable[[torch.Tensor], object]:
    import copy

    moved = copy.deepcopy(model).to(device).to(memory_format=torch.channels_last)
    return lambda x: moved(x.contiguous(memory_format=torch.channels_last))


if __name__ == "__main__":
    main()
