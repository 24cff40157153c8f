"""Typed progress events: what long work (an evaluation, a training run, a search) tells
whoever watches it through its ``progress`` callback.

The library only emits them; how they look is the watcher's business (the CLI has one renderer
for all of them: bars with ETA on stderr, or JSON lines with ``--json``). ``to_dict()`` is the
JSON form: ``{"event": kind, **fields}``, with an epoch's metrics flattened in.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {"event": self.kind, **data.pop("metrics", {}), **data}


ProgressFn = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The callback of work nobody watches."""


# --------------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class EvalProgress(Event):
    """``done`` of ``total`` examples of one phase (``clean`` or an attack's name) are judged;
    ``robust`` of them are still correct (None before the first batch). ``partial`` is the batch
    under attack, in examples' worth of its planned passes spent so far (0 between batches), so
    a run of one batch still moves and shows an ETA."""

    kind: ClassVar[str] = "eval"
    phase: str
    done: int
    total: int
    robust: int | None
    partial: float = 0.0


# ----------------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainingStarted(Event):
    kind: ClassVar[str] = "start"
    model: str
    recipe: str
    path: str
    train: int
    validation: int
    world_size: int
    test: int | None = None
    augment: str | None = None
    lr_note: str | None = None


@dataclass(frozen=True)
class TrainingStep(Event):
    """The running figures of the epoch so far, after ``step`` of ``steps`` batches."""

    kind: ClassVar[str] = "step"
    epoch: int
    epochs: int
    step: int
    steps: int
    lr: float
    loss: float
    adv_accuracy: float | None
    clean_accuracy: float | None
    images: int
    images_per_second: float | None


@dataclass(frozen=True)
class EpochFinished(Event):
    """An epoch's line of the training log (``metrics``: loss, accuracies, validation, seconds)."""

    kind: ClassVar[str] = "epoch"
    epoch: int
    epochs: int
    metrics: dict[str, Any] = field(default_factory=dict)
    label: str | None = None  # whose epoch, where several trainings run side by side ("supernet-1")

    def get(self, name: str) -> Any:
        return self.metrics.get(name)


@dataclass(frozen=True)
class Checkpointed(Event):
    kind: ClassVar[str] = "checkpoint"
    epoch: int
    step: int
    path: str


@dataclass(frozen=True)
class FinalEvaluation(Event):
    kind: ClassVar[str] = "evaluate"
    split: str
    n: int
    best_epoch: int | None


@dataclass(frozen=True)
class Note(Event):
    """Something a person should know that is not an error."""

    kind: ClassVar[str] = "note"
    message: str


# ------------------------------------------------------------------------------------- search


@dataclass(frozen=True)
class SearchStarted(Event):
    kind: ClassVar[str] = "start"
    folder: str
    preset: str
    dataset: str
    space: str
    candidates: int
    resume: bool


@dataclass(frozen=True)
class SearchPhase(Event):
    """A phase begins: ``supernet`` (``epochs``), ``screen`` or ``finetune`` (``total``
    candidates), ``analysis``."""

    kind: ClassVar[str] = "phase"
    phase: str
    total: int | None = None
    epochs: int | None = None


@dataclass(frozen=True)
class StageProgress(Event):
    """``done`` of ``total`` candidates of a stage are scored (on entering the stage)."""

    kind: ClassVar[str] = "stage"
    phase: str
    done: int
    total: int


@dataclass(frozen=True)
class CandidateScored(Event):
    kind: ClassVar[str] = "candidate"
    phase: str
    done: int
    total: int
    record: dict[str, Any]
