"""``export_model``: a model -> deployment artifacts in a folder, with ``export_report.json``
(parity with torch on clean and adversarial test images, sizes, opset, versions).

The folder is the model's: one holding another model's export is refused, and an existing
export is replaced only with ``overwrite=True``.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import torch
from torch import nn

from robnetzoo._io import output_mode, read_json, write_json
from robnetzoo.data import first_n, load_dataset, take
from robnetzoo.errors import InvalidInput, option

from .onnx import model_identity
from .parity import parity
from robnetzoo.config import config_of

REPORT_FILE = "export_report.json"
FORMATS = ("onnx", "aoti", "tensorrt")
SUFFIX = {"fp32": "", "fp16": "-fp16", "int8": "-int8"}


def check_folder(folder: Path, identity: dict[str, Any], overwrite: bool) -> None:
    """Refuse an output folder that holds another model's export, or this model's without
    ``overwrite``, or anything else."""
    report = folder / REPORT_FILE
    if report.is_file():
        previous = read_json(report, "export_report.json", expect=dict,
                             fix=f"it is damaged: export into another {option('output')}").get("identity", {})
        if not isinstance(previous, dict) or previous.get("fingerprint") != identity["fingerprint"]:
            name = previous.get("name") if isinstance(previous, dict) else None
            raise InvalidInput(f"{folder} holds the export of another model ({name})",
                               fix=f"choose another {option('output')}", path=folder)
    output_mode(folder, "an export of this model", holds=report.is_file(), overwrite=overwrite, can_resume=False)


def onnx_graphs(model: nn.Module, folder: Path, precisions: tuple[str, ...],
                calibration: torch.Tensor | None, *, tensorrt: bool = False) -> tuple[Any, dict[str, Path]]:
    """The fp32 ONNX export of ``model`` in ``folder`` and the graph of each of ``precisions``
    (``model.onnx``, ``model-fp16.onnx``, ``model-int8.onnx``): what ONNX Runtime runs, or with
    ``tensorrt`` what TensorRT engines are built from (int8: ``model-int8-symmetric.onnx``)."""
    from .onnx import export_onnx
    from .precision import to_fp16, to_int8

    written = export_onnx(model, folder / "model.onnx")
    graphs = {}
    for precision in precisions:
        target = folder / f"model{SUFFIX[precision]}{'-symmetric' if tensorrt and precision == 'int8' else ''}.onnx"
        if precision == "fp32":
            graphs[precision] = written.path
        elif precision == "fp16":
            graphs[precision] = to_fp16(written.path, target)
        else:
            graphs[precision] = to_int8(written.path, target, calibration, symmetric=tensorrt)
    return written, graphs


def calibration_images(dataset: str, n: int, input_size: Any, root: str | Path | None = None,
                       download: bool = False) -> torch.Tensor:
    """The first ``n`` training images of ``dataset``: what int8 graphs are calibrated on
    (real images of the model's input size, never the test split)."""
    if n < 1:
        raise InvalidInput(f"{option('calibration_n')} must be at least 1, got {n}")
    chosen = first_n(load_dataset(dataset, split="train", root=root, download=download), n)
    images, _ = take(chosen, list(range(len(chosen))))  # type: ignore[arg-type]
    if input_size is not None and list(images.shape[1:]) != list(input_size):
        raise InvalidInput(f"{dataset} images are {tuple(images.shape[1:])}, the model takes "
                           f"{tuple(input_size)}", fix="calibrate on images of the model's size")
    return images


def export_model(model: nn.Module, folder: str | Path, *, formats: tuple[str, ...] = ("onnx",),
                 precisions: tuple[str, ...] = ("fp32",), calibration_data: str | None = None,
                 calibration_n: int = 256, parity_data: str | None = None, parity_n: int = 64,
                 data_root: str | Path | None = None, overwrite: bool = False, device: str = "cpu") -> dict[str, Any]:
    """Export ``model`` in ``formats`` (ONNX and TensorRT at each of ``precisions``, AOTInductor
    in fp32) into ``folder``; returns (and writes) the report. int8 is calibrated on the first
    ``calibration_n`` training images of ``calibration_data``. TensorRT engines are built from
    the ONNX graphs (written beside them) on ``device`` if it is a GPU, else on ``cuda``."""
    from .precision import PRECISIONS

    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise InvalidInput(f"unknown export format {', '.join(unknown) or '(none)'}; use {', '.join(FORMATS)}")
    bad = [p for p in precisions if p not in PRECISIONS]
    if bad or not precisions:
        raise InvalidInput(f"unknown precision {', '.join(bad) or '(none)'}; use {', '.join(PRECISIONS)}")
    if "aoti" in formats and precisions != ("fp32",):
        raise InvalidInput("AOTInductor packages are fp32 here; export fp16 and int8 as ONNX")
    if "int8" in precisions and calibration_data is None:
        raise InvalidInput(f"int8 needs calibration images: give {option('calibration_data')} NAME (and "
                           f"{option('calibration_n')} N), e.g. the model's training set")
    if parity_n < 1:  # calibration_n is checked where the calibration images are read
        raise InvalidInput(f"{option('parity_n')} must be at least 1, got {parity_n}")
    gpu = device if device.startswith("cuda") else "cuda"
    if "tensorrt" in formats:
        from .tensorrt import require_cuda, require_tensorrt

        require_tensorrt()
        require_cuda(gpu)
    folder = Path(folder)
    identity = model_identity(model)
    check_folder(folder, identity, overwrite)
    config = config_of(model)
    dataset = parity_data or (config.dataset if config is not None else "digits")
    data = first_n(load_dataset(dataset, split="test", root=data_root), parity_n)
    images, labels = take(data, list(range(len(data))))  # type: ignore[arg-type]
    if list(images.shape[1:]) != identity["input_size"]:
        raise InvalidInput(f"{dataset} images are {tuple(images.shape[1:])}, the model takes "
                           f"{tuple(identity['input_size'])}", fix=f"choose {option('parity_data')} of the model's size")
    calibration = None
    if "int8" in precisions:
        calibration = calibration_images(calibration_data, calibration_n, identity["input_size"], data_root)  # type: ignore[arg-type]
    folder.mkdir(parents=True, exist_ok=True)
    artifacts: dict[str, Any] = {}
    if "onnx" in formats or "tensorrt" in formats:
        from .runtimes import OnnxRuntimeTarget

        written, graphs = onnx_graphs(model, folder, precisions, calibration)
        calibrated = {"calibration": {"dataset": calibration_data, "split": "train",
                                      "n": len(calibration) if calibration is not None else 0}}
        for precision, path in graphs.items():
            target = OnnxRuntimeTarget(path, model=model)
            artifacts[f"onnx{SUFFIX[precision]}"] = {
                **written.to_dict(), "path": str(path), "size_bytes": path.stat().st_size, "precision": precision,
                "parity": parity(model, target, images, labels), **(calibrated if precision == "int8" else {})}
        if "tensorrt" in formats:  # unverified: see export/tensorrt.py
            from .tensorrt import TensorRTTarget, build_engine

            if "int8" in graphs:  # TensorRT's int8 form, beside ONNX Runtime's, from the same fp32 export
                from .precision import to_int8

                symmetric = to_int8(written.path, folder / "model-int8-symmetric.onnx", calibration, symmetric=True)
                graphs = {**graphs, "int8": symmetric}
            for precision, path in graphs.items():
                engine = build_engine(path, folder / f"model{SUFFIX[precision]}.engine", precision=precision, device=gpu)
                target = TensorRTTarget(engine.path, model=model, device=gpu)
                artifacts[f"tensorrt{SUFFIX[precision]}"] = {
                    **engine.to_dict(), "parity": parity(model, target, images, labels),
                    **(calibrated if precision == "int8" else {})}
    if "aoti" in formats:
        from .aoti import AotiTarget, export_aoti

        package = export_aoti(model, folder / f"model-{device.split(':')[0]}.pt2", device=device)
        target = AotiTarget(package.path, model=model, device=device)
        artifacts["aoti"] = {**package.to_dict(), "precision": "fp32", "parity": parity(model, target, images, labels)}
    report = {
        "identity": identity, "parity_data": {"dataset": dataset, "split": "test", "n": len(images)},
        "artifacts": artifacts, "versions": _versions(), "machine": platform.machine(),
    }
    write_json(folder / REPORT_FILE, report, indent=1)
    return report


def _versions() -> dict[str, str]:
    import robnetzoo

    versions = {"robnetzoo": robnetzoo.__version__, "torch": torch.__version__}
    for name in ("onnx", "onnxruntime", "onnxscript", "tensorrt"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            pass
    return versions
