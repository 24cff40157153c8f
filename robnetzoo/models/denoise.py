"""Feature denoising blocks (Xie et al., CVPR 2019, "Feature Denoising for Improving
Adversarial Robustness"), which the RobNets paper adds to ResNet-18 and RobNet-large.

A block denoises a feature map ``x`` (N, C, H, W) with a non-local operation, then a 1x1
convolution, added back to ``x``:

    y = x + conv1x1(denoise(x))

The 1x1 convolution starts at zero, so a freshly built block is the identity: adding blocks to a
network does not change what it computes until training moves them. ``denoise`` is one of

* ``gaussian`` (the default, Xie et al.'s best): non-local means with softmax weights over
  embedded features, ``sum_j softmax_j(theta(x_i) . phi(x_j) / sqrt(d)) x_j`` (theta, phi: 1x1
  convolutions to C/2 channels);
* ``dot``: the same with dot-product weights normalised by the number of positions;
* ``mean``: a 3x3 mean filter (local, no embeddings).

Where the blocks go: in a ResNet after each residual stage (as Xie et al.); in a RobNet after
each group of cells between reductions and after the last cell (three blocks), a placement the
RobNets paper does not give. ``stages`` names the places to use (all of them by default).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import nn

from ..errors import InvalidInput

MODES = ("gaussian", "dot", "mean")


class DenoiseBlock(nn.Module):
    """``x + conv1x1(denoise(x))``, the identity when built (see the module docstring)."""

    def __init__(self, channels: int, mode: str = "gaussian") -> None:
        super().__init__()
        if mode not in MODES:
            raise InvalidInput(f"unknown denoising operation {mode!r}; use one of {', '.join(MODES)}")
        self.mode = mode
        if mode != "mean":
            inner = max(channels // 2, 1)
            self.theta = nn.Conv2d(channels, inner, 1, bias=False)
            self.phi = nn.Conv2d(channels, inner, 1, bias=False)
        self.project = nn.Conv2d(channels, channels, 1, bias=False)
        nn.init.zeros_(self.project.weight)  # starts as the identity

    def denoise(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "mean":
            return nn.functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
        n, c, h, w = x.shape
        theta = self.theta(x).flatten(2)  # N, d, HW
        phi = self.phi(x).flatten(2)
        affinity = torch.bmm(theta.transpose(1, 2), phi)  # N, HW, HW
        if self.mode == "gaussian":
            weights = torch.softmax(affinity / math.sqrt(theta.shape[1]), dim=-1)
        else:
            weights = affinity / (h * w)
        values = x.flatten(2)  # N, C, HW
        return torch.bmm(values, weights.transpose(1, 2)).view(n, c, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.project(self.denoise(x))


def denoise_settings(denoise: Any, places: Sequence[str]) -> tuple[str, list[str]] | None:
    """``denoise`` as a model config gives it (None, a mode name, or ``{"mode": ..., "stages":
    [...]}``) checked against the network's ``places``: (mode, stages) or None."""
    if denoise in (None, False):
        return None
    if isinstance(denoise, str):
        denoise = {"mode": denoise}
    if not isinstance(denoise, dict) or set(denoise) - {"mode", "stages"}:
        raise InvalidInput(f"denoise must be a mode name or {{'mode': ..., 'stages': [...]}}, got {denoise!r}")
    mode = denoise.get("mode", "gaussian")
    stages = list(denoise.get("stages") or places)
    unknown = [s for s in stages if s not in places]
    if unknown:
        raise InvalidInput(
            f"this network has no stage {', '.join(map(repr, unknown))} to denoise after; "
            f"its stages are {', '.join(places)}"
        )
    if mode not in MODES:
        raise InvalidInput(f"unknown denoising operation {mode!r}; use one of {', '.join(MODES)}")
    return mode, stages


def denoise_blocks(settings: tuple[str, list[str]] | None, widths: dict[str, int]) -> nn.ModuleDict:
    """One block per chosen stage (an empty dict without denoising: no parameters, no keys)."""
    if settings is None:
        return nn.ModuleDict()
    mode, stages = settings
    return nn.ModuleDict({stage: DenoiseBlock(widths[stage], mode) for stage in stages})
