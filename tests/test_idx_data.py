"""MNIST and Fashion-MNIST from their IDX files: the real format written small, the genuine
release where Debian's package installed it, the literature's radii, and one line for a damaged
or missing file."""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from robnetzoo import data
from robnetzoo.cli.app import main
from robnetzoo.data import DATASET_INFO, default_threat, load_dataset
from robnetzoo.errors import CorruptFile, NotFound
from robnetzoo.idx import IMAGES_MAGIC, read_idx, write_idx

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def write_mnist(
    root: Path, folder: str = "MNIST/raw", n_train: int = 40, n_test: int = 12, gz: bool = True, seed: int = 0
) -> Path:
    """Random images and labels as the four IDX files under ``root/folder``."""
    rng = np.random.default_rng(seed)
    suffix = ".gz" if gz else ""
    for split, n in (("train", n_train), ("t10k", n_test)):
        write_idx(root / folder / f"{split}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28)))
        write_idx(root / folder / f"{split}-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n))
    return root


@pytest.fixture(autouse=True)
def no_system_files(monkeypatch):
    """The tests decide where files are; the system package's folder is read only where a test says."""
    monkeypatch.setattr(data, "SYSTEM_FOLDERS", {"fashion-mnist": [], "mnist": []})


@pytest.mark.parametrize(
    "name, folder, gz",
    [("mnist", "MNIST/raw", True), ("fashion-mnist", "FashionMNIST/raw", False), ("fashion-mnist", ".", True)],
)
def test_idx_files_in_every_layout_read_as_padded_three_channel_images(tmp_path, name, folder, gz):
    write_mnist(tmp_path, folder, gz=gz)
    train, test = load_dataset(name, "train", tmp_path), load_dataset(name, "test", tmp_path)
    assert (len(train), len(test), train.num_classes, train.name) == (40, 12, 10, name)
    images, labels = test.batch(0, 12)
    assert images.shape == (12, 3, 32, 32) and images.dtype == torch.float32
    raw = read_idx(next((tmp_path / folder).glob("t10k-images*")), IMAGES_MAGIC, fix="")
    assert torch.equal(images[:, 1, 2:30, 2:30] * 255, torch.from_numpy(raw.astype(np.float32)))  # 2-pixel border
    assert images[:, :, :2].abs().sum() == 0 and torch.equal(images[:, 0], images[:, 2])
    assert labels.dtype == torch.long and int(labels.max()) < 10


def test_the_literature_radius_follows_the_data_set():
    assert default_threat("mnist").eps == 0.3 and default_threat("fashion-mnist").eps == 0.1
    assert default_threat("digits").eps == pytest.approx(8 / 255) and default_threat("cifar10").eps == pytest.approx(
        8 / 255
    )
    from robnetzoo.search.recipes import PRESETS, resolve_recipe

    moved = PRESETS["demo"].for_dataset("mnist")
    assert moved.threat_model.eps == 0.3 and moved.attack_params["alpha"] == pytest.approx(1.25 * 0.3)
    chosen = resolve_recipe("demo", dataset="fashion-mnist", eps="0.05")
    assert chosen.threat_model.eps == 0.05 and chosen.attack_params["alpha"] == pytest.approx(1.25 * 0.05)
    assert resolve_recipe("paper", dataset="mnist").attack_params["alpha"] == pytest.approx(0.3 / 4)


def test_pgd_steps_keep_pace_with_the_radius():
    from robnetzoo import attacks

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))
    assert attacks.build("pgd20", model).alpha == pytest.approx(2 / 255)
    assert attacks.build("pgd20", model, eps=0.3).alpha == pytest.approx(0.075)


