"""Cell diagrams, as the paper draws the RobNet family: the two input nodes, the four
intermediate nodes and the output, and each edge marked by its code (conv, identity, both;
a ``00`` edge is not drawn). A cell-based genotype is one diagram; a cell-free one a grid of
its cells, reduction cells marked. PNG and SVG (matplotlib, imported only here, with the Agg
backend: no display needed). ``robnetzoo info MODEL --draw FILE`` and the search's chosen
architectures are drawn by ``draw_genotype``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from robnetzoo._io import atomic_write
from robnetzoo.errors import InvalidInput
from robnetzoo.genotype import EDGES_PER_CELL, Genotype, edge_inputs

FORMATS = ("png", "svg")
STYLE = {  # code -> (label, colour, line style)
    "01": ("sep-conv 3x3", "#1f77b4", "solid"),
    "10": ("identity", "#7f7f7f", "dashed"),
    "11": ("sep-conv + identity", "#d62728", "solid"),
}
_POSITIONS = {
    0: (0.0, 1.4),
    1: (0.0, -1.4),
    2: (1.6, 0.9),
    3: (3.0, -0.9),
    4: (4.4, 0.9),
    5: (5.8, -0.9),
    6: (7.3, 0.0),
}


def _draw_cell(ax: Any, cell: tuple[str, ...], title: str) -> None:
    from matplotlib.patches import FancyArrowPatch

    for edge in range(EDGES_PER_CELL):
        code = cell[edge]
        if code == "00":
            continue
        node, source = edge_inputs(edge)
        label, colour, style = STYLE[code]
        start, end = _POSITIONS[source], _POSITIONS[2 + node]
        bend = 0.25 if (source + node) % 2 else -0.25
        ax.add_patch(
            FancyArrowPatch(
                start,
                end,
                arrowstyle="-|>",
                mutation_scale=10,
                color=colour,
                linestyle=style,
                linewidth=1.8 if code == "11" else 1.3,
                connectionstyle=f"arc3,rad={bend}",
                shrinkA=11,
                shrinkB=11,
            )
        )
    for node in range(4):  # every intermediate node is concatenated into the output
        ax.add_patch(
            FancyArrowPatch(
                _POSITIONS[2 + node],
                _POSITIONS[6],
                arrowstyle="-|>",
                mutation_scale=8,
                color="#bbbbbb",
                linewidth=0.8,
                shrinkA=11,
                shrinkB=11,
            )
        )
    names = {0: "c_{k-2}", 1: "c_{k-1}", 2: "0", 3: "1", 4: "2", 5: "3", 6: "c_{k}"}
    for key, (x, y) in _POSITIONS.items():
        colour = "#c6dbef" if key < 2 else ("#fdd0a2" if key == 6 else "#e5f5e0")
        ax.scatter([x], [y], s=520, color=colour, edgecolors="black", zorder=3)
        ax.text(
            x, y, f"${names[key]}$" if key in (0, 1, 6) else names[key], ha="center", va="center", fontsize=8, zorder=4
        )
    ax.set_xlim(-0.6, 7.9)
    ax.set_ylim(-2.1, 2.1)
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def draw_genotype(genotype: Genotype, path: str | Path, *, title: str = "", also: Sequence[str | Path] = ()) -> Path:
    """Draw ``genotype`` to ``path`` (its suffix picks PNG or SVG), and the same figure to each
    path in ``also``: laying out a 20-cell drawing takes longer than writing it twice."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    targets = {Path(p): Path(p).suffix.lstrip(".").lower() for p in (path, *also)}  # path -> format
    for target, fmt in targets.items():
        if fmt not in FORMATS:
            raise InvalidInput(f"cannot draw to {target.name}: name a .png or .svg file")
    cells = genotype.cells
    columns = 1 if len(cells) == 1 else 4
    rows = (len(cells) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 2.4 * rows + 0.6), squeeze=False)
    layers = len(cells)
    reductions = {layers // 3, 2 * layers // 3} if layers > 1 else set()
    for i, ax in enumerate(axes.flat):
        if i >= len(cells):
            ax.axis("off")
            continue
        label = (
            "shared cell (every layer)"
            if len(cells) == 1
            else f"cell {i}" + (" (reduction)" if i in reductions else "")
        )
        _draw_cell(
            ax,
            cells[i],
            f"{label}: density {Genotype((cells[i],)).density():.2f}, {sum(c[1] == '1' for c in cells[i])} convs",
        )
    handles = [Line2D([0], [0], color=c, linestyle=s, label=label) for label, c, s in STYLE.values()]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 0.95 if title else 1))
    for target, fmt in targets.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, lambda tmp, fmt=fmt: fig.savefig(tmp, format=fmt, dpi=110))
    plt.close(fig)
    return Path(path)
