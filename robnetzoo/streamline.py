"""Graph rewrites that take memory traffic out of an attack step, without changing its function.

On a CPU, an attack step of a RobNet spends about half its time outside the convolutions, in
element-wise passes over activations that do not stay in cache (ReLU, its backward, the sums
of a cell's nodes). Two of those passes are redundant, and ``streamline`` removes them from a
``torch.fx`` trace of the model:

* **One ReLU per tensor.** Every edge of a RobNet cell starts with its own ReLU, so a node's
  state feeding four edges is rectified four times forward and four times backward. The
  copies compute the same tensor; all but the first are dropped (only where every reader of
  that tensor is known not to write into it, or to hand out a view something could write through).
* **Sums accumulate in place.** ``a + b`` allocates a new tensor; where ``a`` is a
  convolution's output (or an earlier such sum) that nothing else reads, ``b`` is added into
  it. A convolution's backward does not need its output, so autograd allows it; shapes and
  dtypes are checked at run time, and a sum that would broadcast ``a`` stays out of place.

* **A concat rectified by its parts.** A cell's output concatenates its four node states and
  the next cells read it through a ReLU; three of those states were already rectified inside
  the cell. ``relu(cat(states))`` becomes ``cat([relu(state), ...])`` with the ReLUs the graph
  has: the same tensor for one small ReLU instead of a pass over the whole output, forward
  and backward (where only that ReLU reads the concat).
* **A factorized reduction without its pad.** FactorizedReduce halves the resolution with two
  1x1 stride-2 convolutions, the second on the input shifted by one pixel (a slice and a
  zero pad of the whole tensor), and concatenates them. The pad, the concat, and in the
  backward the slice's zero-filled full-size gradient (in NCHW, added to a channels_last one:
  the slowest element-wise path there is) cost more than the two convolutions. The rewrite
  gathers the two pixel grids the convolutions read into one tensor of a quarter of the
  pixels each (``shifted_pair``, whose backward scatters straight back in the input's
  layout) and runs one grouped 1x1 convolution on it, whose two groups are the two
  convolutions: the same products and sums, in one kernel call.

Identity modules (what BatchNorm folding leaves behind) are dropped from the graph as well.
The forward computes the same sums, equal to float rounding: bitwise with some CPU kernels,
not with others (a grouped convolution's kernel may add in another order: on an AVX2 CPU with
one thread the logits move by about 1e-8). Input gradients agree to
float rounding (autograd sums the edges' gradients in another grouping). The rewritten graph
is for autograd's reverse mode, which is what attacks use (``shifted_pair`` has no forward-mode
or ``torch.func`` rule). ``benchmarks/attack_throughput.py`` measures the step
with and without the rewrite in the same run.

A model ``torch.fx`` cannot trace is returned as it is, with the reason.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.utils import skip_init


def _layout(x: torch.Tensor) -> torch.memory_format:
    """The memory format a new tensor shaped like ``x`` should have to match it."""
    return (
        torch.channels_last
        if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        else torch.contiguous_format
    )


class _ShiftedPair(torch.autograd.Function):
    """``cat([x[:, :, ::2, ::2], pad(x[:, :, 1:, 1:], (0, 1, 0, 1))[:, :, ::2, ::2]], 1)``:
    the two pixel grids a factorized reduction's convolutions read, in ``x``'s memory format.
    The backward writes the gradient straight into a zeroed tensor of ``x``'s layout, where
    autograd's slice and pad would each build a full-size NCHW one."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        layout = _layout(x)
        out = torch.empty(
            (batch, 2 * channels, (height + 1) // 2, (width + 1) // 2),
            dtype=x.dtype,
            device=x.device,
            memory_format=layout,
        )
        out[:, :channels].copy_(x[:, :, ::2, ::2])
        if height % 2 or width % 2:  # the shifted grid's last row or column is the pad's zeros
            out[:, channels:].zero_()
        out[:, channels:, : height // 2, : width // 2].copy_(x[:, :, 1::2, 1::2])
        ctx.input_shape, ctx.dtype, ctx.layout = x.shape, x.dtype, layout
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        _, channels, height, width = ctx.input_shape
        grad_input = torch.empty(ctx.input_shape, dtype=ctx.dtype, device=grad.device, memory_format=ctx.layout)
        grad_input.zero_()  # zeroed in its own layout: no NCHW tensor to convert
        grad_input[:, :, ::2, ::2].copy_(grad[:, :channels])
        grad_input[:, :, 1::2, 1::2].copy_(grad[:, channels:, : height // 2, : width // 2])
        return grad_input


def shifted_pair(x: torch.Tensor) -> torch.Tensor:
    """The input of a paired factorized reduction's grouped convolution (``_ShiftedPair``)."""
    return _ShiftedPair.apply(x)


_RELU_FUNCTIONS = (torch.relu, torch.nn.functional.relu)
# Readers that neither write into their inputs nor return views of them:
_READ_ONLY_MODULES = (nn.Conv2d, nn.Linear, nn.AdaptiveAvgPool2d, nn.AvgPool2d, nn.MaxPool2d)
_READ_ONLY_FUNCTIONS = (operator.add, torch.add, torch.cat, torch.zeros_like, torch.nn.functional.pad, shifted_pair)


@dataclass(frozen=True)
class Streamlined:
    """What ``streamline`` did: ``relus_shared`` copies dropped, ``sums_in_place`` rewritten,
    ``reductions_paired`` factorized reductions made one grouped convolution,
    ``concats_rectified_by_part`` ReLUs of a concat moved onto its parts; ``note`` says
    why nothing was done (a model torch.fx cannot trace)."""

    module: nn.Module
    relus_shared: int = 0
    sums_in_place: int = 0
    reductions_paired: int = 0
    concats_rectified_by_part: int = 0
    note: str | None = None


def accumulate(total: torch.Tensor, term: torch.Tensor) -> torch.Tensor:
    """``total + term``, written into ``total`` when the result has its shape and dtype."""
    if (
        isinstance(term, torch.Tensor)
        and term.shape == total.shape
        and term.dtype == total.dtype
        and term.device == total.device
    ):
        return total.add_(term)
    return total + term


def untraceable(model: nn.Module, exc: Exception) -> str:
    """Why ``torch.fx`` could not trace ``model``, in one line (the folding's note says it too)."""
    reason = str(exc).splitlines()[0][:160] if str(exc) else ""
    return f"torch.fx could not trace {type(model).__name__} ({type(exc).__name__}{': ' + reason if reason else ''})"


def streamline(model: nn.Module) -> Streamlined:
    """A ``torch.fx.GraphModule`` computing what ``model`` computes, with fewer passes over
    memory (see the module docstring). ``model`` itself is not modified."""
    try:
        graph_module = torch.fx.symbolic_trace(model)
    except Exception as exc:  # any tracing failure leaves the model as it is
        return Streamlined(model, note=untraceable(model, exc))
    graph = graph_module.graph
    _drop_identities(graph_module)
    paired = _pair_shifted_convolutions(graph_module)
    shared = _share_relus(graph_module)
    moved = _rectify_before_concatenating(graph_module)
    in_place = _accumulate_in_place(graph_module)
    graph.lint()
    graph_module.delete_all_unused_submodules()
    graph_module.recompile()
    return Streamlined(graph_module, shared, in_place, paired, moved)


def _module(graph_module: torch.fx.GraphModule, node: torch.fx.Node) -> nn.Module | None:
    return graph_module.get_submodule(node.target) if node.op == "call_module" else None


def _drop_identities(graph_module: torch.fx.GraphModule) -> None:
    for node in list(graph_module.graph.nodes):
        if type(_module(graph_module, node)) is nn.Identity:
            node.replace_all_uses_with(node.args[0])
            graph_module.graph.erase_node(node)


def _only_read(graph_module: torch.fx.GraphModule, node: torch.fx.Node) -> bool:
    """Whether ``node`` certainly neither writes into its inputs nor returns a view of them
    (through which a later node could): the consumers a RobNet state has, and a few more."""
    if _is_relu(graph_module, node):
        return True
    module = _module(graph_module, node)
    if module is not None:
        return type(module) in _READ_ONLY_MODULES
    return node.op == "call_function" and node.target in _READ_ONLY_FUNCTIONS and "out" not in node.kwargs


def _is_relu(graph_module: torch.fx.GraphModule, node: torch.fx.Node) -> bool:
    module = _module(graph_module, node)
    if module is not None:
        return type(module) is nn.ReLU and not module.inplace
    return node.op == "call_function" and node.target in _RELU_FUNCTIONS and not node.kwargs.get("inplace", False)


def _relu_source(graph_module: torch.fx.GraphModule, node: torch.fx.Node) -> torch.fx.Node | None:
    """The tensor ``node`` rectifies, where ``node`` is a ReLU of one graph tensor."""
    if _is_relu(graph_module, node) and len(node.args) == 1 and isinstance(node.args[0], torch.fx.Node):
        return node.args[0]
    return None


def _share_relus(graph_module: torch.fx.GraphModule) -> int:
    first: dict[torch.fx.Node, torch.fx.Node] = {}
    shared = 0
    for node in list(graph_module.graph.nodes):
        source = _relu_source(graph_module, node)
        if source is None:
            continue
        if not all(_only_read(graph_module, user) for user in source.users):
            continue  # something may write into the source: the copies could see different values
        if source in first:
            node.replace_all_uses_with(first[source])
            graph_module.graph.erase_node(node)
            shared += 1
        else:
            first[source] = node
    return shared


def _concatenation(node: torch.fx.Node) -> tuple[list[torch.fx.Node], object] | None:
    """``(parts, dim)`` where ``node`` is ``torch.cat(parts, dim)`` of graph tensors and nothing
    more (no ``out=``)."""
    if node.op != "call_function" or node.target is not torch.cat:
        return None
    named = dict(node.kwargs)
    args = list(node.args)
    if not args and "tensors" in named:
        args.append(named.pop("tensors"))
    if len(args) == 1 and set(named) <= {"dim"}:
        args.append(named.pop("dim", 0))
    if len(args) != 2 or named:
        return None
    parts, dim = args
    if not isinstance(parts, (list, tuple)) or not all(isinstance(part, torch.fx.Node) for part in parts):
        return None
    return list(parts), dim


def _rectify_before_concatenating(graph_module: torch.fx.GraphModule) -> int:
    """``relu(cat(parts))``, where nothing but that ReLU reads the concat, becomes
    ``cat([relu(part), ...])`` with each part's ReLU the one the graph already has (if it comes
    before the concat and nothing writes into it): a RobNet cell's output is rectified once per
    node, not again whole."""
    graph = graph_module.graph
    order = {node: index for index, node in enumerate(graph.nodes)}
    relu_of: dict[torch.fx.Node, torch.fx.Node] = {}
    for node in graph.nodes:
        source = _relu_source(graph_module, node)
        if source is not None:
            relu_of.setdefault(source, node)
    rewritten = 0
    for node in list(graph.nodes):
        concat = _relu_source(graph_module, node)
        if concat is None:
            continue
        found = _concatenation(concat)
        if found is None or len(concat.users) != 1:
            continue
        parts, dim = found
        if not all(_only_read(graph_module, user) for part in parts for user in part.users):
            continue
        rectified = []
        with graph.inserting_before(concat):
            for part in parts:
                existing = relu_of.get(part)
                reusable = (
                    existing is not None
                    and order[existing] < order[concat]
                    and all(_only_read(graph_module, user) for user in existing.users)
                )
                rectified.append(existing if reusable else graph.call_function(torch.relu, (part,)))
            joined = graph.call_function(torch.cat, (rectified, dim))
        node.replace_all_uses_with(joined)
        graph.erase_node(node)
        graph.erase_node(concat)
        rewritten += 1
    return rewritten


def _fresh_and_private(graph_module: torch.fx.GraphModule, node: object) -> bool:
    """A tensor only this graph created, read by one node: a convolution's output or an
    in-place sum's."""
    if not isinstance(node, torch.fx.Node) or len(node.users) != 1:
        return False
    if node.op == "call_function" and node.target is accumulate:
        return True
    return type(_module(graph_module, node)) is nn.Conv2d


def _accumulate_in_place(graph_module: torch.fx.GraphModule) -> int:
    rewritten = 0
    for node in graph_module.graph.nodes:
        if node.op != "call_function" or node.target is not operator.add or node.kwargs or len(node.args) != 2:
            continue
        total, term = node.args
        if total is term or not _fresh_and_private(graph_module, total):
            continue
        node.target = accumulate
        rewritten += 1
    return rewritten


_SHIFT = (slice(None), slice(None), slice(1, None), slice(1, None))


def _reduction_conv(graph_module: torch.fx.GraphModule, node: object) -> nn.Conv2d | None:
    """The 1x1, stride-2, unpadded convolution ``node`` calls, read only by one node."""
    if not isinstance(node, torch.fx.Node) or len(node.users) != 1:
        return None
    conv = _module(graph_module, node)
    if not isinstance(conv, nn.Conv2d) or type(conv) is not nn.Conv2d or conv.padding_mode != "zeros":  # no subclasses
        return None
    ok = conv.kernel_size == (1, 1) and conv.stride == (2, 2) and conv.padding == (0, 0) and conv.groups == 1
    return conv if ok else None


def _shifted_source(node: torch.fx.Node) -> torch.fx.Node | None:
    """``x`` where ``node`` is ``pad(x[:, :, 1:, 1:], (0, 1, 0, 1))`` and nothing else reads the two."""
    if node.op != "call_function" or node.target is not torch.nn.functional.pad or len(node.users) != 1:
        return None
    if len(node.args) != 2 or tuple(node.args[1]) != (0, 1, 0, 1):
        return None
    if node.kwargs.get("mode", "constant") != "constant" or node.kwargs.get("value") not in (None, 0):
        return None
    sliced = node.args[0]
    if not isinstance(sliced, torch.fx.Node) or sliced.op != "call_function" or sliced.target is not operator.getitem:
        return None
    if len(sliced.users) != 1 or not isinstance(sliced.args[0], torch.fx.Node) or sliced.args[1] != _SHIFT:
        return None
    return sliced.args[0]


def _grouped(first: nn.Conv2d, second: nn.Conv2d) -> nn.Conv2d:
    """One 1x1 convolution with two groups: ``first`` on the first half of the input channels,
    ``second`` on the other half, their outputs concatenated."""
    weight = first.weight
    conv = skip_init(  # no initialisation: it would draw from the caller's random stream
        nn.Conv2d,
        2 * first.in_channels,
        first.out_channels + second.out_channels,
        1,
        groups=2,
        bias=first.bias is not None,
        device=weight.device,
        dtype=weight.dtype,
    )
    with torch.no_grad():
        conv.weight.copy_(torch.cat([first.weight, second.weight]))
        if conv.bias is not None:
            conv.bias.copy_(torch.cat([first.bias, second.bias]))
    return conv.requires_grad_(first.weight.requires_grad)


def _unused_name(graph_module: torch.fx.GraphModule, stem: str) -> str:
    index = 0
    while hasattr(graph_module, f"{stem}_{index}"):
        index += 1
    return f"{stem}_{index}"


def _pair_shifted_convolutions(graph_module: torch.fx.GraphModule) -> int:
    """``cat([conv_1(x), conv_2(pad(x[:, :, 1:, 1:], (0, 1, 0, 1)))], 1)`` with two 1x1 stride-2
    convolutions of one shape becomes ``grouped(shifted_pair(x))`` (the module docstring)."""
    graph = graph_module.graph
    paired = 0
    for node in list(graph.nodes):
        found = _concatenation(node)
        if found is None or len(found[0]) != 2 or found[1] != 1:  # the channels of a batch of images
            continue
        first_node, second_node = found[0]
        first, second = _reduction_conv(graph_module, first_node), _reduction_conv(graph_module, second_node)
        if first is None or second is None or len(second_node.args) != 1:
            continue
        source = _shifted_source(second_node.args[0])
        if source is None or first_node.args != (source,):
            continue
        if (first.in_channels, first.out_channels, first.bias is None, first.weight.dtype) != (
            second.in_channels,
            second.out_channels,
            second.bias is None,
            second.weight.dtype,
        ):
            continue
        name = _unused_name(graph_module, "paired_reduction")
        graph_module.add_submodule(name, _grouped(first, second))
        with graph.inserting_before(node):
            pair = graph.call_function(shifted_pair, (source,))
            grouped = graph.call_module(name, (pair,))
        node.replace_all_uses_with(grouped)
        padded = second_node.args[0]
        for dead in (node, first_node, second_node, padded, padded.args[0]):
            graph.erase_node(dead)
        paired += 1
    return paired
