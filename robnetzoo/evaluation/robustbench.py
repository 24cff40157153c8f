"""RobustBench's protocol and its ``model_info`` file, for a robnetzoo evaluation.

RobustBench (Croce et al., 2021) ranks a model by standard AutoAttack on the first 10,000
CIFAR-10 / CIFAR-100 test images or 5,000 ImageNet validation images (batch size free) and
describes each entry by a ``model_info/<dataset>/<threat>/<name>.json`` file with the fields of
its ``robustbench.utils.ModelInfo`` plus ``unreliable``. ``protocol`` gives the evaluator's
settings for a data set (refusing one RobustBench does not cover) and ``model_info`` the file,
filled from what the model's config, the registry and the report know; accuracies are strings
with two decimals, as RobustBench writes them. ``benchmark`` runs the whole protocol from Python
(what ``robnetzoo eval --preset robustbench`` calls), as RobustBench's own ``benchmark`` does.

RobustBench's own ``benchmark`` cannot run in this project's test suite: the release on PyPI
imports AutoAttack as ``autoattack`` (its GitHub package; PyPI's is ``pyautoattack``) and loads
CIFAR through torchvision with ``download=True``, which checks the archive's md5 and downloads
otherwise, and the suite never downloads. The tests check the file against ``ModelInfo``'s
fields instead.
"""

from __future__ import annotations

from typing import Any

from ..config import ModelConfig, config_of
from ..errors import InvalidInput, option
from ..threat import ThreatModel
from .report import EvalReport

COVERED = {"cifar10": 10_000, "cifar100": 10_000, "imagenet": 5_000}  # RobustBench's data sets, its example counts
THREATS = ("Linf", "L2")
FIELDS = (
    "link",
    "name",
    "authors",
    "additional_data",
    "number_forward_passes",
    "dataset",
    "venue",
    "architecture",
    "eps",
    "clean_acc",
    "reported",
    "autoattack_acc",
    "footnote",
    "unreliable",
)
PAPER = {
    "link": "https://arxiv.org/abs/1911.10695",
    "authors": "Minghao Guo, Yuzhe Yang, Rui Xu, Ziwei Liu, Dahua Lin",
    "venue": "CVPR 2020",
}


def protocol(dataset: str, norm: str = "Linf") -> dict[str, Any]:
    """The evaluator's settings for RobustBench's protocol on ``dataset``."""
    if dataset not in COVERED:
        raise InvalidInput(
            f"RobustBench covers {', '.join(COVERED)}; {dataset} is not one of them",
            fix=f"drop {option('preset', 'robustbench')} or evaluate on one of those data sets",
        )
    if norm not in THREATS:
        raise InvalidInput(f"RobustBench's threat models are Linf and L2, not {norm}")
    return {"attacks": ["autoattack"], "n_examples": COVERED[dataset], "cascade": False}


def model_info(
    report: EvalReport, config: ModelConfig | None, *, paper: dict[str, float] | None = None
) -> dict[str, Any]:
    """RobustBench's ``model_info`` for ``report`` (an evaluation that ran ``autoattack``)."""
    if "autoattack" not in report.robust_accuracy:
        raise InvalidInput(
            "a RobustBench model_info needs an AutoAttack evaluation",
            fix=f"evaluate with {option('preset', 'robustbench')}",
        )
    from .. import __version__

    published = paper is not None  # the registry's paper row applies (architecture, data and threat model match)
    threat = report.threat()
    covered = COVERED.get(report.dataset)
    footnote = (
        f"Evaluated with robnetzoo {__version__} (standard AutoAttack through pyautoattack) on the first "
        f"{report.n_examples} test images"
        + (
            ""
            if covered is None or report.n_examples >= covered
            else f", fewer than RobustBench's {covered}: not comparable"
        )
    )
    architecture = config.arch if config is not None else report.model
    if config is not None and config.arch == "robnet":
        args = config.arch_args
        architecture = f"RobNet (C={args.get('C')}, {args.get('layers')} cells)"
    return {
        "link": PAPER["link"] if published else None,
        "name": report.model,
        "authors": PAPER["authors"] if published else None,
        "additional_data": False,
        "number_forward_passes": 1,
        "dataset": report.dataset,
        "venue": PAPER["venue"] if published else None,
        "architecture": architecture,
        "eps": threat.eps_text(),
        "clean_acc": f"{report.clean_accuracy:.2f}",
        "reported": f"{paper['pgd20']:.2f}" if published and paper and "pgd20" in paper else None,
        "autoattack_acc": f"{report.robust_accuracy['autoattack']:.2f}",
        "footnote": footnote,
        "unreliable": any(check.get("passed") is False for check in report.checks),
    }


def benchmark(
    model: Any, dataset: Any, *, norm: str | None = None, n_examples: int | None = None, **evaluate_kwargs: Any
) -> tuple[EvalReport, dict[str, Any]]:
    """RobustBench's protocol on ``model``: standard AutoAttack, no cascade, on the first examples
    RobustBench takes of ``dataset`` (``n_examples`` fewer, for a quick look: the file then says
    it is not comparable). Returns the report and the ``model_info`` dict, which carries the
    paper's figure where the registry's row applies (``registry.paper_reference``).
    ``evaluate_kwargs`` go to ``evaluate`` (``batch_size``, ``device``, ``seed``, ``output``...),
    except what the protocol fixes."""
    from ..registry import paper_reference
    from .evaluator import evaluate

    fixed = sorted(set(evaluate_kwargs) & {"attacks", "cascade", "eps", "attack_params"})
    if fixed:
        raise InvalidInput(f"RobustBench's protocol fixes {', '.join(fixed)}; drop them")
    config = config_of(model)
    own_norm = config.threat_model.norm if config is not None else "Linf"
    rules = protocol(str(getattr(dataset, "name", None)), ThreatModel().with_overrides(norm=norm or own_norm).norm)
    report = evaluate(
        model,
        dataset,
        attacks=rules["attacks"],
        cascade=rules["cascade"],
        norm=norm,
        n_examples=n_examples or rules["n_examples"],
        **evaluate_kwargs,
    )
    reference = paper_reference(config, dataset=report.dataset, threat_model=report.threat()) if config else None
    return report, model_info(report, config, paper=reference[1] if reference is not None else None)
