"""The attack suite: every attack is built by name and called the same way.

    attack = robnetzoo.attacks.build("pgd20", model, eps=8/255)
    adversarial = attack(images, labels)          # NCHW in [0, 1]

Names: ``fgsm``, ``pgd`` (``alpha``, ``steps``, ``random_start``), ``pgd<k>`` for any k (alpha
2/255, random start, as the paper: ``pgd7``, ``pgd20``, ``pgd100``), ``pgdl2``, ``mifgsm``
(``decay``), ``cw`` (CW margin loss under L-inf PGD), ``deepfool``, ``autoattack``.
``paper`` expands to the paper's five: fgsm, pgd20, pgd100, deepfool, mifgsm.
"""

from __future__ import annotations

import re
from typing import Any

from torch import nn

from ..errors import InvalidInput
from .autoattack import AutoAttack
from .base import Attack, AttackResult, check_images
from .deepfool import DeepFool
from .gradient import CW, FGSM, MIFGSM, PGD, PGDL2

ATTACKS: dict[str, type[Attack]] = {
    "fgsm": FGSM,
    "pgd": PGD,
    "pgdl2": PGDL2,
    "mifgsm": MIFGSM,
    "cw": CW,
    "deepfool": DeepFool,
    "autoattack": AutoAttack,
}
PAPER_SUITE = ("fgsm", "pgd20", "pgd100", "deepfool", "mifgsm")
_PGD_K = re.compile(r"^pgd(\d+)$")


def available() -> list[str]:
    return sorted([*ATTACKS, "pgd7", "pgd20", "pgd100", "paper"])


def expand(names: list[str] | tuple[str, ...] | str) -> list[str]:
    """Expand ``paper`` and check every name, listing the valid ones on a mistake."""
    if isinstance(names, str):
        names = [names]
    result: list[str] = []
    for name in names:
        parts = list(PAPER_SUITE) if name == "paper" else [name]
        for part in parts:
            if part not in ATTACKS and not _PGD_K.match(part):
                raise InvalidInput(f"unknown attack {part!r}; valid: {', '.join(available())} (or pgd<k>)")
            if part not in result:
                result.append(part)
    if not result:
        raise InvalidInput("no attack given; e.g. --attack pgd20")
    return result


def build(name: str, model: nn.Module, *, eps: float = 8 / 255, **params: Any) -> Attack:
    """Build attack ``name`` against ``model``; ``params`` are the attack's own keywords."""
    expand([name])
    match = _PGD_K.match(name)
    if match:
        defaults = {"steps": int(match.group(1)), "alpha": 2 / 255, "random_start": True}
        cls: type[Attack] = PGD
        params = {**defaults, **params}
    else:
        cls = ATTACKS[name]
    try:
        attack = cls(model, eps=eps, **params)
    except TypeError as exc:
        raise InvalidInput(f"bad parameters for attack {name!r}: {exc}") from None
    attack.name = name
    return attack


__all__ = [
    "Attack", "AttackResult", "ATTACKS", "PAPER_SUITE", "available", "build", "expand", "check_images",
    "FGSM", "PGD", "PGDL2", "MIFGSM", "CW", "DeepFool", "AutoAttack",
]
