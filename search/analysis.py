"""The paper's findings, measured: the quantities they are stated in, and ``analyse_findings``, which
reads them off a search's leaderboard into ``analysis.json`` (plots: ``search.plots``).

* ``conv_counts``: convolutions of a genotype on *direct* edges and on the other (skip) edges,
  under either reading of "direct" (``sampling.DIRECT_READINGS``).
* ``fsp_matrix`` / ``fsp_loss``: Finding 3's flow-of-solution-procedure matrix of a cell,
  ``G(x) = (1 / (h w)) sum over positions of F_in(x) F_out(x)^T`` (C_in x C_out), and the FSP
  loss of a cell, the mean over examples of ``||G(x) - G(x_adv)||^2`` (squared Frobenius norm).
  A cell whose output is smaller than its input (a reduction cell) is compared after average
  pooling its input to the output's size, the usual choice for FSP across resolutions.
"""

from __future__ import annotations

from typing import Any

import torch

from robnetzoo.genotype import Genotype
from robnetzoo.stats import holm, paired_permutation_test, partial_rank_correlation, rank_correlation, verdict

from .leaderboard import LeaderboardRow


def conv_counts(genotype: Genotype, reading: str = "inputs") -> dict[str, int]:
    """Convolutions (codes 01 and 11) on direct edges and on skip edges, over all cells, under
    a reading of "direct" (``sampling.DIRECT_READINGS``)."""
    from .sampling import is_direct

    direct = skip = 0
    for cell in genotype.cells:
        for edge, code in enumerate(cell):
            if code[1] != "1":
                continue
            if is_direct(edge, reading):
                direct += 1
            else:
                skip += 1
    return {"direct": direct, "skip": skip, "total": direct + skip}


def fsp_matrix(f_in: torch.Tensor, f_out: torch.Tensor) -> torch.Tensor:
    """``(N, C_in, C_out)``: per example, the spatial mean of the outer products of the input
    and output feature vectors (inputs pooled to the output's resolution first)."""
    if f_in.shape[-2:] != f_out.shape[-2:]:
        f_in = torch.nn.functional.adaptive_avg_pool2d(f_in, f_out.shape[-2:])
    n, c_in, h, w = f_in.shape
    return torch.einsum("nih,noh->nio", f_in.reshape(n, c_in, h * w), f_out.reshape(n, f_out.shape[1], h * w)) / (h * w)


def fsp_loss(
    f_in: torch.Tensor, f_out: torch.Tensor, f_in_adv: torch.Tensor, f_out_adv: torch.Tensor, *, relative: bool = False
) -> torch.Tensor:
    """The FSP loss of one cell: mean over examples of the squared Frobenius distance between
    the clean and the adversarial FSP matrices. ``relative`` divides by the mean squared norm
    of the clean matrices: the raw loss grows with the size of a cell's features (denser cells
    sum more paths), which a comparison across architectures should not reward or punish."""
    clean = fsp_matrix(f_in, f_out)
    loss = (clean - fsp_matrix(f_in_adv, f_out_adv)).pow(2).sum(dim=(1, 2)).mean()
    if relative:
        loss = loss / clean.pow(2).sum(dim=(1, 2)).mean().clamp_min(1e-12)
    return loss


# ------------------------------------------------------------------------- the paper's findings
#
# Every figure states its n and a 95% interval, and each finding ends in a verdict on the
# paper's claim (``robnetzoo.stats.verdict``): "supports", "contradicts", or "cannot decide"
# when the test is not significant or the design could not reach significance at all.

DENSITY_WINDOW = (0.3, 0.7)  # Finding 1 away from the sparse end, where every network is weak


def _scored(rows: list[LeaderboardRow], space: str) -> list[LeaderboardRow]:
    return [r for r in rows if r.space == space and r.inherited_robust is not None]


