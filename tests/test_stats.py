"""The statistics the search and its benchmarks report, against values worked by hand or by scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from robnetzoo.stats import holm, mcnemar, nested_bootstrap_difference, partial_rank_correlation, variance_components


def test_holm_steps_down_and_keeps_order():
    adjusted = holm({"a": 0.01, "b": 0.04, "c": 0.03, "untested": None})
    # sorted 0.01, 0.03, 0.04 -> 3 x 0.01, max(0.03, 2 x 0.03), max(0.06, 1 x 0.04)
    assert adjusted == {"a": pytest.approx(0.03), "c": pytest.approx(0.06), "b": pytest.approx(0.06), "untested": None}
    assert holm({"only": 0.2}) == {"only": pytest.approx(0.2)} and holm({"x": 0.6, "y": 0.7})["y"] == 1.0


def test_mcnemar_counts_only_the_images_the_two_disagree_on():
    test = mcnemar("1111100000" * 3, "1000000000" * 3)
    assert (test["n"], test["first_only"], test["second_only"]) == (30, 12, 0)
    assert test["p"] == pytest.approx(scipy_stats.binomtest(12, 12, 0.5).pvalue)
    assert mcnemar("1010", "1010")["p"] is None  # no disagreement: no test
    with pytest.raises(ValueError):
        mcnemar("10", "101")


def test_the_nested_bootstrap_resamples_architectures_then_seeds():
    arms = [[50.0, 52.0], [48.0, 47.0], [51.0, 53.0], [49.0, 50.0], [50.0, 49.0]]
    clear = nested_bootstrap_difference([70.0, 71.0], arms, seed=0)
    assert clear["value"] == pytest.approx(70.5 - np.mean([np.mean(a) for a in arms]))
    assert clear["interval"][0] > 15 and clear["p"] < 0.01 and clear["n_architectures"] == 5
    inside = nested_bootstrap_difference([50.0, 50.5], arms, seed=0)
    assert inside["interval"][0] < 0 < inside["interval"][1] and inside["p"] > 0.2
    # architectures far apart widen the interval that seeds alone would leave narrow
    spread = nested_bootstrap_difference([60.0, 60.5], [[30.0, 30.0], [80.0, 80.0], [45.0, 45.0], [75.0, 75.0]], seed=0)
    assert spread["interval"][1] - spread["interval"][0] > 20
    assert nested_bootstrap_difference([1.0], [[1.0]])["interval"] is None


def test_variance_components_tell_architectures_from_seeds():
    apart = variance_components({"a": [10.0, 11.0], "b": [30.0, 31.0], "c": [50.0, 49.0]})
    assert apart["p"] < 0.001 and apart["between_sd"] > 15 and apart["within_sd"] == pytest.approx(np.sqrt(0.5))
    assert apart["icc"] > 0.99
    assert apart["F"] == pytest.approx(scipy_stats.f_oneway([10, 11], [30, 31], [50, 49]).statistic)
    noise = variance_components({"a": [10.0, 30.0], "b": [31.0, 9.0], "c": [20.0, 21.0]})
    assert noise["p"] > 0.5 and noise["between_sd"] == 0.0 and noise["icc"] == 0.0
    assert variance_components({"a": [1.0]})["p"] is None


def test_the_partial_correlation_has_a_t_test():
    rng = np.random.default_rng(0)
    z = rng.normal(size=40)
    x = z + rng.normal(size=40)
    y = z + 0.8 * x + rng.normal(size=40)
    related = partial_rank_correlation(list(x), list(y), list(z))
    assert related["p"] < 0.01 and related["value"] > 0.3
    unrelated = partial_rank_correlation(list(rng.normal(size=40)), list(y), list(z))
    assert unrelated["p"] > 0.01


def test_the_icc_interval_is_searles_exact_one():
    from robnetzoo.stats import icc_interval

    # 12 groups of 3: F = 4 -> ICC 0.5; the bounds by hand from the F quantiles
    low_f, high_f = 4 / scipy_stats.f.ppf(0.975, 11, 24), 4 / scipy_stats.f.ppf(0.025, 11, 24)
    low, high = icc_interval(4.0, [3] * 12)
    assert low == pytest.approx((low_f - 1) / (low_f + 2)) and high == pytest.approx((high_f - 1) / (high_f + 2))
    assert 0 < low < 0.5 < high < 1
    assert icc_interval(0.5, [3] * 12)[0] == 0.0  # floored at 0
    apart = variance_components({"a": [10.0, 11.0, 10.5], "b": [30.0, 31.0, 30.2], "c": [50.0, 49.0, 49.5]})
    assert apart["icc_interval"][0] > 0.9


def test_pick_versus_random_is_welch_with_one_band_and_weights_bands_by_design():
    from robnetzoo.stats import pick_versus_random

    picks = {"small": [[70.0, 72.0], [66.0, 64.0], [71.0, 69.0]]}
    randoms = {"small": [[60.0], [55.0], [63.0], [58.0], [61.0], [50.0]]}
    test = pick_versus_random(picks, randoms)
    welch = scipy_stats.ttest_ind([71.0, 65.0, 70.0], [60, 55, 63, 58, 61, 50], equal_var=False)
    assert test["p"] == pytest.approx(welch.pvalue) and test["t"] == pytest.approx(welch.statistic)
    assert test["difference"] == pytest.approx(np.mean([71, 65, 70]) - np.mean([60, 55, 63, 58, 61, 50]))
    assert test["interval"][0] > 0 and (test["n_picks"], test["n_random"]) == (3, 6)
    # a second band: its own level is absorbed by its fixed effect, the difference is weighted
    two = pick_versus_random(
        {**picks, "large": [[40.0], [42.0]]}, {**randoms, "large": [[30.0], [31.0], [35.0], [28.0]]}
    )
    w_small, w_large = 1 / (1 / 3 + 1 / 6), 1 / (1 / 2 + 1 / 4)
    expected = (w_small * test["difference"] + w_large * (41.0 - 31.0)) / (w_small + w_large)
    assert two["difference"] == pytest.approx(expected) and two["p"] < test["p"]
    assert pick_versus_random({"small": [[70.0]]}, randoms)["p"] is None  # one pick: no spread to judge it by


def _bootstrap_p(picks, randoms):
    (band,) = picks
    return nested_bootstrap_difference(picks[band][0], randoms[band], seed=0, resamples=300)["p"]


def _welch_p(picks, randoms):
    from robnetzoo.stats import pick_versus_random

    return pick_versus_random(picks, randoms)["p"]


@pytest.mark.parametrize("outliers", [0.0, 0.05])
def test_the_primary_test_keeps_its_false_positive_rate(outliers):
    """Under the null, with the variance components the demo setting measured (architectures 2.9
    points apart, seeds 12.9) and heavy tails (a twentieth of trainings 40 points down), the
    architecture-level test rejects at most 6% at a nominal 5%: 3 bands x (3 picks of 2 seeds,
    12 random architectures trained once)."""
    from robnetzoo.stats import null_rejection_rate

    rate = null_rejection_rate(
        _welch_p,
        sd_architecture=2.9,
        sd_seed=12.9,
        design={"small": (3, 12), "medium": (3, 12), "large": (3, 12)},
        seeds_per_pick=2,
        outlier_share=outliers,
        outlier_drop=40.0,
        simulations=2000,
        seed=1,
    )
    assert rate["rate"] <= 0.06, rate


def test_the_two_stage_bootstrap_fails_that_calibration():
    """The bootstrap the search's benchmark used (one pick over 2 seeds against 5 random
    architectures of 2 seeds) rejects true nulls far above 5%: the reason it is not the test."""
    from robnetzoo.stats import null_rejection_rate

    rate = null_rejection_rate(
        _bootstrap_p,
        sd_architecture=2.9,
        sd_seed=12.9,
        design={"small": (1, 5)},
        seeds_per_pick=2,
        seeds_per_random=2,
        simulations=120,
        seed=1,
    )
    assert rate["rate"] > 0.06 and rate["interval"][0] > 0.06, rate


def test_the_power_of_the_primary_test_grows_with_the_effect():
    from robnetzoo.stats import null_rejection_rate

    common = dict(
        sd_architecture=2.0, sd_seed=3.0, design={"small": (4, 16)}, seeds_per_pick=3, simulations=600, seed=2
    )
    small, large = (null_rejection_rate(_welch_p, effect=e, **common)["rate"] for e in (1.0, 6.0))
    assert small < 0.3 < 0.8 < large
