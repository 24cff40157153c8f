"""fp16 and int8 ONNX graphs from the fp32 export, both checkable on CPU with ONNX Runtime.

* ``to_fp16``: every float tensor and op in half precision, inputs and outputs kept fp32
  (``keep_io_types``), so callers hand over the same fp32 images. TensorRT 11 takes precision
  from the graph, which is why the graph is converted rather than a builder flag set.
  ``fp16_range`` counts the weights that the conversion clips (beyond fp16's 65504: a folded
  BatchNorm can scale a weight past it) or flushes (below its smallest subnormal).
* ``to_int8``: an explicitly quantized QDQ graph (``onnxruntime.quantization.quantize_static``,
  static QDQ, calibrated on real images by ``minmax``, ``entropy`` or ``percentile``), weights
  int8, symmetric and **per channel** by default. Two forms:

  - for ONNX Runtime, **uint8 asymmetric activations**: with int8 activations ONNX Runtime's
    int8-to-uint8 rewrite leaves mismatched Q/DQ pairs around about a third of the convolutions,
    which then run as DequantizeLinear, fp32 Conv, QuantizeLinear (with Transposes around
    them); with uint8 every convolution fuses into a QLinearConv;
  - for TensorRT (``symmetric=True``), TensorRT's rules: int8 activations with zero point 0,
    and biases left in float (TensorRT dequantizes int8, not the int32 biases ONNX Runtime
    would otherwise write).

  ``keep_float`` leaves named nodes in fp32 (``stem`` and ``classifier`` are understood as
  the first convolution and the final Gemm). What was chosen is written into the graph's
  metadata (``robnetzoo-int8``), so a report on any copy of the file can say it.

Agreement of an int8 graph with torch depends on the host as well as on the quantization (see
``export.host``): reports put the kernel's figure beside the *ideal* one, the same graph run
in float.

The calibration images (data set and count) are recorded in the export report; int8 without
them is refused rather than calibrated on noise.
"""

from __future__ import annotations

import json
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
SUFFIX = {"fp32": "", "fp16": "-fp16", "int8": "-int8"}  # a precision's file and report suffix
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
INT8_METADATA = "robnetzoo-int8"
FP16_MAX, FP16_SMALLEST = 65504.0, 2.0**-24  # largest finite half, smallest subnormal half


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


def _copy_identity(source: str | Path, target: str | Path, extra: dict[str, str] | None = None) -> None:
    """Carry the model's identity (``export_onnx``'s metadata), and ``extra`` entries, into a
    converted graph."""
    onnx = require_onnx()
    original, converted = onnx.load(str(source), load_external_data=False), onnx.load(str(target))
    keep = {**{p.key: p.value for p in original.metadata_props}, **(extra or {})}
    del converted.metadata_props[:]
    for key, value in keep.items():
        entry = converted.metadata_props.add()
        entry.key, entry.value = key, value
    atomic_write(Path(target), lambda tmp: onnx.save_model(converted, tmp))


class _Images:
    """``CalibrationDataReader`` over a tensor of images, in batches."""

    def __init__(self, images: torch.Tensor, batch_size: int = 32) -> None:
        self.batches = [
            images[i : i + batch_size].numpy().astype(np.float32) for i in range(0, len(images), batch_size)
        ]
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


def float_node_names(source: str | Path, names: tuple[str, ...] | list[str]) -> list[str]:
    """The graph's node names for ``names`` (``stem``: the convolutions reading the input;
    ``classifier``: the Gemm/MatMul writing the output; else a node's own name), or one line
    naming what the graph does not have."""
    onnx = require_onnx()
    graph = onnx.load(str(source), load_external_data=False).graph
    inputs, outputs = {i.name for i in graph.input}, {o.name for o in graph.output}
    aliases = {
        "stem": [n.name for n in graph.node if n.op_type == "Conv" and set(n.input) & inputs],
        "classifier": [n.name for n in graph.node if n.op_type in ("Gemm", "MatMul") and set(n.output) & outputs],
    }
    known = {n.name for n in graph.node}
    chosen, unknown = [], []
    for name in names:
        if name in aliases:
            chosen += aliases[name]
        elif name in known:
            chosen.append(name)
        else:
            unknown.append(name)
    if unknown:
        sample = ", ".join(sorted(known)[:4])
        raise InvalidInput(
            f"the graph has no node {', '.join(map(repr, unknown))} to keep in float",
            fix=f"name nodes of the graph (e.g. {sample}; see {option('debug')}'s report) or stem, classifier",
        )
    return list(dict.fromkeys(chosen))


