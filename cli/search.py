"""``robnetzoo search``: parse, call ``robnetzoo.search.pipeline``, print."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ._common import flag
from ._output import emit_json, fmt, millions, note, stderr, stdout
from ._progress import ProgressView

TOP_ROWS = 10


def _parse_budget(value: Optional[str], name: str) -> Optional[float]:
    """``4.41M``, ``4410000`` or ``4.41e6`` parameters."""
    if value is None:
        return None
    from robnetzoo.errors import InvalidInput

    text = value.strip().upper()
    scale = 1e6 if text.endswith("M") else 1.0
    try:
        return float(text.rstrip("M")) * scale
    except ValueError:
        raise InvalidInput(f"--budget-{name} must be a parameter count like 4.41M or 4410000, got {value!r}") from None


def search_command(
    preset: str = typer.Option("demo", help="demo (digits, minutes on a laptop) or paper (CIFAR-10, the authors' scale)."),
    space: Optional[str] = typer.Option(None, help="cell, free or both (one supernet for both spaces)."),
    dataset: Optional[str] = typer.Option(None, help="Data set (default: the preset's)."),
    data_root: Optional[Path] = typer.Option(None, help="Folder holding the data set."),
    candidates: Optional[int] = typer.Option(None, help="Cell-based candidates to sample."),
    free_candidates: Optional[int] = typer.Option(None, help="Cell-free candidates to sample (before the FSP filter)."),
    supernet_epochs: Optional[int] = typer.Option(None, help="Supernet training epochs."),
    finetune_epochs: Optional[int] = typer.Option(None, help="Finetuning epochs per finetuned candidate."),
    finetune_subset: Optional[int] = typer.Option(None, help="Candidates to finetune besides the proxy (0: none)."),
    scorer: Optional[str] = typer.Option(None, help="finetune, inherited or fsp: what ranks the leaderboard."),
    width: Optional[int] = typer.Option(None, help="Supernet width C."),
    layers: Optional[int] = typer.Option(None, help="Supernet cells."),
    budget_small: Optional[str] = typer.Option(None, help="Parameters of robnet-small at C=36, 20 cells (4.41M)."),
    budget_medium: Optional[str] = typer.Option(None, help="Parameters of robnet-medium (5.66M)."),
    budget_large: Optional[str] = typer.Option(None, help="Parameters of robnet-large and -free (6.89M)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Search folder (default search-PRESET-seedS; never overwritten)."),
    resume: bool = flag("Continue the search in --output where it stopped.", "--resume"),
    analyse: Optional[Path] = typer.Option(None, "--analyse", help="Redo the leaderboard, analysis, plots and genotypes of a search folder."),
    seed: int = typer.Option(0, help="Seed of the supernet, the candidates and every attack."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N (under torchrun: each rank's own GPU)."),
    json_out: bool = flag("Print the summary as JSON on stdout.", "--json"),
) -> None:
    """The robust architecture search: train a supernet adversarially, score candidates,
    reproduce the paper's findings, and choose robnet-small/-medium/-large/-free by budget."""
    from robnetzoo import distributed
    from robnetzoo.search.pipeline import analyse as analyse_folder
    from robnetzoo.search.pipeline import run_search
    from robnetzoo.search.settings import get_preset

    budgets = {name: value for name, value in (("small", _parse_budget(budget_small, "small")),
                                               ("medium", _parse_budget(budget_medium, "medium")),
                                               ("large", _parse_budget(budget_large, "large"))) if value is not None}
    bars = ProgressView(enabled=not json_out or stderr.is_terminal, epoch_label="supernet epoch")
    if analyse is not None:
        with bars:
            result = analyse_folder(analyse, budgets=budgets or None, progress=bars)
        _print(result, json_out)
        return
    settings = get_preset(preset).with_overrides(
        space=space, dataset=dataset, candidates=candidates, free_candidates=free_candidates,
        supernet_epochs=supernet_epochs, finetune_epochs=finetune_epochs, finetune_subset=finetune_subset,
        scorer=scorer, width=width, layers=layers, seed=seed, budgets=budgets or None,
    )
    folder = output or Path(f"search-{settings.preset}-seed{seed}")
    context = distributed.init_from_env(device)
    try:
        with bars:
            result = run_search(settings, folder, resume=resume, device=device, data_root=data_root, progress=bars)
    except KeyboardInterrupt:
        note(f"stopped; finished candidates are kept in {folder}: rerun the same command with --resume to continue",
             style="red", label="interrupted")
        raise typer.Exit(130) from None
    finally:
        distributed.shutdown()
    if context.is_main:
        _print(result, json_out)


