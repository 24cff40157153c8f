"""Every deployment runtime in one table: what exporting writes for it, what evaluating on it
loads, and which precisions it runs.

``export_model`` loops over the runtimes asked for and calls each one's ``export``;
``evaluate_on_runtime`` looks a runtime up and calls its ``target``. Adding a runtime is one
module (its export function, its target function, and the target class: anything with
``logits``, ``num_classes`` and ``fingerprint``) and one ``Runtime`` line in ``RUNTIMES``.

The ONNX-based runtimes share one fp32 ONNX export per job (``ExportJob.onnx_graphs``): ONNX
Runtime runs its graphs, TensorRT builds its engines from them (with its own symmetric int8
graph, ``tensorrt.engine_graphs``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from robnetzoo.errors import InvalidInput, option


@dataclass
class ExportJob:
    """What every runtime's ``export`` reads, and where it reports problems (``warnings``)."""

    model: nn.Module
    folder: Path
    precisions: tuple[str, ...]
    calibration: torch.Tensor | None  # int8's calibration images (None without int8)
    calibration_data: str | None  # the data set they came from, for the report
    int8_options: dict[str, Any]  # to_int8's per_channel, method, keep_float
    images: torch.Tensor  # the parity images and their labels
    labels: torch.Tensor
    device: str  # where torch-side artifacts are compiled (AOTInductor)
    gpu: str  # where GPU-only runtimes build (TensorRT)
    quantization_debug: bool = False
    warnings: list[str] = field(default_factory=list)
    _onnx: tuple[Any, dict[str, Path]] | None = None

    def onnx_graphs(self) -> tuple[Any, dict[str, Path]]:
        """The fp32 ONNX export and the graph of each precision, written once per job."""
        if self._onnx is None:
            from .precision import onnx_graphs

            self._onnx = onnx_graphs(self.model, self.folder, self.precisions, self.calibration, int8=self.int8_options)
        return self._onnx

    def calibration_record(self) -> dict[str, Any]:
        return {
            "calibration": {
                "dataset": self.calibration_data,
                "split": "train",
                "n": len(self.calibration) if self.calibration is not None else 0,
            }
        }


@dataclass(frozen=True)
class Runtime:
    """One deployment runtime. ``format`` is its name for ``export --format``, ``name`` for
    ``eval --runtime``; ``native_artifact``: its artifacts are compiled code, loaded only with
    the user's consent; ``check_environment(gpu)`` refuses early where it cannot run;
    ``describe(target, path, precision)`` gives the runtime's own facts for a comparison and any
    extra targets to judge beside it (ONNX Runtime's int8 graph computed in float)."""

    name: str
    format: str
    precisions: tuple[str, ...]
    native_artifact: bool
    export: Callable[[ExportJob], dict[str, dict[str, Any]]]
    target: Callable[..., tuple[Any, Path]]
    check_environment: Callable[[str], None] | None = None
    describe: Callable[[Any, Path, str], tuple[dict[str, Any] | None, dict[str, Any]]] | None = None


def _onnxruntime() -> Runtime:
    from .runtimes import describe_onnxruntime, export_for_onnxruntime, onnxruntime_target

    return Runtime(
        "onnxruntime",
        "onnx",
        ("fp32", "fp16", "int8"),
        False,
        export_for_onnxruntime,
        onnxruntime_target,
        describe=describe_onnxruntime,
    )


def _aoti() -> Runtime:
    from .aoti import aoti_target, export_for_aoti

    return Runtime("aoti", "aoti", ("fp32",), True, export_for_aoti, aoti_target)


def _tensorrt() -> Runtime:  # unverified: see export/tensorrt.py
    from .tensorrt import check_tensorrt_environment, export_for_tensorrt, tensorrt_target

    return Runtime(
        "tensorrt",
        "tensorrt",
        ("fp32", "fp16", "int8"),
        True,
        export_for_tensorrt,
        tensorrt_target,
        check_environment=check_tensorrt_environment,
    )


RUNTIMES: dict[str, Runtime] = {runtime.name: runtime for runtime in (_onnxruntime(), _aoti(), _tensorrt())}
FORMATS: dict[str, Runtime] = {runtime.format: runtime for runtime in RUNTIMES.values()}


def runtime_named(name: str) -> Runtime:
    if name not in RUNTIMES:
        raise InvalidInput(f"unknown runtime {name!r}; use one of {', '.join(RUNTIMES)}")
    return RUNTIMES[name]


def runtimes_for(formats: tuple[str, ...], precisions: tuple[str, ...]) -> list[Runtime]:
    """The runtimes of export ``formats`` (in the table's order), each checked to run ``precisions``."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise InvalidInput(f"unknown export format {', '.join(unknown) or '(none)'}; use {', '.join(FORMATS)}")
    chosen = [runtime for runtime in RUNTIMES.values() if runtime.format in formats]
    for runtime in chosen:
        refused = [p for p in precisions if p not in runtime.precisions]
        if refused:
            others = [r.format for r in RUNTIMES.values() if all(p in r.precisions for p in refused)]
            raise InvalidInput(
                f"{runtime.format} artifacts are {'/'.join(runtime.precisions)} here, not {', '.join(refused)}",
                fix=f"export {', '.join(refused)} as {' or '.join(others)}, in a separate {option('format')} run",
            )
    return chosen
