"""Scoring one candidate architecture: the three scorers of the search.

* ``inherited``: the candidate's stand-alone RobNet is extracted from the supernet
  (``supernet.extract``), its BatchNorm statistics are recalibrated on training images (the
  supernet's running statistics mix every sub-network, so a sub-network judged with them is
  judged unfairly: the usual one-shot NAS remedy), and ``robnetzoo.evaluate`` measures clean
  and white-box robust accuracy on the *validation* split.
* ``fsp``: the same extracted network; the FSP loss of every cell (``analysis.fsp_loss``)
  between clean validation images and their adversarial examples, raw (the paper's
  definition) and relative to the clean FSP matrix's size. Ranks by the mean *relative* loss
  over the deeper cells (the last stage), lower first (Finding 3): the raw loss grows with a
  cell's feature size, so across architectures it mostly measures density, not robustness.
* ``finetune``: the extracted network trained by the one engine (``Trainer``) for the finetune
  recipe's epochs, then judged like ``inherited`` (the paper's protocol: 3 epochs of PGD-7).

``screen`` runs the two cheap ones together (they share the extraction and recalibration) and
records the candidate's facts; ``finetune`` the expensive one. Each candidate's randomness
(calibration images, attack noise, finetuning) is a function of (seed, candidate index), never
of the process that scores it, and it runs ``distributed.alone``: under torchrun, candidates
are dealt to ranks, and a candidate's numbers do not depend on how many there are.

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

from robnetzoo import attacks as attack_suite
from robnetzoo import distributed
from robnetzoo.config import build_model
from robnetzoo.data import first_n, take
from robnetzoo.evaluation import evaluate
from robnetzoo.genotype import Genotype
from robnetzoo.profile import count_macs, count_parameters
from robnetzoo.registry import FAMILY_C, FAMILY_LAYERS, robnet_config
from robnetzoo.seeding import derive_seed

from .analysis import conv_counts, fsp_loss
from .settings import SearchSettings
from .supernet import Supernet, extract
from .training import Trainer



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


def describe(genotype: Genotype, *, num_classes: int = 10, C: int = FAMILY_C, layers: int = FAMILY_LAYERS) -> dict[str, Any]:
    """Size and shape facts of a genotype's final-size network (parameters and MACs at 32x32)."""
    model = build_model(robnet_config("candidate", genotype, C=C, layers=layers, num_classes=num_classes))
    return {
        "genotype": str(genotype),
        "density": genotype.density(),
        "convs": conv_counts(genotype),
        "parameters": count_parameters(model),
        "macs": count_macs(model, (3, 32, 32)),
    }


def candidate_seed(seed: int, index: int) -> int:
    """The seed of everything random about candidate ``index`` (never of the rank)."""
    return derive_seed(seed, "candidate", index)


def deep_cells(layers: int) -> list[int]:
    """The deeper cells whose FSP loss the ``fsp`` scorer ranks by: the last stage (from the
    second reduction cell on), where the paper saw robust and non-robust networks part."""
    return list(range(2 * layers // 3, layers))


def _inherited_model(supernet: Supernet, genotype: Genotype, calibration: Dataset, settings: SearchSettings,
                     index: int, device: torch.device) -> nn.Module:
    model = extract(supernet, genotype).to(device)
    generator = torch.Generator().manual_seed(candidate_seed(settings.seed, index))
    n = len(calibration)  # type: ignore[arg-type]
    chosen = torch.randperm(n, generator=generator)[: min(settings.calibration_images, n)].tolist()
    return recalibrate_batchnorm(model, calibration, chosen)


def _judge(model: nn.Module, validation: Dataset, settings: SearchSettings, index: int,
           device: torch.device) -> dict[str, float]:
    threat = settings.supernet.threat_model
    report = evaluate(model, validation, attacks=[settings.score_attack], norm=threat.norm, eps=threat.eps,
                      n_examples=settings.score_examples, device=device, seed=candidate_seed(settings.seed, index))
    return {"clean": report.clean_accuracy, "robust": report.robust_accuracy[settings.score_attack]}


def cell_fsp_losses(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, settings: SearchSettings,
                    index: int) -> tuple[list[float], list[float]]:
    """Per cell, the FSP loss between ``images`` and their adversarial examples (the scoring
    attack at the search's threat model, seeded by the candidate): raw and relative."""
    attack = attack_suite.build(settings.score_attack, model, threat_model=settings.supernet.threat_model,
                                validate=False)
    attack.seed = derive_seed(settings.seed, "candidate-attack", index)
    adversarial = attack(images, labels)
    with torch.no_grad():
        clean = model.forward_features(images, include_stem=True)  # type: ignore[operator]
        adv = model.forward_features(adversarial, include_stem=True)  # type: ignore[operator]
    cells = range(len(clean) - 1)
    return ([float(fsp_loss(clean[c], clean[c + 1], adv[c], adv[c + 1])) for c in cells],
            [float(fsp_loss(clean[c], clean[c + 1], adv[c], adv[c + 1], relative=True)) for c in cells])


def screen(supernet: Supernet, genotype: Genotype, *, index: int, space: str, validation: Dataset,
           calibration: Dataset, settings: SearchSettings, device: str | torch.device = "cpu") -> dict[str, Any]:
    """The cheap scores of candidate ``index`` from the supernet's weights: ``inherited``
    (clean and robust validation accuracy) and ``fsp`` (per-cell FSP losses), with its facts
    (``describe``) and the seconds each scorer took (extraction and recalibration counted in
    both, since either alone needs them)."""
    device = torch.device(device)
    with distributed.alone():
        began = time.perf_counter()
        model = _inherited_model(supernet, genotype, calibration, settings, index, device)
        prepared = time.perf_counter() - began
        began = time.perf_counter()
        inherited = _judge(model, validation, settings, index, device)
        inherited["seconds"] = prepared + time.perf_counter() - began
        began = time.perf_counter()
        images, labels = take(validation, list(range(min(settings.fsp_examples, len(validation)))))  # type: ignore[arg-type]
        cells, relative = cell_fsp_losses(model, images.to(device), labels.to(device), settings, index)
        deep = deep_cells(len(cells))
        fsp = {"cells": cells, "relative_cells": relative, "deep_loss": sum(relative[c] for c in deep) / len(deep),
               "deep_raw_loss": sum(cells[c] for c in deep) / len(deep), "seconds": prepared + time.perf_counter() - began}
    facts = describe(genotype, num_classes=supernet.num_classes)
    return {"stage": "screen", "index": index, "space": space, **facts, "inherited": inherited, "fsp": fsp,
            "seconds": inherited["seconds"] + fsp["seconds"] - prepared}


def finetune(supernet: Supernet, genotype: Genotype, *, index: int, space: str, train: Dataset,
             validation: Dataset, settings: SearchSettings, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Candidate ``index`` finetuned from the supernet's weights by the finetune recipe (the
    one training engine, no checkpoints: a candidate is short), then judged on validation."""
    device = torch.device(device)
    with distributed.alone():
        began = time.perf_counter()
        model = extract(supernet, genotype)
        recipe = settings.finetune
        data = train if recipe.train_examples is None else first_n(train, recipe.train_examples)  # the same for all
        trainer = Trainer(model, recipe, data, None, device=device, seed=candidate_seed(settings.seed, index))
        trainer.fit()
        scores = _judge(trainer.module.eval(), validation, settings, index, device)
    return {"stage": "finetune", "index": index, "space": space, "genotype": str(genotype),
            "epochs": recipe.epochs, **scores, "seconds": time.perf_counter() - began}
