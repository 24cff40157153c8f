"""Does the search pick better than chance? The pre-registered study: the picks of several search
runs, trained from scratch, against random cells of the same band, each trained once.

Everything the study may conclude is fixed beforehand in its pre-registration
(``benchmarks/preregistered/search_vs_random.json``, ``robnetzoo.search.preregistration``): the
hypothesis, the one primary test, the measure, the setting, the band, the search seeds, the
trainings per pick, the random cells, alpha, the smallest effect worth detecting with its power,
and the stopping rule. The study refuses to train or report under a plan that is missing,
malformed, not committed as it is, or changed since its first training (each training carries
the plan's digest), and under a ledger made with other engine settings.

The study: for each search seed, the demo search at the setting's data set and radius (resumed
when its folder is there) and its pick in the band; each pick trained ``seeds_per_pick`` times,
and ``random_architectures`` random cells of the band (the search's own sampler, kept when they
fall in the band) trained once each, all with the setting's recipe at the search's width and
depth, judged by PGD-20 on the test split. The primary test is ``stats.pick_versus_random``
(the architecture as the unit: a pick's mean over its trainings against single trainings of
random cells, Welch-Satterthwaite), read by ``stats.pick_verdict``.

    python benchmarks/search_vs_random.py [--preregistration FILE] [--workers 2] [--report]
    python benchmarks/search_vs_random.py --power benchmarks/results/discrimination-DATE.json --setting S

``--power`` prints the simulated power of candidate designs from a discrimination run's variance
components, for writing a plan; it trains nothing. ``--report`` analyses a finished ledger only.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _arms import (
    Job,
    check_ledger_engine,
    read_ledger,
    run_jobs,
)  # benchmarks/_arms.py: train side by side, resumable ledger
from _results import RESULTS, default_path, write  # benchmarks/_results.py: raw figures and the machine
from discrimination import SETTINGS  # the training settings the discrimination study compared

from robnetzoo.errors import InvalidInput, RobnetzooError  # noqa: E402
from robnetzoo.genotype import Genotype  # noqa: E402
from robnetzoo.search.preregistration import (  # noqa: E402
    Preregistration,
    check_committed,
    check_unchanged,
    read_preregistration,
)
from robnetzoo.search.sampling import band_cells, convolutions  # noqa: E402
from robnetzoo.search.settings import SearchSettings  # noqa: E402
from robnetzoo.seeding import derive_seed  # noqa: E402
from robnetzoo.stats import null_rejection_rate, pick_verdict, pick_versus_random  # noqa: E402
from robnetzoo.threat import ThreatModel  # noqa: E402

PLAN = Path(__file__).resolve().parent / "preregistered" / "search_vs_random.json"


def demo_settings(plan: Preregistration, seed: int) -> SearchSettings:
    """The demo search at the plan's setting's data set and radius, with ``seed``."""
    from robnetzoo.search.settings import get_preset

    setting = SETTINGS[plan.setting]
    settings = get_preset("demo")
    threat = ThreatModel("Linf", setting.eps)
    return settings.with_overrides(
        seed=seed,
        dataset=setting.dataset,
        supernet=settings.supernet.for_dataset(setting.dataset).at_threat(threat),
        finetune=settings.finetune.for_dataset(setting.dataset).at_threat(threat),
    )


def search_pick(plan: Preregistration, seed: int, work: Path, searches: Path) -> tuple[SearchSettings, tuple[str, ...]]:
    """One demo search's pick in the plan's band: read from the searches ledger when that search
    ran before (so a study run in parts, on another CPU, trains the picks it already chose), else
    the search is run (or resumed from its folder) and its pick appended to the ledger."""
    from robnetzoo._io import append_jsonl
    from robnetzoo.search.pipeline import run_search

    settings = demo_settings(plan, seed)
    done = read_ledger(searches)
    key = f"search|{seed}|{plan.band}"
    if key in done:
        return settings, tuple(done[key]["cell"])
    folder = work / f"search-seed{seed}"
    pick = folder / "genotypes" / f"robnet-{plan.band}.json"
    began = time.perf_counter()
    if not pick.is_file():
        print(f"running the demo search, seed {seed}, into {folder}", file=sys.stderr, flush=True)
        run_search(settings, folder, resume=(folder / "search.json").is_file(), device="cpu")
    if not pick.is_file():
        raise InvalidInput(f"the search with seed {seed} chose nothing in the {plan.band} band ({folder})")
    cell = Genotype.loads(pick.read_text()).cells[0]
    searches.parent.mkdir(parents=True, exist_ok=True)
    append_jsonl(
        searches,
        [
            {
                "key": key,
                "seed": seed,
                "band": plan.band,
                "cell": list(cell),
                "seconds": time.perf_counter() - began,
                "tags": {"preregistration": plan.digest},
            }
        ],
    )
    return settings, cell


def training(plan: Preregistration, settings: SearchSettings) -> dict[str, Any]:
    """What every training of the study shares: the setting's data set and recipe, the search's size."""
    setting = SETTINGS[plan.setting]
    return dict(
        dataset=setting.dataset,
        recipe=setting.recipe(f"study-{plan.setting}"),
        width=settings.width,
        layers=settings.layers,
        eval_n=setting.test_n,
    )


def plan_jobs(
    plan: Preregistration, picks: dict[int, tuple[str, ...]], settings: SearchSettings, folder: Path
) -> list[Job]:
    """Every training of the study: each pick over its seeds, each random cell once, every
    training from a seed of its own (two searches may pick one cell: their trainings differ)."""
    folder.mkdir(parents=True, exist_ok=True)
    common = training(plan, settings)

    def genotype_file(name: str, cell: tuple[str, ...]) -> str:
        path = folder / f"{name}.json"
        path.write_text(Genotype((cell,)).dumps())
        return str(path)

    signed = {"preregistration": plan.digest}  # every training carries the plan it was made under
    jobs = []
    for search_seed, cell in picks.items():
        model = genotype_file(f"pick-search{search_seed}", cell)
        for t in range(plan.seeds_per_pick):
            jobs.append(
                Job(
                    key=f"pick|search{search_seed}|{''.join(cell)}|seed{t}",
                    model=model,
                    seed=derive_seed(search_seed, "study-pick", t) % 2**31,
                    tags={"arm": "pick", "unit": f"search{search_seed}", "genotype": "".join(cell), **signed},
                    **common,
                )
            )
    band = settings.bands[plan.band]
    for i, cell in enumerate(band_cells(band, plan.random_architectures, seed=plan.random_seed, stream=("study",))):
        jobs.append(
            Job(
                key=f"random|{i}|{''.join(cell)}",
                model=genotype_file(f"random{i:03d}", cell),
                seed=derive_seed(i, "study-random") % 2**31,
                tags={
                    "arm": "random",
                    "unit": f"random{i}",
                    "genotype": "".join(cell),
                    "k": convolutions(cell),
                    **signed,
                },
                **common,
            )
        )
    return jobs


def analyse(plan: Preregistration, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The primary test and its verdict from the study's rows (tags ``arm`` and ``unit``)."""
    units: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        units.setdefault((row["tags"]["arm"], row["tags"]["unit"]), []).append(row["robust"][plan.measure])
    picks = [v for (arm, _), v in units.items() if arm == "pick"]
    randoms = [v for (arm, _), v in units.items() if arm == "random"]
    test = pick_versus_random({plan.band: picks}, {plan.band: randoms}, confidence=1 - plan.alpha)
    return {
        "test": test,
        "verdict": pick_verdict(test, plan.smallest_effect, plan.alpha).value,
        "units": {f"{arm}:{unit}": values for (arm, unit), values in units.items()},
    }


