"""``robnetzoo models | info | convert``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from robnetzoo.errors import InvalidInput, option

from ._common import flag
from ._output import emit_json, fmt, millions, print_table, show, stderr, stdout, visible


def models(
    pattern: Optional[str] = typer.Argument(None, help="Shell-style filter, e.g. 'robnet-*'."),
    dataset: Optional[str] = typer.Option(
        None, help="Only the models of this data set (cifar10, imagenet, svhn, ...)."
    ),
    datasets: bool = flag("List the data sets instead: classes, image size, threat model, files.", "--datasets"),
    data_root: Optional[Path] = typer.Option(None, help="With --datasets: where to look for the files."),
    columns: Optional[str] = typer.Option(
        None, help="Comma-separated columns to show, e.g. name,params,weights (default: all that fit)."
    ),
    json_out: bool = flag("Print the table as JSON on stdout.", "--json"),
) -> None:
    """List the zoo, a table per data set: parameters, the paper's columns for that data set's
    table, and where weights come from (--datasets: the data sets and their threat models)."""
    from robnetzoo.data import dataset_info
    from robnetzoo.info import zoo_table
    from robnetzoo.registry import ALL_PAPER_COLUMNS

    only = [c.strip() for c in columns.split(",") if c.strip()] if columns is not None else None
    if only is not None and not datasets:
        known = _headers(list(ALL_PAPER_COLUMNS), with_dataset=True, measured=list(MEASURED))
        unknown = [c for c in only if c not in known]
        if unknown:
            raise InvalidInput(
                f"no column {', '.join(map(repr, unknown))}",
                fix=f"{option('columns')} takes some of: {', '.join(known)}",
            )
    if datasets:
        _datasets_table(data_root, json_out, only)
        return
    if dataset is not None:
        dataset_info(dataset)
    rows = zoo_table(pattern, dataset)
    if json_out:
        emit_json(rows)
        return
    title = "robnetzoo models (paper: RobNets, CVPR 2020, Linf eps 8/255)"
    if not stdout.is_terminal:  # one tab-separated table for the whole zoo, the data set a column of its own
        _models_table(title, rows, list(ALL_PAPER_COLUMNS), with_dataset=True, measured=list(MEASURED), only=only)
    else:
        for name in dict.fromkeys(row["dataset"] for row in rows):
            group = [row for row in rows if row["dataset"] == name]
            paper = [c for c in ALL_PAPER_COLUMNS if any(c in row["paper"] for row in group)]
            ours = [m for m in MEASURED if any(m in row["measured"] for row in group)]
            _models_table(f"{name}: {title}", group, paper, with_dataset=False, measured=ours, only=only)
    stderr.print(
        "weights: 'packaged' ships in robnetzoo and loads offline ('ours': its test-split accuracy, "
        "95% interval); 'hub' loads by name; 'authors' checkpoint' needs the authors' file "
        "(robnetzoo eval NAME --weights FILE, or robnetzoo convert); 'train it': no weights are published. "
        "ImageNet ResNets: the paper counts the backbone without its classifier (23.52M for ResNet-50)",
        markup=False,
        soft_wrap=True,
    )


MEASURED = ("clean", "pgd20")  # a packaged model's own figures, as the zoo table shows them


def _headers(columns: list[str], *, with_dataset: bool, measured: list[str]) -> list[str]:
    """The zoo table's columns: the name, parameters, the paper's figures, ours, the weights."""
    return [
        "name",
        *(["dataset"] if with_dataset else []),
        "params",
        "paper params",
        *(f"paper {c}" for c in columns),
        *(f"ours {m}" for m in measured),
        "weights",
    ]


def _measured(row: dict, metric: str) -> str:
    """Our own figure with its 95% interval, as ``accuracy [low, high]``."""
    figure = row["measured"].get(metric)
    if figure is None:
        return "—"
    low, high = figure["interval_95"]
    return f"{figure['accuracy']:.1f} [{low:.1f}, {high:.1f}]"


def _models_table(
    title: str,
    rows: list[dict],
    columns: list[str],
    *,
    with_dataset: bool,
    measured: list[str] = (),
    only: list[str] | None = None,
) -> None:
    headers = _headers(columns, with_dataset=with_dataset, measured=measured)
    print_table(
        title,
        headers,
        [
            [
                row["name"],
                *([row["dataset"]] if with_dataset else []),
                millions(row["params"]),
                millions(row["paper_params"]),
                *(fmt(row["paper"].get(c)) for c in columns),
                *(_measured(row, m) for m in measured),
                row["weights"],
            ]
            for row in rows
        ],
        right=tuple(h for h in headers if h.startswith(("params", "paper", "ours"))),
        keep=("params", "weights", *(f"ours {m}" for m in measured)),
        only=None if only is None else [c for c in only if c in headers],  # a group lacks some of the columns
    )


def _datasets_table(root: Optional[Path], json_out: bool, only: Optional[list[str]] = None) -> None:
    from robnetzoo.info import dataset_table

    rows = dataset_table(None if root is None else str(root))
    if json_out:
        emit_json(rows)
        return
    print_table(
        "robnetzoo data sets (threat model: the one each data set's literature evaluates at)",
        ["name", "classes", "input", "threat model", "train", "test", "files"],
        [
            [
                row["name"],
                str(row["num_classes"]),
                "x".join(map(str, row["input_size"])),
                row["threat"],
                fmt_count(row["train_size"]),
                fmt_count(row["test_size"]),
                row.get("found") or ("not found: " + row["files"] if "found" in row else row["files"]),
            ]
            for row in rows
        ],
        right=("classes", "train", "test"),
        keep=("files",),
        only=only,
    )


def fmt_count(value: Optional[int]) -> str:
    return "—" if value is None else f"{value:,}"


def _dataset_info(name: str, root: Optional[Path], json_out: bool) -> None:
    from robnetzoo.info import dataset_facts

    data = dataset_facts(name, None if root is None else str(root))
    if json_out:
        emit_json(data)
        return
    table = Table(show_header=False, title=(f"data set {name}"))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("classes", str(data["num_classes"]))
    table.add_row("input", "x".join(map(str, data["input_size"])))
    table.add_row("threat model", (f"{data['threat']} ({data['threat_source']})"))
    table.add_row("train / test", f"{fmt_count(data['train_size'])} / {fmt_count(data['test_size'])}")
    table.add_row("files", (data["files"]))
    if "found" in data:
        table.add_row("found", (data["found"] or "not found here"))
    show(table)


def info(
    model: str = typer.Argument(..., help="Registry name, Hub repo id (org/name), local folder, or a data set name."),
    revision: Optional[str] = typer.Option(None, help="Hub branch, tag or commit."),
    draw: Optional[Path] = typer.Option(None, "--draw", help="Draw the RobNet's cells to this .png or .svg file."),
    overwrite: bool = flag("Replace an existing --draw file.", "--overwrite"),
    json_out: bool = flag("Print as JSON on stdout.", "--json"),
) -> None:
    """Config, genotype, density, parameters and FLOPs; checks saved weights against the config.
    A data set's name (mnist, fashion-mnist, ...) shows its classes, image size and threat model."""
    from robnetzoo.data import DATASET_INFO
    from robnetzoo.info import draw_model, model_facts

    if model in DATASET_INFO and draw is None and not Path(model).exists():
        _dataset_info(model, None, json_out)
        return

    kwargs = {"revision": revision} if revision else {}
    if draw is not None:
        from robnetzoo.errors import InvalidInput

        if draw.exists() and not overwrite:
            raise InvalidInput(f"{draw} exists; pass --overwrite to replace it, or name another file")
        stderr.print(f"drew {draw_model(model, str(draw), **kwargs)}", markup=False, soft_wrap=True)
        return
    data = model_facts(model, **kwargs)
    if json_out:
        emit_json(data)
        return
    table = Table(show_header=False, title=(data["name"]))
    table.add_column(style="bold")
    table.add_column()
    config = data["config"]
    table.add_row("architecture", (f"{config['arch']} {_short_args(config['arch_args'])}"))
    if config.get("derived_from"):
        derived = config["derived_from"]
        table.add_row("derived from", (f"{derived['name']} ({_short_args(derived['changed']) or 'genotype'})"))
    table.add_row("threat model", (f"{config['threat_model']['norm']} eps={config['threat_model']['eps']:.4g}"))
    table.add_row(
        "dataset",
        f"{config['dataset']} ({config['num_classes']} classes, input {'x'.join(map(str, config['input_size']))})",
    )
    table.add_row("parameters", f"{data['parameters']:,}")
    table.add_row("FLOPs (MACs)", f"{data['macs'] / 1e6:,.1f}M")
    if "genotype" in data:
        cells = data["genotype"]
        table.add_row("genotype", cells[0] if len(cells) == 1 else f"{len(cells)} cells (cell-free); first {cells[0]}")
        table.add_row("density", f"{data['density']:.3f}")
    table.add_row(
        "weights", "loaded strictly: match the config" if data["weights_checked"] else "not loaded (architecture only)"
    )
    if data.get("paper"):
        table.add_row("paper", ", ".join(f"{k} {v}" for k, v in data["paper"].items()))
    show(table)


