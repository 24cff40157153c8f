"""``robnetzoo eval``: robust accuracy of any model from_pretrained accepts."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.table import Table

from robnetzoo.config import config_of
from robnetzoo.errors import InvalidInput
from robnetzoo.evaluation.checks import RobustnessCheckWarning

from ._common import ATTACK_HELP, EPS_HELP, flag, load_model
from ._output import count_text, emit_json, escape, fmt, note, show, stderr
from ._progress import ProgressView


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
    runtime: Optional[str] = typer.Option(
        None, help="Judge a deployment runtime beside torch: onnxruntime, aoti or tensorrt."
    ),
    precision: str = typer.Option(
        "fp32", help="With --runtime: fp32, fp16 or int8 (onnxruntime, tensorrt; aoti is fp32)."
    ),
    artifact: Optional[Path] = typer.Option(
        None, help="With --runtime: an exported .onnx / .pt2 / .engine (default: export now)."
    ),
    trust_artifact: bool = flag(
        "With --runtime aoti/tensorrt --artifact: load it (it runs native code; only files you made or trust).",
        "--trust-artifact",
    ),
    calibration_data: Optional[str] = typer.Option(None, help="With --runtime --precision int8: calibration data set."),
    calibration_n: int = typer.Option(256, help="Calibration images for int8."),
    sanity: bool = flag("Add the unbounded-eps check: PGD at an unbounded radius must reach 0% robust.", "--sanity"),
    preset: Optional[str] = typer.Option(
        None,
        help="robustbench: RobustBench's protocol (standard AutoAttack, the first "
        "10,000 CIFAR / 5,000 ImageNet test images) and its model_info JSON.",
    ),
    model_info: Optional[Path] = typer.Option(
        None, help="With --preset robustbench: where the model_info JSON goes (default: model_info-MODEL.json)."
    ),
    plot: Optional[Path] = typer.Option(
        None,
        help="With an eps list: the curve's plot (.png or .svg; default: "
        "curve.png in --output, else robustness-curve.png).",
    ),
    json_out: bool = flag("Print the report as JSON on stdout.", "--json"),
) -> None:
    """Clean and robust accuracy under attacks, beside the paper's numbers where they apply, with
    the sanity checks (gradient masking, randomness, monotonicity, black box beating white box)."""
    from robnetzoo.evaluation.evaluator import check_request
    from robnetzoo.threat import parse_eps

    # everything the command line alone can get wrong, before anything is loaded
    if eps is not None and "," in eps:
        if runtime is not None:
            raise InvalidInput(
                "an eps list (a robustness curve) is for torch evaluation; give one --eps with --runtime"
            )
        _eval_curve(
            model,
            eps=eps,
            attack=attack,
            norm=norm,
            dataset=dataset,
            data_root=data_root,
            download=download,
            n_examples=n_examples,
            batch_size=batch_size,
            device=device,
            seed=seed,
            cascade=cascade,
            output=output,
            resume=resume,
            overwrite=overwrite,
            plot=plot,
            json_out=json_out,
            revision=revision,
            sanity=sanity,
        )
        return
    eps_value = parse_eps(eps) if eps is not None else None
    info_path = None
    if preset is not None:
        if preset != "robustbench":
            raise InvalidInput(f"unknown preset {preset!r}; use robustbench")
        if attack or runtime is not None or cascade:
            raise InvalidInput(
                "--preset robustbench runs RobustBench's protocol (standard AutoAttack alone, on torch): "
                "drop --attack, --runtime and --cascade"
            )
        from robnetzoo._io import output_mode

        info_path = model_info or Path(f"model_info-{Path(model).name}.json")
        output_mode(
            info_path,
            "a model_info file",
            holds=info_path.exists(),
            overwrite=overwrite,
            can_resume=False,
            folder=False,
            argument="model_info",
        )
    names = check_request(
        attacks=attack or None, n_examples=n_examples, batch_size=batch_size, eps=eps_value, norm=norm
    )

    if runtime is not None:
        _eval_runtime(
            model,
            runtime=runtime,
            precision=precision,
            artifact=artifact,
            calibration_data=calibration_data,
            calibration_n=calibration_n,
            attacks=names,
            eps=eps_value,
            norm=norm,
            dataset=dataset,
            data_root=data_root,
            download=download,
            n_examples=n_examples,
            batch_size=batch_size,
            seed=seed,
            device=device,
            output=output,
            json_out=json_out,
            revision=revision,
            trust_artifact=trust_artifact,
        )
        return
    _eval_torch(
        model,
        names=names,
        eps=eps_value,
        norm=norm,
        dataset=dataset,
        data_root=data_root,
        download=download,
        n_examples=n_examples,
        batch_size=batch_size,
        device=device,
        seed=seed,
        cascade=cascade,
        bf16=bf16,
        output=output,
        resume=resume,
        overwrite=overwrite,
        weights=weights,
        trust_pickle=trust_pickle,
        revision=revision,
        sanity=sanity,
        info_path=info_path,
        json_out=json_out,
    )


def _eval_torch(
    model: str,
    *,
    names: Optional[List[str]],
    eps: Optional[float],
    norm: Optional[str],
    dataset: Optional[str],
    data_root: Optional[Path],
    download: bool,
    n_examples: Optional[int],
    batch_size: int,
    device: str,
    seed: int,
    cascade: bool,
    bf16: bool,
    output: Optional[Path],
    resume: bool,
    overwrite: bool,
    weights: Optional[Path],
    trust_pickle: bool,
    revision: Optional[str],
    sanity: bool,
    info_path: Optional[Path],
    json_out: bool,
) -> None:
    """``eval`` on torch: the plain evaluation, or RobustBench's protocol when ``info_path`` is set."""
    import robnetzoo
    from robnetzoo import distributed
    from robnetzoo.registry import paper_reference

    # Under torchrun each rank evaluates every world_size-th example; rank 0 merges and prints.
    context = distributed.init_from_env(device)
    net = load_model(model, revision=revision, weights=weights, trust_pickle=trust_pickle)
    config = config_of(net)
    if info_path is not None:  # refused before the data set is read if RobustBench does not cover it
        from robnetzoo.evaluation.robustbench import protocol
        from robnetzoo.threat import ThreatModel

        protocol(dataset or config.dataset, ThreatModel().with_overrides(norm=norm or config.threat_model.norm).norm)
    data = robnetzoo.load_dataset(dataset or config.dataset, "test", data_root, download=download)
    bars = ProgressView(enabled=context.is_main and (not json_out or stderr.is_terminal))
    common = dict(
        norm=norm,
        n_examples=n_examples,
        batch_size=batch_size,
        device=device,
        seed=seed,
        precision="bf16" if bf16 else "fp32",
        output=output,
        resume=resume,
        overwrite=overwrite,
        progress=bars,
        sanity=sanity,
    )
    info = None
    try:
        with bars, warnings.catch_warnings():
            warnings.simplefilter("ignore", RobustnessCheckWarning)  # rendered below, one line each
            if info_path is not None:
                from robnetzoo.evaluation.robustbench import benchmark

                report, info = benchmark(net, data, **common)
            else:
                report = robnetzoo.evaluate(net, data, attacks=names, eps=eps, cascade=cascade, **common)
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
    render_checks(report.checks)
    if info_path is not None:
        from robnetzoo._io import write_json

        write_json(info_path, info)
        stderr.print(f"RobustBench model_info: {info_path}", markup=False)
    if json_out:
        emit_json({**report.to_dict(), "paper": paper})
        return
    print_report(report, paper)


