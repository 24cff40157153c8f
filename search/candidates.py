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
  recipe's epochs, recalibrated like the others, then judged like ``inherited`` (the paper's
  protocol: 3 epochs of PGD-7); its FSP losses are measured again on the finetuned weights.

``screen`` runs the two cheap ones together (they share the extraction and recalibration) and
records the candidate's facts; ``finetune`` the expensive one. Every score is measured under
common random numbers, so candidates differ by their architecture alone: the same
recalibration images, the same scoring images and the same attack noise for every candidate
(``score_seed``). Only a finetuning's own randomness is the candidate's (``candidate_seed``).
Each runs ``distributed.alone``: under torchrun, candidates are dealt to ranks, and a
candidate's numbers do not depend on how many there are.

``describe`` records what the leaderboard shows beside the scores: density (overall and per
cell), convolutions and identity bits, convolutions on direct and skip edges, and parameters
and MACs of the final-size network (C=36, 20 cells; a cell-free genotype stretched to 20 cells
by ``supernet.at_depth``).
"""

from __future__ import annotations

import copy
import functools
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from robnetzoo import attacks as attack_suite
from robnetzoo import distributed
from robnetzoo.config import build_model
from robnetzoo.data import first_n, take
from robnetzoo.evaluation import evaluate
from robnetzoo.evaluation.store import read_results_file
from robnetzoo.genotype import Genotype
from robnetzoo.profile import count_macs, count_parameters
from robnetzoo.registry import FAMILY_C, FAMILY_LAYERS, robnet_config
from robnetzoo.seeding import derive_seed
from robnetzoo.stats import wilson_interval

from .analysis import conv_counts, deep_cells, fsp_loss
from .sampling import DIRECT_READINGS, cell_densities
from .settings import SearchSettings
from .supernet import Supernet, at_depth, extract
from .training import Trainer, search_channels_last


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


def describe(
    genotype: Genotype, *, num_classes: int = 10, C: int = FAMILY_C, layers: int = FAMILY_LAYERS
) -> dict[str, Any]:
    """Size and shape facts of a genotype and of its final-size network (parameters and MACs at
    32x32; a cell-free genotype at ``layers`` cells, stretched by ``at_depth``).

    A pure function of its arguments that costs about half a second (building a 20-cell network
    and counting its MACs), so it is remembered per process: a resumed search and a study that
    re-screens the search's candidates count each genotype once. Callers get their own copy."""
    return copy.deepcopy(_describe(str(genotype), num_classes, C, layers))


@functools.lru_cache(maxsize=4096)
def _describe(text: str, num_classes: int, C: int, layers: int) -> dict[str, Any]:
    genotype = Genotype.parse(text)
    final = genotype if genotype.shared else at_depth(genotype, layers)
    with torch.device("meta"):  # shapes are all the counts need: no weights to initialise
        model = build_model(robnet_config("candidate", final, C=C, layers=layers, num_classes=num_classes))
    per_cell = [sum(code[1] == "1" for code in cell) for cell in genotype.cells]
    return {
        "genotype": str(genotype),
        "density": genotype.density(),
        "cell_densities": cell_densities(genotype),
        "convs": {reading: conv_counts(genotype, reading) for reading in DIRECT_READINGS},
        "convs_per_cell": sum(per_cell) / len(per_cell),
        "cell_convs": per_cell,
        "identity_bits": sum(code[0] == "1" for cell in genotype.cells for code in cell) / len(genotype.cells),
        "parameters": count_parameters(model),
        "macs": count_macs(model, (3, 32, 32)),
    }


def candidate_seed(seed: int, index: int) -> int:
    """The seed of a candidate's own randomness (its finetuning), never of the rank."""
    return derive_seed(seed, "candidate", index)


def score_seed(seed: int, what: str = "score-attack") -> int:
    """The seed shared by every candidate's score (common random numbers): the attack noise
    (``what="score-attack"``, ``"fsp-attack"``) and the recalibration images (``"calibration"``)."""
    return derive_seed(seed, what)


