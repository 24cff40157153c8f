"""RobNet: a DARTS-style network whose cells come from a 2-bit-per-edge genotype.

Layout (the authors' release, which our models load strictly): a stem, ``layers`` cells with
reduction (stride 2, doubled width) at ``layers // 3`` and ``2 * layers // 3``, global average
pooling and a linear classifier on the concatenated outputs of the four intermediate nodes.
The ImageNet variant replaces the 3x3 stem by DARTS' two-stage stride-8 stem.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import torch
from torch import nn

from ..errors import InvalidInput
from ..genotype import STEPS, Genotype, as_genotype, edge_inputs
from ..ops import FactorizedReduce, ReLUConvBN, Zero, make_op
from .denoise import denoise_blocks, denoise_settings
from .head import ClassifierHead

STAGES = ("stage1", "stage2", "stage3")  # the groups of cells between reductions (denoise places)

MULTIPLIER = 4  # the cell output concatenates the last four states


class Edge(nn.Module):
    """One edge of a cell. A wrapper so the checkpoint key reads ``_ops.<edge>.op...``."""

    def __init__(self, code: str, channels: int, stride: int) -> None:
        super().__init__()
        self.code = code
        self.op = make_op(code, channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Cell(nn.Module):
    def __init__(
        self,
        codes: Sequence[str],
        c_prev_prev: int,
        c_prev: int,
        channels: int,
        reduction: bool,
        reduction_prev: bool,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(c_prev_prev, channels)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, channels)
        self.preprocess1 = ReLUConvBN(c_prev, channels)
        self._ops = nn.ModuleList()
        self._inputs: list[tuple[int, int]] = []  # (node, input state) per edge
        for edge, code in enumerate(codes):
            node, source = edge_inputs(edge)
            stride = 2 if reduction and source < 2 else 1
            self._ops.append(Edge(code, channels, stride))
            self._inputs.append((node, source))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        edge = 0
        for node in range(STEPS):
            total = None
            zero_source = None
            for source in range(2 + node):
                module = self._ops[edge]
                edge += 1
                if isinstance(module.op, Zero):
                    zero_source = (module, states[source])
                    continue
                out = module(states[source])
                total = out if total is None else total + out
            if total is None:  # every edge into this node is '00'
                module, state = zero_source  # type: ignore[misc]
                total = module(state)
            states.append(total)
        return torch.cat(states[-MULTIPLIER:], dim=1)


def cell_plan(
    c_prev_prev: int, c_prev: int, channels: int, layers: int, reduction_prev: bool
) -> list[tuple[int, int, int, bool, bool]]:
    """Per layer ``(c_prev_prev, c_prev, channels, reduction, reduction_prev)``: reductions
    (width doubled, stride 2) at ``layers // 3`` and ``2 * layers // 3``. The one schedule of
    RobNet and of the search's supernet, so the two always have matching shapes."""
    plan = []
    for layer in range(layers):
        reduction = layer in (layers // 3, 2 * layers // 3)
        if reduction:
            channels *= 2
        plan.append((c_prev_prev, c_prev, channels, reduction, reduction_prev))
        reduction_prev = reduction
        c_prev_prev, c_prev = c_prev, MULTIPLIER * channels
    return plan


class RobNet(ClassifierHead, nn.Module):
    """A RobNet built from a genotype (with timm's model interface: ``models.head``).

    Args:
        genotype: one cell of 14 edge codes shared by all layers, or one cell per layer.
        C: channels of the first stage (each cell outputs ``4 * C`` at that stage).
        layers: number of cells; reductions at ``layers // 3`` and ``2 * layers // 3``.
        num_classes: classifier outputs.
        stem: ``"cifar"`` (3x3 conv to ``3 * C``) or ``"imagenet"`` (stride-8 two-stage stem).
        denoise: feature denoising blocks after groups of cells (``models.denoise``): None, a
            mode name, or ``{"mode": ..., "stages": [...]}`` of ``stage1``-``stage3``.
    """

    def __init__(
        self,
        genotype: Genotype | Iterable,
        C: int = 36,
        layers: int = 20,
        num_classes: int = 10,
        stem: str = "cifar",
        denoise: Any = None,
    ) -> None:
        super().__init__()
        genotype = as_genotype(genotype)
        genotype.check_layers(layers)
        if layers < 3:
            raise InvalidInput(f"RobNet needs at least 3 layers, got {layers}")
        if stem not in ("cifar", "imagenet"):
            raise InvalidInput(f"unknown stem {stem!r}; use 'cifar' or 'imagenet'")
        self.genotype = genotype
        self.stem_type = stem
        stem_multiplier = 3
        if stem == "cifar":
            c_curr = stem_multiplier * C
            self.stem = nn.Sequential(nn.Conv2d(3, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr))
            c_prev_prev, c_prev, c_curr = c_curr, c_curr, C
            reduction_prev = False
        else:
            self.stem0 = nn.Sequential(
                nn.Conv2d(3, C // 2, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(C // 2),
                nn.ReLU(inplace=True),
                nn.Conv2d(C // 2, C, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(C),
            )
            self.stem1 = nn.Sequential(
                nn.ReLU(inplace=True),
                nn.Conv2d(C, C, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(C),
            )
            c_prev_prev, c_prev, c_curr = C, C, C
            reduction_prev = True

        self.cells = nn.ModuleList()
        widths: dict[str, int] = {}
        self.stage_ends = {layers // 3 - 1: "stage1", 2 * layers // 3 - 1: "stage2", layers - 1: "stage3"}
        for layer, shape in enumerate(cell_plan(c_prev_prev, c_prev, c_curr, layers, reduction_prev)):
            self.cells.append(Cell(genotype.cell_for_layer(layer, layers), *shape))
            c_prev = MULTIPLIER * shape[2]
            if layer in self.stage_ends:
                widths[self.stage_ends[layer]] = c_prev
        self.denoise = denoise_blocks(denoise_settings(denoise, STAGES), widths)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.init_head(c_prev, num_classes)

    def cell_outputs(self, x: torch.Tensor, *, include_stem: bool = False) -> list[torch.Tensor]:
        """Every cell's output (after the stem's, with ``include_stem``: then entry l is cell
        l's input ``s1`` and entry l + 1 its output), for the search's FSP analysis."""
        if self.stem_type == "cifar":
            s0 = s1 = self.stem(x)
        else:
            s0 = self.stem0(x)
            s1 = self.stem1(s0)
        outputs = [s1] if include_stem else []
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
            outputs.append(s1)
        return outputs

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last cell's output: the feature map before pooling (timm's ``forward_features``)."""
        if self.stem_type == "cifar":
            s0 = s1 = self.stem(x)
        else:
            s0 = self.stem0(x)
            s1 = self.stem1(s0)
        for layer, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1)
            stage = self.stage_ends.get(layer)
            if stage is not None and stage in self.denoise:
                s1 = self.denoise[stage](s1)
        return s1
