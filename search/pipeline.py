"""``run_search``: the whole robust architecture search in one folder, resumable.

Phases, each resumable where it stopped:

1. **supernet** — the one-shot supernet trained by the one engine (``Trainer``) with path
   dropout, checkpointed like any training run (``supernet/checkpoint.pt``); its final weights
   go to ``supernet/supernet.safetensors``. With ``supernets`` K > 1, K supernets from
   different seeds (``supernet``, ``supernet-1``...), and one more for the hold-out re-score.
2. **screen** — every candidate's cheap scores from the supernet's weights (``inherited`` and
   per-cell FSP losses) and its facts (density, convolutions, final-size parameters and MACs);
   under each further supernet its ``inherited`` score again (stage ``screen-1``...).
3. **finetune** — the candidates to finetune: every one for ``--scorer finetune`` (the cell-free
   ones after the FSP filter), otherwise ``finetune_subset`` cell-based ones drawn at random,
   against which the proxies are judged.
4. **pairs** — Finding 2's paired experiment (``search.pairs``): base cells and their twins
   with one convolution moved to a direct edge, scored alike.
5. **holdout** — every candidate a band could choose, re-scored on held-out training images
   nothing else reads (not even the overfitting guard, which watches the validation images)
   under one more supernet that no choice read: a winner's search score is biased upward by its
   selection, both by the images and by the supernet's own training noise, and its rank among
   its band's candidates there, beside the band's own drop, tells the two apart.
6. **analysis** and **selection** — the leaderboard and the results table, ``analysis.json``,
   plots, cell drawings and ``report.html``, and the genotype of each band
   (``genotypes/robnet-*.json``); ``summary.json`` last, which marks the search finished.

The phases are an order of dependence, not of time: without torchrun each piece of work
(``Work``: one supernet, or one candidate under one supernet) goes to a pool of processes of one
torch thread each (``search.workers``) as soon as what it needs is done, so the supernets train
side by side and a supernet's candidates are scored while the next trains. Every piece computes
from the settings and the folder alone, in one thread, so the leaderboard is the same for any
number of workers. Candidates are appended to ``candidates.jsonl`` as each is scored
(``Ledger``), in the order they finish. Under torchrun the phases run one after the other:
each supernet trains data-parallel (other numbers than one process's), candidates are dealt
round-robin to the ranks, each scored ``alone`` from (seed, index), and rank 0 appends the
round's records. Either way a killed search resumes without redoing a candidate.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch.utils.data import Dataset

from robnetzoo import distributed
from robnetzoo._io import OutputMode, output_mode, read_json, record_to_dict, write_json
from robnetzoo.data import NUM_CLASSES, VALIDATION_SEED, first_n, load_dataset, train_validation_split
from robnetzoo.device import resolve_device
from robnetzoo.errors import InvalidInput, option
from robnetzoo.events import (
    CandidateScored,
    EpochFinished,
    EvalProgress,
    ProgressFn,
    SearchPhase,
    SearchStarted,
    StageProgress,
    TrainingStarted,
    TrainingStep,
    ignore,
)
from robnetzoo.genotype import EDGES_PER_CELL, Genotype
from robnetzoo.seeding import derive_seed
from robnetzoo.weights import read_safetensors, write_safetensors

from . import analysis as findings
from .candidates import candidate_seed, finetune, finetuned_model, inherited_score, judge, screen
from .leaderboard import LeaderboardRow, Ledger, leaderboard_rows, screen_stage, write_leaderboard
from .pairs import PairBase, plan_pairs
from .sampling import sample_candidates
from .selection import Choice, holdout_reading, select, write_genotypes
from .settings import SearchSettings, radius_note
from .supernet import Supernet
from .training import Trainer, search_channels_last
from .workers import Pool, default_workers, worker_pool
from .workers import report as report_progress

SETTINGS_FILE, SUMMARY_FILE, LEDGER_FILE = "search.json", "summary.json", "candidates.jsonl"
SUPERNET_DIR = "supernet"
TRAINING_FILE = "training.json"  # how the supernet's training ended (a guard's stop, its notes)
HOLDOUT_SEED = 1  # the re-scoring images, carved from what is left of the training split


@dataclass(frozen=True)
class Candidate:
    index: int
    space: str  # "cell" or "free"
    genotype: Genotype


@dataclass
class SearchResult:
    """A finished search: its folder, leaderboard rows (best first), analysis and choices."""

    folder: Path
    settings: SearchSettings
    rows: list[LeaderboardRow]
    analysis: dict[str, Any]
    selection: dict[str, Choice]
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "settings": self.settings.to_dict(),
            "seconds": self.seconds,
            "candidates": len(self.rows),
            "top": [record_to_dict(r) for r in self.rows[:10]],
            "analysis": self.analysis,
            "selection": {name: choice.to_dict() for name, choice in self.selection.items()},
            "notes": self.notes,
        }


def space_size(space: str, layers: int) -> int:
    """How many distinct genotypes a space holds (4 codes per edge)."""
    cells = 1 if space == "cell" else layers
    return 4 ** (EDGES_PER_CELL * cells)


def plan_candidates(settings: SearchSettings) -> list[Candidate]:
    """Every candidate of the search, by index: the cell-based ones first, then the cell-free
    ones; each drawn from (seed, its index) alone."""
    plan: list[Candidate] = []
    pools = []
    if settings.space in ("cell", "both"):
        pools.append(("cell", settings.candidates))
    if settings.space in ("free", "both"):
        pools.append(("free", settings.free_candidates))
    for space, n in pools:
        if n > space_size(space, settings.layers):
            raise InvalidInput(
                f"{n} candidates asked for, but the {space} space of {settings.layers} layers holds only "
                f"{space_size(space, settings.layers):,} distinct architectures; ask for fewer"
            )
        genotypes = sample_candidates(
            n,
            seed=settings.genotype_seed,
            space=space,
            layers=settings.layers,
            by=settings.sampler,
            first_index=len(plan),
        )
        plan += [Candidate(len(plan) + i, space, g) for i, g in enumerate(genotypes)]
    return plan


# ---------------------------------------------------------------------------------- the folder


def prepare_folder(folder: Path, settings: SearchSettings, resume: bool) -> None:
    """Create the search folder, or check the one to resume; never overwrite a search."""
    settings_file = folder / SETTINGS_FILE
    what = "a finished search" if (folder / SUMMARY_FILE).exists() else "an unfinished search"
    if (
        output_mode(folder, what, holds=settings_file.is_file(), resume=resume, can_overwrite=False)
        is OutputMode.RESUME
    ):
        differ = read_settings(folder).differences(settings)
        if differ:
            raise InvalidInput(
                f"cannot resume: {folder} was made with different {', '.join(differ)}",
                fix=f"rerun with the same settings, or give {option('output')} a new folder",
                path=folder,
            )
        return
    distributed.barrier()  # every rank has checked the folder before rank 0 writes into it
    if distributed.current().is_main:
        folder.mkdir(parents=True, exist_ok=True)
        write_json(settings_file, settings.to_dict(), indent=1)
    distributed.barrier()


def read_settings(folder: str | Path) -> SearchSettings:
    """The settings a search folder was made with (``search.json``)."""
    folder = Path(folder)
    data = read_json(
        folder / SETTINGS_FILE,
        "search's search.json",
        expect=dict,
        missing=f"{folder} is not a search folder (no {SETTINGS_FILE}); give the {option('output')} of a search",
        fix="it is damaged: start the search again in a new folder",
    )
    return SearchSettings.from_dict(data, source=str(folder / SETTINGS_FILE))


@dataclass(frozen=True)
class SearchData:
    """The training split in three disjoint parts: ``train`` (the supernet, finetuning and
    BatchNorm recalibration), ``validation`` (every candidate's score) and ``holdout`` (the
    candidates' re-score; None when ``holdout_size`` is 0). The test split is never
    read."""

    train: Dataset
    validation: Dataset
    holdout: Dataset | None


def load_search_data(settings: SearchSettings, data_root: str | Path | None = None) -> SearchData:
    """The three parts of ``SearchData``, each by a fixed seeded permutation."""
    full = load_dataset(settings.dataset, split="train", root=data_root)
    needed = max(settings.score_examples or 0, settings.fsp_examples, 1)
    if settings.validation_size < needed:
        raise InvalidInput(
            f"the validation split ({settings.validation_size} images) is smaller than the {needed} the scorers use",
            fix=f"raise {option('validation_size')} or lower the scoring examples",
        )
    train, validation = train_validation_split(full, settings.validation_size, seed=VALIDATION_SEED)
    holdout = None
    if settings.holdout_size:
        if settings.holdout_size >= len(train):  # type: ignore[arg-type]
            raise InvalidInput(
                f"a hold-out of {settings.holdout_size} images leaves no training images",
                fix=f"lower {option('holdout_size')}",
            )
        train, holdout = train_validation_split(train, settings.holdout_size, seed=HOLDOUT_SEED)
    if len(train) < settings.supernet.batch_size:  # type: ignore[arg-type]
        raise InvalidInput(
            f"{settings.dataset} leaves {len(train)} training images after the validation split, fewer than one "  # type: ignore[arg-type]
            f"batch of {settings.supernet.batch_size}",
            fix=f"lower {option('validation_size')}",
        )
    return SearchData(train, validation, holdout)


# ---------------------------------------------------------------------------------- the phases


def supernet_dir(replica: int) -> str:
    """The folder of supernet ``replica``: ``supernet`` for the first, ``supernet-1``... after."""
    return SUPERNET_DIR if replica == 0 else f"{SUPERNET_DIR}-{replica}"


def train_supernet(
    settings: SearchSettings,
    folder: Path,
    train: Dataset,
    *,
    device: torch.device,
    progress: ProgressFn,
    guard: Dataset | None = None,
    replica: int = 0,
) -> Supernet:
    """Phase 1; returns the trained supernet ``replica`` (read back from its folder when
    already done). Replica 0 is seeded by the search's seed alone (a one-supernet search is
    what it always was); each further replica by a seed derived from it and its number."""
    from .sampling import PathDropout

    num_classes = NUM_CLASSES.get(settings.dataset, getattr(train, "num_classes", 10))
    init_seed = derive_seed(settings.seed, "supernet-init", *([replica] if replica else []))
    train_seed = settings.seed if replica == 0 else derive_seed(settings.seed, "supernet-train", replica)
    with torch.random.fork_rng(devices=[]):  # the initial weights follow the search's seed alone
        torch.manual_seed(init_seed)
        supernet = Supernet(settings.width, settings.layers, num_classes, space=settings.space)
    directory = folder / supernet_dir(replica)
    weights = directory / "supernet.safetensors"
    if weights.is_file():
        supernet.load_state_dict(read_safetensors(weights), strict=True)
        return supernet.to(device)
    if distributed.current().is_main:
        directory.mkdir(exist_ok=True)
    distributed.barrier()
    log = directory / "train_log.jsonl"
    recipe = settings.supernet_recipe
    if recipe.train_examples is not None:
        train = first_n(train, recipe.train_examples)

    def on_epoch(entry: dict[str, Any]) -> None:
        with open(log, "a") as handle:
            handle.write(json.dumps(entry) + "\n")

    trainer = Trainer(
        supernet,
        recipe,
        train,
        None,
        device=device,
        seed=train_seed,
        guard=guard,
        channels_last=search_channels_last(device),
        checkpoint=directory / "checkpoint.pt",
        before_batch=PathDropout(space=settings.space, layers=settings.layers, by=settings.sampler),
        progress=progress,
        on_epoch=on_epoch,
    )
    trainer.fit(resume=True)
    if distributed.current().is_main:
        write_json(
            directory / TRAINING_FILE, {"stopped": trainer.stopped, "epochs": trainer.epoch, "notes": trainer.notes}
        )
        write_safetensors(trainer.module, weights, {"format": "robnetzoo-supernet"})
    distributed.barrier()
    return supernet


def score_pair(
    supernet: Supernet,
    pair: PairBase,
    *,
    validation: Dataset,
    calibration: Dataset,
    settings: SearchSettings,
    device: torch.device,
) -> dict[str, Any]:
    """The paired experiments' record of one base cell: its inherited score, its moved twins'
    (Finding 2) and its densified twin's (Finding 1's connectivity)."""

    def score(genotype: Genotype) -> dict[str, Any]:
        return {
            "genotype": str(genotype),
            **inherited_score(
                supernet, genotype, images=validation, calibration=calibration, settings=settings, device=device
            ),
        }

    base = score(pair.base)
    moved = {reading: score(genotype) for reading, genotype in pair.moved.items()}
    densified = score(pair.densified)
    return {
        "stage": "pair",
        "index": pair.index,
        "convs": pair.convs,
        "base": base,
        "moved": moved,
        "densified": densified,
        "seconds": base["seconds"] + densified["seconds"] + sum(m["seconds"] for m in moved.values()),
    }


def rescore(
    supernet: Supernet,
    candidate: Candidate,
    *,
    holdout: Dataset,
    train: Dataset,
    settings: SearchSettings,
    device: torch.device,
) -> dict[str, Any]:
    """A chosen architecture's score on the hold-out images, by the search's own scorer: the
    inherited weights, or (``scorer="finetune"``) the same finetuning again (same seed)."""
    began = time.perf_counter()
    if settings.scorer == "finetune":
        with distributed.alone():
            model = finetuned_model(
                supernet,
                candidate.genotype,
                train=train,
                settings=settings,
                seed=candidate_seed(settings.seed, candidate.index),
                device=device,
            )
            scores = judge(model, holdout, settings, device, n_examples=len(holdout))  # type: ignore[arg-type]
    else:
        scores = inherited_score(
            supernet,
            candidate.genotype,
            images=holdout,
            calibration=train,
            settings=settings,
            device=device,
            n_examples=len(holdout),  # type: ignore[arg-type]
        )
    return {
        "stage": "holdout",
        "index": candidate.index,
        "space": candidate.space,
        **scores,
        "seconds": time.perf_counter() - began,
    }


def run_stage(
    stage: str, todo: list[Any], ledger: Ledger, work: Callable[[Any], dict[str, Any]], progress: ProgressFn
) -> None:
    """Score ``todo`` (those without a ``stage`` record yet), dealt round-robin to the ranks;
    rank 0 appends each round's records as they arrive."""
    context = distributed.current()
    done = ledger.read()
    pending = [c for c in todo if (stage, c.index) not in done]
    total, finished = len(todo), len(todo) - len(pending)
    progress(StageProgress(stage, finished, total))
    for start in range(0, len(pending), context.world_size):
        round_ = pending[start : start + context.world_size]
        mine = round_[context.rank] if context.rank < len(round_) else None
        record = None if mine is None else work(mine)
        records = [r for r in distributed.all_gather_objects(record) if r is not None]
        if context.is_main:
            ledger.append(records)
        finished += len(records)
        for r in records:
            progress(CandidateScored(stage, finished, total, r))
    distributed.barrier()