def calibration_indices(calibration: Dataset, settings: SearchSettings) -> list[int]:
    """The training images every score recalibrates BatchNorm on (the same for all)."""
    generator = torch.Generator().manual_seed(score_seed(settings.seed, "calibration"))
    n = len(calibration)  # type: ignore[arg-type]
    return torch.randperm(n, generator=generator)[: min(settings.calibration_images, n)].tolist()


def _inherited_model(
    supernet: Supernet, genotype: Genotype, calibration: Dataset, settings: SearchSettings, device: torch.device
) -> nn.Module:
    model = extract(supernet, genotype).to(device)
    return recalibrate_batchnorm(model, calibration, calibration_indices(calibration, settings))


def judge(
    model: nn.Module, images: Dataset, settings: SearchSettings, device: torch.device, n_examples: int | None = None
) -> dict[str, Any]:
    """Clean and robust accuracy on the first ``n_examples`` of ``images`` (the search's
    scoring images by default) under the scoring attack and the shared attack seed, with the
    counts and 95% Wilson intervals, and ``robust_bits`` (one character per image, ``1`` when
    it stayed correctly classified under the attack): the same images and noise for every
    candidate, so two candidates' bits pair up image by image."""
    threat = settings.supernet.threat_model
    with tempfile.TemporaryDirectory() as scratch:  # the per-image marks, for paired tests between candidates
        results = Path(scratch) / "results.jsonl"
        report = evaluate(
            model,
            images,
            attacks=[settings.score_attack],
            norm=threat.norm,
            eps=threat.eps,
            n_examples=n_examples or settings.score_examples,
            device=device,
            seed=score_seed(settings.seed),
            output=results,
            warn=False,  # a search scores weak candidates by design: near chance is a reading, not a fault
        )
        marks = read_results_file(results)["results"][settings.score_attack]
    robust = report.counts["robust"][settings.score_attack]
    return {
        "clean": report.clean_accuracy,
        "robust": report.robust_accuracy[settings.score_attack],
        "n": report.n_examples,
        "robust_correct": robust,
        "robust_interval": list(wilson_interval(robust, report.n_examples)),
        "robust_bits": "".join("1" if mark == "1" else "0" for mark in marks),
    }


def inherited_score(
    supernet: Supernet,
    genotype: Genotype,
    *,
    images: Dataset,
    calibration: Dataset,
    settings: SearchSettings,
    device: str | torch.device = "cpu",
    n_examples: int | None = None,
) -> dict[str, Any]:
    """The ``inherited`` score of one genotype alone (Finding 2's pairs, the hold-out re-score)."""
    device = torch.device(device)
    with distributed.alone():
        began = time.perf_counter()
        model = _inherited_model(supernet, genotype, calibration, settings, device)
        return {**judge(model, images, settings, device, n_examples), "seconds": time.perf_counter() - began}


def cell_fsp_losses(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, settings: SearchSettings
) -> tuple[list[float], list[float]]:
    """Per cell, the FSP loss between ``images`` and their adversarial examples (the scoring
    attack at the search's threat model, its noise shared by every candidate): raw and relative."""
    attack = attack_suite.build(
        settings.score_attack, model, threat_model=settings.supernet.threat_model, validate=False
    )
    attack.seed = score_seed(settings.seed, "fsp-attack")
    adversarial = attack(images, labels)
    with torch.no_grad():
        clean = model.cell_outputs(images, include_stem=True)  # type: ignore[operator]
        adv = model.cell_outputs(adversarial, include_stem=True)  # type: ignore[operator]
    cells = range(len(clean) - 1)
    return (
        [float(fsp_loss(clean[c], clean[c + 1], adv[c], adv[c + 1])) for c in cells],
        [float(fsp_loss(clean[c], clean[c + 1], adv[c], adv[c + 1], relative=True)) for c in cells],
    )


