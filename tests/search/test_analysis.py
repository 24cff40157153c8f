"""The findings' measures on cases small enough to compute by hand."""

from __future__ import annotations

import torch

from robnetzoo.genotype import Genotype
from robnetzoo.search.analysis import conv_counts, fsp_loss, fsp_matrix
from tests.support import leaderboard_row


def test_conv_counts_under_both_readings_of_direct_edges():
    # edges in DARTS order: node0 <- (s0, s1), node1 <- (s0, s1, n0), node2 <- (.., n1), node3 <- (.., n2)
    # "chain": 1 (s1->n0), 4 (n0->n1), 8 (n1->n2), 13 (n2->n3); "inputs": 0, 1, 2, 3, 5, 6, 9, 10
    codes = ["00"] * 14
    for edge in (1, 4, 8, 13):
        codes[edge] = "01"
    codes[0] = "11"  # s0 -> n0: a conv on an input edge, a skip edge of the chain
    codes[2] = "10"  # identity only: no conv
    genotype = Genotype.from_codes(codes)
    assert conv_counts(genotype, "chain") == {"direct": 4, "skip": 1, "total": 5}
    assert conv_counts(genotype, "inputs") == {"direct": 2, "skip": 3, "total": 5}
    assert conv_counts(Genotype.from_codes(["00"] * 14)) == {"direct": 0, "skip": 0, "total": 0}


def test_fsp_matrix_by_hand():
    # one example, 2 input channels, 1 output channel, 1x2 positions
    f_in = torch.tensor([[[[1.0, 2.0]], [[3.0, 0.0]]]])  # channel 0: (1, 2); channel 1: (3, 0)
    f_out = torch.tensor([[[[4.0, 5.0]]]])
    # G[i, o] = mean over positions of f_in[i] * f_out[o]: (1*4 + 2*5)/2 = 7, (3*4 + 0*5)/2 = 6
    assert torch.equal(fsp_matrix(f_in, f_out), torch.tensor([[[7.0], [6.0]]]))
    # the adversarial output is (4, 6): G = (1*4 + 2*6)/2 = 8, (3*4)/2 = 6 -> loss (8-7)^2 = 1
    assert fsp_loss(f_in, f_out, f_in, torch.tensor([[[[4.0, 6.0]]]])).item() == 1.0
    # relative: divided by ||G||^2 = 7^2 + 6^2 = 85
    relative = fsp_loss(f_in, f_out, f_in, torch.tensor([[[[4.0, 6.0]]]]), relative=True).item()
    assert abs(relative - 1 / 85) < 1e-7


def test_fsp_pools_a_larger_input_to_the_output_resolution():
    f_in = torch.arange(16.0).view(1, 1, 4, 4)
    f_out = torch.ones(1, 1, 2, 2)
    pooled_mean = torch.nn.functional.avg_pool2d(f_in, 2).mean()
    assert torch.allclose(fsp_matrix(f_in, f_out), pooled_mean.view(1, 1, 1))


def _row(
    index, density, robust, *, convs=7.0, identity=7.0, fsp=(1.0, 1.0, 1.0), space="cell", finetuned=None, relative=None
):
    return leaderboard_row(
        index=index,
        space=space,
        density=density,
        robust=robust,
        clean=robust,
        inherited_robust=robust,
        convs_per_cell=convs,
        identity_bits=identity,
        fsp_cells=list(fsp),
        fsp_relative_cells=list(relative or fsp),
        fsp_loss=fsp[-1],
        fsp_raw_loss=fsp[-1],
        finetune_robust=finetuned,
        finetune_fsp_cells=None if finetuned is None else list(fsp),
        finetune_seconds=None if finetuned is None else 10.0,
    )


