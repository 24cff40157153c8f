"""``create_model``: build any registry model by name, as ``timm.create_model`` does."""

from __future__ import annotations

from typing import Any

from torch import nn

from .config import build_model
from .errors import InvalidInput
from .hub import from_pretrained
from .registry import buildable_config


def create_model(name: str, *, pretrained: bool = False, **overrides: Any) -> nn.Module:
    """Build ``name`` from the registry; ``pretrained=True`` loads its Hub weights (eval mode).

    Overrides are constructor arguments (``num_classes=100``, ``C=20``...), plus ``dataset``
    (what the model is for) and ``model_name``. A model built with overrides is a *derived* model: it
    gets its own name and records what changed (``config.derived_from``), so it never claims
    the base model's paper numbers. With ``pretrained=True`` overrides are not allowed, since
    the weights fix the architecture.
    """
    if pretrained:
        if overrides:
            raise InvalidInput(
                f"overrides {sorted(overrides)} cannot be combined with pretrained=True: "
                "the weights fix the architecture"
            )
        return from_pretrained(name)
    return build_model(buildable_config(name, **overrides))
