"""The one-shot supernet of the RobNet space, and its weight mapping to stand-alone RobNets.

Every edge of every cell carries both paths of the space: ``conv`` (the 3x3 separable conv) and
``res`` (identity, or FactorizedReduce on a stride-2 edge). A sub-network is a genotype: per
edge a 2-bit code, ``00`` neither path, ``01`` conv, ``10`` res, ``11`` both summed (exactly
the four operations of ``robnetzoo.ops``). ``set_genotype`` chooses the active sub-network
(per batch during supernet training: path dropout); the cell-based space shares one cell for
every layer, the cell-free space has one cell per layer.

``extract(supernet, genotype)`` builds the stand-alone ``RobNet`` of a genotype with the
supernet's weights, in the authors' state_dict layout; ``robnet_key_source`` is the one place
that says which supernet tensor each RobNet tensor comes from. In eval mode the supernet under
a genotype and the extracted RobNet give equal logits (tested for every code at normal and
reduction edges).
"""

from __future__ import annotations

import re
from typing import Sequence

import torch
from torch import nn

from robnetzoo.config import ModelConfig, build_model
from robnetzoo.errors import InvalidInput
from robnetzoo.genotype import EDGES_PER_CELL, STEPS, Genotype, as_genotype, edge_inputs
from robnetzoo.models.robnet import MULTIPLIER, cell_plan
from robnetzoo.ops import FactorizedReduce, ReLUConvBN, SepConv

from .settings import SPACES


class SuperEdge(nn.Module):
    """Both paths of one edge; ``forward(x, code)`` runs the ones the code switches on."""

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.conv = SepConv(channels, channels, stride)
        self.res: nn.Module = nn.Identity() if stride == 1 else FactorizedReduce(channels, channels)

    def forward(self, x: torch.Tensor, code: str) -> torch.Tensor | None:
        if code == "00":
            return None
        if code == "01":
            return self.conv(x)
        if code == "10":
            return self.res(x)
        return self.conv(x) + self.res(x)


class SuperCell(nn.Module):
    def __init__(self, c_prev_prev: int, c_prev: int, channels: int, reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0: nn.Module = (
            FactorizedReduce(c_prev_prev, channels) if reduction_prev else ReLUConvBN(c_prev_prev, channels)
        )
        self.preprocess1 = ReLUConvBN(c_prev, channels)
        self._ops = nn.ModuleList()
        for edge in range(EDGES_PER_CELL):
            _, source = edge_inputs(edge)
            self._ops.append(SuperEdge(channels, 2 if reduction and source < 2 else 1))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, codes: Sequence[str]) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        edge = 0
        for node in range(STEPS):
            total = None
            for source in range(2 + node):
                out = self._ops[edge](states[source], codes[edge])
                edge += 1
                if out is not None:
                    total = out if total is None else total + out
            if total is None:  # every edge into this node is '00': zeros, as RobNet's Zero gives
                reference = states[1]
                stride = 2 if self.reduction else 1
                total = torch.zeros_like(reference[:, :, ::stride, ::stride])
            states.append(total)
        return torch.cat(states[-MULTIPLIER:], dim=1)


class Supernet(nn.Module):
    """A RobNet-shaped network whose cells hold every path (see the module docstring).

    ``space="cell"`` samples one cell for all layers, ``"free"`` one cell per layer. The stem,
    preprocessing and classifier are those of ``RobNet`` (same names), so they map one to one.
    """

    def __init__(self, C: int = 16, layers: int = 8, num_classes: int = 10, space: str = "cell") -> None:
        super().__init__()
        if space not in SPACES:
            raise InvalidInput(f"unknown search space {space!r}; use one of {', '.join(SPACES)}")
        if layers < 3:
            raise InvalidInput(f"a supernet needs at least 3 layers, got {layers}")
        self.C, self.layers, self.num_classes, self.space = C, layers, num_classes, space
        c_curr = 3 * C
        self.stem = nn.Sequential(nn.Conv2d(3, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr))
        plan = cell_plan(c_curr, c_curr, C, layers, reduction_prev=False)
        self.cells = nn.ModuleList(SuperCell(*shape) for shape in plan)
        c_prev = MULTIPLIER * plan[-1][2]
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)
        self.genotype = Genotype((("11",) * EDGES_PER_CELL,))  # every path on until told otherwise

    def set_genotype(self, genotype: Genotype | Sequence) -> None:
        genotype = as_genotype(genotype)
        if self.space == "cell" and not genotype.shared:
            raise InvalidInput("the cell-based supernet takes one cell for every layer")
        genotype.check_layers(self.layers)
        self.genotype = genotype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for layer, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.genotype.cell_for_layer(layer, self.layers))
        return self.classifier(torch.flatten(self.global_pooling(s1), 1))


