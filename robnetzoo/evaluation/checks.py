"""Sanity checks that every evaluation runs: is the robustness it found real, or the sign of
gradient masking, a randomised model, or probabilities mistaken for logits?

Each check is a named result with its evidence (``Check``); ``passed`` is None when the check
cannot run here (no gradients to inspect, a single attack family), and says why. A failed check
never stops an evaluation: ``evaluate`` records it in ``EvalReport.checks`` and issues a
``RobustnessCheckWarning``. The checks, after AutoAttack's own and Athalye et al. (2018):

* ``gradients``: the share of examples whose input gradient of the loss is exactly zero, NaN or
  infinite (a zero gradient is what a quantising input layer, or a saturated softmax, gives;
  gradient attacks then stand still). Fails above ``ZERO_GRADIENT_SHARE``, or on any NaN/inf.
* ``deterministic``: two forward passes on the same images give the same logits (a randomised
  forward makes every gradient attack weaker; evaluate it with expectation over transformation).
* ``logits``: the outputs are not probabilities (rows of non-negative numbers summing to 1): the
  attacks' losses assume logits.
* ``monotone``: a stronger attack of the same family never leaves more examples robust
  (FGSM >= PGD-k >= PGD-k' for k < k' >= AutoAttack, under the same threat model); for curves
  over eps, a larger radius never leaves more robust (``eps_monotone``).
* ``black_box``: a score-based attack (Square) breaking examples that every gradient attack
  left robust: the classic sign of masked gradients. Fails when it breaks more than
  ``BLACK_BOX_SHARE`` of them (and at least 2).
* ``predictions``: the model tells classes apart. Fails when nine in ten of the first examples
  get one class while their labels are varied (a collapsed model), or when the clean accuracy
  is no better than chance (its 95% interval reaches one over the class count): such a model's
  "robust accuracy" only counts the examples of the class it always says.
* ``unbounded`` (``sanity=True``): PGD at an unbounded radius must break every example it
  attacks; anything left standing means the attack cannot move the model at all.
* AutoAttack's own warnings, when it ran, are kept as ``autoattack`` checks.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import torch
from torch import nn
from torch.utils.data import Dataset

from ..data import take
from ..stats import wilson_interval
from ..threat import ThreatModel

CHECK_EXAMPLES = 64  # examples the forward and gradient checks look at
ZERO_GRADIENT_SHARE = 0.10
BLACK_BOX_SHARE = 0.05
UNBOUNDED_EPS = {"Linf": 1.0, "L2": 1000.0}


class RobustnessCheckWarning(UserWarning):
    """A sanity check of an evaluation failed (the evaluation itself still completed)."""


@dataclass
class Check:
    name: str
    passed: bool | None
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def gradient_check(module: nn.Module | None, images: torch.Tensor, labels: torch.Tensor) -> Check:
    if module is None:
        return Check("gradients", None, "no gradients to inspect: the target has none and no source was given")
    x = images.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        loss = nn.functional.cross_entropy(module(x).float(), labels, reduction="sum")
        (gradient,) = torch.autograd.grad(loss, x)
    flat = gradient.flatten(1)
    zero = int((flat == 0).all(1).sum())
    nonfinite = int((~torch.isfinite(flat)).any(1).sum())
    n = len(images)
    passed = nonfinite == 0 and zero / n <= ZERO_GRADIENT_SHARE
    summary = f"{zero} of {n} examples have a zero input gradient and {nonfinite} a NaN or infinite one" + (
        "" if passed else ": gradient attacks cannot move them (masked gradients)"
    )
    return Check(
        "gradients",
        passed,
        summary,
        {"n": n, "zero": zero, "nonfinite": nonfinite, "threshold_share": ZERO_GRADIENT_SHARE},
    )


def forward_logits(target: Any, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two forward passes' logits on the same images: what the forward and prediction checks read."""
    with torch.inference_mode():
        return target.logits(images).float().cpu(), target.logits(images).float().cpu()


def forward_checks(first: torch.Tensor, second: torch.Tensor) -> list[Check]:
    """``deterministic`` and ``logits`` from two forward passes' logits on the same images."""
    scale = float(first.abs().max()) or 1.0
    difference = float((first - second).abs().max())
    deterministic = difference <= 1e-5 * max(scale, 1.0)
    sums = first.sum(1)
    probability_rows = int(((first >= 0).all(1) & ((sums - 1).abs() <= 1e-3)).sum())
    n = len(first)
    looks_like_probabilities = probability_rows / n > 0.9
    return [
        Check(
            "deterministic",
            deterministic,
            "two forward passes agree"
            if deterministic
            else f"two forward passes on the same images differ (max |difference| {difference:.3g}): a randomised "
            "forward weakens every attack; evaluate with expectation over transformation",
            {"n": n, "max_abs_difference": difference},
        ),
        Check(
            "logits",
            not looks_like_probabilities,
            "outputs are logits, not probabilities"
            if not looks_like_probabilities
            else f"{probability_rows} of {n} output rows are non-negative and sum to 1: "
            "the model returns probabilities; "
            "the attacks' losses expect logits (remove the softmax)",
            {"n": n, "probability_rows": probability_rows},
        ),
    ]