def print_report(report: Any, paper: dict[str, float]) -> None:
    """The evaluation's table: each metric with its interval, the paper's figure where it
    applies, and what it cost."""
    table = Table(title=(f"{report.model} on {report.dataset} (n={report.n_examples}, {report.threat()})"))
    for column in ("metric", "accuracy %", "95% CI", "paper %", "seconds", "passes fwd+bwd"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    phases = report.cost["phases"]
    rows = [("clean", report.clean_accuracy, "natural", phases["clean"])]
    rows += [(name, report.robust_accuracy[name], name, phases[name]) for name in report.attacks]
    rows.append(("worst case", report.worst_case_accuracy, None, report.cost["total"]))
    for label, value, paper_key, spent in rows:
        low, high = report.interval("worst_case" if label == "worst case" else label)
        table.add_row(
            label,
            f"{value:.2f}",
            f"{low:.1f}–{high:.1f}",
            fmt(paper.get(paper_key) if paper_key else None),
            fmt(spent["seconds"], 1),
            f"{count_text(spent['forward'])}+{count_text(spent['backward'])}",
        )
    table.caption = f"worst case: every attack's cost together, on {report.cost['device']}"
    show(table)


def _eval_runtime(
    model: str,
    *,
    runtime: str,
    precision: str,
    artifact: Optional[Path],
    calibration_data: Optional[str],
    calibration_n: int,
    attacks: Any,
    eps: Any,
    norm: Optional[str],
    dataset: Optional[str],
    data_root: Optional[Path],
    download: bool,
    n_examples: Optional[int],
    batch_size: int,
    seed: int,
    device: str,
    output: Optional[Path],
    json_out: bool,
    revision: Optional[str],
    trust_artifact: bool = False,
) -> None:
    """``eval --runtime``: torch and the runtime side by side (transfer attacks, flips)."""
    import robnetzoo
    from robnetzoo.export.runtime_eval import evaluate_on_runtime

    if output is not None:
        raise InvalidInput("--output (a resumable results file) is for torch evaluation; drop it with --runtime")
    net = load_model(model, revision=revision)
    data = robnetzoo.load_dataset(dataset or config_of(net).dataset, "test", data_root, download=download)
    bars = ProgressView(enabled=not json_out or stderr.is_terminal)
    with bars:
        result = evaluate_on_runtime(
            net,
            data,
            runtime=runtime,
            precision=precision,
            artifact=artifact,
            calibration=calibration_data,
            calibration_n=calibration_n,
            data_root=data_root,
            attacks=attacks,
            eps=eps,
            norm=norm,
            n_examples=n_examples,
            batch_size=batch_size,
            seed=seed,
            device=device,
            progress=bars,
            trust_artifact=trust_artifact,
        )
    if json_out:
        emit_json(result.to_dict())
        return
    a, b, ideal = result.torch, result.on_runtime, result.ideal
    table = Table(
        title=(
            f"{a.model}: torch beside {runtime} {precision} on {a.dataset} (n={a.n_examples}, "
            f"{a.threat()}; runtime attacked by transfer from torch)"
        )
    )
    columns = ["metric", "torch %", f"{runtime} %", "difference"] + (["ideal int8 % (QDQ in float)"] if ideal else [])
    for column in columns:
        table.add_column(column, justify="left" if column == "metric" else "right")
    rows = [("clean", a.clean_accuracy, b.clean_accuracy, ideal.clean_accuracy if ideal else None)]
    rows += [
        (name, a.robust_accuracy[name], b.robust_accuracy[name], ideal.robust_accuracy[name] if ideal else None)
        for name in a.attacks
    ]
    for label, x, y, z in rows:
        table.add_row(label, f"{x:.2f}", f"{y:.2f}", f"{y - x:+.2f}", *([f"{z:.2f}"] if ideal else []))
    flips, ideal_flips = result.flips, result.ideal_flips
    for key, label in (
        ("clean", "prediction flips, clean"),
        ("adversarial", f"prediction flips, {flips['attack']} inputs"),
    ):
        table.add_row(
            label, "", f"{flips[key]:.2f}", f"n={flips['n']}", *([f"{ideal_flips[key]:.2f}"] if ideal_flips else [])
        )
    show(table)
    info = result.runtime_info or {}
    for warning in info.get("warnings", []):
        stderr.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False, soft_wrap=True)
    if info:
        options = ", ".join(f"{k}={v}" for k, v in info["session_options"].items())
        stderr.print(
            f"host: {info['host']['name']} ({', '.join(info['host']['flags'] or ['flags unknown'])})", markup=False
        )
        stderr.print(f"session options: {options}", markup=False)
        if "int8_kernel" in info:
            stderr.print(f"int8 kernel: {info['int8_kernel']['kernel']}", markup=False)
    stderr.print(f"artifact: {result.artifact}", markup=False)


