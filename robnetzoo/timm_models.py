"""The zoo in timm: ``import robnetzoo.timm_models`` registers every registry model with timm's
``register_model``, so ``timm.create_model("robnet_large")`` builds ours.

timm names use underscores (``robnet-large`` -> ``robnet_large``, ``wrn-28-10`` ->
``wrn_28_10``). Every model is registered as ``robnetzoo_<name>``; names timm does not already
have are registered bare too (``robnet_large``), while names timm has for its own ImageNet
models (``resnet18``, ``resnet50``, ``densenet121``) keep timm's meaning and ours are only
reachable as ``robnetzoo_resnet18`` and so on. Keywords reach ``robnetzoo.create_model``
(``num_classes=100``, ``C=20``, ...); ``pretrained=True`` loads the registry's weights
(``robnetzoo.from_pretrained``), refused with overrides like ``create_model`` refuses them.
timm's own keywords (``pretrained_cfg``, ``pretrained_cfg_overlay``, ``cache_dir``) are dropped.

Only this module imports timm; ``import robnetzoo`` never does.
"""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from .registry import list_models

TIMM_KEYWORDS = ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir")
PREFIX = "robnetzoo_"


def timm_name(name: str) -> str:
    return name.replace("-", "_")


def _entrypoint(registry_name: str, timm_model_name: str) -> Callable[..., nn.Module]:
    def build(pretrained: bool = False, **kwargs: Any) -> nn.Module:
        from .factory import create_model
        from .hub import from_pretrained

        for key in TIMM_KEYWORDS:
            kwargs.pop(key, None)
        if pretrained and not kwargs:
            return from_pretrained(registry_name)
        return create_model(registry_name, pretrained=pretrained, **kwargs)

    build.__name__ = build.__qualname__ = timm_model_name
    build.__module__ = __name__
    build.__doc__ = f"robnetzoo's {registry_name} (robnetzoo.create_model({registry_name!r}, **kwargs))."
    return build


def register_timm_models() -> dict[str, str]:
    """Register every registry model with timm (once); returns timm name -> registry name."""
    import timm
    from timm.models import register_model

    registered: dict[str, str] = {}
    taken = set(timm.list_models())
    for name in list_models():
        bare = timm_name(name)
        for candidate in (PREFIX + bare, bare):
            if candidate in registered or (candidate in taken and candidate not in REGISTERED):
                continue
            if candidate not in REGISTERED:
                register_model(_entrypoint(name, candidate))
                REGISTERED[candidate] = name
            registered[candidate] = name
    return registered


REGISTERED: dict[str, str] = {}
TIMM_NAMES = register_timm_models()
