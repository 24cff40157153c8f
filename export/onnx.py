"""ONNX export of a zoo model (fp32), checked, with the identity a runtime target verifies.

``export_onnx(model, path)``: an eval-mode copy with BatchNorm folded into the convolutions
(``robnetzoo.fast.fold_batchnorm``, the evaluator's own) and each FactorizedReduce rewritten
as one 2x2 stride-2 convolution (exact; ``robnetzoo.fast.merge_factorized_reduce``), exported
by torch's ``torch.export`` based exporter at a pinned opset with a dynamic batch axis,
checked by ``onnx.checker``. Zero
edges ('00') emit no node: the RobNet cell skips them in its forward, so nothing is traced.
Weights go in the one ``.onnx`` file unless they pass protobuf's 2 GB limit (then external data
beside it). The model's fingerprint, class count, input size and name are written into the
file's metadata, so a runtime target can refuse an artifact of another model.

onnx, onnxscript and onnxruntime are imported here only: ``import robnetzoo`` never pulls them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from robnetzoo._io import atomic_write
from robnetzoo.config import config_of
from robnetzoo.errors import CorruptFile, InvalidInput, MissingDependency
from robnetzoo.fast import fold_batchnorm
from robnetzoo.weights import weights_fingerprint

OPSET = 18
INPUT_NAME, OUTPUT_NAME = "images", "logits"
EXTERNAL_DATA_BYTES = 1_800_000_000  # protobuf's hard limit is 2 GiB per file
INSTALL_HINT = "pip install 'robnetzoo[onnx]'"


@dataclass
class OnnxExport:
    """What was written: the file, its opset, size, and the identity recorded in it."""

    path: Path
    opset: int
    size_bytes: int
    identity: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "opset": self.opset,
            "size_bytes": self.size_bytes,
            "identity": self.identity,
            "notes": self.notes,
        }


def require_onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise MissingDependency(f"ONNX export needs onnx and onnxscript: {INSTALL_HINT}") from None
    return onnx


def model_identity(model: nn.Module, input_size: tuple[int, ...] | None = None) -> dict[str, Any]:
    """What an artifact must match: the model's weights fingerprint, classes and input size."""
    config = config_of(model)
    size = tuple(input_size or (config.input_size if config is not None else (3, 32, 32)))
    return {
        "name": config.name if config is not None else type(model).__name__,
        "fingerprint": weights_fingerprint(model),
        "num_classes": int(config.num_classes) if config is not None else None,
        "input_size": list(size),
    }


def export_onnx(
    model: nn.Module,
    path: str | Path,
    *,
    opset: int = OPSET,
    fold_bn: bool = True,
    merge_reduce: bool = True,
    input_size: tuple[int, ...] | None = None,
) -> OnnxExport:
    """Export ``model`` (fp32, dynamic batch) to ``path``; see the module docstring
    (``merge_reduce=False`` keeps FactorizedReduce as two convolutions, to measure the rewrite)."""
    onnx = require_onnx()
    path = Path(path)
    identity = model_identity(model, input_size)
    notes: list[str] = []
    if fold_bn:
        module, note = fold_batchnorm(model, merge_reduce=merge_reduce)
        notes += [note] if note else []
    else:
        module = model
    module = module.eval().cpu()
    example = torch.rand(2, *identity["input_size"])
    batch = torch.export.Dim("batch", min=1, max=4096)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        program = torch.onnx.export(
            module,
            (example,),
            dynamo=True,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: batch},),
            optimize=True,
            verbose=False,
        )
    if program is None:  # pragma: no cover - the dynamo exporter always returns its program
        raise RuntimeError("torch.onnx.export returned no program")
    proto = program.model_proto
    for key, value in (("robnetzoo", json.dumps(identity)),):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    large = proto.ByteSize() > EXTERNAL_DATA_BYTES
    if large:  # weights beside the graph, named after it; the graph file itself is written last
        onnx.save_model(
            proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location=f"{path.name}.data"
        )
    else:
        atomic_write(path, lambda tmp: onnx.save_model(proto, tmp))
    onnx.checker.check_model(str(path))
    return OnnxExport(path, opset, path.stat().st_size, identity, notes)


def read_identity(path: str | Path) -> dict[str, Any] | None:
    """The identity ``export_onnx`` recorded in an ONNX file (None for a foreign file)."""
    onnx = require_onnx()
    path = Path(path)
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except FileNotFoundError:
        raise InvalidInput(f"no ONNX file at {path}") from None
    except Exception as exc:  # a truncated or corrupt file: protobuf's DecodeError and friends
        raise InvalidInput(f"{path} is not a readable ONNX model ({type(exc).__name__}); export it again") from None
    for entry in proto.metadata_props:
        if entry.key == "robnetzoo":
            try:
                identity = json.loads(entry.value)
            except json.JSONDecodeError:
                identity = None
            if not isinstance(identity, dict):
                raise CorruptFile(
                    path, "robnetzoo ONNX export", "its robnetzoo metadata is damaged", fix="export it again"
                )
            return identity
    return None
