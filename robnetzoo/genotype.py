"""The RobNet search space: cells of 14 edges, each edge a 2-bit code.

A cell has two inputs and four intermediate nodes; node ``i`` sums one edge from each of the
``2 + i`` states before it, so the 14 edges come in groups of 2, 3, 4 and 5 (DARTS order).
Each edge is a 2-bit code over (identity, 3x3 separable conv):

=====  ==========================================================================
code   operation
=====  ==========================================================================
00     zero (no connection)
01     separable 3x3 convolution
10     identity (FactorizedReduce when the edge has stride 2)
11     residual separable convolution (sep-conv + identity/FactorizedReduce)
=====  ==========================================================================

A genotype is either *cell-shared* (one cell used by every layer, as RobNet-large) or
*cell-free* (one cell per layer, as RobNet-free).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from .errors import InvalidInput, NotFound

EDGE_CODES: dict[str, str] = {
    "00": "zero",
    "01": "sep_conv",
    "10": "identity",
    "11": "res_sep_conv",
}
STEPS = 4
EDGES_PER_CELL = sum(2 + i for i in range(STEPS))  # 14


def edge_inputs(edge: int) -> tuple[int, int]:
    """Return ``(node, input_state)`` for an edge index (0..13) in DARTS order."""
    start = 0
    for node in range(STEPS):
        width = 2 + node
        if edge < start + width:
            return node, edge - start
        start += width
    raise IndexError(f"edge {edge} is outside 0..{EDGES_PER_CELL - 1}")


@dataclass(frozen=True)
class Genotype:
    """One cell (``shared=True``) or one cell per layer, each a tuple of 14 edge codes."""

    cells: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        if not self.cells:
            raise InvalidInput("invalid genotype: it has no cells; give one cell of 14 edge codes")
        for index, cell in enumerate(self.cells):
            if len(cell) != EDGES_PER_CELL:
                raise InvalidInput(
                    f"invalid genotype: cell {index} has {len(cell)} edge codes, expected "
                    f"{EDGES_PER_CELL} (groups of 2, 3, 4, 5 for the four nodes)"
                )
            for edge, code in enumerate(cell):
                if code not in EDGE_CODES:
                    raise InvalidInput(
                        f"invalid genotype: cell {index} edge {edge} has code {code!r}; "
                        f"valid codes are {', '.join(sorted(EDGE_CODES))}"
                    )

    @classmethod
    def from_codes(cls, codes: Sequence[Sequence[str]] | Sequence[str]) -> "Genotype":
        """Build from a list of cells (each 14 codes), or from one flat list of 14 codes.

        Codes may be strings (``"01"``) or, for convenience, the 28-character string of a
        whole cell (``"1111111111011101..."``).
        """
        if isinstance(codes, str):
            codes = [codes]
        codes = list(codes)
        if codes and all(isinstance(c, str) and len(c) == 2 for c in codes):
            codes = [codes]  # one flat cell
        cells = []
        for cell in codes:
            if isinstance(cell, str):
                if len(cell) % 2:
                    raise InvalidInput(
                        f"invalid genotype: cell string {cell!r} has an odd length; write two bits per edge"
                    )
                cell = [cell[i : i + 2] for i in range(0, len(cell), 2)]
            if not isinstance(cell, (list, tuple)):
                raise InvalidInput(f"invalid genotype: expected a list of edge codes per cell, got {cell!r}")
            cells.append(tuple(str(code) for code in cell))
        return cls(tuple(cells))

    @property
    def shared(self) -> bool:
        """True when one cell serves every layer (the cell-based search space)."""
        return len(self.cells) == 1

    def cell_for_layer(self, layer: int, layers: int) -> tuple[str, ...]:
        self.check_layers(layers)
        return self.cells[0] if self.shared else self.cells[layer]

    def check_layers(self, layers: int) -> None:
        if not self.shared and len(self.cells) != layers:
            raise InvalidInput(
                f"invalid genotype: a cell-free genotype needs one cell per layer, got "
                f"{len(self.cells)} cells for {layers} layers"
            )

    def density(self) -> float:
        """Connected edge bits / all edge bits (the paper's architecture density D)."""
        bits = "".join("".join(cell) for cell in self.cells)
        return bits.count("1") / len(bits)

    def to_json(self) -> list[list[str]]:
        return [list(cell) for cell in self.cells]

    def dumps(self) -> str:
        return json.dumps(self.to_json())

    @classmethod
    def loads(cls, text: str) -> "Genotype":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"invalid genotype: not JSON ({exc})") from exc
        return cls.from_codes(data)

    def __str__(self) -> str:
        return " | ".join("".join(cell) for cell in self.cells)

    @classmethod
    def parse(cls, text: str) -> "Genotype":
        """The inverse of ``str``: cells of 28 bits separated by ``|`` (as leaderboards show them)."""
        cells = []
        for cell in text.split("|"):
            bits = cell.strip()
            cells.append([bits[i : i + 2] for i in range(0, len(bits), 2)])
        return cls.from_codes(cells)


def as_genotype(value: "Genotype | Iterable") -> Genotype:
    return value if isinstance(value, Genotype) else Genotype.from_codes(value)  # type: ignore[arg-type]


def read_genotype_file(path: str | Path) -> Genotype:
    """A genotype file as ``Genotype.dumps`` writes it (what the search leaves in
    ``SEARCH_FOLDER/genotypes/``): the one reader behind ``create_model(..., genotype=PATH)``
    and ``robnetzoo train GENOTYPE.json``. A missing file is ``NotFound``; anything else that is
    not a genotype is ``InvalidInput``, one line each."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise NotFound(
            f"no genotype file at {path}; robnetzoo search writes them to SEARCH_FOLDER/genotypes/"
        ) from None
    except (IsADirectoryError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path} is not a genotype file ({exc})") from None
    try:
        return Genotype.loads(text)
    except (InvalidInput, ValueError, TypeError, KeyError) as exc:
        raise InvalidInput(
            f"{path} is not a genotype (a JSON list of cells, each a list of 2-character edge codes, "
            f"as Genotype.dumps writes): {exc}"
        ) from None
