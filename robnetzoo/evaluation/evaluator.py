"""``evaluate``: clean accuracy, robust accuracy per attack, worst case, for any target.

Counting convention (AutoAttack's): an example counts as broken by an attack as soon as *any*
iterate of that attack misclassifies it; worst case counts an example as robust only if it
survives every attack. Speed comes from not attacking what is already decided:

* clean-misclassified examples are never attacked;
* inside an attack, an example leaves the batch the moment it is broken (``early_stop``);
* with ``cascade=True`` (AutoAttack style) each attack runs only on the examples every earlier
  attack left standing; robust accuracy of attack k then means "after attacks 1..k".

Forward-only passes run under ``torch.inference_mode``; attacks run on an eval-mode copy with
BatchNorm folded into the convolutions and channels_last memory (``robnetzoo.fast``); the
report says what was actually applied.

Transfer evaluation: with a torch ``source`` model, gradient attacks craft their examples on the
source (every step, no early stop, since the source being fooled says nothing about the target)
and the *target* judges the final iterate. A target without gradients (an exported runtime)
needs a source for gradient attacks; score-based attacks run on the target itself.

Stages: ``_clean_pass`` and ``_attack_pass`` fill a ``ResultsStore`` (per example, saved after
every batch), ``_report`` reads it. Each example's random start is seeded from (seed, attack,
example index), so ``resume=True`` continues with any batch size and gives the numbers of an
uninterrupted run. Under ``torchrun`` (an initialised process group) each rank takes every
world_size-th example, the ranks merge their marks after every batch, and rank 0 writes the one
results file: the file a one-process run writes, since no result depends on the batch.
"""

from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn
from torch.utils.data import Dataset

from .. import attacks as attack_suite
from .. import distributed
from .._io import check_writable_file, output_mode
from ..config import config_of
from ..data import dataset_num_classes, first_n, take
from ..device import resolve_device
from ..errors import InvalidInput, option
from ..events import EvalProgress, ProgressFn, ignore
from ..seeding import derive_seed
from ..threat import ThreatModel
from .checks import Check, run_checks, warn_failed
from .report import EvalReport
from .store import CORRECT, SKIPPED, WRONG, ResultsStore
from .targets import TargetModule, TorchTarget, as_target, gradient_module, target_inputs

DEFAULT_ATTACK = {"Linf": "pgd20", "L2": "pgdl2"}


