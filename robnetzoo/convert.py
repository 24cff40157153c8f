"""Convert the authors' released checkpoints (``.pth.tar``) into a robnetzoo Hub folder.

Their files hold ``{'state_dict': ..., 'epoch': ..., 'best_acc': ...}``, with a ``module.``
prefix on every key when saved from (Distributed)DataParallel. We read them with
``torch.load(weights_only=True)``, which refuses arbitrary pickled objects; a file it refuses
is only read with the explicit ``trust_pickle=True`` opt-in, for files whose source you trust.
"""

from __future__ import annotations

import hashlib
import pickle
import re
from pathlib import Path
from typing import Any, Mapping

import torch

from ._io import output_mode, read_torch_file
from .errors import CorruptFile, IntegrityError, InvalidInput, option
from .factory import create_model
from .hub import save_pretrained
from .weights import load_strict

PREFIXES = ("module.",)


def _pickled_class(message: str) -> str | None:
    """The class torch's safe loader refused, from its error text (``GLOBAL module.Class``)."""
    match = re.search(r"GLOBAL ([\w.]+)", message) or re.search(r"Unsupported global: ([\w.]+)", message)
    return match.group(1) if match else None


def read_authors_checkpoint(path: str | Path, *, trust_pickle: bool = False) -> dict[str, Any]:
    """The raw checkpoint object, loaded without unpickling code unless ``trust_pickle``.

    Read by the project's one checkpoint reader; what it refuses is explained here in the terms
    of an authors' checkpoint: pickled classes refused by safe loading (named, with the opt-in),
    or, with ``trust_pickle``, classes whose module is not importable here.
    """
    try:
        return read_torch_file(
            path,
            "PyTorch checkpoint",
            trust_pickle=trust_pickle,
            fix="it may be truncated or not a checkpoint at all: download it again",
        )
    except CorruptFile as error:
        cause = error.__cause__
        found = _pickled_class(str(cause)) if isinstance(cause, pickle.UnpicklingError) else None
        if found is not None and not trust_pickle:
            raise InvalidInput(
                f"{path} holds pickled Python objects (class {found}) that safe loading refuses",
                fix=f"if you trust its source, pass {option('trust_pickle', True)}",
                path=path,
            ) from None
        if isinstance(cause, (ModuleNotFoundError, AttributeError)):
            missing = getattr(cause, "name", None) or str(cause)
            raise InvalidInput(
                f"{path} pickles objects from {missing!s}, which cannot be imported here",
                fix="install the package that defines them, or re-save the checkpoint as a plain state_dict",
                path=path,
            ) from None
        raise


def extract_state_dict(checkpoint: Any, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Find the tensors in a checkpoint and strip a DataParallel ``module.`` prefix."""
    if isinstance(checkpoint, Mapping) and "state_dict" in checkpoint:
        state = checkpoint["state_dict"]
    elif isinstance(checkpoint, Mapping) and "model" in checkpoint and isinstance(checkpoint["model"], Mapping):
        state = checkpoint["model"]
    else:
        state = checkpoint
    if not isinstance(state, Mapping) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise IntegrityError(
            f"{source} holds no state_dict of tensors; expected the authors' {{'state_dict': ...}} checkpoint"
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


def load_authors_checkpoint(
    checkpoint_path: str | Path, arch: str, *, trust_pickle: bool = False
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The model an authors' checkpoint holds (eval mode), loaded strictly as ``arch``, and the
    checkpoint's bookkeeping (epoch, best accuracy)."""
    checkpoint_path = Path(checkpoint_path)
    checkpoint = read_authors_checkpoint(checkpoint_path, trust_pickle=trust_pickle)
    state = extract_state_dict(checkpoint, str(checkpoint_path))
    model = create_model(arch)
    load_strict(model, state, f"{checkpoint_path} (as {arch})")
    bookkeeping = {
        k: (v.item() if isinstance(v, torch.Tensor) and v.numel() == 1 else v)
        for k, v in (checkpoint.items() if isinstance(checkpoint, Mapping) else ())
        if k in ("epoch", "best_acc", "best_prec1", "arch")
    }
    return model.eval(), bookkeeping


def convert_checkpoint(
    checkpoint_path: str | Path,
    arch: str,
    output_dir: str | Path,
    *,
    trust_pickle: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Convert one authors' checkpoint into a Hub folder at ``output_dir``.

    ``arch`` is a registry name (``robnet-large``...). Loading is strict: a checkpoint for a
    different architecture fails, naming the tensors that do not fit. A folder that already
    holds a model is replaced only with ``overwrite=True``. Returns a summary.
    """
    checkpoint_path = Path(checkpoint_path)
    output_dir = Path(output_dir)
    # the rule save_pretrained applies, checked before the (slow) load
    output_mode(
        output_dir,
        "a model",
        holds=(output_dir / "config.json").is_file(),
        overwrite=overwrite,
        can_resume=False,
        require_empty=False,
        argument="output_dir",
    )
    model, bookkeeping = load_authors_checkpoint(checkpoint_path, arch, trust_pickle=trust_pickle)
    notes = (
        "Converted from the authors' released checkpoint "
        f"`{checkpoint_path.name}` (sha256 `{_sha256(checkpoint_path)[:16]}`"
        + "".join(f", {k} {v}" for k, v in bookkeeping.items())
        + ") with `robnetzoo convert`."
    )
    save_pretrained(model, output_dir, notes=notes, overwrite=overwrite)
    return {
        "arch": arch,
        "output": str(output_dir),
        "tensors": len(model.state_dict()),
        "parameters": sum(p.numel() for p in model.parameters()),
        **bookkeeping,
    }