def _eval_curve(
    model: str,
    *,
    eps: str,
    attack: Optional[List[str]],
    norm: Optional[str],
    dataset: Optional[str],
    data_root: Optional[Path],
    download: bool,
    n_examples: Optional[int],
    batch_size: int,
    device: str,
    seed: int,
    cascade: bool,
    output: Optional[Path],
    resume: bool,
    overwrite: bool,
    plot: Optional[Path],
    json_out: bool,
    revision: Optional[str],
    sanity: bool,
) -> None:
    """``eval --eps A,B,C``: one evaluation per radius, the curve's table and its plot."""
    import robnetzoo
    from robnetzoo._io import output_mode
    from robnetzoo.evaluation.curves import (
        check_curve_folder,
        check_plot_path,
        evaluate_curve,
        parse_eps_list,
        plot_curves,
    )
    from robnetzoo.evaluation.evaluator import check_request

    radii = parse_eps_list(eps)
    for radius in radii:
        check_request(eps=radius, norm=norm)
    names = check_request(attacks=attack or None, n_examples=n_examples, batch_size=batch_size)
    plot_path = plot or ((output / "curve.png") if output is not None else Path("robustness-curve.png"))
    check_plot_path(plot_path)
    if output is not None:
        check_curve_folder(output, radii, norm=norm, resume=resume, overwrite=overwrite)
    # the curve folder's own plot follows the folder's rule; any other existing file is the user's
    plot_is_the_curves = plot is None and output is not None
    output_mode(
        plot_path,
        "a plot",
        holds=plot_path.exists() and not plot_is_the_curves,
        overwrite=overwrite,
        can_resume=False,
        folder=False,
        argument="plot",
    )
    net = load_model(model, revision=revision)
    data = robnetzoo.load_dataset(dataset or config_of(net).dataset, "test", data_root, download=download)
    bars = ProgressView(enabled=not json_out or stderr.is_terminal)
    with bars, warnings.catch_warnings():
        warnings.simplefilter("ignore", RobustnessCheckWarning)
        curve = evaluate_curve(
            net,
            data,
            radii,
            output=output,
            resume=resume,
            overwrite=overwrite,
            attacks=names,
            norm=norm,
            n_examples=n_examples,
            batch_size=batch_size,
            device=device,
            seed=seed,
            cascade=cascade,
            progress=bars,
            sanity=sanity,
        )
    plot_curves([curve], plot_path)
    checks = [check for report in curve.reports for check in report.checks] + curve.checks
    render_checks(checks)
    if json_out:
        emit_json(curve.to_dict())
    else:
        print_curves([curve])
    stderr.print(f"plot: {plot_path}", markup=False)


