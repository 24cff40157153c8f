"""The one renderer of the library's progress events (``robnetzoo.events``) for people.

Bars with ETA and a rate on stderr, a line per finished epoch, notes; with ``json_events`` the
events also go to stdout as JSON lines (all but the per-batch ones), for programs that follow a
run. ``eval``, ``train`` and ``search`` each make one ``ProgressView`` and pass it as the
library's ``progress`` callback.
"""

from __future__ import annotations

import time
from typing import Any

from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text

from robnetzoo.events import (
    CandidateScored,
    EpochFinished,
    EvalProgress,
    Event,
    Note,
    SearchPhase,
    SearchStarted,
    StageProgress,
    TrainingStarted,
    TrainingStep,
)

from ._output import emit_json_line, fmt, note, stderr, visible

_PER_BATCH = (TrainingStep, EvalProgress)


STAGE_WORDS = {
    "supernet": "training {} supernets",
    "screen": "screening {} candidates",
    "finetune": "finetuning {} candidates",
    "pairs": "Finding 2: scoring the pairs of {} base cells",
    "holdout": "re-scoring the {} ranked candidates on the hold-out images",
    "study": "the proxy study: {} jobs (re-timed proxies, finetuning, finetuning with a second seed)",
}
STAGE_LABELS = {
    "supernet": "supernets",
    "screen": "screening",
    "finetune": "finetuning",
    "pair": "Finding 2 pairs",
    "holdout": "hold-out",
    "study": "study",
    "timing": "timing supernet steps",
}


class CountColumn(ProgressColumn):
    """``done/total`` in whole items (a batch part-way through its attack is not yet done)."""

    def render(self, task: Task) -> Text:
        return Text(f"{int(task.completed)}/{int(task.total or 0)}")


def images_per_second(rate: float) -> str:
    """A rate a person can read at any speed: ``312 img/s``, ``4.2 img/s``, ``3.1 s/img``."""
    if rate >= 10:
        return f"{rate:.0f} img/s"
    if rate >= 1:
        return f"{rate:.1f} img/s"
    return f"{1 / rate:.2g} s/img"


