"""``robnetzoo search``: parse, call ``robnetzoo.search.pipeline``, print."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from robnetzoo.errors import InvalidInput

from ._common import flag
from ._output import emit_json, fmt, millions, note, show, significant, stderr, stdout, visible
from ._progress import ProgressView

TOP_ROWS = 10


def search_command(
    preset: str = typer.Option(
        "demo", help="demo (digits, minutes on a laptop) or paper (CIFAR-10, the authors' scale)."
    ),
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
    bands: Optional[str] = typer.Option(
        None, help="Budgets in convolutions per cell (default small=0-7,medium=8-10,large=11-13)."
    ),
    sampler: Optional[str] = typer.Option(
        None, help="edge (independent per-edge codes, as published) or density (a density per cell first)."
    ),
    candidate_seed: Optional[int] = typer.Option(
        None, help="Seed of the candidates' genotypes alone (default: --seed)."
    ),
    supernet_attack: Optional[str] = typer.Option(
        None, help="pgd7 or fgsm-rs (FGSM from a random start, with the overfitting guard)."
    ),
    supernets: Optional[int] = typer.Option(
        None,
        help="Supernets trained from different seeds; candidates are ranked by their mean score (one more re-scores "
        "the choices).",
    ),
    eps: Optional[str] = typer.Option(
        None, help="The threat model's radius (default: the preset's; 8/255 for CIFAR-10)."
    ),
    study: Optional[str] = typer.Option(
        None,
        help="proxies: validate the proxies against 3-epoch finetuning on a finished search (give its folder as "
        "--analyse).",
    ),
    plan: bool = flag(
        "Print the work of every phase and its cost at the shipped CPU and GPU rates, at once; run nothing.", "--plan"
    ),
    timings: Optional[Path] = typer.Option(
        None,
        help="With --plan: price it at the rate measured in this file (benchmarks/paper_scale.py).",
    ),
    time_here: bool = flag(
        "With --plan: time a few supernet steps on this device and price it at that.", "--time-here"
    ),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="Search folder (default search-PRESET-seedS; never overwritten)."
    ),
    resume: bool = flag("Continue the search in --output where it stopped.", "--resume"),
    analyse: Optional[Path] = typer.Option(
        None, "--analyse", help="Redo the leaderboard, analysis, plots and genotypes of a search folder."
    ),
    workers: Optional[int] = typer.Option(
        None,
        help="Processes of one torch thread each that train the supernets and score candidates (a study's too) "
        "side by side (default: as many as torch's threads on CPU, 1 on a GPU); the results are the same for any "
        "number.",
    ),
    seed: int = typer.Option(0, help="Seed of the supernet, the candidates and every attack."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N (under torchrun: each rank's own GPU)."),
    json_out: bool = flag("Print the summary as JSON on stdout.", "--json"),
) -> None:
    """The robust architecture search: train a supernet adversarially, score candidates,
    reproduce the paper's findings, and choose robnet-small/-medium/-large/-free by budget."""
    from robnetzoo import distributed
    from robnetzoo.search.pipeline import analyse_search, run_search
    from robnetzoo.search.settings import get_preset, parse_bands

    parsed_bands = parse_bands(bands) if bands is not None else None
    bars = ProgressView(enabled=not json_out or stderr.is_terminal, epoch_label="supernet epoch")
    if study is not None:
        from robnetzoo.search.studies import run_study

        if analyse is None:
            raise InvalidInput("--study needs the folder of a finished search: --study proxies --analyse FOLDER")
        with bars:
            outcome = run_study(
                study, analyse, device=device, data_root=data_root, seed=seed, progress=bars, workers=workers
            )
        _print_study(outcome, json_out)
        return
    if analyse is not None:
        with bars:
            result = analyse_search(analyse, bands=parsed_bands, progress=bars)
        _print(result, json_out)
        return
    settings = get_preset(preset).with_overrides(
        space=space,
        dataset=dataset,
        candidates=candidates,
        free_candidates=free_candidates,
        supernet_epochs=supernet_epochs,
        finetune_epochs=finetune_epochs,
        finetune_subset=finetune_subset,
        scorer=scorer,
        width=width,
        layers=layers,
        seed=seed,
        bands=parsed_bands,
        sampler=sampler,
        candidate_seed=candidate_seed,
        supernet_attack=supernet_attack,
        supernets=supernets,
        eps=eps,
    )
    if (timings is not None or time_here) and not plan:
        raise InvalidInput(
            f"{'--timings' if timings is not None else '--time-here'} prices a plan; add --plan "
            "(a search itself runs at whatever rate the device has)"
        )
    if plan:
        from robnetzoo.search.plan import plan_search

        with bars:
            work = plan_search(
                settings, device=device, data_root=data_root, progress=bars, timings=timings, time_here=time_here
            )
        _print_plan(work, json_out)
        return
    folder = output or Path(f"search-{settings.preset}-seed{seed}")
    context = distributed.init_from_env(device)
    try:
        with bars:
            result = run_search(
                settings, folder, resume=resume, device=device, data_root=data_root, progress=bars, workers=workers
            )
    except KeyboardInterrupt:
        note(
            f"stopped; finished candidates are kept in {folder}: rerun the same command with --resume to continue",
            style="red",
            label="interrupted",
        )
        raise typer.Exit(130) from None
    finally:
        distributed.shutdown()
    if context.is_main:
        _print(result, json_out)


