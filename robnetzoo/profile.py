"""Parameter and FLOP counts (multiply-accumulates of convolutions and linear layers)."""

from __future__ import annotations

import torch
from torch import nn


def count_parameters(model: nn.Module) -> int:
    """All parameters, trainable or frozen: a model's size does not change when it is frozen
    (as the evaluator's copy is). Buffers (BatchNorm statistics) are not parameters."""
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_macs(model: nn.Module, input_size: tuple[int, int, int]) -> int:
    """MACs of one forward pass on one image: the FLOPs figure papers quote for CNNs.

    Counted by torch's own ``FlopCounterMode`` (every op it has a formula for: convolutions,
    matrix products, attention; not the elementwise ops, BatchNorm or pooling, which papers leave
    out too), halved from FLOPs to multiply-accumulates. On the zoo's models this equals the
    Conv2d-and-Linear count the published figures were first made with, to the last MAC.
    Runs on the meta device: shapes only, so a large input costs no memory for activations."""
    from torch.func import functional_call
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    try:
        model.eval()
        state = {
            name: torch.empty_like(t, device="meta") for name, t in [*model.named_parameters(), *model.named_buffers()]
        }
        with FlopCounterMode(display=False) as counter:
            functional_call(model, state, (torch.zeros(1, *input_size, device="meta"),))
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2
