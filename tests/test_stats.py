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
