"""The FSP filter, who gets finetuned, and the ledger's torn last line (budgets: test_budgets)."""

from __future__ import annotations

import dataclasses
import json

from robnetzoo.genotype import Genotype
from robnetzoo.search.leaderboard import Ledger
from robnetzoo.search.pipeline import Candidate, finetune_plan, fsp_filter


def test_the_fsp_filter_keeps_the_lowest_losses_of_the_free_space():
    records = {
        ("screen", i): {"space": "free" if i >= 2 else "cell", "fsp": {"deep_loss": loss}}
        for i, loss in enumerate([0.0, 0.1, 5.0, 1.0, 3.0, 2.0])
    }
    assert fsp_filter(records, 0.5) == {3, 5}  # free: 2 (5.0), 3 (1.0), 4 (3.0), 5 (2.0)
    assert fsp_filter(records, 0.01) == {3}  # at least one


def test_a_finetuned_subset_is_drawn_at_random_not_by_the_proxy():
    from tests.support import tiny_settings

    genotype = Genotype.from_codes(["01"] * 14)
    plan = [Candidate(i, "cell", genotype) for i in range(9)]
    records = {("screen", i): {"inherited": {"robust": float(i)}, "fsp": {"deep_loss": 0.0}} for i in range(9)}
    picked = finetune_plan(plan, records, tiny_settings().with_overrides(finetune_subset=3), set())
    assert len(picked) == 3 and picked == finetune_plan(
        plan, records, tiny_settings().with_overrides(finetune_subset=3), set()
    )
    # drawn at random, not by the proxy: other records (another ranking) give the same draw
    flipped = {key: {"inherited": {"robust": -r["inherited"]["robust"]}, "fsp": r["fsp"]} for key, r in records.items()}
    assert finetune_plan(plan, flipped, tiny_settings().with_overrides(finetune_subset=3), set()) == picked
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
