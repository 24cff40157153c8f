"""The chosen architectures of a search drawn as cells (``robnetzoo.drawing``), PNG and SVG."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from robnetzoo.drawing import FORMATS, draw_genotype

if TYPE_CHECKING:
    from .selection import Choice


def draw_selection(selection: dict[str, Choice], folder: Path) -> list[Path]:
    """``NAME.png`` and ``NAME.svg`` for each chosen architecture (at its final depth)."""
    from .selection import final_genotype

    written = []
    for name, choice in selection.items():
        genotype = final_genotype(choice.row)
        title = f"{name} (candidate {choice.row.index}, {choice.row.convs_per_cell:g} convs per cell)"
        first, *others = [folder / f"{name}.{fmt}" for fmt in FORMATS]
        draw_genotype(genotype, first, title=title, also=others)
        written += [first, *others]
    return written
