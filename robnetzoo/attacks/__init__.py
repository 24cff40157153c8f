"""The attack suite: every attack is built by name and called the same way.

    attack = robnetzoo.attacks.build("pgd20", model, eps=8/255)
    adversarial = attack(images, labels)          # NCHW in [0, 1]

Names: ``fgsm``, ``nfgsm`` (N-FGSM: ``alpha``, ``noise``; a training attack whose examples leave
the eps-ball by design, so the evaluator refuses it), ``pgd`` (``alpha``, ``steps``,
``random_start``), ``pgd<k>`` for any k (alpha eps/4, random start: the paper's 2/255 at 8/255,
and a step that keeps pace with a larger radius such as MNIST's 0.3: ``pgd7``, ``pgd20``,
``pgd100``), ``pgdl2``, ``mifgsm`` (``decay``), ``cw`` (CW margin loss under L-inf PGD),
``trades`` (PGD on the KL divergence from the clean prediction: the examples of TRADES
training), ``deepfool``, ``autoattack``, ``square`` / ``square<k>`` (score-based, a budget of k
queries, 1000 by default; ``p_init``; needs only logits, so it also runs directly against a
deployment runtime). ``apgd-ce`` and ``apgd-dlr`` (APGD, Croce & Hein 2020: ``steps``, ``rho``;
L-inf or L2), ``apgd-t`` (APGD on the targeted DLR loss against ``targets`` classes in turn),
and ``apgd-cascade``: APGD-CE, then APGD-T on the examples still standing, then Square only
where no gradient was usable: AutoAttack's verdict for a fraction of its passes (see
``cascade``). ``paper`` expands to the paper's five: fgsm, pgd20, pgd100, deepfool, mifgsm;
``worst-case`` to ``apgd-cascade``, the cheap way to a worst-case verdict at AutoAttack's
strength (``autoattack`` stays the reference for numbers comparable with RobustBench's).

Cost: every attack counts the image-passes it spends (``attack.passes``), and
``planned_passes(name)`` says what one example standing to the end costs, before anything runs.

Every attack serves a threat model (``robnetzoo.threat.ThreatModel``): ``norm`` defaults to
the attack's own (L2 for ``pgdl2``, L-inf for the rest) and ``eps`` to that norm's usual radius
(8/255, or 0.5 for L2). An attack asked for a norm it does not serve refuses at build time.
Common keywords: ``seed``, ``precision`` (fp32/bf16), ``mode`` (eval/train/keep) and
``validate`` (see ``base``).
"""

from __future__ import annotations

import re
from typing import Any

from torch import nn

from ..errors import InvalidInput
from ..threat import ThreatModel, canonical_norm
from .apgd import APGD, APGDTargeted
from .autoattack import AutoAttack
from .base import MODES, Attack, AttackResult, Noise, Passes, check_images
from .cascade import APGDCascade
from .deepfool import DeepFool
from .gradient import CW, FGSM, MIFGSM, NFGSM, PGD, PGDL2, TradesKL
from .square import Square

ATTACKS: dict[str, type[Attack]] = {
    "fgsm": FGSM,
    "nfgsm": NFGSM,
    "pgd": PGD,
    "pgdl2": PGDL2,
    "mifgsm": MIFGSM,
    "cw": CW,
    "trades": TradesKL,
    "deepfool": DeepFool,
    "autoattack": AutoAttack,
    "square": Square,
    "apgd-ce": APGD,
    "apgd-dlr": APGD,
    "apgd-t": APGDTargeted,
    "apgd-cascade": APGDCascade,
}
# Names that are one class with other defaults.
_NAME_DEFAULTS: dict[str, dict[str, Any]] = {"apgd-dlr": {"loss": "dlr"}}
PAPER_SUITE = ("fgsm", "pgd20", "pgd100", "deepfool", "mifgsm")
# Names that stand for attacks: what the paper's table ran, and what a worst-case verdict runs
# by default (the cascade: AutoAttack's verdict for a fraction of its passes, measured by
# benchmarks/autoattack_budget.py).
SUITES: dict[str, tuple[str, ...]] = {"paper": PAPER_SUITE, "worst-case": ("apgd-cascade",)}
_PGD_K = re.compile(r"^pgd(\d+)$")
_SQUARE_K = re.compile(r"^square(\d+)$")  # square<k>: a budget of k queries (square alone: 1000)


def available() -> list[str]:
    return sorted([*ATTACKS, "pgd7", "pgd20", "pgd100", *SUITES])


