"""Budgets -> the RobNet family: the best candidate in each band of convolutions per cell.

The paper's small / medium / large differ in how many convolutions a cell has; their sizes at
C=36 and 20 cells (4.41M, 5.66M, 6.89M) decode to 7, 10 and 13 convolutions with every identity
bit on. So a budget is a band of convolutions per cell (``settings.PAPER_BANDS``: small 0-7,
medium 8-10, large 11-13), not a band of parameters, which would split one class of cells at
the stride-2 FactorizedReduce edges; the final-size parameters are reported as a result. The
best-ranked cell-based candidate of each band becomes ``genotypes/robnet-small.json`` /
``-medium`` / ``-large``; the best cell-free candidate the FSP filter kept (at most the largest
band's convolutions per cell on average) becomes ``robnet-free.json``, stretched to the final
20 cells (``supernet.at_depth``) and sized there. A band no scored candidate falls in chooses
nothing, and says so. The files are ``Genotype.dumps`` JSON, which ``robnetzoo train FILE`` and
``create_model("robnet-small", genotype=FILE)`` take as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robnetzoo._io import atomic_write_text, record_to_dict
from robnetzoo.genotype import Genotype
from robnetzoo.registry import FAMILY_LAYERS
from robnetzoo.stats import mcnemar

from .leaderboard import LeaderboardRow

FAMILY = ("small", "medium", "large")


@dataclass
class Choice:
    """A band's chosen candidate: its leaderboard row, the band it was chosen in, the test
    against the band's runner-up, and what the hold-out re-score says of it. ``summary.json``
    holds it flat: the row's fields and these three."""

    row: LeaderboardRow
    band: tuple[int, int]
    runner_up: dict[str, Any] | None
    holdout: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            **record_to_dict(self.row),
            "band": list(self.band),
            "runner_up": self.runner_up,
            "holdout": self.holdout,
        }


def band_of(convs_per_cell: float, bands: dict[str, tuple[int, int]]) -> str | None:
    """The band a number of convolutions per cell falls in (None above every band)."""
    for name, (low, high) in bands.items():
        if low <= convs_per_cell <= high:
            return name
    return None


def select(rows: list[LeaderboardRow], bands: dict[str, tuple[int, int]]) -> tuple[dict[str, Choice], list[str]]:
    """(``{"robnet-small": choice, ...}``, notes) from leaderboard rows (best first); a note for
    each band that holds no scored candidate."""
    chosen: dict[str, Choice] = {}
    notes: list[str] = []
    cell = [r for r in rows if r.space == "cell" and r.rank is not None]
    for name in (n for n in FAMILY if n in bands):
        low, high = bands[name]
        fits = [r for r in cell if low <= r.convs_per_cell <= high]
        if not fits:
            if cell:
                notes.append(
                    f"no scored cell-based candidate has {low}-{high} convolutions per cell: robnet-{name} "
                    "is not chosen (sample more candidates, or the density sampler)"
                )
            continue
        ranked = sorted(fits, key=lambda r: r.rank or 0)
        chosen[f"robnet-{name}"] = Choice(
            ranked[0], (low, high), runner_up(ranked[0], ranked[1] if len(ranked) > 1 else None)
        )
    free = [r for r in rows if r.space == "free" and r.rank is not None]
    if free:
        top = max(high for _, high in bands.values())
        fits = [r for r in free if r.convs_per_cell <= top]
        if fits:
            ranked = sorted(fits, key=lambda r: r.rank or 0)
            chosen["robnet-free"] = Choice(
                ranked[0], (0, top), runner_up(ranked[0], ranked[1] if len(ranked) > 1 else None)
            )
        else:
            notes.append(
                f"no kept cell-free candidate averages at most {top} convolutions per cell: robnet-free is not chosen"
            )
    return chosen, notes


def holdout_reading(
    choice: Choice, rows: list[LeaderboardRow], records: dict[tuple[str, int], dict[str, Any]]
) -> dict[str, Any] | None:
    """A choice's hold-out re-score beside its band's: its robust accuracy there, its rank among
    the band's re-scored candidates (1 = best), and the band's mean under the search's supernets
    and under the hold-out one, so the choice's drop can be split into the third supernet's level
    (the band's drop) and selection bias (the rest). None when the choice was not re-scored."""
    held = records.get(("holdout", choice.row.index))
    if held is None:
        return None
    low, high = choice.band
    band = [
        r
        for r in rows
        if r.space == choice.row.space
        and r.rank is not None
        and low <= r.convs_per_cell <= high
        and ("holdout", r.index) in records
    ]
    scores = [records[("holdout", r.index)]["robust"] for r in band]
    searched = [r.robust for r in band if r.robust is not None]
    return {
        **{k: held[k] for k in ("robust", "clean", "n", "robust_interval")},
        "rank": 1 + sum(s > held["robust"] for s in scores),
        "of": len(band),
        "band_holdout_mean": sum(scores) / len(scores),
        "band_search_mean": sum(searched) / len(searched) if searched else None,
    }


def runner_up(winner: LeaderboardRow, second: LeaderboardRow | None) -> dict[str, Any] | None:
    """The band's second-best candidate and the exact McNemar test of the winner against it on
    the images (and supernets) both were scored on: whether the winner is better, or merely
    ahead. None for a band of one candidate."""
    if second is None:
        return None
    out: dict[str, Any] = {"index": second.index, "robust": second.robust, "genotype": second.genotype}
    bits_a, bits_b = winner.paired_bits, second.paired_bits
    out["mcnemar"] = mcnemar(bits_a, bits_b) if bits_a and len(bits_a) == len(bits_b) else None
    return out


def final_genotype(row: LeaderboardRow, layers: int = FAMILY_LAYERS) -> Genotype:
    """The genotype to train at final size: a cell-free one stretched to ``layers`` cells."""
    from .supernet import at_depth

    return at_depth(Genotype.parse(row.genotype), layers)


def write_genotypes(selection: dict[str, Choice], folder: Path) -> dict[str, Path]:
    """One ``Genotype.dumps`` file per chosen model, named after it, at the final depth."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, choice in selection.items():
        path = folder / f"{name}.json"
        atomic_write_text(path, final_genotype(choice.row).dumps() + "\n")
        paths[name] = path
    return paths


def training_command_line(name: str, folder: Path, preset: str = "paper") -> str:
    """The command that trains a chosen genotype at full size (C=36, 20 cells)."""
    return f"robnetzoo train {folder / 'genotypes' / f'{name}.json'} --preset {preset}"