def _print(result: Any, json_out: bool) -> None:
    from robnetzoo.search.selection import train_command

    for text in result.notes:
        note(text)
    if json_out:
        emit_json(result.summary())
        return
    for space in ("cell", "free"):
        rows = [r for r in result.rows if r["space"] == space and r["rank"] is not None][:TOP_ROWS]
        if not rows:
            continue
        scored = sum(1 for r in result.rows if r["space"] == space and r["rank"] is not None)
        table = Table(title=f"{space}-space leaderboard (top {len(rows)} of {scored}, scorer {result.settings.scorer}, "
                            f"{result.settings.score_attack} on validation)")
        for column in ("rank", "#", "robust %", "clean %", "finetuned %", "density", "direct/skip convs", "params", "genotype"):
            table.add_column(column, justify="left" if column == "genotype" else "right")
        for r in rows:
            table.add_row(str(r["rank"]), str(r["index"]), fmt(r["robust"], 1), fmt(r["clean"], 1),
                          fmt(r["finetune_robust"], 1), f"{r['density']:.2f}", f"{r['direct_convs']}/{r['skip_convs']}",
                          millions(r["parameters"]), escape(_short(r["genotype"])))
        stdout.print(table)
    a = result.analysis
    f1, proxies = a["finding1_density"], a["proxies"]
    findings = Table(title="findings (analysis.json)")
    findings.add_column("measure")
    findings.add_column("value", justify="left")
    findings.add_row("Finding 1: density vs robust accuracy",
                     f"Spearman {fmt(f1['spearman'])} (p={_p(f1['spearman_p'])}), Pearson {fmt(f1['pearson'])} "
                     f"(p={_p(f1['pearson_p'])}), n={f1['n']}")
    f2 = a["finding2_direct_edges"]
    findings.add_row("Finding 2: direct-edge convs, same total",
                     f"more-direct half wins {f2['groups_where_direct_heavy_wins']} of {f2['groups_compared']} groups; "
                     f"within-group Spearman {fmt(f2['within_group']['spearman'])}")
    f3 = a["finding3_fsp"]
    if f3["cells"]:
        raw = [str(c["cell"]) for c in f3["cells"] if c["robust_lower"]]
        relative = [str(c["cell"]) for c in f3["cells"] if c["robust_lower_relative"]]
        findings.add_row("Finding 3: FSP loss, robust < non-robust",
                         f"relative loss in cells {', '.join(relative) or 'none'}, raw loss in cells "
                         f"{', '.join(raw) or 'none'} (of 0-{len(f3['cells']) - 1})")
    for proxy in ("inherited", "fsp"):
        if proxy in proxies:
            p = proxies[proxy]
            findings.add_row(f"proxy {proxy} vs finetuning (n={proxies['n']})",
                             f"Spearman {fmt(p['spearman'])}, Kendall {fmt(p['kendall'])}, "
                             f"{fmt(p['cost_ratio'], 1)}x cheaper")
    stdout.print(findings)
    chosen = Table(title="chosen architectures (genotypes/)")
    for column in ("model", "#", "robust %", "params", "budget", "train it"):
        chosen.add_column(column, justify="left" if column in ("model", "train it") else "right")
    for name, row in result.selection.items():
        chosen.add_row(name, str(row["index"]), fmt(row["robust"], 1), millions(row["parameters"]),
                       millions(int(row["budget"])), escape(train_command(name, row, result.folder)))
    stdout.print(chosen)
    plots = ", ".join(a.get("plots", []))
    stderr.print(f"search folder: {result.folder} (leaderboard.csv, analysis.json, {plots})", markup=False, soft_wrap=True)


def _short(genotype: str, limit: int = 34) -> str:
    return genotype if len(genotype) <= limit else genotype[: limit - 1] + "…"


def _p(value: Optional[float]) -> str:
    return "—" if value is None else f"{value:.2g}"


def register(app: typer.Typer) -> None:
    app.command("search")(search_command)
