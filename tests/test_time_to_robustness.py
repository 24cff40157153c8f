"""benchmarks/time_to_robustness.py's verdicts: when a time counts as reached, and when the 3x goal
may be called met (only against the textbook loop's earliest possible time)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "time_to_robustness.py"


@pytest.fixture(scope="module")
def script():
    sys.path.insert(0, str(SCRIPT.parent))  # its _results helper
    spec = importlib.util.spec_from_file_location("time_to_robustness", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _curve(*points):  # (seconds, accuracy, interval) per epoch
    return [{"epoch": i + 1, "training_seconds": s, "pgd20": a, "interval": iv} for i, (s, a, iv) in enumerate(points)]


def test_the_target_is_reached_at_the_first_epoch_at_or_above_it(script):
    curve = _curve((10, 80.0, (73.0, 86.0)), (20, 88.0, (82.0, 92.0)), (30, 91.0, (85.0, 94.5)))
    assert script.time_to_target(curve, 90) == {
        "reached": True,
        "epoch": 3,
        "seconds": 30,
        "earliest_epoch": 2,
        "earliest_seconds": 20,
        "trained_seconds": 30,
    }
    never = script.time_to_target(curve[:2], 90)
    assert never["reached"] is False and never["seconds"] is None and never["trained_seconds"] == 20


def test_the_goal_is_met_only_against_the_textbook_loops_earliest_time(script):
    def methods(fast_seconds, text_seconds, text_earliest):
        fast = {"reached": True, "seconds": fast_seconds}
        text = {
            "reached": True,
            "seconds": text_seconds,
            "earliest_seconds": text_earliest,
            "trained_seconds": text_seconds,
        }
        return {"textbook-pgd7": {"time_to_target": text}, "ours-fast": {"time_to_target": fast}}

    assert script.ratios_of(methods(100, 400, 300))["ours-fast"]["goal_3x"] == "met"  # 3x even at the earliest
    assert script.ratios_of(methods(100, 400, 200))["ours-fast"]["goal_3x"] == "cannot decide"  # 4x, but 2x possible
    assert script.ratios_of(methods(100, 250, 200))["ours-fast"]["goal_3x"] == "not met"
    unreached = methods(100, 900, None)
    unreached["textbook-pgd7"]["time_to_target"].update(reached=False, seconds=None)
    assert script.ratios_of(unreached)["ours-fast"]["ratio_at_least"] == 9