def _stages(layers: int) -> list[list[int]]:
    """The layers of a network of ``layers`` cells in five segments, as ``cell_plan`` lays them
    out: normal cells of stage 1, the first reduction, stage 2, the second reduction, stage 3."""
    first, second = layers // 3, 2 * layers // 3
    return [list(range(0, first)), [first], list(range(first + 1, second)), [second], list(range(second + 1, layers))]


def at_depth(genotype: Genotype, layers: int) -> Genotype:
    """A cell-free genotype of the supernet's depth stretched to ``layers`` cells (the final
    network's 20): each final cell takes the supernet cell at the same relative position of the
    same segment (stage or reduction; ``_stages``), so reduction cells stay reduction cells and
    a deep cell stays deep. A segment the supernet lacks (too few cells) takes the nearest
    earlier normal cell. A cell-based genotype is returned as it is."""
    if genotype.shared or len(genotype.cells) == layers:
        return genotype
    source, target = _stages(len(genotype.cells)), _stages(layers)
    cells: list[tuple[str, ...]] = [()] * layers
    last_normal = source[0][0] if source[0] else 0
    for segment, (have, want) in enumerate(zip(source, target)):
        for position, layer in enumerate(want):
            if have:
                chosen = have[position * len(have) // len(want)]
            else:
                chosen = last_normal
            cells[layer] = genotype.cells[chosen]
        if have and segment % 2 == 0:
            last_normal = have[-1]
    return Genotype(tuple(cells))


_EDGE_KEY = re.compile(r"^cells\.(\d+)\._ops\.(\d+)\.op\.(.*)$")


def robnet_key_source(key: str, genotype: Genotype, layers: int) -> str:
    """The supernet tensor a RobNet tensor comes from (the one weight mapping).

    A RobNet edge holds its operation under ``op``: ``01`` is the SepConv itself, ``10`` the
    FactorizedReduce (identity has no tensors), ``11`` a ResSepConv with ``conv`` and ``res``;
    the supernet edge holds ``conv`` and ``res`` always. Everything else maps to itself.
    """
    match = _EDGE_KEY.match(key)
    if match is None:
        return key
    layer, edge, rest = int(match[1]), int(match[2]), match[3]
    code = genotype.cell_for_layer(layer, layers)[edge]
    prefix = f"cells.{layer}._ops.{edge}"
    if code == "01":
        return f"{prefix}.conv.{rest}"
    if code == "10":
        return f"{prefix}.res.{rest}"
    if code == "11":
        return f"{prefix}.{rest}"  # rest starts with conv. or res.
    raise InvalidInput(f"{key}: a zero edge has no tensors")


def extract(supernet: Supernet, genotype: Genotype | Sequence, config: ModelConfig | None = None) -> nn.Module:
    """The stand-alone RobNet of ``genotype`` carrying the supernet's weights (and BatchNorm
    statistics). ``config`` names the model (default: a ``robnet`` config of the supernet's
    C, layers and classes); its genotype is replaced by ``genotype``."""
    genotype = as_genotype(genotype)
    genotype.check_layers(supernet.layers)
    if config is None:
        config = ModelConfig(
            name="robnet-candidate",
            arch="robnet",
            dataset="unknown",
            input_size=(3, 32, 32),
            num_classes=supernet.num_classes,
            arch_args={
                "genotype": genotype.to_json(),
                "C": supernet.C,
                "layers": supernet.layers,
                "num_classes": supernet.num_classes,
            },
        )
    else:
        config = config.with_overrides(genotype=genotype.to_json())
    model = build_model(config)
    source = supernet.state_dict()
    state = {key: source[robnet_key_source(key, genotype, supernet.layers)].clone() for key in model.state_dict()}
    model.load_state_dict(state, strict=True)
    return model
