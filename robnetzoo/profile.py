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
    """MACs of one forward pass on one image: the FLOPs figure papers quote for CNNs."""
    total = 0

    def conv_hook(module: nn.Conv2d, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        kernel = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
        total += output.numel() * kernel

    def linear_hook(module: nn.Linear, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        total += output.numel() * module.in_features

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    was_training = model.training
    try:
        model.eval()
        # on the meta device: shapes only, so a large input size costs no memory for activations
        from torch.func import functional_call

        state = {name: torch.empty_like(t, device="meta") for name, t in [*model.named_parameters(), *model.named_buffers()]}
        functional_call(model, state, (torch.zeros(1, *input_size, device="meta"),))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return total
