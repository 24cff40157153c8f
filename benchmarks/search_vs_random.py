"""Does the search work? Its picks, trained from scratch, against random architectures of the
same budget, the published RobNet cell of the band and a hand-designed baseline.

For each cell-based band the search chose an architecture in (small, medium, large), with k
its convolutions per cell:

* the search's pick;
* ``--random`` random cells with exactly k convolutions (conv edges drawn uniformly, identity
  bits fair coins, connected; drawn from seeded streams, so every run draws the same);
* the published robnet-large cell where its 13 convolutions fall in the band;
* WRN-10-1, the smallest WideResNet (about twice the parameters of a width-4, 5-cell RobNet),
  trained once and shown beside every band;

each trained **from scratch** with one recipe (the ``demo`` preset: FGSM from a random start,
cyclic lr, the overfitting guard, moved to the search's data set and radius), at the same width
and depth, ``--seeds`` times, and judged on the test split, which the search never reads.

Declared before the run. The primary figure is the worst case of PGD-20 and CW-20 (both at
step eps/4; an image counts as robust only if it survives both); PGD-20 alone is reported beside
it. Per band: the pick's mean minus the mean of the random arm, with a 95% interval from a
two-stage bootstrap (architectures of the arm resampled, then seeds), and its two-sided
bootstrap p, Holm-adjusted over the bands; the pick's rank among the random architectures; the
between-architecture and between-seed standard deviations. "beats random" only where the
adjusted p < 0.05 and the interval lies above 0, "worse than random" where it lies below,
otherwise "cannot tell from random". Beside it, a check that does not lean on a handful of seeds
per architecture: the Mann-Whitney test of the pick's trainings against all of the random
arm's, Holm-adjusted over the bands. The verdict printed is the declared one: a finding only
where the two agree, otherwise "cannot decide" (saying what the bootstrap alone would say).

    python benchmarks/search_vs_random.py [--search FOLDER] [--eps 8/255] [--random 5] [--seeds 2]
        [--epochs 5] [--workers 2] [--record-evidence]

Without ``--search`` it first runs the demo search (``robnetzoo search``) at ``--eps`` into
``--work`` (resumed when there). Run it alone: at the default size (40 trainings, 2 seeds) it
took 48 minutes on 2 cores, the demo search included (two workers of one thread).
``--record-evidence`` replaces the verdicts the demo search shows beside its picks
(``search/search_vs_random.json``) with this run's: that is for a reading the docs adopt, not for
every run.
``--ledger`` keeps each finished training, so a killed run resumes, and a larger ``--seeds``
against the same ledger trains only the seeds it lacks.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _arms import Job, run_jobs, scratch_recipe  # benchmarks/_arms.py: train side by side, resumable ledger
from _results import RESULTS, default_path, write  # benchmarks/_results.py: raw figures and the machine

from robnetzoo.errors import InvalidInput  # noqa: E402
from robnetzoo.genotype import Genotype  # noqa: E402
from robnetzoo.registry import ROBNET_LARGE_CELL  # noqa: E402
from robnetzoo.search.recipes import Recipe  # noqa: E402
from robnetzoo.search.sampling import cell_with_convs  # noqa: E402
from robnetzoo.search.settings import SearchSettings  # noqa: E402
from robnetzoo.seeding import derive_seed  # noqa: E402
from robnetzoo.stats import holm, nested_bootstrap_difference, variance_components  # noqa: E402
from robnetzoo.threat import ThreatModel, parse_eps  # noqa: E402

BANDS = ("small", "medium", "large")
BASELINE = "wrn-10-1"
PRIMARY = "worst_case"


def convolutions(cell: tuple[str, ...]) -> int:
    return sum(code[1] == "1" for code in cell)


def finished_search(folder: Path) -> tuple[SearchSettings, dict[str, Genotype]]:
    """The settings and chosen cell-based genotypes of a finished search; anything else is one line."""
    from robnetzoo.search.pipeline import read_settings

    if not (folder / "summary.json").is_file() and not (folder / "genotypes").is_dir():
        raise InvalidInput(
            f"{folder} is not a finished search (no summary.json or genotypes/)",
            fix="give the folder of a finished robnetzoo search, or leave out --search to run one",
        )
    settings = read_settings(folder)
    picks = {}
    for band in BANDS:
        path = folder / "genotypes" / f"robnet-{band}.json"
        if path.is_file():
            picks[band] = Genotype.loads(path.read_text())
    if not picks:
        raise InvalidInput(f"{folder} chose no cell-based architecture", fix="give a search that chose one")
    return settings, picks


def run_demo_search(folder: Path, eps: float | None) -> Path:
    from robnetzoo.search.pipeline import run_search
    from robnetzoo.search.settings import get_preset

    settings = get_preset("demo")
    if eps is not None:
        threat = ThreatModel("Linf", eps)
        settings = settings.with_overrides(
            supernet=settings.supernet.at_threat(threat), finetune=settings.finetune.at_threat(threat)
        )
    print(f"running the demo search at {settings.supernet.threat_model} into {folder}", file=sys.stderr, flush=True)
    run_search(settings, folder, resume=(folder / "search.json").is_file(), device="cpu")
    return folder


def recipe_for(settings: SearchSettings, epochs: int) -> Recipe:
    return scratch_recipe(settings.dataset, settings.supernet.threat_model, epochs)


def plan(picks: dict[str, Genotype], settings: SearchSettings, args: argparse.Namespace, folder: Path) -> list[Job]:
    """Every training of the benchmark, keyed by band, arm, architecture and seed."""
    folder.mkdir(parents=True, exist_ok=True)
    recipe = recipe_for(settings, args.epochs)
    common = dict(
        dataset=settings.dataset,
        recipe=recipe,
        eval_attacks=("pgd20", "cw"),
        eval_n=args.test_n,
        data_root=args.data_root,
    )
    jobs: list[Job] = []

    def genotype_job(band: str, arm: str, name: str, cell: tuple[str, ...]) -> None:
        path = folder / f"{band}-{name}.json"
        path.write_text(Genotype((cell,)).dumps())
        for seed in range(args.seeds):
            jobs.append(
                Job(
                    key=f"{band}|{arm}|{name}|{''.join(cell)}|seed{seed}",  # another pick is another training
                    model=str(path),
                    seed=seed,
                    width=settings.width,
                    layers=settings.layers,
                    tags={
                        "band": band,
                        "arm": arm,
                        "arch": name,
                        "convolutions": convolutions(cell),
                        "genotype": "".join(cell),
                    },
                    **common,
                )
            )

    low_high = settings.bands
    for band, pick in picks.items():
        k = convolutions(pick.cells[0])
        genotype_job(band, "pick", "pick", pick.cells[0])
        for i in range(args.random):
            generator = torch.Generator().manual_seed(derive_seed(args.random_seed, "random-arm", band, i))
            genotype_job(band, "random", f"random{i}", cell_with_convs(generator, k))
        published = Genotype.from_codes(ROBNET_LARGE_CELL).cells[0]
        low, high = low_high.get(band, (0, -1))
        if low <= convolutions(published) <= high:
            genotype_job(band, "published", "robnet-large", published)
    for seed in range(args.seeds):
        jobs.append(
            Job(
                key=f"all|baseline|{BASELINE}|seed{seed}",
                model=BASELINE,
                seed=seed,
                tags={"band": "all", "arm": "baseline", "arch": BASELINE},
                **common,
            )
        )
    return jobs


def figure(row: dict[str, Any], measure: str) -> float:
    return row["worst_case"] if measure == PRIMARY else row["robust"][measure]


def declared_verdict(b: dict[str, Any]) -> str:
    """The verdict as declared: a finding only where the rank check agrees with the bootstrap."""
    if b["verdict"] == "cannot tell from random" or b["rank_test"]["p_holm"] < 0.05:
        return b["verdict"]
    return f"cannot decide ({b['verdict']} by the bootstrap, not by the rank check)"


def analyse(
    rows: dict[str, dict[str, Any]], picks: dict[str, Genotype], seeds: int, measure: str, seed: int
) -> dict[str, Any]:
    by_arch: dict[tuple[str, str, str], list[float]] = {}
    for row in rows.values():
        tags = row["tags"]
        by_arch.setdefault((tags["band"], tags["arm"], tags["arch"]), []).append(figure(row, measure))
    bands: dict[str, Any] = {}
    for band in picks:
        pick = by_arch[(band, "pick", "pick")]
        randoms = {arch: v for (b, arm, arch), v in by_arch.items() if b == band and arm == "random"}
        difference = nested_bootstrap_difference(pick, list(randoms.values()), seed=seed)
        random_means = sorted((float(np.mean(v)) for v in randoms.values()), reverse=True)
        pick_mean = float(np.mean(pick))
        rank = 1 + sum(m > pick_mean for m in random_means)
        published = by_arch.get((band, "published", "robnet-large"))
        bands[band] = {
            "pick": {"mean": pick_mean, "values": pick},
            "random": {arch: {"mean": float(np.mean(v)), "values": v} for arch, v in randoms.items()},
            "random_mean": float(np.mean([np.mean(v) for v in randoms.values()])),
            "published": None if published is None else {"mean": float(np.mean(published)), "values": published},
            "difference": difference,
            "p": difference["p"],
            "rank": rank,
            "of": len(randoms) + 1,
            "components": variance_components({"pick": pick, **randoms}),
        }
    # a check that does not lean on two seeds per architecture: the pick's trainings against every
    # training of the random arm, by rank (the bootstrap cannot draw a seed value it never saw)
    from scipy import stats as scipy_stats

    for band, b in bands.items():
        arm = [v for r in b["random"].values() for v in r["values"]]
        b["rank_test"] = {
            "p": float(scipy_stats.mannwhitneyu(b["pick"]["values"], arm, alternative="two-sided").pvalue),
            "n_pick": len(b["pick"]["values"]),
            "n_random": len(arm),
        }
    rank_holm = holm({band: b["rank_test"]["p"] for band, b in bands.items()})
    for band, b in bands.items():
        b["rank_test"]["p_holm"] = rank_holm[band]
    adjusted = holm({band: b["p"] for band, b in bands.items()})
    for band, b in bands.items():
        b["p_holm"] = adjusted[band]
        low, high = b["difference"]["interval"] or (None, None)
        if b["p_holm"] is not None and b["p_holm"] < 0.05 and low is not None and low > 0:
            b["verdict"] = "beats random"
        elif b["p_holm"] is not None and b["p_holm"] < 0.05 and high is not None and high < 0:
            b["verdict"] = "worse than random"
        else:
            b["verdict"] = "cannot tell from random"
        b["declared"] = declared_verdict(b)
    baseline = by_arch.get(("all", "baseline", BASELINE), [])
    return {
        "measure": measure,
        "bands": bands,
        "baseline": {"arch": BASELINE, "mean": float(np.mean(baseline)) if baseline else None, "values": baseline},
    }


EVIDENCE = Path(__file__).resolve().parents[1] / "search" / "search_vs_random.json"


def record_evidence(settings: SearchSettings, picks: dict[str, Genotype], result: dict[str, Any], source: Path) -> None:
    """``search/search_vs_random.json``: the verdict on each band's pick, which a demo search
    with these very settings and picks shows beside its choice (``robnetzoo.search.evidence``)."""
    import datetime

    bands = {
        band: {
            "genotype": str(picks[band]),
            "verdict": b["declared"],
            "difference": b["difference"]["value"],
            "interval": b["difference"]["interval"],
            "p_holm": b["p_holm"],
            "rank": b["rank"],
            "of": b["of"],
        }
        for band, b in result["bands"].items()
    }
    EVIDENCE.write_text(
        json.dumps(
            {
                "settings": settings.to_dict(),
                "measure": result["measure"],
                "source": f"benchmarks/results/{source.name}",
                "date": datetime.date.today().isoformat(),
                "bands": bands,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"verdicts for the demo's picks: {EVIDENCE}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--search", type=Path, help="a finished search folder (default: run the demo search)")
    parser.add_argument("--eps", help="the demo search's radius when it is run here (default: the preset's)")
    parser.add_argument("--random", type=int, default=5, help="random architectures per band")
    parser.add_argument("--random-seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--test-n", type=int, default=None, help="test images (default: all)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "robnetzoo-search-vs-random")
    parser.add_argument("--ledger", type=Path, default=RESULTS / "search_vs_random-ledger.jsonl")
    parser.add_argument("--json", type=Path, default=default_path("search_vs_random"))
    parser.add_argument(
        "--record-evidence",
        action="store_true",
        help="replace the verdicts the demo search shows beside its picks (search/search_vs_random.json) with "
        "this run's; without it they are left as they are",
    )
    args = parser.parse_args()
    began = time.perf_counter()
    if args.random < 2 or args.seeds < 1 or args.epochs < 1:
        parser.error("--random must be at least 2, --seeds and --epochs at least 1")
    try:
        folder = args.search or run_demo_search(args.work / "search", parse_eps(args.eps) if args.eps else None)
        settings, picks = finished_search(folder)
    except InvalidInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    jobs = plan(picks, settings, args, args.work / "genotypes")
    print(
        f"{len(jobs)} trainings from scratch ({settings.dataset} at {settings.supernet.threat_model}, "
        f"width {settings.width}, {settings.layers} cells, {args.epochs} epochs, {args.seeds} seeds)",
        file=sys.stderr,
        flush=True,
    )
    trained: list[str] = []  # the trainings this invocation ran (the rest came from the ledger)

    def finished(row: dict[str, Any]) -> None:
        trained.append(row["key"])
        print(
            f"  {row['key']}: clean {row['clean']:.1f}% pgd20 {row['robust']['pgd20']:.1f}% worst "
            f"{row['worst_case']:.1f}% ({row['seconds']:.0f} s)",
            file=sys.stderr,
            flush=True,
        )

    rows = run_jobs(jobs, args.ledger, workers=args.workers, on_row=finished)
    results = {measure: analyse(rows, picks, args.seeds, measure, args.random_seed) for measure in (PRIMARY, "pgd20")}
    n = next(iter(rows.values()))["n"]
    for measure, result in results.items():
        label = "worst case of PGD-20 and CW-20 (primary)" if measure == PRIMARY else "PGD-20"
        print(f"\n{label}, % of {n} test images; mean over {args.seeds} seeds")
        print(
            f"{'band':7s} {'k':>3s} {'pick':>6s} {'random':>7s} {'pick - random [95%]':>24s} {'p (Holm)':>9s} "
            f"{'rank':>6s} {'arch sd':>8s} {'seed sd':>8s} {'published':>9s}  verdict"
        )
        for band, b in result["bands"].items():
            d, c = b["difference"], b["components"]
            interval = "—" if d["interval"] is None else f"[{d['interval'][0]:+.1f}, {d['interval'][1]:+.1f}]"
            fmt = lambda v: "—" if v is None else f"{v:.2f}"  # noqa: E731
            published = "—" if b["published"] is None else f"{b['published']['mean']:.1f}"
            k = convolutions(picks[band].cells[0])
            print(
                f"{band:7s} {k:3d} {b['pick']['mean']:6.1f} {b['random_mean']:7.1f} {d['value']:+9.1f} {interval:>14s} "
                f"{fmt(b['p_holm']):>9s} {b['rank']:>3d}/{b['of']:<2d} {fmt(c['between_sd']):>8s} "
                f"{fmt(c['within_sd']):>8s} {published:>9s}  {b['declared']}; rank-test check p (Holm) "
                f"{fmt(b['rank_test']['p_holm'])}"
            )
        print(f"{BASELINE} (hand-designed baseline): {result['baseline']['mean']:.1f}")
    if args.record_evidence:  # the demo's own picks: their verdicts travel with the package
        if settings.preset != "demo":
            print("not recorded: only the demo search's picks have packaged verdicts", file=sys.stderr)
        else:
            record_evidence(settings, picks, results[PRIMARY], args.json)
    else:
        print(f"packaged verdicts left as they are ({EVIDENCE.name}; --record-evidence replaces them)", file=sys.stderr)
    write(
        args.json,
        {
            "search": str(folder),
            "dataset": settings.dataset,
            "threat": str(settings.supernet.threat_model),
            "width": settings.width,
            "layers": settings.layers,
            "epochs": args.epochs,
            "seeds": args.seeds,
            "random": args.random,
            "random_seed": args.random_seed,
            "test_n": n,
            "workers": args.workers,
            "threads_per_worker": 1,
            # this invocation's wall time: the search (when run here) and the trainings the ledger lacked
            "wall_seconds": time.perf_counter() - began,
            "trained_here": len(trained),
            "recipe": recipe_for(settings, args.epochs).describe(),
            "picks": {band: "".join(g.cells[0]) for band, g in picks.items()},
            "results": results,
            "rows": list(rows.values()),
            "search_summary": json.loads((folder / "summary.json").read_text())
            if (folder / "summary.json").is_file()
            else None,
        },
    )


if __name__ == "__main__":
    main()