def fsp_filter(records: dict[tuple[str, int], dict[str, Any]], keep: float) -> set[int]:
    """The cell-free candidates the FSP filter keeps: the ``keep`` fraction with the lowest FSP
    loss of the deeper cells (at least one), ties by index."""
    free = sorted(
        (r["fsp"]["deep_loss"], i) for (stage, i), r in records.items() if stage == "screen" and r["space"] == "free"
    )
    if not free:
        return set()
    n = max(1, round(keep * len(free)))
    return {i for _, i in free[:n]}


def finetune_plan(
    plan: list[Candidate], records: dict[tuple[str, int], dict[str, Any]], settings: SearchSettings, kept_free: set[int]
) -> list[Candidate]:
    """Who is finetuned (see the module docstring). A subset is drawn at random from the
    cell-based candidates (seeded), so the proxies are judged on the population they rank, not
    on candidates chosen by the proxy itself."""
    cell = [c for c in plan if c.space == "cell"]
    free = [c for c in plan if c.space == "free" and c.index in kept_free]
    if settings.scorer == "finetune" and settings.finetune_subset is None:
        return cell + free
    k = len(cell) if settings.finetune_subset is None else min(settings.finetune_subset, len(cell))
    if k == 0:
        return []

    generator = torch.Generator().manual_seed(derive_seed(settings.seed, "finetune-subset"))
    picks = torch.randperm(len(cell), generator=generator)[:k].tolist()
    return sorted((cell[p] for p in picks), key=lambda c: c.index)


