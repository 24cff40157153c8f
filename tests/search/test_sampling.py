"""Candidate sampling: seeded, distinct, and spread over density."""

from __future__ import annotations

import pytest
import torch

from robnetzoo.errors import InvalidInput
from robnetzoo.genotype import Genotype
from robnetzoo.search.sampling import PathDropout, sample_candidates, sample_genotype
from robnetzoo.search.supernet import Supernet


def test_candidates_are_seeded_distinct_and_a_function_of_their_index():
    a = sample_candidates(50, seed=3)
    assert a == sample_candidates(50, seed=3)
    assert len({str(g) for g in a}) == 50
    assert sample_candidates(20, seed=3) == a[:20]  # candidate i does not depend on how many follow
    assert a != sample_candidates(50, seed=4)


def test_the_density_sampler_reaches_the_sparse_and_dense_ends():
    def extremes(by: str) -> float:
        densities = [g.density() for g in sample_candidates(400, seed=0, by=by)]
        return sum(d < 0.3 or d > 0.7 for d in densities) / len(densities)

    assert extremes("density") > 0.5  # 0.58 drawn: uniform density puts 60% there
    assert extremes("edge") < 0.1  # 0.06 drawn: a binomial over 28 bits keeps 95% within 0.31-0.69


def test_cell_free_genotypes_have_one_cell_per_layer():
    genotype = sample_genotype(torch.Generator().manual_seed(0), space="free", layers=5)
    assert len(genotype.cells) == 5 and not genotype.shared


def test_too_few_or_impossible_candidate_counts_are_refused():
    with pytest.raises(InvalidInput, match="at least 2 candidates"):
        sample_candidates(1)
    with pytest.raises(InvalidInput, match="unknown sampler"):
        sample_candidates(5, by="uniform")


def test_path_dropout_sets_a_new_sub_network_per_call():
    supernet = Supernet(C=4, layers=3)
    hook = PathDropout(space="cell", layers=3)
    generator = torch.Generator().manual_seed(0)
    hook(supernet, generator)
    first = supernet.genotype
    hook(supernet, generator)
    assert supernet.genotype != first


def test_only_connected_genotypes_are_drawn():
    from robnetzoo.search.sampling import connected

    assert not connected(Genotype.from_codes(["00"] * 14))
    only_into_node0 = ["00"] * 14
    only_into_node0[0] = "10"  # s0 -> node0: the cell output (nodes 0-3) depends on its input
    assert connected(Genotype.from_codes(only_into_node0))
    from_dead_node = ["00"] * 14
    from_dead_node[4] = "01"  # node0 -> node1, but nothing reaches node0
    assert not connected(Genotype.from_codes(from_dead_node))
    generator = torch.Generator().manual_seed(0)
    drawn = [sample_genotype(generator, space="cell", by="density") for _ in range(200)]
    assert all(connected(g) for g in drawn)
    assert min(g.density() for g in drawn) < 0.1  # the sparse end is still reached


def test_the_density_sampler_draws_a_density_per_cell_of_a_cell_free_genotype():
    from robnetzoo.search.sampling import cell_densities

    drawn = sample_candidates(200, seed=0, space="free", layers=5, by="density")
    mixed = sum(min(cell_densities(g)) < 0.3 and max(cell_densities(g)) > 0.7 for g in drawn) / len(drawn)
    assert mixed > 0.3  # one density for every cell would make this about 0
    deep_dense = sum(cell_densities(g)[-1] > 0.7 and cell_densities(g)[0] < 0.3 for g in drawn)
    assert deep_dense > 5  # dense deep cells with a sparse shallow one exist
