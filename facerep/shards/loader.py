"""The pre-training loader: WebDataset shards (or a plain image folder) to batches of multi-crop views.

Pipeline (webdataset's stages, own shard source): shard URLs -> this rank's and this worker's share
-> open with fsspec (local paths, file://, s3://, gs://, http://) -> tar members grouped by key ->
shuffle buffer -> decode JPEG + json -> multi-crop transform -> batches.

Every rank yields the same number of batches, `samples // (world_size * batch_size)` per epoch.
This is the known webdataset pitfall with DDP: split_by_node over an uneven shard count gives ranks
different sample counts, and the rank that runs out first leaves the others waiting in an
all-reduce forever. Here each worker cycles over its share of shards without end and the loader
stops every rank at the same batch count (`WebLoader.with_epoch`). With `resampled=True` each worker
instead draws shards with replacement (webdataset's ResampledShards idea), for sets too large for
whole epochs or with fewer shards than workers.

The transform is any callable `transform(img: PIL.Image, local_boxes: list[box] | None) -> list[Tensor]`
(e.g. `facerep.ssl.augment.MultiCropTransform`); faces for which curate accepted too few local crops
carry `local_boxes` None, and the transform then draws random local crops (ProS section 3).
"""

from __future__ import annotations

import io
import json
import os
import random
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import fsspec
import torch
import webdataset as wds
from PIL import Image
from torch.utils.data import IterableDataset, get_worker_info
from webdataset.tariterators import group_by_keys, tar_file_expander

from facerep.errors import InputError

Transform = Callable[[Image.Image, list[tuple[float, ...]] | None], list[torch.Tensor]]


