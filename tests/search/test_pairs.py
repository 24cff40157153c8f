"""The paired designs: Finding 2's pairs that differ by one moved convolution, Finding 1's
densified twins at the same convolutions, and the tests on them."""

from __future__ import annotations

import torch

from robnetzoo.genotype import Genotype
from robnetzoo.search.analysis import primary_verdicts
from robnetzoo.search.pairs import COUNTS, analyse_pairs, connectivity_pairs, plan_pairs
from robnetzoo.search.sampling import DIRECT_READINGS, cell_with_convs, connected, densified_twin, is_direct, moved_pair


def test_a_moved_pair_differs_by_one_convolution_from_a_skip_to_a_direct_edge():
    generator = torch.Generator().manual_seed(0)
    for k in COUNTS:
        for _ in range(20):
            base = cell_with_convs(generator, k)
            assert sum(code[1] == "1" for code in base) == k and connected(Genotype((base,)))
            for reading in DIRECT_READINGS:
                moved = moved_pair(generator, base, reading)
                if moved is None:
                    continue
                changed = [e for e in range(14) if moved[e] != base[e]]
                assert len(changed) == 2 and [m[0] for m in moved] == [b[0] for b in base]  # identity bits kept
                source = next(e for e in changed if base[e][1] == "1")
                target = next(e for e in changed if moved[e][1] == "1")
                assert not is_direct(source, reading) and is_direct(target, reading)
                assert connected(Genotype((moved,)))


def test_pairs_are_planned_for_every_count_and_both_readings_from_the_seed_alone():
    plan = plan_pairs(seed=5, per_count=2)
    assert [p.convs for p in plan] == [k for k in COUNTS for _ in range(2)]
    assert all(set(p.moved) == set(DIRECT_READINGS) for p in plan)
    assert [str(p.base) for p in plan] == [str(p.base) for p in plan_pairs(seed=5, per_count=2)]
    assert [str(p.base) for p in plan_pairs(seed=5, per_count=3)][:2] == [str(p.base) for p in plan[:2]]


def test_a_densified_twin_adds_identity_bits_and_keeps_every_convolution():
    for p in plan_pairs(seed=3, per_count=3):
        base, twin = p.base.cells[0], p.densified.cells[0]
        assert [c[1] for c in twin] == [c[1] for c in base]  # same convolutions: same capacity
        assert all(c[0] == "1" for c in twin) and any(c[0] == "0" for c in base)
        assert p.densified.density() > p.base.density()
    assert densified_twin(("11",) * 14) is None


def test_connectivity_is_the_paired_gain_of_the_densified_twins_and_decides_the_primary_claim():
    records = [
        {
            "index": i,
            "convs": 2 + i % 6,
            "base": {"robust": 30.0, "genotype": "00" * 14},
            "densified": {"robust": 33.0 + 0.1 * (i % 4), "genotype": "10" * 14},
            "moved": {"inputs": {"robust": 30.0}, "chain": {"robust": 30.0}},
        }
        for i in range(12)
    ]
    twins = connectivity_pairs(records)
    assert twins["pairs"] == 12 and twins["identity_bits_added"] == 14 and 3.0 < twins["mean"] < 3.4
    assert twins["verdict"] == "supports" and twins["interval"][0] > 0
    f1 = {
        "all": {"p": 0.5, "value": 0.1},
        "window": {"p": 0.5},
        "window_verdict": "cannot decide",
        "identity_given_convs": {"p": 0.9, "value": -0.01},
    }
    f3 = {"deep_raw": None}
    verdicts = {v["key"]: v for v in primary_verdicts(f1, analyse_pairs(records), f3)}
    assert verdicts["finding1_connectivity"]["verdict"] == "supports"  # the twins decide, not the partial correlation
    assert verdicts["finding1_connectivity"]["p"] == twins["wilcoxon_p"]
    assert connectivity_pairs([{k: v for k, v in r.items() if k != "densified"} for r in records])["pairs"] == 0


def _record(index, k, base, inputs, chain):
    return {
        "index": index,
        "convs": k,
        "base": {"robust": base},
        "moved": {"inputs": {"robust": inputs}, "chain": {"robust": chain}},
    }


def test_the_interaction_is_read_off_the_gain_against_the_budget():
    records, index = [], 0
    for k in COUNTS:
        for j in range(6):  # the "inputs" move gains 8 - k points (and a little noise); "chain" nothing
            noise = 0.1 * ((j * 7 + k) % 5 - 2)
            records.append(_record(index, k, 40.0, 40.0 + 8 - k + noise, 40.0 + noise))
            index += 1
    out = analyse_pairs(records)
    inputs, chain = out["inputs"], out["chain"]
    assert [p["convs"] for p in inputs["per_count"]] == list(COUNTS)
    assert inputs["per_count"][0]["mean"] > inputs["per_count"][-1]["mean"] > 0
    assert inputs["small_budget"]["verdict"] == "supports" and inputs["interaction"]["verdict"] == "supports"
    assert inputs["interaction"]["spearman_gain_vs_convs"]["value"] < -0.8
    assert chain["small_budget"]["verdict"] == "cannot decide"
    # three pairs per count cannot decide one count alone: Wilcoxon's smallest p is 0.25
    assert analyse_pairs(records[:3])["inputs"]["per_count"][0]["verdict"] == "cannot decide"
