"""Reading faces for training and inference through a torch DataLoader whose workers decode them.

A training run is `steps` batches of indices drawn with replacement by a seeded generator
(`seeded_draws`, the order `train.fit` has always used); each index travels with a per-sample seed
`(seed, step, position)` from which its augmentation is drawn, so a batch holds the same pixels
whether 0 or 8 worker processes decode it. Workers return uint8 images (a quarter of float32's
bytes through their queues); normalisation happens on the device. At most `num_workers * 2`
batches are in flight, so memory is a few batches whatever the dataset's size.

Workers decode at the lowest CPU priority (nice 19). On a machine whose cores all train (the 2-core
CPU), a worker at the same priority preempts one of torch's compute threads, and the others then
wait for it at every parallel region's barrier; at the lowest priority the workers fill the moments
the compute threads leave idle, ahead of time thanks to the prefetched batches, and the worst case
is decoding in turn with training, as with 0 workers. On a GPU machine the cores are mostly idle and
the priority changes nothing (`bench/bench_finetune_memory.py`).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from facerep.downstream.augment import Augmenter
from facerep.downstream.data import ImageSource
from facerep.downstream.device import Runtime


def seeded_draws(n: int, batch_size: int, steps: int, seed: int) -> list[Tensor]:
    """`steps` batches of `min(batch_size, n)` indices in [0, n), drawn with replacement from a
    generator seeded with `seed` (fit, and the labelled half of a distillation step, share it)."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randint(n, (min(batch_size, n),), generator=gen) for _ in range(steps)]


class TrainItems(Dataset[tuple[Tensor, Tensor]]):
    """Item `(i, seed, step, position)`: image i and its target row, augmented with a generator
    seeded by the rest of the tuple when an augmenter is given."""

    def __init__(self, images: ImageSource, targets: Tensor, augment: Augmenter | None) -> None:
        self.images, self.targets, self.augment = images, targets, augment

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, item: tuple[int, int, int, int]) -> tuple[Tensor, Tensor]:
        i, *stream = item
        image, target = self.images[i], self.targets[i]
        if self.augment is not None:
            image, target = self.augment(image, target, np.random.default_rng(stream))
        return image, target


def _worker_start(worker: int) -> None:
    """A DataLoader worker's start: decode at nice 19 (module docstring), and drop the thread-exit
    hooks inherited from the parent. A forked worker runs them when it ends, and Prefect registers
    one per background service (its log and event queues) that fails in a process without the
    service's thread: once a flow had run in the process, every worker exited with code 1 and the
    DataLoader raised."""
    os.nice(19)
    threading._threading_atexits.clear()  # type: ignore[attr-defined]


def _loader(dataset: Dataset, run: Runtime, **kwargs: object) -> DataLoader:
    # A daemonic process (a Dask worker, a multiprocessing pool's worker) may not start children, and
    # forking from one of several threads (the Prefect flow runs grid points in a thread pool) can
    # leave a child holding another thread's lock: there the faces are decoded in-process.
    in_process = (
        multiprocessing.current_process().daemon or threading.current_thread() is not threading.main_thread()
    )
    workers = 0 if in_process else run.num_workers
    return DataLoader(
        dataset,
        num_workers=workers,
        pin_memory=run.device.type == "cuda",
        prefetch_factor=2 if workers else None,
        worker_init_fn=_worker_start if workers else None,
        **kwargs,  # type: ignore[arg-type]
    )


def train_batches(
    images: ImageSource,
    targets: Tensor,
    draws: list[Tensor],
    seed: int,
    run: Runtime,
    augment: Augmenter | None,
) -> Iterator[tuple[Tensor, Tensor]]:
    """(uint8 images, targets) of each batch of `draws`, decoded (and augmented) by the workers."""
    batches = [[(int(i), seed, step, j) for j, i in enumerate(idx)] for step, idx in enumerate(draws)]
    return iter(_loader(TrainItems(images, targets, augment), run, batch_sampler=batches))


def image_batches(images: ImageSource, batch_size: int, run: Runtime) -> Iterator[Tensor]:
    """uint8 (B, 3, S, S) batches of every image in order (features, predictions)."""
    return iter(_loader(images, run, batch_size=batch_size, shuffle=False))
