"""``export_model``: a model -> deployment artifacts in a folder, with ``export_report.json``
(parity with torch on clean and adversarial test images, sizes, opset, versions, the host's
CPU flags and every session option).

Exporting needs no data set: parity runs on the model's test images where they are on disk (or
on ``parity_data``), else on seeded synthetic images, and the report says which. int8 graphs
are judged three ways on the same images: on ONNX Runtime's kernels with the precise-int8
option (what ``OnnxRuntimeTarget`` runs), the same graph in float (the *ideal* int8 figure:
the quantization's own error), and in a default session (what a user's own session sees),
with a warning where the host's kernels saturate.

The folder is the model's: one holding another model's export is refused, and an existing
export is replaced only with ``overwrite=True``.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from robnetzoo._io import column, output_mode, read_json, record_from_dict, record_to_dict, write_json
from robnetzoo.config import config_of
from robnetzoo.data import dataset_num_classes, first_n, load_dataset, take
from robnetzoo.device import resolve_device
from robnetzoo.errors import InvalidInput, NotFound, option

from .host import cpu
from .onnx import model_identity
from .parity import synthetic_images
from .registry import ExportJob, Runtime, runtimes_for

REPORT_FILE = "export_report.json"


@dataclass
class ExportReport:
    """What ``export_model`` wrote and how each artifact agrees with torch; the JSON of
    ``export_report.json``. Each artifact's entry is its runtime's own (ONNX Runtime adds its
    session options, int8 its recipe and kernel, TensorRT its build), with ``path``,
    ``precision``, ``size_bytes`` and ``parity`` in every one."""

    identity: dict[str, Any] = column(
        "the model the artifacts belong to: name, weights fingerprint, classes, input size"
    )
    parity_data: dict[str, Any] = column(
        "the images parity was measured on: data set, split and n, or synthetic and why"
    )
    artifacts: dict[str, dict[str, Any]] = column(
        "per artifact (onnx, onnx-int8, aoti, tensorrt-fp16...): path, precision, size_bytes, and parity: "
        "max |logit difference| and top-1 agreement with torch on clean and on PGD-7 images"
    )
    versions: dict[str, str] = column("robnetzoo, torch and each runtime's version")
    machine: str = column("the CPU architecture (x86_64, aarch64)")
    host: dict[str, Any] = column("the CPU's name and instruction-set flags (AVX2, AVX-512, VNNI, AMX)")
    warnings: list[str] = column("what the export warns of (synthetic parity images, saturating int8 kernels)")

    def to_dict(self) -> dict[str, Any]:
        return record_to_dict(self)


def read_export_report(folder: str | Path) -> ExportReport:
    """The ``export_report.json`` of an export folder."""
    path = Path(folder) / REPORT_FILE
    fix = f"it is damaged: export into another {option('output')}"
    data = read_json(path, "export_report.json", expect=dict, fix=fix)
    return record_from_dict(ExportReport, data, path=path, kind="export_report.json", fix=fix)


def check_folder(folder: Path, identity: dict[str, Any], overwrite: bool) -> None:
    """Refuse an output folder that holds another model's export, or this model's without
    ``overwrite``, or anything else."""
    report = folder / REPORT_FILE
    if report.is_file():
        previous = read_json(
            report, "export_report.json", expect=dict, fix=f"it is damaged: export into another {option('output')}"
        ).get("identity", {})
        if not isinstance(previous, dict) or previous.get("fingerprint") != identity["fingerprint"]:
            name = previous.get("name") if isinstance(previous, dict) else None
            raise InvalidInput(
                f"{folder} holds the export of another model ({name})",
                fix=f"choose another {option('output')}",
                path=folder,
            )
    output_mode(folder, "an export of this model", holds=report.is_file(), overwrite=overwrite, can_resume=False)


MAX_PARITY_N = 100_000  # more than any test split parity is measured on; bounds the synthetic images too


def parity_images(
    model: nn.Module,
    identity: dict[str, Any],
    parity_data: str | None,
    n: int,
    data_root: str | Path | None,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """The images parity is measured on and how the report names them: ``parity_data``'s test
    images (refused if their size or class count is not the model's), else the model's own data
    set's if it is on disk, else seeded synthetic images (never a reason to refuse an export)."""
    config = config_of(model)
    dataset = parity_data or (config.dataset if config is not None else None)
    data, reason = None, "the model names no data set"
    if dataset is not None:
        try:
            data = load_dataset(dataset, split="test", root=data_root)
        except NotFound as missing:
            if parity_data is not None:
                raise
            reason = str(missing).split(";")[0]
    if data is None:
        images, labels = synthetic_images(model, n, identity["input_size"], seed=seed)
        return (
            images,
            labels,
            {
                "dataset": "synthetic",
                "split": None,
                "n": n,
                "seed": seed,
                "images": "seeded uniform noise in [0, 1]",
                "labels": "the torch model's predictions",
                "why": reason,
            },
        )
    classes = dataset_num_classes(data)
    if identity.get("num_classes") is not None and classes is not None and classes != identity["num_classes"]:
        raise InvalidInput(
            f"{dataset} has {classes} classes, the model {identity['num_classes']}",
            fix=f"choose {option('parity_data')} of the model's classes",
        )
    images, labels = take(first_n(data, n), list(range(min(n, len(data)))))  # type: ignore[arg-type]
    if list(images.shape[1:]) != identity["input_size"]:
        raise InvalidInput(
            f"{dataset} images are {tuple(images.shape[1:])}, the model takes {tuple(identity['input_size'])}",
            fix=f"choose {option('parity_data')} of the model's size",
        )
    return images, labels, {"dataset": dataset, "split": "test", "n": len(images)}


def calibration_images(
    dataset: str, n: int, input_size: Any, root: str | Path | None = None, download: bool = False
) -> torch.Tensor:
    """The first ``n`` training images of ``dataset``: what int8 graphs are calibrated on
    (real images of the model's input size, never the test split)."""
    if n < 1:
        raise InvalidInput(f"{option('calibration_n')} must be at least 1, got {n}")
    chosen = first_n(load_dataset(dataset, split="train", root=root, download=download), n)
    images, _ = take(chosen, list(range(len(chosen))))  # type: ignore[arg-type]
    if input_size is not None and list(images.shape[1:]) != list(input_size):
        raise InvalidInput(
            f"{dataset} images are {tuple(images.shape[1:])}, the model takes {tuple(input_size)}",
            fix="calibrate on images of the model's size",
        )
    return images


def export_model(
    model: nn.Module,
    folder: str | Path,
    *,
    formats: tuple[str, ...] = ("onnx",),
    precisions: tuple[str, ...] = ("fp32",),
    calibration_data: str | None = None,
    calibration_n: int = 256,
    calibration_method: str = "minmax",
    per_channel: bool = True,
    keep_float: tuple[str, ...] = (),
    quantization_debug: bool = False,
    parity_data: str | None = None,
    parity_n: int = 64,
    seed: int = 0,
    data_root: str | Path | None = None,
    overwrite: bool = False,
    device: str = "cpu",
) -> ExportReport:
    """Export ``model`` in ``formats`` (each a runtime of ``registry.RUNTIMES``: ONNX and TensorRT
    at each of ``precisions``, AOTInductor in fp32) into ``folder``; returns (and writes) the
    report. int8 is calibrated on the first ``calibration_n`` training images of
    ``calibration_data`` by ``calibration_method``, with per-channel weights unless
    ``per_channel=False`` and ``keep_float`` nodes left in fp32; ``quantization_debug`` writes
    each tensor's error (``quantization_debug.json``). TensorRT engines are built from the ONNX
    graphs (written beside them) on ``device`` if it is a GPU, else on ``cuda``. Parity images:
    see ``parity_images`` (``seed`` for synthetic ones)."""
    runtimes = _check_request(
        formats, precisions, calibration_data, calibration_method, keep_float, quantization_debug, parity_n
    )
    resolve_device(device)  # an unknown or absent device is refused before anything is written
    gpu = device if device.startswith("cuda") else "cuda"
    for runtime in runtimes:
        if runtime.check_environment is not None:
            runtime.check_environment(gpu)
    folder = Path(folder)
    identity = model_identity(model)
    check_folder(folder, identity, overwrite)
    images, labels, parity_source = parity_images(model, identity, parity_data, parity_n, data_root, seed)
    calibration = None
    if "int8" in precisions:
        calibration = calibration_images(calibration_data, calibration_n, identity["input_size"], data_root)  # type: ignore[arg-type]
    folder.mkdir(parents=True, exist_ok=True)
    job = ExportJob(
        model=model,
        folder=folder,
        precisions=precisions,
        calibration=calibration,
        calibration_data=calibration_data,
        images=images,
        labels=labels,
        device=device,
        gpu=gpu,
        int8_options={"per_channel": per_channel, "method": calibration_method, "keep_float": tuple(keep_float)},
        quantization_debug=quantization_debug,
    )
    if parity_source["dataset"] == "synthetic":
        job.warnings.append(
            f"parity measured on {parity_n} synthetic images ({parity_source['why']}); "
            "give real test images as parity_data (--parity-data)"
        )
    artifacts: dict[str, Any] = {}
    for runtime in runtimes:
        artifacts.update(runtime.export(job))
    report = ExportReport(
        identity=identity,
        parity_data=parity_source,
        artifacts=artifacts,
        versions=_versions(),
        machine=platform.machine(),
        host=cpu(),
        warnings=list(dict.fromkeys(job.warnings)),
    )
    write_json(folder / REPORT_FILE, report.to_dict(), indent=1)
    return report


def _check_request(
    formats: tuple[str, ...],
    precisions: tuple[str, ...],
    calibration_data: str | None,
    calibration_method: str,
    keep_float: tuple[str, ...],
    quantization_debug: bool,
    parity_n: int,
) -> list[Runtime]:
    """Everything about an export request that can be wrong before anything is read; returns
    the runtimes asked for."""
    from .precision import CALIBRATION_METHODS, PRECISIONS

    bad = [p for p in precisions if p not in PRECISIONS]
    if bad or not precisions:
        raise InvalidInput(f"unknown precision {', '.join(bad) or '(none)'}; use {', '.join(PRECISIONS)}")
    runtimes = runtimes_for(formats, precisions)
    if "int8" in precisions and calibration_data is None:
        raise InvalidInput(
            f"int8 needs calibration images: give {option('calibration_data')} NAME (and "
            f"{option('calibration_n')} N), e.g. the model's training set"
        )
    if calibration_method not in CALIBRATION_METHODS:
        raise InvalidInput(
            f"unknown calibration method {calibration_method!r}",
            fix=f"use {option('calibration_method')} {'|'.join(CALIBRATION_METHODS)}",
        )
    if (quantization_debug or keep_float) and "int8" not in precisions:
        what = option("quantization_debug") if quantization_debug else option("keep_float")
        raise InvalidInput(
            f"{what} is about int8 graphs and none is exported", fix=f"add {option('precision', 'int8')}"
        )
    if quantization_debug and "onnx" not in formats:
        raise InvalidInput(
            f"{option('quantization_debug')} compares ONNX Runtime's int8 graph with fp32",
            fix=f"add {option('format', 'onnx')}",
        )
    if not 1 <= parity_n <= MAX_PARITY_N:  # calibration_n is checked where the calibration images are read
        raise InvalidInput(
            f"{option('parity_n')} must be from 1 to {MAX_PARITY_N:,}, got {parity_n}",
            fix="parity needs a few hundred images at most",
        )
    return runtimes


def _versions() -> dict[str, str]:
    import robnetzoo

    versions = {"robnetzoo": robnetzoo.__version__, "torch": torch.__version__}
    for name in ("onnx", "onnxruntime", "onnxscript", "tensorrt"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            pass
    return versions