DESIGNS = ((3, 3, 24), (8, 2, 20), (16, 2, 40), (24, 2, 60), (32, 2, 80), (48, 2, 120))


def parse_designs(text: str) -> tuple[tuple[int, int, int], ...]:
    """``PxK+R,...`` (P searches' picks trained K times each, R random cells) as tuples."""
    designs = []
    for part in text.split(","):
        try:
            picks, rest = part.strip().split("x")
            per_pick, random = rest.split("+")
            design = (int(picks), int(per_pick), int(random))
        except ValueError:
            raise InvalidInput(f"--designs {part!r} is not PxK+R", fix="write e.g. 24x2+60,32x2+80") from None
        if design[0] < 2 or design[1] < 1 or design[2] < 2:
            raise InvalidInput(f"--designs {part!r} needs P >= 2, K >= 1, R >= 2", fix="write e.g. 24x2+60")
        designs.append(design)
    return tuple(designs)


def power_table(
    components: dict[str, Any],
    effect: float,
    alpha: float,
    simulations: int,
    designs: tuple[tuple[int, int, int], ...] = DESIGNS,
) -> list[dict[str, Any]]:
    """The simulated power of candidate designs (picks, seeds per pick, random cells) to detect
    ``effect`` points with the measured between-architecture and between-seed SDs, and each
    design's null rejection rate."""
    out = []
    for picks, per_pick, random in designs:
        common = dict(
            sd_architecture=components["between_sd"],
            sd_seed=components["within_sd"],
            design={"band": (picks, random)},
            seeds_per_pick=per_pick,
            simulations=simulations,
            alpha=alpha,
        )

        def test(p: dict, r: dict) -> float | None:
            return pick_versus_random(p, r)["p"]

        power = null_rejection_rate(test, effect=effect, seed=1, **common)
        null = null_rejection_rate(test, effect=0.0, seed=2, **common)
        out.append(
            {
                "search_seeds": picks,
                "seeds_per_pick": per_pick,
                "random_architectures": random,
                "trainings": picks * per_pick + random,
                "power": power,
                "null_rejection_rate": null,
            }
        )
    return out


