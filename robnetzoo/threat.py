"""The threat model: which perturbations an attacker may make (a norm and a radius).

One value, used everywhere a radius appears: a model's ``config.json`` records the threat
model it was trained against, ``evaluate`` defaults to it, every attack is checked against it
when it is built (an L-inf attack refuses an L2 threat model instead of silently running at the
wrong radius), and reports, results files and model cards record it.

Pixels are in [0, 1], so an L-inf radius above 1 means nothing, while an L2 radius can exceed 1
(the diagonal of a 3x32x32 image is about 55); the usual CIFAR-10 radii are 8/255 (L-inf) and
0.5 (L2).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Mapping

from .errors import InvalidInput

DEFAULT_EPS = {"Linf": 8 / 255, "L2": 0.5}
_ALIASES = {"linf": "Linf", "l_inf": "Linf", "inf": "Linf", "l2": "L2", "2": "L2"}


def canonical_norm(norm: str) -> str:
    """``Linf`` or ``L2`` from any usual spelling (``linf``, ``inf``, ``l2``)."""
    name = _ALIASES.get(str(norm).strip().lower())
    if name is None:
        raise InvalidInput(f"unknown norm {norm!r}; use Linf or L2")
    return name


def parse_eps(text: str | float) -> float:
    """``8/255``, ``0.031`` or ``0.5`` as a float; the range is checked by ``ThreatModel``."""
    try:
        if isinstance(text, (int, float)):
            value = float(text)
        elif re.search(r"[eE][+-]?\d{4,}", str(text)):  # Fraction would expand 1e999999999 digit by digit
            parts = [float(part) for part in str(text).split("/")]
            if len(parts) > 2:
                raise ValueError(text)
            value = parts[0] / parts[1] if len(parts) == 2 else parts[0]
        else:
            value = float(Fraction(str(text).strip()))
    except (ValueError, ZeroDivisionError):
        raise InvalidInput(f"eps {text!r} is not a number; write 8/255 or 0.0314") from None
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise InvalidInput(f"eps {text!r} is not a finite number; write 8/255 or 0.0314")
    return value


def eps_text(eps: float, norm: str = "Linf") -> str:
    """A radius as people write it: ``8/255`` for whole grey levels of an L-inf radius, else
    the plain number (``ThreatModel.eps_text``; also for radii not yet tied to a threat model)."""
    levels = eps * 255
    if norm == "Linf" and abs(levels - round(levels)) < 1e-6:
        return f"{round(levels)}/255"
    return f"{eps:.4g}"


@dataclass(frozen=True)
class ThreatModel:
    """A norm (``"Linf"`` or ``"L2"``) and a radius ``eps`` in that norm, for pixels in [0, 1]."""

    norm: str = "Linf"
    eps: float = 8 / 255

    def __post_init__(self) -> None:
        object.__setattr__(self, "norm", canonical_norm(self.norm))
        eps = float(self.eps)
        object.__setattr__(self, "eps", eps)
        if self.norm == "Linf" and not 0 <= eps <= 1:
            hint = f"; did you mean {eps:g}/255?" if 1 < eps <= 255 else ""
            raise InvalidInput(
                f"eps must be in [0, 1] for Linf (pixels are in [0, 1]), got {eps:g}{hint} (write 8/255 for 8 levels)"
            )
        if self.norm == "L2" and not (0 <= eps < float("inf")):
            raise InvalidInput(f"eps must be a finite radius >= 0 for L2, got {eps:g}")

    @classmethod
    def default(cls, norm: str = "Linf") -> "ThreatModel":
        norm = canonical_norm(norm)
        return cls(norm, DEFAULT_EPS[norm])

    @classmethod
    def from_dict(cls, data: "Mapping[str, Any] | ThreatModel | None") -> "ThreatModel":
        if data is None:
            return cls()
        if isinstance(data, ThreatModel):
            return data
        if not isinstance(data, Mapping):
            raise InvalidInput(f"a threat model is {{'norm': ..., 'eps': ...}}, got {data!r}")
        norm = canonical_norm(data.get("norm", "Linf"))
        return cls(norm, parse_eps(data.get("eps", DEFAULT_EPS[norm])))

    def to_dict(self) -> dict[str, Any]:
        return {"norm": self.norm, "eps": self.eps}

    def with_overrides(self, *, norm: str | None = None, eps: float | str | None = None) -> "ThreatModel":
        """This threat model with the norm and/or eps replaced; a new norm without an eps
        takes that norm's usual radius (8/255 for Linf, 0.5 for L2)."""
        new_norm = canonical_norm(norm) if norm is not None else self.norm
        if eps is not None:
            return ThreatModel(new_norm, parse_eps(eps))
        return ThreatModel(new_norm, self.eps if new_norm == self.norm else DEFAULT_EPS[new_norm])

    def eps_text(self) -> str:
        """``8/255`` for whole levels of an L-inf radius, else the plain number."""
        return eps_text(self.eps, self.norm)

    def __str__(self) -> str:
        return f"{self.norm} eps={self.eps_text()}"
