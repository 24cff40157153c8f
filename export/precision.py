"""fp16 and int8 ONNX graphs from the fp32 export, both checkable on CPU with ONNX Runtime.

* ``to_fp16``: every float tensor and op in half precision, inputs and outputs kept fp32
  (``keep_io_types``), so callers hand over the same fp32 images. TensorRT 11 takes precision
  from the graph, which is why the graph is converted rather than a builder flag set.
* ``to_int8``: an explicitly quantized QDQ graph (``onnxruntime.quantization.quantize_static``,
  static QDQ, symmetric int8 weights per channel and int8 activations, MinMax calibration on
  real images). The same QDQ form is what TensorRT consumes for int8.

The calibration images (data set and count) are recorded in the export report; int8 without
them is refused rather than calibrated on noise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from robnetzoo.errors import InvalidInput

from .onnx import INPUT_NAME, require_onnx

PRECISIONS = ("fp32", "fp16", "int8")


def to_fp16(source: str | Path, target: str | Path) -> Path:
    """The fp16 graph of the fp32 ONNX file ``source`` (fp32 inputs and outputs)."""
    onnx = require_onnx()
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(source))
    half = convert_float_to_float16(model, keep_io_types=True)
    onnx.save_model(half, str(target))
    _copy_identity(source, target)
    onnx.checker.check_model(str(target))
    return Path(target)


def _copy_identity(source: str | Path, target: str | Path) -> None:
    """Carry the model's identity (``export_onnx``'s metadata) into a converted graph."""
    onnx = require_onnx()
    original, converted = onnx.load(str(source), load_external_data=False), onnx.load(str(target))
    keep = {p.key: p.value for p in original.metadata_props}
    del converted.metadata_props[:]
    for key, value in keep.items():
        entry = converted.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save_model(converted, str(target))


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


def to_int8(source: str | Path, target: str | Path, images: torch.Tensor | None) -> Path:
    """The QDQ int8 graph of the fp32 ONNX file ``source``, calibrated on ``images``."""
    require_onnx()
    if images is None or len(images) == 0:
        raise InvalidInput("int8 needs calibration images: give --calibration-data NAME --calibration-n N "
                           "(real images of the model's input size, e.g. its training set)")
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(_Images, CalibrationDataReader):
        pass

    quantize_static(
        str(source), str(target), Reader(images.detach().cpu().float()), quant_format=QuantFormat.QDQ,
        per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
    )
    _copy_identity(source, target)
    return Path(target)
