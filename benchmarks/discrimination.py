"""Can a training setting tell architectures of one band apart? Random cells of the band a search
chooses within, each trained from scratch with several seeds, and the share of the variance of
their robust accuracy that lies between architectures rather than between seeds.

A search can only pick better than chance where architectures differ more than seeds do: if the
intraclass correlation (between-architecture variance over the total) is near 0, any pick is a
draw of training noise. Per setting (a data set, a radius and a recipe), ``--cells`` random cells
of the ``--band`` band, drawn as the search draws its candidates (``sampler="density"``) and kept
when their convolutions fall in the band, are each trained ``--seeds`` times at width ``--width``
and ``--layers`` cells, and judged by PGD-20 (step eps/4) on the test split. Reported per setting:

* the intraclass correlation with its exact 95% interval (one-way ANOVA, ``stats.icc_interval``),
  the between-architecture and between-seed standard deviations, the F test;
* whether training reached a plateau: a training has when its best held-out epoch came before
  the last or its held-out PGD-20 gained under ``PLATEAU_GAIN`` points over the last quarter of
  its epochs (a cyclic schedule anneals to 0, so its last epoch is often its best by a hair);
  the share of trainings that did, their mean late gain, and how many the overfitting guard stopped;
* the setting with the highest lower bound of the ICC among those run: the one a search and a
  study of it should use.

Settings (``SETTINGS``): ``fgsm-rs-8`` (the ``demo`` recipe, FGSM from a random start, 5 epochs,
digits at 8/255), ``nfgsm-8`` and ``nfgsm-16`` (the ``n-fgsm`` recipe, 15 epochs, digits at 8/255
and 16/255: one grey level of the scans), ``nfgsm-fashion`` (Fashion-MNIST at 0.1, 3,000 training
images; needs Debian's ``dataset-fashion-mnist`` or ``--data-root``).

    python benchmarks/discrimination.py [--settings fgsm-rs-8,nfgsm-8,nfgsm-16] [--band small]
        [--cells 12] [--seeds 3] [--width 4] [--layers 5] [--workers 2]

Run it alone, two workers of one thread; ``--ledger`` keeps finished trainings (with the engine
settings that made them), so a killed run resumes, and a run may be split by ``--settings``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from _arms import VALIDATION, Job, run_jobs  # benchmarks/_arms.py: train side by side, resumable ledger
from _results import RESULTS, default_path, write  # benchmarks/_results.py: raw figures and the machine

from robnetzoo.errors import InvalidInput  # noqa: E402
from robnetzoo.genotype import Genotype  # noqa: E402
from robnetzoo.search.recipes import PRESETS, Recipe  # noqa: E402
from robnetzoo.search.sampling import band_cells, convolutions  # noqa: E402
from robnetzoo.search.settings import PAPER_BANDS  # noqa: E402
from robnetzoo.stats import variance_components  # noqa: E402
from robnetzoo.threat import ThreatModel  # noqa: E402


@dataclass(frozen=True)
class Setting:
    """A data set at a radius, trained by a recipe preset for ``epochs``."""

    dataset: str
    eps: float
    preset: str
    epochs: int
    batch_size: int = 64
    train_n: int | None = None
    test_n: int | None = None

    def recipe(self, name: str) -> Recipe:
        base = PRESETS[self.preset].for_dataset(self.dataset).at_threat(ThreatModel("Linf", self.eps))
        return base.with_overrides(
            name=name,
            epochs=self.epochs,
            batch_size=self.batch_size,
            validation_size=VALIDATION,
            train_examples=self.train_n,
        )


SETTINGS: dict[str, Setting] = {
    "fgsm-rs-8": Setting("digits", 8 / 255, "demo", 5),
    "nfgsm-8": Setting("digits", 8 / 255, "n-fgsm", 15),
    "nfgsm-16": Setting("digits", 16 / 255, "n-fgsm", 15),
    "nfgsm-fashion": Setting("fashion-mnist", 0.1, "n-fgsm", 15, batch_size=128, train_n=3000, test_n=500),
}


def parse_settings(text: str) -> list[str]:
    """Comma-separated setting names, each one of ``SETTINGS``; anything else is one line."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in SETTINGS]
    if unknown or not names:
        raise InvalidInput(
            f"unknown setting {unknown[0]!r}" if unknown else "no setting given",
            fix=f"name settings from {', '.join(SETTINGS)}",
        )
    return names


PLATEAU_GAIN = 2.0  # held-out PGD-20 points over the last quarter of the epochs