class ProgressView:
    """``epoch_label`` names training epochs ("epoch", "supernet epoch"); ``eval_prefix`` the
    evaluator's phases ("test " inside a training run)."""

    def __init__(
        self, *, enabled: bool = True, json_events: bool = False, epoch_label: str = "epoch", eval_prefix: str = ""
    ) -> None:
        self.json_events, self.epoch_label, self.eval_prefix = json_events, epoch_label, eval_prefix
        self.progress = Progress(
            TextColumn("{task.description:>9}"),
            BarColumn(),
            TaskProgressColumn(),
            CountColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=stderr,
            disable=not enabled,
        )
        self.tasks: dict[str, Any] = {}
        self.started: dict[str, tuple[float, int]] = {}
        self.last_eval: EvalProgress | None = None
        self.eval_completed: dict[str, float] = {}
        self.eval_runs: dict[str, int] = {}
        self.epoch_task: str | None = None

    def __enter__(self) -> "ProgressView":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    # ------------------------------------------------------------------------------ helpers

    def _task(self, key: str, description: str, total: int, done: int = 0) -> Any:
        if key not in self.tasks:
            self.tasks[key] = self.progress.add_task(description, total=total, completed=done, rate="", info="")
            self.started[key] = (time.perf_counter(), done)
        return self.tasks[key]

    def _eval_key(self, event: EvalProgress) -> str:
        """One bar per phase of one evaluation: a phase that starts again (the runtime judged
        after torch, on the same examples) gets a bar, and a rate, of its own."""
        key = f"eval:{event.phase}:{self.eval_runs.get(event.phase, 0)}"
        if key in self.eval_completed and event.done + event.partial < self.eval_completed[key]:
            self.eval_runs[event.phase] = self.eval_runs.get(event.phase, 0) + 1
            key = f"eval:{event.phase}:{self.eval_runs[event.phase]}"
        return key

    def _rate(self, key: str, done: float) -> str:
        began, first = self.started[key]
        elapsed = time.perf_counter() - began
        return images_per_second((done - first) / elapsed) if elapsed > 0 and done > first else ""

    def _say(self, text: str) -> None:
        self.progress.console.print(visible(text), markup=False, highlight=False, soft_wrap=True)

    # ------------------------------------------------------------------------------ events

    def __call__(self, event: Event) -> None:
        if self.json_events and not isinstance(event, _PER_BATCH):
            emit_json_line(event.to_dict())
        if isinstance(event, EvalProgress):
            self.last_eval = event
            key = self._eval_key(event)
            completed = event.done + event.partial
            task = self._task(key, f"{self.eval_prefix}{event.phase}", event.total, event.done)
            self.eval_completed[key] = completed
            robust = "—" if event.robust is None else str(event.robust)
            self.progress.update(task, completed=completed, rate=self._rate(key, completed), info=f"robust {robust}")
        elif isinstance(event, TrainingStep):
            key = f"epoch:{event.epoch}"
            if self.epoch_task not in (None, key):
                self.progress.remove_task(self.tasks.pop(self.epoch_task))
            self.epoch_task = key
            task = self._task(key, f"{self.epoch_label} {event.epoch}/{event.epochs}", event.steps)
            rate = event.images_per_second
            self.progress.update(
                task,
                completed=event.step,
                rate=images_per_second(rate) if rate else "",
                info=f"loss {event.loss:.3f}  clean {fmt(event.clean_accuracy, 1)}  adv {fmt(event.adv_accuracy, 1)}",
            )
        elif isinstance(event, EpochFinished):
            self._say(self._epoch_line(event))
        elif isinstance(event, Note):
            note(event.message)
        elif isinstance(event, TrainingStarted):
            self._say(f"training {event.model} into {event.path}: {event.recipe}")
            sizes = f"{event.train:,} train / {event.validation:,} held out" + (
                f" / {event.test:,} test images" if event.test is not None else " images"
            )
            self._say(sizes + (f"; augment {event.augment}" if event.augment else ""))
            if event.lr_note:
                note(event.lr_note)
        elif isinstance(event, SearchStarted):
            self._say(
                f"{'resuming' if event.resume else 'searching'} into {event.folder}: {event.preset} preset, "
                f"{event.dataset}, space {event.space}, {event.candidates} candidates"
            )
        elif isinstance(event, SearchPhase):
            if event.phase in STAGE_WORDS and event.total:
                self._say(STAGE_WORDS[event.phase].format(event.total))
            elif event.phase == "analysis":
                self._say("analysing: leaderboard, findings, plots, genotypes")
        elif isinstance(event, StageProgress):
            label = STAGE_LABELS.get(event.phase, event.phase)
            self.progress.update(self._task(event.phase, label, event.total, event.done), completed=event.done)
        elif isinstance(event, CandidateScored):
            record = event.record
            robust = record.get("robust", record.get("inherited", record.get("base", {})).get("robust"))
            seconds = record.get("seconds")
            self.progress.update(
                self._task(event.phase, STAGE_LABELS.get(event.phase, event.phase), event.total),
                completed=event.done,
                rate="" if seconds is None else f"{seconds:.1f} s/cand",
                info=f"#{record['index']} robust {fmt(robust, 1)}%",
            )

    def _epoch_line(self, event: EpochFinished) -> str:
        get = event.get
        valid = ""
        if get("val_robust_accuracy") is not None:
            valid = (
                f"  val clean {get('val_clean_accuracy'):.1f}%  val {get('val_attack')} "
                f"{get('val_robust_accuracy'):.1f}%  best epoch {get('best_epoch')}"
            )
        accuracy = "".join(
            f"  train {name} {get(key):.1f}%"
            for name, key in (("clean", "train_clean_accuracy"), ("adv", "train_adv_accuracy"))
            if get(key) is not None
        )
        name = f"{event.label} epoch" if event.label else self.epoch_label
        return (
            f"{name} {event.epoch}/{event.epochs}: loss {get('loss'):.3f}{accuracy}"
            f"  {fmt(get('images_per_second'), 0)} img/s  {get('seconds'):.0f} s{valid}"
        )
