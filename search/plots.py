"""The analysis figures as PNG files (matplotlib, imported here only, with the Agg backend so a
search on a server without a display draws them too). Every figure states its n and interval."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robnetzoo._io import atomic_write

from .leaderboard import LeaderboardRow


def _ci(stat: dict[str, Any]) -> str:
    if stat.get("value") is None:
        return "n/a"
    low, high = stat["interval"]
    return f"{stat['value']:.2f} [{low:.2f}, {high:.2f}]"


def write_plots(rows: list[LeaderboardRow], analysis: dict[str, Any], folder: Path) -> list[Path]:
    """``finding1_density.png``, ``finding2_direct_edges.png``, ``finding3_fsp.png`` and, when
    candidates were finetuned, ``proxies.png``; returns the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    figures = {}
    f1 = analysis["finding1_density"]
    pool = [r for r in rows if r.space == "cell" and r.inherited_robust is not None]
    fig, ax = plt.subplots(figsize=(5.4, 3.8))
    points = ax.scatter(
        [r.density for r in pool],
        [r.inherited_robust for r in pool],
        c=[r.convs_per_cell for r in pool],
        cmap="viridis",
        s=16,
    )
    fig.colorbar(points, ax=ax, label="convolutions per cell")
    low, high = f1["window"]["density"]
    ax.axvspan(low, high, color="#eeeeee", zorder=0)
    ax.set(
        xlabel="architecture density",
        ylabel="inherited robust accuracy (%)",
        title=f"Finding 1 (n={f1['n']}): Spearman {_ci(f1['all'])};\nwithin {low}-{high} (n={f1['window']['n']}): "
        f"{_ci(f1['window'])}",
    )
    ax.title.set_fontsize(8)
    figures["finding1_density.png"] = fig

    f2 = analysis["finding2_direct_edges"]
    fig, ax = plt.subplots(figsize=(5.4, 3.8))
    for offset, reading in ((-0.12, "inputs"), (0.12, "chain")):
        if reading not in f2:
            continue
        per = [p for p in f2[reading]["per_count"] if p["mean"] is not None]
        ax.errorbar(
            [p["convs"] + offset for p in per],
            [p["mean"] for p in per],
            yerr=[
                [p["mean"] - (p["interval"] or [p["mean"]] * 2)[0] for p in per],  # n = 1: no interval
                [(p["interval"] or [p["mean"]] * 2)[1] - p["mean"] for p in per],
            ],
            fmt="o",
            capsize=3,
            label=f"direct = {reading}",
        )
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set(
        xlabel="convolutions per cell (the budget)",
        ylabel="robust gain of the move (points)",
        title=f"Finding 2: one conv moved skip -> direct ({f2['pairs']} pairs, mean, 95% CI)",
    )
    ax.title.set_fontsize(8)
    ax.legend(fontsize=8)
    figures["finding2_direct_edges.png"] = fig

    f3 = analysis["finding3_fsp"]
    fig, ax = plt.subplots(figsize=(5.4, 3.8))
    if f3["cells"]:
        cells = [c["cell"] for c in f3["cells"]]
        ax.bar([c - 0.2 for c in cells], [c["raw"]["mean"] for c in f3["cells"]], width=0.4, label="raw (the paper's)")
        if "relative" in f3["cells"][0]:
            ax2 = ax.twinx()
            ax2.bar(
                [c + 0.2 for c in cells],
                [c["relative"]["mean"] for c in f3["cells"]],
                width=0.4,
                color="C1",
                label="relative",
            )
            ax2.set_ylabel("relative FSP gap")
            ax2.legend(loc="upper right", fontsize=8)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.legend(loc="upper left", fontsize=8)
    ax.set(
        xlabel="cell (depth)",
        ylabel="FSP(less robust) - FSP(more robust)",
        title=f"Finding 3, {f3['space']} space: {f3['pairs']} density-matched pairs; verdict {f3['verdict']}",
    )
    ax.title.set_fontsize(8)
    figures["finding3_fsp.png"] = fig

    tuned = [r for r in rows if r.finetune_robust is not None]
    if tuned:
        proxies = analysis["proxies"]
        fig, ax = plt.subplots(figsize=(5.4, 3.8))
        ax.scatter([r.inherited_robust for r in tuned], [r.finetune_robust for r in tuned], s=18)
        ax.set(
            xlabel="inherited robust accuracy (%)",
            ylabel="finetuned robust accuracy (%)",
            title=f"inherited vs finetuning (n={proxies['n']}): Spearman {_ci(proxies['inherited']['spearman'])}",
        )
        ax.title.set_fontsize(8)
        figures["proxies.png"] = fig

    written = []
    for name, fig in figures.items():
        fig.tight_layout()
        path = folder / name
        atomic_write(path, lambda tmp, fig=fig: fig.savefig(tmp, format="png", dpi=110))
        plt.close(fig)
        written.append(path)
    return written