def test_train_and_eval_on_mnist_files_at_its_radius(tmp_path, capsys):
    write_mnist(tmp_path / "data", n_train=96, n_test=16)
    run = tmp_path / "run"
    args = [
        "train",
        "robnet-large",
        "--width",
        "4",
        "--layers",
        "3",
        "--dataset",
        "mnist",
        "--data-root",
        str(tmp_path / "data"),
        "--epochs",
        "1",
        "--eval-n",
        "8",
        "-o",
        str(run),
    ]
    assert main(args) == 0, capsys.readouterr().err
    config = json.loads((run / "config.json").read_text())
    assert config["dataset"] == "mnist" and config["threat_model"]["eps"] == 0.3
    assert json.loads((run / "eval.json").read_text())["threat_model"]["eps"] == 0.3
    capsys.readouterr()
    assert (
        main(
            ["eval", str(run), "--attack", "fgsm", "--n-examples", "8", "--data-root", str(tmp_path / "data"), "--json"]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["threat_model"]["eps"] == 0.3


def _damage(kind: str, root: Path) -> Path:
    folder = root / "MNIST" / "raw"
    images, labels = folder / "t10k-images-idx3-ubyte", folder / "t10k-labels-idx1-ubyte"
    if kind == "truncated":
        raw = images.read_bytes()
        images.write_bytes(raw[: len(raw) - 100])
        return images
    if kind == "magic":
        raw = images.read_bytes()
        images.write_bytes(struct.pack(">I", 2049) + raw[4:])
        return images
    if kind == "labels":
        write_idx(labels, np.zeros(11, dtype=np.uint8))
        return labels
    if kind == "label-range":
        write_idx(labels, np.full(12, 99, dtype=np.uint8))
        return labels
    if kind == "gzip":
        gz = images.with_name(images.name + ".gz")
        images.unlink()
        gz.write_bytes(gzip.compress(b"x" * 100)[:30])
        return gz
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind, words",
    [
        ("truncated", "truncated"),
        ("magic", "magic number 0x00000801"),
        ("labels", "11 labels for the 12 images"),
        ("label-range", "label 99"),
        ("gzip", "IDX file"),
    ],
)
def test_a_damaged_idx_file_is_one_line_exit_2(tmp_path, capsys, kind, words):
    write_mnist(tmp_path, gz=False)
    damaged = _damage(kind, tmp_path)
    with pytest.raises(CorruptFile, match=words):
        load_dataset("mnist", "test", tmp_path)
    capsys.readouterr()
    code = main(
        ["train", "robnet-large", "--dataset", "mnist", "--data-root", str(tmp_path), "-o", str(tmp_path / "run")]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error:") and str(damaged) in err[0], err
    assert not (tmp_path / "run").exists()


def test_absent_files_name_the_three_ways_to_get_them(tmp_path, capsys):
    with pytest.raises(NotFound) as raised:
        load_dataset("fashion-mnist", "train", tmp_path)
    message = str(raised.value)
    assert "apt-get install dataset-fashion-mnist" in message and "download=True" in message and "root" in message
    code = main(
        [
            "train",
            "robnet-large",
            "--dataset",
            "fashion-mnist",
            "--data-root",
            str(tmp_path),
            "-o",
            str(tmp_path / "run"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--download" in err[0] and "--data-root" in err[0], err
    assert not (tmp_path / "run").exists()


def test_data_sets_and_their_radii_are_listed(capsys):
    assert main(["models", "--datasets", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(DATASET_INFO)
    assert rows["mnist"]["threat"] == "Linf eps=0.3" and rows["fashion-mnist"]["threat"] == "Linf eps=0.1"
    assert main(["info", "fashion-mnist", "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["threat_model"] == {"norm": "Linf", "eps": 0.1} and facts["found"] is None


@pytest.mark.skipif(
    not DEBIAN_FASHION.is_dir(),
    reason="Debian's dataset-fashion-mnist is not installed here (.ci/run installs it where apt-get works)",
)
def test_the_genuine_fashion_mnist_release(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "SYSTEM_FOLDERS", {"fashion-mnist": [DEBIAN_FASHION], "mnist": []})
    train = load_dataset("fashion-mnist", "train", tmp_path)  # an empty root: the package's files are read
    test = load_dataset("fashion-mnist", "test", tmp_path)
    assert (len(train), len(test)) == (60000, 10000)
    assert torch.bincount(train.labels).tolist() == [6000] * 10 and torch.bincount(test.labels).tolist() == [1000] * 10
    assert int(train.labels[0]) == 9 and int(test.labels[0]) == 9  # the release's first images are ankle boots
