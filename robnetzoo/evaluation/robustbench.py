"""RobustBench's protocol and its ``model_info`` file, for a robnetzoo evaluation.

RobustBench (Croce et al., 2021) ranks a model by standard AutoAttack on the first 10,000
CIFAR-10 / CIFAR-100 test images or 5,000 ImageNet validation images (batch size free) and
describes each entry by a ``model_info/<dataset>/<threat>/<name>.json`` file with the fields of
its ``robustbench.utils.ModelInfo`` plus ``unreliable``. ``protocol`` gives the evaluator's
settings for a data set (refusing one RobustBench does not cover) and ``model_info`` the file,
filled from what the model's config, the registry and the report know; accuracies are strings
with two decimals, as RobustBench writes them.

RobustBench's own ``benchmark`` cannot run in this project's test suite: the release on PyPI
imports AutoAttack as ``autoattack`` (its GitHub package; PyPI's is ``pyautoattack``) and loads
CIFAR through torchvision with ``download=True``, which checks the archive's md5 and downloads
otherwise, and the suite never downloads. The tests check the file against ``ModelInfo``'s
fields instead.
"""

from __future__ import annotations

from typing import Any

from ..config import ModelConfig
from ..errors import InvalidInput, option
from .report import EvalReport

COVERED = {"cifar10": 10_000, "cifar100": 10_000, "imagenet": 5_000}  # RobustBench's data sets, its example counts
THREATS = ("Linf", "L2")
FIELDS = ("link", "name", "authors", "additional_data", "number_forward_passes", "dataset", "venue",
          "architecture", "eps", "clean_acc", "reported", "autoattack_acc", "footnote", "unreliable")
PAPER = {"link": "https://arxiv.org/abs/1911.10695", "authors": "Minghao Guo, Yuzhe Yang, Rui Xu, Ziwei Liu, Dahua Lin",
         "venue": "CVPR 2020"}


def protocol(dataset: str, norm: str = "Linf") -> dict[str, Any]:
    """The evaluator's settings for RobustBench's protocol on ``dataset``."""
    if dataset not in COVERED:
        raise InvalidInput(f"RobustBench covers {', '.join(COVERED)}; {dataset} is not one of them",
                           fix=f"drop {option('preset', 'robustbench')} or evaluate on one of those data sets")
    if norm not in THREATS:
        raise InvalidInput(f"RobustBench's threat models are Linf and L2, not {norm}")
    return {"attacks": ["autoattack"], "n_examples": COVERED[dataset], "cascade": False}


def model_info(report: EvalReport, config: ModelConfig | None, *, paper: dict[str, float] | None = None) -> dict[str, Any]:
    """RobustBench's ``model_info`` for ``report`` (an evaluation that ran ``autoattack``)."""
    if "autoattack" not in report.robust_accuracy:
        raise InvalidInput("a RobustBench model_info needs an AutoAttack evaluation",
                           fix=f"evaluate with {option('preset', 'robustbench')}")
    from .. import __version__

    published = paper is not None  # the registry's paper row applies (architecture, data and threat model match)
    threat = report.threat()
    covered = COVERED.get(report.dataset)
    footnote = (f"Evaluated with robnetzoo {__version__} (standard AutoAttack through pyautoattack) on the first "
                f"{report.n_examples} test images" + ("" if covered is None or report.n_examples >= covered else
                                                      f", fewer than RobustBench's {covered}: not comparable"))
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
