"""WideResNets for CIFAR (pre-activation blocks): the paper's WRN-28-10 baseline, and any depth
and widen factor (``wide-resnet``) for the small hand-designed baselines."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import InvalidInput
from .head import ClassifierHead


class WideBasic(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.shortcut = None if c_in == c_out and stride == 1 else nn.Conv2d(c_in, c_out, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        out = self.conv1(pre)
        out = self.conv2(F.relu(self.bn2(out)))
        skip = x if self.shortcut is None else self.shortcut(pre)
        return out + skip


class WideResNet(ClassifierHead, nn.Module):
    head_name = "fc"

    def __init__(self, depth: int = 28, widen_factor: int = 10, num_classes: int = 10) -> None:
        super().__init__()
        if depth < 10 or (depth - 4) % 6 or widen_factor < 1:
            raise InvalidInput(
                f"a WideResNet needs a depth of 6n+4 (10, 16, 22, 28...) and a widen factor >= 1, "
                f"got depth {depth}, widen factor {widen_factor}"
            )
        n = (depth - 4) // 6
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        c_in = widths[0]
        stages = []
        for index, width in enumerate(widths[1:]):
            blocks = []
            for b in range(n):
                stride = 2 if index > 0 and b == 0 else 1
                blocks.append(WideBasic(c_in, width, stride))
                c_in = width
            stages.append(nn.Sequential(*blocks))
        self.block1, self.block2, self.block3 = stages
        self.bn = nn.BatchNorm2d(c_in)
        self.init_head(c_in, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The final feature map: after the last BatchNorm and ReLU, before pooling."""
        return F.relu(self.bn(self.block3(self.block2(self.block1(self.conv1(x))))))


def wrn_28_10(num_classes: int = 10) -> WideResNet:
    return WideResNet(28, 10, num_classes)
