"""benchmarks/search_vs_random.py and benchmarks/discrimination.py: the verdicts they print follow
from their figures, and a folder that is not a finished search is one line, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from robnetzoo.genotype import Genotype

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import search_vs_random  # noqa: E402


def _rows(pick: list[float], randoms: list[list[float]]) -> dict:
    rows = {}
    for arm, arch, values in [("pick", "pick", pick)] + [("random", f"random{i}", v) for i, v in enumerate(randoms)]:
        for seed, value in enumerate(values):
            rows[f"small|{arm}|{arch}|seed{seed}"] = {
                "tags": {"band": "small", "arm": arm, "arch": arch},
                "worst_case": value,
                "robust": {"pgd20": value + 1},
            }
    rows["all|baseline|wrn-10-1|seed0"] = {
        "tags": {"band": "all", "arm": "baseline", "arch": "wrn-10-1"},
        "worst_case": 40.0,
        "robust": {"pgd20": 41.0},
    }
    return rows


PICK = {"small": Genotype.from_codes(["01"] * 3 + ["00"] * 11)}
RANDOM = [[50.0, 52.0], [48.0, 47.0], [51.0, 53.0], [49.0, 50.0], [50.0, 49.0]]


def test_a_pick_far_above_the_random_arm_beats_random():
    result = search_vs_random.analyse(_rows([70.0, 71.0], RANDOM), PICK, 2, "worst_case", 0)
    band = result["bands"]["small"]
    assert band["verdict"] == "beats random" and band["rank"] == 1 and band["of"] == 6
    assert band["difference"]["interval"][0] > 0 and result["baseline"]["mean"] == 40.0


@pytest.mark.parametrize(
    "pick, verdict", [([50.0, 50.5], "cannot tell from random"), ([30.0, 31.0], "worse than random")]
)
def test_a_pick_inside_or_below_the_arm_is_not_called_better(pick, verdict):
    band = search_vs_random.analyse(_rows(pick, RANDOM), PICK, 2, "worst_case", 0)["bands"]["small"]
    assert band["verdict"] == verdict
    assert search_vs_random.analyse(_rows(pick, RANDOM), PICK, 2, "pgd20", 0)["measure"] == "pgd20"


def test_a_folder_that_is_not_a_finished_search_is_one_line_exit_2(tmp_path):
    (tmp_path / "notes.txt").write_text("not a search")
    done = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "search_vs_random.py"),
            "--search",
            str(tmp_path),
            "--ledger",
            str(tmp_path / "ledger.jsonl"),
            "--json",
            str(tmp_path / "out.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "is not a finished search" in lines[0], done.stderr
    assert not (tmp_path / "ledger.jsonl").exists() and not (tmp_path / "out.json").exists()


def test_a_search_shows_the_benchmarks_verdict_only_for_the_very_pick_benchmarked():
    from robnetzoo.search.evidence import benchmark_verdicts
    from robnetzoo.search.selection import Choice
    from robnetzoo.search.settings import PRESETS
    from tests.support import leaderboard_row

    settings = PRESETS["demo"].to_dict()
    evidence = {
        "settings": settings,
        "measure": "worst_case",
        "source": "benchmarks/results/x.json",
        "date": "d",
        "bands": {
            "small": {
                "genotype": "01" * 14,
                "verdict": "cannot tell from random",
                "difference": 1.5,
                "interval": [-2.0, 5.0],
                "p_holm": 0.6,
                "rank": 2,
                "of": 6,
            }
        },
    }

    def choice(space: str, genotype: str) -> Choice:
        return Choice(leaderboard_row(space=space, genotype=genotype), (0, 7), None)

    same = {"robnet-small": choice("cell", "01" * 14), "robnet-free": choice("free", "01" * 14 + "|" + "10" * 14)}
    shown = benchmark_verdicts(settings, same, evidence)
    assert set(shown) == {"robnet-small"} and shown["robnet-small"]["verdict"] == "cannot tell from random"
    assert shown["robnet-small"]["interval"] == [-2.0, 5.0] and shown["robnet-small"]["source"].endswith("x.json")
    other_pick = benchmark_verdicts(settings, {"robnet-small": choice("cell", "11" * 14)}, evidence)
    assert other_pick["robnet-small"]["verdict"] is None and "another cell" in other_pick["robnet-small"]["why"]
    other_seed = benchmark_verdicts({**settings, "seed": 4}, same, evidence)
    assert other_seed["robnet-small"]["verdict"] is None and "not benchmarked" in other_seed["robnet-small"]["why"]
    more_pairs = benchmark_verdicts({**settings, "pairs_per_count": 9}, same, evidence)  # pairs never enter a choice
    assert more_pairs["robnet-small"]["verdict"] == "cannot tell from random"


def test_the_printed_verdict_is_a_finding_only_where_the_rank_check_agrees():
    # a pick above the arm's mean, but below two of its ten trainings: the bootstrap of the means
    # calls it better, the rank check of the trainings does not
    arm = [[60.0, 61.0], [62.0, 63.0], [60.0, 62.0], [61.0, 60.0], [85.0, 86.0]]
    band = search_vs_random.analyse(_rows([80.0, 81.0], arm), PICK, 2, "worst_case", 0)["bands"]["small"]
    assert band["verdict"] == "beats random" and band["rank_test"]["p_holm"] >= 0.05
    assert band["declared"] == "cannot decide (beats random by the bootstrap, not by the rank check)"
    clear = search_vs_random.analyse(_rows([70.0, 71.0], RANDOM), PICK, 2, "worst_case", 0)["bands"]["small"]
    assert clear["declared"] == "beats random" == clear["verdict"]
