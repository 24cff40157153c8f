"""Where an int8 graph loses accuracy: the error of each tensor against the fp32 graph.

``quantization_error`` runs the fp32 graph and its QDQ int8 graph on the same images with every
intermediate tensor saved (``onnxruntime.quantization.qdq_loss_debug``), pairs the tensors by
name and gives, for each, the signal-to-quantization-noise ratio (SQNR, dB: 20 log10 of
|fp32| / |fp32 - int8|) of the int8 graph's tensor against the fp32 graph's (``sqnr_db``: the
error accumulated up to there) and of its own rounding (``rounding_sqnr_db``: what this one
Q/DQ pair adds), worst first, and each weight's SQNR after quantization. Low ``sqnr_db`` right
after a high-SQNR input points at the layer to keep in float (``keep_float``).

Both graphs run unoptimised (the QDQ graph in float): the figures are the quantization's, not
a kernel's. Every tensor of every image is held in memory, so a few dozen images are enough.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .onnx import require_onnx
from .precision import _Images

DEBUG_FILE = "quantization_debug.json"


def quantization_error(fp32_path: str | Path, int8_path: str | Path, images: torch.Tensor) -> dict[str, Any]:
    """Per-tensor and per-weight SQNR of the int8 graph against the fp32 one on ``images``,
    worst first; see the module docstring."""
    onnx = require_onnx()
    from onnxruntime.quantization import CalibrationDataReader
    from onnxruntime.quantization.qdq_loss_debug import (
        collect_activations,
        compute_activation_error,
        compute_weight_error,
        create_activation_matching,
        create_weight_matching,
        modify_model_output_intermediate_tensors,
    )

    class Reader(_Images, CalibrationDataReader):
        pass

    batch = images.detach().cpu().float()
    with tempfile.TemporaryDirectory(prefix="robnetzoo-qdebug-") as tmp:
        saved = {}
        for name, path in (("fp32", fp32_path), ("int8", int8_path)):
            augmented = str(Path(tmp) / f"{name}.onnx")
            modify_model_output_intermediate_tensors(str(path), augmented)
            saved[name] = collect_activations(augmented, Reader(batch))
        matched = create_activation_matching(saved["int8"], saved["fp32"])
        errors = compute_activation_error(matched)
        weights = compute_weight_error(create_weight_matching(str(fp32_path), str(int8_path)))
    producers = {
        out: (node.name, node.op_type)
        for node in onnx.load(str(fp32_path), load_external_data=False).graph.node
        for out in node.output
    }
    tensors = []
    for tensor, error in errors.items():
        node, op = producers.get(tensor, ("(graph input)", ""))
        row = {"tensor": tensor, "node": node, "op": op, "rounding_sqnr_db": _finite(error["qdq_err"])}
        if "xmodel_err" in error:
            row["sqnr_db"] = _finite(error["xmodel_err"])
        tensors.append(row)
    tensors.sort(key=lambda row: row.get("sqnr_db", float("inf")))
    weight_rows = sorted(
        ({"weight": name, "sqnr_db": _finite(value)} for name, value in weights.items()), key=lambda row: row["sqnr_db"]
    )
    return {
        "n_images": len(batch),
        "metric": "SQNR dB, 20 log10(|fp32| / |fp32 - int8|); lower is worse",
        "tensors": tensors,
        "weights": weight_rows,
    }


def _finite(value: float) -> float:
    return round(float(value), 2) if np.isfinite(value) else 999.0