# ---------------------------------------------------------------------------------- the search


@dataclass(frozen=True)
class Work:
    """One piece of a search: train supernet ``replica`` (``stage`` ``"supernet"``), or score
    ``item`` under it for a ledger stage (``screen``, ``screen-1``..., ``finetune``, ``pair``,
    ``holdout``; ``finetune-holdout``: a finetuning judged on the hold-out images, for a study).
    What it computes depends on nothing but the search's settings and folder, so any worker may
    do it, in any order."""

    stage: str
    replica: int
    item: Candidate | PairBase | None = None
    seed: int | None = None  # a finetuning's own seed (default: the candidate's), for a study's repeat


@dataclass
class _WorkerState:
    """What a worker keeps between pieces of work: the data, and each supernet once read."""

    settings: SearchSettings
    folder: Path
    data_root: str | Path | None
    device: torch.device
    data: SearchData | None = None
    supernets: dict[int, Supernet] = field(default_factory=dict)


_worker: _WorkerState | None = None


def _prepare_worker(
    settings: SearchSettings, folder: Path, data_root: str | Path | None, device: str, data: SearchData | None
) -> None:
    global _worker
    _worker = _WorkerState(settings, Path(folder), data_root, torch.device(device), data)


@contextlib.contextmanager
def search_pool(
    workers: int,
    settings: SearchSettings,
    folder: Path,
    data: SearchData,
    data_root: str | Path | None,
    device: torch.device,
    *,
    on_message: Callable[[Any], None],
    one_thread: bool,
) -> Iterator[Pool]:
    """The worker pool of a search, each worker prepared for ``perform``. One worker (this
    process) reuses the data already loaded and forgets its supernets afterwards; a process
    pool's workers read their own copy."""
    global _worker
    preloaded = data if workers <= 1 else None
    try:
        with worker_pool(
            workers,
            on_message=on_message,
            one_thread=one_thread,
            initializer=_prepare_worker,
            initargs=(settings, folder, data_root, str(device), preloaded),
        ) as pool:
            yield pool
    finally:
        _worker = None


