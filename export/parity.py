"""Parity of a runtime with torch: how far the logits move and whether the prediction holds, on
clean images and on adversarial ones (crafted on the torch model: an attack's examples sit
near decision boundaries, where a runtime's rounding flips predictions first)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from robnetzoo import attacks as attack_suite
from robnetzoo.threat import ThreatModel
from robnetzoo.config import config_of


def compare(reference: torch.Tensor, logits: torch.Tensor) -> dict[str, float]:
    """Max |logit difference| and top-1 agreement (%) of two logit batches."""
    reference, logits = reference.float().cpu(), logits.float().cpu()
    return {
        "max_abs_diff": float((reference - logits).abs().max()),
        "top1_agreement": 100.0 * float((reference.argmax(1) == logits.argmax(1)).float().mean()),
        "n": len(reference),
    }


def parity(model: nn.Module, target: Any, images: torch.Tensor, labels: torch.Tensor, *, attack: str = "pgd7",
           threat_model: ThreatModel | None = None, seed: int = 0) -> dict[str, Any]:
    """``target`` (a runtime) against ``model`` (torch, eval mode, fp32) on ``images`` and on
    ``attack``'s adversarial examples of them."""
    model = model.eval()
    device = next(model.parameters()).device  # torch runs where the model is; the target moves images itself
    images, labels = images.to(device), labels.to(device)
    config = config_of(model)
    threat = threat_model or (config.threat_model if config is not None else None) or ThreatModel()
    with torch.no_grad():
        clean = compare(model(images), target.logits(images))
    crafted = attack_suite.build(attack, model, threat_model=threat, seed=seed)(images, labels)
    with torch.no_grad():
        adversarial = compare(model(crafted), target.logits(crafted))
    return {"clean": clean, "adversarial": adversarial, "attack": attack, "threat_model": threat.to_dict()}
