"""What the evaluator judges: a *target*, i.e. anything that turns images into logits.

A target has ``logits(images) -> tensor``, ``num_classes`` and ``fingerprint`` (a short string
that changes when its function changes, so ``--resume`` refuses results of another model);
optionally ``name`` and ``device`` (where its inputs go; CPU if absent). An ONNX Runtime or
TensorRT session is a target; so is a torch model, wrapped here as ``TorchTarget``.

Gradient attacks need a differentiable torch module: a target offers one as ``module`` (a
``TorchTarget`` does). A target without one is judged on adversarial examples crafted on a
torch ``source`` model (transfer evaluation), or by score-based attacks that only read logits.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from ..config import config_of
from ..errors import InvalidInput
from ..fast import Prepared, prepare_for_attack
from ..weights import weights_fingerprint


@runtime_checkable
class Target(Protocol):
    num_classes: int
    fingerprint: str

    def logits(self, images: torch.Tensor) -> torch.Tensor: ...


class TorchTarget:
    """A torch model as a target: an eval-mode copy, BN folded and channels_last by default.

    The caller's model is never touched (its mode, its BN statistics). ``module`` is the
    differentiable copy the attacks run on; ``prepared`` records what was applied to it.
    """

    def __init__(
        self,
        model: nn.Module,
        device: torch.device,
        *,
        fold_bn: bool = True,
        channels_last: bool = True,
    ) -> None:
        self.prepared: Prepared = prepare_for_attack(model, device, fold=fold_bn, channels_last=channels_last)
        self.module = self.prepared.module
        self.device = device
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        config = config_of(model)
        self.name = config.name if config is not None else type(model).__name__
        self.fingerprint = weights_fingerprint(model)
        self.num_classes = int(config.num_classes) if config is not None else -1

    def inputs(self, images: torch.Tensor) -> torch.Tensor:
        return images.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)

    def probe_num_classes(self, example: torch.Tensor) -> int:
        """For a model without a zoo config: one forward pass on the eval-mode copy."""
        if self.num_classes < 0:
            with torch.inference_mode():
                self.num_classes = int(self.module(self.inputs(example[:1])).shape[1])
        return self.num_classes

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.module(self.inputs(images))


def as_target(
    model: Any, device: torch.device, *, fold_bn: bool = True, channels_last: bool = True
) -> "TorchTarget | Target":
    """An ``nn.Module`` becomes a ``TorchTarget``; anything else must already be a target."""
    if isinstance(model, nn.Module):
        return TorchTarget(model, device, fold_bn=fold_bn, channels_last=channels_last)
    missing = [a for a in ("logits", "num_classes", "fingerprint") if not hasattr(model, a)]
    if missing:
        raise InvalidInput(
            f"cannot evaluate a {type(model).__name__}: it is neither a torch nn.Module nor a target "
            f"(it lacks {', '.join(missing)}); wrap it with logits(images), num_classes and fingerprint"
        )
    return model


def target_inputs(target: Any, images: torch.Tensor) -> torch.Tensor:
    """Images placed where ``target`` wants them."""
    if isinstance(target, TorchTarget):
        return target.inputs(images)
    return images.to(getattr(target, "device", "cpu"))


def gradient_module(target: Any) -> nn.Module | None:
    """The differentiable torch module behind a target, if it has one."""
    module = getattr(target, "module", None)
    return module if isinstance(module, nn.Module) else None


class TargetModule(nn.Module):
    """A target seen as an ``nn.Module`` (forward = its logits), for score-based attacks, which
    only read logits and so can run on a runtime without gradients."""

    def __init__(self, target: Any) -> None:
        super().__init__()
        self.target = target

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.target.logits(images).to(images.device)