def _timed_as(stage: str) -> str:
    """The ``seconds`` key a ledger stage's work counts under (every ``screen-N`` as ``screen``)."""
    return "screen" if stage.startswith("screen") else {"pair": "pairs"}.get(stage, stage)


def perform(work: Work) -> dict[str, Any]:
    """Do one piece of work (in a worker prepared by ``_prepare_worker``) and return its
    record: a ledger record, or for a supernet ``{"stage": "supernet", "replica", "seconds"}``.
    A supernet's progress events go to the scheduler tagged with its replica."""
    state = _worker
    assert state is not None, "perform runs in a worker prepared by _prepare_worker"
    settings, device = state.settings, state.device
    if state.data is None:
        state.data = load_search_data(settings, state.data_root)
    data = state.data
    began = time.perf_counter()
    if work.stage == "supernet" or work.replica not in state.supernets:
        supernet = train_supernet(
            settings,
            state.folder,
            data.train,
            device=device,
            progress=lambda event: report_progress((work.replica, event)),
            guard=data.validation,  # the guard reads the validation images: the hold-out stays unread
            replica=work.replica,
        ).eval()
        state.supernets[work.replica] = supernet
        if work.stage == "supernet":
            return {"stage": "supernet", "replica": work.replica, "seconds": time.perf_counter() - began}
    supernet = state.supernets[work.replica]
    item = work.item
    if isinstance(item, PairBase):
        return score_pair(
            supernet, item, validation=data.validation, calibration=data.train, settings=settings, device=device
        )
    assert isinstance(item, Candidate)
    if work.stage == "screen":
        return screen(
            supernet,
            item.genotype,
            index=item.index,
            space=item.space,
            validation=data.validation,
            calibration=data.train,
            settings=settings,
            device=device,
        )
    if work.stage in ("finetune", "finetune-holdout"):
        images = data.validation if work.stage == "finetune" else data.holdout  # another training's own images
        assert images is not None
        return finetune(
            supernet,
            item.genotype,
            index=item.index,
            space=item.space,
            train=data.train,
            validation=images,
            settings=settings,
            device=device,
            seed=work.seed,
        )
    if work.stage == "holdout":
        assert data.holdout is not None
        return rescore(supernet, item, holdout=data.holdout, train=data.train, settings=settings, device=device)
    # the same candidates, images and noise under each further supernet
    return {
        "stage": work.stage,
        "index": item.index,
        "space": item.space,
        **inherited_score(
            supernet, item.genotype, images=data.validation, calibration=data.train, settings=settings, device=device
        ),
    }


