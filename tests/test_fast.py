"""The exact rewrites of ``robnetzoo.fast``: a FactorizedReduce is one 2x2 stride-2
convolution, at even and at odd sizes, BatchNorm folded first."""

from __future__ import annotations

import pytest
import torch

from robnetzoo.fast import MergedFactorizedReduce, fold_batchnorm, merge_factorized_reduce
from robnetzoo.ops import FactorizedReduce


@pytest.mark.parametrize("size", [8, 9])
def test_a_merged_factorized_reduce_computes_the_same_function(size):
    torch.manual_seed(0)
    reduce = FactorizedReduce(6, 10).eval()
    reduce.bn.running_mean.normal_()
    reduce.bn.running_var.uniform_(0.5, 1.5)
    holder = torch.nn.Sequential(reduce)
    folded, note = fold_batchnorm(holder, merge_reduce=True)
    assert note is None and not any(isinstance(m, FactorizedReduce) for m in folded.modules())
    x = torch.randn(3, 6, size, size)
    with torch.no_grad():
        expected, got = reduce(x), folded(x)
    assert got.shape == expected.shape == (3, 10, (size + 1) // 2, (size + 1) // 2)
    assert torch.allclose(got, expected, atol=1e-5)


def test_an_unfolded_reduce_is_left_alone():
    holder = torch.nn.Sequential(FactorizedReduce(4, 4))
    assert merge_factorized_reduce(holder) == 0 and isinstance(holder[0], FactorizedReduce)
    holder[0].bn = torch.nn.Identity()
    assert merge_factorized_reduce(holder) == 1 and isinstance(holder[0], MergedFactorizedReduce)
