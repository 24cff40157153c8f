"""The zoo as data: every model name, how to build it, where its weights live, what the paper says.

One ``ModelEntry`` per name; nothing here is code per model. The published RobNet codes are
the authors' (``architecture_code.py`` of their release); each string is one cell of 14 edges,
two bits an edge. ``paper`` holds the numbers reported in the RobNets paper (CVPR 2020,
L-inf eps 8/255, PGD-7 adversarial training) so every command can print ours beside theirs.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from .config import ModelConfig
from .errors import InvalidInput, NotFound, option
from .threat import ThreatModel

DEFAULT_HUB_ORG = "robnetzoo"
PACKAGED_MODELS = Path(__file__).parent / "_data" / "models"  # demo models shipped in the wheel
MEASURED_NAME = "measured.json"  # a packaged model's own test-split figures, written by tools/make_demo_model.py
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
# Every column the paper's tables use, in the order a table shows them (ImageNet adds PGD-10).
ALL_PAPER_COLUMNS = ("natural", "fgsm", "pgd10", "pgd20", "pgd100", "deepfool", "mifgsm")
# The other data sets' table: PGD-100 robust accuracy, with each data set's classes and image size.
OTHER_DATASETS = {"svhn": (10, 32), "cifar100": (100, 32), "tiny-imagenet": (200, 64)}
_OTHER_TABLE = {  # model: (SVHN, CIFAR-100, Tiny-ImageNet)
    "resnet18": (46.08, 22.01, 16.96),
    "resnet50": (47.23, 22.38, 19.12),
    "robnet-large": (51.26, 23.19, 19.90),
    "robnet-free": (55.59, 23.87, 20.87),
}


@dataclass(frozen=True)
class ModelEntry:
    """Everything the zoo knows about one model name: the config it builds, and the paper's claims.

    ``config`` is the same ``ModelConfig`` a saved model's ``config.json`` holds (None while
    the architecture is unknown). ``origin`` says where the model comes from: ``"authors"`` (the
    RobNets authors released it; their checkpoints convert), ``"baseline"`` (the paper's
    comparison models), ``"demo"`` (trained by this project and shipped in the package: ``packaged``)
    or ``"awaiting-search"`` (the paper names it but never published the
    architecture). ``on_hub`` says whether robnetzoo weights are uploaded under the Hub org.
    ``paper`` holds the paper's accuracies, valid for ``config`` on ``config.dataset`` under
    ``config.threat_model`` and nothing else (see ``paper_reference``).
    """

    name: str
    config: ModelConfig | None
    paper: dict[str, float] = field(default_factory=dict)
    paper_params: int | None = None
    origin: str = "authors"
    description: str = ""
    authors_config: str | None = None
    paper_dataset: str = "cifar10"
    on_hub: bool = False  # robnetzoo weights uploaded to the Hub under DEFAULT_HUB_ORG
    packaged: bool = False  # weights shipped inside the package (PACKAGED_MODELS/<name>/): load offline

    @property
    def packaged_dir(self) -> Path | None:
        """The Hub folder of a model shipped in the package, or None."""
        return PACKAGED_MODELS / self.name if self.packaged else None

    @cached_property
    def measured(self) -> dict[str, Any]:
        """A packaged model's figures as its making measured them (``measured.json``: accuracy,
        95% interval and n per metric, the machine); empty for other entries."""
        if self.packaged_dir is None or not (self.packaged_dir / MEASURED_NAME).is_file():
            return {}
        return json.loads((self.packaged_dir / MEASURED_NAME).read_text())

    @property
    def authors_checkpoint(self) -> str | None:
        """The file name of the authors' released checkpoint (their configs load
        ``./checkpoint/<config>.pth.tar``), or None when they released none."""
        return f"{self.authors_config}.pth.tar" if self.authors_config else None

    @property
    def weights_source(self) -> str:
        """Where this model's weights come from, in words a user can act on."""
        if self.packaged:
            return "packaged"
        if self.on_hub:
            return f"hub: {self.hub_repo}"
        if self.authors_config:
            return "authors' checkpoint: convert it"
        if self.config is None:
            return "awaiting search"
        return "train it"

    def no_weights_message(self) -> str:
        """Why ``from_pretrained(name)`` cannot work for this entry, and the ways forward."""
        if self.config is None:
            return buildable_message(self.name)
        if self.authors_checkpoint:
            file = self.authors_checkpoint
            return (
                f"{self.name} has no published robnetzoo weights yet. Get the authors' checkpoint "
                f"{file} (linked from github.com/gmh14/RobNets), then load it with {option('weights', file)}, "
                f"or convert it once into a folder and load that: robnetzoo.convert_checkpoint({file!r}, "
                f"{self.name!r}, {self.name!r}) (on the command line: robnetzoo convert {file} --arch "
                f"{self.name} -o {self.name}/). If your organisation publishes it, set {HUB_ORG_ENV}"
            )
        return (
            f"{self.name} is one of the paper's baselines and has no published weights: train it and "
            "save it with robnetzoo.save_pretrained, then load that folder (or pass a Hub repo id); "
            f"if your organisation publishes it, set {HUB_ORG_ENV}"
        )

    @property
    def hub_repo(self) -> str:
        """``<org>/<name>``; the org comes from ``$ROBNETZOO_HUB_ORG`` when set."""
        return f"{os.environ.get(HUB_ORG_ENV, DEFAULT_HUB_ORG)}/{self.name}"

    @property
    def buildable(self) -> bool:
        return self.config is not None

    @property
    def dataset(self) -> str:
        return self.config.dataset if self.config is not None else self.paper_dataset


