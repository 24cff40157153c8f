"""Studies of a finished search that check its own method: ``proxies``.

``proxies`` asks whether the cheap scorers rank candidates as the protocol they replace does. It
draws ``n`` of the search's cell-based candidates at random (seeded; not spread over any proxy's
ranking), finetunes each with the search's finetune recipe (the demo's: 3 PGD-7 epochs on the
whole training split) from the first supernet, and ``repeats`` of them again in a training that
shares none of that: from another supernet's weights, with another seed, judged on the hold-out
images. The agreement of the two is the reference's own reliability, the ceiling any proxy can
reach (two finetunings from the same weights, judged on the same images with the same noise,
agree almost by construction). The ``inherited`` proxy is the search's own ranking score, its
mean over the supernets the search ranks by; the proxies are re-timed in the same run, so the
cost ratio compares the two protocols on one machine at one time. It reports, with bootstrap 95%
intervals: Spearman and Kendall of each proxy against finetuning (over all drawn candidates, and
within each budget band, where the capacity gradient that spans the bands is gone), the
reliability ceiling and the ``inherited`` proxy's agreement on the same candidates the ceiling
was measured on (the only like-for-like comparison), the top-1 regret within each band beside a
random pick's expected regret, the cost ratio, and Finding 3 on the finetuned weights. It
resumes from its own ledger.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from robnetzoo import distributed
from robnetzoo._io import write_json
from robnetzoo.device import resolve_device
from robnetzoo.errors import InvalidInput, option
from robnetzoo.events import CandidateScored, ProgressFn, SearchPhase, StageProgress, ignore
from robnetzoo.seeding import derive_seed
from robnetzoo.stats import rank_correlation

from .analysis import finding_fsp
from .leaderboard import Ledger, leaderboard_rows
from .selection import band_of

STUDIES = ("proxies",)
STUDY_N, STUDY_REPEATS = 24, 8


def run_study(
    name: str,
    folder: str | Path,
    *,
    device: str | None = None,
    data_root: str | Path | None = None,
    seed: int = 0,
    n: int = STUDY_N,
    repeats: int = STUDY_REPEATS,
    progress: ProgressFn | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """Run (or resume) study ``name`` on the finished search in ``folder``; returns its
    outcome, also written to ``FOLDER/studies/NAME.json``. ``workers`` are the search's own
    (one torch thread each, every score and finetuning done by ``pipeline.perform`` exactly as
    the search does it; default: as many as torch's threads on CPU), so the outcome is the
    same for any number."""
    if name not in STUDIES:
        raise InvalidInput(f"unknown study {name!r}; use one of {', '.join(STUDIES)}")
    if workers is not None and workers < 1:
        raise InvalidInput(f"{option('workers')} must be at least 1, got {workers}")
    from .pipeline import (
        LEDGER_FILE,
        SUMMARY_FILE,
        Work,
        load_search_data,
        perform,
        plan_candidates,
        read_settings,
        search_pool,
    )
    from .workers import default_workers

    folder = Path(folder)
    if not (folder / SUMMARY_FILE).is_file():
        raise InvalidInput(
            f"{folder} is not a finished search (no {SUMMARY_FILE})",
            fix=f"name the folder of a finished search, or finish this one with {option('resume', True)} first",
            path=folder,
        )
    report = progress or ignore
    settings = read_settings(folder)
    data = load_search_data(settings, data_root)
    torch_device = torch.device(resolve_device(device))
    records = Ledger(folder / LEDGER_FILE).read()
    cell = [c for c in plan_candidates(settings) if c.space == "cell" and ("screen", c.index) in records]
    if len(cell) < max(n, 4):
        raise InvalidInput(
            f"the study needs {n} scored cell-based candidates, the search has {len(cell)}",
            fix=f"lower the study's n, or search with more {option('candidates')}",
        )
    generator = torch.Generator().manual_seed(derive_seed(seed, "proxy-study"))
    drawn = sorted(
        (cell[i] for i in torch.randperm(len(cell), generator=generator)[:n].tolist()), key=lambda c: c.index
    )
    second = drawn[:repeats]  # the first `repeats` by index: also a random subset of the draw
    other = _independent_supernet(settings)
    ledger = Ledger(folder / "studies" / "proxies.jsonl")
    if distributed.current().is_main:
        ledger.path.parent.mkdir(exist_ok=True)
    done = ledger.read()
    todo = [("timed-screen", c) for c in drawn] + [("finetune", c) for c in drawn]
    todo += [(INDEPENDENT, c) for c in second]
    report(SearchPhase("study", total=len(todo)))
    finished = sum((stage, c.index) in done for stage, c in todo)
    report(StageProgress("study", finished, len(todo)))
    # each piece as the search itself does it, under the search's first supernet (read back)
    work = {
        "timed-screen": lambda c: Work("screen", 0, c),
        "finetune": lambda c: Work("finetune", 0, c),
        INDEPENDENT: lambda c: Work("finetune-holdout", other, c, seed=derive_seed(seed, INDEPENDENT, c.index)),
    }
    remaining = [(stage, c) for stage, c in todo if (stage, c.index) not in done]
    ranks = distributed.current().distributed  # a rank computes with the threads torchrun gave it, as in the search
    count = 1 if ranks else workers or default_workers(torch_device)
    with search_pool(
        count,
        settings,
        folder,
        data,
        data_root,
        torch_device,
        on_message=lambda message: None,  # reading a trained supernet back says nothing
        one_thread=torch_device.type == "cpu" and not ranks,
    ) as pool:
        pieces = {(stage, c.index): work[stage](c) for stage, c in remaining}
        pending = {pool.submit(perform, pieces[(stage, c.index)]): (stage, c) for stage, c in remaining}
        while pending:
            for future in pool.finished(pending):
                stage, candidate = pending.pop(future)
                piece = pieces[(stage, candidate.index)]
                images = "holdout" if piece.stage == "finetune-holdout" else "validation"
                record = {**future.result(), "stage": stage, "supernet": piece.replica, "images": images}
                ledger.append([record])
                done[(stage, candidate.index)] = record
                finished += 1
                report(CandidateScored("study", finished, len(todo), record))
    outcome = analyse_proxy_study(done, records, settings, seed)
    outcome.update(
        {
            "search": str(folder),
            "path": str(folder / "studies" / "proxies.json"),
            "drawn": [c.index for c in drawn],
            "second_seed": [c.index for c in second],
        }
    )
    write_json(folder / "studies" / "proxies.json", outcome, indent=1)
    return outcome


INDEPENDENT = "finetune-independent"  # the ceiling's second training: other weights, seed and images


def _independent_supernet(settings: Any) -> int:
    """The supernet the ceiling's second finetuning starts from: the second the search ranks
    by, or the hold-out's where the search trained one only; its images are the hold-out's."""
    if not settings.holdout_size:
        raise InvalidInput(
            "the study's ceiling is judged on the search's hold-out images, and this search kept none",
            fix=f"search with a {option('holdout_size')} above 0",
        )
    return 1 if settings.supernets > 1 else settings.supernets


def analyse_proxy_study(
    done: dict[tuple[str, int], dict[str, Any]],
    search_records: dict[tuple[str, int], dict[str, Any]],
    settings: Any,
    seed: int = 0,
) -> dict[str, Any]:
    """The study's statistics from its records (see the module docstring)."""
    study = {
        **{("screen", i): r for (stage, i), r in done.items() if stage == "timed-screen"},
        **{("finetune", i): r for (stage, i), r in done.items() if stage == "finetune"},
    }
    rows = [r for r in leaderboard_rows(study, "inherited") if r.finetune_robust is not None]
    reference = [r.finetune_robust for r in rows]
    finetune_seconds = sum(r.finetune_seconds for r in rows) / len(rows)
    same = all(
        abs(search_records[("screen", r.index)]["inherited"]["robust"] - r.inherited_robust) < 1e-9
        for r in rows
        if ("screen", r.index) in search_records
    )
    ranked_by = {r.index: r.inherited_robust for r in leaderboard_rows(search_records, "inherited")}
    proxies: dict[str, Any] = {}
    for proxy, values, key in (
        ("inherited", [ranked_by.get(r.index, r.inherited_robust) for r in rows], "inherited"),
        ("fsp (raw, lower first)", [-r.fsp_raw_loss for r in rows], "fsp"),
        ("fsp (relative, lower first)", [-r.fsp_loss for r in rows], "fsp"),
    ):
        seconds = sum(r.screen_seconds[key] for r in rows) / len(rows)
        proxies[proxy] = {
            "spearman": rank_correlation(values, reference, seed=seed),
            "kendall": rank_correlation(values, reference, method="kendall", seed=seed),
            "seconds": seconds,
            "cost_ratio": finetune_seconds / seconds,
        }
    twice = [
        (done[("finetune", i)]["robust"], done[(INDEPENDENT, i)]["robust"])
        for (stage, i) in done
        if stage == INDEPENDENT and ("finetune", i) in done
    ]
    reliability = {
        "spearman": rank_correlation([a for a, _ in twice], [b for _, b in twice], seed=seed),
        "kendall": rank_correlation([a for a, _ in twice], [b for _, b in twice], method="kendall", seed=seed),
        "mean_abs_difference": sum(abs(a - b) for a, b in twice) / len(twice) if twice else None,
    }
    # the proxy against the ceiling on the very candidates the ceiling was measured on
    repeated = {i for (stage, i) in done if stage == INDEPENDENT}
    on_ceiling = [r for r in rows if r.index in repeated]
    proxies["inherited"]["on_ceiling_candidates"] = rank_correlation(
        [ranked_by.get(r.index, r.inherited_robust) for r in on_ceiling],
        [r.finetune_robust for r in on_ceiling],
        seed=seed,
    )
    regret, within = {}, {}
    for band in settings.bands:
        members = [r for r in rows if band_of(r.convs_per_cell, settings.bands) == band]
        within[band] = rank_correlation(
            [ranked_by.get(m.index, m.inherited_robust) for m in members],
            [m.finetune_robust for m in members],
            seed=seed,
        )
        if len(members) < 2:
            regret[band] = {"n": len(members), "regret": None, "random_pick_regret": None}
            continue
        best = max(m.finetune_robust for m in members)
        pick = max(members, key=lambda m: (ranked_by.get(m.index, m.inherited_robust), -m.index))
        regret[band] = {
            "n": len(members),
            "regret": best - pick.finetune_robust,
            "best_finetuned": best,
            "proxy_pick": pick.index,
            "proxy_pick_finetuned": pick.finetune_robust,
            # what picking one of the band's candidates at random loses, on average
            "random_pick_regret": best - sum(m.finetune_robust for m in members) / len(members),
        }
    fsp_tuned = finding_fsp(rows, space="cell", weights="finetuned", seed=seed)
    verdicts = [_agreement_line(name, proxy["spearman"], reliability["spearman"]) for name, proxy in proxies.items()]
    reference_name = (
        f"{settings.finetune.epochs}-epoch {settings.finetune.attack.upper()} finetuning"
        f"{'' if settings.finetune.train_examples is None else f' on {settings.finetune.train_examples} images'}"
    )
    return {
        "study": "proxies",
        "reference": reference_name,
        "n": len(rows),
        "proxies": proxies,
        "reliability": {
            **reliability,
            "n": len(twice),
            "between": "finetuning from the first supernet, judged on the validation images, against one from "
            "another supernet with another seed, judged on the hold-out images",
        },
        "proxy_scores": f"the search's ranking score: inherited robust accuracy, mean over {settings.supernets} "
        "supernet(s)",
        "finetune_seconds": finetune_seconds,
        "regret_within_bands": regret,
        "agreement_within_bands": within,
        "finding3_on_finetuned_weights": fsp_tuned,
        "screen_reproduced_search_scores": same,
        "verdicts": verdicts,
        "scoring": {"images": settings.score_examples, "attack": settings.score_attack, "common_random_numbers": True},
    }


def _agreement_line(name: str, stat: dict[str, Any], ceiling: dict[str, Any]) -> str:
    if stat["value"] is None:
        return f"{name}: cannot decide (no spread to rank)"
    low, high = stat["interval"]
    cl = ceiling.get("interval") or [float("nan"), float("nan")]
    # the ceiling is measured on a subset (its own n): compared with the proxy on that subset only
    figure = (
        f"Spearman {stat['value']:.2f} [{low:.2f}, {high:.2f}] (n={stat['n']}) against a reliability ceiling "
        f"of {ceiling['value'] if ceiling['value'] is not None else float('nan'):.2f} [{cl[0]:.2f}, {cl[1]:.2f}] "
        f"(n={ceiling['n']})"
    )
    if low > 0:
        return f"{name} ranks candidates in the same direction as finetuning (the interval excludes 0): {figure}"
    if high < 0:
        return f"{name} ranks candidates against finetuning (the interval lies below 0): {figure}"
    return f"{name}: cannot decide whether it ranks like finetuning (the interval includes 0): {figure}"


def leaderboard_agreement(first: str | Path, second: str | Path, *, seed: int = 0) -> dict[str, Any]:
    """Rank agreement of two searches' leaderboards on the candidates they share (the same
    genotype in the same space): Kendall's tau and Spearman of their inherited robust
    accuracy, with bootstrap 95% intervals, and how many of each one's top 5 the other's top 5
    holds; and within each budget band (``PAPER_BANDS``) of the cell-based candidates, Kendall's
    tau and whether the two choose the same winner. Two searches with the same candidate seed
    share every candidate."""
    from .results import load_results
    from .settings import PAPER_BANDS

    a, b = load_results(first), load_results(second)
    theirs = {(r["space"], r["genotype"]): r for r in b if r.get("inherited_robust") is not None}
    common = [
        (r, theirs[(r["space"], r["genotype"])])
        for r in a
        if r.get("inherited_robust") is not None and (r["space"], r["genotype"]) in theirs
    ]
    x = [r["inherited_robust"] for r, _ in common]
    y = [s["inherited_robust"] for _, s in common]
    cell = [(r, s) for r, s in common if r["space"] == "cell"]
    top_a = {r["genotype"] for r, _ in sorted(cell, key=lambda p: -p[0]["inherited_robust"])[:5]}
    top_b = {s["genotype"] for _, s in sorted(cell, key=lambda p: -p[1]["inherited_robust"])[:5]}
    within: dict[str, Any] = {}  # inside a band the capacity gradient is gone: what is left is the choice itself
    for band, (low, high) in PAPER_BANDS.items():
        members = [(r, t) for r, t in cell if low <= r["convs_per_cell"] <= high]
        # each search's own choice: its best-ranked candidate of the band (the leaderboard's ties broken as
        # the search breaks them, which is what selection picks)
        winner_a = min(members, key=lambda p: p[0]["rank"], default=None)
        winner_b = min(members, key=lambda p: p[1]["rank"], default=None)
        within[band] = {
            "n": len(members),
            "kendall": rank_correlation(
                [r["inherited_robust"] for r, _ in members],
                [t["inherited_robust"] for _, t in members],
                method="kendall",
                seed=seed,
            ),
            "same_winner": None if winner_a is None else winner_a[0]["genotype"] == winner_b[1]["genotype"],
        }  # type: ignore[index]
    return {
        "first": str(first),
        "second": str(second),
        "common": len(common),
        "kendall": rank_correlation(x, y, method="kendall", seed=seed),
        "spearman": rank_correlation(x, y, seed=seed),
        "cell_top5_overlap": len(top_a & top_b),
        "within_band": within,
    }
