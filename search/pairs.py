"""Finding 2 as a paired experiment: does a convolution help more on a direct edge, and more
so under a small budget?

Candidates sampled at random differ in many ways at once, so comparing "direct-heavy" with
"direct-light" ones at an equal number of convolutions leaves groups of a few networks and a
confounded comparison. Here every comparison is a pair that differs by one thing: for each
convolution count k in ``COUNTS`` (convolutions per cell, the budget), ``pairs_per_count``
base cells with exactly k convolutions (``sampling.cell_with_convs``), and for each reading of
"direct" (``sampling.DIRECT_READINGS``) the same cell with one convolution moved from a skip
edge to a direct edge, identity bits unchanged (``sampling.moved_pair``). The base and its moved
twins are scored by ``inherited`` on the same images with the same attack noise, so the pair's
difference is the move's effect plus the proxy's noise, which the paired test accounts for.
The paper's claim is an interaction: the effect is positive at small k and shrinks as k grows.

The same base cells carry Finding 1's connectivity test: each base's *densified* twin
(``sampling.densified_twin``: every identity bit on, the same convolutions) is scored alike, so
"density helps beyond capacity" is a paired comparison at a fixed number of convolutions
rather than a partial correlation over candidates whose identity bits and convolutions the
sampler ties together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from robnetzoo.genotype import Genotype
from robnetzoo.seeding import derive_seed
from robnetzoo.stats import mean_interval, rank_correlation, verdict, wilcoxon

from .sampling import DIRECT_READINGS, cell_with_convs, densified_twin, moved_pair

COUNTS = tuple(range(2, 8))  # convolutions per cell: the small budgets the claim is about, and beyond


@dataclass(frozen=True)
class PairBase:
    """One base cell of the paired experiments: its moved twin under each reading (Finding 2)
    and its densified twin (Finding 1's connectivity)."""

    index: int
    convs: int
    base: Genotype
    moved: dict[str, Genotype]
    densified: Genotype


def plan_pairs(seed: int, per_count: int) -> list[PairBase]:
    """``per_count`` base cells for each k in ``COUNTS``, each drawn from (seed, k, j) alone; a
    base that has no valid move under some reading is redrawn from the same stream."""
    plan: list[PairBase] = []
    for k in COUNTS:
        for j in range(per_count):
            generator = torch.Generator().manual_seed(derive_seed(seed, "direct-edge-pair", k, j))
            while True:
                base = cell_with_convs(generator, k)
                moved = {reading: moved_pair(generator, base, reading) for reading in DIRECT_READINGS}
                densified = densified_twin(base)
                if all(m is not None for m in moved.values()) and densified is not None:
                    break
            plan.append(
                PairBase(
                    len(plan),
                    k,
                    Genotype((base,)),
                    {r: Genotype((m,)) for r, m in moved.items() if m is not None},
                    Genotype((densified,)),
                )
            )
    return plan


def analyse_pairs(records: list[dict[str, Any]], seed: int = 0) -> dict[str, Any]:
    """Per reading: per k, the mean robust-accuracy gain of the moved twin over its base (a
    bootstrap 95% interval) and a paired Wilcoxon test; over all k, the test of the main effect
    and the interaction (Spearman of the gain against k, expected negative), each with its
    verdict on the paper's claim."""
    out: dict[str, Any] = {"pairs": len(records), "counts": list(COUNTS)}
    for reading in DIRECT_READINGS:
        gains = [
            (r["convs"], r["moved"][reading]["robust"] - r["base"]["robust"]) for r in records if reading in r["moved"]
        ]
        per_k = []
        for k in COUNTS:
            diffs = [g for c, g in gains if c == k]
            test = wilcoxon(diffs)
            per_k.append(
                {
                    "convs": k,
                    **mean_interval(diffs, seed=seed),
                    "wilcoxon_p": test["p"],
                    "smallest_possible_p": test["smallest_possible_p"],
                    "verdict": verdict(test["p"], _mean(diffs), +1, smallest_possible_p=test["smallest_possible_p"]),
                }
            )
        all_diffs = [g for _, g in gains]
        main = wilcoxon(all_diffs)
        small = [g for c, g in gains if c <= 4]
        small_test = wilcoxon(small)
        trend = rank_correlation([float(c) for c, _ in gains], [g for _, g in gains], seed=seed)
        out[reading] = {
            "per_count": per_k,
            "all": {
                **mean_interval(all_diffs, seed=seed),
                "wilcoxon_p": main["p"],
                "verdict": verdict(main["p"], _mean(all_diffs), +1, smallest_possible_p=main["smallest_possible_p"]),
            },
            "small_budget": {
                "convs": [c for c in COUNTS if c <= 4],
                **mean_interval(small, seed=seed),
                "wilcoxon_p": small_test["p"],
                "verdict": verdict(
                    small_test["p"], _mean(small), +1, smallest_possible_p=small_test["smallest_possible_p"]
                ),
            },
            "interaction": {"spearman_gain_vs_convs": trend, "verdict": verdict(trend["p"], trend["value"], -1)},
        }
    out["connectivity"] = connectivity_pairs(records, seed)
    return out


def connectivity_pairs(records: list[dict[str, Any]], seed: int = 0) -> dict[str, Any]:
    """Finding 1's connectivity test: the densified twin's robust-accuracy gain over its base
    (same convolutions, every identity bit on), its mean with a t interval and a paired
    Wilcoxon test over all bases; the verdict is on "density helps beyond capacity". Records
    written before the twin existed have none and give n = 0 ("cannot decide")."""
    with_twin = [r for r in records if r.get("densified") is not None]
    diffs = [r["densified"]["robust"] - r["base"]["robust"] for r in with_twin]
    added = [
        sum(a != b for a, b in zip(str(r["densified"]["genotype"]), str(r["base"]["genotype"]))) for r in with_twin
    ]
    test = wilcoxon(diffs)
    return {
        "pairs": len(diffs),
        **mean_interval(diffs, seed=seed),
        "wilcoxon_p": test["p"],
        "smallest_possible_p": test["smallest_possible_p"],
        "identity_bits_added": _mean([float(a) for a in added]),
        "verdict": verdict(test["p"], _mean(diffs), +1, smallest_possible_p=test["smallest_possible_p"]),
    }


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
