"""Accuracy with its uncertainty: a Wilson score interval, sound at 0% and 100% too."""

from __future__ import annotations

import math


def wilson_interval(correct: int, total: int, z: float = 1.959964) -> tuple[float, float]:
    """95% interval (percent) for an accuracy of ``correct / total``."""
    if total <= 0:
        return (0.0, 100.0)
    p = correct / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return (100 * max(0.0, centre - half), 100 * min(1.0, centre + half))
