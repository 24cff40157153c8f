import json

import pytest

from robnetzoo.genotype import EDGES_PER_CELL, STEPS, Genotype, edge_inputs
from robnetzoo.registry import ROBNET_FREE_CELLS, ROBNET_LARGE_CELL


def test_registry_codes_match_the_authors_release(genotypes):
    assert ["".join(c) for c in genotypes["robnet_large_v1"]] == [ROBNET_LARGE_CELL]
    assert ["".join(c) for c in genotypes["robnet_large_v2"]] == [ROBNET_LARGE_CELL]
    assert ["".join(c) for c in genotypes["robnet_free"]] == ROBNET_FREE_CELLS


def test_edges_grouped_2_3_4_5():
    assert EDGES_PER_CELL == sum(2 + node for node in range(STEPS))  # node k reads the 2 inputs and k earlier nodes
    assert [edge_inputs(e) for e in (0, 1, 2, 4, 5, 8, 9, 13)] == [
        (0, 0),
        (0, 1),
        (1, 0),
        (1, 2),
        (2, 0),
        (2, 3),
        (3, 0),
        (3, 4),
    ]


def test_density_hand_computed():
    # 14 edges: seven '11' (14 bits on), seven '00': 14 of 28 bits
    g = Genotype.from_codes(["11"] * 7 + ["00"] * 7)
    assert g.density() == pytest.approx(0.5)
    # robnet-large: count the ones in its 28-bit string
    assert Genotype.from_codes([ROBNET_LARGE_CELL]).density() == pytest.approx(22 / 28)


def test_json_round_trip_and_forms():
    g = Genotype.from_codes(ROBNET_FREE_CELLS)
    assert not g.shared and len(g.cells) == 20
    assert Genotype.loads(g.dumps()) == g
    assert Genotype.from_codes(json.loads(g.dumps())) == g
    flat = Genotype.from_codes(["01"] * 14)
    assert flat.shared and flat == Genotype.from_codes("01" * 14)


@pytest.mark.parametrize(
    "codes, message",
    [
        (["01"] * 13, "13 edge codes, expected 14"),
        (["01"] * 13 + ["12"], "code '12'"),
        ("0" * 27, "odd length"),
        ([], "no cells"),
    ],
)
def test_invalid_genotypes_are_clear_value_errors(codes, message):
    with pytest.raises(ValueError, match=message):
        Genotype.from_codes(codes)


def test_cell_free_genotype_needs_one_cell_per_layer():
    from robnetzoo.models import RobNet

    with pytest.raises(ValueError, match="one cell per layer, got 20 cells for 8 layers"):
        RobNet(ROBNET_FREE_CELLS, C=8, layers=8)


def test_parse_reads_back_what_str_prints():
    from robnetzoo.genotype import Genotype

    free = Genotype.from_codes([["01", "10"] * 7, ["11", "00"] * 7])
    assert str(free).count("|") == 1 and Genotype.parse(str(free)) == free
    shared = Genotype.from_codes(["01"] * 14)
    assert Genotype.parse(str(shared)) == shared and Genotype.parse(str(shared)).shared