def expand(names: list[str] | tuple[str, ...] | str) -> list[str]:
    """Expand ``paper`` and ``worst-case`` and check every name, listing the valid ones on a mistake."""
    if isinstance(names, str):
        names = [names]
    result: list[str] = []
    for name in names:
        parts = list(SUITES.get(name, (name,)))
        for part in parts:
            if part not in ATTACKS and not _PGD_K.match(part) and not _SQUARE_K.match(part):
                raise InvalidInput(f"unknown attack {part!r}; valid: {', '.join(available())} (or pgd<k>, square<k>)")
            if part not in result:
                result.append(part)
    if not result:
        raise InvalidInput("no attack given", fix="name one, e.g. pgd20")
    return result


def _one_attack(name: str) -> str:
    """The one attack a name stands for (``worst-case`` is ``apgd-cascade``); a suite of several
    cannot be built as one attack."""
    parts = SUITES.get(name, (name,))
    if len(parts) != 1:
        raise InvalidInput(
            f"{name!r} stands for {len(parts)} attacks ({', '.join(parts)}), not one",
            fix="build each of them, or give the name to evaluate(), which runs them all",
        )
    return parts[0]


def attack_class(name: str) -> type[Attack]:
    """The class behind an attack name (``pgd20`` is ``PGD``, ``worst-case`` ``APGDCascade``)."""
    name = _one_attack(name)
    expand([name])
    if _SQUARE_K.match(name):
        return Square
    return PGD if _PGD_K.match(name) else ATTACKS[name]


def norms_of(name: str) -> tuple[str, ...]:
    """The threat-model norms attack ``name`` serves."""
    return attack_class(name).norms


def pgd_step(eps: float | None) -> float:
    """The default step of the L-inf iterative attacks (``pgd<k>``, ``pgd``, ``cw``,
    ``mifgsm``, ``trades``) at radius ``eps``: eps/4, the paper's and torchattacks' 2/255 at
    8/255 (and 2/255 for a zero radius, where any step is projected away)."""
    return eps / 4 if eps else 2 / 255


def build(
    name: str,
    model: nn.Module,
    *,
    eps: float | None = None,
    norm: str | None = None,
    threat_model: ThreatModel | None = None,
    **params: Any,
) -> Attack:
    """Build attack ``name`` against ``model``; ``params`` are the attack's own keywords.

    The threat model is ``threat_model``, or ``norm``/``eps``; unset parts default to the
    attack's own norm and that norm's usual radius. A norm the attack does not serve raises
    ``InvalidInput`` naming attacks that do.
    """
    name = _one_attack(name)
    cls = attack_class(name)
    if threat_model is not None:
        norm, eps = threat_model.norm, threat_model.eps
    norm = canonical_norm(norm) if norm is not None else None
    if norm is not None and norm not in cls.norms:
        serving = [n for n in available() if n not in SUITES and norm in norms_of(n)]
        raise InvalidInput(
            f"attack {name!r} is a {'/'.join(cls.norms)} attack and cannot serve the {norm} threat "
            f"model; for {norm} use {', '.join(serving)}"
        )
    match = _PGD_K.match(name)
    if match:
        params = {"steps": int(match.group(1)), "alpha": pgd_step(eps), "random_start": True, **params}
    elif issubclass(cls, PGD) and not issubclass(cls, PGDL2) and eps is not None:
        params = {"alpha": pgd_step(eps), **params}  # pgd, cw, mifgsm, trades: torchattacks' 2/255 at 8/255
    match = _SQUARE_K.match(name)
    if match:
        params = {"queries": int(match.group(1)), **params}
    params = {**_NAME_DEFAULTS.get(name, {}), **params}
    unknown = sorted(set(params) - set(cls.keywords()))
    if unknown:
        raise InvalidInput(
            f"bad parameters for attack {name!r}: {', '.join(unknown)}; "
            f"it takes {', '.join(k for k in cls.keywords() if k not in ('eps', 'norm'))}"
        )
    attack = cls(model, eps=eps, norm=norm, **params)
    attack.name = name
    return attack


def planned_passes(
    name: str, params: dict[str, Any] | None = None, *, eps: float | None = None, norm: str | None = None
) -> Passes | None:
    """The image-passes attack ``name`` spends on one example that stands to its end (an upper
    bound: early stopping only lowers it), for planning work before any model exists; None
    where it depends on the model (the reference AutoAttack)."""
    if attack_class(name) is AutoAttack:
        return None
    return build(name, nn.Identity(), eps=eps, norm=norm, **(params or {})).planned_passes()


__all__ = [
    "Attack",
    "AttackResult",
    "ATTACKS",
    "PAPER_SUITE",
    "SUITES",
    "available",
    "build",
    "expand",
    "check_images",
    "attack_class",
    "norms_of",
    "planned_passes",
    "MODES",
    "Noise",
    "Passes",
    "FGSM",
    "NFGSM",
    "PGD",
    "PGDL2",
    "MIFGSM",
    "CW",
    "DeepFool",
    "AutoAttack",
    "Square",
    "APGD",
    "APGDTargeted",
    "APGDCascade",
]
