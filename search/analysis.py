"""The paper's findings, measured: the quantities they are stated in, and ``analyse``, which
reads them off a search's leaderboard into ``analysis.json`` (plots: ``search.plots``).

* ``conv_counts``: convolutions of a genotype on *direct* edges (node i-1 -> node i, the chain
  through the cell) and on the other (skip) edges: Finding 2 compares them at a fixed total.
* ``fsp_matrix`` / ``fsp_loss``: Finding 3's flow-of-solution-procedure matrix of a cell,
  ``G(x) = (1 / (h w)) sum over positions of F_in(x) F_out(x)^T`` (C_in x C_out), and the FSP
  loss of a cell, the mean over examples of ``||G(x) - G(x_adv)||^2`` (squared Frobenius norm).
  A cell whose output is smaller than its input (a reduction cell) is compared after average
  pooling its input to the output's size, the usual choice for FSP across resolutions.
"""

from __future__ import annotations

from typing import Any

import torch

from robnetzoo.genotype import Genotype, edge_inputs


def conv_counts(genotype: Genotype) -> dict[str, int]:
    """Convolutions (codes 01 and 11) on direct edges and on skip edges, over all cells."""
    direct = skip = 0
    for cell in genotype.cells:
        for edge, code in enumerate(cell):
            if code[1] != "1":
                continue
            node, source = edge_inputs(edge)
            if source == node + 1:  # the state just before this node (input 1 for node 0)
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


def fsp_loss(f_in: torch.Tensor, f_out: torch.Tensor, f_in_adv: torch.Tensor, f_out_adv: torch.Tensor,
             *, relative: bool = False) -> torch.Tensor:
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

MIN_FOR_STATISTICS = 3


def _correlations(x: list[float], y: list[float]) -> dict[str, Any]:
    """Pearson and Spearman (with two-sided p-values), Kendall's tau, and the least-squares
    line of y on x; ``None`` statistics where there are too few points or no spread."""
    from scipy import stats

    out: dict[str, Any] = {"n": len(x)}
    if len(x) < MIN_FOR_STATISTICS or len(set(x)) < 2 or len(set(y)) < 2:
        return {**out, "pearson": None, "pearson_p": None, "spearman": None, "spearman_p": None,
                "kendall": None, "kendall_p": None, "slope": None, "intercept": None}
    pearson, spearman, kendall = stats.pearsonr(x, y), stats.spearmanr(x, y), stats.kendalltau(x, y)
    fit = stats.linregress(x, y)
    return {**out, "pearson": float(pearson[0]), "pearson_p": float(pearson[1]), "spearman": float(spearman[0]),
            "spearman_p": float(spearman[1]), "kendall": float(kendall[0]), "kendall_p": float(kendall[1]),
            "slope": float(fit.slope), "intercept": float(fit.intercept)}


