"""Shared fixtures: small real artifacts built once per session."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from tests.support import SEARCH_SEED, randomise_bn, tiny_config, tiny_recipe, train_digits_model, write_settings

REFERENCE = Path(__file__).parent / "reference"

# Keep the suite fast and deterministic on 2 cores: one thread per pytest-xdist worker (two
# torch processes of two threads each slow each other down severalfold), and the same for the
# processes a test starts (the environment is inherited), so a killed subprocess and its
# in-process resumption compute with the same thread count.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
else:
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


@pytest.fixture()
def tiny_model():
    from robnetzoo.config import build_model

    torch.manual_seed(0)
    model = build_model(tiny_config())
    randomise_bn(model)
    return model.eval()


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


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """A finished tiny training run (about 20 s on 2 cores)."""
    from robnetzoo.search.runs import train_run

    output = tmp_path_factory.mktemp("runs") / "tiny"
    train_run(
        "robnet-large", dataset="digits", recipe=tiny_recipe(), output=output, width=4, layers=3, seed=5, eval_n=24
    )
    return output


@pytest.fixture(scope="session")
def finished_search(tmp_path_factory) -> Path:
    """A finished tiny search (about 20 s on 2 cores)."""
    from robnetzoo.cli.app import main

    base = tmp_path_factory.mktemp("search")
    folder = base / "tiny"
    assert (
        main(
            ["search", "--preset", str(write_settings(base)), "--seed", str(SEARCH_SEED), "-o", str(folder), "--json"]
            + ["--workers", "1"]  # in this process: the worker-pool test compares processes against it
        )
        == 0
    )
    return folder
