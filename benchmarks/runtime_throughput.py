"""Inference throughput of the deployment runtimes against torch eager, same run, same model:
torch eager, torch with BatchNorm folded, ONNX Runtime fp32 and int8 (QDQ), AOTInductor; with
``--device cuda`` also ONNX Runtime's CUDA provider (where onnxruntime-gpu is installed) and
TensorRT fp32 / fp16 / int8 engines (where TensorRT is installed).

    python benchmarks/runtime_throughput.py [--model robnet-large] [--width C --layers L]
        [--batch 1 --batch 64] [--seconds 5] [--skip-aoti] [--device cuda] [--json FILE (default: benchmarks/results/)]

Weights are the registry architecture's initial ones (throughput does not depend on them);
int8 is calibrated on 64 digits training images (3x32x32, like CIFAR). Exporting full-size
robnet-large takes minutes on 2 cores, AOTInductor longer. Run it alone: another torch process
on the same cores slows both many times over.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import robnetzoo  # noqa: E402
from robnetzoo.data import first_n, load_dataset, take  # noqa: E402
from robnetzoo.fast import fold_batchnorm  # noqa: E402

from _results import default_path, write  # benchmarks/_results.py: raw figures and the machine


def images_per_second(run: Callable[[torch.Tensor], object], batch: int, seconds: float, device: str) -> float:
    x = torch.rand(batch, 3, 32, 32, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for _ in range(3):
        run(x)
    sync()
    done, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        run(x)
        done += batch
    sync()
    return done / (time.perf_counter() - began)


def gpu_runners(onnx_path: Path, fp16_path: Path, int8_path: Path, folder: Path, device: str) -> dict:
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

    for precision, path in (("fp32", onnx_path), ("fp16", fp16_path), ("int8", int8_path)):
        engine = build_engine(path, folder / f"model-{precision}.engine", precision=precision, device=device)
        runners[f"tensorrt {precision}"] = TensorRTTarget(engine.path, device=device).logits
    return runners


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="robnet-large")
    parser.add_argument("--width", type=int)
    parser.add_argument("--layers", type=int)
    parser.add_argument("--batch", type=int, action="append")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--skip-aoti", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, default=default_path("runtime_throughput"), help="raw figures (default: benchmarks/results/)")
    args = parser.parse_args()
    overrides = {k: v for k, v in (("C", args.width), ("layers", args.layers)) if v is not None}
    model = robnetzoo.create_model(args.model, **overrides).eval()
    folded = fold_batchnorm(model)[0].eval().to(args.device)
    batches = args.batch or [1, 64]

    from robnetzoo.export.onnx import export_onnx
    from robnetzoo.export.precision import to_fp16, to_int8
    from robnetzoo.export.runtimes import OnnxRuntimeTarget

    runners: dict[str, Callable[[torch.Tensor], object]] = {}
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        began = time.perf_counter()
        onnx_path = export_onnx(model, Path(tmp) / "model.onnx").path
        print(f"ONNX export: {time.perf_counter() - began:.0f} s", flush=True)
        calibration, _ = take(first_n(load_dataset("digits", "train"), 64), list(range(64)))
        int8_path = to_int8(onnx_path, Path(tmp) / "model-int8.onnx", calibration)
        runners["torch eager"] = model.to(args.device)
        runners["torch, BN folded"] = folded
        runners["onnxruntime fp32"] = OnnxRuntimeTarget(onnx_path).logits  # CPU provider
        runners["onnxruntime int8"] = OnnxRuntimeTarget(int8_path).logits
        if args.device.startswith("cuda"):
            fp16_path = to_fp16(onnx_path, Path(tmp) / "model-fp16.onnx")
            runners.update(gpu_runners(onnx_path, fp16_path, int8_path, Path(tmp), args.device))
        if not args.skip_aoti:
            from robnetzoo.export.aoti import AotiTarget, export_aoti

            began = time.perf_counter()
            package = export_aoti(model, Path(tmp) / "model.pt2", device=args.device).path
            print(f"AOTInductor compile: {time.perf_counter() - began:.0f} s", flush=True)
            runners["aotinductor"] = AotiTarget(package, device=args.device).logits
        results = {name: {b: images_per_second(run, b, args.seconds, args.device) for b in batches}
                   for name, run in runners.items()}

    where = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else \
        (platform.processor() or platform.machine())
    print(f"\n{args.model} {overrides or ''} on {where}, {torch.get_num_threads()} CPU threads, torch {torch.__version__}")
    header = "".join(f"{f'batch {b} img/s':>16}{'vs eager':>10}" for b in batches)
    print(f"{'runtime':<22}{header}")
    for name, by_batch in results.items():
        cells = "".join(f"{by_batch[b]:>16.1f}{by_batch[b] / results['torch eager'][b]:>9.2f}x" for b in batches)
        print(f"{name:<22}{cells}")
    if args.json:
        write(args.json, {"model": args.model, "overrides": overrides, "device": args.device,
                                         "results": results})


if __name__ == "__main__":
    main()