def evaluate(
    model: Any,
    dataset: Dataset,
    *,
    attacks: Sequence[str] | str | None = None,
    eps: float | None = None,
    norm: str | None = None,
    n_examples: int | None = None,
    batch_size: int = 200,
    device: str | torch.device | None = None,
    seed: int = 0,
    attack_params: dict[str, dict[str, Any]] | None = None,
    cascade: bool = False,
    fold_bn: bool = True,
    channels_last: bool = True,
    precision: str = "fp32",
    output: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
    source: nn.Module | None = None,
    sanity: bool = False,
    warn: bool = True,
) -> EvalReport:
    """Evaluate ``model`` (an ``nn.Module`` or a target) on ``dataset`` (images in [0, 1]).

    The threat model is the model's own (its config's ``threat_model``; L-inf 8/255 when it
    has none), with ``norm``/``eps`` overriding it. ``attacks`` defaults to pgd20 for L-inf
    and pgdl2 for L2; each is checked against the threat model before anything runs.
    ``attack_params`` maps an attack name to its keywords (``{"pgd": {"steps": 50}}``).
    ``precision="bf16"`` runs attack steps under bf16 autocast; whether each returned
    adversarial image fools the model is then confirmed in fp32, and examples bf16 wrongly
    took for broken (so stopped attacking) are attacked again in fp32.
    ``source`` is a torch model that crafts the examples of gradient attacks (transfer).
    ``output`` is the per-example results file: an existing one is continued with
    ``resume=True``, replaced only with ``overwrite=True``, and otherwise refused.
    ``progress`` receives ``robnetzoo.events.EvalProgress`` events (phase, done, total, robust).
    Every evaluation ends with the sanity checks of ``robnetzoo.evaluation.checks`` (in
    ``report.checks``; a failed one warns unless ``warn=False``, as when a search scores weak
    candidates or a training validates its first epochs; it never stops the evaluation);
    ``sanity=True`` adds the unbounded-eps check.
    """
    threat = _threat_model(model, eps, norm)
    names = check_request(
        attacks=[DEFAULT_ATTACK[threat.norm]] if attacks is None else attacks,
        n_examples=n_examples,
        batch_size=batch_size,
        precision=precision,
    )
    output_path = _check_output(output, resume, overwrite)
    notes: list[str] = []
    available = len(dataset)  # type: ignore[arg-type]
    if n_examples is not None:
        if n_examples > available:
            notes.append(f"asked for {n_examples} examples but the data set has {available}; evaluated {available}")
        dataset = first_n(dataset, n_examples)
    n = len(dataset)  # type: ignore[arg-type]
    if n == 0:
        raise InvalidInput("the data set is empty")
    device = resolve_device(distributed.device_for(distributed.current(), device))  # a CUDA rank: its own GPU

    first_images, first_labels = take(dataset, [0])
    attack_suite.check_images(first_images, first_labels, model if isinstance(model, nn.Module) else None)
    # Everything below runs on eval-mode copies: the caller's models (and their modes) are untouched.
    target = as_target(model, device, fold_bn=fold_bn, channels_last=channels_last)
    crafter = TorchTarget(source, device, fold_bn=fold_bn, channels_last=channels_last) if source is not None else None
    for prepared in (t.prepared for t in (target, crafter) if isinstance(t, TorchTarget)):
        notes += prepared.notes
    model_name = str(getattr(target, "name", type(model).__name__))
    _check_classes(target, dataset, first_images, model_name)
    params = attack_params or {}
    plans = [_plan_attack(name, target, crafter, threat, precision, seed, params.get(name, {})) for name in names]

    header = {
        "model": model_name,
        "fingerprint": target.fingerprint,
        "dataset": getattr(dataset, "name", None),
        "n_examples": n,
        "attacks": names,
        "threat_model": threat.to_dict(),
        "seed": seed,
        "cascade": cascade,
        "precision": precision,
        "attack_params": params,
        "source": None if crafter is None else crafter.fingerprint,
    }
    context = distributed.current()
    store = ResultsStore(output_path if context.is_main else None, header, resume, read_from=output_path)
    report_progress = (progress if context.is_main else None) or ignore

    _clean_pass(target, dataset, batch_size, store, report_progress, context)
    standing = store.bits("clean")
    for plan in plans:
        _attack_pass(plan, target, dataset, batch_size, store, standing, seed, report_progress, context)
        if cascade:
            standing = [s and r for s, r in zip(standing, store.bits(plan.name))]

    report = _report(
        store, target, crafter, plans, threat, dataset, device, batch_size, seed, cascade, precision, notes, context
    )
    checks = _checks(store, target, crafter, plans, threat, dataset, cascade, seed, sanity)
    report.checks = [check.to_dict() for check in checks]
    store.save(report.to_dict())
    if context.is_main and warn:
        warn_failed(checks)
    return report


def _checks(
    store: ResultsStore,
    target: Any,
    crafter: TorchTarget | None,
    plans: list[_AttackPlan],
    threat: ThreatModel,
    dataset: Dataset,
    cascade: bool,
    seed: int,
    sanity: bool,
) -> list[Check]:
    """The evaluation's sanity checks, from its own per-example results and a few examples."""
    names = [plan.name for plan in plans]
    gradient_side = crafter if crafter is not None else target
    return run_checks(
        target=target,
        gradient_source=gradient_module(gradient_side),
        inputs=functools.partial(target_inputs, target),
        gradient_inputs=functools.partial(target_inputs, gradient_side),
        dataset=dataset,
        standing=store.bits("clean"),
        bits={name: store.bits(name) for name in names},
        robust={name: store.count(name) for name in names},
        attacks=names,
        score_attacks=[plan.name for plan in plans if not plan.attack.needs_gradients],
        threat=threat,
        cascade=cascade,
        seed=seed,
        sanity=sanity,
        autoattack_flags=[flag for plan in plans for flag in getattr(plan.attack, "flags", [])],
    )


# ---------------------------------------------------------------------------- set-up


