"""torch.distributed helpers shared by evaluation (core) and training (``robnetzoo.search``).

Scale-out is ``torchrun``: it sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/``MASTER_ADDR``, and
``init_from_env`` joins the process group it describes (NCCL on CUDA, gloo on CPU). Without
torchrun everything here degrades to one process: ``current()`` says rank 0 of 1, gathers
return a one-element list, and nothing is initialised.

Work is split by example index (``shard``) or by a seeded per-epoch order (``epoch_order``, the
semantics of ``DistributedSampler``), so the examples a rank sees never depend on timing, and
the evaluator's per-example results merge into exactly a one-process run's.

This lives in the core (the design map puts it under ``search/``) because the evaluator
shards with it and the core never imports ``robnetzoo.search``.
"""

from __future__ import annotations

import contextlib
import os
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Iterator

import torch

from .errors import InvalidInput
from .seeding import derive_seed


@dataclass(frozen=True)
class Context:
    """Where this process stands: rank ``rank`` of ``world_size`` (``local_rank`` on its node)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


_ALONE: ContextVar[bool] = ContextVar("robnetzoo_distributed_alone", default=False)


def _group_exists() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def _initialised() -> bool:
    """Whether collectives apply here: a process group exists and we are not working ``alone``."""
    return _group_exists() and not _ALONE.get()


@contextlib.contextmanager
def alone() -> Iterator[None]:
    """Work one rank does by itself inside a torchrun job (one search candidate: its finetuning
    and its scoring): within the block this process is rank 0 of 1, so the engine and the
    evaluator neither shard nor gather, and nothing waits for the other ranks."""
    token = _ALONE.set(True)
    try:
        yield
    finally:
        _ALONE.reset(token)


def current() -> Context:
    """This process's place in the initialised process group (rank 0 of 1 when there is none)."""
    if not _initialised():
        return Context()
    return Context(
        torch.distributed.get_rank(), torch.distributed.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))
    )


def launched_by_torchrun() -> bool:
    """Whether a launcher described a process group: torchrun (even of one process, so that a
    one-GPU job still runs its collectives through NCCL) or any launcher of several."""
    return "TORCHELASTIC_RUN_ID" in os.environ or int(os.environ.get("WORLD_SIZE", "1")) > 1


def backend() -> str | None:
    """The process group's backend (``nccl``, ``gloo``), or None in one process without one."""
    return str(torch.distributed.get_backend()) if _initialised() else None


def init_from_env(device: str | torch.device | None = None) -> Context:
    """Join the process group torchrun described, once; a no-op outside torchrun.

    NCCL when the device is CUDA, gloo otherwise. Each CUDA rank uses ``cuda:LOCAL_RANK``.
    CPU ranks run one intra-op thread each unless ``OMP_NUM_THREADS`` says otherwise: ranks
    sharing a machine's cores would otherwise slow each other down many times over.
    """
    if not launched_by_torchrun() or _group_exists():
        return current()
    if not torch.distributed.is_available():
        raise InvalidInput("this torch build has no torch.distributed; run without torchrun")
    use_cuda = str(device or "").startswith("cuda") or (device in (None, "auto") and torch.cuda.is_available())
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if use_cuda:
        torch.cuda.set_device(local_rank)
    elif "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(1)
    torch.distributed.init_process_group(backend="nccl" if use_cuda else "gloo")
    return current()


def device_for(context: Context, device: str | torch.device | None) -> str | torch.device | None:
    """A CUDA rank's own GPU (``cuda:LOCAL_RANK``) where ``device`` asks for CUDA in general."""
    if context.distributed and str(device or ("cuda" if torch.cuda.is_available() else "cpu")) in ("cuda", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda", context.local_rank)
    return device


def shutdown() -> None:
    if _group_exists():
        torch.distributed.destroy_process_group()


def all_gather_objects(value: Any) -> list[Any]:
    """Every rank's ``value``, in rank order (``[value]`` in one process)."""
    if not _initialised():
        return [value]
    gathered: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(gathered, value)
    return gathered


def barrier() -> None:
    if _initialised():
        torch.distributed.barrier()


def shard(indices: list[int], context: Context) -> list[int]:
    """This rank's share of ``indices``: every ``world_size``-th one, starting at ``rank``."""
    return indices[context.rank :: context.world_size]


def epoch_order(n: int, seed: int, epoch: int, context: Context, *, drop_last: bool = False) -> list[int]:
    """This rank's example order for one epoch: a permutation seeded by (seed, epoch), padded
    (or cut) to a multiple of the world size and dealt round-robin: ``DistributedSampler``'s
    semantics, with the order a pure function of its arguments so a resumed run sees the same."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(derive_seed(seed, "epoch-order", epoch))).tolist()
    world = context.world_size
    if drop_last:
        order = order[: n - n % world]
    elif n % world:
        order += order[: world - n % world]
    return shard(order, context)
