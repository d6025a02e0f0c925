"""The pre-training data path: a catalog of images, the epoch plan, the multi-crop views, batches.

`pretrain.data.source` names the catalog (`facerep.shards.reader`):
- `shards` (default): the shard stage's WebDataset tars under `paths.shards` or any fsspec URL, with
  the curated `local_boxes` of each face;
- `synth_faces`: SynthFaces face images `<paths.synth>/faces/<size>/*.png` (the train split when
  `faces/labels.parquet` says so);
- `folder`: every JPEG/PNG under `pretrain.data.path`.

Every source goes through the same `ViewStream`: which items a process reads and in which order is
`facerep.ssl.epochs` (every item at most once per epoch over all ranks and workers, equal batches on
every rank, a new order each epoch, exact resume), and each item's augmentation RNG is seeded by
(seed, epoch, item), so its views do not depend on which worker made them.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from facerep.errors import InputError
from facerep.shards.reader import Box, Catalog, FileCatalog, RawItem, ShardCatalog
from facerep.ssl.epochs import Layout, block_order, sample_seed, worker_epochs

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
Transform = Callable[[Image.Image, list[Box] | None], list[Tensor]]
Batch = dict[str, Any]  # {"keys": list[str], "views": list[Tensor (B, 3, H, W)], "epoch": int}


def synth_face_files(root: Path, size: int, split: str) -> list[Path]:
    """SynthFaces faces of `size` px; with a labels table, only the chosen split (DESIGN synth layout)."""
    folder = root / "faces" / str(size)
    labels = root / "faces" / "labels.parquet"
    if labels.is_file() and split != "all":
        table = pd.read_parquet(labels, columns=["file", "split"])
        files = [folder / f for f in table.loc[table["split"] == split, "file"]]
    else:
        files = sorted(folder.glob("*.png"))
    if not files or not files[0].is_file():
        raise InputError(f"{folder}: no SynthFaces images of size {size} (run `facerep synth` first)")
    return files


def build_catalog(source: str, path: str, size: int, split: str) -> Catalog:
    """The catalog named by `pretrain.data.source`, rooted at `path` (a folder, or a URL for shards)."""
    if source == "shards":
        return ShardCatalog(path)
    root = Path(path)
    if source == "synth_faces":
        return FileCatalog(synth_face_files(root, size, split), str(root))
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"pretrain.data.path: no JPEG/PNG images under {root}")
    return FileCatalog(files, str(root))


def views_of(item: RawItem, transform: Transform, seed: int) -> list[Tensor]:
    """Decode one item and cut its views under its own RNG seed (the caller's RNG states are kept)."""
    try:
        with Image.open(io.BytesIO(item.image)) as img:
            rgb = img.convert("RGB")
    except OSError as exc:
        raise InputError(f"pre-training image {item.key}: cannot decode ({exc})") from exc
    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed % 2**32)
        try:
            return transform(rgb, item.local_boxes)
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


class ViewStream(IterableDataset[Batch]):
    """This process's batches of multi-crop views from batch position `start` on, without end.

    Under a DataLoader with W workers, loader worker i plays plan worker (i + start) mod W, so the
    DataLoader's round-robin over its workers yields batch positions start, start + 1, ... in order.
    """

    def __init__(self, catalog: Catalog, transform: Transform, layout: Layout, start: int = 0) -> None:
        self.catalog, self.transform, self.layout, self.start = catalog, transform, layout, start
        self.offsets = layout.item_offsets()

    def __iter__(self) -> Iterator[Batch]:
        info = get_worker_info()
        if (1 if info is None else info.num_workers) != self.layout.workers:
            raise RuntimeError(
                f"ViewStream planned for {self.layout.workers} worker(s), run by another count"
            )
        worker = ((0 if info is None else info.id) + self.start) % self.layout.workers
        b = self.layout.batch
        for part in worker_epochs(self.layout, worker, self.start):
            items = self._items(part.segments, part.epoch, worker, part.skip * b)
            for _ in range(len(part.positions) - part.skip):
                chunk = [next(items) for _ in range(b)]
                yield self._batch(chunk, part.epoch)

    def _items(
        self, segments: list[tuple[int, int, int]], epoch: int, worker: int, skip: int
    ) -> Iterator[tuple[int, RawItem]]:
        """(global item id, raw item) in the worker's shuffled order, from shuffled position `skip` on."""
        n = sum(stop - start for _, start, stop in segments)
        block = self.layout.block
        order = block_order(n, block, (self.layout.seed, epoch, self.layout.rank, worker))
        stream = (
            (self.offsets[c] + i, item)
            for c, start, stop in segments
            for i, item in zip(range(start, stop), self.catalog.read(c, start, stop), strict=True)
        )
        for lo in range(0, n, block):
            hi = min(lo + block, n)
            if hi <= skip:  # a block wholly before the resume point: pass over it without keeping it
                for _ in range(hi - lo):
                    next(stream)
                continue
            buffer = [next(stream) for _ in range(hi - lo)]
            for pos in range(max(lo, skip), hi):
                yield buffer[order[pos] - lo]

    def _batch(self, chunk: list[tuple[int, RawItem]], epoch: int) -> Batch:
        seed = self.layout.seed
        views = [views_of(item, self.transform, sample_seed(seed, epoch, gid)) for gid, item in chunk]
        return {
            "keys": [item.key for _, item in chunk],
            "views": [torch.stack(v) for v in zip(*views, strict=True)],
            "epoch": epoch,
        }


def view_loader(
    catalog: Catalog,
    transform: Transform,
    layout: Layout,
    num_workers: int,
    start: int = 0,
    pin_memory: bool = False,
) -> DataLoader[Batch]:
    """A DataLoader over `ViewStream` with `num_workers` worker processes (0: in this process)."""
    if layout.workers != max(1, num_workers):
        raise ValueError(f"layout planned for {layout.workers} worker(s), loader given {num_workers}")
    return DataLoader(
        ViewStream(catalog, transform, layout, start),
        batch_size=None,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=False,
        prefetch_factor=2 if num_workers else None,
    )
