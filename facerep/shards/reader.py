"""Reading the shard stage's WebDataset tars (or an image folder) as containers of raw items.

A catalog is a list of containers with known item counts, each read front to back: the shards listed
in `index.json` (opened with fsspec, so a local folder and any fsspec URL such as `s3://`, `gs://` or
`http://` read alike, and split into samples by webdataset's own tar expander and key grouping), or
the files of a folder in fixed chunks. `facerep.ssl.epochs` decides which items a process reads;
this module only reads them. Images stay encoded here: decoding happens in the data-loader worker
that augments them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import fsspec
from webdataset.tariterators import group_by_keys, tar_file_expander

from facerep.errors import InputError
from facerep.io import fingerprint

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class RawItem:
    """One image as stored: its key, its encoded bytes and its curated local boxes (None: none kept)."""

    key: str
    image: bytes
    local_boxes: list[Box] | None


class Catalog(Protocol):
    """Containers of items, read sequentially."""

    counts: tuple[int, ...]
    fingerprint: str  # changes whenever the items change (resuming across it would mix data)
    where: str  # for messages

    def read(self, container: int, start: int, stop: int) -> Iterator[RawItem]: ...


def local_boxes(meta: dict[str, Any]) -> list[Box] | None:
    """Curated `local_boxes` ([x1, y1, x2, y2, similarity] in crop pixels) as 4-float boxes; None if none."""
    raw = meta.get("local_boxes") or []
    boxes = [(float(b[0]), float(b[1]), float(b[2]), float(b[3])) for b in raw]
    return boxes or None


def read_index(root: str) -> dict[str, Any]:
    """`index.json` of a shard folder or URL prefix, with the fields the reader needs checked."""
    url = root.rstrip("/") + "/index.json"
    try:
        with fsspec.open(url, "r") as f:
            index = json.load(f)
    except FileNotFoundError as exc:
        raise InputError(f"{url}: not found; run `facerep shard` first") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{url}: not valid JSON ({exc}); re-run `facerep shard`") from exc
    shards = index.get("shards") if isinstance(index, dict) else None
    if not shards or any(not isinstance(e, dict) or "name" not in e or "count" not in e for e in shards):
        raise InputError(f"{url}: no shard entries with `name` and `count`; re-run `facerep shard`")
    return index


class ShardCatalog:
    """The tar shards listed in `<root>/index.json`; one container per shard."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")
        self.where = self.root
        index = read_index(self.root)
        self.entries: list[dict[str, Any]] = index["shards"]
        self.counts = tuple(int(e["count"]) for e in self.entries)
        identity = [(e["name"], e["count"], e.get("sha256")) for e in self.entries]
        self.fingerprint = fingerprint(identity, 16)

    def url(self, container: int) -> str:
        return f"{self.root}/{self.entries[container]['name']}"

    def read(self, container: int, start: int, stop: int) -> Iterator[RawItem]:
        url = self.url(container)
        seen = 0
        with fsspec.open(url, "rb") as stream:
            for sample in group_by_keys(tar_file_expander([{"url": url, "stream": stream}])):
                if seen >= stop:
                    return
                if seen >= start:
                    yield self._item(url, sample)
                seen += 1
        if seen < stop:
            raise InputError(
                f"{url}: holds {seen} samples, index.json says {self.counts[container]}; "
                "re-run `facerep shard`"
            )

    @staticmethod
    def _item(url: str, sample: dict[str, Any]) -> RawItem:
        key = sample["__key__"]
        image = sample.get("jpg")
        if image is None:
            raise InputError(f"{url}: sample {key} has no .jpg member")
        meta = json.loads(sample["json"]) if "json" in sample else {}
        return RawItem(key, image, local_boxes(meta))


class FileCatalog:
    """Image files (SynthFaces faces or a folder), in chunks of `chunk` files; no curated boxes."""

    def __init__(self, files: Sequence[Path], where: str, chunk: int = 256) -> None:
        self.files = list(files)
        self.where = where
        self.chunk = chunk
        n = len(self.files)
        self.counts = tuple(min(chunk, n - lo) for lo in range(0, n, chunk))
        h = hashlib.sha256()
        for f in self.files:
            h.update(f"{f.name}\0{f.stat().st_size}\0".encode())
        self.fingerprint = h.hexdigest()[:16]

    def read(self, container: int, start: int, stop: int) -> Iterator[RawItem]:
        lo = container * self.chunk
        for path in self.files[lo + start : lo + stop]:
            yield RawItem(path.stem, path.read_bytes(), None)
