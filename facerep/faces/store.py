"""The detect stage's output store: resumable chunks, consolidated into faces.parquet and images.parquet.

Order of writes inside one chunk, each atomic (`facerep.io`): the chunk's crops, then
`parts/faces-<n>.parquet`, then `parts/images-<n>.parquet`. The images part is the commit marker: a
faces part without its images part (a crash between the two) is an orphan and is deleted on the next
run, whose images are then processed again. So no committed row ever points at a missing crop, and
no image is counted twice. The consolidated files are rebuilt from the parts at the end of each run.

Parts are only reused by a run with the same output-defining parameters (`parts/params.json`): after
a change of detector, threshold or crop geometry (a new `dvc repro`, say) the old parts and crops are
removed and every image is processed again, so one faces.parquet never mixes two settings.

Consolidation streams: the parts go through an external sort and a merge join with the manifest
(`facerep.io`), so its memory does not grow with the number of images; what it keeps per face is
two floats for the summary plots.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from facerep.faces.inputs import manifest_meta
from facerep.io import (
    TableWriter,
    external_sort,
    iter_table,
    join_sorted,
    row_tables,
    write_json,
    write_parquet,
)

FACES_FILE = "faces.parquet"
IMAGES_FILE = "images.parquet"
PARTS_DIR = "parts"
SETTINGS_FILE = "params.json"
CROPS_DIR = "crops"
_PART = re.compile(r"^(faces|images)-(\d{6})\.parquet$")

FACE_SCHEMA = pa.schema(
    [
        ("face_id", pa.string()),
        ("image_id", pa.string()),
        ("face_index", pa.int64()),
        ("bbox", pa.list_(pa.float64())),
        ("score", pa.float64()),
        ("landmarks5", pa.list_(pa.float64())),
        ("crop_path", pa.string()),
        ("face_px", pa.float64()),
    ]
)
IMAGE_SCHEMA = pa.schema(
    [
        ("image_id", pa.string()),
        ("status", pa.string()),
        ("n_faces", pa.int64()),
        ("width", pa.int64()),
        ("height", pa.int64()),
    ]
)
FACE_COLUMNS = tuple(FACE_SCHEMA.names)
IMAGE_COLUMNS = tuple(IMAGE_SCHEMA.names)


@dataclass(frozen=True)
class StoreStats:
    """What the summary and its plots need of the consolidated tables: image counts, and per face
    its size and score, per ok image its number of faces (compact arrays, not the tables)."""

    images: int
    failed: int
    n_faces: np.ndarray
    face_px: np.ndarray
    score: np.ndarray


class FaceStore:
    """The parts of one `paths.faces` directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.parts = root / PARTS_DIR

    def _parts(self, kind: str) -> dict[int, Path]:
        if not self.parts.is_dir():
            return {}
        found = {}
        for p in self.parts.iterdir():
            m = _PART.match(p.name)
            if m and m.group(1) == kind:
                found[int(m.group(2))] = p
        return found

    def settings_match(self, settings: dict[str, Any]) -> bool:
        """Whether the parts were made with `settings` (so their images need not be redone)."""
        marker = self.parts / SETTINGS_FILE
        return marker.is_file() and json.loads(marker.read_text()) == json.loads(json.dumps(settings))

    def reset(self, settings: dict[str, Any]) -> None:
        """Remove all parts and crops, and record the `settings` of the parts to come."""
        for stale in (self.parts, self.root / CROPS_DIR):
            if stale.is_dir():
                shutil.rmtree(stale)
        write_json(self.parts / SETTINGS_FILE, settings)

    def recover(self) -> int:
        """Delete faces parts whose images part (the commit marker) is missing; return how many."""
        committed = self._parts("images")
        orphans = [p for n, p in self._parts("faces").items() if n not in committed]
        for p in orphans:
            p.unlink()
        return len(orphans)

    def done_ids(self) -> set[str]:
        """The image ids of the committed per-image rows (the resumption set: ids only)."""
        return {
            image_id
            for _, part in sorted(self._parts("images").items())
            for batch in iter_table(part, ["image_id"])
            for image_id in batch.column("image_id").to_pylist()
        }

    def commit(self, faces: pd.DataFrame, images: pd.DataFrame) -> None:
        """Append one chunk: faces first, then the images part that commits it."""
        n = max(self._parts("images"), default=-1) + 1
        write_parquet(self.parts / f"faces-{n:06d}.parquet", faces)
        write_parquet(self.parts / f"images-{n:06d}.parquet", images)

    def _committed(self, kind: str, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        """The rows of the committed parts of `kind` (an orphan faces part is not committed)."""
        committed = self._parts("images")
        for n, part in sorted(self._parts(kind).items()):
            if n in committed:
                yield from iter_table(part, schema.names)

    def consolidate(self, manifest: Path) -> StoreStats:
        """Rewrite faces.parquet and images.parquet from the committed parts, in a stable order.

        Only the `manifest`'s usable images are kept, and their metadata columns (licence, owner,
        source, ...) are taken from it rather than from the run that detected them, so a re-harvest
        that changes only metadata (`harvest.folder.license`, say) reaches faces.parquet without
        detecting again. Both tables are sorted by an external sort and joined with the manifest
        sorted the same way, so only a few batches of rows are held at once.
        """
        with tempfile.TemporaryDirectory(dir=self.root, prefix=".consolidate-", suffix=".tmp") as tmp:
            scratch = Path(tmp)
            for sub in ("meta", "faces", "images"):
                (scratch / sub).mkdir()
            meta_schema, meta_batches = manifest_meta(manifest)
            meta_path = scratch / "meta.parquet"
            with TableWriter(meta_path, meta_schema) as out:
                for table in external_sort(meta_batches, ["image_id"], meta_schema, scratch / "meta"):
                    out.write(table)
            carried = [c for c in meta_schema.names if c != "image_id"]

            def meta(columns: list[str]) -> Iterator[pa.Table]:
                return (pa.Table.from_batches([b]) for b in iter_table(meta_path, ["image_id", *columns]))

            faces_schema = pa.schema([*FACE_SCHEMA, *(meta_schema.field(c) for c in carried)])
            face_px, score = [], []
            with TableWriter(self.root / FACES_FILE, faces_schema) as out:
                faces = external_sort(
                    self._committed("faces", FACE_SCHEMA),
                    ["image_id", "face_index"],
                    FACE_SCHEMA,
                    scratch / "faces",
                )
                rows = (face | image for face, image in join_sorted(faces, meta(carried), "image_id"))
                for table in row_tables(rows, faces_schema):
                    face_px.append(table.column("face_px").to_numpy())
                    score.append(table.column("score").to_numpy())
                    out.write(table)
            n_images = failed = 0
            n_faces = []
            with TableWriter(self.root / IMAGES_FILE, IMAGE_SCHEMA) as out:
                images = external_sort(
                    self._committed("images", IMAGE_SCHEMA), ["image_id"], IMAGE_SCHEMA, scratch / "images"
                )
                rows = (image for image, _ in join_sorted(images, meta([]), "image_id"))
                for table in row_tables(rows, IMAGE_SCHEMA):
                    ok = pc.equal(table.column("status"), "ok").to_numpy(zero_copy_only=False)
                    n_images += table.num_rows
                    failed += int((~ok).sum())
                    n_faces.append(table.column("n_faces").to_numpy()[ok])
                    out.write(table)
        return StoreStats(n_images, failed, _concat(n_faces, np.int64), _concat(face_px), _concat(score))


def _concat(parts: list[np.ndarray], dtype: type = np.float64) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)