def _paper(natural, fgsm, pgd20, pgd100, deepfool, mifgsm) -> dict[str, float]:
    return dict(zip(PAPER_COLUMNS, (natural, fgsm, pgd20, pgd100, deepfool, mifgsm)))


def _config(
    name: str,
    arch: str,
    dataset: str = "cifar10",
    num_classes: int = 10,
    input_size: tuple[int, int, int] = (3, 32, 32),
    **arch_args: Any,
) -> ModelConfig:
    return ModelConfig(
        name=name,
        arch=arch,
        arch_args={**arch_args, "num_classes": num_classes},
        num_classes=num_classes,
        dataset=dataset,
        input_size=input_size,
    )


# The RobNet family's final size: robnet-large, robnet-free and our robnet-small / -medium.
FAMILY_C, FAMILY_LAYERS = 36, 20


def robnet_config(
    name: str,
    genotype: Any,
    *,
    C: int = FAMILY_C,
    layers: int = FAMILY_LAYERS,
    dataset: str = "cifar10",
    num_classes: int = 10,
    input_size: tuple[int, int, int] = (3, 32, 32),
    **arch_args: Any,
) -> ModelConfig:
    """The one factory of RobNet configurations (the registry's entries, the search's
    candidates at final size): ``genotype`` as cell codes, the family's size by default. A
    cell-free genotype has one cell per layer, so its cell count is its layer count."""
    codes = genotype.to_json() if hasattr(genotype, "to_json") else genotype
    if len(codes) > 1:
        layers = len(codes)
    return _config(
        name,
        "robnet",
        dataset=dataset,
        num_classes=num_classes,
        input_size=input_size,
        genotype=codes,
        C=C,
        layers=layers,
        **arch_args,
    )


_LARGE = [ROBNET_LARGE_CELL]

