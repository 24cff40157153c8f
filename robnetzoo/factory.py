"""``create_model``: build any registry model by name, as ``timm.create_model`` does."""

from __future__ import annotations

from typing import Any

from torch import nn

from .config import ModelConfig, build_model
from .errors import InvalidInput
from .hub import from_pretrained, get_buildable_entry


def registry_config(name: str, **overrides: Any) -> ModelConfig:
    """The config a registry name stands for, with constructor overrides applied."""
    entry = get_buildable_entry(name)
    config = ModelConfig(
        name=entry.name,
        arch=entry.arch,
        arch_args=dict(entry.arch_args),
        num_classes=entry.num_classes,
        dataset=entry.dataset,
        input_size=entry.input_size,
    )
    return config.with_overrides(**overrides) if overrides else config


def create_model(name: str, *, pretrained: bool = False, **overrides: Any) -> nn.Module:
    """Build ``name`` from the registry; ``pretrained=True`` loads its Hub weights (eval mode).

    Overrides are constructor arguments (``num_classes=100``, ``C=20``...). With
    ``pretrained=True`` they are not allowed, since the weights fix the architecture.
    """
    if pretrained:
        if overrides:
            raise InvalidInput(
                f"overrides {sorted(overrides)} cannot be combined with pretrained=True: "
                "the weights fix the architecture"
            )
        return from_pretrained(name)
    return build_model(registry_config(name, **overrides))
