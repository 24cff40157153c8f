"""Seeded genotype sampling: candidates for the search, and path dropout for the supernet.

``by="edge"``: every bit of every edge is a fair coin (independent per-edge codes, as the
published protocol samples), whose densities pile up near 0.5 (a binomial over 28 bits per
cell: 95% fall within 0.31-0.69). ``by="density"``: first a density ``d`` uniform in [0, 1]
*for each cell*, then every bit of that cell is on with probability ``d``, so sparse and dense
cells (and every budget band of convolutions) are drawn as often as middling ones, and a
cell-free genotype can have dense deep cells and sparse shallow ones.

``moved_pair`` builds Finding 2's paired design: a cell with exactly k convolutions, and the
same cell with one convolution moved from a skip edge to a direct edge (identity bits
unchanged), under either reading of "direct" (``DIRECT_READINGS``). ``densified_twin`` builds
Finding 1's connectivity test on the same base cells: every identity bit switched on, the
convolutions left as they are.

A candidate's genotype depends on (seed, its index) only, so any number of processes lists the
same candidates; duplicates are redrawn from the same candidate's stream.
"""

from __future__ import annotations

import torch
from torch import nn

from robnetzoo.errors import InvalidInput, option
from robnetzoo.genotype import EDGES_PER_CELL, STEPS, Genotype, edge_inputs
from robnetzoo.seeding import derive_seed

from .settings import SAMPLERS

CODES = ("00", "01", "10", "11")


def connected(genotype: Genotype) -> bool:
    """Whether every cell's output depends on its inputs: some node is reached from the cell's
    inputs through edges that are not ``00``. A cell that is not is a constant (zeros), and a
    network of such cells ignores its image: not an architecture worth scoring or training."""
    for cell in genotype.cells:
        live = [True, True] + [False] * STEPS
        for edge, code in enumerate(cell):
            node, source = edge_inputs(edge)
            if code != "00" and live[source]:
                live[2 + node] = True
        if not any(live[2:]):
            return False
    return True


def sample_genotype(generator: torch.Generator, *, space: str = "cell", layers: int = 1, by: str = "edge") -> Genotype:
    """One random connected genotype (see ``connected``): one cell (``space="cell"``) or one per
    layer (``"free"``); an unconnected draw is redrawn from the same stream."""
    if by not in SAMPLERS:
        raise InvalidInput(f"unknown sampler {by!r}; use one of {', '.join(SAMPLERS)}")
    if space not in ("cell", "free"):
        raise InvalidInput(f"unknown search space {space!r}; use cell or free")
    while True:
        genotype = _draw(generator, 1 if space == "cell" else layers, by)
        if connected(genotype):
            return genotype


def _draw(generator: torch.Generator, cells: int, by: str) -> Genotype:
    bits = 2 * EDGES_PER_CELL
    if by == "density":
        densities = torch.rand(cells, 1, generator=generator)
        on = torch.rand(cells, bits, generator=generator) < densities
    else:
        on = torch.rand(cells, bits, generator=generator) < 0.5
    codes = [CODES[int(a) * 2 + int(b)] for a, b in on.view(-1, 2).tolist()]
    return Genotype(tuple(tuple(codes[c * EDGES_PER_CELL : (c + 1) * EDGES_PER_CELL]) for c in range(cells)))


# Two readings of Finding 2's "direct edge" (the published descriptions differ): "inputs", the
# edges from the two cell inputs; "chain", the edge from the state just before a node (input 1
# -> node 0 -> node 1 -> node 2 -> node 3).
DIRECT_READINGS = ("inputs", "chain")


def is_direct(edge: int, reading: str) -> bool:
    """Whether ``edge`` is a direct edge under ``reading`` (see ``DIRECT_READINGS``)."""
    node, source = edge_inputs(edge)
    if reading == "inputs":
        return source < 2
    if reading == "chain":
        return source == node + 1
    raise InvalidInput(f"unknown reading of direct edges {reading!r}; use one of {', '.join(DIRECT_READINGS)}")


def cell_with_convs(generator: torch.Generator, k: int) -> tuple[str, ...]:
    """A random connected cell with exactly ``k`` convolutions (conv bits on ``k`` edges drawn
    uniformly) and fair-coin identity bits."""
    while True:
        conv_edges = set(torch.randperm(EDGES_PER_CELL, generator=generator)[:k].tolist())
        identity = (torch.rand(EDGES_PER_CELL, generator=generator) < 0.5).tolist()
        cell = tuple(f"{int(identity[e])}{int(e in conv_edges)}" for e in range(EDGES_PER_CELL))
        if connected(Genotype((cell,))):
            return cell


def convolutions(cell: tuple[str, ...]) -> int:
    """The convolution edges of one cell (codes ``x1``): what a budget band counts."""
    return sum(code[1] == "1" for code in cell)


