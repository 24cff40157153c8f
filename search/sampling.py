"""Seeded genotype sampling: candidates for the search, and path dropout for the supernet.

``by="edge"``: every bit of every edge is a fair coin, the obvious sampler, whose densities pile
up near 0.5 (a binomial over 28 bits per cell: 95% fall within 0.31-0.69). ``by="density"``:
first a density ``d`` uniform in [0, 1], then every bit is on with probability ``d``, so sparse
and dense architectures, which Finding 1 (density vs robustness) is about, are drawn as often
as middling ones.

A candidate's genotype depends on (seed, its index) only, so any number of processes lists the
same candidates; duplicates are redrawn from the same candidate's stream.
"""

from __future__ import annotations

import torch
from torch import nn

from robnetzoo.errors import InvalidInput, option
from robnetzoo.seeding import derive_seed
from robnetzoo.genotype import EDGES_PER_CELL, STEPS, Genotype, edge_inputs

SAMPLERS = ("edge", "density")
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


def sample_genotype(generator: torch.Generator, *, space: str = "cell", layers: int = 1, by: str = "density") -> Genotype:
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
    bits = 2 * EDGES_PER_CELL * cells
    if by == "density":
        density = torch.rand(1, generator=generator).item()
        on = torch.rand(bits, generator=generator) < density
    else:
        on = torch.rand(bits, generator=generator) < 0.5
    codes = [CODES[int(a) * 2 + int(b)] for a, b in on.view(-1, 2).tolist()]
    return Genotype(tuple(tuple(codes[c * EDGES_PER_CELL : (c + 1) * EDGES_PER_CELL]) for c in range(cells)))


def candidate_stream(seed: int, index: int) -> torch.Generator:
    """The random stream of candidate ``index``: a function of (seed, index), never of the rank."""
    return torch.Generator().manual_seed(derive_seed(seed, "candidate-genotype", index))


def sample_candidates(n: int, *, seed: int = 0, space: str = "cell", layers: int = 1, by: str = "density",
                      max_tries: int = 1000, first_index: int = 0) -> list[Genotype]:
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

    def __init__(self, *, space: str, layers: int, by: str = "density") -> None:
        self.space, self.layers, self.by = space, layers, by

    def __call__(self, model: nn.Module, generator: torch.Generator) -> None:
        space = self.space
        if space == "both":
            space = "cell" if torch.rand(1, generator=generator).item() < 0.5 else "free"
        model.set_genotype(sample_genotype(generator, space=space, layers=self.layers, by=self.by))  # type: ignore[operator]