def _performer(stage: str, replica: int) -> Callable[[Any], dict[str, Any]]:
    """``perform`` of ``stage``'s work under supernet ``replica``, for ``run_stage``."""
    return lambda item: perform(Work(stage, replica, item))


def holdout_candidates(records: dict[tuple[str, int], dict[str, Any]], settings: SearchSettings) -> list[Candidate]:
    """Every candidate a band could choose (each ranked one): what the hold-out re-scores, so a
    choice's drop there can be set beside its band's (the third supernet's level) and its rank
    there read (selection bias)."""
    rows = leaderboard_rows(records, settings.scorer, fsp_filter(records, settings.fsp_keep))
    return [Candidate(r.index, r.space, Genotype.parse(r.genotype)) for r in rows if r.rank is not None]


class _SupernetProgress:
    """Turns the events of supernets trained side by side into one bar over all their steps
    (``StageProgress("supernet")``) and epoch lines that name their supernet."""

    def __init__(self, replicas: list[int], epochs: int, report: ProgressFn) -> None:
        self.replicas, self.epochs, self.report = replicas, epochs, report
        self.done: dict[int, int] = {}
        self.steps: dict[int, int] = {}

    def __call__(self, message: Any) -> None:
        replica, event = message
        if isinstance(event, TrainingStep):
            self.steps[replica] = event.steps
            self.done[replica] = (event.epoch - 1) * event.steps + event.step
            per_supernet = max(self.steps.values()) * self.epochs
            self.report(StageProgress("supernet", sum(self.done.values()), per_supernet * len(self.replicas)))
        elif isinstance(event, EpochFinished):
            self.report(dataclasses.replace(event, label=supernet_dir(replica)))
        elif not isinstance(event, (EvalProgress, TrainingStarted)):
            self.report(event)


