"""``robnetzoo search`` end to end at a tiny size: the folder it leaves, resume after SIGKILL,
2 gloo processes against 1, the genotype files, and every bad input (one line, exit 2)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robnetzoo.cli.app import main
from tests.support import SEARCH_SEED as SEED
from tests.support import write_settings

_settings_file = write_settings


def _leaderboard(folder: Path) -> list[dict]:
    """The leaderboard without wall-clock fields (everything else must agree exactly)."""
    rows = json.loads((folder / "leaderboard.json").read_text())
    for row in rows:
        for key in ("seconds", "screen_seconds", "finetune_seconds"):
            row.pop(key)
    return rows


def _results(folder: Path) -> list[dict]:
    rows = json.loads((folder / "results.json").read_text())["rows"]
    for row in rows:
        row.pop("seconds")
    return rows


def _resumable_copy(finished: Path, target: Path) -> Path:
    """A search whose supernet is trained and no candidate scored yet (the same supernet as
    ``finished``, so the candidates' numbers must come out identical)."""
    target.mkdir()
    shutil.copy(finished / "search.json", target / "search.json")
    for supernet in finished.glob("supernet*"):
        shutil.copytree(supernet, target / supernet.name)
    return target


def test_the_search_leaves_leaderboard_results_analysis_report_drawings_and_genotypes(finished_search):
    rows = _leaderboard(finished_search)
    assert len(rows) == 10 and {r["space"] for r in rows} == {"cell", "free"}
    cell = [r for r in rows if r["space"] == "cell"]
    assert [r["rank"] for r in cell] == list(range(1, 7))  # inherited scorer: all six ranked
    assert all(a["score"] >= b["score"] for a, b in zip(cell, cell[1:]))
    assert sum(r["finetune_robust"] is not None for r in cell) == 2
    free = [r for r in rows if r["space"] == "free"]
    assert sum(r["fsp_kept"] for r in free) == 2  # half of 4 kept by the FSP filter
    kept = sorted(r["fsp_loss"] for r in free if r["fsp_kept"])
    assert kept[-1] <= min(r["fsp_loss"] for r in free if not r["fsp_kept"])
    for row in rows:
        assert 0 <= row["robust"] <= row["clean"] <= 100 if row["robust"] is not None else True
        assert len(row["fsp_cells"]) == 3
        # the score is the mean over the two supernets, and the per-image marks of both pair up
        assert row["supernets"] == 2 and row["inherited_robust"] == sum(row["supernet_robust"]) / 2
        assert len(row["paired_bits"]) == 2 * 32 and set(row["paired_bits"]) <= {"0", "1"}
        assert row["paired_bits"].count("1") == round(sum(row["supernet_robust"]) * 32 / 100)
    csv_lines = (finished_search / "leaderboard.csv").read_text().splitlines()
    assert csv_lines[0].startswith("rank,index,space,score") and len(csv_lines) == 11

    analysis = json.loads((finished_search / "analysis.json").read_text())
    # Finding 1 as written is the statistic of the leaderboard's own cell-based rows, whatever a
    # one-epoch supernet leaves them at (the statistic itself is checked by hand in test_analysis)
    from robnetzoo.search.analysis import finding_density
    from robnetzoo.search.leaderboard import read_leaderboard

    f1 = analysis["finding1_density"]
    assert f1["n"] == 6 and f1["space"] == "cell"
    assert f1 == json.loads(json.dumps(finding_density(read_leaderboard(finished_search), SEED)))
    assert analysis["proxies"]["n"] == 2 and analysis["proxies"]["inherited"]["cost_ratio"] > 0
    assert analysis["finding2_direct_edges"]["pairs"] == 6  # one base cell for each of 2-7 convolutions
    assert analysis["finding3_fsp"]["space"] == "free" and analysis["finding3_fsp"]["candidates"] == 4
    assert {v["verdict"] for v in analysis["verdicts"]} <= {"supports", "contradicts", "cannot decide"}
    for plot in analysis["plots"]:
        assert (finished_search / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((finished_search / "summary.json").read_text())
    chosen = summary["selection"]
    assert analysis["family"]["correction"] == "Holm" and len(analysis["family"]["claims"]) == 5
    primary = [v for v in analysis["verdicts"] if v["primary"]]
    assert all(v["p_holm"] is None or v["p_holm"] >= v["p"] for v in primary)
    assert {p.name for p in finished_search.glob("supernet*")} == {"supernet", "supernet-1", "supernet-2"}
    for name, row in chosen.items():  # every choice in its band of convolutions per cell, re-scored on the hold-out
        low, high = row["band"]
        assert low <= row["convs_per_cell"] <= high
        second = row["runner_up"]
        if second is not None:  # paired on the same 32 images x 2 supernets
            test = second["mcnemar"]
            a, b = row["paired_bits"], next(r for r in rows if r["index"] == second["index"])["paired_bits"]
            assert test["n"] == 64 and test["first_only"] == sum(x == "1" and y == "0" for x, y in zip(a, b))
        held = row["holdout"]
        assert held["n"] == 32 and 0 <= held["robust"] <= 100
        # every candidate of the band was re-scored too: the choice's rank among them is its own
        band = [r for r in rows if r["space"] == row["space"] and r["rank"] is not None]
        band = [r for r in band if low <= r["convs_per_cell"] <= high]
        assert held["of"] == len(band) >= 1 and 1 <= held["rank"] <= held["of"]
        assert held["band_holdout_mean"] is not None and held["band_search_mean"] is not None
        assert (finished_search / "cells" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "<svg" in (finished_search / "cells" / f"{name}.svg").read_text()[:2000]
    assert {p.name for p in (finished_search / "genotypes").iterdir()} == {f"{name}.json" for name in chosen}
    page = (finished_search / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and all(v["claim"] in page for v in analysis["verdicts"])
    images = _embedded_images(page)  # no browser runs here: the page is parsed and its images decoded
    assert len(images) == len(analysis["plots"]) + len(chosen)
    assert all(image[:8] == b"\x89PNG\r\n\x1a\n" for image in images)


def _embedded_images(page: str) -> list[bytes]:
    """The images of an HTML page, which must all be embedded (the page travels alone)."""
    import base64
    from html.parser import HTMLParser

    found: list[bytes] = []

    class Images(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "img":
                source = dict(attrs)["src"]
                assert source.startswith("data:image/png;base64,"), source[:40]
                found.append(base64.b64decode(source.split(",", 1)[1], validate=True))

    Images().feed(page)
    return found


def test_the_results_table_loads_and_answers_queries(finished_search):
    from robnetzoo.search import load_results

    table = load_results(finished_search)
    assert len(table) == 10 and table.meta["format"] == "robnetzoo-search-results/1"
    row = table[0]
    assert set(table.meta["schema"]) <= set(row) and len(row["edge_codes"][0]) == 14
    small = table.where(space="cell", convs_per_cell=(0, 7))
    assert all(r["band"] == "small" for r in small) and len(small) == sum(r["band"] == "small" for r in table)
    best = table.where(space="cell").best("inherited_robust")
    assert best["inherited_robust"] == max(table.where(space="cell").column("inherited_robust"))
    assert str(table.genotype(best["index"])) == best["genotype"]
    low, high = best["inherited_interval"]
    assert low <= best["inherited_robust"] <= high


def test_genotype_files_build_with_the_registry_and_robnetzoo_train(finished_search):
    import robnetzoo
    from robnetzoo.profile import count_parameters
    from robnetzoo.search.recipes import PRESETS as RECIPES
    from robnetzoo.search.runs import model_config_for

    summary = json.loads((finished_search / "summary.json").read_text())
    small = finished_search / "genotypes" / "robnet-small.json"
    model = robnetzoo.create_model("robnet-small", genotype=small)
    assert count_parameters(model) == summary["selection"]["robnet-small"]["parameters"]  # C=36, 20 cells
    assert model.zoo_config.derived_from["name"] == "robnetzoo search"
    free = finished_search / "genotypes" / "robnet-free.json"
    config = model_config_for(str(free), "digits", recipe=RECIPES["demo"])  # the command the search prints
    assert len(config.genotype().cells) == 20  # stretched from the supernet's 3 cells to the final depth


def test_a_fresh_search_killed_and_resumed_gives_the_same_leaderboard(finished_search, tmp_path):
    """From scratch (a new supernet, seeded by the search's seed alone), killed while it
    scores, resumed: the leaderboard of the search that was never interrupted."""
    folder = tmp_path / "killed"
    command = [
        sys.executable,
        "-m",
        "robnetzoo.cli",
        "search",
        "--preset",
        str(_settings_file(tmp_path)),
        "--seed",
        str(SEED),
        "-o",
        str(folder),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    ledger = folder / "candidates.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if ledger.exists() and len(ledger.read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the search ended before it could be killed"
    scored_before = {json.loads(line)["index"] for line in ledger.read_text().splitlines() if line.endswith("}")}
    assert 3 <= len(scored_before) < 10

    assert (
        main(
            [
                "search",
                "--preset",
                str(_settings_file(tmp_path)),
                "--seed",
                str(SEED),
                "-o",
                str(folder),
                "--resume",
                "--json",
            ]
        )
        == 0
    )
    screens = [json.loads(line) for line in ledger.read_text().splitlines() if '"screen"' in line]
    assert len(screens) == len({r["index"] for r in screens}) == 10  # nothing scored twice
    assert _leaderboard(folder) == _leaderboard(finished_search)


def test_two_worker_processes_give_the_same_leaderboard_as_one(finished_search, tmp_path):
    """The first supernet kept, the other two trained side by side by two one-thread worker
    processes, every candidate scored by whichever worker is free, records appended in the order
    they finish: the leaderboard and the hold-out of the one-process search, to the last digit."""
    folder = tmp_path / "workers"
    folder.mkdir()
    shutil.copy(finished_search / "search.json", folder / "search.json")
    shutil.copytree(finished_search / "supernet", folder / "supernet")
    command = [sys.executable, "-m", "robnetzoo.cli", "search", "--preset", str(_settings_file(tmp_path))]
    command += ["--seed", str(SEED), "-o", str(folder), "--resume", "--workers", "2", "--json"]
    two_threads = {**os.environ, "OMP_NUM_THREADS": "2"}  # the workers compute in one thread whatever this has
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=two_threads)
    assert done.returncode == 0, done.stderr[-3000:]
    for replica in ("supernet-1", "supernet-2"):
        assert (folder / replica / "supernet.safetensors").read_bytes() == (
            finished_search / replica / "supernet.safetensors"
        ).read_bytes()
    assert _leaderboard(folder) == _leaderboard(finished_search)
    assert _results(folder) == _results(finished_search)
    summary = json.loads(done.stdout)
    assert {c["holdout"]["robust"] for c in summary["selection"].values()} == {
        c["holdout"]["robust"] for c in json.loads((finished_search / "summary.json").read_text())["selection"].values()
    }


def _torchrun_search(*args: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "robnetzoo.cli",
        "search",
        *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}  # one thread per rank on 2 cores
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.slow  # about 26 s on 2 cores
def test_two_gloo_processes_give_the_same_leaderboard_as_one(finished_search, tmp_path):
    """Candidates dealt to 2 ranks merge into the 1-process leaderboard (same supernet)."""
    folder = _resumable_copy(finished_search, tmp_path / "two")
    done = _torchrun_search(
        "--preset", str(_settings_file(tmp_path)), "--seed", str(SEED), "-o", str(folder), "--resume", "--json"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert _leaderboard(folder) == _leaderboard(finished_search)


@pytest.mark.slow
def test_two_gloo_processes_train_the_supernet_with_path_dropout(tmp_path):
    """Data-parallel supernet training: both ranks draw the same sub-network per batch, DDP
    finds the parameters a batch left out, and the replicas end identical (the engine checks
    their fingerprints and fails otherwise)."""
    settings = _settings_file(tmp_path, "cell.json", space="cell", candidates=2, finetune_subset=0)
    folder = tmp_path / "scratch"
    done = _torchrun_search("--preset", str(settings), "-o", str(folder), "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["candidates"] == 2 and set(summary["selection"]) <= {"robnet-small", "robnet-medium", "robnet-large"}
    log = [json.loads(line) for line in (folder / "supernet" / "train_log.jsonl").read_text().splitlines()]
    assert len(log) == 1 and log[0]["images"] == 128  # both ranks' batches counted: the whole data set


def _fails(capsys, *args: str) -> str:
    assert main(["search", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_bad_inputs_are_one_line_and_exit_2(finished_search, tmp_path, capsys):
    tiny = str(_settings_file(tmp_path))
    out = str(tmp_path / "new")
    assert "unknown search preset 'huge'" in _fails(capsys, "--preset", "huge", "-o", out)
    assert "unknown space 'grid'" in _fails(capsys, "--preset", tiny, "--space", "grid", "-o", out)
    assert "unknown scorer 'vibes'" in _fails(capsys, "--preset", tiny, "--scorer", "vibes", "-o", out)
    assert "at least 2" in _fails(capsys, "--preset", tiny, "--candidates", "1", "-o", out)
    assert "holds only 268,435,456" in _fails(
        capsys, "--preset", tiny, "--space", "cell", "--candidates", str(4**14 + 1), "-o", out
    )
    big_validation = str(_settings_file(tmp_path, "big.json", validation_size=5000))
    assert "impossible for digits" in _fails(capsys, "--preset", big_validation, "-o", out)
    assert not Path(out).exists()  # nothing was created by any of these

    finished = str(finished_search)
    before = (finished_search / "leaderboard.json").read_text()
    assert "holds a finished search" in _fails(capsys, "--preset", tiny, "--seed", str(SEED), "-o", finished)
    assert "different candidates" in _fails(
        capsys, "--preset", tiny, "--seed", str(SEED), "--candidates", "7", "-o", finished, "--resume"
    )
    assert "nothing to resume" in _fails(capsys, "--preset", tiny, "-o", out, "--resume")
    assert "overlap at 7-7" in _fails(capsys, "--analyse", finished, "--bands", "small=0-7,medium=7-10,large=11-13")
    assert "gap: 8-8" in _fails(capsys, "--analyse", finished, "--bands", "small=0-7,medium=9-10,large=11-13")
    assert "unknown sampler 'sobol'" in _fails(capsys, "--preset", tiny, "--sampler", "sobol", "-o", out)
    assert "unknown supernet attack 'cw'" in _fails(capsys, "--preset", tiny, "--supernet-attack", "cw", "-o", out)
    assert "--supernets must be at least 1, got 0" in _fails(capsys, "--preset", tiny, "--supernets", "0", "-o", out)
    assert "--workers must be at least 1, got 0" in _fails(capsys, "--preset", tiny, "--workers", "0", "-o", out)
    assert "eps must be in [0, 1]" in _fails(capsys, "--preset", tiny, "--eps", "8", "-o", out)
    assert "not a finished search" in _fails(capsys, "--study", "proxies", "--analyse", str(tmp_path))
    assert "unknown study 'vibes'" in _fails(capsys, "--study", "vibes", "--analyse", finished)
    assert "needs the folder of a finished search" in _fails(capsys, "--study", "proxies")
    assert "needs 24 scored cell-based candidates" in _fails(capsys, "--study", "proxies", "--analyse", finished)
    unplannable = str(_settings_file(tmp_path, "svhn.json", dataset="imagenet"))
    assert "cannot plan a search on 'imagenet'" in _fails(capsys, "--preset", unplannable, "--plan")
    assert (finished_search / "leaderboard.json").read_text() == before  # nothing lost or rewritten
    assert not (finished_search / "studies").exists()


def test_analyse_redoes_the_selection_with_other_bands(finished_search, tmp_path, capsys):
    copy = Path(shutil.copytree(finished_search, tmp_path / "copy"))
    rows = [r for r in json.loads((copy / "leaderboard.json").read_text()) if r["space"] == "cell"]
    fewest = min(r["convs_per_cell"] for r in rows)
    bands = f"small=0-{int(fewest)},medium={int(fewest) + 1}-13"  # only the sparsest candidates are small
    assert main(["search", "--analyse", str(copy), "--bands", bands, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (
        summary["selection"]["robnet-small"]["convs_per_cell"] == fewest and "robnet-large" not in summary["selection"]
    )
    chosen = json.loads((copy / "genotypes" / "robnet-small.json").read_text())
    from robnetzoo.genotype import Genotype

    assert Genotype.from_codes(chosen) == Genotype.parse(summary["selection"]["robnet-small"]["genotype"])


def test_the_plan_counts_every_phase_and_estimates_hours_on_this_device(tmp_path, capsys):
    from robnetzoo.search.plan import work_of
    from robnetzoo.search.settings import PRESETS

    phases = {p["phase"]: p for p in work_of(PRESETS["paper"])}
    # PGD-7: 8 passes per image, and a second supernet that only the hold-out re-score reads
    assert phases["supernet"]["passes"] == 2 * 300 * (50000 - 10000 - 5000) * 8
    assert phases["finetune"]["passes"] > phases["supernet"]["passes"]  # 1,500 candidates x 3 epochs
    fast = {p["phase"]: p for p in work_of(PRESETS["paper"].with_overrides(supernet_attack="fgsm-rs"))}
    assert fast["supernet"]["passes"] * 4 == phases["supernet"]["passes"]  # FGSM-RS: 2 passes per image
    # the plan answers at once: priced at the shipped rates, nothing timed
    events = []
    from robnetzoo.events import Note, StageProgress
    from robnetzoo.search.plan import _scale, plan_search, shipped_rates

    plan = plan_search(PRESETS["paper"], progress=events.append)
    assert not [e for e in events if isinstance(e, (Note, StageProgress))]
    rates = shipped_rates()
    assert rates and rates[0]["device"].startswith("cpu") and [p["kind"] for p in plan["prices"]][0] == "cpu"
    cpu = plan["prices"][0]
    scaled = rates[0]["seconds_per_pass"] * _scale(rates[0], plan["size"])
    assert cpu["hours"] == pytest.approx(plan["passes"] * scaled / 3600) and cpu["how"] == "shipped rate"
    assert main(["search", "--preset", "paper", "--plan"]) == 0
    shown = capsys.readouterr()
    assert "{{opt:" not in shown.out + shown.err and " days" in shown.out and "precision: two significant" in shown.err
    total = next(line for line in shown.out.splitlines() if "total" in line)
    days = total.split("│")[-2].strip().removesuffix(" days").replace(",", "")
    assert len(days.rstrip("0").replace(".", "").lstrip("0")) <= 2, total  # two significant figures
    settings = _settings_file(tmp_path)
    assert main(["search", "--preset", str(settings), "--plan", "--json"]) == 0
    small = json.loads(capsys.readouterr().out)
    from robnetzoo.search.settings import get_preset

    assert [p["passes"] for p in small["phases"]] == [p["passes"] for p in work_of(get_preset(str(settings)))]


def test_significant_figures_read_as_a_person_writes_them():
    from robnetzoo.cli._output import significant

    assert [significant(v) for v in (360528.02, 15022.0, 2.345, 0.0123, 0)] == [
        "360,000",
        "15,000",
        "2.3",
        "0.012",
        "0",
    ]


def test_a_timed_plan_says_what_it_times_and_reports_every_step(tmp_path):
    """Pricing a plan by timing this device trains the supernet for a few steps, minutes at the
    paper's size on a CPU: it says so first and moves a bar (with its ETA) every step."""
    from robnetzoo.events import Note, StageProgress
    from robnetzoo.search.plan import plan_search
    from robnetzoo.search.settings import get_preset

    events = []
    plan = plan_search(get_preset(str(_settings_file(tmp_path))), device="cpu", progress=events.append, time_here=True)
    assert plan["prices"][0]["how"].startswith("timed here") and plan["prices"][0]["hours"] > 0
    notes = [e for e in events if isinstance(e, Note)]
    steps = [e for e in events if isinstance(e, StageProgress) and e.phase == "timing"]
    assert notes and "timing" in notes[0].message and "timings" in notes[0].message and events[0] is notes[0]
    assert [e.done for e in steps] == list(range(1, steps[0].total + 1)) and steps[-1].done == steps[-1].total


def test_the_summary_claims_nothing_about_random_architectures(finished_search, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    copy = Path(shutil.copytree(finished_search, tmp_path / "copy"))
    assert main(["search", "--analyse", str(copy)]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "retrained vs random" not in shown and "whether a pick beats random cells of its band is not known" in shown
    summary = json.loads((copy / "summary.json").read_text())
    assert all("vs_random" not in choice for choice in summary["selection"].values())
