"""Atomic writes leave either the old file or the new one, never a partial file."""

import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from facerep import io


def test_atomic_path_keeps_old_content_when_the_writer_fails(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    io.write_text(target, "old")
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_parquet_and_json_round_trip(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    io.write_parquet(tmp_path / "sub" / "t.parquet", df)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "sub" / "t.parquet"), df)
    io.write_json(tmp_path / "m.json", {"b": 1, "a": [1, 2]})
    assert (tmp_path / "m.json").read_text().startswith('{\n  "a"')


def test_sha256_file(tmp_path: Path) -> None:
    f = tmp_path / "x.bin"
    f.write_bytes(b"abc")
    assert io.sha256_file(f) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_fingerprint_ignores_key_order_and_sees_array_content() -> None:
    doc = {"b": [1, 2], "a": {"y": 1.5, "x": "s"}}
    assert io.fingerprint(doc) == io.fingerprint({"a": {"x": "s", "y": 1.5}, "b": [1, 2]})
    assert len(io.fingerprint(doc)) == 12 and len(io.fingerprint(doc, 64)) == 64
    assert io.fingerprint(doc) != io.fingerprint({**doc, "b": [2, 1]})
    labels = np.arange(6, dtype=np.int64)
    same = io.fingerprint({"labels": labels.copy()})
    assert io.fingerprint({"labels": labels}) == same
    assert io.fingerprint({"labels": labels.reshape(2, 3)}) != same  # shape counts
    assert io.fingerprint({"labels": labels.astype(np.int32)}) != same  # dtype counts
    changed = labels.copy()
    changed[3] = 7
    assert io.fingerprint({"labels": changed}) != same
    assert io.fingerprint({"n": np.int64(3), "p": Path("a/b")}) == io.fingerprint({"n": 3, "p": "a/b"})
    assert io.fingerprint(np.array(["a", None], dtype=object)) == io.fingerprint(["a", None])
    with pytest.raises(TypeError, match="set"):
        io.fingerprint({"s": {1, 2}})


def test_read_table_names_the_file_and_what_is_wrong(tmp_path: Path) -> None:
    from facerep.errors import InputError
    from facerep.io import read_table

    path = tmp_path / "faces.parquet"
    with pytest.raises(InputError, match=r"faces\.parquet: not found; run `facerep detect` first"):
        read_table(path, ["face_id"], missing_hint="run `facerep detect` first")
    path.write_bytes(b"not parquet")
    with pytest.raises(InputError, match="not a readable Parquet file"):
        read_table(path, ["face_id"])
    io.write_parquet(path, pd.DataFrame({"face_id": ["a"], "score": [0.9]}))
    with pytest.raises(InputError, match=r"faces\.parquet: missing column\(s\) bbox, crop_path"):
        read_table(path, ["face_id", "bbox", "crop_path"])
    assert read_table(path, ["face_id"])["face_id"].tolist() == ["a"]


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_atomic_writes_respect_the_umask(tmp_path: Path, umask: int) -> None:
    """mkstemp makes 0600 files; a stage's outputs get what `open` would give (0666 less the umask),
    so shards on a shared disk are readable by whom the user's umask allows."""
    old = os.umask(umask)
    try:
        io.write_text(tmp_path / "a.json", "{}")
        io.write_parquet(tmp_path / "b.parquet", pd.DataFrame({"x": [1]}), durable=True)
        assert io.current_umask() == umask
    finally:
        os.umask(old)
    for name in ("a.json", "b.parquet"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask, name


def test_durable_writes_fsync_the_file_before_the_rename_and_the_directory_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync-dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync-file")
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    io.write_bytes(tmp_path / "shard.tar", b"x", durable=True)
    assert events == ["fsync-file", "rename", "fsync-dir"]
    events.clear()
    io.write_bytes(tmp_path / "crop.jpg", b"x")
    assert events == ["rename"]
