"""Make an eval-mode copy of a model cheaper to attack, without changing its function.

* BatchNorm in eval mode is an affine map, so a BN right after a convolution folds into that
  convolution's weight and bias: one op fewer per layer, on every forward *and* backward pass
  of every attack step. A pair inside an ``nn.Sequential`` (all of RobNet's) is folded in
  place; FactorizedReduce (two convs, concatenated, then BN) by hand, half of the BN into each
  conv; any pair left (a ResNet block's ``conv1``/``bn1``) by ``torch.fx``'s fuser.
* channels_last memory format, which CPU and GPU convolution kernels run faster.
* the graph streamlined (``robnetzoo.streamline``): one ReLU per tensor, sums accumulated in
  place, a cell's output rectified by its parts, each FactorizedReduce as one grouped
  convolution without its pad; the same logits, input gradients to float rounding.
* ``merge_factorized_reduce`` (for deployment graphs): a folded FactorizedReduce (ReLU, a
  slice shifting the input by one pixel, a pad, two 1x1 stride-2 convolutions, a concat) is
  exactly one 2x2 stride-2 convolution whose first half of output channels reads only the
  top-left tap and the second half only the bottom-right one; odd sizes are padded by one
  pixel first, as the shifted branch is. Five graph nodes become two.

The caller's model is never modified: we work on a deep copy. What was actually applied is
returned beside the copy (``Prepared``), so a report never claims a folding that fell back.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.utils import skip_init

from .config import attach_config, config_of
from .ops import FactorizedReduce


def _fold_into(conv: nn.Conv2d, scale: torch.Tensor, shift: torch.Tensor) -> nn.Conv2d:
    folded = skip_init(  # no initialisation: it would draw from the caller's random stream
        nn.Conv2d,
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
        bias=True,
        padding_mode=conv.padding_mode,
        device=conv.weight.device,
        dtype=conv.weight.dtype,
    )
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
            module.bn = nn.Identity()


def _fold_sequential(model: nn.Module) -> None:
    """Fold each BatchNorm that directly follows a convolution inside an ``nn.Sequential``
    (where the convolution's output can go nowhere else), in place. RobNet's every pair is of
    this kind, so its folding needs no torch.fx trace (which costs more than a 20-cell
    network's forward pass, and the search folds each candidate several times)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for module in model.modules():
        if not isinstance(module, nn.Sequential):
            continue
        names = list(module._modules)
        for first, second in zip(names, names[1:]):
            conv, norm = module._modules[first], module._modules[second]
            if (
                type(conv) is nn.Conv2d
                and conv.padding_mode == "zeros"
                and type(norm) is nn.BatchNorm2d
                and norm.running_mean is not None
                and norm.running_var is not None
            ):
                module._modules[first] = fuse_conv_bn_eval(conv, norm)  # what torch.fx's fuser calls
                module._modules[second] = nn.Identity()


class MergedFactorizedReduce(nn.Module):
    """A folded FactorizedReduce as one 2x2 stride-2 convolution (see the module docstring)."""

    def __init__(self, reduce: FactorizedReduce) -> None:
        super().__init__()
        one, two = reduce.conv_1, reduce.conv_2
        half = one.out_channels
        self.conv = skip_init(
            nn.Conv2d,
            one.in_channels,
            2 * half,
            2,
            stride=2,
            bias=True,
            device=one.weight.device,
            dtype=one.weight.dtype,
        )
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[:half, :, 0, 0] = one.weight[:, :, 0, 0]
            self.conv.weight[half:, :, 1, 1] = two.weight[:, :, 0, 0]
            zero = torch.zeros(half, device=one.weight.device, dtype=one.weight.dtype)
            self.conv.bias.copy_(
                torch.cat([one.bias if one.bias is not None else zero, two.bias if two.bias is not None else zero])
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Odd sizes get the shifted branch's zero row and column (a pad of 0 for even sizes).
        x = nn.functional.pad(torch.relu(x), (0, x.shape[-1] % 2, 0, x.shape[-2] % 2))
        return self.conv(x)


def merge_factorized_reduce(model: nn.Module) -> int:
    """Replace, in place, every BatchNorm-folded FactorizedReduce of ``model`` by its
    ``MergedFactorizedReduce``; returns how many were replaced. An unfolded one (its BN still
    there) is left as it is: ``fold_batchnorm(model, merge_reduce=True)`` does both."""
    merged = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, FactorizedReduce) and isinstance(child.bn, nn.Identity):
                setattr(parent, name, MergedFactorizedReduce(child))
                merged += 1
    return merged


def _count_batchnorm(model: nn.Module) -> int:
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


@dataclass
class Prepared:
    """The copy to attack and what was done to it: ``fold_bn`` is True only when folding ran
    (``batchnorm_left`` counts BatchNorms it could not fold); ``notes`` say why not."""

    module: nn.Module
    fold_bn: bool
    channels_last: bool
    batchnorm_total: int = 0
    batchnorm_left: int = 0
    notes: list[str] = field(default_factory=list)
    relus_shared: int | None = None  # None: not streamlined (asked not to, or torch.fx could not trace it)
    sums_in_place: int | None = None
    reductions_paired: int | None = None
    concats_rectified_by_part: int | None = None

    def summary(self) -> dict:
        return {
            "fold_bn": self.fold_bn,
            "batchnorm_folded": f"{self.batchnorm_total - self.batchnorm_left} of {self.batchnorm_total}",
            "channels_last": self.channels_last,
            "streamlined": None
            if self.relus_shared is None
            else f"{self.relus_shared} ReLUs shared, {self.sums_in_place} sums in place, "
            f"{self.reductions_paired} reductions paired, {self.concats_rectified_by_part} concats rectified by part",
        }


def fold_batchnorm(model: nn.Module, *, merge_reduce: bool = False) -> tuple[nn.Module, str | None]:
    """An eval-mode copy with every conv->BN pair folded, and a note if folding fell back;
    with ``merge_reduce`` each FactorizedReduce also becomes one convolution
    (``merge_factorized_reduce``), before torch.fx flattens the modules away.

    A model torch.fx cannot trace is still evaluated, unfused (same numbers, slower); the note
    names the reason so the report can say so.
    """
    model = copy.deepcopy(model).eval()
    _fold_factorized_reduce(model)
    if merge_reduce:
        merge_factorized_reduce(model)
    _fold_sequential(model)
    if not _count_batchnorm(model):
        return model, None  # every pair was in a Sequential: nothing left for torch.fx
    try:
        from torch.fx.experimental.optimization import fuse

        fused = fuse(model, inplace=True)  # ``model`` is already this function's own copy: no second one
    except Exception as exc:  # any tracing failure: fall back, and say so
        from .streamline import untraceable

        return model, f"BatchNorm not folded: {untraceable(model, exc)}; attacked unfolded (same numbers, slower)"
    config = config_of(model)
    if config is not None:
        attach_config(fused, config)
    return fused, None


def prepare_for_attack(
    model: nn.Module,
    device: torch.device,
    *,
    fold: bool = True,
    channels_last: bool = True,
    streamline: bool = True,
) -> Prepared:
    """The copy the evaluator attacks: folded, on ``device``, channels_last, no param grads,
    and with ``streamline`` its graph rewritten to spend fewer passes over memory
    (``robnetzoo.streamline``: the same forward, input gradients equal to float rounding)."""
    total = _count_batchnorm(model)
    notes: list[str] = []
    folded = False
    if fold:
        fast, note = fold_batchnorm(model)
        folded = note is None
        notes += [note] if note else []
    else:
        fast = copy.deepcopy(model).eval()
    fast = fast.to(device)
    if channels_last:
        fast = fast.to(memory_format=torch.channels_last)
    for parameter in fast.parameters():
        parameter.requires_grad_(False)  # attacks need input gradients only
    left = _count_batchnorm(fast)
    if folded and left:
        notes.append(f"{left} of {total} BatchNorm layers had no convolution right before them and stay unfolded")
    prepared = Prepared(fast, folded, channels_last, total, left, notes)
    if streamline:
        from .streamline import streamline as rewrite

        done = rewrite(fast)
        if done.note is None:  # an untraceable model is attacked as it is: same numbers, a little slower
            config = config_of(fast)
            prepared.module = attach_config(done.module, config) if config is not None else done.module
            prepared.relus_shared, prepared.sums_in_place = done.relus_shared, done.sums_in_place
            prepared.reductions_paired = done.reductions_paired
            prepared.concats_rectified_by_part = done.concats_rectified_by_part
    return prepared
