"""Parity of a runtime with torch: how far the logits move and whether the prediction holds, on
clean images and on adversarial ones (crafted on the torch model: an attack's examples sit
near decision boundaries, where a runtime's rounding flips predictions first).

``parity_of_each`` crafts the adversarial examples once and judges several targets on them
(an int8 graph on its kernels, the same graph in float, a default session): their figures
differ only by the target, never by the examples.

Without test images of the model's own data set, ``synthetic_images`` stands in: seeded
uniform noise in the model's input range, labelled by the torch model's own predictions (the
attack then pushes each image away from what torch says). Reports say which was used.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from robnetzoo import attacks as attack_suite
from robnetzoo.config import config_of
from robnetzoo.seeding import derive_seed
from robnetzoo.threat import ThreatModel


def compare(reference: torch.Tensor, logits: torch.Tensor) -> dict[str, float]:
    """Max |logit difference| and top-1 agreement (%) of two logit batches."""
    reference, logits = reference.float().cpu(), logits.float().cpu()
    return {
        "max_abs_diff": float((reference - logits).abs().max()),
        "top1_agreement": 100.0 * float((reference.argmax(1) == logits.argmax(1)).float().mean()),
        "n": len(reference),
    }


def parity_of_each(
    model: nn.Module,
    targets: Mapping[str, Any],
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    attack: str = "pgd7",
    threat_model: ThreatModel | None = None,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Each of ``targets`` (runtimes) against ``model`` (torch, eval mode, fp32) on ``images``
    and on ``attack``'s adversarial examples of them, crafted once for all."""
    model = model.eval()
    device = next(model.parameters()).device  # torch runs where the model is; a target moves images itself
    images, labels = images.to(device), labels.to(device)
    config = config_of(model)
    threat = threat_model or (config.threat_model if config is not None else None) or ThreatModel()
    crafted = attack_suite.build(attack, model, threat_model=threat, seed=seed)(images, labels)
    with torch.no_grad():
        reference_clean, reference_adversarial = model(images), model(crafted)
        return {
            name: {
                "clean": compare(reference_clean, target.logits(images)),
                "adversarial": compare(reference_adversarial, target.logits(crafted)),
                "attack": attack,
                "threat_model": threat.to_dict(),
            }
            for name, target in targets.items()
        }


def parity(
    model: nn.Module,
    target: Any,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    attack: str = "pgd7",
    threat_model: ThreatModel | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """``target`` against ``model``: ``parity_of_each`` with one target."""
    return parity_of_each(
        model, {"target": target}, images, labels, attack=attack, threat_model=threat_model, seed=seed
    )["target"]


def synthetic_images(
    model: nn.Module, n: int, input_size: tuple[int, ...] | list[int], *, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` seeded uniform images in [0, 1] of ``input_size``, labelled by ``model``'s predictions."""
    generator = torch.Generator().manual_seed(derive_seed(seed, "parity-images"))
    images = torch.rand(n, *input_size, generator=generator)
    device = next(model.parameters()).device
    with torch.no_grad():
        labels = torch.cat([model.eval()(part.to(device)).argmax(1).cpu() for part in images.split(256)])
    return images, labels
