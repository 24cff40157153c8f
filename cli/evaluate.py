"""``robnetzoo eval``: robust accuracy of any model from_pretrained accepts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from rich.markup import escape

from robnetzoo.errors import InvalidInput

from ._common import ATTACK_HELP, EPS_HELP, flag, load_model
from ._output import emit_json, fmt, note, stderr, stdout


class _Bars:
    """One rich progress bar per phase: examples done, still robust, images/s, ETA."""

    def __init__(self, enabled: bool) -> None:
        self.progress = Progress(
            TextColumn("{task.description:>9}"), BarColumn(), TaskProgressColumn(),
            TextColumn("{task.completed}/{task.total}"), TextColumn("robust {task.fields[robust]}"),
            TextColumn("{task.fields[rate]} img/s"), TimeRemainingColumn(),
            console=stderr, disable=not enabled,
        )
        self.tasks: dict[str, int] = {}
        self.started: dict[str, tuple[float, int]] = {}
        self.last: dict | None = None

    def __call__(self, event: dict) -> None:
        self.last = event
        phase = event["phase"]
        if phase not in self.tasks:
            self.tasks[phase] = self.progress.add_task(phase, total=event["total"], completed=event["done"], robust="—", rate="—")
            self.started[phase] = (time.perf_counter(), event["done"])
        began, first = self.started[phase]
        elapsed = time.perf_counter() - began
        rate = f"{(event['done'] - first) / elapsed:.0f}" if elapsed > 0 and event["done"] > first else "—"
        robust = "—" if event["robust"] is None else str(event["robust"])
        self.progress.update(self.tasks[phase], completed=event["done"], robust=robust, rate=rate)


def eval_command(
    model: str = typer.Argument(..., help="Registry name, Hub repo id (org/name, hf-hub:org/name) or local folder."),
    attack: Optional[List[str]] = typer.Option(None, "--attack", "-a", help=ATTACK_HELP),
    norm: Optional[str] = typer.Option(None, "--norm", help="Threat model norm: Linf or L2. Default: the model's own."),
    eps: Optional[str] = typer.Option(None, help=EPS_HELP),
    dataset: Optional[str] = typer.Option(None, help="Data set (default: the model's own)."),
    data_root: Optional[Path] = typer.Option(None, help="Folder holding the data set."),
    download: bool = flag("Download the data set if torchvision can.", "--download"),
    n_examples: Optional[int] = typer.Option(None, help="Evaluate the first N test examples (N >= 1)."),
    batch_size: int = typer.Option(200, help="Images per batch; any size resumes any other."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
    seed: int = typer.Option(0, help="Seed for random starts: same seed, same numbers."),
    cascade: bool = flag("Run each attack only on what earlier attacks left standing (AutoAttack style).", "--cascade"),
    bf16: bool = flag("bf16 autocast for attack steps (results confirmed in fp32).", "--bf16"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Results file, written after every batch."),
    resume: bool = flag("Continue an interrupted run from --output.", "--resume"),
    overwrite: bool = flag("Replace an existing --output file.", "--overwrite"),
    weights: Optional[Path] = typer.Option(
        None, help="An authors' .pth.tar checkpoint for MODEL (a registry name), converted on the fly."
    ),
    trust_pickle: bool = flag("With --weights: allow pickled objects (only for files you trust).", "--trust-pickle"),
    revision: Optional[str] = typer.Option(None, help="Hub branch, tag or commit."),
    json_out: bool = flag("Print the report as JSON on stdout.", "--json"),
) -> None:
    """Clean and robust accuracy under attacks, beside the paper's numbers where they apply."""
    import robnetzoo
    from robnetzoo import distributed
    from robnetzoo.attacks import expand
    from robnetzoo.registry import paper_reference
    from robnetzoo.threat import ThreatModel, parse_eps

    # everything the command line alone can get wrong, before anything is loaded
    if resume and output is None:
        raise InvalidInput("--resume needs --output (the results file to continue)")
    if resume and overwrite:
        raise InvalidInput("--resume and --overwrite contradict each other; pick one")
    if n_examples is not None and n_examples < 1:
        raise InvalidInput(f"--n-examples must be at least 1, got {n_examples}")
    if batch_size < 1:
        raise InvalidInput(f"--batch-size must be at least 1, got {batch_size}")
    eps_value = parse_eps(eps) if eps is not None else None
    if norm is not None or eps_value is not None:
        ThreatModel().with_overrides(norm=norm, eps=eps_value)
    names = expand(attack) if attack else None

    # Under torchrun each rank evaluates every world_size-th example; rank 0 merges and prints.
    context = distributed.init_from_env(device)
    net = load_model(model, revision=revision, weights=weights, trust_pickle=trust_pickle)
    config = net.zoo_config
    data = robnetzoo.load_dataset(dataset or config.dataset, "test", data_root, download=download)
    bars = _Bars(enabled=context.is_main and (not json_out or stderr.is_terminal))
    try:
        with bars.progress:
            report = robnetzoo.evaluate(
                net, data, attacks=names, eps=eps_value, norm=norm, n_examples=n_examples, batch_size=batch_size,
                device=distributed.device_for(context, device), seed=seed, cascade=cascade,
                precision="bf16" if bf16 else "fp32", output=output, resume=resume, overwrite=overwrite, progress=bars,
            )
    except KeyboardInterrupt:
        note(_interrupted(bars, output), style="red", label="interrupted")
        raise typer.Exit(130) from None
    finally:
        distributed.shutdown()
    if not context.is_main:
        return
    reference = paper_reference(config, dataset=getattr(data, "name", None), threat_model=report.threat())
    paper = reference[1] if reference is not None else {}
    for text in report.notes:
        note(text)
    if json_out:
        emit_json({**report.to_dict(), "paper": paper})
        return
    table = Table(title=escape(f"{report.model} on {report.dataset} (n={report.n_examples}, {report.threat()})"))
    for column in ("metric", "accuracy %", "95% CI", "paper %", "seconds"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    rows = [("clean", report.clean_accuracy, "natural", report.timings["clean_seconds"])]
    rows += [(name, report.robust_accuracy[name], name, report.timings["attack_seconds"][name]) for name in report.attacks]
    rows.append(("worst case", report.worst_case_accuracy, None, None))
    for label, value, paper_key, seconds in rows:
        low, high = report.interval("worst_case" if label == "worst case" else label)
        table.add_row(label, f"{value:.2f}", f"{low:.1f}–{high:.1f}", fmt(paper.get(paper_key) if paper_key else None), fmt(seconds, 1))
    stdout.print(table)


def _interrupted(bars: "_Bars", output: Optional[Path]) -> str:
    """What a Ctrl-C leaves behind, and how to go on."""
    if not bars.last:
        return "nothing was evaluated yet"
    phase, done, total = bars.last["phase"], bars.last["done"], bars.last["total"]
    where = f"{done} of {total} examples of {phase} done"
    if output is None:
        return f"{where}; nothing was saved (no --output): rerun with --output FILE to make runs resumable"
    return f"{where} and saved in {output}; rerun the same command with --resume to continue"


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
