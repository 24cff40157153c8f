"""ResNets: the CIFAR variant (3x3 stem, no max-pool) of the paper's ResNet-18/50 baselines,
and the standard ImageNet ones (``stem="imagenet"``: 7x7 stride-2 stem and a max-pool) of its
ImageNet table. ``denoise`` adds feature denoising blocks after residual stages
(``models.denoise``)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import InvalidInput
from .denoise import denoise_blocks, denoise_settings
from .head import ClassifierHead

STAGES = ("layer1", "layer2", "layer3", "layer4")


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, c_in: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = _shortcut(c_in, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.shortcut = _shortcut(c_in, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


def _shortcut(c_in: int, c_out: int, stride: int) -> nn.Module:
    if stride == 1 and c_in == c_out:
        return nn.Sequential()
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))


class ResNet(ClassifierHead, nn.Module):
    head_name = "linear"

    def __init__(
        self, block: str, num_blocks: list[int], num_classes: int = 10, stem: str = "cifar", denoise: Any = None
    ) -> None:
        super().__init__()
        if stem not in ("cifar", "imagenet"):
            raise InvalidInput(f"unknown stem {stem!r}; use 'cifar' or 'imagenet'")
        block_type = {"basic": BasicBlock, "bottleneck": Bottleneck}[block]
        self.stem_type = stem
        if stem == "cifar":
            self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        else:  # torchvision's: 7x7 stride 2, then a 3x3 stride-2 max-pool in forward_features
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        c_in = 64
        stages, widths = [], {}
        for index, (planes, count) in enumerate(zip((64, 128, 256, 512), num_blocks)):
            blocks = []
            for b in range(count):
                stride = 2 if index > 0 and b == 0 else 1
                blocks.append(block_type(c_in, planes, stride))
                c_in = planes * block_type.expansion
            stages.append(nn.Sequential(*blocks))
            widths[STAGES[index]] = c_in
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.denoise = denoise_blocks(denoise_settings(denoise, STAGES), widths)
        self.init_head(c_in, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        if self.stem_type == "imagenet":
            out = F.max_pool2d(out, 3, 2, 1)
        for name in STAGES:
            out = getattr(self, name)(out)
            if name in self.denoise:
                out = self.denoise[name](out)
        return out


def resnet18(num_classes: int = 10, stem: str = "cifar", denoise: Any = None) -> ResNet:
    return ResNet("basic", [2, 2, 2, 2], num_classes, stem, denoise)


def resnet50(num_classes: int = 10, stem: str = "cifar", denoise: Any = None) -> ResNet:
    return ResNet("bottleneck", [3, 4, 6, 3], num_classes, stem, denoise)


def resnet101(num_classes: int = 1000, stem: str = "imagenet", denoise: Any = None) -> ResNet:
    return ResNet("bottleneck", [3, 4, 23, 3], num_classes, stem, denoise)


def resnet152(num_classes: int = 1000, stem: str = "imagenet", denoise: Any = None) -> ResNet:
    return ResNet("bottleneck", [3, 8, 36, 3], num_classes, stem, denoise)
