"""Data-parallel helpers: rank, world size and gathers that are no-ops in a single process.

`gather_with_grad` uses lightly's `GatherLayer` (gradients flow back to the process that owns each
row), which SimCLR needs for negatives from other processes; the no-grad gather serves queues,
Sinkhorn codes and DINO's centre, which carry no gradient.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.distributed as dist
from lightly.utils.dist import GatherLayer
from torch import Tensor


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


@torch.no_grad()
def gather(x: Tensor) -> Tensor:
    """Concatenate `x` from every process along dim 0 (rank order); no gradient."""
    if not is_distributed():
        return x
    parts = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


@torch.no_grad()
def own_rows_of_global(fn: Callable[[Tensor], Tensor], x: Tensor, extra: Tensor | None = None) -> Tensor:
    """This process's rows of `fn` applied to `x` gathered from every process (then `extra` rows,
    e.g. a queue): a batch-level computation such as Sinkhorn's equipartition sees the global batch,
    identically on every process."""
    every = gather(x)
    if extra is not None:
        every = torch.cat([every, extra])
    start = rank() * len(x)
    return fn(every)[start : start + len(x)]


def gather_with_grad(x: Tensor) -> Tensor:
    """Concatenate `x` from every process; the gradient of each part returns to its owner."""
    if not is_distributed():
        return x
    return torch.cat(GatherLayer.apply(x.contiguous()))


@torch.no_grad()
def all_reduce_mean(x: Tensor) -> Tensor:
    """Mean of `x` over processes."""
    if not is_distributed():
        return x
    y = x.clone()
    dist.all_reduce(y)
    return y / world_size()
