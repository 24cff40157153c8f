import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import savemat

from robnetzoo.data import load_dataset
from robnetzoo.errors import NotFound
from tests.support import write_cifar10


def test_cifar10_on_disk_format(tmp_path):
    write_cifar10(tmp_path)
    test = load_dataset("cifar10", "test", tmp_path)
    train = load_dataset("cifar10", "train", tmp_path)
    assert len(test) == 6 and len(train) == 20 and test.num_classes == 10
    image, label = test[0]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert 0 <= image.min() and image.max() <= 1 and isinstance(label, int)
    # the batches folder itself is accepted as the root
    assert len(load_dataset("cifar10", "test", tmp_path / "cifar-10-batches-py")) == 6


def test_first_n_in_order(tmp_path):
    write_cifar10(tmp_path)
    full = load_dataset("cifar10", "test", tmp_path)
    head = load_dataset("cifar10", "test", tmp_path, n_examples=3)
    assert len(head) == 3
    assert torch.equal(head[2][0], full[2][0])


def test_cifar_batch_with_code_is_refused(tmp_path):
    write_cifar10(tmp_path)
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "wb") as handle:
        pickle.dump({b"data": Evil(), b"labels": []}, handle)
    with pytest.raises(Exception, match="refusing to load builtins.print"):
        load_dataset("cifar10", "test", tmp_path)


def test_svhn_mat_files(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (32, 32, 3, 5), dtype=np.uint8)
    y = np.array([[10], [1], [2], [3], [10]], dtype=np.uint8)
    savemat(tmp_path / "test_32x32.mat", {"X": X, "y": y})
    data = load_dataset("svhn", "test", tmp_path)
    assert len(data) == 5
    assert [data[i][1] for i in range(5)] == [0, 1, 2, 3, 0]
    assert torch.allclose(data[1][0][:, 4, 7] * 255, torch.from_numpy(X[4, 7, :, 1]).float())


def test_imagefolder_and_tiny_imagenet(tmp_path):
    for split in ("train", "val"):
        for cls in ("n01", "n02"):
            folder = tmp_path / split / cls
            folder.mkdir(parents=True)
            Image.new("RGB", (300, 260), (10, 200, 30)).save(folder / "a.JPEG")
    data = load_dataset("imagenet", "test", tmp_path)
    assert len(data) == 2 and data[0][0].shape == (3, 224, 224) and data.num_classes == 2

    tiny = tmp_path / "tiny" / "tiny-imagenet-200"
    for cls in ("n01", "n02"):
        (tiny / "train" / cls / "images").mkdir(parents=True)
        Image.new("RGB", (64, 64)).save(tiny / "train" / cls / "images" / f"{cls}_0.JPEG")
    (tiny / "val" / "images").mkdir(parents=True)
    Image.new("RGB", (64, 64), (255, 0, 0)).save(tiny / "val" / "images" / "val_0.JPEG")
    (tiny / "val" / "val_annotations.txt").write_text("val_0.JPEG\tn02\t0\t0\t64\t64\n")
    val = load_dataset("tiny-imagenet", "test", tmp_path / "tiny")
    assert len(val) == 1 and val[0][1] == 1 and val[0][0].shape == (3, 64, 64)
    assert len(load_dataset("tiny-imagenet", "train", tmp_path / "tiny")) == 2


def test_digits_is_built_in_with_a_fixed_split():
    test = load_dataset("digits", "test")
    train = load_dataset("digits", "train")
    assert (len(test), len(train)) == (360, 1437)
    image, _ = test[0]
    assert image.shape == (3, 32, 32) and 0 <= image.min() and image.max() <= 1
    assert sorted(set(int(label) for label in test.labels)) == list(range(10))


def _digits_through_scikit_learn(split: str):
    """The loader as it was when it read scikit-learn at run time."""
    sklearn = pytest.importorskip("sklearn.datasets")
    raw = sklearn.load_digits()
    images = torch.from_numpy(raw.images).float().div_(16.0).unsqueeze(1)
    images = torch.nn.functional.interpolate(images, size=(32, 32), mode="bilinear", align_corners=False)
    images = images.clamp_(0, 1).expand(-1, 3, -1, -1).contiguous()
    labels = torch.from_numpy(raw.target).long()
    keep = (torch.arange(len(labels)) % 5 == 0) == (split == "test")
    return images[keep], labels[keep]


@pytest.mark.parametrize("split", ["test", "train"])
def test_packaged_digits_have_the_same_pixels_and_split_as_scikit_learn(split):
    images, labels = _digits_through_scikit_learn(split)
    ours = load_dataset("digits", split)
    assert torch.equal(ours.images, images) and torch.equal(ours.labels, labels)


def test_digits_load_without_scikit_learn():
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "import robnetzoo; d = robnetzoo.load_dataset('digits', 'train'); print(len(d))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1437"


@pytest.mark.parametrize(
    "name, hint",
    [
        ("cifar10", "download=True"),
        ("cifar100", "download=True"),
        ("svhn", "download=True"),
        ("imagenet", "class folders"),
        ("tiny-imagenet", "cannot download"),
    ],
)
def test_missing_data_root_says_where_and_how(tmp_path, name, hint):
    with pytest.raises(NotFound, match=f"looked in {tmp_path}.*{hint}"):
        load_dataset(name, "test", tmp_path)


def test_train_validation_split_is_fixed_disjoint_and_complete():
    from robnetzoo.data import train_validation_split
    from robnetzoo.errors import InvalidInput

    train = load_dataset("digits", "train")
    fit, held_out = train_validation_split(train, 137, seed=0)
    assert (len(fit), len(held_out)) == (1300, 137)
    assert (fit.split, held_out.split, held_out.name, held_out.num_classes) == ("train", "validation", "digits", 10)
    rows = lambda d: {tuple(x.flatten().tolist()[::97]) + (int(y),) for x, y in zip(d.images, d.labels)}  # noqa: E731
    assert rows(fit).isdisjoint(rows(held_out)) and len(rows(fit) | rows(held_out)) == len(rows(train))
    again = train_validation_split(train, 137, seed=0)[1]
    assert torch.equal(again.images, held_out.images)  # same seed, same split
    assert not torch.equal(train_validation_split(train, 137, seed=1)[1].images, held_out.images)
    for bad in (0, len(train)):
        with pytest.raises(InvalidInput, match="choose between 1 and 1436"):
            train_validation_split(train, bad)


def test_train_validation_split_of_a_folder_data_set(tmp_path):
    from robnetzoo.data import train_validation_split

    for cls in ("a", "b"):
        (tmp_path / "train" / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(tmp_path / "train" / cls / f"{i}.png")
    data = load_dataset("imagenet", "train", tmp_path)
    fit, held_out = train_validation_split(data, 2, seed=3)
    assert len(fit) == 4 and len(held_out) == 2 and held_out.num_classes == 2
    assert set(fit.indices).isdisjoint(held_out.indices)
