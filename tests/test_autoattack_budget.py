"""benchmarks/autoattack_budget.py: both attacks judged on the same examples through the
evaluator, the discordant examples counted from the per-example results, and the verdict
following from the figures; a model it cannot build is one line, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import autoattack_budget  # noqa: E402


def test_the_comparison_counts_what_each_attack_breaks_and_spends(digits_model):
    """The cleanly trained digits model: both attacks break it within a few steps (seconds), and
    the verdict must follow from the figures."""
    pytest.importorskip("pyautoattack")
    import robnetzoo

    data = robnetzoo.load_dataset("digits", "test")
    (row,) = autoattack_budget.compare(digits_model, data, 12)
    clean_correct = round(row["clean"] * row["n"] / 100)
    assert row["n"] == 12 and row["only_autoattack_breaks"] + row["only_cascade_breaks"] <= clean_correct
    assert row["passes"]["autoattack"]["backward"] > 0 and row["passes"]["apgd-cascade"]["backward"] > 0
    weaker = row["robust"]["apgd-cascade"] - row["robust"]["autoattack"]
    assert row["cascade_weaker_by_points"] == pytest.approx(weaker)
    assert row["meets_cost"] == (row["pass_ratio"] >= autoattack_budget.COST_GOAL)


def test_several_square_budgets_are_judged_against_one_autoattack_run(digits_model):
    """A row per budget, each naming its budget; on a model whose gradients are informative no
    point reaches Square, so the budgets agree on every figure but the seconds."""
    pytest.importorskip("pyautoattack")
    import robnetzoo

    data = robnetzoo.load_dataset("digits", "test")
    rows = autoattack_budget.compare(digits_model, data, 8, [7, 70])
    assert [row["square_queries"] for row in rows] == [7, 70]
    assert rows[0]["robust"] == rows[1]["robust"] and rows[0]["passes"] == rows[1]["passes"]
    assert autoattack_budget.compare(digits_model, data, 8)[0]["square_queries"] == 5000  # the cascade's default


def test_the_masked_model_has_no_input_gradient():
    torch.manual_seed(0)
    inner = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    x = torch.rand(4, 1, 8, 8, requires_grad=True)
    autoattack_budget.RoundedInput(inner)(x).sum().backward()
    assert x.grad is not None and not x.grad.any()


def test_a_model_it_cannot_build_is_one_line_exit_2():
    run = subprocess.run(
        [sys.executable, str(BENCHMARKS / "autoattack_budget.py"), "--model", "robnet-huge"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "unknown model 'robnet-huge'" in run.stderr.splitlines()[-1]