_ENTRIES = [
    ModelEntry(
        "robnet-large",
        robnet_config("robnet-large", _LARGE),
        paper=_paper(78.57, 54.98, 49.44, 49.24, 53.85, 49.92),
        paper_params=6_890_000,
        description="RobNet-large (authors' large_v1), cell-based, C=36, 20 layers",
        authors_config="RobNet_large_v1_cifar10",
    ),
    ModelEntry(
        "robnet-large-v2",
        robnet_config("robnet-large-v2", _LARGE, C=64, layers=33),
        paper=_paper(85.69, 57.18, 50.53, 50.26, 55.45, 50.87),
        paper_params=33_420_000,
        description="RobNet-large-v2, the large cell widened (C=64) and deepened (33 layers)",
        authors_config="RobNet_large_v2_cifar10",
    ),
    ModelEntry(
        "robnet-free",
        robnet_config("robnet-free", ROBNET_FREE_CELLS),
        paper=_paper(82.79, 58.38, 52.74, 52.57, 57.24, 52.95),
        paper_params=5_490_000,
        description="RobNet-free, cell-free (one cell per layer), C=36, 20 layers",
        authors_config="RobNet_free_cifar10",
    ),
    ModelEntry(
        "robnet-free-svhn",
        robnet_config("robnet-free-svhn", ROBNET_FREE_CELLS, dataset="svhn"),
        paper={"pgd100": 55.59},
        paper_params=5_490_000,
        description="RobNet-free trained on SVHN",
        authors_config="RobNet_free_SVHN",
    ),
    ModelEntry(
        "robnet-large-imagenet",
        robnet_config(
            "robnet-large-imagenet",
            _LARGE,
            C=48,
            dataset="imagenet",
            num_classes=1000,
            input_size=(3, 224, 224),
            stem="imagenet",
        ),
        paper={"natural": 61.26, "pgd10": 37.16, "pgd20": 37.15, "pgd100": 37.14},
        paper_params=12_760_000,
        description="RobNet-large with the ImageNet stem, C=48, 20 layers",
        authors_config="RobNet_large_v1_imgnet",
    ),
    ModelEntry(
        "robnet-small",
        None,
        paper=_paper(78.05, 53.93, 48.32, 48.07, 52.96, 48.98),
        paper_params=4_410_000,
        origin="awaiting-search",
        description="RobNet-small: architecture never published; awaiting our search",
    ),
    ModelEntry(
        "robnet-medium",
        None,
        paper=_paper(78.33, 54.55, 49.13, 48.96, 53.32, 49.34),
        paper_params=5_660_000,
        origin="awaiting-search",
        description="RobNet-medium: architecture never published; awaiting our search",
    ),
    ModelEntry(
        "resnet18",
        _config("resnet18", "resnet18"),
        paper=_paper(78.38, 49.81, 45.60, 45.10, 47.64, 45.23),
        paper_params=11_170_000,
        origin="baseline",
        description="ResNet-18, CIFAR variant (3x3 stem, no max-pool)",
    ),
    ModelEntry(
        "resnet50",
        _config("resnet50", "resnet50"),
        paper=_paper(79.15, 51.46, 45.84, 45.35, 49.18, 45.53),
        paper_params=23_520_000,
        origin="baseline",
        description="ResNet-50, CIFAR variant",
    ),
    ModelEntry(
        "wrn-28-10",
        _config("wrn-28-10", "wrn-28-10"),
        paper=_paper(86.43, 53.57, 47.10, 46.90, 51.23, 47.04),
        paper_params=36_480_000,
        origin="baseline",
        description="WideResNet-28-10",
    ),
    ModelEntry(
        "wrn-10-1",
        _config("wrn-10-1", "wide-resnet", depth=10, widen_factor=1),
        origin="baseline",
        description="WideResNet-10-1: the smallest WideResNet (one block per stage), the hand-designed baseline "
        "beside small searched RobNets",
    ),
    ModelEntry(
        "densenet121",
        _config("densenet121", "densenet121"),
        paper=_paper(82.72, 54.14, 47.93, 47.46, 51.70, 48.19),
        paper_params=6_950_000,
        origin="baseline",
        description="DenseNet-121, CIFAR variant (growth 32)",
    ),
]

# Small robust models trained by tools/make_demo_model.py and shipped in the wheel, so a
# newcomer can evaluate and export a zoo model with no download.
DIGITS_C, DIGITS_LAYERS = 8, 5
_ENTRIES.append(
    ModelEntry(
        "robnet-digits",
        robnet_config("robnet-digits", _LARGE, C=DIGITS_C, layers=DIGITS_LAYERS, dataset="digits"),
        origin="demo",
        description=f"RobNet-large's cell at C={DIGITS_C}, {DIGITS_LAYERS} cells, adversarially trained on the "
        "built-in digits (Linf 8/255); shipped in the package",
        paper_dataset="digits",
        packaged=True,
    )
)

_ENTRIES += [
    ModelEntry(
        "resnet18-denoise",
        _config("resnet18-denoise", "resnet18", denoise="gaussian"),
        paper={"natural": 78.75, "pgd100": 45.82},
        origin="baseline",
        description="ResNet-18 (CIFAR) with a feature denoising block after each residual stage",
    ),
    ModelEntry(
        "robnet-large-denoise",
        robnet_config("robnet-large-denoise", _LARGE, denoise="gaussian"),
        paper={"natural": 84.03, "pgd100": 49.97},
        origin="baseline",
        description="RobNet-large with a feature denoising block after each group of cells",
    ),
]


