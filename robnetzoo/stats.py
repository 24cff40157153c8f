"""Accuracy with its uncertainty: a Wilson score interval, sound at 0% and 100% too."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def wilson_interval(correct: int, total: int, z: float = 1.959964) -> tuple[float, float]:
    """95% interval (percent) for an accuracy of ``correct / total``."""
    if total <= 0:
        return (0.0, 100.0)
    p = correct / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return (100 * max(0.0, centre - half), 100 * min(1.0, centre + half))


# ----------------------------------------------------------------- rank statistics with intervals
# One place for the statistics the search reports: every correlation comes with its n and a
# bootstrap 95% interval, and every comparison with the test that decides it.

BOOTSTRAP_RESAMPLES = 2000


def rank_correlation(x: list[float], y: list[float], *, method: str = "spearman", seed: int = 0,
                     resamples: int = BOOTSTRAP_RESAMPLES) -> dict[str, Any]:
    """Spearman's rho or Kendall's tau of ``x`` and ``y`` with its two-sided p-value and a
    percentile bootstrap 95% interval over the pairs (resampled together; ``seed`` fixes the
    resamples). Statistics are None with fewer than 3 pairs or no spread."""
    from scipy import stats

    out: dict[str, Any] = {"n": len(x), "method": method, "value": None, "p": None, "interval": None}
    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return out
    test = stats.spearmanr if method == "spearman" else stats.kendalltau
    value, p = test(x, y)
    rng = np.random.default_rng(seed)
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    draws = []
    for _ in range(resamples):
        pick = rng.integers(0, len(xs), len(xs))
        if len(set(xs[pick])) < 2 or len(set(ys[pick])) < 2:
            continue
        draws.append(test(xs[pick], ys[pick])[0])
    low, high = (np.percentile(draws, [2.5, 97.5]) if draws else (float("nan"), float("nan")))
    return {**out, "value": float(value), "p": float(p), "interval": [float(low), float(high)]}


def partial_rank_correlation(x: list[float], y: list[float], given: list[float], *, seed: int = 0,
                             resamples: int = BOOTSTRAP_RESAMPLES) -> dict[str, Any]:
    """The Spearman partial correlation of ``x`` and ``y`` given ``given`` (Pearson of the
    ranks' residuals after a linear fit on the ranks of ``given``), with a bootstrap 95%
    interval: how ``x`` goes with ``y`` at a fixed ``given``."""
    from scipy import stats

    out: dict[str, Any] = {"n": len(x), "value": None, "interval": None}
    if len(x) < 4 or len(set(x)) < 2 or len(set(y)) < 2:
        return out

    def partial(xs: np.ndarray, ys: np.ndarray, zs: np.ndarray) -> float:
        rx, ry, rz = (stats.rankdata(v) for v in (xs, ys, zs))
        design = np.column_stack([np.ones_like(rz), rz])
        resid_x = rx - design @ np.linalg.lstsq(design, rx, rcond=None)[0]
        resid_y = ry - design @ np.linalg.lstsq(design, ry, rcond=None)[0]
        denominator = np.sqrt((resid_x ** 2).sum() * (resid_y ** 2).sum())
        return float((resid_x * resid_y).sum() / denominator) if denominator > 0 else float("nan")

    xs, ys, zs = (np.asarray(v, dtype=float) for v in (x, y, given))
    value = partial(xs, ys, zs)
    rng = np.random.default_rng(seed)
    draws = [partial(xs[p], ys[p], zs[p]) for p in (rng.integers(0, len(xs), len(xs)) for _ in range(resamples))]
    draws = [d for d in draws if np.isfinite(d)]
    low, high = np.percentile(draws, [2.5, 97.5]) if draws else (float("nan"), float("nan"))
    return {**out, "value": value, "interval": [float(low), float(high)]}


def mean_interval(values: list[float], *, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> dict[str, Any]:
    """The mean of ``values`` with a percentile bootstrap 95% interval."""
    if not values:
        return {"n": 0, "mean": None, "interval": None}
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), (resamples, len(data)))].mean(axis=1)
    return {"n": len(values), "mean": float(data.mean()), "interval": [float(v) for v in np.percentile(means, [2.5, 97.5])]}


def wilcoxon(differences: list[float]) -> dict[str, Any]:
    """The two-sided Wilcoxon signed-rank test of paired ``differences`` (exact for small n,
    zero differences dropped as in Wilcoxon's original test); p None below 2 nonzero pairs."""
    from scipy import stats

    nonzero = [d for d in differences if d != 0]
    out: dict[str, Any] = {"n": len(differences), "nonzero": len(nonzero), "p": None,
                           "smallest_possible_p": 2 / 2 ** len(nonzero) if nonzero else None}
    if len(nonzero) < 2:
        return out
    return {**out, "p": float(stats.wilcoxon(nonzero).pvalue)}


def paired_permutation_test(differences: list[float], *, seed: int = 0, resamples: int = 10000) -> dict[str, Any]:
    """Two-sided sign-flip permutation test that paired ``differences`` have mean 0 (exact
    enumeration up to 14 pairs); with the smallest p-value the design could give."""
    n = len(differences)
    out: dict[str, Any] = {"n": n, "mean": float(np.mean(differences)) if n else None, "p": None,
                           "smallest_possible_p": 2 / 2 ** n if n else None}
    if n < 2:
        return out
    data = np.asarray(differences, dtype=float)
    observed = abs(data.mean())
    if n <= 14:
        signs = ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1) * 2 - 1
    else:
        signs = np.random.default_rng(seed).choice([-1, 1], size=(resamples, n))
    flipped = np.abs((signs * data).mean(axis=1))
    return {**out, "p": float((flipped >= observed - 1e-12).mean())}


def verdict(p: float | None, effect: float | None, expected_sign: int, *, smallest_possible_p: float | None = None,
            alpha: float = 0.05) -> str:
    """``supports`` / ``contradicts`` / ``cannot decide``: a test at ``alpha`` whose effect has
    the paper's sign supports it, the opposite sign contradicts it; a design whose smallest
    possible p is above ``alpha``, or a p above it, cannot decide."""
    if p is None or effect is None or (smallest_possible_p is not None and smallest_possible_p > alpha):
        return "cannot decide"
    if p >= alpha or effect == 0:
        return "cannot decide"
    return "supports" if (effect > 0) == (expected_sign > 0) else "contradicts"
