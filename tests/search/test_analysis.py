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


def test_fsp_pools_a_larger_input_to_the_output_resolution():
    f_in = torch.arange(16.0).view(1, 1, 4, 4)
    f_out = torch.ones(1, 1, 2, 2)
    pooled_mean = torch.nn.functional.avg_pool2d(f_in, 2).mean()
    assert torch.allclose(fsp_matrix(f_in, f_out), pooled_mean.view(1, 1, 1))
