"""`facerep shard`: the curated, licence-checked faces as WebDataset tar shards.

Reads `<paths.curated>/curated.parquet`, `<paths.faces>/faces.parquet` (+ crops) and
`<paths.raw>/manifest.parquet`; writes `<paths.shards>/shard-NNNNNN.tar` and `index.json` (name,
sample count, sha256 and bytes per shard, plus the counts of faces left out and why). A face is
written only when curate kept it and the licence gate (`facerep.shards.licenses`) lets it through.
Samples are keyed by face_id with `jpg` (the crop's bytes, unchanged) and `json` (licence, owner,
source, page_url, landmarks5, local_boxes: null when curate found fewer than `min_kept` accepted
local crops, so the loader falls back to random local crops).

The three tables stream through external sorts and sort-merge joins (`facerep.io`) into a spool of
the selected samples (`facerep.shards.writer.spool`), so memory does not grow with the number of
faces.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from facerep.errors import InputError
from facerep.io import external_sort, iter_table, join_sorted, parquet_file, row_tables, write_json
from facerep.params import Params
from facerep.shards.licenses import allowed_set, licence_reason, normalise
from facerep.shards.writer import Sample, spool, write_spooled
from facerep.stages import StageResult
from facerep.tracking import Tracker

log = logging.getLogger(__name__)
# Sources whose rows get their licence from a parameter (Flickr rows carry the photo's own licence).
LICENCE_PARAMETERS = {"folder": "harvest.folder.license", "voxceleb": "harvest.voxceleb.license"}


def _sorted(
    path: Path, required: list[str], optional: list[str], key: str, scratch: Path, stage: str
) -> tuple[pa.Schema, Iterator[pa.Table]]:
    """The schema of the `required` and present `optional` columns of a stage's table, and its rows
    sorted by `key` (an external sort under `scratch`)."""
    hint = f"run `facerep {stage}` first"
    file = parquet_file(path, required, missing_hint=hint)
    available = file.schema_arrow
    file.close()
    columns = [*required, *(c for c in optional if c in available.names)]
    schema = pa.schema([available.field(c) for c in columns])
    runs = scratch / f"{path.stem}-by-{key}"
    runs.mkdir()
    batches = iter_table(path, required, optional=optional, missing_hint=hint)
    return schema, external_sort(batches, [key], schema, runs)


def missing_licence_hint(unlicensed: Counter[str]) -> str:
    """Which parameter gives each unlicensed source its licence (the harvest cannot know it)."""
    parts = []
    for source, n in sorted(unlicensed.items()):
        param = LICENCE_PARAMETERS.get(source)
        fix = (
            f'set {param} (e.g. --set {param}="CC BY 4.0") to the licence of those files and re-run harvest'
            if param
            else "its harvest rows carry no licence"
        )
        parts.append(f"{n} kept face(s) from source {source!r} have no licence: {fix}")
    return "; ".join(parts)


class Selection:
    """The faces to shard, streamed by `samples`, and, once that is consumed, the count of faces
    left out per reason and per source the kept faces whose harvest rows carry no licence at all (a
    folder or VoxCeleb harvested without one)."""

    def __init__(self, params: Params, scratch: Path) -> None:
        self.params, self.scratch = params, scratch
        self.left_out: Counter[str] = Counter()
        self.unlicensed: Counter[str] = Counter()

    def _faces_with_images(self) -> Iterator[pa.Table]:
        """faces.parquet rows with their manifest row's columns (`image.<name>`, `image.found`),
        sorted by face_id: faces and manifest are joined in image_id order, then re-sorted."""
        p = self.params
        faces_path = Path(p.paths.faces) / "faces.parquet"
        face_schema, faces = _sorted(
            faces_path,
            ["face_id", "image_id", "landmarks5", "crop_path"],
            ["license", "owner", "source"],
            "image_id",
            self.scratch,
            "detect",
        )
        if "license" not in face_schema.names:
            raise InputError(f"{faces_path}: missing column license")
        image_schema, images = _sorted(
            Path(p.paths.raw) / "manifest.parquet",
            ["image_id", "license", "status"],
            ["source", "owner", "page_url"],
            "image_id",
            self.scratch,
            "harvest",
        )
        schema = pa.schema(
            [
                *face_schema,
                *(pa.field(f"image.{f.name}", f.type) for f in image_schema),
                pa.field("image.found", pa.bool_()),
            ]
        )

        def rows() -> Iterator[dict[str, Any]]:
            for face, image in join_sorted(faces, images, "image_id", keep_unmatched=True):
                found = {f"image.{c}": None if image is None else image[c] for c in image_schema.names}
                yield {**face, **found, "image.found": image is not None}

        runs = self.scratch / "faces-by-face_id"
        runs.mkdir()
        return external_sort(row_tables(rows(), schema), ["face_id"], schema, runs)

    def samples(self) -> Iterator[Sample]:
        """The kept, licence-checked faces with their metadata, in face_id order."""
        p = self.params
        faces_dir = Path(p.paths.faces)
        _, curated = _sorted(
            Path(p.paths.curated) / "curated.parquet",
            ["face_id", "keep", "local_boxes"],
            ["local_fallback"],
            "face_id",
            self.scratch,
            "curate",
        )
        faces = self._faces_with_images()
        allowed = allowed_set(p.shard.licenses)
        for cur, face in join_sorted(curated, faces, "face_id", keep_unmatched=True):
            face_id = cur["face_id"]
            if not bool(cur["keep"]):
                self.left_out["not_kept"] += 1
                continue
            if face is None:
                raise InputError(f"curated.parquet: face {face_id} is not in faces.parquet")
            image = _image_of(face)
            reason = licence_reason(
                face["license"],
                None if image is None else image["license"],
                None if image is None else image["status"],
                allowed,
            )
            if reason == "licence_not_allowed" and image is not None and not normalise(image["license"]):
                reason = "licence_missing"
                self.unlicensed[_text(image.get("source", face.get("source"))) or "unknown"] += 1
            if reason or image is None:  # licence_reason refuses a face without its manifest row
                self.left_out[reason] += 1
                continue
            jpg = faces_dir / face["crop_path"]
            if not jpg.exists():
                raise InputError(f"{jpg}: crop of kept face {face_id} is missing")
            boxes = cur["local_boxes"]
            local = (
                None
                if bool(cur.get("local_fallback")) or boxes is None or len(boxes) == 0
                else [[float(v) for v in b] for b in boxes]
            )
            meta = {
                "face_id": str(face_id),
                "image_id": str(face["image_id"]),
                "license": str(image["license"]),
                "owner": _text(image.get("owner", face.get("owner"))),
                "source": _text(image.get("source", face.get("source"))),
                "page_url": _text(image.get("page_url")),
                "landmarks5": [float(v) for v in face["landmarks5"]],
                "local_boxes": local,
            }
            yield Sample(str(face_id), jpg, jpg.stat().st_size, meta)


def _image_of(face: dict[str, Any]) -> dict[str, Any] | None:
    """The manifest columns joined onto a face row, by their own names (None: no manifest row)."""
    if not face["image.found"]:
        return None
    return {
        k.removeprefix("image."): v for k, v in face.items() if k.startswith("image.") and k != "image.found"
    }


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return str(value)


def run(params: Params, tracker: Tracker) -> StageResult:
    """Write the shards and index.json (see the module docstring)."""
    out_dir = Path(params.paths.shards)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob(".select-*.tmp"):  # scratch of a killed run
        shutil.rmtree(stale)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".select-", suffix=".tmp") as scratch:
        selection = Selection(params, Path(scratch))
        with spool(selection.samples(), out_dir) as spooled:
            left_out = selection.left_out
            hint = missing_licence_hint(selection.unlicensed)
            if not spooled.count:
                raise InputError(
                    f"{params.paths.curated}/curated.parquet: no kept face with an allowed licence to shard"
                    + (f"; {hint}" if hint else "")
                )
            if hint:
                log.warning("shard: %s", hint)
            entries, skipped = write_spooled(
                spooled, out_dir, params.seed, params.shard.max_count, params.shard.max_bytes
            )
    index = {
        "seed": params.seed,
        "samples": sum(e["count"] for e in entries),
        "shards": entries,
        "left_out": dict(sorted(left_out.items())),
    }
    write_json(out_dir / "index.json", index, durable=True)
    metrics = {
        "samples": float(index["samples"]),
        "shards": float(len(entries)),
        "shards_skipped": float(skipped),
        "bytes": float(sum(e["bytes"] for e in entries)),
        **{f"left_out_{k}": float(v) for k, v in left_out.items()},
    }
    return StageResult(  # the index is logged to MLflow: what the pre-training data was, shard by shard
        metrics=metrics,
        artifacts=[out_dir / "index.json"],
        outputs=[out_dir / "index.json", *(out_dir / e["name"] for e in entries)],
    )
