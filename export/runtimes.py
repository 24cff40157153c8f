"""Deployment runtimes as evaluator targets: anything with ``logits``, ``num_classes`` and
``fingerprint`` is judged by ``robnetzoo.evaluate`` like a torch model (gradient attacks come
from a torch ``source`` model: transfer; score-based attacks read the runtime's logits).

``OnnxRuntimeTarget``: an ONNX file run by ONNX Runtime (CPU, or the CUDA execution provider
where onnxruntime-gpu is installed). It checks the file against the model it stands for (the
identity ``export_onnx`` records: fingerprint, classes, input size) when given one. On CUDA it
binds torch's CUDA tensors in place (IO binding): images and logits never pass through the
host. The CUDA path has never run (no test with onnxruntime-gpu has); ``python -m pytest -m gpu``
on a CUDA machine with onnxruntime-gpu would run it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from robnetzoo._io import read_json
from robnetzoo.errors import InvalidInput, MissingDependency, option

from .onnx import INPUT_NAME, OUTPUT_NAME, model_identity, read_identity


class OnnxRuntimeTarget:
    """ONNX Runtime running ``path``; see the module docstring."""

    def __init__(self, path: str | Path, *, model: nn.Module | None = None, device: str = "cpu",
                 threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise MissingDependency("the ONNX Runtime target needs onnxruntime: pip install 'robnetzoo[onnx]' "
                                    "(onnxruntime-gpu instead on a CUDA machine)") from None
        self.path = Path(path)
        identity = read_identity(self.path)
        if model is not None:
            check_matches(identity, model_identity(model), self.path)
        providers: list[Any] = ["CPUExecutionProvider"]
        self.device = torch.device(device)
        if self.device.type == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise InvalidInput("ONNX Runtime here has no CUDA execution provider; on a CUDA machine install "
                                   f"onnxruntime-gpu in place of onnxruntime, or run with {option('device', 'cpu')}")
            providers = [("CUDAExecutionProvider", {"device_id": self.device.index or 0}), "CPUExecutionProvider"]
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=providers)
        except Exception as exc:  # ONNX Runtime's own InvalidGraph / Fail: a corrupt file
            raise InvalidInput(f"ONNX Runtime cannot load {self.path} ({str(exc).splitlines()[0][:200]}); "
                               "export it again") from None
        self.identity = identity or {}
        self.name = f"{self.identity.get('name', self.path.stem)} (onnxruntime)"
        self.fingerprint = f"onnx:{self.identity.get('fingerprint', self.path.stem)}"
        self.num_classes = int(self.identity.get("num_classes") or self.session.get_outputs()[0].shape[1])

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        if self.device.type == "cuda":
            return self._logits_bound(images)
        array = np.ascontiguousarray(images.detach().to("cpu", torch.float32).numpy())
        (out,) = self.session.run(None, {INPUT_NAME: array})
        return torch.from_numpy(out)

    def _logits_bound(self, images: torch.Tensor) -> torch.Tensor:
        """CUDA: ONNX Runtime reads and writes torch's device memory directly."""
        batch = images.detach().to(self.device, torch.float32).contiguous()
        out = torch.empty((len(batch), self.num_classes), dtype=torch.float32, device=self.device)
        torch.cuda.current_stream(self.device).synchronize()  # ONNX Runtime runs on its own stream
        binding = self.session.io_binding()
        index = self.device.index or 0
        binding.bind_input(INPUT_NAME, "cuda", index, np.float32, tuple(batch.shape), batch.data_ptr())
        binding.bind_output(OUTPUT_NAME, "cuda", index, np.float32, tuple(out.shape), out.data_ptr())
        self.session.run_with_iobinding(binding)  # returns once the outputs are written
        return out


def sidecar(path: Path) -> Path:
    """``<artifact>.json``: the identity of an artifact with no metadata slot (``.pt2``, ``.engine``)."""
    return path.with_name(path.name + ".json")


def read_sidecar(path: Path, model: nn.Module | None, export_hint: str) -> dict[str, Any]:
    """The identity beside ``path``, checked against ``model`` when given; one line if missing."""
    identity: dict[str, Any] = read_json(
        sidecar(path), "export's identity sidecar", expect=dict, fix=f"export the model again ({export_hint})",
        missing=f"{path} has no {sidecar(path).name} beside it: not a robnetzoo export; export the model again ({export_hint})")
    if model is not None:
        check_matches(identity, model_identity(model), path)
    return identity


def check_matches(identity: dict[str, Any] | None, expected: dict[str, Any], path: Path) -> None:
    """One line naming what differs between an artifact and the model it should stand for."""
    if identity is None:
        raise InvalidInput(f"{path} was not written by robnetzoo export (no identity); export the model again")
    for key, what in (("num_classes", "classes"), ("input_size", "input size"), ("fingerprint", "weights")):
        if expected.get(key) is not None and identity.get(key) != expected[key]:
            raise InvalidInput(
                f"{path} does not match {expected['name']}: its {what} differ ({identity.get(key)} vs {expected[key]}); "
                "export this model again"
            )
