"""FaceStore consolidation streams its parts: several parts and row groups, an image's faces split
across a batch boundary, unordered commits, and the manifest's metadata joined onto every face."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from facerep import io
from facerep.errors import InputError
from facerep.faces.inputs import count_todo, ok_rows
from facerep.faces.store import FACE_COLUMNS, FaceStore

from .conftest import write_manifest


def chunk(ids: list[int], per_image: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    faces = pd.DataFrame(
        [
            {
                "face_id": f"f{i:02d}{k}",
                "image_id": f"img{i:02d}",
                "face_index": k,
                "bbox": [0.0, 0.0, 10.0 + k, 10.0],
                "score": 0.9,
                "landmarks5": [1.0] * 10,
                "crop_path": f"crops/f{i:02d}{k}.jpg",
                "face_px": 10.0 + k,
                "license": "stale",  # what the detecting run saw: the manifest's value replaces it
            }
            for i in ids
            for k in range(per_image)
        ]
    )
    images = pd.DataFrame(
        [
            {"image_id": f"img{i:02d}", "status": "ok", "n_faces": per_image, "width": 64, "height": 64}
            for i in ids
        ]
    )
    return faces, images


def test_consolidate_sorts_joins_and_filters_across_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(io, "BATCH_ROWS", 4)  # 3 faces per image: images straddle batch boundaries
    raw, store = tmp_path / "raw", FaceStore(tmp_path / "faces")
    store.reset({"backend": "test"})
    for ids in ([7, 2, 9], [0, 5], [8, 1, 3, 4, 6]):  # commit order is not image order
        store.commit(*chunk(ids))
    kept = [i for i in range(10) if i != 4]  # img04 left the manifest; img06 is not ok any more
    write_manifest(raw, [(f"img{i:02d}", f"{i}.jpg", "ok" if i != 6 else "duplicate") for i in kept])
    stats = store.consolidate(raw / "manifest.parquet")
    faces = pd.read_parquet(store.root / "faces.parquet")
    images = pd.read_parquet(store.root / "images.parquet")
    ok = [i for i in kept if i != 6]
    assert list(images["image_id"]) == [f"img{i:02d}" for i in ok]
    assert list(zip(faces["image_id"], faces["face_index"], strict=True)) == [
        (f"img{i:02d}", k) for i in ok for k in range(3)
    ]
    assert (faces["license"] == "CC0-1.0").all() and (faces["owner"] == "tests").all()
    assert faces.columns.tolist() == [*FACE_COLUMNS, "source", "license", "owner", "uri"]
    assert pq.ParquetFile(store.root / "faces.parquet").metadata.num_row_groups == 6  # 24 faces
    assert stats.images == len(ok) and stats.failed == 0
    assert stats.face_px.tolist() == [10.0, 11.0, 12.0] * len(ok) and stats.n_faces.tolist() == [3] * len(ok)
    assert store.done_ids() == {f"img{i:02d}" for i in range(10)}
    assert not list(store.root.glob(".*.tmp"))


def test_manifest_stream_skips_done_and_rejects_repeated_ids(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(io, "BATCH_ROWS", 2)
    raw = tmp_path / "raw"
    write_manifest(raw, [(f"img{i}", f"{i}.jpg", "ok" if i % 3 else "broken") for i in range(7)])
    path = raw / "manifest.parquet"
    assert count_todo(path, {"img1"}) == 3  # ok: 1, 2, 4, 5
    assert [r["image_id"] for r in ok_rows(path, {"img1"})] == ["img2", "img4", "img5"]
    assert next(ok_rows(path, set()))["license"] == "CC0-1.0"  # carried columns come along
    write_manifest(
        raw, [("a", "1.jpg", "ok"), ("b", "2.jpg", "ok"), ("c", "3.jpg", "ok"), ("b", "4.jpg", "ok")]
    )
    with pytest.raises(InputError, match="image_id 'b' appears more than once"):
        count_todo(path, set())