COLLAPSED_SHARE = 0.9  # one predicted class for this share of the examples is a collapsed model


def prediction_check(predicted: torch.Tensor, labels: torch.Tensor, classes: int, correct: int, n: int) -> Check:
    """``predicted`` and ``labels``: the first examples' predicted and true classes; ``correct``
    of ``n``: the whole evaluation's clean count."""
    counts = torch.bincount(predicted, minlength=classes)
    top = int(counts.argmax())
    share = float(counts[top]) / max(len(predicted), 1)
    label_share = float(torch.bincount(labels, minlength=classes).max()) / max(len(labels), 1)
    low, high = wilson_interval(correct, n)
    chance = 100.0 / classes
    evidence = {
        "n": len(predicted),
        "most_predicted_class": top,
        "most_predicted_share": share,
        "clean_accuracy": 100.0 * correct / max(n, 1),
        "clean_interval_95": [low, high],
        "chance": chance,
    }
    if len(predicted) >= 10 and share >= COLLAPSED_SHARE and label_share < COLLAPSED_SHARE:
        return Check(
            "predictions",
            False,
            f"{share:.0%} of {len(predicted)} examples are predicted class {top} while their labels vary: "
            "the model has collapsed to one class, and its robust accuracy counts only that class's examples",
            evidence,
        )
    if low <= chance:
        return Check(
            "predictions",
            False,
            f"clean accuracy {evidence['clean_accuracy']:.1f}% [{low:.1f}, {high:.1f}] (n={n}) is no better than "
            f"chance ({chance:.1f}% of {classes} classes): check the weights, the data set and its preprocessing",
            evidence,
        )
    return Check("predictions", True, f"predictions vary and clean accuracy beats chance ({chance:.1f}%)", evidence)


_FAMILY = [
    (re.compile(r"^fgsm$"), lambda m: 1),
    (re.compile(r"^pgd(\d+)$"), lambda m: int(m.group(1)) + 1),
    (re.compile(r"^autoattack$"), lambda m: 10**9),
]


def strength(name: str) -> int | None:
    """The rank of ``name`` in the FGSM < PGD-k < AutoAttack family (None outside it)."""
    for pattern, rank in _FAMILY:
        match = pattern.match(name)
        if match:
            return rank(match)
    return None


def monotone_check(robust: dict[str, int], attacks: Sequence[str], cascade: bool) -> Check:
    ranked = sorted(((strength(a), a) for a in attacks if strength(a) is not None))
    if cascade:
        return Check(
            "monotone", None, "with cascade each attack runs on what the earlier ones left: monotone by construction"
        )
    if len(ranked) < 2:
        return Check("monotone", None, "fewer than two attacks of the FGSM / PGD-k / AutoAttack family ran")
    violations = [
        {"weaker": weak, "stronger": strong, "robust_weaker": robust[weak], "robust_stronger": robust[strong]}
        for i, (_, weak) in enumerate(ranked)
        for _, strong in ranked[i + 1 :]
        if robust[strong] > robust[weak]
    ]
    order = " >= ".join(name for _, name in ranked)
    if violations:
        worst = violations[0]
        return Check(
            "monotone",
            False,
            f"{worst['stronger']} left {worst['robust_stronger']} examples robust, more than the weaker "
            f"{worst['weaker']} ({worst['robust_weaker']}): a stronger attack doing worse is a sign of masking",
            {"order": order, "violations": violations},
        )
    return Check("monotone", True, f"robust counts fall with attack strength ({order})", {"order": order})


def eps_monotone(robust_by_eps: dict[float, int]) -> Check:
    """A larger radius never leaves more examples robust (for curves over eps)."""
    radii = sorted(robust_by_eps)
    violations = [
        {"smaller": a, "larger": b, "robust_smaller": robust_by_eps[a], "robust_larger": robust_by_eps[b]}
        for a, b in zip(radii, radii[1:])
        if robust_by_eps[b] > robust_by_eps[a]
    ]
    if violations:
        v = violations[0]
        return Check(
            "eps_monotone",
            False,
            f"eps {v['larger']:.4g} left {v['robust_larger']} robust, more than eps "
            f"{v['smaller']:.4g} ({v['robust_smaller']})",
            {"violations": violations},
        )
    return Check("eps_monotone", True, "robust counts fall as eps grows", {"radii": radii})


