"""A study's pre-registration: its plan as a record, committed before its first training and
checked every time the study runs or reports.

The plan fixes what a study may conclude before it sees any data: the hypothesis, the one
primary test, the measure, the smallest effect worth detecting and the power to detect it, the
number of trainings, alpha and the stopping rule. ``read_preregistration`` refuses a missing or
malformed file by name; ``Preregistration.digest`` (the file's SHA-256) is written into every
training the study makes, so a plan changed after the first training is refused too
(``check_unchanged``), and ``check_committed`` refuses a plan git does not hold as it is.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robnetzoo._io import column, read_json, record_from_dict
from robnetzoo.errors import CorruptFile, InvalidInput

FORMAT = "robnetzoo-preregistration"
MEASURES = ("pgd20",)
FIX = "restore the committed pre-registration (git checkout), or register a new study under a new file"


@dataclass(frozen=True)
class Preregistration:
    """The plan of a study of the search against random architectures of a band."""

    hypothesis: str = column("what the study tests, in words")
    primary_test: str = column("the one test that decides it (and that it is two-sided)")
    measure: str = column("the figure each training contributes (pgd20: PGD-20 accuracy on the test split, %)")
    setting: str = column("the training setting (a name of benchmarks/discrimination.py's SETTINGS)")
    band: str = column("the budget band whose picks are tested (small, medium or large)")
    search_seeds: list[int] = column("the seeds of the searches whose picks are trained (3 or more)")
    seeds_per_pick: int = column("trainings of each search's pick, each from its own seed")
    random_architectures: int = column("random cells of the band, each trained once")
    alpha: float = column("the test's level")
    smallest_effect: float = column("the smallest advantage of the picks worth detecting, points")
    power: dict = column("the power calculation: the variance components it used, their source, the power")
    stopping_rule: str = column("when the study stops and is read")
    random_seed: int = column("the seed of the random cells' draw", 0)
    format: str = column("always robnetzoo-preregistration", FORMAT)
    path: str = column("the file this plan was read from", "", public=False)
    digest: str = column("the file's SHA-256", "", public=False)

    def problems(self) -> list[str]:
        checks = [
            (self.format == FORMAT, f"format must be {FORMAT!r}"),
            (all(isinstance(v, str) and v.strip() for v in self._texts()), "every text field must be non-empty"),
            (self.measure in MEASURES, f"measure must be one of {', '.join(MEASURES)}"),
            (self.band in ("small", "medium", "large"), "band must be small, medium or large"),
            (
                isinstance(self.search_seeds, list)
                and len(self.search_seeds) >= 3
                and all(_is_int(s) and s >= 0 for s in self.search_seeds)
                and len(set(self.search_seeds)) == len(self.search_seeds),
                "search_seeds must be 3 or more distinct non-negative integers",
            ),
            (_is_int(self.seeds_per_pick) and self.seeds_per_pick >= 1, "seeds_per_pick must be an integer >= 1"),
            (
                _is_int(self.random_architectures) and self.random_architectures >= 2,
                "random_architectures must be an integer >= 2",
            ),
            (_is_number(self.alpha) and 0 < self.alpha < 0.5, "alpha must be a number in (0, 0.5)"),
            (_is_number(self.smallest_effect) and self.smallest_effect > 0, "smallest_effect must be positive"),
            (isinstance(self.power, dict) and bool(self.power), "power must hold the power calculation"),
            (_is_int(self.random_seed), "random_seed must be an integer"),
        ]
        return [message for ok, message in checks if not ok]

    def _texts(self) -> list[Any]:
        return [self.hypothesis, self.primary_test, self.setting, self.stopping_rule]

    def trainings(self) -> int:
        return len(self.search_seeds) * self.seeds_per_pick + self.random_architectures


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_preregistration(path: str | Path) -> Preregistration:
    """The plan in ``path``, or one typed error naming the file (missing: ``NotFound``; not a
    plan, or a plan with an impossible value: ``CorruptFile``)."""
    path = Path(path)
    kind = "study pre-registration"
    data = read_json(path, kind, expect=dict, format=FORMAT, fix=FIX)
    for private in ("path", "digest"):
        data.pop(private, None)
    try:
        plan = record_from_dict(Preregistration, data, path=path, kind=kind, fix=FIX)
    except TypeError as exc:  # a key the record does not declare is ignored; this is a bad value
        raise CorruptFile(path, kind, str(exc), fix=FIX) from None
    problems = plan.problems()
    if problems:
        raise CorruptFile(path, kind, "; ".join(problems), fix=FIX)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return dataclasses.replace(plan, path=str(path), digest=digest)


def check_unchanged(plan: Preregistration, digests: set[str]) -> None:
    """Refuse a study whose trainings were made under another version of its plan
    (``digests``: the plan digests its ledger's trainings carry)."""
    other = sorted(digests - {plan.digest})
    if other:
        raise InvalidInput(
            f"{plan.path} changed after the study's first training (its trainings were made under "
            f"pre-registration {other[0][:12]}, the file is now {plan.digest[:12]})",
            fix=FIX,
        )


def check_committed(plan: Preregistration) -> None:
    """Refuse a plan that git does not hold as it is (uncommitted or changed), where the file
    is in a git work tree; outside one there is no history to check against."""
    path = Path(plan.path).resolve()
    try:
        inside = subprocess.run(
            ["git", "-C", str(path.parent), "rev-parse", "--is-inside-work-tree"], capture_output=True, text=True
        )
    except OSError:
        return
    if inside.returncode != 0:
        return
    tracked = subprocess.run(
        ["git", "-C", str(path.parent), "ls-files", "--error-unmatch", path.name], capture_output=True
    )
    clean = subprocess.run(["git", "-C", str(path.parent), "diff", "--quiet", "HEAD", "--", path.name])
    if tracked.returncode != 0 or clean.returncode != 0:
        raise InvalidInput(
            f"{plan.path} is not committed as it is: a study trains only under a plan git already holds",
            fix="commit the pre-registration first, then run the study",
        )
