"""Budgets, the FSP filter, who gets finetuned, and the ledger's torn last line."""

from __future__ import annotations

import dataclasses
import json

import pytest

from robnetzoo.errors import InvalidInput
from robnetzoo.genotype import Genotype
from robnetzoo.search.leaderboard import Ledger
from robnetzoo.search.pipeline import Candidate, finetune_plan, fsp_filter
from robnetzoo.search.selection import select


def _row(index, rank, parameters, space="cell"):
    return {"index": index, "rank": rank, "parameters": parameters, "space": space, "genotype": "x"}


def test_each_budget_takes_the_best_in_its_own_band():
    budgets = {"small": 4.41e6, "medium": 5.66e6, "large": 6.89e6}
    rows = [_row(0, 1, 5.0e6), _row(1, 2, 4.0e6), _row(2, 3, 6.5e6), _row(3, 4, 3.0e6), _row(4, 5, 7.5e6),
            _row(5, 1, 2.0e6, space="free")]
    chosen = select(rows, budgets)
    assert {name: row["index"] for name, row in chosen.items()} == {
        "robnet-small": 1, "robnet-medium": 0, "robnet-large": 2, "robnet-free": 5}
    # an empty band falls back to the best under the budget
    chosen = select([r for r in rows if r["index"] != 2], budgets)
    assert chosen["robnet-large"]["index"] == 0
    with pytest.raises(InvalidInput, match=r"small budget of 2.00M parameters \(the smallest scored one has 3.00M\)"):
        select(rows, {**budgets, "small": 2e6})


def test_the_fsp_filter_keeps_the_lowest_losses_of_the_free_space():
    records = {("screen", i): {"space": "free" if i >= 2 else "cell", "fsp": {"deep_loss": loss}}
               for i, loss in enumerate([0.0, 0.1, 5.0, 1.0, 3.0, 2.0])}
    assert fsp_filter(records, 0.5) == {3, 5}  # free: 2 (5.0), 3 (1.0), 4 (3.0), 5 (2.0)
    assert fsp_filter(records, 0.01) == {3}  # at least one


def test_a_finetuned_subset_is_spread_over_the_proxy_ranking():
    from tests.support import tiny_settings

    genotype = Genotype.from_codes(["01"] * 14)
    plan = [Candidate(i, "cell", genotype) for i in range(9)]
    records = {("screen", i): {"inherited": {"robust": float(i)}, "fsp": {"deep_loss": 0.0}} for i in range(9)}
    picked = finetune_plan(plan, records, tiny_settings().with_overrides(finetune_subset=3), set())
    assert [c.index for c in picked] == [0, 4, 8]  # best, middle, worst
    every = dataclasses.replace(tiny_settings(), scorer="finetune", finetune_subset=None)
    free = [Candidate(9, "free", genotype), Candidate(10, "free", genotype)]
    assert [c.index for c in finetune_plan(plan + free, records, every, {10})] == list(range(9)) + [10]


def test_the_ledger_drops_a_torn_last_line_and_appends_after_it(tmp_path):
    ledger = Ledger(tmp_path / "candidates.jsonl")
    ledger.append([{"stage": "screen", "index": 0, "value": 1}])
    with open(ledger.path, "a") as handle:
        handle.write('{"stage": "screen", "index": 1, "val')  # a kill mid-write
    assert set(ledger.read()) == {("screen", 0)}
    ledger.append([{"stage": "screen", "index": 1, "value": 2}])
    lines = ledger.path.read_text().splitlines()
    assert [json.loads(line)["index"] for line in lines] == [0, 1]
