"""The training part of a trained model's card: how it was trained, how it was judged, whom
to cite. ``robnetzoo.hub.model_card`` writes the metadata, genotype and density; this adds
what only a run knows."""

from __future__ import annotations

import json
from typing import Any

from robnetzoo._version import __version__
from robnetzoo.config import ModelConfig
from robnetzoo.evaluation import EvalReport

from .recipes import Recipe

CITATION = """@inproceedings{guo2020meets,
  title     = {When NAS Meets Robustness: In Search of Robust Architectures against Adversarial Attacks},
  author    = {Guo, Minghao and Yang, Yuzhe and Xu, Rui and Liu, Ziwei and Lin, Dahua},
  booktitle = {Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  year      = {2020}
}"""


def training_notes(
    config: ModelConfig, recipe: Recipe, report: EvalReport, best: dict[str, Any] | None, seed: int
) -> str:
    """Markdown: the recipe, the selected epoch, the test results, the citation, the version."""
    rows = [f"| clean | {report.clean_accuracy:.2f} |"] + [
        f"| {name} | {accuracy:.2f} |" for name, accuracy in report.robust_accuracy.items()
    ]
    chosen = (
        "the last epoch"
        if not best or best.get("robust") is None
        else (
            f"epoch {best['epoch']} ({best['attack']} robust accuracy {best['robust']:.2f}%, clean "
            f"{best['clean']:.2f}% "
            f"on {recipe.held_out_rule()})"
        )
    )
    lines = [
        "## Training",
        "",
        f"Trained with robnetzoo {__version__} (`robnetzoo train`, seed {seed}): {recipe.describe()}.",
        f"Selected: {chosen}. The test split was used only for the results below.",
        "",
        "<details><summary>recipe.json</summary>",
        "",
        "```json",
        json.dumps(recipe.to_dict(), indent=2),
        "```",
        "",
        "</details>",
        "",
        f"## Evaluation ({report.dataset} test split, {report.n_examples} images, "
        f"{report.threat_model['norm']} eps {config.threat_model.with_overrides(eps=report.eps).eps_text()})",
        "",
        "| metric | accuracy (%) |",
        "|---|---|",
        *rows,
        "",
        "## Citation",
        "",
        "The architecture family is RobNet:",
        "",
        "```bibtex",
        CITATION,
        "```",
    ]
    return "\n".join(lines)
