"""The proxy study on a tiny finished search: random candidates, the reference's own
reliability, intervals, regret within bands and a cost ratio measured in the same run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from robnetzoo.search.studies import run_study


def test_the_proxy_study_finetunes_random_candidates_and_measures_its_own_ceiling(finished_search, tmp_path):
    folder = Path(shutil.copytree(finished_search, tmp_path / "search"))
    outcome = run_study("proxies", folder, n=5, repeats=2, workers=2)
    assert outcome["n"] == 5 and outcome["reliability"]["n"] == 2
    assert outcome["screen_reproduced_search_scores"]  # the re-timed proxies gave the search's numbers
    inherited = outcome["proxies"]["inherited"]
    assert inherited["cost_ratio"] > 1 and inherited["seconds"] > 0
    assert inherited["spearman"]["n"] == 5
    for stat in (inherited["spearman"], outcome["reliability"]["spearman"]):
        if stat["value"] is not None:
            assert stat["interval"][0] <= stat["value"] <= stat["interval"][1]
    assert set(outcome["regret_within_bands"]) == set(outcome["agreement_within_bands"]) == {"small", "medium", "large"}
    for band in outcome["regret_within_bands"].values():  # a random pick's regret beside the proxy's
        assert (band["regret"] is None) == (band["random_pick_regret"] is None)
        if band["regret"] is not None:
            assert 0 <= band["random_pick_regret"] <= band["best_finetuned"]
    assert inherited["on_ceiling_candidates"]["n"] == 2  # the proxy on the ceiling's own candidates
    assert outcome["finding3_on_finetuned_weights"]["weights"] == "finetuned"
    assert json.loads((folder / "studies" / "proxies.json").read_text())["drawn"] == outcome["drawn"]
    ledger = (folder / "studies" / "proxies.jsonl").read_text().splitlines()
    assert len(ledger) == 5 + 5 + 2
    # resumed: nothing is scored again and the numbers are the same
    again = run_study("proxies", folder, n=5, repeats=2)
    assert (folder / "studies" / "proxies.jsonl").read_text().splitlines() == ledger
    assert again["proxies"]["inherited"]["spearman"] == inherited["spearman"]
    second = [json.loads(line) for line in ledger if '"finetune-independent"' in line]
    first = {json.loads(line)["index"]: json.loads(line) for line in ledger if '"stage": "finetune"' in line}
    # the ceiling's second training shares no weights, seed or images with the first: another
    # supernet, judged on the hold-out images, and its scores move
    assert len(second) == 2 and all(r["supernet"] == 1 and r["images"] == "holdout" for r in second)
    assert all(first[r["index"]]["supernet"] == 0 and first[r["index"]]["images"] == "validation" for r in second)
    assert any(r["robust"] != first[r["index"]]["robust"] or r["clean"] != first[r["index"]]["clean"] for r in second)
    # the proxy is the search's own ranking score: its mean over both supernets
    from robnetzoo.search.leaderboard import Ledger, leaderboard_rows

    ranked = {
        r.index: r.inherited_robust for r in leaderboard_rows(Ledger(folder / "candidates.jsonl").read(), "inherited")
    }
    drawn = sorted(outcome["drawn"])
    tuned = {json.loads(line)["index"]: json.loads(line)["robust"] for line in ledger if '"stage": "finetune"' in line}
    from robnetzoo.stats import rank_correlation

    expected = rank_correlation([ranked[i] for i in drawn], [tuned[i] for i in drawn])
    assert inherited["spearman"]["value"] == expected["value"]
    # the search's workers did it: one worker (this process) gives every figure the two gave
    alone = Path(shutil.copytree(finished_search, tmp_path / "alone"))
    run_study("proxies", alone, n=5, repeats=2, workers=1)
    assert _figures(alone / "studies" / "proxies.jsonl") == _figures(folder / "studies" / "proxies.jsonl")


def _figures(ledger: Path) -> dict[tuple[str, int], str]:
    """Each record's scores, without its timings."""

    def scores(record: dict) -> dict:
        return {k: scores(v) if isinstance(v, dict) else v for k, v in record.items() if "seconds" not in k}

    rows = [json.loads(line) for line in ledger.read_text().splitlines()]
    return {(r["stage"], r["index"]): json.dumps(scores(r), sort_keys=True) for r in rows}


def test_the_demo_never_calls_a_few_sgd_steps_finetuning():
    from robnetzoo.search.settings import PRESETS

    demo = PRESETS["demo"]
    assert demo.finetune_subset == 0 or (demo.finetune.epochs >= 3 and demo.finetune.train_examples is None)
    assert demo.finetune.epochs == 3 and demo.finetune.train_examples is None  # what --study proxies runs
    assert PRESETS["paper"].sampler == "edge"  # the published protocol: independent per-edge codes


def test_a_fast_supernet_is_fgsm_from_a_random_start_under_the_overfitting_guard():
    from robnetzoo.search.settings import PRESETS

    fast = PRESETS["demo"].with_overrides(supernet_attack="fgsm-rs").supernet_recipe
    assert fast.attack == "pgd1" and fast.attack_params["random_start"] and fast.overfit_guard
    assert abs(fast.attack_params["alpha"] - 1.25 * 8 / 255) < 1e-12 and fast.epochs == PRESETS["demo"].supernet.epochs
    assert PRESETS["demo"].supernet_recipe == PRESETS["demo"].supernet


def test_two_searches_agree_on_their_common_candidates(finished_search, tmp_path):
    from robnetzoo.search.studies import leaderboard_agreement

    same = leaderboard_agreement(finished_search, finished_search)
    assert same["common"] == 10 and same["cell_top5_overlap"] == 5
    within = same["within_band"]
    assert set(within) == {"small", "medium", "large"} and sum(w["n"] for w in within.values()) <= 6
    assert all(w["same_winner"] is (True if w["n"] else None) for w in within.values())
    if same["kendall"]["value"] is not None:
        assert abs(same["kendall"]["value"] - 1) < 1e-9


def test_an_agreement_line_says_which_side_of_zero_the_interval_lies():
    from robnetzoo.search.studies import _agreement_line

    ceiling = {"value": 0.8, "interval": [0.2, 1.0], "n": 8}

    def line(low, high):
        return _agreement_line("p", {"value": (low + high) / 2, "interval": [low, high], "n": 24}, ceiling)

    assert "same direction" in line(0.5, 0.9) and "against finetuning" in line(-0.9, -0.5)
    assert "cannot decide" in line(-0.2, 0.6)