def _print(result: Any, json_out: bool) -> None:
    from robnetzoo.search.selection import training_command_line

    for text in result.notes:
        note(text)
    if json_out:
        emit_json(result.summary())
        return
    for space in ("cell", "free"):
        rows = [r for r in result.rows if r.space == space and r.rank is not None][:TOP_ROWS]
        if not rows:
            continue
        scored = sum(1 for r in result.rows if r.space == space and r.rank is not None)
        table = Table(
            title=f"{space}-space leaderboard (top {len(rows)} of {scored}, scorer {result.settings.scorer}, "
            f"{result.settings.score_attack} on validation)"
        )
        for column in (
            "rank",
            "#",
            "robust % [95% CI]",
            "clean %",
            "finetuned %",
            "density",
            "convs/cell",
            "params",
            "genotype",
        ):
            table.add_column(column, justify="left" if column == "genotype" else "right")
        for r in rows:
            interval = "" if r.robust_low is None else f" [{r.robust_low:.0f}, {r.robust_high:.0f}]"
            table.add_row(
                str(r.rank),
                str(r.index),
                fmt(r.robust, 1) + interval,
                fmt(r.clean, 1),
                fmt(r.finetune_robust, 1),
                f"{r.density:.2f}",
                f"{r.convs_per_cell:g}",
                millions(r.parameters),
                (_short(r.genotype)),
            )
        show(table)
    a = result.analysis
    findings = Table(title="the paper's claims (analysis.json holds each test, its n and interval)")
    findings.add_column("claim")
    findings.add_column("verdict")
    findings.add_column("figure", justify="left")
    figures = _figures(a)
    for v in a["verdicts"]:
        findings.add_row(v["claim"], v["verdict"], figures.get(v["key"], ""))
    proxies = a["proxies"]
    for proxy in ("inherited", "fsp"):
        if proxy in proxies:
            rho = proxies[proxy]["spearman"]
            findings.add_row(
                f"proxy {proxy} vs finetuning (n={proxies['n']})",
                "measured",
                f"Spearman {_ci(rho)}, {fmt(proxies[proxy]['cost_ratio'], 1)}x cheaper",
            )
    show(findings)
    settings = result.settings
    threat = settings.supernet.threat_model
    chosen = Table(
        title=f"chosen architectures (genotypes/, cells/) on {settings.dataset} at {threat}",
        caption=f"search robust %: mean over {settings.supernets} supernet(s); against the runner-up: "
        "exact McNemar on the images both were scored on; hold-out: images and a supernet "
        "no choice read; whether a pick beats random cells of its band is not known (docs: the search)",
    )
    for column in (
        "model",
        "#",
        "convs/cell",
        "search robust %",
        "runner-up # (robust %), McNemar p",
        "hold-out robust %",
        "params",
        "train it",
    ):
        chosen.add_column(column, justify="left" if column in ("model", "train it") else "right")
    for name, choice in result.selection.items():
        row, held = choice.row, choice.holdout
        search_score = fmt(row.robust, 1) + (
            f" [{row.robust_low:.1f}, {row.robust_high:.1f}]" if row.robust_low is not None else ""
        )
        chosen.add_row(
            name,
            str(row.index),
            f"{row.convs_per_cell:g}",
            search_score,
            _runner_up(choice.runner_up),
            "—"
            if held is None
            else f"{held['robust']:.1f} [{held['robust_interval'][0]:.1f}, "
            f"{held['robust_interval'][1]:.1f}] (n={held['n']}), rank {held['rank']} of {held['of']}",
            millions(row.parameters),
            (training_command_line(name, result.folder)),
        )
    show(chosen)
    plots = ", ".join(a.get("plots", []))
    stderr.print(
        f"search folder: {result.folder} (report.html, results.json, leaderboard.csv, analysis.json, {plots})",
        markup=False,
        soft_wrap=True,
    )


def _runner_up(second: Optional[dict]) -> str:
    if not second:
        return "— (alone in its band)"
    test = second.get("mcnemar") or {}
    p = "—" if test.get("p") is None else f"{test['p']:.2g}"
    return f"#{second['index']} ({fmt(second['robust'], 1)}), p={p}"


def _ci(stat: Optional[dict]) -> str:
    if not stat or stat.get("value") is None:
        return "—"
    low, high = stat["interval"]
    p = f", p={stat['p']:.2g}" if stat.get("p") is not None else ""
    return f"{stat['value']:.2f} [{low:.2f}, {high:.2f}]{p}"


