"""fp16 and int8 ONNX graphs from the fp32 export, both checkable on CPU with ONNX Runtime.

* ``to_fp16``: every float tensor and op in half precision, inputs and outputs kept fp32
  (``keep_io_types``), so callers hand over the same fp32 images. TensorRT 11 takes precision
  from the graph, which is why the graph is converted rather than a builder flag set.
* ``to_int8``: an explicitly quantized QDQ graph (``onnxruntime.quantization.quantize_static``,
  static QDQ, int8 weights and activations, MinMax calibration on real images). Two forms:
  for ONNX Runtime, asymmetric activations; for TensorRT (``symmetric=True``), TensorRT's rules:
  zero point 0 for activations too, and biases left in float (TensorRT dequantizes int8, not the
  int32 biases ONNX Runtime would otherwise write). Weights are quantized per tensor: on our
  RobNets ``onnxruntime.quantization``'s per-channel form kept far less agreement with torch
  (39% top-1 on the digits model against 93% per tensor; not diagnosed further), and
  symmetric activations cost agreement too (53%): the reports say what each graph keeps.

The calibration images (data set and count) are recorded in the export report; int8 without
them is refused rather than calibrated on noise.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from robnetzoo._io import atomic_write
from robnetzoo.errors import InvalidInput, option

from .onnx import INPUT_NAME, read_identity, require_onnx

PRECISIONS = ("fp32", "fp16", "int8")


def to_fp16(source: str | Path, target: str | Path) -> Path:
    """The fp16 graph of the fp32 ONNX file ``source`` (fp32 inputs and outputs)."""
    onnx = require_onnx()
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(source))
    half = convert_float_to_float16(model, keep_io_types=True)
    _sort_topologically(half.graph)
    target = Path(target)
    atomic_write(target, lambda tmp: onnx.save_model(half, tmp))  # the identity is carried in ``half``'s metadata
    onnx.checker.check_model(str(target))
    return target


def _sort_topologically(graph: Any) -> None:
    """Order ``graph``'s nodes so each comes after the nodes it reads. The fp16 converter
    appends the input casts at the end; ONNX requires (and TensorRT's parser relies on) order."""
    ready = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        placed = [n for n in pending if all(name in ready for name in n.input)]
        if not placed:
            raise RuntimeError("the converted graph has a cycle or reads a tensor nothing writes")
        for node in placed:
            ordered.append(node)
            ready.update(node.output)
        pending = [n for n in pending if all(n is not p for p in placed)]
    copies = [type(n)() for n in ordered]
    for copy, node in zip(copies, ordered):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)


def _copy_identity(source: str | Path, target: str | Path) -> None:
    """Carry the model's identity (``export_onnx``'s metadata) into a converted graph."""
    onnx = require_onnx()
    original, converted = onnx.load(str(source), load_external_data=False), onnx.load(str(target))
    keep = {p.key: p.value for p in original.metadata_props}
    del converted.metadata_props[:]
    for key, value in keep.items():
        entry = converted.metadata_props.add()
        entry.key, entry.value = key, value
    atomic_write(Path(target), lambda tmp: onnx.save_model(converted, tmp))


class _Images:
    """``CalibrationDataReader`` over a tensor of images, in batches."""

    def __init__(self, images: torch.Tensor, batch_size: int = 32) -> None:
        self.batches = [images[i : i + batch_size].numpy().astype(np.float32) for i in range(0, len(images), batch_size)]
        self.position = 0

    def get_next(self) -> dict[str, Any] | None:
        if self.position >= len(self.batches):
            return None
        self.position += 1
        return {INPUT_NAME: self.batches[self.position - 1]}

    def rewind(self) -> None:
        self.position = 0


@contextmanager
def _without_preprocessing_hint() -> Iterator[None]:
    """quantize_static logs (to the root logger) a hint to run its pre-processing: shape
    inference and graph optimisation, which the exporter has already done (BN folded, constants
    folded, shapes inferred). Drop that one line; anything else it logs still shows."""
    def drop(record: logging.LogRecord) -> bool:
        message = record.getMessage()  # worded differently across onnxruntime versions
        return not ("pre-processing" in message and "quantization" in message)

    root = logging.getLogger()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


def to_int8(source: str | Path, target: str | Path, images: torch.Tensor | None, *, symmetric: bool = False) -> Path:
    """The QDQ int8 graph of the fp32 ONNX file ``source``, calibrated on ``images``
    (``symmetric``: TensorRT's form; see the module docstring)."""
    require_onnx()
    if images is None or len(images) == 0:
        raise InvalidInput(f"int8 needs calibration images: give {option('calibration_data')} NAME {option('calibration_n')} N "
                           "(real images of the model's input size, e.g. its training set)")
    expected = (read_identity(source) or {}).get("input_size")
    if expected is not None and list(images.shape[1:]) != list(expected):
        raise InvalidInput(f"calibration images are {tuple(images.shape[1:])}, the model takes {tuple(expected)}; "
                           "calibrate on images of the model's size (e.g. its training set)")
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(_Images, CalibrationDataReader):
        pass

    target = Path(target)
    with _without_preprocessing_hint():
        atomic_write(target, lambda tmp: quantize_static(
            str(source), tmp, Reader(images.detach().cpu().float()), quant_format=QuantFormat.QDQ,
            per_channel=False, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
            extra_options={"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False}
            if symmetric else {"WeightSymmetric": True},
        ))
    _copy_identity(source, target)
    return target


def graph_precision(path: str | Path) -> str:
    """What an ONNX graph computes in: ``int8`` (QDQ nodes), ``fp16`` (half weights) or ``fp32``,
    so a runtime report never labels an artifact with a precision it does not have."""
    onnx = require_onnx()
    graph = onnx.load(str(path), load_external_data=False).graph
    if any(node.op_type in ("QuantizeLinear", "DequantizeLinear") for node in graph.node):
        return "int8"
    if any(t.data_type == onnx.TensorProto.FLOAT16 for t in graph.initializer):
        return "fp16"
    return "fp32"
