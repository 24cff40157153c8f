"""``config.json``: what a saved model is, in a versioned schema.

The config stores the architecture name and the exact keyword arguments of its constructor
(``arch``/``arch_args``), so building from a config and building from the registry are the
same call, and a registry entry simply *holds* the config it builds (``registry.ModelEntry``).
``schema_version`` lets later releases read older folders (and refuse newer ones with a clear
message instead of guessing).

A genotype is stored in one canonical form (a list of cells, each a list of 2-bit codes), so
two configs of the same architecture compare equal however their genotype was written.

This module imports no torch at import time: the registry, which ``import robnetzoo`` loads,
is built from configs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import IntegrityError, InvalidInput, option
from .genotype import Genotype
from .naming import check_name
from .threat import ThreatModel

if TYPE_CHECKING:
    from torch import nn

SCHEMA_VERSION = 1
# Bounds on what a config may describe, checked before anything is allocated (a config is often
# someone else's file): ImageNet's inputs and classes sit well inside them.
MAX_CHANNELS, MIN_SIDE, MAX_SIDE, MAX_CLASSES = 4, 8, 1024, 100_000
MAX_PARAMETERS = 1_000_000_000  # 4 GB of fp32 weights; the largest RobustBench models have under 0.3B


def _version() -> str:
    from ._version import __version__

    return __version__


def _canonical_arch_args(arch_args: dict[str, Any]) -> dict[str, Any]:
    args = dict(arch_args)
    if args.get("genotype") is not None:
        args["genotype"] = Genotype.from_codes(args["genotype"]).to_json()
    return args


@dataclass(frozen=True)
class ModelConfig:
    """The config of one model; ``arch_args`` are passed as they are to the constructor."""

    name: str
    arch: str
    arch_args: dict[str, Any]
    num_classes: int
    dataset: str
    input_size: tuple[int, int, int]
    threat_model: ThreatModel = field(default_factory=ThreatModel)
    derived_from: dict[str, Any] | None = None  # {"name": base, "changed": {...}} for a modified model
    schema_version: int = SCHEMA_VERSION
    robnetzoo_version: str = field(default_factory=_version)

    def __post_init__(self) -> None:
        object.__setattr__(self, "arch_args", _canonical_arch_args(self.arch_args))
        object.__setattr__(self, "threat_model", ThreatModel.from_dict(self.threat_model))
        object.__setattr__(self, "input_size", tuple(int(v) for v in self.input_size))
        check_name(self.name, "model name")
        check_name(self.dataset, "data set name")
        channels, height, width = self.input_size if len(self.input_size) == 3 else (0, 0, 0)
        if not (1 <= channels <= MAX_CHANNELS and MIN_SIDE <= height <= MAX_SIDE and MIN_SIDE <= width <= MAX_SIDE):
            raise InvalidInput(
                f"input_size {list(self.input_size)} is not an image size robnetzoo builds for",
                fix=f"give [channels, height, width] with 1-{MAX_CHANNELS} channels and sides of "
                f"{MIN_SIDE}-{MAX_SIDE} pixels",
            )
        if (
            isinstance(self.num_classes, bool)
            or not isinstance(self.num_classes, int)
            or not 2 <= self.num_classes <= MAX_CLASSES
        ):
            raise InvalidInput(
                f"num_classes {self.num_classes!r} is not a number of classes",
                fix=f"give a whole number from 2 to {MAX_CLASSES:,}",
            )

    def with_overrides(self, **overrides: Any) -> "ModelConfig":
        """A copy with constructor arguments replaced (``num_classes`` updates both places)."""
        arch_args = {**self.arch_args, **overrides}
        num_classes = int(arch_args.get("num_classes", self.num_classes))
        return replace(self, arch_args=arch_args, num_classes=num_classes)

    def genotype(self) -> Genotype | None:
        codes = self.arch_args.get("genotype")
        return None if codes is None else Genotype.from_codes(codes)

    def same_architecture(self, other: "ModelConfig") -> bool:
        """True when both build the same network (same arch and constructor arguments)."""
        return self.arch == other.arch and self.arch_args == other.arch_args

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "arch": self.arch,
            "arch_args": json.loads(json.dumps(self.arch_args)),
            "num_classes": self.num_classes,
            "dataset": self.dataset,
            "input_size": list(self.input_size),
            "threat_model": self.threat_model.to_dict(),
            **({"derived_from": json.loads(json.dumps(self.derived_from))} if self.derived_from else {}),
            "schema_version": self.schema_version,
            "robnetzoo_version": self.robnetzoo_version,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> "ModelConfig":
        if not isinstance(data, dict):
            raise IntegrityError(f"{source} is not a JSON object; re-save the model")
        version = data.get("schema_version", SCHEMA_VERSION)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise IntegrityError(
                f"{source} has schema_version {version!r}, which is not a version number (1, 2, ...); re-save the model"
            )
        if version > SCHEMA_VERSION:
            raise IntegrityError(
                f"{source} has schema_version {version!r}, newer than this robnetzoo reads "
                f"({SCHEMA_VERSION}); upgrade robnetzoo (pip install -U robnetzoo)"
            )
        missing = [k for k in ("name", "arch", "arch_args", "num_classes") if k not in data]
        if missing:
            raise IntegrityError(f"{source} lacks {', '.join(missing)}; it is not a robnetzoo config.json")
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in known}
        values.setdefault("dataset", "unknown")
        values["input_size"] = tuple(values.get("input_size", (3, 32, 32)))
        try:
            return cls(**values)
        except InvalidInput as exc:
            raise IntegrityError(f"{source}: {exc}") from None

    def save(self, path: str | Path) -> None:
        from ._io import write_json

        write_json(Path(path), self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "ModelConfig":
        path = Path(path)
        from ._io import read_json

        data = read_json(
            path,
            "model config.json",
            expect=dict,
            missing=f"{path} is missing; a model folder needs config.json",
            fix=f"re-save the model, or download it again ({option('force_download', True)})",
        )
        return cls.from_dict(data, source=str(path))


def config_of(model: Any) -> ModelConfig | None:
    """The robnetzoo configuration a model carries (``model.zoo_config``, set by
    ``build_model``, ``create_model`` and ``from_pretrained``), or None for any other model.
    The one way to ask; nothing else reads the attribute."""
    config = getattr(model, "zoo_config", None)
    return config if isinstance(config, ModelConfig) else None


def attach_config(model: "nn.Module", config: ModelConfig) -> "nn.Module":
    """Give ``model`` its configuration (what ``config_of`` reads back)."""
    model.zoo_config = config  # type: ignore[assignment]
    return model


def build_model(config: ModelConfig) -> "nn.Module":
    """Build an untrained model from its config and attach the config as ``model.zoo_config``."""
    import torch

    from .models import build_architecture

    if config.arch_args.get("num_classes", config.num_classes) != config.num_classes:
        raise InvalidInput(
            f"config says num_classes={config.num_classes} but arch_args say "
            f"{config.arch_args['num_classes']}; make them agree"
        )
    if torch.get_default_device().type != "meta":  # first on the meta device: its size costs nothing
        with torch.device("meta"):
            size = sum(p.numel() for p in build_architecture(config.arch, config.arch_args).parameters())
        if size > MAX_PARAMETERS:
            raise InvalidInput(
                f"{config.name}'s config describes {size:,} parameters ({size * 4 / 1e9:.0f} GB), more "
                f"than robnetzoo builds ({MAX_PARAMETERS:,})",
                fix="check its arch_args (C, layers, width)",
            )
    return attach_config(build_architecture(config.arch, config.arch_args), config)
