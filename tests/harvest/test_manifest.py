"""The journal survives torn writes; the manifest is order-independent, de-duplicated and typed."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from facerep.harvest.manifest import SCHEMA, Journal, make_row, read_manifest, write_manifest


def rows(n: int) -> list[dict]:
    out = []
    for i in range(n):
        sha = f"{i % 7:064x}"
        out.append(
            make_row(f"folder:{i:03d}.jpg", "folder", f"file:///{i}", "ok", path=f"{i}.jpg", sha256=sha)
        )
    out.append(make_row("folder:zz.jpg", "folder", "file:///zz", "truncated"))
    return out


def test_journal_cuts_a_torn_last_line_and_keeps_appending(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as j:
        j.append("a", rows(2))
        j.append("b", rows(1))
    with open(path, "ab") as fh:
        fh.write(b'{"item": "c", "rows": [{"image_id": "fold')  # kill -9 in the middle of a write
    with Journal(path) as j:
        assert set(j.items) == {"a", "b"}
        j.append("c", rows(1))
    with Journal(path) as j:
        assert set(j.items) == {"a", "b", "c"}
        assert j.rows("a")[0]["image_id"] == "folder:000.jpg"


def test_manifest_is_independent_of_row_order_and_marks_duplicates(tmp_path: Path) -> None:
    base = rows(20)
    shuffled = base[:]
    random.Random(0).shuffle(shuffled)
    write_manifest(tmp_path / "a.parquet", base)
    write_manifest(tmp_path / "b.parquet", shuffled + base[:5])  # repeats are dropped too
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    df = read_manifest(tmp_path / "a.parquet")
    assert list(df["image_id"]) == sorted(df["image_id"])
    assert (df["status"] == "ok").sum() == 7  # 20 files with 7 distinct contents
    dup = df[df["image_id"] == "folder:007.jpg"].iloc[0]
    assert dup["status"] == "duplicate" and dup["dup_of"] == "folder:000.jpg" and pd.isna(dup["path"])


def test_written_schema_is_fixed_even_when_columns_are_all_null(tmp_path: Path) -> None:
    path = tmp_path / "m.parquet"
    write_manifest(path, rows(3))
    assert pq.read_schema(path).remove_metadata() == SCHEMA


def test_concurrent_appends_are_all_durable(tmp_path: Path) -> None:
    """Group commit: 8 threads x 50 appends, every line whole and present after re-opening."""
    path = tmp_path / "j.jsonl"
    with Journal(path) as j:

        def worker(k: int) -> None:
            for i in range(50):
                j.append(f"{k}-{i}", rows(1))

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    with Journal(path) as again:
        assert set(again.items) == {f"{k}-{i}" for k in range(8) for i in range(50)}
    assert path.read_bytes().count(b"\n") == 400


def test_manifest_streams_through_many_runs_and_row_groups(tmp_path: Path, monkeypatch) -> None:
    """Rows of 4-row batches and row groups, sorted in runs of 16: duplicates of content and repeated
    image_ids cross every boundary, and the result is the one the in-memory rule gives."""
    from facerep import io

    monkeypatch.setattr(io, "BATCH_ROWS", 4)
    base = rows(60)  # 60 files with 7 distinct contents, plus a rejected one
    shuffled = base[:]
    random.Random(1).shuffle(shuffled)
    write_manifest(tmp_path / "m.parquet", shuffled + base[10:30])
    df = read_manifest(tmp_path / "m.parquet")
    assert pq.ParquetFile(tmp_path / "m.parquet").metadata.num_row_groups == 16
    assert list(df["image_id"]) == sorted(r["image_id"] for r in base)
    owners = df[df["status"] == "ok"]
    assert list(owners["image_id"]) == [f"folder:{i:03d}.jpg" for i in range(7)]
    dups = df[df["status"] == "duplicate"]
    assert len(dups) == 53 and dups["path"].isna().all()
    assert all(
        d == f"folder:{int(i[7:10]) % 7:03d}.jpg"
        for i, d in zip(dups["image_id"], dups["dup_of"], strict=True)
    )
    assert not list(tmp_path.glob(".*.tmp"))  # the scratch directory is gone


def test_journal_run_rows_are_the_reused_and_the_new_items(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as j:
        for key in "abc":
            j.append(key, [{"item": key}])
    with Journal(path) as j:
        assert j.items == {"a": 0, "b": 1, "c": 2}  # line numbers, not rows
        assert j.rows("b") == [{"item": "b"}]
        j.reuse("c")
        j.append("d", [{"item": "d"}])
        assert list(j.run_rows()) == [[{"item": "c"}], [{"item": "d"}]]
