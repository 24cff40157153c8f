"""Convert the authors' released checkpoints (``.pth.tar``) into a robnetzoo Hub folder.

Their files hold ``{'state_dict': ..., 'epoch': ..., 'best_acc': ...}``, with a ``module.``
prefix on every key when saved from (Distributed)DataParallel. We read them with
``torch.load(weights_only=True)``, which refuses arbitrary pickled objects; a file it refuses
is only read with the explicit ``trust_pickle=True`` opt-in, for files whose source you trust.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Any, Mapping

import torch

from .errors import IntegrityError, InvalidInput, NotFound
from .factory import create_model
from .hub import save_pretrained
from .weights import load_strict

PREFIXES = ("module.",)


def read_checkpoint(path: str | Path, *, trust_pickle: bool = False) -> dict[str, Any]:
    """The raw checkpoint object, loaded without unpickling code unless ``trust_pickle``."""
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"no checkpoint at {path}; check the path")
    try:
        return torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except pickle.UnpicklingError as exc:
        if trust_pickle:
            raise IntegrityError(f"{path} is not a readable PyTorch checkpoint ({exc})") from exc
        raise InvalidInput(
            f"{path} holds pickled Python objects that safe loading refuses "
            f"({str(exc).splitlines()[0][:160]}); if you trust its source, re-run with "
            "--trust-pickle (trust_pickle=True)"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise IntegrityError(
            f"{path} is not a readable PyTorch checkpoint ({str(exc).splitlines()[0]}); "
            "it may be truncated: download it again"
        ) from exc


def extract_state_dict(checkpoint: Any, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Find the tensors in a checkpoint and strip a DataParallel ``module.`` prefix."""
    if isinstance(checkpoint, Mapping) and "state_dict" in checkpoint:
        state = checkpoint["state_dict"]
    elif isinstance(checkpoint, Mapping) and "model" in checkpoint and isinstance(checkpoint["model"], Mapping):
        state = checkpoint["model"]
    else:
        state = checkpoint
    if not isinstance(state, Mapping) or not state or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise IntegrityError(
            f"{source} holds no state_dict of tensors; expected the authors' "
            "{'state_dict': ...} checkpoint"
        )
    state = dict(state)
    for prefix in PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def convert_checkpoint(
    checkpoint_path: str | Path,
    arch: str,
    output_dir: str | Path,
    *,
    trust_pickle: bool = False,
) -> dict[str, Any]:
    """Convert one authors' checkpoint into a Hub folder at ``output_dir``.

    ``arch`` is a registry name (``robnet-large``...). Loading is strict: a checkpoint for a
    different architecture fails, naming the tensors that do not fit. Returns a summary.
    """
    checkpoint_path = Path(checkpoint_path)
    checkpoint = read_checkpoint(checkpoint_path, trust_pickle=trust_pickle)
    state = extract_state_dict(checkpoint, str(checkpoint_path))
    model = create_model(arch)
    load_strict(model, state, f"{checkpoint_path} (as {arch})")
    model.eval()
    bookkeeping = {
        k: (v.item() if isinstance(v, torch.Tensor) and v.numel() == 1 else v)
        for k, v in (checkpoint.items() if isinstance(checkpoint, Mapping) else ())
        if k in ("epoch", "best_acc", "best_prec1", "arch")
    }
    notes = (
        "Converted from the authors' released checkpoint "
        f"`{checkpoint_path.name}` (sha256 `{_sha256(checkpoint_path)[:16]}`"
        + "".join(f", {k} {v}" for k, v in bookkeeping.items())
        + ") with `robnetzoo convert`."
    )
    save_pretrained(model, output_dir, notes=notes)
    return {
        "arch": arch,
        "output": str(output_dir),
        "tensors": len(state),
        "parameters": sum(p.numel() for p in model.parameters()),
        **bookkeeping,
    }
