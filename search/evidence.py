"""What the benchmarks measured about the demo's own picks, shown beside a search's choices.

``benchmarks/search_vs_random.py`` trains the demo search's picks from scratch against random
architectures of the same budget; when it ran on the demo preset it leaves its verdicts in
``search/search_vs_random.json`` (package data). A search whose settings and chosen genotype
are the ones benchmarked shows that verdict beside its choice; any other search (another seed,
another machine that picked differently, other settings) is told that its pick was not
benchmarked, never given someone else's verdict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .selection import Choice

EVIDENCE_FILE = Path(__file__).parent / "search_vs_random.json"


def read_evidence(path: Path = EVIDENCE_FILE) -> dict[str, Any] | None:
    """The packaged verdicts, or None when none were recorded (or the file is unreadable)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("bands"), dict) else None


# Settings that change nothing a choice depends on: Finding 2's pairs are scored after the
# leaderboard is made and never enter it.
NOT_CHOICE = ("pairs_per_count",)


def _choice_settings(settings: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in settings.items() if key not in NOT_CHOICE}


def benchmark_verdicts(
    settings: dict[str, Any], selection: dict[str, Choice], evidence: dict[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """Per chosen cell-based model (``robnet-small``...): the benchmark's verdict on this very
    pick, or why there is none."""
    evidence = read_evidence() if evidence is None else evidence
    out: dict[str, dict[str, Any]] = {}
    for name, choice in selection.items():
        band = name.removeprefix("robnet-")
        if choice.row.space != "cell":
            continue
        if evidence is None:
            out[name] = {"verdict": None, "why": "no search-vs-random benchmark is recorded"}
            continue
        if _choice_settings(evidence.get("settings") or {}) != _choice_settings(settings):
            out[name] = {
                "verdict": None,
                "why": "not benchmarked: the benchmark ran the demo preset at its defaults "
                f"(seed {evidence.get('settings', {}).get('seed')})",
            }
            continue
        measured = evidence["bands"].get(band)
        if measured is None or measured.get("genotype") != choice.row.genotype:
            out[name] = {
                "verdict": None,
                "why": "not benchmarked: this run picked another cell than the benchmarked one",
            }
            continue
        out[name] = {key: measured[key] for key in ("verdict", "difference", "interval", "p_holm", "rank", "of")}
        out[name].update(
            {"measure": evidence.get("measure"), "source": evidence.get("source"), "date": evidence.get("date")}
        )
    return out