def finding_density(rows: list[LeaderboardRow], seed: int = 0) -> dict[str, Any]:
    """Finding 1: denser architectures are more robust. Spearman of density and robust accuracy
    (the inherited score of every cell-based candidate) over all candidates and within density
    0.3-0.7; and connectivity against capacity: the partial correlation of identity bits with
    robust accuracy given the number of convolutions (identity bits add density but almost no
    parameters; each convolution adds both), and of convolutions given identity bits."""
    pool = _scored(rows, "cell")
    robust = [r.inherited_robust for r in pool]
    overall = rank_correlation([r.density for r in pool], robust, seed=seed)
    low, high = DENSITY_WINDOW
    middle = [r for r in pool if low <= r.density <= high]
    window = rank_correlation([r.density for r in middle], [r.inherited_robust for r in middle], seed=seed)
    identity = partial_rank_correlation(
        [r.identity_bits for r in pool], robust, [r.convs_per_cell for r in pool], seed=seed
    )
    convs = partial_rank_correlation(
        [r.convs_per_cell for r in pool], robust, [r.identity_bits for r in pool], seed=seed
    )
    return {
        "space": "cell",
        "measure": "inherited robust accuracy",
        "n": len(pool),
        "all": overall,
        "verdict": verdict(overall["p"], overall["value"], +1),
        "window": {"density": list(DENSITY_WINDOW), **window},
        "window_verdict": verdict(window["p"], window["value"], +1),
        "identity_given_convs": identity,
        "convs_given_identity": convs,
        "connectivity_verdict": _interval_verdict(identity["interval"], identity["value"], +1),
    }


def _interval_verdict(interval: list[float] | None, value: float | None, expected_sign: int) -> str:
    """A verdict from a 95% interval: it excludes 0 on the expected side, the other, or neither."""
    if interval is None or value is None or any(v != v for v in interval):
        return "cannot decide"
    if interval[0] > 0:
        return "supports" if expected_sign > 0 else "contradicts"
    if interval[1] < 0:
        return "contradicts" if expected_sign > 0 else "supports"
    return "cannot decide"


