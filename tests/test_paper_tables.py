"""Every figure of the paper's tables (tests/reference/paper_results.md) is a registry row whose
paper column applies under the matching data set and threat model: the reference file and the
registry walked together."""

from __future__ import annotations

from pathlib import Path

import pytest

from robnetzoo.registry import REGISTRY, paper_reference
from robnetzoo.threat import ThreatModel

REFERENCE = Path(__file__).parent / "reference" / "paper_results.md"
NAMES = {
    "ResNet-18": "resnet18",
    "ResNet-50": "resnet50",
    "ResNet-101": "resnet101",
    "ResNet-152": "resnet152",
    "WideResNet-28-10": "wrn-28-10",
    "DenseNet-121": "densenet121",
    "RobNet-small": "robnet-small",
    "RobNet-medium": "robnet-medium",
    "RobNet-large": "robnet-large",
    "RobNet-large-v2": "robnet-large-v2",
    "RobNet-free": "robnet-free",
}
COLUMNS = {
    "Natural": "natural",
    "FGSM": "fgsm",
    "PGD-10": "pgd10",
    "PGD-20": "pgd20",
    "PGD-100": "pgd100",
    "DeepFool": "deepfool",
    "MI-FGSM": "mifgsm",
}
DATA_COLUMNS = {"SVHN": "svhn", "CIFAR-100": "cifar100", "Tiny-ImageNet": "tiny-imagenet"}


def tables() -> dict[str, list[dict[str, str]]]:
    """Each '## ' section's markdown table, as rows of column -> cell."""
    found, section, header = {}, None, None
    for line in REFERENCE.read_text().splitlines():
        if line.startswith("## "):
            section, header = line[3:].strip(), None
        elif line.startswith("|") and section is not None:
            cells = [c.strip() for c in line.strip("|").split("|")]
            if header is None:
                header = cells
            elif not set("".join(cells)) <= set("-: "):
                found.setdefault(section, []).append(dict(zip(header, cells)))
    return found


def figures() -> list[tuple[str, str, str, float]]:
    """(section, registry name, data set, {column: figure}) for every figure in the tables."""
    out = []
    for section, rows in tables().items():
        for row in rows:
            model = row["Model"]
            if section.startswith("Other data sets"):
                for column, dataset in DATA_COLUMNS.items():
                    out.append((section, f"{NAMES[model]}-{dataset}", dataset, {"pgd100": float(row[column])}))
                continue
            dataset = "imagenet" if section.startswith("ImageNet") else "cifar10"
            base = model.replace(" + Denoise", "")
            name = (
                NAMES[base]
                + ("-denoise" if "Denoise" in model else "")
                + ("-imagenet" if dataset == "imagenet" else "")
            )
            out.append((section, name, dataset, {COLUMNS[c]: float(v) for c, v in row.items() if c in COLUMNS}))
    return out


def test_the_reference_file_has_the_four_tables():
    assert len(figures()) == 9 + 4 + 12 + 4
    assert {s.split(" (")[0] for s, *_ in figures()} == {
        "CIFAR-10",
        "ImageNet",
        "Other data sets",
        "Boosting an existing defence",
    }


@pytest.mark.parametrize("section, name, dataset, expected", figures(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_paper_figure_is_a_registry_row_whose_column_applies(section, name, dataset, expected):
    entry = REGISTRY[name]
    assert entry.dataset == dataset
    for column, value in expected.items():
        assert entry.paper[column] == value, (column, entry.paper)
    if entry.config is not None:  # what robnetzoo eval shows beside its own numbers
        found = paper_reference(entry.config, dataset=dataset, threat_model=ThreatModel("Linf", 8 / 255))
        assert found is not None and found[0].name == name
        assert all(found[1][column] == value for column, value in expected.items())
        assert paper_reference(entry.config, dataset=dataset, threat_model=ThreatModel("Linf", 4 / 255)) is None
