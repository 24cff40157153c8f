"""``config.json``: what a saved model is, in a versioned schema.

The config stores the architecture name and the exact keyword arguments of its constructor
(``arch``/``arch_args``), so building from a config and building from the registry are the
same call. ``schema_version`` lets later releases read older folders (and refuse newer ones
with a clear message instead of guessing).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from torch import nn

from .errors import IntegrityError, InvalidInput
from .genotype import Genotype
from .models import build_architecture

SCHEMA_VERSION = 1


def _version() -> str:
    from . import __version__

    return __version__


@dataclass(frozen=True)
class ModelConfig:
    """The config of one model; ``arch_args`` are passed as they are to the constructor."""

    name: str
    arch: str
    arch_args: dict[str, Any]
    num_classes: int
    dataset: str
    input_size: tuple[int, int, int]
    threat_model: dict[str, Any] = field(
        default_factory=lambda: {"norm": "Linf", "eps": 8 / 255}
    )
    schema_version: int = SCHEMA_VERSION
    robnetzoo_version: str = field(default_factory=_version)

    def with_overrides(self, **overrides: Any) -> "ModelConfig":
        """A copy with constructor arguments replaced (``num_classes`` updates both places)."""
        arch_args = {**self.arch_args, **overrides}
        num_classes = int(arch_args.get("num_classes", self.num_classes))
        return replace(self, arch_args=arch_args, num_classes=num_classes)

    def genotype(self) -> Genotype | None:
        codes = self.arch_args.get("genotype")
        return None if codes is None else Genotype.from_codes(codes)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["input_size"] = list(self.input_size)
        genotype = self.genotype()
        if genotype is not None:  # store the canonical list-of-lists form
            data["arch_args"]["genotype"] = genotype.to_json()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> "ModelConfig":
        if not isinstance(data, dict):
            raise IntegrityError(f"{source} is not a JSON object; re-save the model")
        version = data.get("schema_version", SCHEMA_VERSION)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise IntegrityError(
                f"{source} has schema_version {version!r}, newer than this robnetzoo reads "
                f"({SCHEMA_VERSION}); upgrade robnetzoo (pip install -U robnetzoo)"
            )
        missing = [k for k in ("name", "arch", "arch_args", "num_classes") if k not in data]
        if missing:
            raise IntegrityError(
                f"{source} lacks {', '.join(missing)}; it is not a robnetzoo config.json"
            )
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        values.setdefault("dataset", "unknown")
        values["input_size"] = tuple(values.get("input_size", (3, 32, 32)))
        return cls(**values)

    def save(self, path: str | Path) -> None:
        from ._io import atomic_write_text

        atomic_write_text(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "ModelConfig":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise IntegrityError(f"{path} is missing; a model folder needs config.json") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise IntegrityError(f"{path} is not valid JSON ({exc}); re-save the model") from exc
        return cls.from_dict(data, source=str(path))


def build_model(config: ModelConfig) -> nn.Module:
    """Build an untrained model from its config and attach the config as ``model.zoo_config``."""
    if config.arch_args.get("num_classes", config.num_classes) != config.num_classes:
        raise InvalidInput(
            f"config says num_classes={config.num_classes} but arch_args say "
            f"{config.arch_args['num_classes']}; make them agree"
        )
    model = build_architecture(config.arch, config.arch_args)
    model.zoo_config = config  # type: ignore[assignment]
    return model
