"""Accuracy with its uncertainty: a Wilson score interval, sound at 0% and 100% too."""

from __future__ import annotations

import enum
from typing import Any

import numpy as np


def wilson_interval(correct: int, total: int) -> tuple[float, float]:
    """95% Wilson score interval (percent) for an accuracy of ``correct / total``
    (``scipy.stats.binomtest(...).proportion_ci``)."""
    from scipy import stats

    if total <= 0:
        return (0.0, 100.0)
    interval = stats.binomtest(int(correct), int(total)).proportion_ci(confidence_level=0.95, method="wilson")
    return (100 * max(0.0, float(interval.low)), 100 * min(1.0, float(interval.high)))


# ----------------------------------------------------------------- rank statistics with intervals
# One place for the statistics the search reports: every correlation comes with its n and a
# bootstrap 95% interval, and every comparison with the test that decides it.

BOOTSTRAP_RESAMPLES = 2000


def rank_correlation(
    x: list[float], y: list[float], *, method: str = "spearman", seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES
) -> dict[str, Any]:
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
    low, high = np.percentile(draws, [2.5, 97.5]) if draws else (float("nan"), float("nan"))
    return {**out, "value": float(value), "p": float(p), "interval": [float(low), float(high)]}


def partial_rank_correlation(
    x: list[float], y: list[float], given: list[float], *, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES
) -> dict[str, Any]:
    """The Spearman partial correlation of ``x`` and ``y`` given ``given`` (Pearson of the
    ranks' residuals after a linear fit on the ranks of ``given``), with a bootstrap 95%
    interval and the t-test's p (n - 3 degrees of freedom): how ``x`` goes with ``y`` at a
    fixed ``given``."""
    from scipy import stats

    out: dict[str, Any] = {"n": len(x), "value": None, "interval": None}
    if len(x) < 4 or len(set(x)) < 2 or len(set(y)) < 2:
        return out

    def partial(xs: np.ndarray, ys: np.ndarray, zs: np.ndarray) -> float:
        rx, ry, rz = (stats.rankdata(v) for v in (xs, ys, zs))
        design = np.column_stack([np.ones_like(rz), rz])
        resid_x = rx - design @ np.linalg.lstsq(design, rx, rcond=None)[0]
        resid_y = ry - design @ np.linalg.lstsq(design, ry, rcond=None)[0]
        denominator = np.sqrt((resid_x**2).sum() * (resid_y**2).sum())
        return float((resid_x * resid_y).sum() / denominator) if denominator > 0 else float("nan")

    xs, ys, zs = (np.asarray(v, dtype=float) for v in (x, y, given))
    value = partial(xs, ys, zs)
    rng = np.random.default_rng(seed)
    draws = [partial(xs[p], ys[p], zs[p]) for p in (rng.integers(0, len(xs), len(xs)) for _ in range(resamples))]
    draws = [d for d in draws if np.isfinite(d)]
    low, high = np.percentile(draws, [2.5, 97.5]) if draws else (float("nan"), float("nan"))
    p = None
    if np.isfinite(value) and abs(value) < 1:  # t with n - 3 degrees of freedom (one variable partialled out)
        t = value * np.sqrt((len(xs) - 3) / (1 - value**2))
        p = float(2 * stats.t.sf(abs(t), len(xs) - 3))
    return {**out, "value": value, "interval": [float(low), float(high)], "p": p}