def print_curves(curves: list[Any]) -> None:
    """Accuracy against eps, a column per metric (or per model when several are compared)."""
    first = curves[0]
    report = first.reports[0]
    if len(curves) == 1:
        metrics = ["clean", *report.attacks, "worst_case"]
        table = Table(
            title=(
                f"{first.model} on {report.dataset} ({report.norm}, n={report.n_examples}): "
                "accuracy % against eps, 95% intervals"
            )
        )
        table.add_column("eps", justify="right")
        for metric in metrics:
            table.add_column(metric.replace("_", " "), justify="right")
        for row in first.rows():
            table.add_row(
                row["eps_label"],
                *(
                    f"{row['accuracy'][m]:.1f} ({row['intervals_95'][m][0]:.1f}–{row['intervals_95'][m][1]:.1f})"
                    for m in metrics
                ),
            )
        show(table)
        return
    radii = sorted(
        {row["eps_label"]: row["eps"] for curve in curves for row in curve.rows()}.items(), key=lambda kv: kv[1]
    )
    table = Table(
        title=(
            f"{report.dataset} ({report.norm}): worst-case robust accuracy %, 95% intervals"
            + (" [NOT MEASURED ALIKE: " + "; ".join(first.forced) + "]" if first.forced else "")
        )
    )
    table.add_column("model")
    table.add_column("n", justify="right")
    table.add_column("clean", justify="right")
    for label, _ in radii:
        table.add_column(f"eps {label}", justify="right")
    for curve in curves:
        by_label = {row["eps_label"]: row for row in curve.rows()}
        clean = curve.rows()[0]
        cells = [
            f"{by_label[label]['accuracy']['worst_case']:.1f} ({by_label[label]['intervals_95']['worst_case'][0]:.1f}–"
            f"{by_label[label]['intervals_95']['worst_case'][1]:.1f})"
            if label in by_label
            else "—"
            for label, _ in radii
        ]
        table.add_row(curve.model, str(clean["n"]), f"{clean['accuracy']['clean']:.1f}", *cells)
    show(table)


