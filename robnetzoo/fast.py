"""Make an eval-mode copy of a model cheaper to attack, without changing its function.

* BatchNorm in eval mode is an affine map, so a BN right after a convolution folds into that
  convolution's weight and bias: one op fewer per layer, on every forward *and* backward pass
  of every attack step. ``torch.fx``'s fuser handles conv->BN chains; FactorizedReduce
  (two convs, concatenated, then BN) is folded by hand, half of the BN into each conv.
* channels_last memory format, which CPU and GPU convolution kernels run faster.

The caller's model is never modified: we work on a deep copy.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .ops import FactorizedReduce


def _fold_into(conv: nn.Conv2d, scale: torch.Tensor, shift: torch.Tensor) -> nn.Conv2d:
    folded = nn.Conv2d(
        conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
        conv.dilation, conv.groups, bias=True,
    ).to(conv.weight.device, conv.weight.dtype)
    with torch.no_grad():
        folded.weight.copy_(conv.weight * scale[:, None, None, None])
        bias = conv.bias if conv.bias is not None else torch.zeros_like(shift)
        folded.bias.copy_(bias * scale + shift)
    return folded


def _bn_affine(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias
    return scale.detach(), shift.detach()


def _fold_factorized_reduce(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, FactorizedReduce) and isinstance(module.bn, nn.BatchNorm2d):
            scale, shift = _bn_affine(module.bn)
            half = module.conv_1.out_channels
            module.conv_1 = _fold_into(module.conv_1, scale[:half], shift[:half])
            module.conv_2 = _fold_into(module.conv_2, scale[half:], shift[half:])
            module.bn = nn.Identity()  # type: ignore[assignment]


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy with every conv->BN pair folded; falls back to unfused if untraceable."""
    model = copy.deepcopy(model).eval()
    _fold_factorized_reduce(model)
    try:
        from torch.fx.experimental.optimization import fuse

        fused = fuse(model)
    except Exception:  # an untraceable custom model still gets evaluated, just unfused
        return model
    config = getattr(model, "zoo_config", None)
    if config is not None:
        fused.zoo_config = config  # type: ignore[assignment]
    return fused


def prepare_for_attack(
    model: nn.Module,
    device: torch.device,
    *,
    fold: bool = True,
    channels_last: bool = True,
) -> nn.Module:
    """The copy the evaluator attacks: folded, on ``device``, channels_last, no param grads."""
    fast = fold_batchnorm(model) if fold else copy.deepcopy(model).eval()
    fast = fast.to(device)
    if channels_last:
        fast = fast.to(memory_format=torch.channels_last)
    for parameter in fast.parameters():
        parameter.requires_grad_(False)  # attacks need input gradients only
    return fast