def band_cells(
    band: tuple[int, int], n: int, *, seed: int = 0, stream: tuple[object, ...] = ("band-cells",)
) -> list[tuple[str, ...]]:
    """``n`` distinct random cells with ``band``'s (low, high) convolutions, drawn as the search
    draws its candidates (``by="density"``) and kept when they fall in the band: what a random
    pick of the band is, for the studies that set the search against chance. ``stream`` names
    the draw (the i-th try comes from ``derive_seed(seed, *stream, i)``), so two uses of one
    seed draw different cells."""
    low, high = band
    cells: list[tuple[str, ...]] = []
    index = 0
    while len(cells) < n:
        generator = torch.Generator().manual_seed(derive_seed(seed, *stream, index))
        index += 1
        cell = sample_genotype(generator, space="cell", by="density").cells[0]
        if low <= convolutions(cell) <= high and cell not in cells:
            cells.append(cell)
    return cells


def moved_pair(generator: torch.Generator, base: tuple[str, ...], reading: str) -> tuple[str, ...] | None:
    """``base`` with one convolution moved from a skip edge to a direct edge that has none
    (both drawn uniformly; identity bits unchanged); None when no such move exists or every one
    disconnects the cell."""
    skips = [e for e, code in enumerate(base) if code[1] == "1" and not is_direct(e, reading)]
    free_direct = [e for e, code in enumerate(base) if code[1] == "0" and is_direct(e, reading)]
    moves = [(s, d) for s in skips for d in free_direct]
    order = torch.randperm(len(moves), generator=generator).tolist() if moves else []
    for choice in order:
        source, target = moves[choice]
        cell = list(base)
        cell[source] = base[source][0] + "0"
        cell[target] = base[target][0] + "1"
        if connected(Genotype((tuple(cell),))):
            return tuple(cell)
    return None


def densified_twin(base: tuple[str, ...]) -> tuple[str, ...] | None:
    """``base`` with every identity bit on and its convolutions unchanged: more connectivity at
    the same capacity (an identity edge has no parameters), so the pair's difference is
    Finding 1's density effect with the capacity gradient held fixed. None when every identity
    bit is already on (adding bits never disconnects a cell)."""
    if all(code[0] == "1" for code in base):
        return None
    return tuple("1" + code[1] for code in base)


def cell_densities(genotype: Genotype) -> list[float]:
    """The density of each cell of a genotype (one value for a cell-based one)."""
    return [Genotype((cell,)).density() for cell in genotype.cells]


def candidate_stream(seed: int, index: int) -> torch.Generator:
    """The random stream of candidate ``index``: a function of (seed, index), never of the rank."""
    return torch.Generator().manual_seed(derive_seed(seed, "candidate-genotype", index))


def sample_candidates(
    n: int,
    *,
    seed: int = 0,
    space: str = "cell",
    layers: int = 1,
    by: str = "edge",
    max_tries: int = 1000,
    first_index: int = 0,
) -> list[Genotype]:
    """``n`` distinct genotypes, the i-th drawn from ``candidate_stream(seed, first_index + i)``
    (a search numbers its cell-free candidates after its cell-based ones)."""
    if n < 2:
        raise InvalidInput(f"a search needs at least 2 candidates, got {n}")
    seen: set[str] = set()
    out: list[Genotype] = []
    for index in range(n):
        generator = candidate_stream(seed, first_index + index)
        for _ in range(max_tries):
            genotype = sample_genotype(generator, space=space, layers=layers, by=by)
            if str(genotype) not in seen:
                break
        else:
            raise InvalidInput(
                f"could not draw {n} distinct candidates (stuck at {index}); ask for fewer {option('candidates')}"
            )
        seen.add(str(genotype))
        out.append(genotype)
    return out


class PathDropout:
    """A ``Trainer`` hook: a new random sub-network of the supernet before every batch, drawn
    from the engine's hook generator (so a resumed supernet run draws the same paths, and every
    rank of a torchrun job the same sub-network).

    ``space="both"`` draws a cell-based sub-network on one batch in two and a cell-free one on
    the other, so one supernet serves the search of both spaces (a cell-based genotype is a
    cell-free one whose cells agree, which per-layer sampling alone would almost never draw)."""

    def __init__(self, *, space: str, layers: int, by: str = "edge") -> None:
        self.space, self.layers, self.by = space, layers, by

    def steady(self, model: nn.Module) -> None:
        """Set the one fixed sub-network checks are made on: every path on (the supernet
        itself). The overfitting guard attacks this, not whichever random sub-network the last
        batch drew, whose accuracy swings from batch to batch and would read as a collapse."""
        model.set_genotype(Genotype(((("11",) * EDGES_PER_CELL),)))  # type: ignore[operator]

    def __call__(self, model: nn.Module, generator: torch.Generator) -> None:
        space = self.space
        if space == "both":
            space = "cell" if torch.rand(1, generator=generator).item() < 0.5 else "free"
        model.set_genotype(sample_genotype(generator, space=space, layers=self.layers, by=self.by))  # type: ignore[operator]