def compare_command(
    results: List[Path] = typer.Argument(
        ..., help="Results files (eval --output) or curve folders (eval --eps A,B --output DIR)."
    ),
    plot: Optional[Path] = typer.Option(None, help="The curves in one plot (.png or .svg)."),
    force: bool = flag("Compare results measured on different data sets, norms or example counts (marked).", "--force"),
    overwrite: bool = flag("Replace an existing --plot file.", "--overwrite"),
    json_out: bool = flag("Print the comparison as JSON on stdout.", "--json"),
) -> None:
    """Several models' results side by side: a table, and their curves in one plot."""
    from robnetzoo._io import output_mode
    from robnetzoo.evaluation.curves import compare, plot_curves

    if plot is not None:
        output_mode(
            plot, "a plot", holds=plot.exists(), overwrite=overwrite, can_resume=False, folder=False, argument="plot"
        )
    curves = compare(results, force=force)
    if curves[0].forced:
        note("compared anyway (--force): " + "; ".join(curves[0].forced), label="warning")
    if plot is not None:
        plot_curves(curves, plot)
        stderr.print(f"plot: {plot}", markup=False)
    if json_out:
        emit_json({"forced": curves[0].forced, "curves": [curve.to_dict() for curve in curves]})
        return
    print_curves(curves)


def render_checks(checks: list[dict[str, Any]]) -> None:
    """Failed checks as warnings, one line each, then one line counting them all (stderr)."""
    for check in checks:
        if check["passed"] is False:
            note(f"check {check['name']} failed: {check['summary']}", label="warning")
    passed = sum(check["passed"] is True for check in checks)
    failed = sum(check["passed"] is False for check in checks)
    skipped = sorted({check["name"] for check in checks if check["passed"] is None})
    stderr.print(
        f"sanity checks: {passed} passed, {failed} failed"
        + (f", not applicable: {', '.join(skipped)}" if skipped else ""),
        markup=False,
    )


def _interrupted(bars: ProgressView, output: Optional[Path]) -> str:
    """What a Ctrl-C leaves behind, and how to go on."""
    if bars.last_eval is None:
        return "nothing was evaluated yet"
    phase, done, total = bars.last_eval.phase, bars.last_eval.done, bars.last_eval.total
    where = f"{done} of {total} examples of {phase} done"
    if output is None:
        return f"{where}; nothing was saved (no --output): rerun with --output FILE to make runs resumable"
    return f"{where} and saved in {output}; rerun the same command with --resume to continue"


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
    app.command("compare")(compare_command)