def _short_args(args: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in args.items() if k != "genotype")


def convert(
    checkpoint: Path = typer.Argument(..., help="The authors' .pth.tar checkpoint."),
    arch: str = typer.Option(..., "--arch", help="Registry name the checkpoint was trained as, e.g. robnet-large."),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Folder to write config.json, model.safetensors, README.md."
    ),
    trust_pickle: bool = flag(
        "Allow arbitrary pickled objects: only for files whose source you trust.", "--trust-pickle"
    ),
    overwrite: bool = flag("Replace a model already in the output folder.", "--overwrite"),
    json_out: bool = flag("Print the summary as JSON on stdout.", "--json"),
) -> None:
    """Convert an authors' checkpoint to a Hub folder (strict: every tensor must fit)."""
    from robnetzoo.convert import convert_checkpoint

    summary = convert_checkpoint(checkpoint, arch, output, trust_pickle=trust_pickle, overwrite=overwrite)
    if json_out:
        emit_json(summary)
    else:
        stdout.print(
            visible(
                f"converted {checkpoint} -> {output} ({summary['tensors']} tensors, "
                f"{summary['parameters']:,} parameters); load it with robnetzoo.from_pretrained({str(output)!r})"
            ),
            markup=False,
            soft_wrap=True,
        )


def register(app: typer.Typer) -> None:
    app.command()(models)
    app.command()(info)
    app.command()(convert)
