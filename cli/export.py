"""``robnetzoo export``: parse, call ``robnetzoo.export``, print."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from ._common import flag, load_model
from ._output import emit_json, escape, show, stderr


def export_command(
    model: str = typer.Argument(..., help="Registry name, Hub repo id (org/name) or local folder."),
    weights: Optional[Path] = typer.Option(
        None, help="An authors' checkpoint (.pth.tar) to load as MODEL, a registry name (as eval takes it)."
    ),
    trust_pickle: bool = flag("With --weights: allow pickled objects (only for files you trust).", "--trust-pickle"),
    onnx: bool = flag("ONNX (fp32, dynamic batch, BN folded), checked with ONNX Runtime.", "--onnx"),
    aoti: bool = flag("AOTInductor package (.pt2) for --device.", "--aoti"),
    trt: bool = flag(
        "TensorRT engine per precision, from the ONNX graphs (needs TensorRT and CUDA; unverified).", "--trt"
    ),
    precision: Optional[List[str]] = typer.Option(None, help="fp32 (default), fp16 or int8 (QDQ); repeat for several."),
    calibration_data: Optional[str] = typer.Option(None, help="Data set whose training images calibrate int8."),
    calibration_n: int = typer.Option(256, help="How many calibration images int8 uses."),
    calibration_method: str = typer.Option(
        "minmax", help="How int8 ranges are calibrated: minmax, entropy or percentile."
    ),
    per_tensor: bool = flag("int8 weights per tensor instead of per channel.", "--per-tensor"),
    keep_float: Optional[List[str]] = typer.Option(
        None, help="int8: leave this node in fp32 (a node name, or stem, classifier); repeat for several."
    ),
    debug: bool = flag(
        "int8: write each tensor's error against fp32 (quantization_debug.json), worst first.", "--debug-int8"
    ),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="Folder for the artifacts (default: export-MODEL)."
    ),
    overwrite: bool = flag("Replace this model's earlier export in --output.", "--overwrite"),
    parity_data: Optional[str] = typer.Option(
        None, help="Test images for the parity report (default: the model's data set)."
    ),
    parity_n: int = typer.Option(64, help="How many test images the parity report uses."),
    seed: int = typer.Option(0, help="Seed of the parity attack and of synthetic parity images."),
    data_root: Optional[Path] = typer.Option(None, help="Folder holding the data set."),
    device: str = typer.Option(
        "cpu",
        help="Device an AOTInductor package is compiled for (cpu or cuda); "
        "TensorRT engines are built on it if it is a GPU, else on cuda.",
    ),
    json_out: bool = flag("Print the report as JSON on stdout.", "--json"),
) -> None:
    """Deployment artifacts and their parity with torch (export_report.json)."""
    from robnetzoo.errors import InvalidInput
    from robnetzoo.export.exporting import export_model

    formats = tuple(name for name, on in (("onnx", onnx), ("aoti", aoti), ("tensorrt", trt)) if on)
    if not formats:
        raise InvalidInput("choose what to export: --onnx, --aoti or --trt")
    loaded = load_model(model, weights=weights, trust_pickle=trust_pickle)
    folder = output or Path(f"export-{Path(model).name}")
    with stderr.status(f"exporting {', '.join(formats)} into {folder}…"):
        report = export_model(
            loaded,
            folder,
            formats=formats,
            precisions=tuple(precision or ("fp32",)),
            calibration_data=calibration_data,
            calibration_n=calibration_n,
            calibration_method=calibration_method,
            per_channel=not per_tensor,
            keep_float=tuple(keep_float or ()),
            quantization_debug=debug,
            parity_data=parity_data,
            parity_n=parity_n,
            seed=seed,
            data_root=data_root,
            overwrite=overwrite,
            device=device,
        )
    for warning in report.warnings:
        stderr.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False, soft_wrap=True)
    if json_out:
        emit_json(report.to_dict())
        return
    source = report.parity_data
    images = (
        "synthetic images (no test set on disk)"
        if source["dataset"] == "synthetic"
        else f"{source['dataset']} test images"
    )
    table = Table(title=(f"{report.identity['name']}: parity with torch on {source['n']} {images}"))
    for column in (
        "artifact",
        "precision",
        "run as",
        "size",
        "clean max |diff|",
        "clean top-1 agree %",
        "adversarial max |diff|",
        "adversarial top-1 agree %",
    ):
        table.add_column(column, justify="left" if column in ("artifact", "run as") else "right")
    for name, artifact in report.artifacts.items():
        rows = [("runtime", artifact["parity"])]
        if "ideal_int8_parity" in artifact:
            rows += [
                ("ideal (QDQ in float)", artifact["ideal_int8_parity"]),
                ("default session", artifact["default_session_parity"]),
            ]
        for how, p in rows:
            table.add_row(
                Path(artifact["path"]).name,
                artifact["precision"],
                how,
                f"{artifact['size_bytes'] / 1e6:.1f} MB",
                f"{p['clean']['max_abs_diff']:.2e}",
                f"{p['clean']['top1_agreement']:.1f}",
                f"{p['adversarial']['max_abs_diff']:.2e}",
                f"{p['adversarial']['top1_agreement']:.1f}",
            )
    show(table)
    host = report.host
    stderr.print(f"host: {host['name']} ({', '.join(host['flags'] or ['flags unknown'])})", markup=False)
    for artifact in report.artifacts.values():
        if "int8_kernel" in artifact:
            stderr.print(
                f"int8 kernel: {artifact['int8_kernel']['kernel']}; a default session: "
                f"{artifact['default_session_int8_kernel']['kernel']}",
                markup=False,
            )
        if "quantization_debug" in artifact:
            worst = artifact["quantization_debug"]["worst_tensors"][:3]
            stderr.print(
                "worst int8 tensors (SQNR dB): "
                + ", ".join(f"{row['node']} {row.get('sqnr_db', row['rounding_sqnr_db']):.1f}" for row in worst)
                + f" (all in {artifact['quantization_debug']['path']})",
                markup=False,
            )
    stderr.print(f"export folder: {folder} (export_report.json)", markup=False)


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)
