"""Where pre-training images come from, and the resumable order in which they are read.

A *source* is an indexable collection of `(PIL image, local_boxes or None)`:
- `synth_faces`: SynthFaces face images `<paths.synth>/faces/<size>/*.png` (the train split when
  `faces/labels.parquet` says so), until the shard stage feeds pre-training;
- `folder`: every JPEG/PNG under `pretrain.data.path`;
- `shards`: the shard stage's WebDataset tars (`<paths.shards>/*.tar`, samples keyed by face_id with
  `jpg` and `json` holding `local_boxes`), read by member offset so any sample is addressable.

Order and augmentation are functions of (seed, position) only: epoch e visits a permutation seeded by
(seed, e), the global micro-batch j takes positions [j*G, (j+1)*G) of it and process r its slice of B
rows, and each sample's augmentation RNG is seeded by (seed, e, position). So a resumed run, a run with
another number of data workers, and a 2-process run with the same global batch all see the same views.
"""

from __future__ import annotations

import io
import json
import random
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from facerep.errors import InputError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
Box = tuple[float, float, float, float]


class FileSource:
    """Images from a list of files; no curated local boxes."""

    def __init__(self, files: list[Path]) -> None:
        self.files = files

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[Image.Image, list[Box] | None]:
        with Image.open(self.files[i]) as img:
            return img.convert("RGB"), None


class TarShardSource:
    """WebDataset tar shards read by member offset (random access without unpacking)."""

    def __init__(self, root: Path) -> None:
        self.shards = sorted(root.glob("*.tar"))
        if not self.shards:
            raise InputError(f"{root}: no *.tar shards (run `facerep shard` first)")
        self.items: list[tuple[int, tarfile.TarInfo, tarfile.TarInfo | None]] = []
        for s, path in enumerate(self.shards):
            with tarfile.open(path) as tar:
                members: dict[str, dict[str, tarfile.TarInfo]] = {}
                for m in tar.getmembers():
                    key, _, ext = m.name.partition(".")
                    members.setdefault(key, {})[ext] = m
            for parts in members.values():
                if "jpg" in parts:
                    self.items.append((s, parts["jpg"], parts.get("json")))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[Image.Image, list[Box] | None]:
        s, jpg, meta = self.items[i]
        with open(self.shards[s], "rb") as f:
            f.seek(jpg.offset_data)
            img = Image.open(io.BytesIO(f.read(jpg.size))).convert("RGB")
            boxes = None
            if meta is not None:
                f.seek(meta.offset_data)
                doc: dict[str, Any] = json.loads(f.read(meta.size))
                raw = doc.get("local_boxes") or []
                boxes = [tuple(float(v) for v in b[:4]) for b in raw] or None
        return img, boxes  # type: ignore[return-value]


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


def build_source(source: str, path: Path, size: int, split: str) -> FileSource | TarShardSource:
    """The image source named by `pretrain.data.source` rooted at `path`."""
    if source == "synth_faces":
        return FileSource(synth_face_files(path, size, split))
    if source == "folder":
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise InputError(f"pretrain.data.path: no JPEG/PNG images under {path}")
        return FileSource(files)
    return TarShardSource(path)


def sample_seed(seed: int, epoch: int, position: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, position]).generate_state(1)[0])


class ViewsDataset(Dataset[list[Tensor]]):
    """Applies the multi-crop transform to source item `index` under the RNG seed that comes with it."""

    def __init__(self, source: FileSource | TarShardSource, transform: Any) -> None:
        self.source = source
        self.transform = transform

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, item: tuple[int, int]) -> list[Tensor]:
        index, seed = item
        img, boxes = self.source[index]
        py_state, np_state = random.getstate(), np.random.get_state()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            random.seed(seed)
            np.random.seed(seed % 2**32)
            try:
                return self.transform(img, boxes)
            finally:
                random.setstate(py_state)
                np.random.set_state(np_state)


class ResumableBatchSampler(Sampler[list[tuple[int, int]]]):
    """An endless stream of this process's micro-batches, starting at global micro-batch `start`."""

    def __init__(self, n: int, batch: int, world: int, rank: int, seed: int, start: int = 0) -> None:
        self.n, self.batch, self.world, self.rank, self.seed, self.start = n, batch, world, rank, seed, start
        self.per_epoch = n // (batch * world)
        if self.per_epoch == 0:
            raise InputError(
                f"pretrain.batch_size: {batch} x {world} processes exceeds the {n} images available"
            )

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        j = self.start
        perm: list[int] = []
        epoch = -1
        g = self.batch * self.world
        while True:
            e, k = divmod(j, self.per_epoch)
            if e != epoch:
                epoch = e
                gen = torch.Generator().manual_seed(self.seed * 1_000_003 + e)
                perm = torch.randperm(self.n, generator=gen).tolist()
            lo = k * g + self.rank * self.batch
            yield [(perm[p], sample_seed(self.seed, e, p)) for p in range(lo, lo + self.batch)]
            j += 1


def collate_views(samples: list[list[Tensor]]) -> list[Tensor]:
    """Per view, stack the batch: a list of (B, 3, H, W) tensors, global views first."""
    return [torch.stack(v) for v in zip(*samples, strict=True)]
