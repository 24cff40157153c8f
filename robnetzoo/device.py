"""The device policy: what ``--device`` (``device=``) may name and what ``auto`` means.

One place, because every long job (evaluation, training, the search, export, the plan) takes a
device and must refuse the same mistakes the same way: an unknown name, or CUDA asked for where
there is none.
"""

from __future__ import annotations

import torch

from .errors import InvalidInput, option


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``device`` as a ``torch.device``: ``auto`` (or None) is CUDA where there is one, else the
    CPU; an unknown name, or CUDA where there is none, is one ``InvalidInput``."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)  # type: ignore[arg-type]
    except RuntimeError:
        raise InvalidInput(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInput(
            f"{option('device', 'cuda')} asked for, but CUDA is not available here",
            fix=f"use {option('device', 'cpu')} or {option('device', 'auto')}",
        )
    if resolved.type not in ("cpu", "cuda", "mps"):
        raise InvalidInput(f"device {device!r} is not supported; use auto, cpu or cuda")
    return resolved