def check_request(
    *,
    attacks: Sequence[str] | str | None = None,
    n_examples: int | None = None,
    batch_size: int = 200,
    precision: str = "fp32",
    eps: float | None = None,
    norm: str | None = None,
) -> list[str] | None:
    """Everything about an evaluation request that can be wrong before a model or data set is
    loaded (so a front end can fail in a second, not after a download); ``evaluate`` runs it
    too. Returns the attack names expanded (``paper`` -> its suite), or None for the default."""
    if n_examples is not None and n_examples < 1:
        raise InvalidInput(f"{option('n_examples')} must be at least 1, got {n_examples}")
    if batch_size < 1:
        raise InvalidInput(f"{option('batch_size')} must be at least 1, got {batch_size}")
    if precision not in ("fp32", "bf16"):
        raise InvalidInput(f"precision must be 'fp32' or 'bf16', got {precision!r}")
    if norm is not None or eps is not None:
        ThreatModel().with_overrides(norm=norm, eps=eps)
    if attacks is None:
        return None
    names = attack_suite.expand([attacks] if isinstance(attacks, str) else list(attacks))
    unbounded = [name for name in names if not attack_suite.attack_class(name).bounded]
    if unbounded:
        raise InvalidInput(
            f"attack {unbounded[0]!r} trains models: its examples leave the threat model's ball, so the "
            "accuracy it leaves is no robust accuracy",
            fix="evaluate with a bounded attack, e.g. pgd20",
        )
    return names


def _threat_model(model: Any, eps: float | None, norm: str | None) -> ThreatModel:
    config = config_of(model) or getattr(model, "config", None)  # a target may carry its own
    own = getattr(config, "threat_model", None) or getattr(model, "threat_model", None)
    base = own if isinstance(own, ThreatModel) else ThreatModel.from_dict(own)
    return base.with_overrides(norm=norm, eps=eps)


def _check_output(output: str | Path | None, resume: bool, overwrite: bool) -> Path | None:
    if output is None:
        if resume:
            raise InvalidInput(
                f"{option('resume', True)} needs an {option('output')} file to continue",
                fix=f"name the results file with {option('output')}",
            )
        return None
    path = Path(output)
    check_writable_file(path, "results file")
    output_mode(
        path,
        "results of an earlier evaluation",
        holds=path.exists(),
        resume=resume,
        overwrite=overwrite,
        folder=False,
        resume_needs_one=False,
    )
    return path


def _check_classes(target: Any, dataset: Dataset, example: torch.Tensor, model_name: str) -> None:
    model_classes = target.probe_num_classes(example) if isinstance(target, TorchTarget) else int(target.num_classes)
    data_classes = dataset_num_classes(dataset)
    if data_classes is not None and data_classes != model_classes:
        raise InvalidInput(
            f"{getattr(dataset, 'name', 'the data set')} has {data_classes} classes but {model_name} "
            f"predicts {model_classes}; evaluate it on the data set it was trained for"
        )


@dataclass
class _AttackPlan:
    """One attack as the evaluator runs it: on which module (``inputs`` places images there),
    and whether the target judges transfer examples crafted elsewhere."""

    name: str
    attack: attack_suite.Attack
    confirm: attack_suite.Attack | None
    inputs: Callable[[torch.Tensor], torch.Tensor]
    transfer: bool


def _plan_attack(
    name: str,
    target: Any,
    crafter: TorchTarget | None,
    threat: ThreatModel,
    precision: str,
    seed: int,
    params: dict[str, Any],
) -> _AttackPlan:
    cls = attack_suite.attack_class(name)
    if cls.needs_gradients:
        where = crafter if crafter is not None else target
        module = gradient_module(where)
        if module is None:
            raise InvalidInput(
                f"attack {name!r} needs gradients and {getattr(target, 'name', 'this target')} has none; "
                "pass a torch source model (source=..., transfer evaluation) or use a score-based attack"
            )
        transfer = crafter is not None
    else:  # score-based: query the target itself
        where = target
        module = gradient_module(target) or TargetModule(target)
        transfer = False

    def build(p: str) -> attack_suite.Attack:
        return attack_suite.build(name, module, threat_model=threat, precision=p, seed=seed, validate=False, **params)

    attack = build(precision)
    confirm = build("fp32") if precision != "fp32" and not transfer else None
    return _AttackPlan(name, attack, confirm, functools.partial(target_inputs, where), transfer)


def example_seed(seed: int, attack: str, index: int) -> int:
    """The seed of one example's random start: a function of (seed, attack, index) only."""
    return derive_seed(seed, "example", attack, index)


# ---------------------------------------------------------------------------- stages