def _figures(a: dict) -> dict:
    """One line of figures per claim (n, estimate, 95% interval, test)."""
    f1, f2, f3 = a["finding1_density"], a["finding2_direct_edges"], a["finding3_fsp"]
    out = {
        "finding1_density": f"Spearman {_ci(f1['all'])}, n={f1['n']}",
        "finding1_window": f"Spearman {_ci(f1['window'])}, n={f1['window']['n']}",
        "finding1_connectivity": f"partial Spearman of identity bits given convs {_ci(f1['identity_given_convs'])}",
    }
    twins = f2.get("connectivity") or {}
    if twins.get("pairs") and twins.get("interval") is not None:
        out["finding1_connectivity"] = (
            f"densified twin's gain {twins['mean']:+.2f} [{twins['interval'][0]:+.2f}, "
            f"{twins['interval'][1]:+.2f}] points, n={twins['pairs']} pairs at fixed convs, "
            f"Wilcoxon p={_p(twins['wilcoxon_p'])}"
        )
    if "inputs" in f2:
        small, trend = f2["inputs"]["small_budget"], f2["inputs"]["interaction"]["spearman_gain_vs_convs"]
        if small["mean"] is not None and small["interval"] is not None:
            out["finding2_small_budget"] = (
                f"gain {small['mean']:+.2f} [{small['interval'][0]:+.2f}, "
                f"{small['interval'][1]:+.2f}] points, n={small['n']} pairs, "
                f"Wilcoxon p={_p(small['wilcoxon_p'])}"
            )
        out["finding2_interaction"] = f"Spearman of gain and convs {_ci(trend)}, n={trend['n']}"
    if f3.get("deep_raw"):
        d = f3["deep_raw"]
        out["finding3_fsp"] = (
            f"raw FSP gap {d['mean']:.3g} over {f3['pairs']} density-matched pairs, "
            f"permutation p={_p(d['p'])} (smallest possible {_p(d['smallest_possible_p'])})"
        )
    return out


def _print_study(outcome: Any, json_out: bool) -> None:
    if json_out:
        emit_json(outcome)
        return
    table = Table(
        title=f"proxies against {outcome['reference']} (n={outcome['n']} random candidates; 95% bootstrap intervals)"
    )
    for column in ("proxy", "Spearman", "Kendall", "s/candidate", "cost ratio"):
        table.add_column(column, justify="left" if column == "proxy" else "right")
    for name, p in outcome["proxies"].items():
        table.add_row(name, _ci(p["spearman"]), _ci(p["kendall"]), f"{p['seconds']:.1f}", f"{p['cost_ratio']:.1f}x")
    ceiling = outcome["reliability"]
    table.add_row(
        f"finetuning, seed 2 (n={ceiling['spearman']['n']}: the ceiling)",
        _ci(ceiling["spearman"]),
        _ci(ceiling["kendall"]),
        f"{outcome['finetune_seconds']:.1f}",
        "1.0x",
    )
    show(table)
    for line in outcome["verdicts"]:
        stdout.print(visible(line), soft_wrap=True)
    stderr.print(f"study written to {outcome['path']}", markup=False, soft_wrap=True)


def _cost(price: dict, hours: float) -> str:
    return f"{significant(hours / 24)} days" if price["kind"] == "cpu" else f"{significant(hours)} GPU-hours"


def _print_plan(work: Any, json_out: bool) -> None:
    if json_out:
        emit_json(work)
        return
    prices = work["prices"]
    table = Table(title=f"plan of the {work['preset']} search (image forward+backward passes)")
    for column in ("phase", "what", "passes", *(p["kind"].upper() for p in prices)):
        table.add_column(column, justify="left" if column in ("phase", "what") else "right")
    total = work["passes"]
    for phase in work["phases"]:
        share = phase["passes"] / total if total else 0.0
        table.add_row(
            phase["phase"],
            (phase["what"]),
            f"{phase['passes']:,.0f}",
            *(_cost(p, p["hours"] * share) for p in prices),
        )
    table.add_row("total", "", f"{total:,.0f}", *(_cost(p, p["hours"]) for p in prices))
    show(table)
    for p in prices:
        source = f"{p['kind'].upper()}: {p['how']}, {p['device']}" + (f", {p['date']}" if p.get("date") else "")
        if p["scaled_from"]:
            source += f"; scaled from {p['scaled_from']} by width squared, cells and pixels"
        if p["smoke"]:
            source += "; a smoke run: the figures mean nothing"
        stderr.print(source, markup=False, soft_wrap=True)
    if not any(p["kind"] == "gpu" for p in prices):
        stderr.print(
            "GPU: no rate shipped yet (benchmarks/paper_scale.py on a GPU measures one; --timings FILE prices at it)",
            markup=False,
            soft_wrap=True,
        )
    stderr.print(f"precision: {work['precision']}", markup=False, soft_wrap=True)


def _short(genotype: str, limit: int = 34) -> str:
    return genotype if len(genotype) <= limit else genotype[: limit - 1] + "…"


def _p(value: Optional[float]) -> str:
    return "—" if value is None else f"{value:.2g}"


def register(app: typer.Typer) -> None:
    app.command("search")(search_command)
