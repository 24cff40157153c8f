"""robnetzoo: a model zoo for adversarially robust networks, built around RobNets.

    import robnetzoo
    robnetzoo.list_models("robnet-*")
    model = robnetzoo.from_pretrained("robnet-large")          # eval mode, inputs in [0, 1]
    report = robnetzoo.evaluate(model, robnetzoo.load_dataset("cifar10"), attacks=["pgd20"])

Heavy submodules load on first use, so ``import robnetzoo`` stays fast and never pulls in
onnx, onnxruntime or tensorrt.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__ as __version__  # re-exported: robnetzoo.__version__
from .errors import IntegrityError, InvalidInput, MissingDependency, NotFound, RobnetzooError
from .registry import list_models

_LAZY = {
    "create_model": "factory",
    "from_pretrained": "hub",
    "save_pretrained": "hub",
    "push_to_hub": "hub",
    "convert_checkpoint": "convert",
    "load_dataset": "data",
    "evaluate": "evaluation",
    "EvalReport": "evaluation",
    "ThreatModel": "threat",
    "Genotype": "genotype",
    "ModelConfig": "config",
}
_SUBMODULES = {"attacks", "data", "models", "registry", "hub", "genotype", "convert", "config", "evaluation", "threat"}

__all__ = [
    "list_models",
    "create_model",
    "from_pretrained",
    "save_pretrained",
    "push_to_hub",
    "convert_checkpoint",
    "load_dataset",
    "evaluate",
    "EvalReport",
    "Genotype",
    "ModelConfig",
    "ThreatModel",
    "attacks",
    "RobnetzooError",
    "InvalidInput",
    "NotFound",
    "IntegrityError",
    "MissingDependency",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'robnetzoo' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
