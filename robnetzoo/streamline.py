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

Identity modules (what BatchNorm folding leaves behind) are dropped from the graph as well.
The forward is bitwise the same; input gradients agree to float rounding (autograd sums the
edges' gradients in another grouping). ``benchmarks/attack_throughput.py`` measures the step
with and without the rewrite in the same run.

A model ``torch.fx`` cannot trace is returned as it is, with the reason.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch
from torch import nn

_RELU_FUNCTIONS = (torch.relu, torch.nn.functional.relu)
# Readers that neither write into their inputs nor return views of them:
_READ_ONLY_MODULES = (nn.Conv2d, nn.Linear, nn.AdaptiveAvgPool2d, nn.AvgPool2d, nn.MaxPool2d)
_READ_ONLY_FUNCTIONS = (operator.add, torch.add, torch.cat, torch.zeros_like, torch.nn.functional.pad)


@dataclass(frozen=True)
class Streamlined:
    """What ``streamline`` did: ``relus_shared`` copies dropped, ``sums_in_place`` rewritten;
    ``note`` says why nothing was done (a model torch.fx cannot trace)."""

    module: nn.Module
    relus_shared: int = 0
    sums_in_place: int = 0
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
    shared = _share_relus(graph_module)
    in_place = _accumulate_in_place(graph_module)
    graph.lint()
    graph_module.recompile()
    return Streamlined(graph_module, shared, in_place)


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


def _share_relus(graph_module: torch.fx.GraphModule) -> int:
    first: dict[torch.fx.Node, torch.fx.Node] = {}
    shared = 0
    for node in list(graph_module.graph.nodes):
        if not _is_relu(graph_module, node) or len(node.args) != 1 or not isinstance(node.args[0], torch.fx.Node):
            continue
        source = node.args[0]
        if not all(_only_read(graph_module, user) for user in source.users):
            continue  # something may write into the source: the copies could see different values
        if source in first:
            node.replace_all_uses_with(first[source])
            graph_module.graph.erase_node(node)
            shared += 1
        else:
            first[source] = node
    return shared


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
