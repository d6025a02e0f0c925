"""WebDataset tar shards written atomically, in a seeded order, byte-for-byte reproducibly.

Like img2dataset's writer, each shard is its own unit of work: it is written to a hidden temporary
name in the output folder and renamed when complete (`facerep.io.atomic_path`), so a crash, even
SIGKILL, leaves no partial `*.tar` for a reader to find; a re-run skips shards that are complete and
whose planned content is unchanged, and rewrites the rest. Tar members carry fixed metadata (mtime
0, uid/gid 0, mode 0644), so the same inputs give the same bytes and the same sha256 in
`index.json`, which keeps DVC from re-uploading unchanged shards. `tarfile` is used directly rather
than `webdataset.TarWriter` for that reason: the latter stamps the current time on every member.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facerep.io import atomic_path, sha256_file, write_json

STATE_DIR = ".done"


@dataclass(frozen=True)
class Sample:
    """One face: its key (face_id), the crop file, the size of the crop and its json metadata."""

    key: str
    jpg: Path
    size: int
    meta: dict


def shard_name(index: int) -> str:
    return f"shard-{index:06d}.tar"


def shuffled(keys: Sequence[str], seed: int) -> list[int]:
    """A permutation of positions that depends only on the set of keys and the seed (not input order)."""
    order = sorted(range(len(keys)), key=lambda i: keys[i])
    perm = np.random.default_rng(seed).permutation(len(order))
    return [order[i] for i in perm]


def plan_shards(
    sizes: Sequence[int], order: Sequence[int], max_count: int, max_bytes: int
) -> list[list[int]]:
    """Cut `order` into consecutive shards of at most `max_count` samples and `max_bytes` bytes.

    A single sample larger than `max_bytes` gets a shard of its own rather than being dropped.
    """
    shards: list[list[int]] = []
    cur: list[int] = []
    cur_bytes = 0
    for i in order:
        if cur and (len(cur) >= max_count or cur_bytes + sizes[i] > max_bytes):
            shards.append(cur)
            cur, cur_bytes = [], 0
        cur.append(i)
        cur_bytes += sizes[i]
    if cur:
        shards.append(cur)
    return shards


def meta_bytes(meta: dict) -> bytes:
    """The json member: compact, key-sorted, so equal metadata gives equal bytes."""
    return json.dumps(meta, sort_keys=True, separators=(",", ":")).encode("utf-8")


def plan_digest(samples: Sequence[Sample]) -> str:
    """What a shard should contain: keys, metadata and crop sizes (checked before skipping it)."""
    h = hashlib.sha256()
    for s in samples:
        h.update(s.key.encode() + b"\0" + meta_bytes(s.meta) + b"\0" + str(s.size).encode() + b"\n")
    return h.hexdigest()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def write_tar(path: Path, samples: Sequence[Sample]) -> None:
    """Write one shard atomically: `<key>.jpg` (the crop's bytes, unchanged) and `<key>.json`."""
    with atomic_path(path, durable=True) as tmp, tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
        for s in samples:
            _add(tar, f"{s.key}.jpg", s.jpg.read_bytes())
            _add(tar, f"{s.key}.json", meta_bytes(s.meta))


def remove_partials(out_dir: Path) -> list[Path]:
    """Delete temporary files a killed writer left behind (hidden `.shard-*.tmp`)."""
    stale = sorted(out_dir.glob(".shard-*.tmp"))
    for p in stale:
        p.unlink()
    return stale


def write_shards(
    samples: Sequence[Sample], out_dir: Path, seed: int, max_count: int, max_bytes: int
) -> tuple[list[dict], int]:
    """Write every sample exactly once; return the index entries and how many shards were skipped."""
    out_dir.mkdir(parents=True, exist_ok=True)
    state = out_dir / STATE_DIR
    remove_partials(out_dir)
    order = shuffled([s.key for s in samples], seed)
    plan = plan_shards([s.size for s in samples], order, max_count, max_bytes)
    entries, skipped = [], 0
    for k, members in enumerate(plan):
        group = [samples[i] for i in members]
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
    for extra in sorted(out_dir.glob("shard-*.tar")):
        if extra.name not in {e["name"] for e in entries}:
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
