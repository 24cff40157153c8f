"""DenseNet-121 for CIFAR (growth 32, 3x3 stem, no max-pool), the paper's DenseNet baseline."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .head import ClassifierHead


class DenseLayer(nn.Module):
    def __init__(self, c_in: int, growth: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, 4 * growth, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(4 * growth)
        self.conv2 = nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        return torch.cat([out, x], 1)


class Transition(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(c_in)
        self.conv = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.conv(F.relu(self.bn(x))), 2)


class DenseNet(ClassifierHead, nn.Module):
    head_name = "linear"

    def __init__(
        self,
        block_layers: tuple[int, ...] = (6, 12, 24, 16),
        growth: int = 32,
        reduction: float = 0.5,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        channels = 2 * growth
        self.conv1 = nn.Conv2d(3, channels, 3, padding=1, bias=False)
        stages: list[nn.Module] = []
        for index, count in enumerate(block_layers):
            layers = []
            for _ in range(count):
                layers.append(DenseLayer(channels, growth))
                channels += growth
            stages.append(nn.Sequential(*layers))
            if index < len(block_layers) - 1:
                out = int(math.floor(channels * reduction))
                stages.append(Transition(channels, out))
                channels = out
        self.features = nn.Sequential(*stages)
        self.bn = nn.BatchNorm2d(channels)
        self.init_head(channels, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The final feature map: after the last BatchNorm and ReLU, before pooling."""
        return F.relu(self.bn(self.features(self.conv1(x))))


def densenet121(num_classes: int = 10) -> DenseNet:
    return DenseNet((6, 12, 24, 16), 32, 0.5, num_classes)