def fsp_scores(model: nn.Module, validation: Dataset, settings: SearchSettings, device: torch.device) -> dict[str, Any]:
    """Per-cell FSP losses on the first ``fsp_examples`` validation images, and their means
    over the deeper cells (``deep_raw_loss``: the paper's quantity; ``deep_loss``: relative)."""
    images, labels = take(validation, list(range(min(settings.fsp_examples, len(validation)))))  # type: ignore[arg-type]
    cells, relative = cell_fsp_losses(model, images.to(device), labels.to(device), settings)
    deep = deep_cells(len(cells))
    return {
        "cells": cells,
        "relative_cells": relative,
        "deep_loss": sum(relative[c] for c in deep) / len(deep),
        "deep_raw_loss": sum(cells[c] for c in deep) / len(deep),
    }


def screen(
    supernet: Supernet,
    genotype: Genotype,
    *,
    index: int,
    space: str,
    validation: Dataset,
    calibration: Dataset,
    settings: SearchSettings,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """The cheap scores of candidate ``index`` from the supernet's weights: ``inherited``
    (clean and robust validation accuracy) and ``fsp`` (per-cell FSP losses), with its facts
    (``describe``) and the seconds each scorer took (extraction and recalibration counted in
    both, since either alone needs them)."""
    device = torch.device(device)
    with distributed.alone():
        began = time.perf_counter()
        model = _inherited_model(supernet, genotype, calibration, settings, device)
        prepared = time.perf_counter() - began
        began = time.perf_counter()
        inherited = judge(model, validation, settings, device)
        inherited["seconds"] = prepared + time.perf_counter() - began
        began = time.perf_counter()
        fsp = {**fsp_scores(model, validation, settings, device), "seconds": prepared + time.perf_counter() - began}
    facts = describe(genotype, num_classes=supernet.num_classes)
    return {
        "stage": "screen",
        "index": index,
        "space": space,
        **facts,
        "inherited": inherited,
        "fsp": fsp,
        "seconds": inherited["seconds"] + fsp["seconds"] - prepared,
    }


def finetuned_model(
    supernet: Supernet, genotype: Genotype, *, train: Dataset, settings: SearchSettings, seed: int, device: torch.device
) -> nn.Module:
    """The genotype extracted and finetuned by the finetune recipe (the one training engine, no
    checkpoints: a candidate is short), then recalibrated on the images every score uses."""
    recipe = settings.finetune
    data = train if recipe.train_examples is None else first_n(train, recipe.train_examples)  # the same for all
    trainer = Trainer(
        extract(supernet, genotype),
        recipe,
        data,
        None,
        device=device,
        seed=seed,
        channels_last=search_channels_last(device),
    )
    trainer.fit()
    return recalibrate_batchnorm(trainer.module, train, calibration_indices(train, settings))


def finetune(
    supernet: Supernet,
    genotype: Genotype,
    *,
    index: int,
    space: str,
    train: Dataset,
    validation: Dataset,
    settings: SearchSettings,
    device: str | torch.device = "cpu",
    seed: int | None = None,
) -> dict[str, Any]:
    """Candidate ``index`` finetuned from the supernet's weights, then judged on validation
    like the proxies (same recalibration, images and attack noise), with its FSP losses on the
    finetuned weights. ``seed`` (default: the candidate's) seeds the finetuning alone."""
    device = torch.device(device)
    with distributed.alone():
        began = time.perf_counter()
        seed = candidate_seed(settings.seed, index) if seed is None else seed
        model = finetuned_model(supernet, genotype, train=train, settings=settings, seed=seed, device=device)
        trained = time.perf_counter() - began
        scores = judge(model, validation, settings, device)
        seconds = time.perf_counter() - began
        fsp = fsp_scores(model, validation, settings, device)
    return {
        "stage": "finetune",
        "index": index,
        "space": space,
        "genotype": str(genotype),
        "epochs": settings.finetune.epochs,
        **scores,
        "fsp": fsp,
        "seconds": seconds,
        "train_seconds": trained,
    }