def _shard_batches(n: int, batch_size: int, context: distributed.Context) -> Iterator[list[int]]:
    """This rank's example indices, batch by batch. Every rank yields the same number of
    batches (the last ones may be empty) so the per-batch merge is a collective all can join."""
    mine = distributed.shard(list(range(n)), context)
    longest = -(-n // context.world_size)
    for start in range(0, max(longest, 1), batch_size):
        yield mine[start : start + batch_size]


def _merge(
    store: ResultsStore, phase: str, marks: dict[int, str], did_work: bool, spent: attack_suite.Passes | None = None
) -> bool:
    """Record every rank's marks and image-passes of this batch; True when any rank did something."""
    spent = spent or attack_suite.Passes()
    gathered = distributed.all_gather_objects((marks, did_work, spent.to_dict()))
    for rank_marks, _, rank_spent in gathered:
        for index, mark in rank_marks.items():
            store.record(phase, index, mark)
        store.spend(phase, rank_spent["forward"], rank_spent["backward"])
    return any(worked for _, worked, _ in gathered)


def _clean_pass(
    target: Any,
    dataset: Dataset,
    batch_size: int,
    store: ResultsStore,
    progress: ProgressFn,
    context: distributed.Context,
) -> None:
    n = store.header["n_examples"]
    progress(EvalProgress("clean", store.done("clean"), n, None))
    for indices in _shard_batches(n, batch_size, context):
        todo = store.pending("clean", indices)
        marks: dict[int, str] = {}
        begin = time.perf_counter()
        if todo:
            images, labels = take(dataset, todo)
            with torch.inference_mode():
                predicted = target.logits(target_inputs(target, images)).argmax(1).cpu()
            marks = {i: CORRECT if ok else WRONG for i, ok in zip(todo, (predicted == labels).tolist())}
        store.seconds["clean"] += time.perf_counter() - begin
        if _merge(store, "clean", marks, bool(todo), attack_suite.Passes(forward=len(todo))):
            store.save()
            progress(EvalProgress("clean", store.done("clean"), n, store.count("clean")))


def _attack_pass(
    plan: _AttackPlan,
    target: Any,
    dataset: Dataset,
    batch_size: int,
    store: ResultsStore,
    standing: list[bool],
    seed: int,
    progress: ProgressFn,
    context: distributed.Context,
) -> None:
    name, n = plan.name, store.header["n_examples"]
    progress(EvalProgress(name, store.done(name), n, store.count(name)))
    for indices in _shard_batches(n, batch_size, context):
        todo = store.pending(name, indices)
        marks = {i: SKIPPED for i in todo if not standing[i]}
        begin = time.perf_counter()
        attacked = [i for i in todo if standing[i]]
        spent = attack_suite.Passes()
        if attacked:
            images, labels = take(dataset, attacked)
            seeds = [example_seed(seed, name, i) for i in attacked]
            with _steps_reported(plan.attack, len(todo), progress, name, store, n):
                broken, spent = _attack_batch(plan, target, images, labels, seeds)
            marks.update({i: WRONG if was_broken else CORRECT for i, was_broken in zip(attacked, broken.tolist())})
        store.seconds[name] += time.perf_counter() - begin
        if _merge(store, name, marks, bool(todo), spent):
            store.save()
            progress(EvalProgress(name, store.done(name), n, store.count(name)))


@contextlib.contextmanager
def _steps_reported(
    attack: attack_suite.Attack,
    batch: int,
    progress: ProgressFn,
    name: str,
    store: ResultsStore,
    n: int,
) -> Iterator[None]:
    """Within a batch, progress by the attack's model calls against its plan: each step calls
    the model once on the examples still standing, so the count of calls is the step reached
    even as broken examples drop out (a batch that breaks early jumps at its end). A run of one
    batch is then not a bar stuck at 0%. Reported every 1% of the batch; attacks without a plan
    report per batch only."""
    planned = attack.planned_passes()
    if planned is None or progress is ignore or not planned.forward:
        yield
        return
    done, robust = store.done(name), store.count(name)
    calls, shown = [0], [0.0]

    def on_forward(passes: attack_suite.Passes) -> None:
        calls[0] += 1
        fraction = min(1.0, calls[0] / planned.forward)
        if fraction - shown[0] >= 0.01 and fraction < 1.0:
            shown[0] = fraction
            progress(EvalProgress(name, done, n, robust, partial=round(fraction * batch, 2)))

    attack.on_forward = on_forward
    try:
        yield
    finally:
        attack.on_forward = None


def _attack_batch(
    plan: _AttackPlan, target: Any, images: torch.Tensor, labels: torch.Tensor, seeds: list[int]
) -> tuple[torch.Tensor, attack_suite.Passes]:
    """Which of these (clean-correct) examples the attack breaks, judged by the target, and the
    image-passes that cost (the attack's own count, plus the judging and confirming forwards)."""
    attacks_used = [plan.attack] + ([plan.confirm] if plan.confirm is not None else [])
    before = [a.passes.copy() for a in attacks_used]
    extra = attack_suite.Passes()
    x = plan.inputs(images)
    y = labels.to(x.device)
    result = plan.attack.run(x, y, early_stop=not plan.transfer, example_seeds=seeds)
    if plan.transfer:  # the source crafted them; the target judges the final iterate
        with torch.inference_mode():
            predicted = target.logits(target_inputs(target, result.adversarial)).argmax(1).cpu()
        broken = predicted != labels
        extra.forward += len(images)
    else:
        broken = result.broken
        if plan.confirm is not None:  # bf16 decided the early stops: confirm in fp32
            with torch.no_grad():  # not inference_mode: broken is updated in place below
                broken = plan.attack.model(result.adversarial).argmax(1) != y
            extra.forward += len(images)
            disputed = result.broken & ~broken
            if disputed.any():
                index = disputed.nonzero().squeeze(1).tolist()
                retry = plan.confirm.run(
                    x[disputed], y[disputed], early_stop=True, example_seeds=[seeds[i] for i in index]
                )
                broken[disputed] = retry.broken
    spent = extra
    for attack, start in zip(attacks_used, before):
        spent = spent + (attack.passes - start)
    return broken.cpu(), spent


def _report(
    store: ResultsStore,
    target: Any,
    crafter: TorchTarget | None,
    plans: list[_AttackPlan],
    threat: ThreatModel,
    dataset: Dataset,
    device: torch.device,
    batch_size: int,
    seed: int,
    cascade: bool,
    precision: str,
    notes: list[str],
    context: distributed.Context,
) -> EvalReport:
    n = store.header["n_examples"]
    names = [plan.name for plan in plans]
    clean = store.bits("clean")
    robust = {name: store.bits(name) for name in names}
    worst = [all(bits) for bits in zip(clean, *robust.values())]
    counts = {
        "clean": sum(clean),
        "robust": {name: sum(bits) for name, bits in robust.items()},
        "worst_case": sum(worst),
        "attacked": {name: store.count(name, CORRECT + WRONG) for name in names},
    }
    seconds = store.seconds
    phases = {name: {**store.passes[name], "seconds": seconds[name]} for name in ["clean", *names]}
    cost = {
        "device": str(device),
        "world_size": context.world_size,
        "phases": phases,
        "total": {key: sum(phase[key] for phase in phases.values()) for key in ("forward", "backward", "seconds")},
    }
    applied = target.prepared.summary() if isinstance(target, TorchTarget) else {"runtime": type(target).__name__}
    return EvalReport(
        model=store.header["model"],
        dataset=str(getattr(dataset, "name", None)),
        n_examples=n,
        threat_model=threat.to_dict(),
        attacks=names,
        clean_accuracy=100 * counts["clean"] / n,
        robust_accuracy={name: 100 * count / n for name, count in counts["robust"].items()},
        worst_case_accuracy=100 * counts["worst_case"] / n,
        counts=counts,
        timings={
            "clean_seconds": seconds["clean"],
            "attack_seconds": {name: seconds[name] for name in names},
            "images_per_second": {name: (n / seconds[name] if seconds[name] > 0 else None) for name in names},
        },
        cost=cost,
        settings={
            "device": str(device),
            "batch_size": batch_size,
            "world_size": context.world_size,
            "backend": distributed.backend(),
            "seed": seed,
            "cascade": cascade,
            "precision": precision,
            **applied,
            "source": None if crafter is None else {"model": crafter.name, "fingerprint": crafter.fingerprint},
            "transfer": [plan.name for plan in plans if plan.transfer],
            "attack_params": {plan.name: plan.attack.params() for plan in plans},
        },
        notes=notes,
    )
