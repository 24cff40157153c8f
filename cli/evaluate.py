"""``robnetzoo eval``: robust accuracy of any model from_pretrained accepts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from robnetzoo.errors import InvalidInput

from ._output import emit_json, fmt, stderr


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

    def __call__(self, event: dict) -> None:
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
    model: str = typer.Argument(..., help="Registry name, Hub repo id (org/name) or local folder."),
    attack: Optional[List[str]] = typer.Option(
        None, "--attack", "-a",
        help="Attack name; repeat for several. 'paper' = the paper's five. Default: pgd20 (Linf), pgdl2 (L2).",
    ),
    norm: Optional[str] = typer.Option(None, "--norm", help="Threat model norm: Linf or L2 (default: the model's own)."),
    eps: Optional[str] = typer.Option(
        None, help="Radius in the norm: 8/255 or 0.0314 for Linf (pixels in [0, 1]); e.g. 0.5 for L2. Default: the model's own."
    ),
    dataset: Optional[str] = typer.Option(None, help="Data set (default: the model's own)."),
    data_root: Optional[Path] = typer.Option(None, help="Folder holding the data set."),
    download: bool = typer.Option(False, "--download", help="Download the data set if torchvision can."),
    n_examples: Optional[int] = typer.Option(None, help="Evaluate the first N test examples."),
    batch_size: int = typer.Option(200, help="Images per batch."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    seed: int = typer.Option(0, help="Seed for random starts: same seed, same numbers."),
    cascade: bool = typer.Option(False, "--cascade", help="Run each attack only on what earlier attacks left standing (AutoAttack style)."),
    bf16: bool = typer.Option(False, "--bf16", help="bf16 autocast for attack steps (results confirmed in fp32)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Results file, written after every batch."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from --output."),
    revision: Optional[str] = typer.Option(None, help="Hub branch, tag or commit."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout."),
) -> None:
    """Clean and robust accuracy under attacks, beside the paper's numbers."""
    import robnetzoo
    from robnetzoo.attacks import expand
    from robnetzoo.registry import paper_reference
    from robnetzoo.threat import ThreatModel, parse_eps

    if resume and output is None:
        raise InvalidInput("--resume needs --output (the results file to continue)")
    eps_value = parse_eps(eps) if eps is not None else None
    if norm is not None or eps_value is not None:
        ThreatModel().with_overrides(norm=norm, eps=eps_value)  # bad input fails before loading
    names = expand(attack) if attack else None
    if batch_size < 1:
        raise InvalidInput(f"--batch-size must be at least 1, got {batch_size}")
    net = robnetzoo.from_pretrained(model, **({"revision": revision} if revision else {}))
    config = net.zoo_config
    data = robnetzoo.load_dataset(dataset or config.dataset, "test", data_root, download=download)
    bars = _Bars(enabled=not json_out or stderr.is_terminal)
    with bars.progress:
        report = robnetzoo.evaluate(
            net, data, attacks=names, eps=eps_value, norm=norm, n_examples=n_examples, batch_size=batch_size,
            device=device, seed=seed, cascade=cascade, precision="bf16" if bf16 else "fp32",
            output=output, resume=resume, progress=bars,
        )
    reference = paper_reference(config, dataset=getattr(data, "name", None), threat_model=report.threat())
    paper = reference[1] if reference is not None else {}
    for note in report.notes:
        stderr.print(f"[yellow]note:[/yellow] {note}")
    if json_out:
        emit_json({**report.to_dict(), "paper": paper})
        return
    table = Table(title=f"{report.model} on {report.dataset} (n={report.n_examples}, {report.threat()})")
    for column in ("metric", "accuracy %", "95% CI", "paper %", "seconds"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    rows = [("clean", report.clean_accuracy, "natural", report.timings["clean_seconds"])]
    rows += [(name, report.robust_accuracy[name], name, report.timings["attack_seconds"][name]) for name in report.attacks]
    rows.append(("worst case", report.worst_case_accuracy, None, None))
    for label, value, paper_key, seconds in rows:
        low, high = report.interval("worst_case" if label == "worst case" else label)
        table.add_row(label, f"{value:.2f}", f"{low:.1f}–{high:.1f}", fmt(paper.get(paper_key) if paper_key else None), fmt(seconds, 1))
    stderr.print(table)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
