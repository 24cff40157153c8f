"""AOTInductor: ``torch.export`` + ``aoti_compile_and_package`` -> a ``.pt2`` package that
runs without Python graph code, on CPU and on a GPU with plain torch (no extra runtime).

The package is compiled from the same BN-folded eval copy as the ONNX export, with a dynamic
batch axis; the model's identity (fingerprint, classes, input size) is written beside it as
``<package>.json``, since a ``.pt2`` has no metadata slot of its own that survives loading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from robnetzoo._io import write_json
from robnetzoo.errors import InvalidInput
from robnetzoo.fast import fold_batchnorm

from .onnx import model_identity
from .runtimes import read_sidecar, sidecar


@dataclass
class AotiExport:
    path: Path
    device: str
    size_bytes: int
    identity: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "device": self.device,
            "size_bytes": self.size_bytes,
            "identity": self.identity,
            "notes": self.notes,
        }


def export_aoti(
    model: nn.Module,
    path: str | Path,
    *,
    device: str = "cpu",
    fold_bn: bool = True,
    input_size: tuple[int, ...] | None = None,
) -> AotiExport:
    """Compile ``model`` into the AOTInductor package ``path`` (``.pt2``) for ``device``."""
    if not hasattr(torch._inductor, "aoti_compile_and_package"):
        raise InvalidInput(f"AOTInductor packages need torch >= 2.6 (this is {torch.__version__}); upgrade torch")
    path = Path(path)
    if path.suffix != ".pt2":
        raise InvalidInput(f"an AOTInductor package is a .pt2 file, got {path.name}")
    identity = model_identity(model, input_size)
    notes: list[str] = []
    module, note = fold_batchnorm(model) if fold_bn else (model, None)
    notes += [note] if note else []
    module = module.eval().to(device)
    example = torch.rand(2, *identity["input_size"], device=device)
    batch = torch.export.Dim("batch", min=1, max=4096)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
        torch._inductor.aoti_compile_and_package(program, package_path=str(path))
    write_json(sidecar(path), {**identity, "device": device}, indent=1)
    return AotiExport(path, device, path.stat().st_size, identity, notes)


class AotiTarget:
    """An AOTInductor package as an evaluator target (``logits``, ``num_classes``,
    ``fingerprint``), checked against ``model`` when given."""

    def __init__(self, path: str | Path, *, model: nn.Module | None = None, device: str = "cpu") -> None:
        self.path = Path(path)
        identity = read_sidecar(self.path, model, "robnetzoo export --aoti")
        if identity.get("device", "cpu").split(":")[0] != str(device).split(":")[0]:
            raise InvalidInput(
                f"{self.path} was compiled for {identity.get('device')}, not {device}; export it for "
                f"{device} (robnetzoo export --aoti --device {device})"
            )
        try:
            self.runner = torch._inductor.aoti_load_package(str(self.path))
        except Exception as exc:  # a truncated or foreign archive
            raise InvalidInput(f"cannot load {self.path} ({type(exc).__name__}); export it again") from None
        self.identity = identity
        self.device = torch.device(device)
        self.name = f"{identity.get('name', self.path.stem)} (aoti)"
        self.fingerprint = f"aoti:{identity.get('fingerprint')}"
        self.num_classes = int(identity["num_classes"])

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.runner(images.to(self.device, torch.float32).contiguous())


# -- AOTInductor in the runtime table (export/registry.py) ------------------------------------


def export_for_aoti(job: Any) -> dict[str, dict[str, Any]]:
    """``model-<device>.pt2`` compiled for the job's device, with its parity."""
    from .parity import parity

    package = export_aoti(job.model, job.folder / f"model-{job.device.split(':')[0]}.pt2", device=job.device)
    target = AotiTarget(package.path, model=job.model, device=job.device)
    return {
        "aoti": {**package.to_dict(), "precision": "fp32", "parity": parity(job.model, target, job.images, job.labels)}
    }


def aoti_target(
    model: nn.Module,
    *,
    precision: str,
    artifact: Path | None,
    workdir: Path,
    calibration: torch.Tensor | None,
    device: str,
) -> tuple[AotiTarget, Path]:
    """The AOTInductor target of ``artifact``, or of a package compiled now into ``workdir``."""
    path = artifact if artifact is not None else export_aoti(model, workdir / "model.pt2", device=device).path
    return AotiTarget(path, model=model, device=device), path