def run_search(
    settings: SearchSettings,
    output: str | Path,
    *,
    resume: bool = False,
    device: str | torch.device | None = None,
    data_root: str | Path | None = None,
    progress: ProgressFn | None = None,
    workers: int | None = None,
) -> SearchResult:
    """Run (or resume) the search described by ``settings`` in the folder ``output``.

    ``workers``: processes of one torch thread each that train the supernets and score the
    candidates side by side (``search.workers``; default: as many as torch's threads on CPU,
    one on a GPU). The results are the same for any number. Under torchrun each rank is one
    worker and ``workers`` must be left unset."""
    context = distributed.current()
    report: ProgressFn = (progress if context.is_main else None) or ignore
    folder = Path(output)
    device = torch.device(resolve_device(distributed.device_for(context, device)))
    if workers is not None and workers < 1:
        raise InvalidInput(f"{option('workers')} must be at least 1, got {workers}")
    if workers is not None and context.distributed:
        raise InvalidInput(
            f"{option('workers')} applies without torchrun; under torchrun each rank is one worker",
            fix=f"leave out {option('workers')}, or run without torchrun",
        )
    plan = plan_candidates(settings)  # bad --candidates fail before anything is written
    data = load_search_data(settings, data_root)
    prepare_folder(folder, settings, resume)
    report(
        SearchStarted(
            folder=str(folder),
            preset=settings.preset,
            dataset=settings.dataset,
            space=settings.space,
            candidates=len(plan),
            resume=resume,
        )
    )
    began = time.perf_counter()
    ledger = Ledger(folder / LEDGER_FILE)
    if context.distributed:
        seconds = _search_over_ranks(settings, folder, plan, data, ledger, device, data_root, report)
    else:
        count = workers or default_workers(device)
        seconds = _search_in_workers(settings, folder, plan, data, ledger, device, data_root, count, report)
    result = analyse_search(folder, settings=settings, progress=report, write=context.is_main)
    result.seconds = {
        **seconds,
        "analysis": result.seconds.get("analysis", 0.0),
        "wall": time.perf_counter() - began,
    }
    if context.is_main:
        write_json(folder / SUMMARY_FILE, result.summary(), indent=1)
    distributed.barrier()
    return result


def _replicas(settings: SearchSettings, data: SearchData) -> int:
    return settings.supernets + (1 if data.holdout is not None else 0)  # the last one re-scores the choices