def _imagenet_resnets() -> list[ModelEntry]:
    """The paper's ImageNet table's ResNets: the standard networks, 224x224."""
    entries = []
    for depth, row, params in (
        ("50", (60.20, 32.76, 31.87, 31.81), 23_520_000),
        ("101", (63.34, 35.38, 34.40, 34.32), 42_520_000),
        ("152", (64.44, 36.99, 36.04, 35.99), 58_160_000),
    ):
        entries.append(
            ModelEntry(
                f"resnet{depth}-imagenet",
                _config(
                    f"resnet{depth}-imagenet",
                    f"resnet{depth}",
                    dataset="imagenet",
                    num_classes=1000,
                    input_size=(3, 224, 224),
                    stem="imagenet",
                ),
                paper=dict(zip(("natural", "pgd10", "pgd20", "pgd100"), row)),
                paper_params=params,  # the paper's count is the backbone's, without the 1000-way classifier
                origin="baseline",
                description=f"ResNet-{depth}, the standard ImageNet network (7x7 stem, max-pool), 224x224",
            )
        )
    return entries


def _other_data_sets() -> list[ModelEntry]:
    """The paper's table of SVHN, CIFAR-100 and Tiny-ImageNet (PGD-100), one row per figure."""
    entries = []
    for base, row in _OTHER_TABLE.items():
        for (dataset, (classes, size)), pgd100 in zip(OTHER_DATASETS.items(), row):
            name = f"{base}-{dataset}"
            if name == "robnet-free-svhn":  # the authors released this one: its entry above
                continue
            shape = {"dataset": dataset, "num_classes": classes, "input_size": (3, size, size)}
            config = (
                robnet_config(name, _LARGE if base == "robnet-large" else ROBNET_FREE_CELLS, **shape)
                if base.startswith("robnet")
                else _config(name, base, **shape)
            )
            entries.append(
                ModelEntry(
                    name,
                    config,
                    paper={"pgd100": pgd100},
                    origin="baseline",
                    description=f"{base} on {dataset} ({classes} classes, {size}x{size}"
                    + (", the CIFAR stem" if size != 32 else "")
                    + ")",
                )
            )
    return entries


_ENTRIES += _imagenet_resnets() + _other_data_sets()

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
        raise NotFound(f"unknown model {name!r}; {hint}run `robnetzoo models` to list all") from None


def buildable_config(name: str, **overrides: Any) -> ModelConfig:
    """The config a registry name builds, with constructor overrides applied.

    A name whose architecture was never published raises ``NotFound`` saying so.
    """
    entry = get_entry(name)
    if entry.config is None:
        if entry.origin == "awaiting-search" and overrides.get("genotype") is not None:
            return _searched_config(name, overrides)
        raise NotFound(buildable_message(name))
    if not overrides:
        return entry.config
    return derive_config(entry.config, **overrides)


def buildable_message(name: str) -> str:
    return (
        f"{name}'s architecture was never published by the authors; run the search (robnetzoo search) "
        f"and build it from its genotype file: create_model({name!r}, genotype='genotypes/{name}.json'), "
        "or use robnet-large or robnet-free meanwhile"
    )


def _searched_config(name: str, overrides: dict[str, Any]) -> ModelConfig:
    """``robnet-small`` / ``-medium`` from a genotype our search chose (a ``Genotype``, its
    JSON codes, or the path of a ``genotypes/robnet-*.json`` file), at the family's size
    (``FAMILY_C``, ``FAMILY_LAYERS``, like robnet-large) unless overridden. It is our architecture, not the
    paper's unpublished one, so it records where it came from and claims no paper numbers."""
    from pathlib import Path

    from .genotype import as_genotype, read_genotype_file

    overrides = dict(overrides)
    value = overrides.pop("genotype")
    if isinstance(value, (str, Path)):
        genotype = read_genotype_file(value)
    else:
        genotype = as_genotype(value)
    base = REGISTRY["robnet-large"].config
    assert base is not None
    config = derive_config(base, model_name=name, genotype=genotype.to_json(), **overrides)
    return dataclasses.replace(
        config, derived_from={"name": "robnetzoo search", "changed": {"genotype": str(genotype)}}
    )


