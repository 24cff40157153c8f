"""What the tests share: small real artifacts in the formats the project reads (a tiny RobNet
config, CIFAR-10's pickled batches, an authors' checkpoint), a few seconds' training on the
built-in digits, and the tiny search and training settings. The loopback Hub is in
``tests/support/hubserver.py``. Tests import from here, never from one another."""

from __future__ import annotations

import collections
from pathlib import Path

import torch


def tiny_config(name: str = "tiny-robnet", num_classes: int = 10, dataset: str = "digits", width: int = 8):
    from robnetzoo.config import ModelConfig
    from robnetzoo.registry import ROBNET_LARGE_CELL

    return ModelConfig(
        name=name,
        arch="robnet",
        arch_args={"genotype": [ROBNET_LARGE_CELL], "C": width, "layers": 3, "num_classes": num_classes},
        num_classes=num_classes,
        dataset=dataset,
        input_size=(3, 32, 32),
    )


def randomise_bn(model: torch.nn.Module) -> None:
    """Give BatchNorm statistics non-default values so a lost buffer changes the logits."""
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)


def leaderboard_row(**values):
    """A search's ``LeaderboardRow`` with neutral values for every field a test does not name."""
    from robnetzoo.search.leaderboard import LeaderboardRow

    neutral = dict(
        index=0,
        space="cell",
        genotype="01" * 14,
        density=0.5,
        cell_densities=[0.5],
        convs_per_cell=7.0,
        cell_convs=[7],
        identity_bits=7.0,
        direct_convs=2.0,
        skip_convs=5.0,
        chain_direct_convs=2.0,
        chain_skip_convs=5.0,
        parameters=0,
        macs=0,
        score_n=32,
        inherited_robust=None,
        inherited_clean=None,
        inherited_interval=None,
        supernets=1,
        supernet_robust=[],
        fsp_loss=0.0,
        fsp_raw_loss=0.0,
        fsp_cells=[],
        fsp_relative_cells=[],
        finetune_robust=None,
        finetune_clean=None,
        finetune_interval=None,
        finetune_fsp_cells=None,
        seconds=1.0,
        screen_seconds={"inherited": 1.0, "fsp": 2.0},
        finetune_seconds=None,
        fsp_kept=None,
    )
    return LeaderboardRow(**{**neutral, **values})


def write_cifar10(root: Path, n_train_per_batch: int = 4, n_test: int = 6) -> Path:
    """torchvision's on-disk CIFAR-10 format: pickled dicts with bytes keys."""
    from robnetzoo.data import write_synthetic_cifar10

    return write_synthetic_cifar10(root, n_train_per_batch, n_test)


def train_digits_model(epochs: int = 3, seed: int = 0):
    """A tiny RobNet (width 4, 3 cells) trained cleanly on the built-in digits: about 91% clean
    test accuracy after 20 s on 2 cores. Width 4 rather than 8: every attack and export test
    runs on this model, and the narrower one is twice as fast per step and trains to a higher
    accuracy in the same three epochs (64% at width 8), so attacks have more to break."""
    from robnetzoo.config import build_model
    from robnetzoo.data import load_dataset

    torch.manual_seed(seed)
    model = build_model(tiny_config("digits-robnet", width=4))
    data = load_dataset("digits", "train")
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(data), generator=generator)
        for start in range(0, len(order), 64):
            index = order[start : start + 64]
            images, labels = data.images[index], data.labels[index]
            loss = torch.nn.functional.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def authors_checkpoint(layout: dict, key: str, prefix: str = "") -> dict:
    generator = torch.Generator().manual_seed(0)
    state = collections.OrderedDict()
    for name, shape in layout[key].items():
        if name.endswith("num_batches_tracked"):
            tensor = torch.tensor(1000)
        elif name.endswith("running_var"):
            tensor = torch.rand(shape, generator=generator) + 0.5
        else:
            tensor = torch.randn(shape, generator=generator) * 0.1
        state[prefix + name] = tensor
    return {"epoch": 170, "best_acc": 52.1, "state_dict": state}


SEARCH_SEED = 3


def tiny_settings(seed: int = SEARCH_SEED):
    """The demo preset cut to seconds: a C=2, 3-cell supernet, one epoch on 128 images, 6
    cell-based and 4 cell-free candidates judged on 32 validation images, 2 finetuned, one pair
    base per convolution count, every candidate scored under 2 supernets, the choices re-scored on
    32 hold-out images under a third."""
    from robnetzoo.search.settings import PRESETS

    demo = PRESETS["demo"]
    return demo.with_overrides(
        width=2,
        layers=3,
        candidates=6,
        free_candidates=4,
        finetune_subset=2,
        validation_size=64,
        score_examples=32,
        fsp_examples=16,
        calibration_images=64,
        seed=seed,
        pairs_per_count=1,
        holdout_size=32,
        supernets=2,
        supernet=demo.supernet.with_overrides(epochs=1, batch_size=32, train_examples=128),
        finetune=demo.finetune.with_overrides(batch_size=32, train_examples=64),
    )


def tiny_recipe():
    """PGD-7 adversarial training on the digits cut to seconds: 128 training images, 2 epochs,
    a cheap validation attack. PGD-7 with a cosine schedule from lr 0.05 at batch 64, spelled
    out here so the engine's tests keep the multi-step attack whatever the demo preset becomes."""
    from robnetzoo.search.recipes import Recipe

    return Recipe(
        name="tiny-pgd7",
        dataset="digits",
        epochs=2,
        batch_size=32,
        lr=0.05,
        lr_batch=64,
        final_lr=1e-3,
        attack="pgd7",
        attack_params={"alpha": 2 / 255, "random_start": True},
        attack_mode="train",
        augment="none",
        train_examples=128,
        validation_size=48,
        validation_attack="pgd5",
    )


def write_settings(folder: Path, name: str = "tiny.json", **changes) -> Path:
    """``tiny_settings`` (with ``changes``) as a settings file for ``robnetzoo search --preset``."""
    import json

    path = folder / name
    path.write_text(json.dumps(tiny_settings().with_overrides(**changes).to_dict()))
    return path


BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def run_benchmark(script: str, *args: str, timeout: float = 240):
    """Run ``benchmarks/<script>`` in a fresh interpreter, as a user would; the completed
    process (text output captured)."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True, timeout=timeout
    )