def late_gain(curve: list[float | None]) -> float | None:
    """Held-out robust accuracy gained over the last quarter of a training's epochs."""
    values = [v for v in curve if v is not None]
    if len(values) < 4:
        return None
    return values[-1] - values[len(values) - 1 - len(values) // 4]


def plateaued(row: dict[str, Any]) -> bool:
    gain = late_gain(row.get("held_out_curve") or [])
    early_best = row["best_epoch"] is not None and row["best_epoch"] < row["epochs"]
    return early_best or (gain is not None and gain < PLATEAU_GAIN)


def analyse(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One setting's figures from its ledger rows (tags ``arch``): the variance components with
    the ICC's interval, the plateau share, the guard's stops, the mean robust and clean accuracy."""
    groups: dict[str, list[float]] = {}
    for row in rows:
        groups.setdefault(row["tags"]["arch"], []).append(row["robust"]["pgd20"])
    gains = [g for g in (late_gain(row.get("held_out_curve") or []) for row in rows) if g is not None]
    stopped = [row["epochs"] < row["planned_epochs"] for row in rows]
    return {
        "pgd20": groups,
        "components": variance_components(groups),
        "trainings": len(rows),
        "plateau_share": float(np.mean([plateaued(row) for row in rows])) if rows else None,
        "mean_late_gain": float(np.mean(gains)) if gains else None,
        "stopped_by_guard": int(sum(stopped)),
        "mean_pgd20": float(np.mean([r["robust"]["pgd20"] for r in rows])) if rows else None,
        "mean_clean": float(np.mean([r["clean"] for r in rows])) if rows else None,
    }


def best_setting(per_setting: dict[str, dict[str, Any]]) -> str | None:
    """The setting whose ICC has the highest lower bound (None when none has an interval)."""
    bounded = {k: s["components"]["icc_interval"][0] for k, s in per_setting.items() if s["components"]["icc_interval"]}
    return max(bounded, key=lambda k: bounded[k]) if bounded else None


def _fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", default="fgsm-rs-8,nfgsm-8,nfgsm-16", help=f"of {', '.join(SETTINGS)}")
    parser.add_argument("--band", default="small", choices=list(PAPER_BANDS))
    parser.add_argument("--cells", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--width", type=int, default=4)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--ledger", type=Path, default=RESULTS / "discrimination-band-ledger.jsonl")
    parser.add_argument("--json", type=Path, default=default_path("discrimination"))
    args = parser.parse_args()
    try:
        names = parse_settings(args.settings)
        if args.cells < 2 or args.seeds < 2:
            raise InvalidInput("the ICC needs at least 2 cells and 2 seeds", fix="raise --cells or --seeds")
        cells = band_cells(PAPER_BANDS[args.band], args.cells, stream=("discrimination", args.band))
        folder = args.ledger.parent / "discrimination-genotypes"
        folder.mkdir(parents=True, exist_ok=True)
        models = {}
        for i, cell in enumerate(cells):
            path = folder / f"{args.band}-{i:02d}.json"
            path.write_text(Genotype((cell,)).dumps())
            models[f"{args.band}-{i:02d}"] = path
        jobs = [
            Job(
                key=f"{name}|{arch}|{''.join(cells[i])}|seed{seed}",
                model=str(models[arch]),
                dataset=SETTINGS[name].dataset,
                recipe=SETTINGS[name].recipe(f"discrimination-{name}"),
                seed=seed,
                width=args.width,
                layers=args.layers,
                eval_n=SETTINGS[name].test_n,
                data_root=args.data_root,
                tags={"setting": name, "arch": arch, "convolutions": convolutions(cells[i])},
            )
            for name in names
            for i, arch in enumerate(models)
            for seed in range(args.seeds)
        ]
        print(
            f"{len(jobs)} trainings: {len(names)} settings x {len(cells)} {args.band}-band cells x {args.seeds} seeds",
            file=sys.stderr,
            flush=True,
        )
        rows = run_jobs(
            jobs,
            args.ledger,
            workers=args.workers,
            on_row=lambda r: print(
                f"  {r['key']}: clean {r['clean']:.1f}% pgd20 {r['robust']['pgd20']:.1f}% best epoch "
                f"{r['best_epoch']}/{r['epochs']} ({r['seconds']:.0f} s)",
                file=sys.stderr,
                flush=True,
            ),
        )
    except InvalidInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    per_setting = {name: analyse([rows[job.key] for job in jobs if job.tags["setting"] == name]) for name in names}
    chosen = best_setting(per_setting)
    print(
        f"{'setting':14s} {'ICC [95%]':>20s} {'arch sd':>8s} {'seed sd':>8s} {'F p':>7s} {'pgd20':>6s} "
        f"{'clean':>6s} {'plateau':>8s} {'late gain':>9s} {'stopped':>8s}"
    )
    for name, s in per_setting.items():
        c = s["components"]
        icc = (
            f"{_fmt(c['icc'])} [{_fmt(c['icc_interval'][0])}, {_fmt(c['icc_interval'][1])}]"
            if c["icc"] is not None
            else "—"
        )
        print(
            f"{name:14s} {icc:>20s} {_fmt(c['between_sd']):>8s} {_fmt(c['within_sd']):>8s} {_fmt(c['p'], 3):>7s} "
            f"{_fmt(s['mean_pgd20'], 1):>6s} {_fmt(s['mean_clean'], 1):>6s} {s['plateau_share']:8.0%} "
            f"{_fmt(s['mean_late_gain'], 1):>9s} "
            f"{s['stopped_by_guard']:>8d}"
        )
    if chosen is not None:
        print(
            f"highest lower bound of the ICC: {chosen} ({_fmt(per_setting[chosen]['components']['icc_interval'][0])})"
        )
    write(
        args.json,
        {
            "settings": per_setting,
            "setting_definitions": {
                name: {**asdict(SETTINGS[name]), "recipe": SETTINGS[name].recipe(f"discrimination-{name}").to_dict()}
                for name in names
            },
            "chosen": chosen,
            "band": args.band,
            "cells": {arch: "".join(cell) for arch, cell in zip(models, cells)},
            "seeds": args.seeds,
            "width": args.width,
            "layers": args.layers,
            "workers": args.workers,
            "threads_per_worker": 1,
            "validation": VALIDATION,
            "rows": [rows[job.key] for job in jobs],
        },
    )


if __name__ == "__main__":
    main()
