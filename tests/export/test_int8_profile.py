"""The int8 profiling benchmark runs end to end at its smallest size and writes a profile that
adds up: every variant, its throughput, and kernel time by operator type."""

from __future__ import annotations

import json

from tests.support import run_benchmark


def test_the_int8_profile_runs_and_its_operator_shares_add_up(tmp_path):
    out = tmp_path / "profile.json"
    done = run_benchmark("int8_profile.py", "--smoke", "--json", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    variants = report["variants"]
    assert list(variants)[0] == "fp32" and len(variants) == 4
    assert report["depthwise_convolutions"] > 0
    for name, row in variants.items():
        assert row["images_per_s"] > 0, name
        shares = [entry["share"] for entry in row["profile"]["by_op"].values()]
        assert abs(sum(shares) - 1) < 1e-6, name
    assert "Conv" in variants["fp32"]["profile"]["by_op"]
    assert "QLinearConv" in variants["int8 (shipped: per channel, uint8 activations)"]["profile"]["by_op"]
    # depthwise convolutions kept in float run as float Conv nodes inside the int8 graph
    assert "Conv" in variants["int8, depthwise convolutions in float"]["profile"]["by_op"]
