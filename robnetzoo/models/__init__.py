"""Architectures by name: the one place that maps an ``arch`` string to a constructor.

A registry entry (``robnetzoo.registry``) names an ``arch`` from this table plus its keyword
arguments; ``config.json`` stores the same pair, so the constructor's arguments *are* the
config and the two cannot drift.
"""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from ..errors import InvalidInput
from .densenet import densenet121
from .resnet import resnet18, resnet50, resnet101, resnet152
from .robnet import RobNet
from .wide_resnet import WideResNet, wrn_28_10

ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "robnet": RobNet,
    "resnet18": resnet18,
    "resnet50": resnet50,
    "resnet101": resnet101,
    "resnet152": resnet152,
    "wrn-28-10": wrn_28_10,
    "wide-resnet": WideResNet,  # any depth and widen factor: the small hand-designed baselines
    "densenet121": densenet121,
}


# Constructor arguments that count something (channels, cells, blocks, classes): whole and >= 1.
POSITIVE_ARGS = frozenset(
    {"C", "layers", "num_classes", "depth", "widen_factor", "growth_rate", "steps", "width", "growth"}
)
# Bounds checked before anything is built: a config's depth of 6e7 would otherwise build that
# many modules (on the meta device too, where the parameter count is checked) before refusing.
DEPTH_ARGS, MAX_DEPTH, MAX_ARG = frozenset({"layers", "depth", "steps"}), 1000, 100_000


def build_architecture(arch: str, arch_args: dict[str, Any]) -> nn.Module:
    """Instantiate ``arch`` with ``arch_args``; a wrong argument is an input error, not a crash."""
    try:
        constructor = ARCHITECTURES[arch]
    except KeyError:
        raise InvalidInput(f"unknown architecture {arch!r}; known: {', '.join(sorted(ARCHITECTURES))}") from None
    bad = [
        f"{key}={value!r}"
        for key, value in arch_args.items()
        if key in POSITIVE_ARGS and (isinstance(value, bool) or not isinstance(value, int) or value < 1)
    ]
    if bad:
        raise InvalidInput(
            f"bad arguments for architecture {arch!r}: {', '.join(bad)}",
            fix=f"give {', '.join(sorted(POSITIVE_ARGS & set(arch_args)))} as whole numbers of at least 1",
        )
    huge = [
        f"{key}={value:,}"
        for key, value in arch_args.items()
        if key in POSITIVE_ARGS and value > (MAX_DEPTH if key in DEPTH_ARGS else MAX_ARG)
    ]
    if huge:
        raise InvalidInput(
            f"arguments for architecture {arch!r} too large to build: {', '.join(huge)}",
            fix=f"check its arch_args (at most {MAX_DEPTH:,} for {'/'.join(sorted(DEPTH_ARGS))}, else {MAX_ARG:,})",
        )
    try:
        return constructor(**arch_args)
    except TypeError as exc:
        raise InvalidInput(f"bad arguments for architecture {arch!r}: {exc}") from exc


__all__ = ["ARCHITECTURES", "RobNet", "build_architecture"]