def _search_in_workers(
    settings: SearchSettings,
    folder: Path,
    plan: list[Candidate],
    data: SearchData,
    ledger: Ledger,
    device: torch.device,
    data_root: str | Path | None,
    count: int,
    report: ProgressFn,
) -> dict[str, float]:
    """Every phase's work, scheduled as soon as what it needs is done: each supernet as a
    worker frees up (all submitted first, so the longest work starts first), a supernet's
    candidates once it is trained, the pairs once the first is, finetuning once the first
    supernet's screening is complete, the hold-out once every score that enters the choice
    is in. Returns each stage's work seconds, summed over the workers."""
    replicas = _replicas(settings, data)
    records = ledger.read()
    trained = [r for r in range(replicas) if (folder / supernet_dir(r) / "supernet.safetensors").is_file()]
    to_train = [r for r in range(replicas) if r not in trained]
    pair_plan = plan_pairs(settings.seed, settings.pairs_per_count)  # fresh bases for every search seed
    seconds: dict[str, float] = {"supernet": 0.0, "screen": 0.0, "finetune": 0.0, "pairs": 0.0, "holdout": 0.0}
    totals: dict[str, int] = {}  # per submitted stage: its items, and how many have a record
    scored: dict[str, int] = {}
    if to_train:
        report(SearchPhase("supernet", total=len(to_train), epochs=settings.supernet.epochs))
    on_message = _SupernetProgress(to_train, settings.supernet.epochs, report)
    with search_pool(
        count, settings, folder, data, data_root, device, on_message=on_message, one_thread=device.type == "cpu"
    ) as pool:
        pending: dict[Future, Work] = {}
        ready: set[int] = set()

        def submit_stage(stage: str, replica: int, items: list[Any], phase: str) -> None:
            if stage in totals:
                return
            todo = [i for i in items if (stage, i.index) not in records]
            totals[stage], scored[stage] = len(items), len(items) - len(todo)
            if not todo:
                return
            report(SearchPhase(phase, total=len(items)))
            report(StageProgress(stage, len(items) - len(todo), len(items)))
            for item in todo:
                pending[pool.submit(perform, Work(stage, replica, item))] = Work(stage, replica, item)

        def complete(stage: str) -> bool:
            return stage in totals and scored[stage] == totals[stage]

        def schedule() -> None:
            for r in sorted(ready):
                if r < settings.supernets:
                    submit_stage(screen_stage(r), r, plan, "screen")
            if 0 in ready:
                submit_stage("pair", 0, pair_plan, "pairs")
                if complete("screen"):
                    tuned = finetune_plan(plan, records, settings, fsp_filter(records, settings.fsp_keep))
                    submit_stage("finetune", 0, tuned, "finetune")
            scores_in = all(complete(screen_stage(r)) for r in range(settings.supernets)) and complete("finetune")
            if data.holdout is not None and replicas - 1 in ready and scores_in:
                submit_stage("holdout", replicas - 1, holdout_candidates(records, settings), "holdout")

        for r in trained + to_train:  # a trained one is read back at once
            pending[pool.submit(perform, Work("supernet", r))] = Work("supernet", r)
        while pending:
            finished = pool.finished(pending)
            pool.forward()
            for future in finished:
                work = pending.pop(future)
                record = future.result()
                if work.stage == "supernet":
                    ready.add(work.replica)
                    if work.replica in to_train:
                        seconds["supernet"] += record["seconds"]
                else:
                    ledger.append([record])
                    records[(work.stage, record["index"])] = record
                    seconds[_timed_as(work.stage)] += float(record.get("seconds", 0.0))
                    scored[work.stage] += 1
                    report(CandidateScored(work.stage, scored[work.stage], totals[work.stage], record))
            schedule()
    return seconds


