"""The findings' measures on cases small enough to compute by hand."""

from __future__ import annotations

import torch

from robnetzoo.genotype import Genotype
from robnetzoo.search.analysis import conv_counts, fsp_loss, fsp_matrix


def test_conv_counts_split_direct_and_skip_edges():
    # edges in DARTS order: node0 <- (s0, s1), node1 <- (s0, s1, n0), node2 <- (.., n1), node3 <- (.., n2)
    # direct edges are 1 (s1->n0), 4 (n0->n1), 8 (n1->n2), 13 (n2->n3)
    codes = ["00"] * 14
    for edge in (1, 4, 8, 13):
        codes[edge] = "01"
    codes[0] = "11"  # s0 -> n0: a skip edge with a conv
    codes[2] = "10"  # identity only: no conv
    assert conv_counts(Genotype.from_codes(codes)) == {"direct": 4, "skip": 1, "total": 5}
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


def _row(index, density, robust, direct=0, skip=0, fsp=(1.0, 1.0, 1.0), space="cell", finetuned=None):
    return {"index": index, "space": space, "density": density, "robust": robust, "clean": robust,
            "direct_convs": direct, "skip_convs": skip, "fsp_cells": list(fsp), "fsp_relative_cells": list(fsp),
            "inherited_robust": robust, "fsp_loss": fsp[-1], "finetune_robust": finetuned,
            "finetune_seconds": None if finetuned is None else 10.0, "screen_seconds": {"inherited": 1.0, "fsp": 2.0}}


def test_finding_one_reads_density_against_robust_accuracy():
    from robnetzoo.search.analysis import finding_density

    rising = [_row(i, i / 10, 20 + 3 * i) for i in range(10)]
    f1 = finding_density(rising)
    assert f1["n"] == 10 and abs(f1["spearman"] - 1) < 1e-9 and f1["spearman_p"] < 1e-6 and f1["holds"]
    assert abs(f1["slope"] - 30.0) < 1e-9  # 3 points of accuracy per 0.1 of density
    falling = [_row(i, i / 10, 50 - 3 * i) for i in range(10)]
    assert abs(finding_density(falling)["spearman"] + 1) < 1e-9 and not finding_density(falling)["holds"]
    assert finding_density(rising[:2])["spearman"] is None  # too few to say anything


def test_finding_two_compares_direct_edges_at_the_same_number_of_convolutions():
    from robnetzoo.search.analysis import finding_direct_edges

    rows = [  # 4 convs each: more on direct edges, more robust; 6 convs: the reverse
        _row(0, 0.3, 40, direct=3, skip=1), _row(1, 0.3, 30, direct=1, skip=3), _row(2, 0.3, 32, direct=2, skip=2),
        _row(3, 0.5, 20, direct=4, skip=2), _row(4, 0.5, 25, direct=1, skip=5),
    ]
    f2 = finding_direct_edges(rows)
    four, six = f2["groups"]
    assert (four["convs"], four["direct_heavy_robust"], four["direct_light_robust"]) == (4, 40, 31)
    assert (six["convs"], six["direct_heavy_robust"], six["direct_light_robust"]) == (6, 20, 25)
    assert (f2["groups_where_direct_heavy_wins"], f2["groups_compared"]) == (1, 2)


def test_finding_three_and_the_proxies():
    from robnetzoo.search.analysis import finding_fsp, proxy_agreement

    rows = [_row(i, 0.5, 10 * i, fsp=(1.0, 10.0 - i, 20.0 - 2 * i), finetuned=10.0 * i + 1) for i in range(6)]
    f3 = finding_fsp(rows)
    assert f3["robust_n"] == 2 and [c["robust_lower"] for c in f3["cells"]] == [False, True, True]
    proxies = proxy_agreement(rows)
    assert proxies["n"] == 6 and abs(proxies["inherited"]["spearman"] - 1) < 1e-9
    assert abs(proxies["fsp"]["spearman"] - 1) < 1e-9  # lower FSP loss, higher finetuned accuracy
    assert proxies["inherited"]["cost_ratio"] == 10.0 and proxies["fsp"]["cost_ratio"] == 5.0
