"""The streaming table helpers on real Parquet files: several row groups, batch and run boundaries
inside an item's rows, and clear errors naming the file and the column."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from facerep import io
from facerep.errors import InputError

SCHEMA = pa.schema([("image_id", pa.string()), ("face_index", pa.int64()), ("score", pa.float64())])


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> int:
    """Batches, row groups and merge windows of a few rows, so small files cross every boundary."""
    monkeypatch.setattr(io, "BATCH_ROWS", 4)
    monkeypatch.setattr(io, "MERGE_ROWS", 8)
    return 4


def faces(n_images: int, per_image: int = 3) -> list[dict]:
    return [
        {"image_id": f"img{i:03d}", "face_index": k, "score": i + k / 10}
        for i in range(n_images)
        for k in range(per_image)
    ]


def test_table_writer_writes_row_groups_and_iter_table_streams_them(
    tmp_path: Path, small_batches: int
) -> None:
    rows = faces(5)  # 15 rows: 3 faces per image, so row groups of 4 split images across groups
    path = tmp_path / "t.parquet"
    with io.TableWriter(path, SCHEMA) as out:
        for table in io.row_tables(iter(rows), SCHEMA):
            out.write(table)
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == 4 and meta.num_rows == 15
    batches = list(
        io.iter_table(path, ["image_id", "face_index"], optional=["score", "absent"], batch_rows=4)
    )
    assert [b.num_rows for b in batches] == [4, 4, 4, 3]
    assert batches[0].schema.names == ["image_id", "face_index", "score"]
    assert pa.Table.from_batches(batches).to_pylist() == rows


def test_table_writer_casts_frames_and_keeps_the_schema_when_empty(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    with io.TableWriter(path, SCHEMA) as out:
        out.write(pd.DataFrame({"image_id": [None], "face_index": [1], "score": [None]}))
    assert pq.read_schema(path).remove_metadata() == SCHEMA
    with io.TableWriter(tmp_path / "empty.parquet", SCHEMA):
        pass
    assert pq.read_table(tmp_path / "empty.parquet").schema.remove_metadata() == SCHEMA


def test_table_writer_leaves_the_old_file_when_the_block_fails(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    io.write_parquet(path, pd.DataFrame({"image_id": ["old"], "face_index": [0], "score": [0.0]}))
    with pytest.raises(RuntimeError), io.TableWriter(path, SCHEMA) as out:
        out.write(pa.Table.from_pylist(faces(2), schema=SCHEMA))
        raise RuntimeError("crash mid-table")
    assert pd.read_parquet(path)["image_id"].tolist() == ["old"]
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]


def test_iter_table_names_the_file_and_the_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "faces.parquet"
    with pytest.raises(InputError, match=r"faces.parquet: not found; run `facerep detect` first"):
        next(io.iter_table(path, ["image_id"], missing_hint="run `facerep detect` first"))
    pq.write_table(pa.Table.from_pylist(faces(2), schema=SCHEMA), path)
    with pytest.raises(InputError, match=r"faces.parquet: missing column\(s\) crop_path, bbox"):
        next(io.iter_table(path, ["image_id", "crop_path", "bbox"]))
    path.write_bytes(b"PAR1 not parquet at all")
    with pytest.raises(InputError, match=r"faces\.parquet: not a readable Parquet file"):
        next(io.iter_table(path, ["image_id"]))


@pytest.mark.parametrize("run_rows", [5, 1000])  # many runs merged, or one run sorted in memory
def test_external_sort_is_stable_across_runs(tmp_path: Path, small_batches: int, run_rows: int) -> None:
    rows = faces(12)
    shuffled = rows[:]
    random.Random(3).shuffle(shuffled)
    dup = [{"image_id": "img005", "face_index": 1, "score": -1.0}]  # equal keys keep arrival order
    tables = io.row_tables(iter(shuffled + dup), SCHEMA)
    out = list(io.external_sort(tables, ["image_id", "face_index"], SCHEMA, tmp_path, run_rows=run_rows))
    assert all(t.num_rows <= small_batches for t in out)
    got = pa.concat_tables(out).to_pylist()
    assert got == sorted(shuffled + dup, key=lambda r: (r["image_id"], r["face_index"]))
    assert len(list(tmp_path.glob("run-*.parquet"))) == (0 if run_rows == 1000 else 5)  # 37 rows in runs of 8


def test_join_sorted_inner_and_left(small_batches: int) -> None:
    left = io.row_tables(iter(faces(4, per_image=2)), SCHEMA)
    meta_schema = pa.schema([("image_id", pa.string()), ("license", pa.string())])
    meta = [{"image_id": "img000", "license": "a"}, {"image_id": "img002", "license": "c"}]
    inner = list(io.join_sorted(left, io.row_tables(iter(meta), meta_schema), "image_id"))
    assert [(f["image_id"], f["face_index"], m["license"]) for f, m in inner] == [
        ("img000", 0, "a"),
        ("img000", 1, "a"),
        ("img002", 0, "c"),
        ("img002", 1, "c"),
    ]
    left = io.row_tables(iter(faces(4, per_image=1)), SCHEMA)
    joined = io.join_sorted(left, io.row_tables(iter(meta), meta_schema), "image_id", keep_unmatched=True)
    assert [m and m["license"] for _, m in joined] == ["a", None, "c", None]