def _search_over_ranks(
    settings: SearchSettings,
    folder: Path,
    plan: list[Candidate],
    data: SearchData,
    ledger: Ledger,
    device: torch.device,
    data_root: str | Path | None,
    report: ProgressFn,
) -> dict[str, float]:
    """Under torchrun: the phases one after the other, each supernet trained data-parallel by
    every rank, each stage's candidates dealt round-robin to the ranks (``run_stage``)."""
    seconds: dict[str, float] = {}
    with search_pool(  # a rank's threads are what torchrun's OMP_NUM_THREADS gave it
        1, settings, folder, data, data_root, device, on_message=lambda message: report(message[1]), one_thread=False
    ):
        began = time.perf_counter()
        for replica in range(_replicas(settings, data)):
            report(SearchPhase("supernet", epochs=settings.supernet.epochs))
            perform(Work("supernet", replica))
        seconds["supernet"] = time.perf_counter() - began

        began = time.perf_counter()
        for replica in range(settings.supernets):
            report(SearchPhase("screen", total=len(plan)))
            stage = screen_stage(replica)
            run_stage(stage, plan, ledger, _performer(stage, replica), report)
        seconds["screen"] = time.perf_counter() - began

        records = ledger.read()
        tuned = finetune_plan(plan, records, settings, fsp_filter(records, settings.fsp_keep))
        began = time.perf_counter()
        report(SearchPhase("finetune", total=len(tuned)))
        run_stage("finetune", tuned, ledger, _performer("finetune", 0), report)
        seconds["finetune"] = time.perf_counter() - began

        pair_plan = plan_pairs(settings.seed, settings.pairs_per_count)  # fresh bases for every search seed
        began = time.perf_counter()
        report(SearchPhase("pairs", total=len(pair_plan)))
        run_stage("pair", pair_plan, ledger, _performer("pair", 0), report)
        seconds["pairs"] = time.perf_counter() - began

        began = time.perf_counter()
        if data.holdout is not None:
            chosen = holdout_candidates(ledger.read(), settings)
            report(SearchPhase("holdout", total=len(chosen)))
            last = _replicas(settings, data) - 1
            run_stage("holdout", chosen, ledger, _performer("holdout", last), report)
        seconds["holdout"] = time.perf_counter() - began
    return seconds


def analyse_search(
    folder: str | Path,
    *,
    settings: SearchSettings | None = None,
    bands: dict[str, tuple[int, int]] | None = None,
    progress: ProgressFn | None = None,
    write: bool = True,
) -> SearchResult:
    """Leaderboard, analysis, plots, drawings, report and selection from a search folder's
    ledger (also a finished search's, to redo them, e.g. with other ``bands``)."""
    folder = Path(folder)
    report = progress or ignore
    settings = settings or read_settings(folder)
    if bands:
        settings = settings.with_overrides(bands=bands)
    began = time.perf_counter()
    records = Ledger(folder / LEDGER_FILE).read()
    if not any(stage == "screen" for stage, _ in records):
        raise InvalidInput(
            f"{folder} has no scored candidates yet",
            fix=f"finish the search with {option('resume', True)} first",
            path=folder,
        )
    kept_free = fsp_filter(records, settings.fsp_keep)
    rows = leaderboard_rows(records, settings.scorer, kept_free)
    pairs = [r for (stage, _), r in sorted(records.items(), key=lambda item: item[0][1]) if stage == "pair"]
    result_analysis = findings.analyse_findings(rows, settings, pairs)
    selection, selection_notes = select(rows, settings.bands)
    for choice in selection.values():
        choice.holdout = holdout_reading(choice, rows, records)
    supernet_notes = []
    for replica in range(settings.supernets + 1):  # every supernet's training notes (a guard's stop...)
        training = folder / supernet_dir(replica) / TRAINING_FILE
        if training.is_file():
            said = read_json(
                training, "supernet's training.json", expect=dict, fix="train the search again in a new folder"
            ).get("notes", [])
            supernet_notes += [f"{supernet_dir(replica)}: {n}" for n in said]
    notes = supernet_notes + list(result_analysis.get("notes", [])) + selection_notes
    why = radius_note(settings)
    if why is not None:
        notes.append(why)
    report(SearchPhase("analysis"))
    if write:
        write_leaderboard(rows, folder)
        from .drawing import draw_selection
        from .plots import write_plots
        from .report import write_report
        from .results import write_results

        write_results(rows, folder, settings.bands)
        result_analysis["plots"] = [
            str(p.relative_to(folder)) for p in write_plots(rows, result_analysis, folder / "plots")
        ]
        result_analysis["drawings"] = [str(p.relative_to(folder)) for p in draw_selection(selection, folder / "cells")]
        write_json(folder / "analysis.json", result_analysis, indent=1)
        write_genotypes(selection, folder / "genotypes")
        write_report(folder, settings, rows, result_analysis, selection)
    return SearchResult(
        folder, settings, rows, result_analysis, selection, {"analysis": time.perf_counter() - began}, notes
    )
