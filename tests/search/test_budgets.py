"""Budgets as the paper defined them: convolutions per cell, with the parameters as a result."""

from __future__ import annotations

import pytest

from robnetzoo.errors import InvalidInput
from robnetzoo.genotype import Genotype
from robnetzoo.search.candidates import describe
from robnetzoo.search.selection import select
from robnetzoo.search.settings import PAPER_BANDS, bands_problem, parse_bands
from robnetzoo.search.supernet import at_depth
from tests.support import leaderboard_row


def test_the_paper_sizes_decode_to_7_10_and_13_convolutions_with_every_identity_bit():
    for (name, (_, top)), paper in zip(PAPER_BANDS.items(), (4.41e6, 5.66e6, 6.89e6)):
        cell = ["11"] * top + ["10"] * (14 - top)
        assert abs(describe(Genotype.from_codes(cell))["parameters"] - paper) / paper < 0.01, name


def _row(index, rank, convs, space="cell"):
    return leaderboard_row(index=index, rank=rank, convs_per_cell=convs, space=space)


def test_each_band_takes_its_best_candidate_and_an_empty_band_chooses_nothing():
    rows = [
        _row(0, 1, 9),
        _row(1, 2, 7),
        _row(2, 3, 12),
        _row(3, 4, 3),
        _row(4, 5, 14),
        _row(5, 1, 6.5, "free"),
        _row(6, 2, 4.0, "free"),
    ]
    chosen, notes = select(rows, dict(PAPER_BANDS))
    assert {name: choice.row.index for name, choice in chosen.items()} == {
        "robnet-small": 1,
        "robnet-medium": 0,
        "robnet-large": 2,
        "robnet-free": 5,
    }
    assert chosen["robnet-medium"].band == (8, 10) and not notes
    assert chosen["robnet-medium"].to_dict()["band"] == [8, 10]  # summary.json's form
    chosen, notes = select([r for r in rows if r.index != 2], dict(PAPER_BANDS))
    assert "robnet-large" not in chosen and "11-13 convolutions per cell" in notes[0]


@pytest.mark.parametrize(
    "text, problem",
    [
        ("small=0-7,medium=7-10,large=11-13", "overlap at 7-7"),
        ("small=0-6,medium=8-10,large=11-13", "gap: 7-7"),
        ("small=1-7,medium=8-10,large=11-13", "gap: 0-0"),
        ("small=0-7,huge=8-10", "unknown band huge"),
        ("small=0-15", "0 <= low <= high <= 14"),
    ],
)
def test_bands_that_overlap_leave_a_gap_or_name_no_model_are_refused(text, problem):
    with pytest.raises(InvalidInput, match=problem):
        parse_bands(text)


def test_default_bands_tile_0_to_13():
    assert bands_problem(dict(PAPER_BANDS)) is None
    assert parse_bands("small=0-5,medium=6-9,large=10-14") == {"small": (0, 5), "medium": (6, 9), "large": (10, 14)}


def test_a_cell_free_choice_is_sized_at_the_final_depth():
    five = Genotype(tuple(tuple([code] * 14) for code in ("11", "01", "11", "01", "10")))
    stretched = at_depth(five, 20)
    assert len(stretched.cells) == 20
    assert stretched.cells[6] == five.cells[1] and stretched.cells[13] == five.cells[3]  # reductions stay reductions
    assert stretched.cells[19] == five.cells[4] and stretched.cells[0] == five.cells[0]
    facts = describe(five)
    final = describe(stretched)
    assert facts["parameters"] == final["parameters"] > 3e6  # at 20 cells, not at the supernet's 5