def to_int8(
    source: str | Path,
    target: str | Path,
    images: torch.Tensor | None,
    *,
    symmetric: bool = False,
    per_channel: bool = True,
    method: str = "minmax",
    keep_float: tuple[str, ...] = (),
    int8_activations: bool = False,
) -> Path:
    """The QDQ int8 graph of the fp32 ONNX file ``source``, calibrated on ``images`` by
    ``method``, ``keep_float`` nodes left in fp32 (``symmetric``: TensorRT's form; see the
    module docstring). ``int8_activations``: ONNX Runtime's form with int8 instead of uint8
    activations, whose Q/DQ pairs ONNX Runtime cannot all fuse; kept to measure that."""
    require_onnx()
    if method not in CALIBRATION_METHODS:
        raise InvalidInput(
            f"unknown calibration method {method!r}",
            fix=f"use {option('calibration_method')} {'|'.join(CALIBRATION_METHODS)}",
        )
    if images is None or len(images) == 0:
        raise InvalidInput(
            f"int8 needs calibration images: give {option('calibration_data')} NAME {option('calibration_n')} N "
            "(real images of the model's input size, e.g. its training set)"
        )
    expected = (read_identity(source) or {}).get("input_size")
    if expected is not None and list(images.shape[1:]) != list(expected):
        raise InvalidInput(
            f"calibration images are {tuple(images.shape[1:])}, the model takes {tuple(expected)}; "
            "calibrate on images of the model's size (e.g. its training set)"
        )
    excluded = float_node_names(source, keep_float)
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(_Images, CalibrationDataReader):
        pass

    calibrate = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }[method]
    recipe = int8_recipe(
        symmetric=symmetric,
        per_channel=per_channel,
        method=method,
        keep_float=excluded,
        int8_activations=int8_activations,
    )
    target = Path(target)
    with _without_preprocessing_hint():
        atomic_write(
            target,
            lambda tmp: quantize_static(
                str(source),
                tmp,
                Reader(images.detach().cpu().float()),
                quant_format=QuantFormat.QDQ,
                per_channel=per_channel,
                activation_type=QuantType.QInt8 if symmetric or int8_activations else QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=calibrate,
                nodes_to_exclude=excluded,
                extra_options={"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False}
                if symmetric
                else {"WeightSymmetric": True},
            ),
        )
    _copy_identity(source, target, extra={INT8_METADATA: json.dumps(recipe)})
    return target


def int8_recipe(
    *, symmetric: bool, per_channel: bool, method: str, keep_float: list[str], int8_activations: bool = False
) -> dict[str, Any]:
    """How an int8 graph was quantized, in the words the reports use."""
    return {
        "form": "tensorrt" if symmetric else "onnxruntime",
        "format": "QDQ",
        "weights": f"int8 symmetric, {'per channel' if per_channel else 'per tensor'}",
        "activations": "int8 symmetric (zero point 0)"
        if symmetric
        else ("int8 asymmetric" if int8_activations else "uint8 asymmetric"),
        "calibration_method": method,
        "keep_float": keep_float,
    }


def read_int8_recipe(path: str | Path) -> dict[str, Any] | None:
    """The recipe ``to_int8`` wrote into an int8 graph (None for a graph quantized elsewhere)."""
    onnx = require_onnx()
    for entry in onnx.load(str(path), load_external_data=False).metadata_props:
        if entry.key == INT8_METADATA:
            try:
                recipe = json.loads(entry.value)
            except json.JSONDecodeError:
                return None
            return recipe if isinstance(recipe, dict) else None
    return None


def fp16_range(source: str | Path) -> dict[str, Any]:
    """How many of the fp32 graph's weights and biases fp16 cannot hold: ``overflow`` (magnitude
    beyond 65504, clipped by the conversion), ``flushed`` (non-zero but below the smallest
    subnormal, 2^-24: they become 0) and ``subnormal`` (kept with fewer significant bits)."""
    onnx = require_onnx()
    from onnx import numpy_helper

    counts = {"values": 0, "overflow": 0, "flushed": 0, "subnormal": 0, "largest_magnitude": 0.0}
    worst: list[tuple[float, str]] = []
    for tensor in onnx.load(str(source)).graph.initializer:
        if tensor.data_type != onnx.TensorProto.FLOAT:
            continue
        values = np.abs(numpy_helper.to_array(tensor).astype(np.float64)).ravel()
        if values.size == 0:
            continue
        counts["values"] += int(values.size)
        over = int((values > FP16_MAX).sum())
        counts["overflow"] += over
        counts["flushed"] += int(((values > 0) & (values < FP16_SMALLEST)).sum())
        counts["subnormal"] += int(((values >= FP16_SMALLEST) & (values < 2.0**-14)).sum())
        counts["largest_magnitude"] = max(counts["largest_magnitude"], float(values.max()))
        if over:
            worst.append((float(values.max()), tensor.name))
    return {**counts, "overflowing_tensors": [name for _, name in sorted(worst, reverse=True)[:10]]}


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


def onnx_graphs(
    model: Any,
    folder: Path,
    precisions: tuple[str, ...],
    calibration: torch.Tensor | None,
    *,
    tensorrt: bool = False,
    int8: dict[str, Any] | None = None,
) -> tuple[Any, dict[str, Path]]:
    """The fp32 ONNX export of ``model`` in ``folder`` and the graph of each of ``precisions``
    (``model.onnx``, ``model-fp16.onnx``, ``model-int8.onnx``): what ONNX Runtime runs, or with
    ``tensorrt`` what TensorRT engines are built from (int8: ``model-int8-symmetric.onnx``).
    ``int8``: ``to_int8``'s options (per_channel, method, keep_float)."""
    from .onnx import export_onnx

    written = export_onnx(model, folder / "model.onnx")
    graphs = {}
    for precision in precisions:
        if precision == "fp32":
            graphs[precision] = written.path
        elif precision == "fp16":
            graphs[precision] = to_fp16(written.path, folder / f"model{SUFFIX[precision]}.onnx")
        else:
            graphs[precision] = int8_graph(written.path, folder, calibration, tensorrt=tensorrt, **(int8 or {}))
    return written, graphs


def int8_graph(
    fp32: Path, folder: Path, calibration: torch.Tensor | None, *, tensorrt: bool = False, **options: Any
) -> Path:
    """The int8 graph of the fp32 export ``fp32``: ``model-int8.onnx`` for ONNX Runtime
    (uint8 activations), ``model-int8-symmetric.onnx`` for TensorRT (symmetric, its only form)."""
    name = f"model{SUFFIX['int8']}{'-symmetric' if tensorrt else ''}.onnx"
    return to_int8(fp32, folder / name, calibration, symmetric=tensorrt, **options)
