"""A training run as a folder: what ``robnetzoo train`` makes and ``robnetzoo publish`` reads.

    RUN/
      run.json            what was trained on what, with which recipe and seed; status
      recipe.json         the recipe, loadable with --preset RUN/recipe.json
      checkpoint.pt       the latest checkpoint (weights_only format; see training.py)
      best.safetensors    the weights of the best epoch on the validation split
      train_log.jsonl     one line per epoch
      eval_results.json   per-example results of the final test evaluation (resumable)
      eval.json           the final evaluation report (test split)
      config.json model.safetensors README.md    the Hub folder (best weights, model card)

``train_run`` refuses a folder that holds another run (finished or not) unless ``resume``, and
on ``resume`` refuses a run made with another model, data set, recipe or seed, saying which
differs. Only rank 0 writes; every rank reads.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from robnetzoo import distributed
from robnetzoo._io import OutputMode, atomic_write_text, output_mode, read_json, write_json
from robnetzoo._version import __version__
from robnetzoo.config import ModelConfig, build_model
from robnetzoo.data import NUM_CLASSES, VALIDATION_SEED, first_n, load_dataset, train_validation_split
from robnetzoo.device import resolve_device
from robnetzoo.errors import CorruptFile, InvalidInput, option
from robnetzoo.evaluation import EvalReport, evaluate
from robnetzoo.events import FinalEvaluation, ProgressFn, TrainingStarted, ignore
from robnetzoo.genotype import read_genotype_file
from robnetzoo.hub import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME, save_pretrained
from robnetzoo.naming import slug
from robnetzoo.registry import buildable_config, derive_config
from robnetzoo.weights import load_strict, read_safetensors

from .card import training_notes
from .recipes import Recipe
from .training import Trainer

RUN_FILE = "run.json"
RECIPE_FILE = "recipe.json"
CHECKPOINT_FILE = "checkpoint.pt"
BEST_FILE = "best.safetensors"
LOG_FILE = "train_log.jsonl"
EVAL_FILE = "eval.json"
EVAL_RESULTS_FILE = "eval_results.json"
HUB_FILES = (CONFIG_NAME, WEIGHTS_NAME, CARD_NAME)
RUN_FORMAT = "robnetzoo-run"
GENOTYPE_BASE = "robnet-large"  # a genotype file trains a RobNet of this shape (C, layers) by default


@dataclass
class RunResult:
    path: Path
    status: str
    history: list[dict[str, Any]]
    best: dict[str, Any] | None
    report: EvalReport | None
    notes: list[str]


# ---------------------------------------------------------------------------- the model


def model_config_for(
    model: str,
    dataset: str,
    *,
    width: int | None = None,
    layers: int | None = None,
    recipe: Recipe,
    example_shape: tuple[int, ...] | None = None,
) -> ModelConfig:
    """The config to train: a registry name or a genotype JSON file (``Genotype.dumps``), for
    ``dataset``'s classes, at the recipe's threat model, with ``width``/``layers`` (C and the
    cell count of a RobNet) when given."""
    overrides: dict[str, Any] = {}
    if width is not None:
        overrides["C"] = width
    if layers is not None:
        overrides["layers"] = layers
    if dataset in NUM_CLASSES:
        overrides["num_classes"] = NUM_CLASSES[dataset]
    path = Path(model)
    if path.suffix == ".json" or path.is_file():
        genotype = read_genotype_file(path)
        base = buildable_config(GENOTYPE_BASE)
        config = derive_config(
            base, model_name=f"robnet-{slug(path.stem)}", dataset=dataset, genotype=genotype.to_json(), **overrides
        )
    else:
        base = buildable_config(model)
        unknown = sorted(k for k in ("C", "layers") if k in overrides and k not in base.arch_args)
        if unknown:
            raise InvalidInput(
                f"{model} has no {'/'.join(unknown)} to set",
                fix=f"{option('width')} and {option('layers')} are for RobNets",
            )
        config = derive_config(base, dataset=dataset, **overrides)
    genotype = config.genotype()
    if genotype is not None and "layers" in config.arch_args:
        genotype.check_layers(int(config.arch_args["layers"]))
    changes: dict[str, Any] = {"threat_model": recipe.threat_model}
    if example_shape is not None:
        changes["input_size"] = tuple(example_shape)
    return dataclasses.replace(config, **changes)


# ---------------------------------------------------------------------------- the folder


def read_run(path: str | Path) -> dict[str, Any]:
    """``run.json`` of a run folder; one line when the folder is not a run."""
    path = Path(path)
    if not path.is_dir():
        raise InvalidInput(
            f"{path} is not a run folder (no such folder)",
            fix=f"give the {option('output')} of a robnetzoo train run",
            path=path,
        )
    return read_json(
        path / RUN_FILE,
        "training run's run.json",
        expect=dict,
        format=RUN_FORMAT,
        missing=f"{path} is not a robnetzoo run (no {RUN_FILE}); give the {option('output')} of a robnetzoo train run",
        fix=f"it is damaged: train again into another {option('output')}",
    )


def read_run_report(path: Path) -> EvalReport:
    """The final evaluation of a finished run (``eval.json``)."""
    fix = f"rerun its robnetzoo train command with {option('resume', True)} to evaluate it again"
    data = read_json(
        path / EVAL_FILE,
        "run's eval.json",
        expect=dict,
        fix=fix,
        missing=f"{path} has no evaluation ({EVAL_FILE} is missing); {fix}",
    )
    try:
        return EvalReport.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptFile(path / EVAL_FILE, "run's eval.json", f"{type(exc).__name__}: {exc}", fix=fix) from None


def _identity(
    config: ModelConfig, recipe: Recipe, seed: int, eval_attacks: list[str] | None, eval_n: int | None
) -> dict[str, Any]:
    model = config.to_dict()
    return {
        "model": {k: model[k] for k in ("name", "arch", "arch_args", "num_classes", "input_size")},
        "dataset": config.dataset,
        "recipe": recipe.to_dict(),
        "seed": seed,
        "evaluation": {"attacks": eval_attacks, "n_examples": eval_n},
    }


def _describe_difference(saved: dict[str, Any], wanted: dict[str, Any]) -> str:
    parts = []
    for key in ("model", "dataset", "recipe", "seed", "evaluation"):
        a, b = saved.get(key), wanted.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            fields = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            detail = ", ".join(f"{k}: {json.dumps(a.get(k))} vs {json.dumps(b.get(k))}" for k in fields[:3])
            parts.append(f"another {key} ({detail})")
        else:
            parts.append(f"another {key} ({json.dumps(a)} vs {json.dumps(b)})")
    return "; ".join(parts)


def _check_output(path: Path, identity: dict[str, Any], resume: bool) -> dict[str, Any] | None:
    """The saved run to continue, or None for a fresh run; refuses anything else."""
    saved = read_run(path) if (path / RUN_FILE).is_file() else None
    what = "a training run"
    if saved is not None:
        what = "a finished run" if saved.get("status") == "finished" else f"an unfinished run ({saved.get('status')})"
    if output_mode(path, what, holds=saved is not None, resume=resume, can_overwrite=False) is OutputMode.NEW:
        return None
    difference = _describe_difference(saved.get("identity", {}), identity)  # type: ignore[union-attr]
    if difference:
        raise InvalidInput(
            f"cannot resume {path}: it was made with {difference}", fix="resume with the same settings", path=path
        )
    return saved


def _write_run(path: Path, identity: dict[str, Any], status: str, extra: dict[str, Any]) -> None:
    data = {
        "format": RUN_FORMAT,
        "version": 1,
        "status": status,
        "identity": identity,
        "robnetzoo_version": __version__,
        **extra,
    }
    write_json(path / RUN_FILE, data)


# ---------------------------------------------------------------------------- the run


def _held_out_size(recipe: Recipe, n_train: int, dataset: str) -> int:
    """The recipe's held-out part of a training split of ``n_train``, refused in one line when
    it leaves less than one batch to train on."""
    held = recipe.held_out(n_train)
    where = f"the {n_train:,} {dataset} training images"
    if held >= n_train:
        raise InvalidInput(
            f"holding out {held:,} images needs more than {where}",
            fix=f"lower {option('validation_size')} (at most {n_train - recipe.batch_size:,} here)",
        )
    if n_train - held < recipe.batch_size:
        raise InvalidInput(
            f"holding out {held:,} of {where} leaves {n_train - held:,} to train on, fewer than one "
            f"batch of {recipe.batch_size}",
            fix=f"lower {option('validation_size')} or {option('batch_size')}",
        )
    return held


def _run_splits(recipe: Recipe, dataset: str, data_root: str | Path | None) -> tuple[Any, Any, Any]:
    """(train, validation, test): the validation images held out of the training split by the
    recipe's rule with the fixed ``VALIDATION_SEED`` (every run of a data set holds out the same
    ones), the training part cut to ``recipe.train_examples`` where it asks."""
    full_train = load_dataset(dataset, "train", data_root)
    test = load_dataset(dataset, "test", data_root)
    held_out = _held_out_size(recipe, len(full_train), dataset)  # type: ignore[arg-type]
    train, validation = train_validation_split(full_train, held_out, seed=VALIDATION_SEED)
    if recipe.train_examples is not None and recipe.train_examples < len(train):  # type: ignore[arg-type]
        train = first_n(train, recipe.train_examples)
    return train, validation, test


def _run_facts(
    recipe: Recipe, train: Any, validation: Any, test: Any, world_size: int, data_root: str | Path | None
) -> dict[str, Any]:
    """What ``run.json`` records of how a run trains: its splits, augmentation, learning rate
    (and how it was scaled to the batch) and processes."""
    return {
        "data": {
            "train": len(train),
            "validation": len(validation),
            "test": len(test),
            "validation_seed": VALIDATION_SEED,
            "validation_rule": recipe.held_out_rule(),
            "augment": recipe.augment_for(),
        },
        "lr": {
            "peak": recipe.peak_lr(),
            "recipe_lr": recipe.lr,
            "recipe_batch": recipe.lr_batch,
            "batch": recipe.batch_size,
            "scaled": recipe.lr_scaling(),
        },
        "world_size": world_size,
        "backend": distributed.backend(),
        "data_root": None if data_root is None else str(Path(data_root).resolve()),
    }


def _publish_run(
    path: Path,
    final: torch.nn.Module,
    config: ModelConfig,
    recipe: Recipe,
    report: EvalReport,
    best: dict[str, Any] | None,
    seed: int,
) -> None:
    """The finished run as a Hub folder: its evaluation (``eval.json``), weights, config and a
    model card that says how it was trained and what it reached."""
    write_json(path / EVAL_FILE, report.to_dict())
    save_pretrained(
        final,
        path,
        eval_results=report.eval_results(),
        overwrite=True,  # the run's own folder
        notes=training_notes(config, recipe, report, best, seed),
        checks=report.checks,
    )


def train_run(
    model: str,
    *,
    dataset: str,
    recipe: Recipe,
    output: str | Path,
    data_root: str | Path | None = None,
    width: int | None = None,
    layers: int | None = None,
    seed: int = 0,
    device: str | torch.device | None = "cpu",
    resume: bool = False,
    eval_attacks: list[str] | None = None,
    eval_n: int | None = None,
    eval_batch_size: int = 200,
    compile: bool = False,
    sync_batchnorm: bool = False,
    checkpoint_interval: float = 600.0,
    progress: ProgressFn | None = None,
) -> RunResult:
    """Train ``model`` on ``dataset`` by ``recipe`` into the run folder ``output``, choose the
    best epoch on the validation split, evaluate it on the test split and write the Hub folder.

    Under torchrun every rank calls this; rank 0 writes. ``resume`` continues a killed run
    from its last checkpoint (or a finished run's missing final evaluation). ``device`` may be
    ``"auto"`` (CUDA where there is one); under torchrun a CUDA rank takes its own GPU.
    """
    context = distributed.current()
    if eval_n is not None and eval_n < 1:
        raise InvalidInput(f"{option('eval_n')} must be at least 1, got {eval_n}")
    if checkpoint_interval < 0:
        raise InvalidInput(f"{option('checkpoint_interval')} must be >= 0 seconds, got {checkpoint_interval}")
    device = resolve_device(distributed.device_for(context, device))
    path = Path(output)
    report_progress = (progress if context.is_main else None) or ignore
    recipe = recipe.for_dataset(dataset)
    train, validation, test = _run_splits(recipe, dataset, data_root)
    example = train[0][0]
    config = model_config_for(
        model, dataset, width=width, layers=layers, recipe=recipe, example_shape=tuple(example.shape)
    )
    torch.manual_seed(seed)  # the same initial weights on every rank and every rerun
    network = build_model(config)  # before anything is written: a config that cannot build fails here
    identity = _identity(config, recipe, seed, eval_attacks, eval_n)
    saved = _check_output(path, identity, resume)
    distributed.barrier()  # every rank has checked the folder before rank 0 writes to it
    if saved is not None and saved.get("status") == "finished":
        report = read_run_report(path)
        return RunResult(path, "finished", saved.get("history", []), saved.get("best"), report, [])

    extra = _run_facts(recipe, train, validation, test, context.world_size, data_root)
    if context.is_main:
        path.mkdir(parents=True, exist_ok=True)
        recipe.save(path / RECIPE_FILE)
        _write_run(path, identity, "training", extra)
    report_progress(
        TrainingStarted(
            model=config.name,
            recipe=recipe.describe(),
            path=str(path),
            train=len(train),  # type: ignore[arg-type]
            validation=len(validation),
            world_size=context.world_size,  # type: ignore[arg-type]
            test=len(test),
            augment=recipe.augment_for(),
            lr_note=recipe.lr_scaling(),
        )
    )  # type: ignore[arg-type]

    def log_epoch(entry: dict[str, Any]) -> None:  # the whole log, rewritten: a resumed run repeats no line
        lines = "".join(json.dumps(e) + "\n" for e in trainer.history)
        atomic_write_text(path / LOG_FILE, lines)

    trainer = Trainer(
        network,
        recipe,
        train,
        validation,
        device=device,
        seed=seed,
        checkpoint=path / CHECKPOINT_FILE,
        best_weights=path / BEST_FILE,
        checkpoint_interval=checkpoint_interval,
        compile=compile,
        sync_batchnorm=sync_batchnorm,
        progress=progress,
        on_epoch=log_epoch,
    )
    result = trainer.fit(resume=resume)
    if context.is_main:
        _write_run(
            path,
            identity,
            "evaluating",
            {**extra, "history": result.history, "best": result.best, "stopped": result.stopped},
        )
    distributed.barrier()

    report_progress(FinalEvaluation("test", eval_n or len(test), (result.best or {}).get("epoch")))  # type: ignore[arg-type]
    final = build_model(config)
    load_strict(final, read_safetensors(path / BEST_FILE), str(path / BEST_FILE))
    report = evaluate(
        final.eval(),
        test,
        attacks=eval_attacks,
        n_examples=eval_n,
        batch_size=eval_batch_size,
        device=device,
        seed=seed,
        output=path / EVAL_RESULTS_FILE,
        resume=True,
        progress=progress,
    )
    if context.is_main:
        _publish_run(path, final, config, recipe, report, result.best, seed)
        _write_run(
            path,
            identity,
            "finished",
            {
                **extra,
                "history": result.history,
                "best": result.best,
                "stopped": result.stopped,
                "replicas": result.replicas,
                "finished": time.time(),
            },
        )
    distributed.barrier()
    return RunResult(path, "finished", result.history, result.best, report, result.notes)
