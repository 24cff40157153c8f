"""The zoo as data: every model name, how to build it, where its weights live, what the paper says.

One ``ModelEntry`` per name; nothing here is code per model. The published RobNet codes are
the authors' (``architecture_code.py`` of their release); each string is one cell of 14 edges,
two bits an edge. ``paper`` holds the numbers reported in the RobNets paper (CVPR 2020,
L-inf eps 8/255, PGD-7 adversarial training) so every command can print ours beside theirs.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
from dataclasses import dataclass, field
from typing import Any

from .errors import NotFound

DEFAULT_HUB_ORG = "robnetzoo"
HUB_ORG_ENV = "ROBNETZOO_HUB_ORG"

ROBNET_LARGE_CELL = "1111111111011101101101010111"
ROBNET_FREE_CELLS = [
    "1110111110110101101111001101",
    "1100011001001010000111101100",
    "1111110101110100100010100011",
    "1011100101101001101100000110",
    "1111010010101001100100100111",
    "1110111111011011001001110111",
    "1111111010011110011010100110",
    "0111111101111111011101111000",
    "1111111111010111100100100111",
    "1011010011111011011111111100",
    "1110110000001100011000011011",
    "0111011111101011101101111000",
    "1111101001001011110110100001",
    "0111111101011101011111011010",
    "0111111111010001101011101011",
    "1111001111010001100011011111",
    "1111011111101110101010101111",
    "1011011111011100111100100001",
    "1110111111111110110011011111",
    "1111010111110100001000010111",
]

PAPER_COLUMNS = ("natural", "fgsm", "pgd20", "pgd100", "deepfool", "mifgsm")


@dataclass(frozen=True)
class ModelEntry:
    """Everything the zoo knows about one model name.

    ``arch``/``arch_args`` build it; ``status`` is ``"published"`` (weights are, or can be
    converted from, the authors' release), ``"baseline"`` (the paper's comparison models) or
    ``"awaiting-search"`` (the paper names it but never published the architecture; our search
    will produce it, and until then it cannot be built).
    """

    name: str
    arch: str
    arch_args: dict[str, Any]
    dataset: str
    num_classes: int
    input_size: tuple[int, int, int]
    paper: dict[str, float] = field(default_factory=dict)
    paper_params: int | None = None
    status: str = "published"
    description: str = ""
    authors_config: str | None = None

    @property
    def hub_repo(self) -> str:
        """``<org>/<name>``; the org comes from ``$ROBNETZOO_HUB_ORG`` when set."""
        return f"{os.environ.get(HUB_ORG_ENV, DEFAULT_HUB_ORG)}/{self.name}"

    @property
    def buildable(self) -> bool:
        return self.status != "awaiting-search"


def _paper(natural, fgsm, pgd20, pgd100, deepfool, mifgsm) -> dict[str, float]:
    return dict(zip(PAPER_COLUMNS, (natural, fgsm, pgd20, pgd100, deepfool, mifgsm)))


_CIFAR = dict(dataset="cifar10", num_classes=10, input_size=(3, 32, 32))

_ENTRIES = [
    ModelEntry(
        "robnet-large",
        "robnet",
        dict(genotype=[ROBNET_LARGE_CELL], C=36, layers=20, num_classes=10),
        paper=_paper(78.57, 54.98, 49.44, 49.24, 53.85, 49.92),
        paper_params=6_890_000,
        description="RobNet-large (authors' large_v1), cell-based, C=36, 20 layers",
        authors_config="RobNet_large_v1_cifar10",
        **_CIFAR,
    ),
    ModelEntry(
        "robnet-large-v2",
        "robnet",
        dict(genotype=[ROBNET_LARGE_CELL], C=64, layers=33, num_classes=10),
        paper=_paper(85.69, 57.18, 50.53, 50.26, 55.45, 50.87),
        paper_params=33_420_000,
        description="RobNet-large-v2, the large cell widened (C=64) and deepened (33 layers)",
        authors_config="RobNet_large_v2_cifar10",
        **_CIFAR,
    ),
    ModelEntry(
        "robnet-free",
        "robnet",
        dict(genotype=ROBNET_FREE_CELLS, C=36, layers=20, num_classes=10),
        paper=_paper(82.79, 58.38, 52.74, 52.57, 57.24, 52.95),
        paper_params=5_490_000,
        description="RobNet-free, cell-free (one cell per layer), C=36, 20 layers",
        authors_config="RobNet_free_cifar10",
        **_CIFAR,
    ),
    ModelEntry(
        "robnet-free-svhn",
        "robnet",
        dict(genotype=ROBNET_FREE_CELLS, C=36, layers=20, num_classes=10),
        dataset="svhn",
        num_classes=10,
        input_size=(3, 32, 32),
        paper={"pgd100": 55.59},
        paper_params=5_490_000,
        description="RobNet-free trained on SVHN",
        authors_config="RobNet_free_SVHN",
    ),
    ModelEntry(
        "robnet-large-imagenet",
        "robnet",
        dict(genotype=[ROBNET_LARGE_CELL], C=48, layers=20, num_classes=1000, stem="imagenet"),
        dataset="imagenet",
        num_classes=1000,
        input_size=(3, 224, 224),
        paper={"natural": 61.26, "pgd10": 37.16, "pgd20": 37.15, "pgd100": 37.14},
        paper_params=12_760_000,
        description="RobNet-large with the ImageNet stem, C=48, 20 layers",
        authors_config="RobNet_large_v1_imgnet",
    ),
    ModelEntry(
        "robnet-small",
        "robnet",
        {},
        paper=_paper(78.05, 53.93, 48.32, 48.07, 52.96, 48.98),
        paper_params=4_410_000,
        status="awaiting-search",
        description="RobNet-small: architecture never published; awaiting our search",
        **_CIFAR,
    ),
    ModelEntry(
        "robnet-medium",
        "robnet",
        {},
        paper=_paper(78.33, 54.55, 49.13, 48.96, 53.32, 49.34),
        paper_params=5_660_000,
        status="awaiting-search",
        description="RobNet-medium: architecture never published; awaiting our search",
        **_CIFAR,
    ),
    ModelEntry(
        "resnet18",
        "resnet18",
        dict(num_classes=10),
        paper=_paper(78.38, 49.81, 45.60, 45.10, 47.64, 45.23),
        paper_params=11_170_000,
        status="baseline",
        description="ResNet-18, CIFAR variant (3x3 stem, no max-pool)",
        **_CIFAR,
    ),
    ModelEntry(
        "resnet50",
        "resnet50",
        dict(num_classes=10),
        paper=_paper(79.15, 51.46, 45.84, 45.35, 49.18, 45.53),
        paper_params=23_520_000,
        status="baseline",
        description="ResNet-50, CIFAR variant",
        **_CIFAR,
    ),
    ModelEntry(
        "wrn-28-10",
        "wrn-28-10",
        dict(num_classes=10),
        paper=_paper(86.43, 53.57, 47.10, 46.90, 51.23, 47.04),
        paper_params=36_480_000,
        status="baseline",
        description="WideResNet-28-10",
        **_CIFAR,
    ),
    ModelEntry(
        "densenet121",
        "densenet121",
        dict(num_classes=10),
        paper=_paper(82.72, 54.14, 47.93, 47.46, 51.70, 48.19),
        paper_params=6_950_000,
        status="baseline",
        description="DenseNet-121, CIFAR variant (growth 32)",
        **_CIFAR,
    ),
]

REGISTRY: dict[str, ModelEntry] = {entry.name: entry for entry in _ENTRIES}


def list_models(pattern: str | None = None) -> list[str]:
    """Model names, sorted; ``pattern`` is a shell-style wildcard as in timm (``"robnet-*"``)."""
    names = sorted(REGISTRY)
    return [n for n in names if pattern is None or fnmatch.fnmatch(n, pattern)]


def get_entry(name: str) -> ModelEntry:
    """The registry entry for ``name``; an unknown name suggests the closest known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, REGISTRY, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise NotFound(
            f"unknown model {name!r}; {hint}run `robnetzoo models` to list all"
        ) from None
