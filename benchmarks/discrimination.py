"""Can a data set and radius tell architectures apart? Architectures from different budget bands,
trained from scratch with one recipe and several seeds, compared by how much their robust
accuracy differs *between architectures* against how much it differs *between seeds*.

For each setting (a data set at a radius) every architecture is trained ``--seeds`` times with
the ``demo`` recipe (FGSM from a random start, step 1.25 eps, cyclic lr, the overfitting guard)
moved to that data set and radius, at width ``--width`` and ``--layers`` cells, and evaluated
by PGD-20 (step eps/4) on the test split. Declared before the run, per setting:

* the reference (the published robnet-large cell) and its mean PGD-20 over seeds;
* the between-architecture and between-seed standard deviations of PGD-20, the share of
  variance between architectures, and the one-way ANOVA p of "the architectures differ",
  Holm-adjusted over the settings;
* a setting *can tell architectures apart* when its adjusted p < 0.05, and *suits the demo*
  when, besides, the reference sits between 30% and 80% PGD-20 (neither saturated nor
  untrained).

    python benchmarks/discrimination.py [--settings digits:8/255,digits:32/255,fashion-mnist:0.1]
        [--seeds 2] [--epochs 5] [--width 4] [--layers 5] [--train-n 3000] [--test-n 500] [--workers 2]

Run it alone: about 40 minutes on 2 cores at the defaults (42 measured, with other work on the
machine part of the time). Fashion-MNIST needs its files (Debian's ``dataset-fashion-mnist``, or
``--data-root``); ``--ledger`` keeps finished trainings, so a killed run resumes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from _arms import VALIDATION, Job, run_jobs, scratch_recipe  # benchmarks/_arms.py: train side by side, resumable ledger
from _results import RESULTS, default_path, write  # benchmarks/_results.py: raw figures and the machine

from robnetzoo.data import DATASET_INFO  # noqa: E402
from robnetzoo.genotype import Genotype  # noqa: E402
from robnetzoo.search.recipes import Recipe  # noqa: E402
from robnetzoo.search.sampling import cell_with_convs  # noqa: E402
from robnetzoo.seeding import derive_seed  # noqa: E402
from robnetzoo.stats import holm, variance_components  # noqa: E402
from robnetzoo.threat import ThreatModel, parse_eps  # noqa: E402

REFERENCE = "robnet-large"
DEMO_BAND = (30.0, 80.0)


def architectures(folder: Path) -> dict[str, str]:
    """Name -> model: a sparse and a medium random cell (fixed draws) and the published
    robnet-large cell (13 convolutions), one from each budget band."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, k in (("sparse-2conv", 2), ("medium-7conv", 7)):
        generator = torch.Generator().manual_seed(derive_seed(0, "discrimination", k))
        path = folder / f"{name}.json"
        path.write_text(Genotype((cell_with_convs(generator, k),)).dumps())
        out[name] = str(path)
    out[f"{REFERENCE}-13conv"] = REFERENCE
    return out


def recipe_for(dataset: str, eps: float, epochs: int, train_n: int | None) -> Recipe:
    return scratch_recipe(dataset, ThreatModel("Linf", eps), epochs, train_n if dataset != "digits" else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", default="digits:8/255,digits:32/255,fashion-mnist:0.1")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--width", type=int, default=4)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--train-n", type=int, default=3000, help="training images of the larger data sets")
    parser.add_argument("--test-n", type=int, default=500, help="test images (the digits have 360)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--ledger", type=Path, default=RESULTS / "discrimination-ledger.jsonl")
    parser.add_argument("--json", type=Path, default=default_path("discrimination"))
    args = parser.parse_args()
    settings = []
    for part in args.settings.split(","):
        dataset, _, eps = part.partition(":")
        if dataset not in DATASET_INFO:
            parser.error(f"unknown data set {dataset!r} in --settings")
        settings.append((dataset, parse_eps(eps) if eps else DATASET_INFO[dataset].threat_model.eps, part))
    archs = architectures(args.ledger.parent / "discrimination-genotypes")
    jobs = [
        Job(
            key=f"{label}|{arch}|seed{seed}",
            model=model,
            dataset=dataset,
            recipe=recipe_for(dataset, eps, args.epochs, args.train_n),
            seed=seed,
            width=args.width,
            layers=args.layers,
            eval_n=args.test_n,
            data_root=args.data_root,
            tags={"setting": label, "arch": arch},
        )
        for dataset, eps, label in settings
        for arch, model in archs.items()
        for seed in range(args.seeds)
    ]
    print(
        f"{len(jobs)} trainings: {len(settings)} settings x {len(archs)} architectures x {args.seeds} seeds",
        file=sys.stderr,
        flush=True,
    )
    rows = run_jobs(
        jobs,
        args.ledger,
        workers=args.workers,
        on_row=lambda r: print(
            f"  {r['key']}: clean {r['clean']:.1f}% pgd20 {r['robust']['pgd20']:.1f}% ({r['seconds']:.0f} s)",
            file=sys.stderr,
            flush=True,
        ),
    )
    per_setting: dict[str, Any] = {}
    for _, _, label in settings:
        groups = {
            arch: [rows[f"{label}|{arch}|seed{s}"]["robust"]["pgd20"] for s in range(args.seeds)] for arch in archs
        }
        clean = {arch: [rows[f"{label}|{arch}|seed{s}"]["clean"] for s in range(args.seeds)] for arch in archs}
        reference = groups[f"{REFERENCE}-13conv"]
        per_setting[label] = {
            "pgd20": groups,
            "clean": clean,
            "components": variance_components(groups),
            "reference_mean": sum(reference) / len(reference),
            "n_test": rows[f"{label}|{REFERENCE}-13conv|seed0"]["n"],
        }
    adjusted = holm({label: s["components"]["p"] for label, s in per_setting.items()})
    print(
        f"{'setting':22s} {'reference pgd20':>15s} {'between-arch sd':>15s} {'between-seed sd':>15s} "
        f"{'ANOVA p (Holm)':>15s}  verdict"
    )
    for label, s in per_setting.items():
        c, p = s["components"], adjusted[label]
        s["p_holm"] = p
        s["tells_apart"] = p is not None and p < 0.05
        s["suits_demo"] = s["tells_apart"] and DEMO_BAND[0] <= s["reference_mean"] <= DEMO_BAND[1]
        verdict = (
            "suits the demo"
            if s["suits_demo"]
            else "tells architectures apart"
            if s["tells_apart"]
            else "cannot decide"
        )
        fmt = lambda v: "—" if v is None else f"{v:.2f}"  # noqa: E731
        print(
            f"{label:22s} {s['reference_mean']:14.1f}% {fmt(c['between_sd']):>15s} {fmt(c['within_sd']):>15s} "
            f"{fmt(p):>15s}  {verdict}"
        )
        for arch, values in s["pgd20"].items():
            print(
                f"    {arch:18s} pgd20 {', '.join(f'{v:.1f}' for v in values)}  clean "
                f"{', '.join(f'{v:.1f}' for v in s['clean'][arch])}"
            )
    write(
        args.json,
        {
            "settings": per_setting,
            "architectures": archs,
            "seeds": args.seeds,
            "epochs": args.epochs,
            "width": args.width,
            "layers": args.layers,
            "train_n": args.train_n,
            "test_n": args.test_n,
            "workers": args.workers,
            "threads_per_worker": 1,
            "recipe": "demo (FGSM-rs, cyclic, overfitting guard) moved to each data set and radius",
            "validation": VALIDATION,
            "demo_band": DEMO_BAND,
            "rows": list(rows.values()),
        },
    )


if __name__ == "__main__":
    main()