def mean_interval(values: list[float], *, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> dict[str, Any]:
    """The mean of ``values`` with a 95% interval: Student's t (a percentile bootstrap covers
    well under 95% at the handful of values a per-budget mean has: about 89% at n = 6), and a
    zero-width interval when every value is the same. ``seed`` and ``resamples`` are kept for
    callers that pass them; the interval no longer resamples."""
    from scipy import stats

    if not values:
        return {"n": 0, "mean": None, "interval": None, "method": None}
    data = np.asarray(values, dtype=float)
    mean = float(data.mean())
    if len(data) < 2 or float(data.std()) == 0.0:
        return {"n": len(values), "mean": mean, "interval": [mean, mean] if len(data) >= 2 else None, "method": "t"}
    low, high = stats.t.interval(0.95, len(data) - 1, loc=mean, scale=stats.sem(data))
    return {"n": len(values), "mean": mean, "interval": [float(low), float(high)], "method": "t"}


def wilcoxon(differences: list[float]) -> dict[str, Any]:
    """The two-sided Wilcoxon signed-rank test of paired ``differences`` (exact for small n,
    zero differences dropped as in Wilcoxon's original test); p None below 2 nonzero pairs."""
    from scipy import stats

    nonzero = [d for d in differences if d != 0]
    out: dict[str, Any] = {
        "n": len(differences),
        "nonzero": len(nonzero),
        "p": None,
        "smallest_possible_p": 2 / 2 ** len(nonzero) if nonzero else None,
    }
    if len(nonzero) < 2:
        return out
    return {**out, "p": float(stats.wilcoxon(nonzero).pvalue)}


def paired_permutation_test(differences: list[float], *, seed: int = 0, resamples: int = 10000) -> dict[str, Any]:
    """Two-sided sign-flip permutation test that paired ``differences`` have mean 0
    (``scipy.stats.permutation_test`` on the pairs: exact enumeration of the 2^n sign patterns up
    to 14 pairs, ``resamples`` random ones beyond); with the smallest p-value the design could give."""
    from scipy import stats

    n = len(differences)
    out: dict[str, Any] = {
        "n": n,
        "mean": float(np.mean(differences)) if n else None,
        "p": None,
        "smallest_possible_p": 2 / 2**n if n else None,
    }
    if n < 2:
        return out
    data = np.asarray(differences, dtype=float)
    if not data.any():
        return {**out, "p": 1.0}
    test = stats.permutation_test(
        (data, np.zeros(n)),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=np.inf if n <= 14 else resamples,
        alternative="two-sided",
        rng=np.random.default_rng(seed),
    )
    return {**out, "p": float(min(1.0, test.pvalue))}


def verdict(
    p: float | None,
    effect: float | None,
    expected_sign: int,
    *,
    smallest_possible_p: float | None = None,
    alpha: float = 0.05,
) -> str:
    """``supports`` / ``contradicts`` / ``cannot decide``: a test at ``alpha`` whose effect has
    the paper's sign supports it, the opposite sign contradicts it; a design whose smallest
    possible p is above ``alpha``, or a p above it, cannot decide."""
    if p is None or effect is None or (smallest_possible_p is not None and smallest_possible_p > alpha):
        return "cannot decide"
    if p >= alpha or effect == 0:
        return "cannot decide"
    return "supports" if (effect > 0) == (expected_sign > 0) else "contradicts"


# ----------------------------------------------------------------- families of tests and nested designs


def holm(pvalues: dict[str, float | None]) -> dict[str, float | None]:
    """Holm's step-down adjustment of a family of p-values (name -> p; None is not a test and
    stays None): each adjusted p is compared with 0.05 as the family's error rate demands."""
    tested = sorted((p, name) for name, p in pvalues.items() if p is not None)
    m, running, adjusted = len(tested), 0.0, {}
    for rank, (p, name) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[name] = running
    return {name: adjusted.get(name) for name in pvalues}


def nested_bootstrap_difference(
    pick: list[float], arms: list[list[float]], *, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES
) -> dict[str, Any]:
    """The pick's mean minus the mean of a random arm of architectures, each measured over
    seeds, with a 95% percentile interval from a two-stage bootstrap: architectures of the arm
    are resampled, then seeds within each architecture (and within the pick), so both the choice
    of random architectures and the training noise widen the interval. ``p`` is the two-sided
    bootstrap p of "no difference" (twice the smaller share of resampled differences on either
    side of 0)."""
    rng = np.random.default_rng(seed)
    pick_values = np.asarray(pick, dtype=float)
    arm_values = [np.asarray(a, dtype=float) for a in arms if len(a)]
    if len(pick_values) == 0 or len(arm_values) < 2:
        return {"value": None, "interval": None, "p": None, "n_architectures": len(arm_values), "resamples": resamples}
    estimate = pick_values.mean() - np.mean([a.mean() for a in arm_values])
    draws = np.empty(resamples)
    for i in range(resamples):
        chosen = rng.integers(0, len(arm_values), len(arm_values))
        arm_mean = np.mean([rng.choice(arm_values[c], len(arm_values[c])).mean() for c in chosen])
        draws[i] = rng.choice(pick_values, len(pick_values)).mean() - arm_mean
    low, high = np.percentile(draws, [2.5, 97.5])
    p = min(1.0, 2 * min(float(np.mean(draws <= 0)), float(np.mean(draws >= 0))))
    return {
        "value": float(estimate),
        "interval": [float(low), float(high)],
        "p": p,
        "n_architectures": len(arm_values),
        "resamples": resamples,
    }


def variance_components(groups: dict[str, list[float]]) -> dict[str, Any]:
    """How much of the spread of a measurement is between groups (architectures) and how much
    within them (seeds): a one-way ANOVA (``scipy.stats.f_oneway``) with the between-group
    standard deviation of the means, the pooled within-group standard deviation, and the share
    of variance between groups (the intraclass correlation, ANOVA estimator, floored at 0)."""
    from scipy import stats

    values = [np.asarray(v, dtype=float) for v in groups.values() if len(v)]
    out: dict[str, Any] = {
        "groups": len(values),
        "per_group": [len(v) for v in values],
        "F": None,
        "p": None,
        "between_sd": None,
        "within_sd": None,
        "icc": None,
    }
    if len(values) < 2 or min(len(v) for v in values) < 2:
        return out
    means = np.array([v.mean() for v in values])
    within = float(np.sqrt(np.mean([v.var(ddof=1) for v in values])))
    k = float(np.mean([len(v) for v in values]))
    between_var = max(0.0, float(means.var(ddof=1)) - within**2 / k)
    test = stats.f_oneway(*values)
    F = None if not np.isfinite(test.statistic) else float(test.statistic)
    return {
        **out,
        "F": F,
        "p": None if not np.isfinite(test.pvalue) else float(test.pvalue),
        "between_sd": float(np.sqrt(between_var)),
        "means_sd": float(means.std(ddof=1)),
        "within_sd": within,
        "icc": between_var / (between_var + within**2) if between_var + within**2 > 0 else None,
        "icc_interval": None if F is None else icc_interval(F, [len(v) for v in values]),
    }


def icc_interval(F: float, per_group: list[int], confidence: float = 0.95) -> list[float]:
    """The exact interval of the one-way intraclass correlation from its ANOVA F (Searle 1971;
    Shrout and Fleiss' ICC(1)): F divided by the F distribution's quantiles, mapped through
    (F - 1) / (F + k - 1), with k the groups' effective size (their mean for equal groups),
    clipped to [0, 1]. Exact for equal groups and normal errors; close for mildly unequal ones."""
    from scipy import stats

    g, total = len(per_group), sum(per_group)
    k = (total - sum(n * n for n in per_group) / total) / (g - 1)
    df_between, df_within = g - 1, total - g
    tail = (1 - confidence) / 2
    low_f = F / stats.f.ppf(1 - tail, df_between, df_within)
    high_f = F / stats.f.ppf(tail, df_between, df_within)

    def icc(f: float) -> float:
        return float(min(1.0, max(0.0, (f - 1) / (f + k - 1))))

    return [icc(low_f), icc(high_f)]


def mcnemar(first: str | list[bool], second: str | list[bool]) -> dict[str, Any]:
    """The exact McNemar test of two classifiers judged on the same images (each a string of
    ``1``/``0`` or a list of bools, one per image, concatenated over any repeats of the design):
    only the images they disagree on count, ``first_only`` survived by the first alone and
    ``second_only`` by the second alone; p is the two-sided binomial p of an even split
    (``scipy.stats.binomtest``)."""
    from scipy import stats

    a = [c in ("1", True) for c in first]
    b = [c in ("1", True) for c in second]
    if len(a) != len(b):
        raise ValueError(f"paired results of unequal length: {len(a)} and {len(b)}")
    first_only = sum(x and not y for x, y in zip(a, b))
    second_only = sum(y and not x for x, y in zip(a, b))
    discordant = first_only + second_only
    p = float(stats.binomtest(first_only, discordant, 0.5).pvalue) if discordant else None
    return {"n": len(a), "first_only": first_only, "second_only": second_only, "p": p}


# ----------------------------------------------------------------- the search against random architectures


def pick_versus_random(
    picks: dict[str, list[list[float]]], randoms: dict[str, list[list[float]]], *, confidence: float = 0.95
) -> dict[str, Any]:
    """Does the search pick better than chance? With the architecture as the unit: each pick
    (one search run's choice in a band, trained over seeds) is one value, the mean of its
    trainings; each random architecture of the band is one value too (trained once, as the
    study does: the allocation that makes the random arm's values independent and spends
    nothing on pinning down one random cell). ``picks`` and ``randoms`` map a band to a list of
    architectures, each the list of its trainings' figures.

    The estimate is the pick-minus-random difference of means within each band, combined over
    the bands with weights fixed by the design (band as a fixed effect: ``1 / (1/P + 1/R)``
    normalised, P picks and R random architectures in the band). Its variance uses the two
    groups' own pooled within-band variances (a pick's mean over seeds spreads less than one
    training), and Welch-Satterthwaite degrees of freedom; with one band it is Welch's test.
    Why not the two-stage bootstrap: with a handful of seeds per architecture it rejects true
    nulls several times as often as its nominal rate (``null_rejection_rate`` measures it)."""
    from scipy import stats

    bands = [b for b in picks if picks[b] and len(randoms.get(b, ())) > 0]
    out: dict[str, Any] = {
        "difference": None,
        "interval": None,
        "p": None,
        "df": None,
        "bands": {},
        "n_picks": sum(len(picks[b]) for b in bands),
        "n_random": sum(len(randoms[b]) for b in bands),
        "unit": "architecture",
    }
    pick_means = {b: np.array([float(np.mean(v)) for v in picks[b]]) for b in bands}
    random_values = {b: np.array([float(np.mean(v)) for v in randoms[b]]) for b in bands}
    df_pick = sum(len(pick_means[b]) - 1 for b in bands)
    df_random = sum(len(random_values[b]) - 1 for b in bands)
    for b in bands:
        out["bands"][b] = {
            "pick_mean": float(pick_means[b].mean()),
            "random_mean": float(random_values[b].mean()),
            "difference": float(pick_means[b].mean() - random_values[b].mean()),
            "picks": len(pick_means[b]),
            "random": len(random_values[b]),
        }
    if not bands or df_pick < 1 or df_random < 1:
        return out
    raw = {b: 1 / (1 / len(pick_means[b]) + 1 / len(random_values[b])) for b in bands}
    weights = {b: raw[b] / sum(raw.values()) for b in bands}
    var_pick = sum(((pick_means[b] - pick_means[b].mean()) ** 2).sum() for b in bands) / df_pick
    var_random = sum(((random_values[b] - random_values[b].mean()) ** 2).sum() for b in bands) / df_random
    a = sum(weights[b] ** 2 / len(pick_means[b]) for b in bands) * var_pick
    c = sum(weights[b] ** 2 / len(random_values[b]) for b in bands) * var_random
    difference = sum(weights[b] * out["bands"][b]["difference"] for b in bands)
    se = float(np.sqrt(a + c))
    out.update({"difference": float(difference), "weights": weights, "sd_pick": float(np.sqrt(var_pick))})
    out["sd_random"] = float(np.sqrt(var_random))
    if se == 0:
        return out
    df = (a + c) ** 2 / (a**2 / df_pick + c**2 / df_random)
    t = difference / se
    half = float(stats.t.ppf(1 - (1 - confidence) / 2, df)) * se
    return {
        **out,
        "se": se,
        "df": float(df),
        "t": float(t),
        "p": float(2 * stats.t.sf(abs(t), df)),
        "interval": [float(difference - half), float(difference + half)],
    }


def null_rejection_rate(
    test: Any,
    *,
    sd_architecture: float,
    sd_seed: float,
    design: dict[str, tuple[int, int]],
    seeds_per_pick: int,
    seeds_per_random: int = 1,
    effect: float = 0.0,
    simulations: int = 2000,
    alpha: float = 0.05,
    outlier_share: float = 0.0,
    outlier_drop: float = 0.0,
    seed: int = 0,
) -> dict[str, Any]:
    """How often ``test(picks, randoms) -> p`` (both as ``pick_versus_random`` takes them)
    rejects at ``alpha`` when an architecture's figure is its own effect (normal,
    ``sd_architecture``) plus a training's noise (normal, ``sd_seed``; a share ``outlier_share``
    of trainings loses ``outlier_drop`` points besides, like a run the overfitting guard
    stopped), the picks ahead by ``effect``. ``design`` maps a band to (picks, random
    architectures). With ``effect`` 0 this is the test's false-positive rate; otherwise its
    power. Returns the rate with its Wilson 95% interval."""
    rng = np.random.default_rng(seed)

    def trainings(n: int) -> np.ndarray:
        noise = rng.normal(0.0, sd_seed, n)
        return noise - outlier_drop * (rng.random(n) < outlier_share)

    rejected = tested = 0
    for _ in range(simulations):
        picks, randoms = {}, {}
        for band, (n_picks, n_random) in design.items():
            effects = rng.normal(effect, sd_architecture, n_picks)
            picks[band] = [list(e + trainings(seeds_per_pick)) for e in effects]
            randoms[band] = [list(e + trainings(seeds_per_random)) for e in rng.normal(0.0, sd_architecture, n_random)]
        p = test(picks, randoms)
        if p is not None:
            tested += 1
            rejected += p < alpha
    low, high = wilson_interval(rejected, tested)
    return {"rate": rejected / tested if tested else None, "interval": [low / 100, high / 100], "n": tested}


class PickVerdict(str, enum.Enum):
    """What a pre-registered test of the picks against random allows one to say."""

    BEATS_RANDOM = "beats random"
    WORSE_THAN_RANDOM = "worse than random"
    NO_WORTHWHILE_ADVANTAGE = "no advantage as large as the smallest effect"
    CANNOT_DECIDE = "cannot decide"


def pick_verdict(test: dict[str, Any], smallest_effect: float, alpha: float = 0.05) -> PickVerdict:
    """The reading of ``pick_versus_random``'s result: a difference whose p is below ``alpha``
    beats (or is worse than) random; otherwise, an interval wholly below ``smallest_effect``
    rules out an advantage worth having; anything else cannot decide."""
    if test.get("p") is None or test.get("interval") is None:
        return PickVerdict.CANNOT_DECIDE
    if test["p"] < alpha:
        return PickVerdict.BEATS_RANDOM if test["difference"] > 0 else PickVerdict.WORSE_THAN_RANDOM
    if test["interval"][1] < smallest_effect:
        return PickVerdict.NO_WORTHWHILE_ADVANTAGE
    return PickVerdict.CANNOT_DECIDE
