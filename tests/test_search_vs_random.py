"""The pre-registered study of the search against random cells (benchmarks/search_vs_random.py)
and the discrimination study (benchmarks/discrimination.py): plans are read whole and refused
by name, ledgers made under another plan or other engine settings are refused before any
training, and the verdicts follow from the figures."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from robnetzoo.errors import CorruptFile, InvalidInput, NotFound
from robnetzoo.search.preregistration import check_committed, check_unchanged, read_preregistration
from tests.support import BENCHMARKS, run_benchmark

sys.path.insert(0, str(BENCHMARKS))

import _arms  # noqa: E402
import discrimination  # noqa: E402
import search_vs_random  # noqa: E402

PLAN = {
    "format": "robnetzoo-preregistration",
    "hypothesis": "the search's pick in the small band beats a random small-band cell",
    "primary_test": "robnetzoo.stats.pick_versus_random, two-sided",
    "measure": "pgd20",
    "setting": "nfgsm-16",
    "band": "small",
    "search_seeds": [0, 1, 2],
    "seeds_per_pick": 3,
    "random_architectures": 24,
    "alpha": 0.05,
    "smallest_effect": 5.0,
    "power": {"power": 0.8},
    "stopping_rule": "fixed n: read once, after every training",
}


def _plan(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({**PLAN, **changes}))
    return path


def test_a_preregistration_is_read_whole_and_refused_by_name_when_malformed(tmp_path):
    path = _plan(tmp_path)
    plan = read_preregistration(path)
    assert plan.digest == hashlib.sha256(path.read_bytes()).hexdigest() and plan.trainings() == 33
    with pytest.raises(NotFound):
        read_preregistration(tmp_path / "none.json")
    bad = {
        "search_seeds must be 3 or more": {"search_seeds": [0, 1]},
        "alpha must be a number": {"alpha": "0.05"},
        "seeds_per_pick must be an integer": {"seeds_per_pick": 2.5},
        "band must be": {"band": "huge"},
        "every text field": {"hypothesis": ""},
        "format is not": {"format": "other"},
    }
    for message, change in bad.items():
        with pytest.raises(CorruptFile, match=message) as caught:
            read_preregistration(_plan(tmp_path, **change))
        assert str(path) in str(caught.value)
    data = dict(PLAN)
    del data["hypothesis"]
    path.write_text(json.dumps(data))
    with pytest.raises(CorruptFile, match="no hypothesis field"):
        read_preregistration(path)


def test_a_plan_changed_after_the_first_training_or_not_committed_is_refused(tmp_path):
    plan = read_preregistration(_plan(tmp_path))
    check_unchanged(plan, {plan.digest})
    check_unchanged(plan, set())
    with pytest.raises(InvalidInput, match="changed after the study's first training"):
        check_unchanged(plan, {plan.digest, "0" * 64})
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    with pytest.raises(InvalidInput, match="not committed as it is"):
        check_committed(plan)
    subprocess.run([*git, "add", "plan.json"], check=True)
    subprocess.run([*git, "commit", "-qm", "plan"], check=True)
    check_committed(plan)
    _plan(tmp_path, smallest_effect=3.0)
    with pytest.raises(InvalidInput, match="not committed as it is"):
        check_committed(read_preregistration(tmp_path / "plan.json"))


def _one_line_refusal(done: subprocess.CompletedProcess, text: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and text in lines[0], done.stderr


def test_the_study_refuses_before_any_work(tmp_path):
    plan_path = _plan(tmp_path)
    plan = read_preregistration(plan_path)
    ledger, out = tmp_path / "ledger.jsonl", tmp_path / "out.json"
    common = ["--ledger", str(ledger), "--json", str(out), "--work", str(tmp_path / "work")]
    common += ["--searches", str(tmp_path / "searches.jsonl")]  # not the repository's own study
    _one_line_refusal(
        run_benchmark("search_vs_random.py", "--preregistration", str(tmp_path / "none.json"), *common), "none.json"
    )
    _one_line_refusal(
        run_benchmark("search_vs_random.py", "--preregistration", str(_plan(tmp_path, setting="x")), *common),
        "names setting 'x'",
    )
    plan_path = _plan(tmp_path)
    row = {"key": "random|0|x", "tags": {"preregistration": "f" * 64}, "engine": {}}
    ledger.write_text(json.dumps(row) + "\n")
    _one_line_refusal(
        run_benchmark("search_vs_random.py", "--preregistration", str(plan_path), *common),
        "changed after the study's first training",
    )
    ledger.write_text(json.dumps({**row, "tags": {"preregistration": plan.digest}}) + "\n")
    _one_line_refusal(
        run_benchmark("search_vs_random.py", "--preregistration", str(plan_path), *common), "other engine settings"
    )
    assert not out.exists() and not (tmp_path / "work").exists()
    assert json.loads(ledger.read_text())["engine"] == {}  # the ledger is left as it was


def test_the_studys_verdict_comes_from_the_architecture_level_test(tmp_path):
    plan = read_preregistration(_plan(tmp_path, random_architectures=6, seeds_per_pick=2))

    def row(arm: str, unit: str, value: float) -> dict:
        return {"tags": {"arm": arm, "unit": unit}, "robust": {"pgd20": value}}

    randoms = [row("random", f"random{i}", v) for i, v in enumerate([60.0, 55.0, 63.0, 58.0, 61.0, 50.0])]
    ahead = [row("pick", f"search{s}", v) for s, pair in enumerate([(70, 72), (66, 64), (71, 69)]) for v in pair]
    result = search_vs_random.analyse(plan, ahead + randoms)
    assert result["verdict"] == "beats random" and result["test"]["n_picks"] == 3 and result["test"]["n_random"] == 6
    level = [row("pick", f"search{s}", v) for s, pair in enumerate([(58, 59), (57, 58), (59, 58)]) for v in pair]
    plan = read_preregistration(_plan(tmp_path, random_architectures=6, seeds_per_pick=2, smallest_effect=6.0))
    even = search_vs_random.analyse(plan, level + randoms)
    assert even["verdict"] == "no advantage as large as the smallest effect", even["test"]["interval"]
    wide = [row("pick", f"search{s}", v) for s, pair in enumerate([(80, 40), (30, 75), (62, 58)]) for v in pair]
    assert search_vs_random.analyse(plan, wide + randoms)["verdict"] == "cannot decide"


def test_a_ledger_row_of_other_engine_settings_is_never_mixed_in(tmp_path):
    job = _arms.Job(
        key="k", model="robnet-large", dataset="digits", recipe=discrimination.SETTINGS["nfgsm-8"].recipe("x"), seed=0
    )
    ledger = tmp_path / "ledger.jsonl"
    good = {"key": "k", "engine": _arms.engine_settings(job, threads=1), "robust": {"pgd20": 1.0}}
    ledger.write_text(json.dumps(good) + "\n")
    assert _arms.run_jobs([job], ledger)["k"]["robust"] == {"pgd20": 1.0}  # found, not retrained
    assert good["engine"]["channels_last"] is True and good["engine"]["threads"] == 1
    other = {**good, "engine": {**good["engine"], "channels_last": False}}
    ledger.write_text(json.dumps(other) + "\n")
    with pytest.raises(_arms.LedgerMismatch, match=r"other engine settings \(channels_last differ\)"):
        _arms.run_jobs([job], ledger)
    with pytest.raises(_arms.LedgerMismatch):
        _arms.check_ledger_engine(ledger, job)


def test_the_discrimination_study_names_its_settings_and_reads_plateaus(tmp_path):
    done = run_benchmark("discrimination.py", "--settings", "fgsm-rs-8,bogus", "--ledger", str(tmp_path / "l.jsonl"))
    _one_line_refusal(done, "unknown setting 'bogus'")
    assert not (tmp_path / "l.jsonl").exists()

    def row(arch: str, value: float, curve: list[float], best: int) -> dict:
        return {
            "tags": {"arch": arch},
            "robust": {"pgd20": value},
            "clean": 90.0,
            "best_epoch": best,
            "epochs": len(curve),
            "planned_epochs": 8,
            "held_out_curve": curve,
        }

    climbing = [10.0, 20, 30, 40, 50, 60, 70, 80]  # still gaining 20 points over its last quarter
    flat = [10.0, 50, 60, 62, 63, 63.5, 64, 64]
    rows = [row("a", 50, climbing, 8), row("a", 52, flat, 8), row("b", 70, flat, 6), row("b", 71, flat[:6], 6)]
    figures = discrimination.analyse(rows)
    assert figures["plateau_share"] == 0.75 and figures["stopped_by_guard"] == 1
    assert figures["components"]["icc_interval"] is not None and figures["trainings"] == 4
    assert discrimination.late_gain(climbing) == 20.0 and discrimination.late_gain(flat) == pytest.approx(0.5)


def test_the_power_of_candidate_designs_comes_from_a_discrimination_run(tmp_path):
    figures = tmp_path / "discrimination.json"
    components = {"between_sd": 6.0, "within_sd": 4.0}
    figures.write_text(json.dumps({"settings": {"nfgsm-16": {"components": components}}}))
    power = ["search_vs_random.py", "--power", str(figures), "--setting", "nfgsm-16", "--simulations", "200"]
    done = run_benchmark(*power, "--designs", "3x3+24,16x2+40", "--power-json", str(tmp_path / "power.json"))
    assert done.returncode == 0, done.stderr
    written = json.loads((tmp_path / "power.json").read_text())
    assert written["source"]["components"] == components and len(written["designs"]) == 2
    lines = done.stdout.strip().splitlines()
    assert "between-architecture sd 6.00, between-seed sd 4.00" in lines[0] and len(lines) == 4
    assert lines.pop().startswith("raw figures:")
    assert "16 searches x 2 seeds + 40 random" in lines[2]
    powers = [float(line.split("power ")[1].split(",")[0]) for line in lines[1:]]
    assert powers[-1] > powers[0]  # 16 searches and 40 random cells detect more than 3 and 24
    _one_line_refusal(run_benchmark(*power, "--designs", "3x3"), "--designs '3x3' is not PxK+R")


def test_a_study_run_in_parts_trains_the_picks_its_searches_already_chose(tmp_path):
    plan = read_preregistration(_plan(tmp_path))
    searches = tmp_path / "searches.jsonl"
    cell = ["01", "10", "11", "00", "11", "01", "10", "00", "11", "10", "01", "00", "11", "10"]
    searches.write_text(json.dumps({"key": "search|1|small", "cell": cell, "tags": {}}) + "\n")
    work = tmp_path / "work"  # no search folder: a search run would create it
    settings, chosen = search_vs_random.search_pick(plan, 1, work, searches)
    assert chosen == tuple(cell) and settings.seed == 1 and not work.exists()