def print_power(args: argparse.Namespace) -> None:
    data = json.loads(args.power.read_text())
    components = data["settings"][args.setting]["components"]
    print(
        f"{args.setting}: between-architecture sd {components['between_sd']:.2f}, between-seed sd "
        f"{components['within_sd']:.2f} ({args.power.name}); effect {args.effect} points, alpha {args.alpha}"
    )
    rows = power_table(components, args.effect, args.alpha, args.simulations, args.designs)
    for row in rows:
        print(
            f"  {row['search_seeds']} searches x {row['seeds_per_pick']} seeds + {row['random_architectures']} random "
            f"= {row['trainings']:3d} trainings: power {row['power']['rate']:.2f}, "
            f"null rejections {row['null_rejection_rate']['rate']:.3f}"
        )
    if args.power_json is not None:
        source = {"file": args.power.name, "setting": args.setting, "components": components}
        write(args.power_json, {"source": source, "effect": args.effect, "alpha": args.alpha, "designs": rows})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preregistration", type=Path, default=PLAN)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--report", action="store_true", help="analyse the ledger only; train nothing")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "robnetzoo-study")
    parser.add_argument("--ledger", type=Path, default=RESULTS / "search_vs_random-study-ledger.jsonl")
    parser.add_argument("--json", type=Path, default=default_path("search_vs_random-study"))
    parser.add_argument("--power", type=Path, help="a discrimination results file: print designs' power, train nothing")
    parser.add_argument("--setting", help="with --power: the setting whose variance components to use")
    parser.add_argument("--effect", type=float, default=5.0)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--simulations", type=int, default=2000)
    parser.add_argument("--power-json", type=Path, help="with --power: write the table's raw figures here")
    parser.add_argument("--designs", help="with --power: designs as PxK+R,... (P picks x K trainings + R random)")
    parser.add_argument(
        "--searches", type=Path, default=RESULTS / "search_vs_random-study-searches.jsonl", help="the searches' picks"
    )
    args = parser.parse_args()
    if args.power is not None:
        try:
            args.designs = parse_designs(args.designs) if args.designs else DESIGNS
            if args.setting is None:
                raise InvalidInput("--power needs --setting", fix="name the setting whose components to use")
        except RobnetzooError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        print_power(args)
        return
    began = time.perf_counter()
    try:
        plan = read_preregistration(args.preregistration)
        if plan.setting not in SETTINGS:
            raise InvalidInput(f"{plan.path} names setting {plan.setting!r}", fix=f"use one of {', '.join(SETTINGS)}")
        made = [*read_ledger(args.ledger).values(), *read_ledger(args.searches).values()]
        check_unchanged(plan, {row["tags"].get("preregistration", "") for row in made})
        check_ledger_engine(args.ledger, Job(key="", model="", seed=0, **training(plan, demo_settings(plan, 0))))
        if not args.report:
            check_committed(plan)
        if args.report:
            chosen = read_ledger(args.searches)
            waiting = [s for s in plan.search_seeds if f"search|{s}|{plan.band}" not in chosen]
            if waiting:
                raise InvalidInput(
                    f"the study is not finished: {len(waiting)} of {len(plan.search_seeds)} searches are not in "
                    f"{args.searches}",
                    fix="run the study without --report to run them",
                )
        picks, settings = {}, None
        for seed in plan.search_seeds:
            settings, picks[seed] = search_pick(plan, seed, args.work, args.searches)
        assert settings is not None
        jobs = plan_jobs(plan, picks, settings, args.work / "genotypes")
        if args.report:
            done = read_ledger(args.ledger)
            missing = [job.key for job in jobs if job.key not in done]
            if missing:
                raise InvalidInput(
                    f"the study is not finished: {len(missing)} of {len(jobs)} trainings are not in {args.ledger}",
                    fix="run the study without --report to train them",
                )
        print(f"{len(jobs)} trainings ({plan.trainings()} planned) under {plan.path}", file=sys.stderr, flush=True)
        rows = run_jobs(
            jobs,
            args.ledger,
            workers=args.workers,
            on_row=lambda r: print(
                f"  {r['key']}: {plan.measure} {r['robust'][plan.measure]:.1f}% ({r['seconds']:.0f} s)",
                file=sys.stderr,
                flush=True,
            ),
        )
    except RobnetzooError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    result = analyse(plan, [rows[job.key] for job in jobs])
    test = result["test"]
    interval = "—" if test["interval"] is None else f"[{test['interval'][0]:+.1f}, {test['interval'][1]:+.1f}]"
    print(
        f"{plan.band} band, {plan.measure}: picks of {test['n_picks']} searches against "
        f"{test['n_random']} random cells: "
        f"difference {test['difference']:+.1f} points {interval}, p {test['p']:.3g} (df {test['df']:.1f}); "
        f"verdict: {result['verdict']} (pre-registered: {plan.path})"
    )
    write(
        args.json,
        {
            "preregistration": {"path": plan.path, "digest": plan.digest},
            "plan": {k: v for k, v in asdict(plan).items() if k not in ("path", "digest")},
            "picks": {seed: "".join(cell) for seed, cell in picks.items()},
            **result,
            "wall_seconds": time.perf_counter() - began,
            "rows": [rows[job.key] for job in jobs],
        },
    )


if __name__ == "__main__":
    main()
