"""Which images a pre-training process reads, in which order: a pure function of the batch position.

The data is a list of *containers* (tar shards, or chunks of an image folder) whose item counts are
known in advance and which are read front to back (streaming, never by random access). For epoch e:

1. the containers are permuted by (seed, e); their items in that order form the epoch's sequence;
2. its first `K * world * batch` items are cut into `world` contiguous rank ranges of K batches, with
   `K = N // (world * batch)`: every rank gets the same number of batches (a rank that ran out first
   would leave the others waiting in an all-reduce), and no item is read twice in an epoch. The
   `N mod (world * batch)` items at the tail change with the permutation, so over epochs every item is
   read about equally often;
3. batch position `t = e * K + k` (counted over the whole run) belongs to data-loader worker
   `t mod workers`, the round-robin in which torch's DataLoader takes batches from its workers. Each
   worker reads the contiguous part of the rank range that holds exactly its batches of the epoch and
   shuffles it in blocks of `block` items seeded by (seed, e, rank, worker).

So a rank's batch `t` is fixed by (seed, container counts, world, rank, workers, batch, block, t): a run
resumed at micro-batch `t` reads exactly what an uninterrupted run reads from `t` on, and two epochs
visit their items in different orders. The data-loader worker `i` of a run started at `t0` plays
worker `(i + t0) mod workers`, so that the DataLoader's first batch is batch `t0`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from facerep.errors import InputError

Segment = tuple[int, int, int]  # (container, first item, one past the last item)


@dataclass(frozen=True)
class Layout:
    """How one process reads: the containers' item counts and this process's place in the run."""

    counts: tuple[int, ...]
    batch: int
    seed: int
    world: int = 1
    rank: int = 0
    workers: int = 1
    block: int = 2048

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def batches_per_epoch(self) -> int:
        """K: the batches every rank reads per epoch."""
        k = self.total // (self.world * self.batch)
        if k == 0:
            raise InputError(
                f"pretrain.batch_size: {self.batch} x {self.world} process(es) exceeds the "
                f"{self.total} images available"
            )
        return k

    def item_offsets(self) -> list[int]:
        """The global id of each container's first item (containers in their canonical order)."""
        return [0, *itertools.accumulate(self.counts)][:-1]


@dataclass(frozen=True)
class WorkerEpoch:
    """What one worker reads in one epoch: the segments of its items and its batch positions."""

    epoch: int
    segments: list[Segment]
    positions: list[int]  # batch positions t (over the whole run) of this worker's batches, ascending
    skip: int  # batches of `positions` already consumed before the run started (resume)


def container_order(n: int, seed: int, epoch: int) -> list[int]:
    """The containers' permutation for `epoch`."""
    return [int(i) for i in np.random.default_rng([seed, epoch, 0x5A4D]).permutation(n)]


def take(segments: Sequence[Segment], lo: int, hi: int) -> list[Segment]:
    """The items at positions [lo, hi) of the concatenation of `segments`."""
    out: list[Segment] = []
    pos = 0
    for container, start, stop in segments:
        n = stop - start
        a, b = max(lo - pos, 0), min(hi - pos, n)
        if a < b:
            out.append((container, start + a, start + b))
        pos += n
        if pos >= hi:
            break
    return out


def epoch_positions(layout: Layout, epoch: int, worker: int) -> list[int]:
    """Batch positions t of `epoch` that `worker` serves: `t mod workers == worker`."""
    k = layout.batches_per_epoch
    first = epoch * k
    start = first + (worker - first) % layout.workers
    return list(range(start, first + k, layout.workers))


def worker_epoch(layout: Layout, epoch: int, worker: int, start: int = 0) -> WorkerEpoch:
    """The segments and batch positions of `worker` in `epoch`, skipping positions before `start`."""
    k, b = layout.batches_per_epoch, layout.batch
    before = sum(len(epoch_positions(layout, epoch, v)) for v in range(worker))
    positions = epoch_positions(layout, epoch, worker)
    order = container_order(len(layout.counts), layout.seed, epoch)
    sequence = [(c, 0, layout.counts[c]) for c in order]
    rank_lo = layout.rank * k * b
    lo = rank_lo + before * b
    segments = take(sequence, lo, lo + len(positions) * b)
    return WorkerEpoch(epoch, segments, positions, sum(t < start for t in positions))


def worker_epochs(layout: Layout, worker: int, start: int = 0) -> Iterator[WorkerEpoch]:
    """Every epoch of `worker` from the one holding batch `start` on, without end."""
    epoch = start // layout.batches_per_epoch
    while True:
        yield worker_epoch(layout, epoch, worker, start)
        epoch += 1


def block_order(n: int, block: int, seed: Sequence[int]) -> list[int]:
    """A shuffle of `range(n)` within consecutive blocks of `block` items (memory: one block)."""
    order: list[int] = []
    for b, lo in enumerate(range(0, n, block)):
        size = min(block, n - lo)
        order += [lo + int(i) for i in np.random.default_rng([*seed, b]).permutation(size)]
    return order


def sample_seed(seed: int, epoch: int, item: int) -> int:
    """The augmentation seed of global item `item` in `epoch`: its views depend on nothing else."""
    return int(np.random.SeedSequence([seed, epoch, item]).generate_state(1)[0])
