"""``report.html``: a finished search on one page that opens in a browser with no server: the
verdict on each of the paper's claims with its test, the leaderboards' top architectures with
their intervals, the chosen architectures (search score beside their hold-out re-score) drawn
as cells, and the findings' plots. Images are embedded (base64 PNG), so the file travels alone.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from robnetzoo._io import atomic_write_text

TOP = 10


def _image(path: Path, alt: str) -> str:
    if not path.is_file():
        return ""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"><figcaption>{html.escape(alt)}</figcaption></figure>'


def _pct(value: Any, interval: Any = None) -> str:
    if value is None:
        return "—"
    if interval:
        return f"{value:.1f} [{interval[0]:.1f}, {interval[1]:.1f}]"
    return f"{value:.1f}"


def _search_score(row: dict[str, Any]) -> str:
    interval = None if row.get("robust_low") is None else [row["robust_low"], row["robust_high"]]
    return _pct(row["robust"], interval)


def _holdout_score(row: dict[str, Any]) -> str:
    held = row.get("holdout")
    return _pct(None) if held is None else _pct(held["robust"], held["robust_interval"])


def _table(header: list[str], body: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def write_report(folder: Path, settings: Any, rows: list[dict[str, Any]], analysis: dict[str, Any],
                 selection: dict[str, dict[str, Any]]) -> Path:
    parts = [f"<h1>robnetzoo search: {html.escape(str(folder.name))}</h1>",
             f"<p>preset {html.escape(settings.preset)}, data set {html.escape(settings.dataset)}, "
             f"{len(rows)} candidates, scorer {html.escape(settings.scorer)} ({html.escape(settings.score_attack)} on "
             f"{analysis['measured_on']['validation_images']} held-out training images; one attack seed and one set "
             "of images for every candidate). Intervals are 95%.</p>", "<h2>The paper's claims</h2>"]
    parts.append(_table(["claim", "verdict"], [[v["claim"], v["verdict"]] for v in analysis["verdicts"]]))
    parts.append("<p>Each test, its n and interval: <code>analysis.json</code>.</p>")
    parts.append("<h2>Chosen architectures</h2>")
    parts.append(_table(["model", "candidate", "convs/cell", "params (final)", "search robust %", "hold-out robust %"],
                        [[name, str(r["index"]), f"{r['convs_per_cell']:g}", f"{r['parameters'] / 1e6:.2f}M",
                          _search_score(r), _holdout_score(r)] for name, r in selection.items()]))
    for name in selection:
        parts.append(_image(folder / "cells" / f"{name}.png", f"{name}: its cell(s)"))
    for space in ("cell", "free"):
        top = [r for r in rows if r["space"] == space and r["rank"] is not None][:TOP]
        if not top:
            continue
        parts.append(f"<h2>{space}-space leaderboard (top {len(top)})</h2>")
        parts.append(_table(["rank", "#", "robust %", "clean %", "density", "convs/cell", "identity bits", "params", "genotype"],
                            [[str(r["rank"]), str(r["index"]), _search_score(r), _pct(r["clean"]), f"{r['density']:.2f}", f"{r['convs_per_cell']:g}",
                              f"{r['identity_bits']:g}", f"{r['parameters'] / 1e6:.2f}M", r["genotype"][:60]] for r in top]))
    parts.append("<h2>Findings</h2>")
    for plot in analysis.get("plots", []):
        parts.append(_image(folder / plot, Path(plot).stem.replace("_", " ")))
    style = ("body{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;"
             "font-size:.9em;text-align:right}td:last-child{text-align:left;font-family:monospace}"
             "img{max-width:100%}figure{margin:1em 0}")
    page = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>robnetzoo search "
            f"{html.escape(folder.name)}</title><style>{style}</style></head><body>{''.join(parts)}</body></html>\n")
    path = folder / "report.html"
    atomic_write_text(path, page)
    return path
