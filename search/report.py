"""``report.html``: a finished search on one page that opens in a browser with no server: the
verdict on each of the paper's claims with its test, the leaderboards' top architectures with
their intervals, the chosen architectures (search score beside their hold-out re-score) drawn
as cells, and the findings' plots. Images are embedded (base64 PNG), so the file travels alone.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from robnetzoo._io import atomic_write_text

from .leaderboard import LeaderboardRow
from .selection import Choice

TOP = 10
TEMPLATE = "report.html.j2"  # in search/templates/, rendered by Jinja2 with autoescaping on


def _image(path: Path, alt: str) -> dict[str, str] | None:
    if not path.is_file():
        return None
    return {"alt": alt, "data": base64.b64encode(path.read_bytes()).decode("ascii")}


def _pct(value: Any, interval: Any = None) -> str:
    if value is None:
        return "—"
    if interval:
        return f"{value:.1f} [{interval[0]:.1f}, {interval[1]:.1f}]"
    return f"{value:.1f}"


def _search_score(row: LeaderboardRow) -> str:
    interval = None if row.robust_low is None else [row.robust_low, row.robust_high]
    return _pct(row.robust, interval)


def _holdout_score(choice: Choice) -> str:
    held = choice.holdout
    if held is None:
        return _pct(None)
    return f"{_pct(held['robust'], held['robust_interval'])}, rank {held['rank']} of {held['of']}"


def render_report(
    folder: Path,
    settings: Any,
    rows: list[LeaderboardRow],
    analysis: dict[str, Any],
    selection: dict[str, Choice],
) -> str:
    """The page's HTML. Every value reaches it through the template, escaped (a genotype, a
    folder or a preset name cannot inject markup); the images are base64 PNG."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("robnetzoo.search", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    leaderboards = []
    for space in ("cell", "free"):
        top = [r for r in rows if r.space == space and r.rank is not None][:TOP]
        if top:
            leaderboards.append(
                {
                    "space": space,
                    "rows": [
                        [
                            str(r.rank),
                            str(r.index),
                            _search_score(r),
                            _pct(r.clean),
                            f"{r.density:.2f}",
                            f"{r.convs_per_cell:g}",
                            f"{r.identity_bits:g}",
                            f"{r.parameters / 1e6:.2f}M",
                            r.genotype[:60],
                        ]
                        for r in top
                    ],
                }
            )
    figures = [_image(folder / "cells" / f"{name}.png", f"{name}: its cell(s)") for name in selection]
    plots = [_image(folder / plot, Path(plot).stem.replace("_", " ")) for plot in analysis.get("plots", [])]
    return environment.get_template(TEMPLATE).render(
        name=folder.name,
        settings=settings,
        n_candidates=len(rows),
        validation_images=analysis["measured_on"]["validation_images"],
        claims=[[v["claim"], v["verdict"]] for v in analysis["verdicts"]],
        chosen=[
            [
                name,
                str(c.row.index),
                f"{c.row.convs_per_cell:g}",
                f"{c.row.parameters / 1e6:.2f}M",
                _search_score(c.row),
                _holdout_score(c),
            ]
            for name, c in selection.items()
        ],
        cells=[f for f in figures if f],
        leaderboards=leaderboards,
        plots=[p for p in plots if p],
    )


def write_report(
    folder: Path,
    settings: Any,
    rows: list[LeaderboardRow],
    analysis: dict[str, Any],
    selection: dict[str, Choice],
) -> Path:
    path = folder / "report.html"
    atomic_write_text(path, render_report(folder, settings, rows, analysis, selection))
    return path