def black_box_check(
    bits: dict[str, list[bool]], gradient_attacks: Sequence[str], score_attacks: Sequence[str]
) -> Check:
    if not gradient_attacks or not score_attacks:
        return Check("black_box", None, "needs a gradient attack and a score-based one (square) in the same evaluation")
    white_robust = [all(bits[a][i] for a in gradient_attacks) for i in range(len(bits[gradient_attacks[0]]))]
    survivors = sum(white_robust)
    broken_only_by_black_box = sum(
        1 for i, robust in enumerate(white_robust) if robust and not all(bits[a][i] for a in score_attacks)
    )
    passed = not (broken_only_by_black_box >= 2 and broken_only_by_black_box > BLACK_BOX_SHARE * max(survivors, 1))
    summary = (
        f"{', '.join(score_attacks)} broke {broken_only_by_black_box} of the {survivors} examples every gradient "
        f"attack left robust"
        + ("" if passed else ": a black-box attack beating the white-box ones is the classic sign of masked gradients")
    )
    return Check(
        "black_box",
        passed,
        summary,
        {
            "white_box_robust": survivors,
            "broken_only_by_black_box": broken_only_by_black_box,
            "threshold_share": BLACK_BOX_SHARE,
        },
    )


def unbounded_check(
    module: nn.Module | None, images: torch.Tensor, labels: torch.Tensor, threat: ThreatModel, seed: int
) -> Check:
    from .. import attacks as attack_suite

    if module is None:
        return Check("unbounded", None, "no gradients to attack with: the target has none and no source was given")
    eps = UNBOUNDED_EPS[threat.norm]
    name = "pgd20" if threat.norm == "Linf" else "pgdl2"
    unbounded = ThreatModel(norm=threat.norm, eps=eps)
    attack = attack_suite.build(
        name,
        module,
        threat_model=unbounded,
        seed=seed,
        validate=False,
        **({} if threat.norm == "Linf" else {"alpha": eps / 10, "steps": 50}),
    )
    result = attack.run(images, labels, early_stop=True)
    left = int((~result.broken).sum())
    passed = left == 0
    return Check(
        "unbounded",
        passed,
        f"{name} at eps {eps:g} ({threat.norm}) broke every one of {len(images)} examples"
        if passed
        else f"{name} at eps {eps:g} ({threat.norm}) left {left} of {len(images)} examples robust: an unbounded "
        "attack must reach 0% (the attack cannot move the model)",
        {"n": len(images), "robust": left, "eps": eps, "attack": name},
    )


def autoattack_checks(flags: Sequence[str]) -> list[Check]:
    return [Check("autoattack", False, f"AutoAttack: {flag}") for flag in flags]


def run_checks(
    *,
    target: Any,
    gradient_source: nn.Module | None,
    inputs: Any,
    gradient_inputs: Any,
    dataset: Dataset,
    standing: list[bool],
    bits: dict[str, list[bool]],
    robust: dict[str, int],
    attacks: Sequence[str],
    score_attacks: Sequence[str],
    threat: ThreatModel,
    cascade: bool,
    seed: int,
    sanity: bool = False,
    autoattack_flags: Sequence[str] = (),
) -> list[Check]:
    """Every check of one evaluation, on its first ``CHECK_EXAMPLES`` clean-correct examples
    (the forward checks on its first examples, correct or not). ``inputs`` places images where
    the target reads them, ``gradient_inputs`` where ``gradient_source`` does."""
    n = len(standing)
    first = list(range(min(CHECK_EXAMPLES, n)))
    images, labels = take(dataset, first)
    first_logits, second_logits = forward_logits(target, inputs(images))
    checks = forward_checks(first_logits, second_logits)
    classes = first_logits.shape[1]
    checks.append(prediction_check(first_logits.argmax(1), labels.cpu(), classes, sum(standing), n))
    correct = [i for i in range(n) if standing[i]][:CHECK_EXAMPLES]
    if correct:
        x, y = take(dataset, correct)
        x = gradient_inputs(x)
        y = y.to(x.device)
        checks.append(gradient_check(gradient_source, x, y))
    else:
        checks.append(Check("gradients", None, "no clean-correct example to inspect"))
    gradient_attacks = [a for a in attacks if a not in score_attacks]
    checks.append(monotone_check(robust, attacks, cascade))
    checks.append(black_box_check(bits, gradient_attacks, score_attacks))
    if sanity and correct:
        checks.append(unbounded_check(gradient_source, x, y, threat, seed))
    checks += autoattack_checks(autoattack_flags)
    return checks


def warn_failed(checks: Sequence[Check]) -> None:
    for check in checks:
        if check.passed is False:
            warnings.warn(
                f"robustness check {check.name!r} failed: {check.summary}", RobustnessCheckWarning, stacklevel=3
            )
