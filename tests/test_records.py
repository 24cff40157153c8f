"""Rows of the project's files are dataclasses read back through one function: a damaged row
is one typed error naming the file, a newer writer's extra field is ignored."""

from __future__ import annotations

import json

import pytest

from robnetzoo.errors import CorruptFile
from robnetzoo.search.leaderboard import LEADERBOARD_FILE, read_leaderboard, write_leaderboard
from tests.support import leaderboard_row


def test_a_leaderboard_round_trips_and_a_damaged_row_is_one_error(tmp_path):
    rows = [leaderboard_row(index=3, inherited_robust=41.5, rank=1), leaderboard_row(index=4, space="free")]
    write_leaderboard(rows, tmp_path)
    assert read_leaderboard(tmp_path) == rows
    assert (tmp_path / "leaderboard.csv").read_text().splitlines()[1].startswith("1,3,cell,")

    path = tmp_path / LEADERBOARD_FILE
    data = json.loads(path.read_text())
    data[0]["written_by_a_newer_version"] = True
    path.write_text(json.dumps(data))
    assert read_leaderboard(tmp_path)[0] == rows[0]

    del data[1]["genotype"]
    path.write_text(json.dumps(data))
    with pytest.raises(CorruptFile, match="no genotype field") as raised:
        read_leaderboard(tmp_path)
    assert str(path) in str(raised.value)
    path.write_text(json.dumps([1, 2]))
    with pytest.raises(CorruptFile, match="a JSON number where an object belongs"):
        read_leaderboard(tmp_path)


def test_an_export_report_reads_back_as_written(tmp_path):
    from robnetzoo.export.exporting import REPORT_FILE, ExportReport, read_export_report

    report = ExportReport(
        identity={"name": "m", "fingerprint": "f"},
        parity_data={"dataset": "digits", "n": 4},
        artifacts={"onnx": {"path": "model.onnx", "precision": "fp32"}},
        versions={"torch": "2"},
        machine="x86_64",
        host={"name": "cpu", "flags": []},
        warnings=[],
    )
    (tmp_path / REPORT_FILE).write_text(json.dumps(report.to_dict()))
    assert read_export_report(tmp_path) == report
    (tmp_path / REPORT_FILE).write_text(json.dumps({"identity": {}}))
    with pytest.raises(CorruptFile, match="no parity_data, artifacts, versions field"):
        read_export_report(tmp_path)
