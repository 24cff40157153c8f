"""Scoring one candidate architecture (groundwork for the search's leaderboard).

``score_inherited``: the candidate's stand-alone RobNet is extracted from the supernet
(``supernet.extract``), its BatchNorm statistics are recalibrated on training images (the
supernet's running statistics mix every sub-network, so a sub-network judged with them is
judged unfairly: the usual one-shot NAS remedy), and ``robnetzoo.evaluate`` measures clean and
white-box robust accuracy on the *validation* split. Each candidate's randomness is a function
of (seed, candidate index), never of the process that scores it.

``describe`` records what the leaderboard shows beside the scores: density, convolutions on
direct and skip edges, and parameters and MACs of the final-size network (C=36, 20 cells by
default, the paper's size).
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from robnetzoo.config import ModelConfig, build_model
from robnetzoo.data import take
from robnetzoo.evaluation import evaluate
from robnetzoo.genotype import Genotype
from robnetzoo.profile import count_macs, count_parameters
from robnetzoo.threat import ThreatModel

from .analysis import conv_counts
from .supernet import Supernet, extract

FINAL_C, FINAL_LAYERS = 36, 20


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, data: Dataset, indices: list[int], batch_size: int = 64) -> nn.Module:
    """Replace every BatchNorm's running statistics by the exact mean and unbiased variance of
    its inputs over ``data[indices]`` (whatever the batch split), then put the model in eval mode.

    The forward runs in train mode, so each layer normalises with batch statistics as during
    training; per-channel sums are accumulated by hooks (``momentum=None`` would average batch
    means with equal weights and miss the variance between batches)."""
    sums: dict[nn.Module, list[Any]] = {}

    def accumulate(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        x = inputs[0].detach().double()
        totals = sums.setdefault(module, [0, 0.0, 0.0])
        totals[0] += x.numel() // x.shape[1]
        totals[1] = totals[1] + x.sum(dim=(0, 2, 3))
        totals[2] = totals[2] + x.pow(2).sum(dim=(0, 2, 3))

    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    handles = [m.register_forward_pre_hook(accumulate) for m in norms]
    model.train()
    try:
        for start in range(0, len(indices), batch_size):
            images, _ = take(data, indices[start : start + batch_size])
            model(images.to(next(model.parameters()).device))
    finally:
        for handle in handles:
            handle.remove()
    for module in norms:
        if module not in sums:  # on a path this forward never took
            continue
        count, total, squares = sums[module]
        mean = total / count
        module.running_mean.copy_(mean.to(module.running_mean.dtype))
        module.running_var.copy_(((squares - count * mean.pow(2)) / max(count - 1, 1)).to(module.running_var.dtype))
    return model.eval()


def describe(genotype: Genotype, *, num_classes: int = 10, C: int = FINAL_C, layers: int = FINAL_LAYERS) -> dict[str, Any]:
    """Size and shape facts of a genotype's final-size network (parameters and MACs at 32x32)."""
    if not genotype.shared and len(genotype.cells) != layers:
        layers = len(genotype.cells)
    config = ModelConfig(
        name="candidate", arch="robnet", dataset="cifar10", input_size=(3, 32, 32), num_classes=num_classes,
        arch_args={"genotype": genotype.to_json(), "C": C, "layers": layers, "num_classes": num_classes},
    )
    model = build_model(config)
    return {
        "genotype": str(genotype),
        "density": genotype.density(),
        "convs": conv_counts(genotype),
        "parameters": count_parameters(model),
        "macs": count_macs(model, (3, 32, 32)),
    }


def score_inherited(
    supernet: Supernet,
    genotype: Genotype,
    validation: Dataset,
    calibration: Dataset,
    *,
    index: int,
    seed: int = 0,
    attack: str = "pgd7",
    threat_model: ThreatModel | None = None,
    calibration_images: int = 256,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """The ``inherited`` score of candidate ``index``: clean and robust validation accuracy of
    its extracted, BN-recalibrated network. The calibration images are drawn from
    (seed, index), so any process scoring this candidate gets the same numbers."""
    began = time.perf_counter()
    model = extract(supernet, genotype).to(device)
    generator = torch.Generator().manual_seed(seed * 1_000_003 + index)
    n = len(calibration)  # type: ignore[arg-type]
    chosen = torch.randperm(n, generator=generator)[: min(calibration_images, n)].tolist()
    recalibrate_batchnorm(model, calibration, chosen)
    threat = threat_model or ThreatModel()
    report = evaluate(model, validation, attacks=[attack], norm=threat.norm, eps=threat.eps, device=device,
                      seed=seed * 1_000_003 + index)
    return {
        "index": index, "scorer": "inherited", "clean": report.clean_accuracy,
        "robust": report.robust_accuracy[attack], "attack": attack, "seconds": time.perf_counter() - began,
    }