def _pool(rows: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """The candidates the findings are read on: the cell-based ones with a score (the paper's
    space), else the cell-free ones."""
    for space in ("cell", "free"):
        pool = [r for r in rows if r["space"] == space and r["robust"] is not None]
        if pool:
            return space, pool
    return "none", []


def finding_density(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Finding 1: denser architectures are more robust (density vs robust accuracy)."""
    space, pool = _pool(rows)
    stats = _correlations([r["density"] for r in pool], [r["robust"] for r in pool])
    return {"space": space, "measure": "robust accuracy", **stats,
            "holds": stats["spearman"] is not None and stats["spearman"] > 0 and stats["spearman_p"] < 0.05}


def finding_direct_edges(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Finding 2: with the number of convolutions fixed, convolutions on direct edges help.

    Candidates are grouped by their total number of convolutions; within a group, those with
    more than the group's median share on direct edges ("direct-heavy") are compared with the
    rest. Pooled: Spearman between the direct-edge count and robust accuracy, both centred on
    their group's mean (so group size differences do not enter)."""
    _, pool = _pool(rows)
    groups: dict[int, list[dict[str, Any]]] = {}
    for r in pool:
        groups.setdefault(r["direct_convs"] + r["skip_convs"], []).append(r)
    table, centred_direct, centred_robust = [], [], []
    for total, members in sorted(groups.items()):
        if len(members) < 2 or len({m["direct_convs"] for m in members}) < 2:
            continue
        heavy, light = _split_by_direct(members)
        table.append({"convs": total, "n": len(members), "direct_heavy_n": len(heavy), "direct_light_n": len(light),
                      "direct_heavy_robust": sum(heavy) / len(heavy) if heavy else None,
                      "direct_light_robust": sum(light) / len(light) if light else None})
        mean_d = sum(m["direct_convs"] for m in members) / len(members)
        mean_r = sum(m["robust"] for m in members) / len(members)
        centred_direct += [m["direct_convs"] - mean_d for m in members]
        centred_robust += [m["robust"] - mean_r for m in members]
    pooled = _correlations(centred_direct, centred_robust)
    compared = [g for g in table if g["direct_heavy_robust"] is not None and g["direct_light_robust"] is not None]
    return {"groups": table, "within_group": pooled,
            "groups_where_direct_heavy_wins": sum(g["direct_heavy_robust"] > g["direct_light_robust"] for g in compared),
            "groups_compared": len(compared)}


def _split_by_direct(members: list[dict[str, Any]]) -> tuple[list[float], list[float]]:
    """Robust accuracies of the members with more direct-edge convolutions than the group's
    median, and of the rest (above-or-at the median when nobody is strictly above it)."""
    counts = sorted(m["direct_convs"] for m in members)
    median = counts[(len(counts) - 1) // 2]
    cut = median if any(c > median for c in counts) else median - 0.5
    heavy = [m["robust"] for m in members if m["direct_convs"] > cut]
    light = [m["robust"] for m in members if m["direct_convs"] <= cut]
    return heavy, light


def finding_fsp(rows: list[dict[str, Any]], fraction: float = 1 / 3) -> dict[str, Any]:
    """Finding 3: robust networks have a lower FSP loss in deeper cells. The top and bottom
    ``fraction`` of candidates by robust accuracy, mean FSP loss per cell: raw (the paper's
    definition) and relative (see ``fsp_loss``)."""
    space, pool = _pool(rows)
    pool = sorted(pool, key=lambda r: (-r["robust"], r["index"]))
    k = max(1, int(len(pool) * fraction))
    if len(pool) < 2 * k or len(pool) < 2:
        return {"space": space, "cells": [], "robust_n": 0, "non_robust_n": 0}
    top, bottom = pool[:k], pool[-k:]
    cells = len(top[0]["fsp_cells"])
    per_cell = []
    for cell in range(cells):
        robust = sum(r["fsp_cells"][cell] for r in top) / k
        non = sum(r["fsp_cells"][cell] for r in bottom) / k
        robust_rel = sum(r["fsp_relative_cells"][cell] for r in top) / k
        non_rel = sum(r["fsp_relative_cells"][cell] for r in bottom) / k
        per_cell.append({"cell": cell, "robust": robust, "non_robust": non, "robust_lower": robust < non,
                         "robust_relative": robust_rel, "non_robust_relative": non_rel,
                         "robust_lower_relative": robust_rel < non_rel})
    return {"space": space, "robust_n": k, "non_robust_n": k,
            "robust_accuracy_threshold": top[-1]["robust"], "non_robust_accuracy_threshold": bottom[0]["robust"],
            "cells": per_cell}


def proxy_agreement(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """How well each cheap scorer ranks the finetuned candidates as finetuning does, and what it
    costs: Spearman and Kendall against the finetuned robust accuracy, and the ratio of mean
    seconds per candidate (finetuning / the proxy)."""
    tuned = [r for r in rows if r["finetune_robust"] is not None]
    reference = [r["finetune_robust"] for r in tuned]
    out: dict[str, Any] = {"n": len(tuned)}
    if not tuned:
        return out
    finetune_seconds = sum(r["finetune_seconds"] for r in tuned) / len(tuned)
    for proxy, values in (("inherited", [r["inherited_robust"] for r in tuned]),
                          ("fsp", [-r["fsp_loss"] for r in tuned])):  # lower FSP loss ranks higher
        stats = _correlations(values, reference)
        seconds = sum(r["screen_seconds"][proxy] for r in tuned) / len(tuned)
        out[proxy] = {"spearman": stats["spearman"], "spearman_p": stats["spearman_p"], "kendall": stats["kendall"],
                      "kendall_p": stats["kendall_p"], "seconds": seconds,
                      "cost_ratio": finetune_seconds / seconds if seconds > 0 else None}
    out["finetune_seconds"] = finetune_seconds
    return out


def analyse(rows: list[dict[str, Any]], settings: Any) -> dict[str, Any]:
    """``analysis.json``: the three findings and the proxies' agreement, with what they were
    measured on."""
    measured = {"scorer": settings.scorer, "score_attack": settings.score_attack,
                "validation_images": settings.score_examples or settings.validation_size, "dataset": settings.dataset,
                "supernet": {"C": settings.width, "layers": settings.layers, "epochs": settings.supernet.epochs},
                "candidates": len(rows)}
    result = {"measured_on": measured, "finding1_density": finding_density(rows),
              "finding2_direct_edges": finding_direct_edges(rows), "finding3_fsp": finding_fsp(rows),
              "proxies": proxy_agreement(rows)}
    notes = []
    if not result["finding1_density"]["holds"]:
        f1 = result["finding1_density"]
        figure = ("every candidate scored alike" if f1["spearman"] is None
                  else f"Spearman {f1['spearman']:.2f}, p {f1['spearman_p']:.2g}")
        notes.append(f"Finding 1 cannot be decided from this search ({figure}, n {f1['n']}): more candidates or a "
                     "longer-trained supernet are needed")
    result["notes"] = notes
    return result
