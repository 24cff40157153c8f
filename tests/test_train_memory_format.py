"""The memory-format benchmark runs end to end at its smallest size, and what it compares is
the same model: the two formats' logits agree to float rounding."""

from __future__ import annotations

import json

from tests.support import run_benchmark


def test_the_memory_format_benchmark_times_both_formats_of_the_same_model(tmp_path):
    out = tmp_path / "formats.json"
    done = run_benchmark("train_memory_format.py", "--smoke", "--json", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["machine"]["cpu"] and report["smoke"] is True
    assert set(report["models"]) == {"robnet, random 4-conv cell", "wrn-10-1"}
    for name, row in report["models"].items():
        median = row["median"]
        assert median["nchw"] > 0 and median["channels_last"] > 0, name
        assert abs(row["ratio"] - median["nchw"] / median["channels_last"]) < 1e-12, name
        assert row["max_logit_gap"] < 1e-4, name  # the same weights computed in two layouts
        assert f"x{row['ratio']:.2f}" in done.stdout