def density_matched_pairs(pool: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Candidates paired by density (sorted, then neighbours), each pair as (more robust, less
    robust); a tie in robust accuracy leaves its pair out."""
    ordered = sorted(pool, key=lambda r: (r["density"], r["index"]))
    pairs = []
    for a, b in zip(ordered[0::2], ordered[1::2]):
        if a["robust_for_fsp"] != b["robust_for_fsp"]:
            pairs.append((a, b) if a["robust_for_fsp"] > b["robust_for_fsp"] else (b, a))
    return pairs


def finding_fsp(
    rows: list[LeaderboardRow], *, space: str = "free", weights: str = "inherited", seed: int = 0
) -> dict[str, Any]:
    """Finding 3: robust networks have a lower FSP loss in deeper cells, tested where the paper
    uses it (the cell-free candidates, ``space``) with density held fixed: candidates paired by
    density, and per cell a sign-flip permutation test of (FSP loss of the less robust) minus
    (that of the more robust), positive when the robust one is lower. The paper's raw loss is
    the headline, the loss relative to the clean FSP norm beside it. ``weights="finetuned"``
    reads the FSP losses and robust accuracy measured after finetuning."""
    key_robust, key_raw, key_rel = (
        ("inherited_robust", "fsp_cells", "fsp_relative_cells")
        if weights == "inherited"
        else ("finetune_robust", "finetune_fsp_cells", None)
    )
    pool = [
        {
            "index": r.index,
            "density": r.density,
            "robust_for_fsp": getattr(r, key_robust),
            key_raw: getattr(r, key_raw),
            **({key_rel: getattr(r, key_rel)} if key_rel else {}),
        }
        for r in rows
        if r.space == space and getattr(r, key_robust) is not None and getattr(r, key_raw) is not None
    ]
    pairs = density_matched_pairs(pool)
    out: dict[str, Any] = {
        "space": space,
        "weights": weights,
        "candidates": len(pool),
        "pairs": len(pairs),
        "max_density_gap": max((abs(a["density"] - b["density"]) for a, b in pairs), default=None),
        "cells": [],
    }
    if not pairs:
        out["verdict"] = "cannot decide"
        return out
    n_cells = len(pairs[0][0][key_raw])
    for cell in range(n_cells):
        raw = [b[key_raw][cell] - a[key_raw][cell] for a, b in pairs]
        entry = {"cell": cell, "raw": paired_permutation_test(raw, seed=seed)}
        if key_rel:
            entry["relative"] = paired_permutation_test(
                [b[key_rel][cell] - a[key_rel][cell] for a, b in pairs], seed=seed
            )
        entry["robust_lower_raw"] = (entry["raw"]["mean"] or 0) > 0
        out["cells"].append(entry)
    deep = deep_cells(n_cells)
    deep_raw = [sum(b[key_raw][c] - a[key_raw][c] for c in deep) / len(deep) for a, b in pairs]
    test = paired_permutation_test(deep_raw, seed=seed)
    out["deep_cells"] = list(deep)
    out["deep_raw"] = test
    out["verdict"] = verdict(test["p"], test["mean"], +1, smallest_possible_p=test["smallest_possible_p"])
    return out


def deep_cells(layers: int) -> list[int]:
    """The deeper cells, where the paper saw robust and non-robust networks part: the last
    stage, from the second reduction cell on (the ``fsp`` scorer ranks by them too)."""
    return list(range(2 * layers // 3, layers))


def proxy_agreement(rows: list[LeaderboardRow], seed: int = 0) -> dict[str, Any]:
    """How well each cheap scorer ranks the finetuned candidates as finetuning does, and what it
    costs: Spearman and Kendall (bootstrap 95% intervals) against the finetuned robust accuracy,
    and the ratio of mean seconds per candidate (finetuning / the proxy), all measured on the
    same candidates in the same run."""
    tuned = [r for r in rows if r.finetune_robust is not None]
    reference = [r.finetune_robust for r in tuned]
    out: dict[str, Any] = {"n": len(tuned)}
    if not tuned:
        return out
    finetune_seconds = sum(r.finetune_seconds for r in tuned) / len(tuned)
    for proxy, values in (
        ("inherited", [r.inherited_robust for r in tuned]),
        ("fsp", [-r.fsp_raw_loss for r in tuned]),
    ):  # lower FSP loss ranks higher
        seconds = sum(r.screen_seconds[proxy] for r in tuned) / len(tuned)
        out[proxy] = {
            "spearman": rank_correlation(values, reference, seed=seed),
            "kendall": rank_correlation(values, reference, method="kendall", seed=seed),
            "seconds": seconds,
            "cost_ratio": finetune_seconds / seconds if seconds > 0 else None,
        }
    out["finetune_seconds"] = finetune_seconds
    return out


FINDINGS = {
    "finding1_density": "Finding 1: denser cells are more robust",
    "finding1_window": "Finding 1 within density 0.3-0.7",
    "finding1_connectivity": "Finding 1 is connectivity, not capacity (every identity bit added at fixed convolutions)",
    "finding2_small_budget": "Finding 2: a convolution moved to a direct edge helps at 2-4 convolutions",
    "finding2_interaction": "Finding 2: the gain shrinks as the budget grows",
    "finding3_fsp": "Finding 3: robust cell-free networks have a lower FSP loss in deep cells",
}


def analyse_findings(
    rows: list[LeaderboardRow], settings: Any, pairs: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """``analysis.json``: the three findings, the proxies' agreement, and a verdict per claim,
    with what they were measured on."""
    from .pairs import analyse_pairs

    seed = settings.seed
    measured = {
        "scorer": settings.scorer,
        "score_attack": settings.score_attack,
        "validation_images": settings.score_examples or settings.validation_size,
        "dataset": settings.dataset,
        "supernet": {
            "C": settings.width,
            "layers": settings.layers,
            "epochs": settings.supernet.epochs,
            "attack": settings.supernet_attack,
        },
        "sampler": settings.sampler,
        "candidates": len(rows),
        "common_random_numbers": "one attack seed, one set of scoring and recalibration images for all",
    }
    f1 = finding_density(rows, seed)
    f2 = analyse_pairs(pairs or [], seed)
    f3 = finding_fsp(rows, seed=seed)
    f3_tuned = finding_fsp(rows, space="free", weights="finetuned", seed=seed)
    result = {
        "measured_on": measured,
        "finding1_density": f1,
        "finding2_direct_edges": f2,
        "finding3_fsp": f3,
        "finding3_fsp_finetuned": f3_tuned,
        "proxies": proxy_agreement(rows, seed),
    }
    result["verdicts"] = primary_verdicts(f1, f2 if pairs else None, f3)
    result["family"] = {"correction": "Holm", "claims": list(PRIMARY), "alpha": 0.05}
    result["notes"] = [_summary_line(result["verdicts"])]
    return result


# The pre-named primary claims, corrected together (Holm); the density window is a check of
# Finding 1 away from the sparse end, reported beside them uncorrected.
PRIMARY = ("finding1_density", "finding1_connectivity", "finding2_small_budget", "finding2_interaction", "finding3_fsp")


def primary_verdicts(f1: dict[str, Any], f2: dict[str, Any] | None, f3: dict[str, Any]) -> list[dict[str, Any]]:
    """A verdict per claim: each primary claim's p Holm-adjusted over the family ``PRIMARY``
    (a claim with no test keeps "cannot decide"), then the paper's sign decides."""
    tests: dict[str, tuple[float | None, float | None, int, float | None]] = {  # p, effect, sign, smallest p
        "finding1_density": (f1["all"]["p"], f1["all"]["value"], +1, None),
        "finding1_connectivity": (None, None, +1, None),
        "finding2_small_budget": (None, None, +1, None),
        "finding2_interaction": (None, None, -1, None),
        "finding3_fsp": (
            (f3.get("deep_raw") or {}).get("p"),
            (f3.get("deep_raw") or {}).get("mean"),
            +1,
            (f3.get("deep_raw") or {}).get("smallest_possible_p"),
        ),
    }
    if f2 is not None and f2.get("connectivity", {}).get(
        "pairs"
    ):  # the paired twins, not the confounded partial correlation
        twins = f2["connectivity"]
        tests["finding1_connectivity"] = (twins["wilcoxon_p"], twins["mean"], +1, twins["smallest_possible_p"])
    if f2 is not None:
        small, trend = f2["inputs"]["small_budget"], f2["inputs"]["interaction"]["spearman_gain_vs_convs"]
        tests["finding2_small_budget"] = (small["wilcoxon_p"], small["mean"], +1, None)
        tests["finding2_interaction"] = (trend["p"], trend["value"], -1, None)
    adjusted = holm({key: test[0] for key, test in tests.items()})
    out = []
    for key in (
        "finding1_density",
        "finding1_window",
        "finding1_connectivity",
        "finding2_small_budget",
        "finding2_interaction",
        "finding3_fsp",
    ):
        if key == "finding1_window":
            out.append(
                {
                    "claim": FINDINGS[key],
                    "key": key,
                    "verdict": f1["window_verdict"],
                    "p": f1["window"]["p"],
                    "p_holm": None,
                    "primary": False,
                }
            )
            continue
        p, effect, sign, smallest = tests[key]
        out.append(
            {
                "claim": FINDINGS[key],
                "key": key,
                "p": p,
                "p_holm": adjusted[key],
                "primary": True,
                "verdict": verdict(adjusted[key], effect, sign, smallest_possible_p=smallest),
            }
        )
    return out


def _summary_line(verdicts: list[dict[str, Any]]) -> str:
    groups: dict[str, list[str]] = {"supports": [], "contradicts": [], "cannot decide": []}
    for v in verdicts:
        groups[v["verdict"]].append(v["key"].replace("finding", "F").replace("_", " "))
    return (
        "this search supports: "
        + (", ".join(groups["supports"]) or "none")
        + "; contradicts: "
        + (", ".join(groups["contradicts"]) or "none")
        + "; cannot decide: "
        + (", ".join(groups["cannot decide"]) or "none")
        + f" (Holm over the {len(PRIMARY)} primary claims; analysis.json holds each test)"
    )
