"""Data sets as torch Datasets of ``(image float CHW in [0, 1], int label)``.

``load_dataset(name, split, root)`` knows ``cifar10``, ``cifar100`` (torchvision's on-disk
batches), ``svhn`` (the ``.mat`` files), ``tiny-imagenet`` and ``imagenet`` (folders), and
``digits``: scikit-learn's bundled 8x8 handwritten digits, resized to 3x32x32, which needs no
download and carries the demos and end-to-end tests.

digits split (fixed, documented): of the 1,797 images in scikit-learn's order, every fifth
(index % 5 == 0, 360 images) is ``test``; the other 1,437 are ``train``.

Subsets (``n_examples``) take the first n examples in order, as RobustBench does, so two
tools evaluating "the first 1,000 CIFAR-10 test images" see the same images.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from .errors import InvalidInput, NotFound

DATA_ROOT_ENV = "ROBNETZOO_DATA_ROOT"
DATASETS = ("cifar10", "cifar100", "svhn", "tiny-imagenet", "imagenet", "digits")
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "svhn": 10, "tiny-imagenet": 200, "imagenet": 1000, "digits": 10}
DIGITS_TEST_EVERY = 5


class TensorImageDataset(Dataset):
    """Images held in memory as one tensor (uint8 or float, NCHW) with integer labels.

    ``batch(start, stop)`` slices without a DataLoader: the evaluator's fast path.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, num_classes: int, name: str) -> None:
        if images.ndim != 4 or len(images) != len(labels):
            raise ValueError("images must be NCHW with one label per image")
        self.images = images
        self.labels = labels.long()
        self.num_classes = num_classes
        self.name = name

    def __len__(self) -> int:
        return len(self.labels)

    def _to_float(self, images: torch.Tensor) -> torch.Tensor:
        return images.float().div_(255) if images.dtype == torch.uint8 else images.float()

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self._to_float(self.images[index : index + 1])[0], int(self.labels[index])

    def batch(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self._to_float(self.images[start:stop]), self.labels[start:stop]

    def head(self, n: int) -> "TensorImageDataset":
        return TensorImageDataset(self.images[:n], self.labels[:n], self.num_classes, self.name)


class LabelledFiles(Dataset):
    """Image files with labels given by a list (Tiny-ImageNet's val annotations)."""

    def __init__(self, samples: list[tuple[str, int]], num_classes: int, name: str, transform) -> None:
        self.samples = samples
        self.num_classes = num_classes
        self.name = name
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        path, label = self.samples[index]
        with Image.open(path) as image:
            return self.transform(image.convert("RGB")), label


def default_root() -> Path:
    return Path(os.environ.get(DATA_ROOT_ENV, "data"))


def load_dataset(
    name: str,
    split: str = "test",
    root: str | Path | None = None,
    *,
    download: bool = False,
    n_examples: int | None = None,
) -> Dataset:
    """Load a data set; a missing one raises ``NotFound`` saying where we looked and what to do."""
    if name not in _LOADERS:
        raise InvalidInput(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    if split not in ("train", "test"):
        raise InvalidInput(f"unknown split {split!r}; use 'train' or 'test'")
    dataset = _LOADERS[name](Path(root) if root is not None else default_root(), split, download)
    return dataset if n_examples is None else first_n(dataset, n_examples)


def first_n(dataset: Dataset, n: int) -> Dataset:
    """The first ``n`` examples, in order (all of them when there are fewer)."""
    if n < 1:
        raise InvalidInput(f"n_examples must be at least 1, got {n}")
    n = min(n, len(dataset))  # type: ignore[arg-type]
    if isinstance(dataset, TensorImageDataset):
        return dataset.head(n)
    subset = Subset(dataset, range(n))
    subset.num_classes = getattr(dataset, "num_classes", None)  # type: ignore[attr-defined]
    subset.name = getattr(dataset, "name", None)  # type: ignore[attr-defined]
    return subset


def dataset_num_classes(dataset: Dataset) -> int | None:
    return getattr(dataset, "num_classes", None)


# ---------------------------------------------------------------------------- loaders


def _missing(name: str, looked: Path, how: str) -> NotFound:
    return NotFound(f"{name} not found (looked in {looked}); {how}")


def _torchvision_cifar(name: str, folder: str) -> Callable[[Path, str, bool], Dataset]:
    def load(root: Path, split: str, download: bool) -> Dataset:
        from torchvision import datasets

        if root.name == folder:  # accept the batches folder itself as the root
            root = root.parent
        cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
        try:
            raw = cls(str(root), train=split == "train", download=download)
        except RuntimeError:
            raise _missing(
                name,
                root / folder,
                "pass --download (download=True) to fetch it, or --data-root pointing at the "
                f"folder that holds {folder}",
            ) from None
        images = torch.from_numpy(np.ascontiguousarray(raw.data)).permute(0, 3, 1, 2).contiguous()
        return TensorImageDataset(images, torch.tensor(raw.targets), NUM_CLASSES[name], name)

    return load


def _svhn(root: Path, split: str, download: bool) -> Dataset:
    from torchvision import datasets

    try:
        raw = datasets.SVHN(str(root), split=split, download=download)
    except RuntimeError:
        raise _missing(
            "svhn",
            root / f"{split}_32x32.mat",
            "pass --download (download=True) to fetch it, or --data-root pointing at the folder "
            "that holds train_32x32.mat / test_32x32.mat",
        ) from None
    return TensorImageDataset(torch.from_numpy(raw.data), torch.from_numpy(raw.labels), 10, "svhn")


def _folder_dataset(name: str, folder: Path, transform, looked: Path, how: str) -> Dataset:
    from torchvision import datasets

    if not folder.is_dir():
        raise _missing(name, looked, how)
    try:
        dataset = datasets.ImageFolder(str(folder), transform=transform)
    except (FileNotFoundError, RuntimeError) as exc:
        raise _missing(name, looked, f"{how} ({exc})") from None
    dataset.num_classes = len(dataset.classes)  # type: ignore[attr-defined]
    dataset.name = name  # type: ignore[attr-defined]
    return dataset


def _tiny_imagenet(root: Path, split: str, download: bool) -> Dataset:
    from torchvision import datasets, transforms

    base = root if (root / "train").is_dir() else root / "tiny-imagenet-200"
    how = ("unpack tiny-imagenet-200.zip (cs231n.stanford.edu) under --data-root; "
           "torchvision cannot download it")
    if split == "train":
        return _folder_dataset("tiny-imagenet", base / "train", transforms.ToTensor(), base / "train", how)
    val = base / "val"
    annotations = val / "val_annotations.txt"
    if not annotations.is_file():  # already sorted into class folders
        return _folder_dataset("tiny-imagenet", val, transforms.ToTensor(), val, how)
    train = _folder_dataset("tiny-imagenet", base / "train", None, base / "train", how)
    class_index = train.class_to_idx  # type: ignore[attr-defined]
    samples = []
    for line in annotations.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[1] in class_index:
            samples.append((str(val / "images" / parts[0]), class_index[parts[1]]))
    return LabelledFiles(samples, 200, "tiny-imagenet", transforms.ToTensor())


def _imagenet(root: Path, split: str, download: bool) -> Dataset:
    from torchvision import transforms

    folder = root / ("train" if split == "train" else "val")
    transform = transforms.Compose(
        [transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor()]
    )
    return _folder_dataset(
        "imagenet", folder, transform, folder,
        "put ImageNet's train/ and val/ class folders (one folder per wnid) under --data-root",
    )


def _digits(root: Path, split: str, download: bool) -> Dataset:
    from sklearn.datasets import load_digits

    raw = load_digits()
    images = torch.from_numpy(raw.images).float().div_(16.0).unsqueeze(1)  # N,1,8,8 in [0,1]
    images = torch.nn.functional.interpolate(images, size=(32, 32), mode="bilinear", align_corners=False)
    images = images.clamp_(0, 1).expand(-1, 3, -1, -1).contiguous()
    labels = torch.from_numpy(raw.target).long()
    is_test = torch.arange(len(labels)) % DIGITS_TEST_EVERY == 0
    keep = is_test if split == "test" else ~is_test
    return TensorImageDataset(images[keep], labels[keep], 10, "digits")


_LOADERS: dict[str, Callable[[Path, str, bool], Dataset]] = {
    "cifar10": _torchvision_cifar("cifar10", "cifar-10-batches-py"),
    "cifar100": _torchvision_cifar("cifar100", "cifar-100-python"),
    "svhn": _svhn,
    "tiny-imagenet": _tiny_imagenet,
    "imagenet": _imagenet,
    "digits": _digits,
}
