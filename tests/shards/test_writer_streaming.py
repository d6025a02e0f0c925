"""Shards filled in several passes over the spool equal shards filled in one."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from facerep import io
from facerep.shards import writer
from facerep.shards.writer import Sample, write_shards


def samples(root: Path, n: int) -> list[Sample]:
    out = []
    for i in range(n):
        jpg = root / f"crop{i:03d}.jpg"
        jpg.write_bytes(b"\xff\xd8" + bytes([i]) * (10 + i) + b"\xff\xd9")
        out.append(Sample(f"face{i:03d}", jpg, jpg.stat().st_size, {"face_id": f"face{i:03d}", "n": i}))
    return out


def test_passes_over_the_spool_give_the_same_shards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "crops"
    data.mkdir()
    items = samples(data, 23)
    one, _ = write_shards(reversed(items), tmp_path / "one", 7, 4, 1 << 30)  # input order does not matter
    monkeypatch.setattr(writer, "GROUP_ROWS", 5)  # passes of one shard (4 samples) each
    monkeypatch.setattr(io, "BATCH_ROWS", 3)  # spool batches and row groups cut across shards
    many, skipped = write_shards(items, tmp_path / "many", 7, 4, 1 << 30)
    assert many == one and skipped == 0 and len(many) == 6
    with tarfile.open(tmp_path / "many" / many[0]["name"]) as tar:
        names = tar.getnames()
        meta = json.loads(tar.extractfile(names[1]).read())  # type: ignore[union-attr]
    assert len(names) == 8 and meta["face_id"] == names[0].removesuffix(".jpg")
    assert not list((tmp_path / "many").glob(".*.tmp"))
