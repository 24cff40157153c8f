"""``report.html`` is rendered by a template with autoescaping: no value reaches it raw."""

from __future__ import annotations

from types import SimpleNamespace

from robnetzoo.search.report import render_report
from robnetzoo.search.selection import Choice
from tests.support import leaderboard_row

HOSTILE = "<script>alert(1)</script>"


def test_every_value_is_escaped(tmp_path):
    folder = tmp_path / 'x"<img src=x onerror=alert(1)>'
    folder.mkdir()
    settings = SimpleNamespace(preset=HOSTILE, dataset="digits", scorer="inherited", score_attack="pgd7")
    row = leaderboard_row(
        space="cell",
        rank=1,
        index=3,
        robust=30.0,
        robust_low=20.0,
        robust_high=40.0,
        clean=90.0,
        density=0.5,
        convs_per_cell=7,
        identity_bits=2,
        parameters=100_000,
        genotype=HOSTILE,
    )
    analysis = {
        "measured_on": {"validation_images": 32},
        "verdicts": [{"claim": HOSTILE, "verdict": "supports"}],
        "plots": [],
    }
    page = render_report(folder, settings, [row], analysis, {HOSTILE: Choice(row, (0, 7), None)})
    assert page.startswith("<!DOCTYPE html>")
    assert "<script>" not in page and "<img src=x" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4  # preset, claim, chosen name, genotype
    assert "<td>30.0 [20.0, 40.0]</td>" in page  # the figures themselves arrive intact