def test_finding_one_has_intervals_a_density_window_and_separates_connectivity_from_capacity():
    from robnetzoo.search.analysis import finding_density

    # robustness follows the number of convolutions only; identity bits add density but nothing else
    rows, index = [], 0
    for convs in range(2, 14):
        for identity in (2, 7, 12):
            robust = 10 + 3 * convs + 0.01 * ((index * 7919) % 13)  # a little noise, none from identity bits
            rows.append(_row(index, (convs + identity) / 28, robust, convs=convs, identity=identity))
            index += 1
    f1 = finding_density(rows)
    assert f1["n"] == 36 and f1["all"]["value"] > 0.5 and f1["verdict"] == "supports"
    low, high = f1["all"]["interval"]
    assert low <= f1["all"]["value"] <= high and high - low > 0.01
    assert f1["window"]["n"] == sum(0.3 <= r.density <= 0.7 for r in rows) < 36
    assert f1["convs_given_identity"]["interval"][0] > 0.5  # capacity carries it ...
    identity = f1["identity_given_convs"]
    assert identity["interval"][0] < 0 < identity["interval"][1] and f1["connectivity_verdict"] == "cannot decide"
    assert finding_density(rows[:2])["all"]["value"] is None and finding_density(rows[:2])["verdict"] == "cannot decide"


def test_finding_three_reads_the_cell_free_candidates_at_matched_density():
    from robnetzoo.search.analysis import finding_fsp

    # Raw FSP loss grows with density, and so does robustness: comparing robust and non-robust
    # thirds says robust networks have the *higher* loss. Within density-matched pairs, the
    # more robust one has the lower deep-cell loss: the paper's claim, which the pairs see.
    rows = []
    for pair in range(8):
        density = 0.2 + 0.08 * pair
        base = 10.0 * density
        rows.append(_row(2 * pair, density, 20 + 40 * density + 2, fsp=(base, base, base - 0.5), space="free"))
        rows.append(_row(2 * pair + 1, density + 0.01, 20 + 40 * density, fsp=(base, base, base + 0.5), space="free"))
    rows.append(_row(99, 0.9, 99.0, fsp=(0.0, 0.0, 0.0), space="cell"))  # cell-based rows are not pooled in
    f3 = finding_fsp(rows)
    assert f3["space"] == "free" and f3["candidates"] == 16 and f3["pairs"] == 8
    assert f3["deep_cells"] == [2] and f3["deep_raw"]["mean"] == 1.0 and f3["deep_raw"]["p"] < 0.01
    assert f3["verdict"] == "supports" and f3["cells"][0]["raw"]["mean"] == 0.0
    few = finding_fsp(rows[:4])  # two pairs: the smallest p the design allows is 0.5
    assert few["deep_raw"]["smallest_possible_p"] == 0.5 and few["verdict"] == "cannot decide"


def test_proxy_agreement_has_intervals_and_the_cost_ratio_of_the_same_candidates():
    from robnetzoo.search.analysis import proxy_agreement

    rows = [_row(i, 0.5, 10 * i, fsp=(1.0, 10.0 - i, 20.0 - 2 * i), finetuned=10.0 * i + 1) for i in range(6)]
    proxies = proxy_agreement(rows)
    assert proxies["n"] == 6 and abs(proxies["inherited"]["spearman"]["value"] - 1) < 1e-9
    assert proxies["inherited"]["spearman"]["interval"][1] == 1.0
    assert abs(proxies["fsp"]["kendall"]["value"] - 1) < 1e-9  # lower FSP loss, higher finetuned accuracy
    assert proxies["inherited"]["cost_ratio"] == 10.0 and proxies["fsp"]["cost_ratio"] == 5.0


def test_verdicts_say_cannot_decide_when_the_design_cannot_reach_significance():
    from robnetzoo.stats import paired_permutation_test, verdict, wilcoxon

    assert verdict(0.01, 1.0, +1) == "supports" and verdict(0.01, -1.0, +1) == "contradicts"
    assert verdict(0.2, 1.0, +1) == "cannot decide" and verdict(None, None, +1) == "cannot decide"
    three = wilcoxon([1.0, 2.0, 3.0])
    assert (
        three["smallest_possible_p"] == 0.25
        and verdict(three["p"], 2.0, +1, smallest_possible_p=0.25) == "cannot decide"
    )
    exact = paired_permutation_test([1.0, 2.0, 3.0, 4.0])
    assert exact["p"] == 2 / 16  # only all-positive and all-negative sign patterns are as extreme
