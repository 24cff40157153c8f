"""Architectures trained from scratch side by side: the one runner the discrimination and
search-vs-random benchmarks share.

A ``Job`` is one architecture (a registry name or a genotype file), one recipe, one seed, one
data set; ``run_jobs`` trains each with ``robnetzoo.search.runs.train_run`` (what ``robnetzoo
train`` runs: the held-out best epoch, then the test evaluation) in a temporary folder and
appends one JSON line per finished job to a ledger, so a killed benchmark resumes where it
stopped and a finished job is never trained twice. ``workers`` processes run jobs at once, one
torch thread each (``robnetzoo.search.workers``, the pool the search itself uses).

Each row records the engine settings that produced it (``engine_settings``: torch's version, the
worker's threads and memory format, the recipe, the size and the evaluation); a ledger whose row
for a job was made under other settings is refused (``LedgerMismatch``), never mixed in.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from robnetzoo.errors import InvalidInput
from robnetzoo.search.recipes import PRESETS, Recipe
from robnetzoo.search.workers import worker_pool
from robnetzoo.threat import ThreatModel

VALIDATION = 144  # held-out images for the best epoch (the digits' 10%), the same on every data set


def scratch_recipe(dataset: str, threat: ThreatModel, epochs: int, train_examples: int | None = None) -> Recipe:
    """The one recipe both benchmarks train from scratch with: the ``demo`` preset (FGSM-RS,
    cyclic lr, the overfitting guard) moved to ``dataset`` at ``threat``, for ``epochs``."""
    recipe = PRESETS["demo"].for_dataset(dataset).at_threat(threat)
    return recipe.with_overrides(
        name=f"demo-{dataset}", epochs=epochs, validation_size=VALIDATION, train_examples=train_examples
    )


@dataclass(frozen=True)
class Job:
    key: str  # unique within a ledger: what the row is found by
    model: str  # a registry name or a genotype .json file
    dataset: str
    recipe: Recipe
    seed: int
    width: int | None = None
    layers: int | None = None
    eval_attacks: tuple[str, ...] = ("pgd20",)
    eval_n: int | None = None
    data_root: str | None = None
    tags: dict[str, Any] = field(default_factory=dict)


def engine_settings(job: Job, *, threads: int | None = None) -> dict[str, Any]:
    """What, besides the seed, decides a job's figures: torch's version, the process's torch
    threads and the memory format the engine picks with them (float rounding differs), the
    recipe, the network's size and the evaluation. ``threads`` None reads this process's."""
    import torch

    from robnetzoo.search.training import default_channels_last

    threads = torch.get_num_threads() if threads is None else threads
    return {
        "torch": torch.__version__.split("+")[0],
        "threads": threads,
        "channels_last": default_channels_last("cpu", threads),
        "recipe": job.recipe.to_dict(),
        "width": job.width,
        "layers": job.layers,
        "eval_attacks": list(job.eval_attacks),
        "eval_n": job.eval_n,
    }


class LedgerMismatch(InvalidInput):
    """A ledger row for a job was made under other engine settings than the job's."""


def _check_engine(ledger: Path, row: dict[str, Any], job: Job) -> None:
    expected = engine_settings(job, threads=1)
    if row.get("engine") != expected:
        differs = sorted(k for k, v in expected.items() if (row.get("engine") or {}).get(k) != v)
        raise LedgerMismatch(
            f"{ledger} holds {row['key']!r} trained under other engine settings ({', '.join(differs)} differ)",
            fix="give another --ledger, or run with the settings that made it",
        )


def check_ledger_engine(ledger: Path, job: Job) -> None:
    """Refuse a ledger any of whose rows was made under other engine settings than ``job``'s
    (for a study whose every training shares them, checked before any work)."""
    for row in read_ledger(ledger).values():
        _check_engine(ledger, row, job)


def run_job(job: Job) -> dict[str, Any]:
    """Train ``job`` from scratch and return its row (test figures, time, the best epoch)."""
    from robnetzoo.search.runs import train_run

    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = train_run(
            job.model,
            dataset=job.dataset,
            recipe=job.recipe,
            output=Path(tmp) / "run",
            data_root=job.data_root,
            width=job.width,
            layers=job.layers,
            seed=job.seed,
            device="cpu",
            eval_attacks=list(job.eval_attacks),
            eval_n=job.eval_n,
        )
        params = json.loads((Path(tmp) / "run" / "config.json").read_text())
    report = result.report
    assert report is not None
    return {
        "key": job.key,
        "model": job.model,
        "dataset": job.dataset,
        "seed": job.seed,
        "tags": job.tags,
        "threat": str(report.threat()),
        "n": report.n_examples,
        "clean": report.clean_accuracy,
        "robust": dict(report.robust_accuracy),
        "worst_case": report.worst_case_accuracy,
        "best_epoch": (result.best or {}).get("epoch"),
        "epochs": len(result.history),
        "planned_epochs": job.recipe.epochs,
        "held_out_robust": (result.best or {}).get("robust"),
        "held_out_curve": [entry.get("val_robust_accuracy") for entry in result.history],
        "seconds": time.perf_counter() - began,
        "config_name": params.get("name"),
        "recipe": job.recipe.name,
        "engine": engine_settings(job),
    }


def read_ledger(path: Path) -> dict[str, dict[str, Any]]:
    """The finished rows of a ledger by key; a torn last line (a kill mid-write) is dropped."""
    rows: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return rows
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        rows[row["key"]] = row
    return rows


def run_jobs(
    jobs: list[Job], ledger: Path, *, workers: int = 2, on_row: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, dict[str, Any]]:
    """Every job's row, training those the ledger lacks (``workers`` at a time); a ledger row
    made under other engine settings than its job's raises ``LedgerMismatch`` before any training."""
    done = read_ledger(ledger)
    for job in jobs:
        if job.key in done:
            _check_engine(ledger, done[job.key], job)
    todo = [job for job in jobs if job.key not in done]
    ledger.parent.mkdir(parents=True, exist_ok=True)
    if done:
        text = "".join(json.dumps(row) + "\n" for row in done.values())
        ledger.write_text(text)  # drops a torn tail before appending
    if todo:
        with worker_pool(max(1, workers)) as pool:
            futures = {pool.submit(run_job, job): job for job in todo}
            while futures:
                for future in pool.finished(futures):
                    del futures[future]
                    row = future.result()
                    with ledger.open("a") as handle:
                        handle.write(json.dumps(row) + "\n")
                    done[row["key"]] = row
                    if on_row is not None:
                        on_row(row)
    return {job.key: done[job.key] for job in jobs}


def job_dict(job: Job) -> dict[str, Any]:
    data = asdict(job)
    data["recipe"] = job.recipe.to_dict()
    return data
