"""The supernet and its one weight mapping: a sub-network and its extracted RobNet agree."""

from __future__ import annotations

import itertools

import pytest
import torch

from robnetzoo.errors import InvalidInput
from robnetzoo.genotype import EDGES_PER_CELL
from robnetzoo.search.supernet import Supernet, extract
from tests.support import randomise_bn

CODES = ("00", "01", "10", "11")


def _cell(offset: int) -> tuple[str, ...]:
    # every code on every edge position across the cells below, the node-0 input edges included
    return tuple(CODES[(edge + offset) % 4] for edge in range(EDGES_PER_CELL))


@pytest.mark.parametrize("space", ["cell", "free"])
def test_supernet_under_a_genotype_equals_the_extracted_robnet(space):
    torch.manual_seed(0)
    supernet = Supernet(C=4, layers=4, space=space)
    randomise_bn(supernet)
    supernet.eval()
    x = torch.rand(3, 3, 32, 32)
    genotypes = (
        [[_cell(k)] for k in range(4)] if space == "cell" else [[_cell(k + j) for j in range(4)] for k in range(2)]
    )
    genotypes.append([("00",) * EDGES_PER_CELL] * (1 if space == "cell" else 4))  # every node empty
    for codes in genotypes:
        supernet.set_genotype(codes)
        robnet = extract(supernet, codes).eval()
        with torch.no_grad():
            assert torch.allclose(supernet(x), robnet(x), atol=1e-5), codes


def test_every_code_meets_normal_and_reduction_edges():
    # layers 4: reductions at 1 and 2; edges 0,1 (sources 0/1) are stride 2 there
    seen = {
        (code, reduction)
        for k in range(4)
        for layer in range(4)
        for edge, code in enumerate(_cell(k))
        if edge in (0, 1, 2, 3, 5, 6)
        for reduction in [layer in (1, 2)]
    }
    assert seen == set(itertools.product(CODES, (False, True)))


def test_a_wrong_mapping_would_be_caught():
    torch.manual_seed(0)
    supernet = Supernet(C=4, layers=3).eval()
    supernet.set_genotype([_cell(1)])
    robnet = extract(supernet, [_cell(1)]).eval()
    with torch.no_grad():
        next(p for n, p in robnet.named_parameters() if "_ops" in n).add_(1.0)
        x = torch.rand(2, 3, 32, 32)
        assert not torch.allclose(supernet(x), robnet(x), atol=1e-5)


def test_the_cell_space_refuses_a_cell_free_genotype():
    supernet = Supernet(C=4, layers=3, space="cell")
    with pytest.raises(InvalidInput, match="one cell for every layer"):
        supernet.set_genotype([_cell(0)] * 3)
    with pytest.raises(InvalidInput, match="unknown search space"):
        Supernet(space="graph")
