"""Shared fixtures: small real artifacts built once per session."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

REFERENCE = Path(__file__).parent / "reference"

# Keep the suite fast and deterministic on 2 cores.
torch.set_num_threads(min(2, os.cpu_count() or 1))


def pytest_collection_modifyitems(config, items):
    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs CUDA")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def layout() -> dict:
    return json.loads((REFERENCE / "robnets_state_dict_layout.json").read_text())


@pytest.fixture(scope="session")
def genotypes() -> dict:
    return json.loads((REFERENCE / "robnets_genotypes.json").read_text())


def tiny_config(name: str = "tiny-robnet", num_classes: int = 10, dataset: str = "digits"):
    from robnetzoo.config import ModelConfig
    from robnetzoo.registry import ROBNET_LARGE_CELL

    return ModelConfig(
        name=name,
        arch="robnet",
        arch_args={"genotype": [ROBNET_LARGE_CELL], "C": 8, "layers": 3, "num_classes": num_classes},
        num_classes=num_classes,
        dataset=dataset,
        input_size=(3, 32, 32),
    )


@pytest.fixture()
def tiny_model():
    from robnetzoo.config import build_model

    torch.manual_seed(0)
    model = build_model(tiny_config())
    randomise_bn(model)
    return model.eval()


def randomise_bn(model: torch.nn.Module) -> None:
    """Give BatchNorm statistics non-default values so a lost buffer changes the logits."""
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)


@pytest.fixture(scope="session")
def saved_folder(tmp_path_factory):
    from robnetzoo.config import build_model
    from robnetzoo.hub import save_pretrained

    torch.manual_seed(0)
    model = build_model(tiny_config()).eval()
    randomise_bn(model)
    folder = tmp_path_factory.mktemp("hub") / "tiny-robnet"
    save_pretrained(model, folder, eval_results=[{"metric": "clean", "accuracy": 91.0}])
    return folder


def write_cifar10(root: Path, n_train_per_batch: int = 4, n_test: int = 6) -> Path:
    """torchvision's on-disk CIFAR-10 format: pickled dicts with bytes keys."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def batch(n: int) -> dict:
        return {
            b"batch_label": b"synthetic",
            b"labels": [int(x) for x in rng.integers(0, 10, n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [f"{i}.png".encode() for i in range(n)],
        }

    for i in range(1, 6):
        with open(folder / f"data_batch_{i}", "wb") as handle:
            pickle.dump(batch(n_train_per_batch), handle, protocol=2)
    with open(folder / "test_batch", "wb") as handle:
        pickle.dump(batch(n_test), handle, protocol=2)
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, handle, protocol=2)
    return root


def train_digits_model(epochs: int = 3, seed: int = 0):
    """A tiny RobNet trained (cleanly) on the built-in digits: seconds on 2 cores."""
    from robnetzoo.config import build_model
    from robnetzoo.data import load_dataset

    torch.manual_seed(seed)
    model = build_model(tiny_config("digits-robnet"))
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


@pytest.fixture(scope="session")
def digits_model():
    return train_digits_model()


@pytest.fixture(scope="session")
def digits_folder(digits_model, tmp_path_factory):
    from robnetzoo.hub import save_pretrained

    folder = tmp_path_factory.mktemp("digits") / "digits-robnet"
    save_pretrained(digits_model, folder)
    return folder


@pytest.fixture(scope="session")
def digits_batch():
    from robnetzoo.data import load_dataset

    data = load_dataset("digits", "test")
    return data.batch(0, 48)
