"""WebDataset tar shards written atomically, in a seeded order, byte-for-byte reproducibly.

Like img2dataset's writer, each shard is its own unit of work: it is written to a hidden temporary
name in the output folder and renamed when complete (`facerep.io.atomic_path`), so a crash, even
SIGKILL, leaves no partial `*.tar` for a reader to find; a re-run skips shards that are complete and
whose planned content is unchanged, and rewrites the rest. Tar members carry fixed metadata (mtime
0, uid/gid 0, mode 0644), so the same inputs give the same bytes and the same sha256 in
`index.json`, which keeps DVC from re-uploading unchanged shards. `tarfile` is used directly rather
than `webdataset.TarWriter` for that reason: the latter stamps the current time on every member.

Memory does not grow with the number of samples: the samples are spooled to a Parquet table sorted
by key (`spool`), the plan keeps two int32 per sample (shard, slot), and the shards are filled in
passes over the spool that each hold at most GROUP_ROWS samples.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import tarfile
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from facerep.io import (
    TableWriter,
    atomic_path,
    external_sort,
    iter_table,
    row_tables,
    sha256_file,
    write_json,
)

STATE_DIR = ".done"
GROUP_ROWS = 16384  # samples held at once while filling shards
SPOOL_SCHEMA = pa.schema(
    [("key", pa.string()), ("jpg", pa.string()), ("size", pa.int64()), ("meta", pa.binary())]
)


@dataclass(frozen=True)
class Sample:
    """One face: its key (face_id), the crop file, the size of the crop and its json metadata."""

    key: str
    jpg: Path
    size: int
    meta: dict


def shard_name(index: int) -> str:
    return f"shard-{index:06d}.tar"


@dataclass(frozen=True)
class Spooled:
    """A sample as the spool holds it: its json member already encoded (`meta_bytes`)."""

    key: str
    jpg: Path
    size: int
    meta: bytes


@dataclass(frozen=True)
class Spool:
    """The samples to shard, sorted by key, in a Parquet file of SPOOL_SCHEMA."""

    path: Path
    count: int


def plan_shards(sizes: np.ndarray, max_count: int, max_bytes: int) -> list[int]:
    """Cut samples of `sizes` (in shard order) into consecutive shards of at most `max_count`
    samples and `max_bytes` bytes; return each shard's end position.

    A single sample larger than `max_bytes` gets a shard of its own rather than being dropped.
    """
    ends: list[int] = []
    count = held = 0
    for i, size in enumerate(sizes.tolist()):
        if count and (count >= max_count or held + size > max_bytes):
            ends.append(i)
            count = held = 0
        count += 1
        held += size
    if count:
        ends.append(len(sizes))
    return ends


def meta_bytes(meta: dict) -> bytes:
    """The json member: compact, key-sorted, so equal metadata gives equal bytes."""
    return json.dumps(meta, sort_keys=True, separators=(",", ":")).encode("utf-8")


def plan_digest(samples: Sequence[Spooled]) -> str:
    """What a shard should contain: keys, metadata and crop sizes (checked before skipping it)."""
    h = hashlib.sha256()
    for s in samples:
        h.update(s.key.encode() + b"\0" + s.meta + b"\0" + str(s.size).encode() + b"\n")
    return h.hexdigest()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def write_tar(path: Path, samples: Sequence[Spooled]) -> None:
    """Write one shard atomically: `<key>.jpg` (the crop's bytes, unchanged) and `<key>.json`."""
    with atomic_path(path, durable=True) as tmp, tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
        for s in samples:
            _add(tar, f"{s.key}.jpg", s.jpg.read_bytes())
            _add(tar, f"{s.key}.json", s.meta)


def remove_partials(out_dir: Path) -> list[Path]:
    """Delete temporary files a killed writer left behind (hidden `.shard-*.tmp`)."""
    stale = sorted(out_dir.glob(".shard-*.tmp"))
    for p in stale:
        p.unlink()
    return stale


@contextlib.contextmanager
def spool(samples: Iterable[Sample], out_dir: Path) -> Iterator[Spool]:
    """The samples written to a scratch table under `out_dir`, sorted by key, for the block's
    duration; a spool a killed run left behind is removed first."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob(".samples-*.tmp"):
        shutil.rmtree(stale)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".samples-", suffix=".tmp") as tmp:
        rows = (
            {"key": s.key, "jpg": str(s.jpg), "size": s.size, "meta": meta_bytes(s.meta)} for s in samples
        )
        path = Path(tmp) / "samples.parquet"
        with TableWriter(path, SPOOL_SCHEMA) as out:
            for table in external_sort(row_tables(rows, SPOOL_SCHEMA), ["key"], SPOOL_SCHEMA, tmp):
                out.write(table)
        yield Spool(path, out.rows)


def _fill(
    spooled: Spool, shard_of: np.ndarray, slot: np.ndarray, first: int, last: int
) -> dict[int, list[Spooled]]:
    """The members of shards `first`..`last - 1`, in shard order, from one pass over the spool."""
    groups: dict[int, list[tuple[int, Spooled]]] = {}  # shard -> (slot, sample)
    start = 0
    for batch in iter_table(spooled.path, SPOOL_SCHEMA.names):
        end = start + batch.num_rows
        shard = shard_of[start:end]
        hit = np.flatnonzero((shard >= first) & (shard < last))
        if hit.size:
            table = batch.take(pa.array(hit))
            for k, row in zip(hit.tolist(), table.to_pylist(), strict=True):
                members = groups.setdefault(int(shard[k]), [])
                members.append(
                    (int(slot[start + k]), Spooled(row["key"], Path(row["jpg"]), row["size"], row["meta"]))
                )
        start = end
    return {k: [s for _, s in sorted(members, key=lambda m: m[0])] for k, members in groups.items()}


def write_shards(
    samples: Iterable[Sample], out_dir: Path, seed: int, max_count: int, max_bytes: int
) -> tuple[list[dict], int]:
    """Write every sample exactly once; return the index entries and how many shards were skipped."""
    with spool(samples, out_dir) as spooled:
        return write_spooled(spooled, out_dir, seed, max_count, max_bytes)


def write_spooled(
    spooled: Spool, out_dir: Path, seed: int, max_count: int, max_bytes: int
) -> tuple[list[dict], int]:
    """Write the spooled samples in a seeded order that depends only on their keys and the seed
    (the spool is sorted by key, so a permutation of its positions is one); return the index
    entries and how many shards were complete already and skipped."""
    out_dir.mkdir(parents=True, exist_ok=True)
    state = out_dir / STATE_DIR
    remove_partials(out_dir)
    sizes = [b.column("size").to_numpy() for b in iter_table(spooled.path, ["size"])]
    order = np.random.default_rng(seed).permutation(spooled.count)
    ends = plan_shards(np.concatenate(sizes)[order] if sizes else np.zeros(0, np.int64), max_count, max_bytes)
    shard_of, slot = np.empty(spooled.count, np.int32), np.empty(spooled.count, np.int32)
    for k, (lo, hi) in enumerate(zip([0, *ends[:-1]], ends, strict=True)):
        shard_of[order[lo:hi]] = k
        slot[order[lo:hi]] = np.arange(hi - lo)
    entries, skipped = [], 0
    first = 0
    while first < len(ends):
        last = first + 1  # a pass holds whole shards, at least one, at most GROUP_ROWS samples if more
        while last < len(ends) and ends[last] - (ends[first - 1] if first else 0) <= GROUP_ROWS:
            last += 1
        groups = _fill(spooled, shard_of, slot, first, last)
        for k in range(first, last):
            group = groups[k]
            name, digest = shard_name(k), plan_digest(group)
            path, done = out_dir / name, state / f"{shard_name(k)}.json"
            record = _complete(path, done, digest)
            if record is None:
                write_tar(path, group)
                record = {
                    "name": name,
                    "count": len(group),
                    "sha256": sha256_file(path),
                    "bytes": path.stat().st_size,
                    "plan": digest,
                }
                write_json(done, record)
            else:
                skipped += 1
            entries.append({k2: record[k2] for k2 in ("name", "count", "sha256", "bytes")})
        first = last
    names = {e["name"] for e in entries}
    for extra in sorted(out_dir.glob("shard-*.tar")):
        if extra.name not in names:
            extra.unlink()
            (state / f"{extra.name}.json").unlink(missing_ok=True)
    return entries, skipped


def _complete(path: Path, done: Path, digest: str) -> dict | None:
    """The recorded entry of a finished shard with this plan, or None when it must be (re)written."""
    if not (path.is_file() and done.is_file()):
        return None
    record = json.loads(done.read_text())
    if record.get("plan") != digest or record.get("bytes") != path.stat().st_size:
        return None
    return record