def derive_config(
    base: ModelConfig, *, model_name: str | None = None, dataset: str | None = None, **arch_overrides: Any
) -> ModelConfig:
    """``base`` with constructor arguments (and optionally the data set) changed.

    A changed model is a different model: it gets its own name (``robnet-large-C8-layers3``
    unless ``name`` is given) and records ``derived_from`` (the base name and what changed),
    so it never borrows the base's paper numbers or claims to be it. Overrides that change
    nothing return ``base`` itself.
    """
    config = base.with_overrides(**arch_overrides)
    changed = {k: v for k, v in config.arch_args.items() if base.arch_args.get(k, object()) != v}
    if dataset is not None and dataset != base.dataset:
        changed["dataset"] = dataset
    if not changed and model_name is None:
        return base
    suffix = "-".join(
        f"{k}{v}" for k, v in changed.items() if isinstance(v, (int, float, str)) and k not in ("genotype", "dataset")
    )
    auto = f"{base.name}-{suffix}" if suffix else f"{base.name}-custom"
    return dataclasses.replace(
        config,
        name=model_name or auto,
        dataset=dataset or base.dataset,
        derived_from={"name": base.name, "changed": changed},
    )


def paper_reference(
    config: ModelConfig, dataset: str | None = None, threat_model: ThreatModel | None = None
) -> tuple[ModelEntry, dict[str, float]] | None:
    """The paper's row for a model, or None when the paper says nothing about it.

    A row applies only when all three match: the architecture (arch and constructor arguments,
    genotypes compared canonically), the data set it is evaluated on, and the threat model
    (the paper's is L-inf 8/255). So robnet-large evaluated on digits, or at eps 4/255, or a
    robnet-large rebuilt at C=8, gets no paper column.
    """
    dataset = dataset if dataset is not None else config.dataset
    threat_model = threat_model if threat_model is not None else config.threat_model
    for entry in REGISTRY.values():
        if (
            entry.config is not None
            and entry.paper
            and entry.config.same_architecture(config)
            and entry.config.dataset == dataset
            and _same_threat(entry.config.threat_model, threat_model)
        ):
            return entry, dict(entry.paper)
    return None


def _same_threat(a: ThreatModel, b: ThreatModel) -> bool:
    return a.norm == b.norm and abs(a.eps - b.eps) < 1e-9


# ---------------------------------------------------------------------------- sources

HF_HUB_PREFIX = "hf-hub:"
LOCAL_DIR_PREFIX = "local-dir:"


@dataclass(frozen=True)
class Source:
    """Where a model comes from: ``kind`` is ``"folder"``, ``"hub"`` or ``"registry"``.

    ``value`` is the folder path, the Hub repo id, or the registry name.
    """

    kind: str
    value: str

    def __str__(self) -> str:
        return self.value


def resolve_source(source: "str | os.PathLike[str]") -> Source:
    """Decide, once for every command, whether ``source`` is a folder, a Hub repo or a name.

    Explicit prefixes, as in timm, always win: ``hf-hub:org/name`` and ``local-dir:path``.
    Without a prefix: an existing folder is a folder (as in transformers); a registry name is
    a name; anything with a path separator or a leading ``.``/``~`` that does not exist is a
    missing folder (``NotFound``); ``org/name`` is a Hub repo id; any other word is looked up
    in the registry, suggesting close names.
    """
    text = os.fspath(source)
    if text.startswith(HF_HUB_PREFIX):
        return Source("hub", check_repo_id(text[len(HF_HUB_PREFIX) :]))
    if text.startswith(LOCAL_DIR_PREFIX):
        return Source("folder", _existing_folder(text[len(LOCAL_DIR_PREFIX) :]))
    if os.path.isdir(text):
        return Source("folder", text)
    if text in REGISTRY:
        return Source("registry", text)
    looks_like_path = text.startswith((".", "~", os.sep)) or text.endswith(("/", os.sep)) or "\\" in text
    if looks_like_path or os.path.exists(text):
        _existing_folder(text)
    if "/" in text:
        return Source("hub", check_repo_id(text))
    get_entry(text)  # unknown names raise with close matches
    return Source("registry", text)


def _existing_folder(path: str) -> str:
    expanded = os.path.expanduser(path)
    if os.path.isdir(expanded):
        return expanded
    if os.path.exists(expanded):
        raise InvalidInput(f"{path} is a file, not a model folder; give the folder that holds config.json")
    raise NotFound(f"no model folder at {path}: it does not exist; check the path")


def check_repo_id(repo_id: str) -> str:
    """Return ``repo_id`` if it is a valid ``org/name``, else raise ``InvalidInput``."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
        if repo_id.count("/") != 1:
            raise HFValidationError("expected exactly one '/'")
    except HFValidationError as exc:
        raise InvalidInput(
            f"malformed Hub repo id {repo_id!r} ({str(exc).splitlines()[0]}); "
            "write it as org/name, e.g. robnetzoo/robnet-large"
        ) from None
    return repo_id
