"""Reading and writing weights, and loading them *strictly*.

A missing, unexpected or mis-shaped tensor is always an error naming the tensors: silently
ignoring them (as ``strict=False`` or the Hub mixin's default would) turns a wrong file into a
model that quietly reports chance accuracy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ._io import atomic_write
from .errors import CorruptFile, IntegrityError, NotFound, option


def _preview(names: list[str], limit: int = 4) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


def check_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise ``IntegrityError`` unless ``state_dict`` has exactly the model's keys and shapes."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    misshaped = [
        f"{k} {tuple(state_dict[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or misshaped:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing ({_preview(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected ({_preview(unexpected)})")
        if misshaped:
            parts.append(f"{len(misshaped)} mis-shaped ({_preview(misshaped, 2)})")
        raise IntegrityError(
            f"weights in {source} do not match the architecture: {'; '.join(parts)}. "
            "Check that the config (or the architecture named) is the one these weights were trained as"
        )


def load_strict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> nn.Module:
    check_state_dict(model, state_dict, source)
    model.load_state_dict(state_dict, strict=True)
    return model


def safetensors_shapes(path: Path) -> dict[str, torch.Tensor]:
    """The tensors a ``.safetensors`` file holds, as meta tensors of their shapes, read from its
    header alone: what ``check_state_dict`` compares with a model before anything is allocated."""
    from safetensors import safe_open

    if not path.is_file():
        raise NotFound(f"{path} is missing; a model folder needs model.safetensors", path=path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            return {key: torch.empty(handle.get_slice(key).get_shape(), device="meta") for key in handle.keys()}
    except PermissionError:
        raise  # not a damaged file: the system's refusal, said as such
    except (SafetensorError, OSError, ValueError) as exc:
        raise CorruptFile(
            path,
            "safetensors weights file",
            f"corrupt or truncated: {exc}",
            fix=f"download it again ({option('force_download', True)}) or re-save the model",
        ) from None


def read_safetensors(path: Path, map_location: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Load a ``.safetensors`` file; truncation or corruption becomes one clear error."""
    if not path.is_file():
        raise NotFound(f"{path} is missing; a model folder needs model.safetensors", path=path)
    try:
        return load_file(str(path), device=str(map_location))
    except PermissionError:
        raise  # not a damaged file: the system's refusal, said as such
    except (SafetensorError, OSError, ValueError) as exc:
        raise CorruptFile(
            path,
            "safetensors weights file",
            f"corrupt or truncated: {exc}",
            fix=f"download it again ({option('force_download', True)}) or re-save the model",
        ) from None


def weights_fingerprint(module: nn.Module) -> str:
    """The one weights fingerprint: SHA-256 of every parameter and buffer (names, dtypes and
    bytes, in state-dict order), 16 hex digits. Equal fingerprints, equal weights: results files,
    exported artifacts and training replicas are matched by it."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def write_safetensors(model: nn.Module, path: Path, metadata: dict[str, str] | None = None) -> None:
    """Save ``model``'s state dict; tensors are made contiguous and un-aliased for safetensors."""
    tensors = {k: v.detach().contiguous().cpu().clone() for k, v in model.state_dict().items()}
    meta = {"format": "pt", **(metadata or {})}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))
