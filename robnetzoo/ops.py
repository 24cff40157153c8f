"""The candidate operations of the RobNet search space.

Module and attribute names follow the authors' release so that their checkpoints load with
``strict=True``: a separable conv is ``op`` = Sequential(ReLU, dw, pw, BN, ReLU, dw, pw, BN),
a 1x1 preprocessing block is ``op`` = Sequential(ReLU, conv, BN), FactorizedReduce has
``conv_1``, ``conv_2``, ``bn``, and the residual separable conv has ``conv`` and ``res``.
BatchNorm inside cells is non-affine, as in DARTS-style search spaces.
"""

from __future__ import annotations

import torch
from torch import nn


class ReLUConvBN(nn.Module):
    """ReLU, 1x1 conv, non-affine BN: maps a cell input to the cell's channel count."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class SepConv(nn.Module):
    """Two stacked (ReLU, depthwise 3x3, pointwise 1x1, BN) blocks; the first carries the stride."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_in, 1, bias=False),
            nn.BatchNorm2d(c_in, affine=False),
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, 3, 1, 1, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing half the pixels: two offset stride-2 1x1 convs."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even output width, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        # The second branch sees the input shifted by one pixel; pad so odd sizes still match.
        shifted = nn.functional.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


class ResSepConv(nn.Module):
    """Separable conv plus a skip (identity, or FactorizedReduce at stride 2): edge code '11'."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv = SepConv(c_in, c_out, stride)
        self.res = nn.Identity() if stride == 1 else FactorizedReduce(c_in, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.res(x)


class Zero(nn.Module):
    """Edge code '00': contributes nothing; kept so every edge has a module."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return torch.zeros_like(x)
        return torch.zeros_like(x[:, :, :: self.stride, :: self.stride])


def make_op(code: str, channels: int, stride: int) -> nn.Module:
    """Build the operation of one edge code at a given stride (cells keep width per edge)."""
    if code == "00":
        return Zero(stride)
    if code == "01":
        return SepConv(channels, channels, stride)
    if code == "10":
        return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels)
    if code == "11":
        return ResSepConv(channels, channels, stride)
    raise ValueError(f"unknown edge code {code!r}")
