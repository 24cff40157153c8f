"""Parameter and FLOP counts (multiply-accumulates of convolutions and linear layers)."""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable

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
    Runs on the meta device: shapes only, so a large input costs no memory for activations.

    Meta kernels and the counter cost about a millisecond per op, and a 20-cell RobNet runs
    thousands, so a block that repeats (same structure, same input shapes: a stage's cells,
    a ResNet's blocks) is counted once and its figure reused (``_RepeatedBlocks``)."""
    from torch.func import functional_call
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    try:
        model.eval()
        state = {
            name: torch.empty_like(t, device="meta") for name, t in [*model.named_parameters(), *model.named_buffers()]
        }
        with FlopCounterMode(display=False) as counter, _RepeatedBlocks(model, counter) as repeated:
            functional_call(model, state, (torch.zeros(1, *input_size, device="meta"),))
    finally:
        model.train(was_training)
    return repeated.flops() // 2


class _RepeatedBlocks:
    """Within ``count_macs``: every submodule whose structure (its ``repr``: layers, channels,
    strides) occurs more than once runs its forward the first time it meets each input shape;
    later calls return a meta tensor of the recorded output shape and add the recorded FLOPs.
    Only single-tensor outputs are reused; anything else always runs."""

    def __init__(self, model: nn.Module, counter: Any) -> None:
        self.counter = counter
        self.reused_flops = 0
        # leaf layers cost one op each (nothing to save) and the model itself occurs once
        containers = [m for m in model.modules() if m is not model and next(m.children(), None) is not None]
        self.signatures = {id(m): f"{type(m).__qualname__}:{m!r}" for m in containers}
        occurrences = Counter(self.signatures.values())
        self.blocks = [m for m in containers if occurrences[self.signatures[id(m)]] > 1]
        self.recorded: dict[tuple, tuple[int, torch.Size, torch.dtype]] = {}

    def flops(self) -> int:
        """FLOPs so far, counted or reused (a block recorded around a reused inner one needs both)."""
        return self.counter.get_total_flops() + self.reused_flops

    def __enter__(self) -> "_RepeatedBlocks":
        for module in self.blocks:
            module.forward = self._reusing(module, module.forward)  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        for module in self.blocks:
            del module.forward  # back to the class's own

    def _reusing(self, module: nn.Module, forward: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            if kwargs or not all(isinstance(a, torch.Tensor) for a in args):
                return forward(*args, **kwargs)
            key = (self.signatures[id(module)], *(tuple(a.shape) for a in args))
            if key in self.recorded:
                flops, shape, dtype = self.recorded[key]
                self.reused_flops += flops
                return torch.empty(shape, dtype=dtype, device="meta")
            before = self.flops()
            output = forward(*args)
            if isinstance(output, torch.Tensor):
                self.recorded[key] = (self.flops() - before, output.shape, output.dtype)
            return output

        return run
