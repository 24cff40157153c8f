"""Facts about models for people and scripts: the zoo table and one model's details."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from .config import build_model, config_of
from .profile import count_macs, count_parameters
from .registry import REGISTRY, ModelEntry, buildable_config, list_models, paper_reference, resolve_source


def weights_status(entry: ModelEntry) -> str:
    """Where the weights come from: ``cached`` (already in the local Hub cache), else the
    entry's ``weights_source`` (``hub: org/name``, ``authors' checkpoint: convert it``,
    ``train it``, ``awaiting search``, ``packaged``: shipped in the wheel)."""
    if entry.config is not None and not entry.packaged:
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(entry.hub_repo, "model.safetensors"), str):
            return "cached"
    return entry.weights_source


DATASET_ORDER = {
    "cifar10": 0,
    "imagenet": 1,
    "svhn": 2,
    "cifar100": 3,
    "tiny-imagenet": 4,
    "mnist": 5,
    "fashion-mnist": 6,
    "digits": 7,
}


def dataset_facts(name: str, root: str | None = None) -> dict[str, Any]:
    """One data set's facts (``robnetzoo.data.DATASET_INFO``) and, for the IDX sets, which files
    would be read (``found``: the training images' path, or None)."""
    from .data import IDX_DATASETS, dataset_info, find_idx_files

    facts = dataset_info(name).to_dict()
    if name in IDX_DATASETS:
        found = find_idx_files(name, root, "train")
        facts["found"] = None if found is None else str(found[0].parent)
    elif name == "digits":
        facts["found"] = "built in"
    return facts


def dataset_table(root: str | None = None) -> list[dict[str, Any]]:
    """Every data set of the zoo with its classes, image size and threat model (``dataset_facts``)."""
    from .data import DATASETS

    return [dataset_facts(name, root) for name in sorted(DATASETS, key=lambda n: DATASET_ORDER.get(n, 99))]


# The registry's parameter counts, counted once (``count_zoo_parameters``) and shipped, so that
# listing the zoo builds no model; a test rebuilds every model and compares.
PARAMETER_COUNTS_FILE = Path(__file__).with_name("_data") / "parameter_counts.json"


def count_zoo_parameters() -> dict[str, int]:
    """Every buildable registry model's parameter count, built on the meta device (no memory;
    seconds for the whole zoo): what ``PARAMETER_COUNTS_FILE`` holds."""
    counts = {}
    for name in sorted(REGISTRY):
        if REGISTRY[name].buildable:
            with torch.device("meta"):
                counts[name] = count_parameters(build_model(buildable_config(name)))
    return counts


def _shipped_counts() -> dict[str, int]:
    try:
        return json.loads(PARAMETER_COUNTS_FILE.read_text())
    except (OSError, ValueError):
        return {}


def zoo_table(pattern: str | None = None, dataset: str | None = None) -> list[dict[str, Any]]:
    """One row per registry model (of ``dataset`` only, when given), grouped by data set;
    parameters from the shipped counts (a model missing there is counted on the meta device)."""
    rows = []
    shipped = _shipped_counts()
    names = [n for n in list_models(pattern) if dataset is None or REGISTRY[n].dataset == dataset]
    for name in sorted(names, key=lambda n: (DATASET_ORDER.get(REGISTRY[n].dataset, 99), n)):
        entry = REGISTRY[name]
        params = None
        if entry.buildable:
            params = shipped.get(name)
            if params is None:
                with torch.device("meta"):
                    params = count_parameters(build_model(buildable_config(name)))
        rows.append(
            {
                "name": name,
                "params": params,
                "paper_params": entry.paper_params,
                "dataset": entry.dataset,
                "paper_natural": entry.paper.get("natural"),
                "paper_pgd20": entry.paper.get("pgd20"),
                "paper": dict(entry.paper),
                "measured": dict(entry.measured.get("metrics", {})),  # a packaged model's test-split figures
                "has_weights": entry.on_hub or entry.packaged or entry.authors_config is not None,
                "weights": weights_status(entry),
                "hub_repo": entry.hub_repo if entry.on_hub else None,
                "authors_checkpoint": entry.authors_checkpoint,
                "description": entry.description,
            }
        )
    return rows


def model_facts(source: str, **load_kwargs: Any) -> dict[str, Any]:
    """Config, genotype, density, parameters and MACs of a registry name, folder or repo id.

    A folder or repo id is loaded strictly, so this also checks its weights against its
    config (``weights_checked``); a registry name is built untrained.
    """
    from .hub import from_pretrained

    resolved = resolve_source(source)
    is_saved = resolved.kind != "registry"
    if is_saved:
        model = from_pretrained(source, **load_kwargs)
    else:
        model = build_model(buildable_config(resolved.value))
    config = config_of(model)
    genotype = config.genotype()
    info: dict[str, Any] = {
        "name": config.name,
        "source": source,
        "config": config.to_dict(),
        "parameters": count_parameters(model),
        "macs": count_macs(model, tuple(config.input_size)),
        "weights_checked": is_saved,
    }
    if genotype is not None:
        info["genotype"] = ["".join(c) for c in genotype.cells]
        info["density"] = genotype.density()
    reference = paper_reference(config)
    if reference is not None:
        info["paper"] = reference[1]
    return info


def draw_model(source: str, path: str, **kwargs: Any) -> str:
    """Draw the cells of a RobNet (a registry name, Hub repo or folder) to ``path`` (.png or
    .svg); returns the path. Models without cells (ResNets, WideResNets...) are refused."""
    from .drawing import draw_genotype
    from .errors import InvalidInput
    from .genotype import Genotype

    data = model_facts(source, **kwargs)
    if "genotype" not in data:
        raise InvalidInput(
            f"{source} is a {data['config']['arch']}, not a RobNet: only RobNets have cells to draw",
            fix="name a RobNet (robnetzoo models robnet*)",
        )
    genotype = Genotype.from_codes(data["genotype"])
    return str(
        draw_genotype(
            genotype,
            path,
            title=f"{data['name']} ({len(genotype.cells)} cell"
            f"{'' if genotype.shared else 's'}, density {genotype.density():.2f})",
        )
    )


if __name__ == "__main__":  # python -m robnetzoo.info: rewrite the shipped parameter counts
    from ._io import write_json

    write_json(PARAMETER_COUNTS_FILE, count_zoo_parameters(), indent=1)
    print(PARAMETER_COUNTS_FILE)
