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


def _with_statistics(model: torch.nn.Module) -> torch.nn.Module:
    """Running statistics and affine parameters far from the identity, so a fold that skips
    a BatchNorm (or folds one twice) changes the logits."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=generator))
            module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
            if module.affine:  # RobNet's cell operations have none (DARTS' affine=False)
                module.weight.data.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
                module.bias.data.copy_(torch.randn(module.num_features, generator=generator))
    return model.eval()


@pytest.mark.parametrize(
    "name,size", [("robnet-large", {"C": 4, "layers": 3}), ("robnet-free", {"C": 4}), ("resnet18", {})]
)
def test_every_batchnorm_folds_with_the_same_logits_and_a_robnet_stays_a_robnet(name, size):
    """RobNet's conv->BN pairs all sit in Sequentials and fold in place (the model keeps its
    class, so ``cell_outputs`` still works); a ResNet block's ``conv1``/``bn1`` need torch.fx."""
    import robnetzoo

    traced = not name.startswith("robnet")
    model = _with_statistics(robnetzoo.create_model(name, num_classes=10, **size))
    folded, note = fold_batchnorm(model)
    assert note is None
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert isinstance(folded, torch.fx.GraphModule) is traced and (traced or type(folded) is type(model))
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # the caller's model untouched
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(folded(x), model(x), atol=1e-4, rtol=1e-4)
