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

from robnetzoo.errors import InvalidInput
from robnetzoo.genotype import EDGES_PER_CELL, Genotype

SAMPLERS = ("edge", "density")
CODES = ("00", "01", "10", "11")


def sample_genotype(generator: torch.Generator, *, space: str = "cell", layers: int = 1, by: str = "density") -> Genotype:
    """One random genotype: one cell (``space="cell"``) or one per layer (``"free"``)."""
    if by not in SAMPLERS:
        raise InvalidInput(f"unknown sampler {by!r}; use one of {', '.join(SAMPLERS)}")
    cells = 1 if space == "cell" else layers
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
    return torch.Generator().manual_seed((seed * 1_000_003 + index * 7_919 + 17) % (2**63))


def sample_candidates(n: int, *, seed: int = 0, space: str = "cell", layers: int = 1, by: str = "density",
                      max_tries: int = 1000) -> list[Genotype]:
    """``n`` distinct genotypes, candidate i drawn from ``candidate_stream(seed, i)``."""
    if n < 2:
        raise InvalidInput(f"a search needs at least 2 candidates, got {n}")
    seen: set[str] = set()
    out: list[Genotype] = []
    for index in range(n):
        generator = candidate_stream(seed, index)
        for _ in range(max_tries):
            genotype = sample_genotype(generator, space=space, layers=layers, by=by)
            if str(genotype) not in seen:
                break
        else:
            raise InvalidInput(
                f"could not draw {n} distinct candidates (stuck at {index}); ask for fewer --candidates"
            )
        seen.add(str(genotype))
        out.append(genotype)
    return out


class PathDropout:
    """A ``Trainer`` hook: a new random sub-network of the supernet before every batch, drawn
    from the engine's hook generator (so a resumed supernet run draws the same paths)."""

    def __init__(self, *, space: str, layers: int, by: str = "density") -> None:
        self.space, self.layers, self.by = space, layers, by

    def __call__(self, model: nn.Module, generator: torch.Generator) -> None:
        model.set_genotype(sample_genotype(generator, space=self.space, layers=self.layers, by=self.by))  # type: ignore[operator]
