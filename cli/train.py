"""``robnetzoo train`` and ``robnetzoo publish``: parse, call ``robnetzoo.search``, print."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from robnetzoo.errors import InvalidInput

from ._common import ATTACK_HELP, flag
from ._output import emit_json, emit_json_line, note, show, stderr, stdout, visible
from ._progress import ProgressView


def train_command(
    model: str = typer.Argument(..., help="Registry name (robnet-large, resnet18, ...) or a genotype .json file."),
    dataset: str = typer.Option(
        "digits", help="Data set: digits (built in), mnist, fashion-mnist, cifar10, cifar100, svhn, ..."
    ),
    data_root: Optional[Path] = typer.Option(None, help="Folder holding the data set."),
    preset: str = typer.Option("demo", help="Recipe: paper, fast, trades, demo, or a recipe .json file."),
    output: Path = typer.Option(..., "--output", "-o", help="Run folder (created; never overwritten)."),
    epochs: Optional[int] = typer.Option(None, help="Override the recipe's epochs."),
    batch_size: Optional[int] = typer.Option(
        None, help="Global batch (the lr scales with it where the recipe says so)."
    ),
    lr: Optional[float] = typer.Option(None, help="Peak learning rate at the recipe's reference batch."),
    attack: Optional[str] = typer.Option(None, help="Training attack (pgd7, pgd1 = FGSM with random start, none)."),
    eps: Optional[str] = typer.Option(
        None,
        help="Training threat model radius (default: the data set's, 8/255, 0.3 for mnist, 0.1 for fashion-mnist); "
        "also the evaluation's.",
    ),
    width: Optional[int] = typer.Option(None, help="RobNet width C (channels of the first cell)."),
    layers: Optional[int] = typer.Option(None, help="RobNet cell count."),
    train_n: Optional[int] = typer.Option(None, help="Train on the first N training images only (quick trials)."),
    validation_size: Optional[int] = typer.Option(
        None, help="Hold out N training images for model selection (default: the recipe's rule, 10% up to 1,000)."
    ),
    seed: int = typer.Option(0, help="Seed for weights, data order, augmentation and attacks."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N (under torchrun: each rank's own GPU)."),
    resume: bool = flag("Continue the run in --output from its last checkpoint.", "--resume"),
    eval_attacks: Optional[List[str]] = typer.Option(None, help=ATTACK_HELP + " 'paper' for the paper's suite."),
    eval_n: Optional[int] = typer.Option(None, help="Evaluate on the first N test images (default: all)."),
    checkpoint_minutes: float = typer.Option(10.0, help="Also checkpoint within an epoch this often."),
    compile: bool = flag("torch.compile the training forward.", "--compile"),
    sync_bn: bool = flag("SyncBatchNorm across processes (torchrun).", "--sync-bn"),
    json_out: bool = flag("Events as JSON lines on stdout (epochs, checkpoints, the final report).", "--json"),
) -> None:
    """Adversarially train a model by a recipe; choose the best epoch on held-out training
    images; evaluate it on the test split; leave a Hub folder in --output."""
    from robnetzoo import distributed
    from robnetzoo.attacks import expand
    from robnetzoo.search.recipes import resolve_recipe
    from robnetzoo.search.runs import train_run
    from robnetzoo.threat import parse_eps

    recipe = resolve_recipe(
        preset,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        attack=attack,
        eps=parse_eps(eps) if eps is not None else None,
        train_examples=train_n,
        validation_size=validation_size,
        dataset=dataset,
    )
    names = expand(eval_attacks) if eval_attacks else None
    context = distributed.init_from_env(device)
    bars = ProgressView(enabled=not json_out or stderr.is_terminal, json_events=json_out, eval_prefix="test ")
    try:
        with bars:
            result = train_run(
                model,
                dataset=dataset,
                recipe=recipe,
                output=output,
                data_root=data_root,
                width=width,
                layers=layers,
                seed=seed,
                device=device,
                resume=resume,
                eval_attacks=names,
                eval_n=eval_n,
                compile=compile,
                sync_batchnorm=sync_bn,
                checkpoint_interval=_checkpoint_seconds(checkpoint_minutes),
                progress=bars,
            )
    except KeyboardInterrupt:
        note(
            f"stopped; the last checkpoint is in {output}: rerun the same command with --resume to continue",
            style="red",
            label="interrupted",
        )
        raise typer.Exit(130) from None
    finally:
        distributed.shutdown()
    if not context.is_main:
        return
    report = result.report
    assert report is not None
    for text in result.notes:
        note(text)
    if json_out:
        emit_json_line({"event": "finished", "path": str(result.path), "best": result.best, "report": report.to_dict()})
        return
    best = result.best or {}
    table = Table(
        title=(f"{report.model} on {report.dataset} test"),
        caption=(
            f"n={report.n_examples}, {report.threat()}; best epoch {best.get('epoch', '—')} "
            f"of {len(result.history)} (on held-out training images)"
        ),
    )
    for column in ("metric", "accuracy %", "95% CI"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for label, value in [("clean", report.clean_accuracy), *report.robust_accuracy.items()]:
        low, high = report.interval(label)
        table.add_row(label, f"{value:.2f}", f"{low:.1f}–{high:.1f}")
    show(table)
    stderr.print(
        f"run folder: {result.path} (publish with: robnetzoo publish {result.path} --repo-id ORG/NAME)",
        markup=False,
        soft_wrap=True,
    )


def publish_command(
    run: Path = typer.Argument(..., help="A finished run folder (the --output of robnetzoo train)."),
    repo_id: str = typer.Option(..., "--repo-id", help="Hub repository, ORG/NAME."),
    private: bool = flag("Create the repository private.", "--private"),
    revision: Optional[str] = typer.Option(None, help="Branch to commit to (created if missing)."),
    token: Optional[str] = typer.Option(None, help="Hub token (default: HF_TOKEN or the saved login)."),
    dry_run: bool = flag("Verify and write the folder; upload nothing.", "--dry-run"),
    json_out: bool = flag("Print the result as JSON on stdout.", "--json"),
) -> None:
    """Verify a finished run (strict reload, results re-checked on a few test images), write
    its model card and upload the Hub folder in one commit."""
    from robnetzoo.search.publish import publish

    started = time.perf_counter()
    with stderr.status("verifying the run…"):
        result = publish(
            run,
            repo_id,
            private=private,
            revision=revision,
            token=token,
            dry_run=dry_run,
            on_upload=lambda: stderr.print(f"uploading to {repo_id}…", markup=False),
        )
    if json_out:
        emit_json(result.to_dict())
        return
    stdout.print(
        visible(
            f"{'dry run: would upload' if dry_run else 'uploaded'} {', '.join(result.files)} "
            f"{'from' if dry_run else 'to'} {result.folder if dry_run else result.url}"
        ),
        markup=False,
        soft_wrap=True,
    )
    stderr.print(
        f"verified {result.checked} test images against eval.json in {time.perf_counter() - started:.1f} s",
        markup=False,
    )


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("publish")(publish_command)


def _checkpoint_seconds(minutes: float) -> float:
    """``--checkpoint-minutes`` in seconds, refused in its own unit when it is not a duration."""
    if not math.isfinite(minutes) or minutes < 0:
        raise InvalidInput(
            f"--checkpoint-minutes must be 0 or more minutes, got {minutes:g}",
            fix="give the minutes between checkpoints within an epoch (10 by default)",
        )
    return minutes * 60
