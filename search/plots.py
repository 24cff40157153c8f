"""The analysis figures as PNG files (matplotlib, imported here only, with the Agg backend so a
search on a server without a display draws them too)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robnetzoo._io import atomic_write


def write_plots(rows: list[dict[str, Any]], analysis: dict[str, Any], folder: Path) -> list[Path]:
    """``finding1_density.png``, ``finding2_direct_edges.png``, ``finding3_fsp.png`` and, when
    candidates were finetuned, ``proxies.png``; returns the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    f1 = analysis["finding1_density"]
    pool = [r for r in rows if r["space"] == f1["space"] and r["robust"] is not None]
    figures = {}

    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.scatter([r["density"] for r in pool], [r["robust"] for r in pool], s=14, alpha=0.8)
    if f1["slope"] is not None:
        ax.plot([0, 1], [f1["intercept"], f1["intercept"] + f1["slope"]], color="C3",
                label=f"fit; Spearman {f1['spearman']:.2f} (p={f1['spearman_p']:.1g}), n={f1['n']}")
        ax.legend(loc="lower right", fontsize=8)
    ax.set(xlabel="architecture density", ylabel="robust accuracy (%)", title="Finding 1: density and robustness")
    figures["finding1_density.png"] = fig

    f2 = analysis["finding2_direct_edges"]
    groups = [g for g in f2["groups"] if g["direct_heavy_robust"] is not None and g["direct_light_robust"] is not None]
    fig, ax = plt.subplots(figsize=(5, 3.6))
    if groups:
        x = range(len(groups))
        ax.bar([i - 0.2 for i in x], [g["direct_heavy_robust"] for g in groups], width=0.4, label="more convs on direct edges")
        ax.bar([i + 0.2 for i in x], [g["direct_light_robust"] for g in groups], width=0.4, label="fewer")
        ax.set_xticks(list(x), [str(g["convs"]) for g in groups])
        ax.legend(fontsize=8)
    ax.set(xlabel="convolutions in the architecture", ylabel="mean robust accuracy (%)",
           title="Finding 2: direct edges, same number of convs")
    figures["finding2_direct_edges.png"] = fig

    f3 = analysis["finding3_fsp"]
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
    if f3["cells"]:
        cells = [c["cell"] for c in f3["cells"]]
        for ax, suffix, label in ((axes[0], "", "FSP loss (raw)"), (axes[1], "_relative", "FSP loss (relative)")):
            ax.plot(cells, [c["robust" + suffix] for c in f3["cells"]], marker="o", label=f"most robust {f3['robust_n']}")
            ax.plot(cells, [c["non_robust" + suffix] for c in f3["cells"]], marker="s",
                    label=f"least robust {f3['non_robust_n']}")
            ax.set_yscale("log")
            ax.set(xlabel="cell (depth)", ylabel=label)
            ax.legend(fontsize=8)
    fig.suptitle("Finding 3: FSP loss by depth")
    figures["finding3_fsp.png"] = fig

    tuned = [r for r in rows if r["finetune_robust"] is not None]
    if tuned:
        proxies = analysis["proxies"]
        fig, ax = plt.subplots(figsize=(5, 3.6))
        rho = proxies["inherited"]["spearman"]
        label = "inherited" + ("" if rho is None else f" (Spearman {rho:.2f})")
        ax.scatter([r["inherited_robust"] for r in tuned], [r["finetune_robust"] for r in tuned], s=18, label=label)
        ax.set(xlabel="inherited robust accuracy (%)", ylabel="finetuned robust accuracy (%)",
               title="Proxy vs finetuning")
        ax.legend(fontsize=8)
        figures["proxies.png"] = fig

    for name, fig in figures.items():
        fig.tight_layout()
        path = folder / name
        atomic_write(path, lambda tmp, fig=fig: fig.savefig(tmp, format="png", dpi=110))
        plt.close(fig)
        written.append(path)
    return written