def dist_rank_world() -> tuple[int, int]:
    """(rank, world size) from torch.distributed when initialised, else RANK / WORLD_SIZE, else (0, 1)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def share(items: Sequence[Any], rank: int, world: int, worker: int, workers: int) -> list[Any]:
    """The items of one worker of one rank: rank-strided, then worker-strided (disjoint, covering)."""
    return list(items[rank::world][worker::workers])


def _worker() -> tuple[int, int]:
    info = get_worker_info()
    return (0, 1) if info is None else (info.id, info.num_workers)


class CyclingShards(IterableDataset):
    """This rank's and worker's shard URLs, reshuffled every pass, without end (or resampled)."""

    def __init__(self, urls: Sequence[str], rank: int, world: int, seed: int, resampled: bool) -> None:
        self.urls, self.rank, self.world, self.seed, self.resampled = list(urls), rank, world, seed, resampled

    def __iter__(self) -> Iterator[dict[str, str]]:
        worker, workers = _worker()
        rng = random.Random(f"{self.seed}/{self.rank}/{worker}")
        if self.resampled:
            while True:
                yield {"url": rng.choice(self.urls)}
        mine = share(self.urls, self.rank, self.world, worker, workers)
        if not mine:
            raise InputError(
                f"rank {self.rank} worker {worker} has no shard; use resampled mode or fewer workers"
            )
        while True:
            rng.shuffle(mine)
            for url in mine:
                yield {"url": url}


class CyclingFolder(IterableDataset):
    """The image-folder counterpart: this rank's and worker's files as pseudo-samples, without end."""

    def __init__(self, files: Sequence[Path], rank: int, world: int, seed: int) -> None:
        self.files, self.rank, self.world, self.seed = list(files), rank, world, seed

    def __iter__(self) -> Iterator[dict[str, Any]]:
        worker, workers = _worker()
        rng = random.Random(f"{self.seed}/{self.rank}/{worker}")
        mine = share(self.files, self.rank, self.world, worker, workers)
        if not mine:
            raise InputError(f"rank {self.rank} worker {worker} has no image; use fewer workers")
        while True:
            rng.shuffle(mine)
            for path in mine:
                sample = {"__key__": path.stem, "jpg": path.read_bytes()}
                meta = path.with_suffix(".json")
                if meta.is_file():
                    sample["json"] = meta.read_bytes()
                yield sample


def fsspec_open(src: Iterator[dict[str, str]]) -> Iterator[dict[str, Any]]:
    """Open each shard URL with fsspec (any protocol it knows), streaming."""
    for sample in src:
        with fsspec.open(sample["url"], "rb") as stream:
            yield {**sample, "stream": stream}


def tar_samples(src: Iterator[dict[str, str]]) -> Iterator[dict[str, Any]]:
    """Shard URLs to samples `{"__key__", "jpg", "json"}` (members grouped by key)."""
    return group_by_keys(tar_file_expander(fsspec_open(src)))


def decode(sample: dict[str, Any]) -> tuple[str, Image.Image, list[tuple[float, ...]] | None, dict]:
    """JPEG to RGB PIL image; json to metadata; `local_boxes` to 4-float boxes (None: fall back)."""
    img = Image.open(io.BytesIO(sample["jpg"])).convert("RGB")
    meta = json.loads(sample["json"]) if "json" in sample else {}
    boxes = meta.get("local_boxes")
    local = [tuple(float(v) for v in b[:4]) for b in boxes] if boxes else None
    return sample["__key__"], img, local, meta


def to_views(sample: dict[str, Any], transform: Transform) -> tuple[str, list[torch.Tensor], dict]:
    """Decode one sample and apply the multi-crop transform (module level: picklable for workers)."""
    key, img, local, meta = decode(sample)
    return key, transform(img, local), meta


def collate(items: list[tuple[str, list[torch.Tensor], dict]]) -> dict[str, Any]:
    """A batch: keys, one stacked tensor per view (views may differ in size), metadata."""
    keys, views, metas = zip(*items, strict=True)
    return {
        "__key__": list(keys),
        "views": [torch.stack([v[i] for v in views]) for i in range(len(views[0]))],
        "json": list(metas),
    }


def read_index(root: str) -> dict[str, Any]:
    """index.json of a shard folder or URL prefix (written by the shard stage)."""
    url = root.rstrip("/") + "/index.json"
    try:
        with fsspec.open(url, "r") as f:
            return json.load(f)
    except FileNotFoundError as exc:
        raise InputError(f"{url}: not found; run `facerep shard` first") from exc


def shard_urls(root: str, index: dict[str, Any]) -> list[str]:
    return [root.rstrip("/") + "/" + entry["name"] for entry in index["shards"]]


def batches_per_rank(samples: int, world: int, batch_size: int) -> int:
    """The common number of batches every rank yields per epoch."""
    n = samples // (world * batch_size)
    if n == 0:
        raise InputError(
            f"{samples} samples cannot fill one batch of {batch_size} on each of {world} rank(s)"
        )
    return n


def _loader(
    source: IterableDataset,
    transform: Transform,
    batch_size: int,
    batches: int,
    num_workers: int,
    shuffle_buffer: int,
    seed: int,
    rank: int,
) -> wds.WebLoader:
    stages: list[Any] = [source]
    if isinstance(source, CyclingShards):
        stages.append(tar_samples)
    if shuffle_buffer > 1:
        stages.append(wds.shuffle(shuffle_buffer, initial=min(shuffle_buffer, 64), seed=seed + 7919 * rank))
    stages += [
        wds.map(partial(to_views, transform=transform)),
        wds.batched(batch_size, collation_fn=collate, partial=False),
    ]
    pipeline = wds.DataPipeline(*stages)
    loader = wds.WebLoader(pipeline, batch_size=None, num_workers=num_workers, persistent_workers=False)
    return loader.with_epoch(batches)


def shard_loader(
    root: str,
    transform: Transform,
    batch_size: int,
    num_workers: int = 0,
    shuffle_buffer: int = 1000,
    seed: int = 0,
    resampled: bool = False,
    rank: int | None = None,
    world_size: int | None = None,
) -> wds.WebLoader:
    """Batches of multi-crop views from the shards under `root` (a folder or an fsspec URL prefix).

    Each rank yields `batches_per_rank(index samples, world_size, batch_size)` batches per epoch.
    """
    r, w = dist_rank_world()
    rank, world = (r if rank is None else rank), (w if world_size is None else world_size)
    index = read_index(root)
    urls = shard_urls(root, index)
    if not resampled and len(urls) < world * max(1, num_workers):
        raise InputError(
            f"{root}: {len(urls)} shards for {world} rank(s) x {max(1, num_workers)} worker(s); "
            "write smaller shards (shard.max_count) or use resampled mode"
        )
    batches = batches_per_rank(int(index["samples"]), world, batch_size)
    source = CyclingShards(urls, rank, world, seed, resampled)
    return _loader(source, transform, batch_size, batches, num_workers, shuffle_buffer, seed, rank)


def folder_loader(
    root: str | Path,
    transform: Transform,
    batch_size: int,
    num_workers: int = 0,
    shuffle_buffer: int = 1000,
    seed: int = 0,
    rank: int | None = None,
    world_size: int | None = None,
) -> wds.WebLoader:
    """The same batches from a plain folder of JPEG faces (optional `<name>.json` beside each)."""
    r, w = dist_rank_world()
    rank, world = (r if rank is None else rank), (w if world_size is None else world_size)
    files = sorted(Path(root).rglob("*.jpg"))
    if len(files) < world * max(1, num_workers):
        raise InputError(f"{root}: {len(files)} images for {world} rank(s) x {max(1, num_workers)} worker(s)")
    batches = batches_per_rank(len(files), world, batch_size)
    source = CyclingFolder(files, rank, world, seed)
    return _loader(source, transform, batch_size, batches, num_workers, shuffle_buffer, seed, rank)
