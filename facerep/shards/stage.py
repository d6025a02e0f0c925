"""`facerep shard`: the curated, licence-checked faces as WebDataset tar shards.

Reads `<paths.curated>/curated.parquet`, `<paths.faces>/faces.parquet` (+ crops) and
`<paths.raw>/manifest.parquet`; writes `<paths.shards>/shard-NNNNNN.tar` and `index.json` (name,
sample count, sha256 and bytes per shard, plus the counts of faces left out and why). A face is
written only when curate kept it and the licence gate (`facerep.shards.licenses`) lets it through.
Samples are keyed by face_id with `jpg` (the crop's bytes, unchanged) and `json` (licence, owner,
source, page_url, landmarks5, local_boxes: null when curate found fewer than `min_kept` accepted
local crops, so the loader falls back to random local crops).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from facerep.errors import InputError
from facerep.io import read_table, write_json
from facerep.params import Params
from facerep.shards.licenses import allowed_set, licence_reason, normalise
from facerep.shards.writer import Sample, write_shards
from facerep.stages import StageResult
from facerep.tracking import Tracker

log = logging.getLogger(__name__)
# Sources whose rows get their licence from a parameter (Flickr rows carry the photo's own licence).
LICENCE_PARAMETERS = {"folder": "harvest.folder.license", "voxceleb": "harvest.voxceleb.license"}


def _read(path: Path, columns: list[str], stage: str) -> pd.DataFrame:
    return read_table(path, columns, missing_hint=f"run `facerep {stage}` first")


@dataclass(frozen=True)
class Selection:
    """The faces to shard, the count of faces left out per reason, and per source the kept faces
    whose harvest rows carry no licence at all (a folder or VoxCeleb harvested without one)."""

    samples: list[Sample]
    left_out: Counter[str]
    unlicensed: Counter[str]


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


def select_samples(params: Params) -> Selection:
    """The faces to shard, with their metadata, and why the others are left out."""
    faces_dir = Path(params.paths.faces)
    curated = _read(
        Path(params.paths.curated) / "curated.parquet", ["face_id", "keep", "local_boxes"], "curate"
    )
    faces = _read(faces_dir / "faces.parquet", ["face_id", "image_id", "landmarks5", "crop_path"], "detect")
    manifest = _read(
        Path(params.paths.raw) / "manifest.parquet", ["image_id", "license", "status"], "harvest"
    )
    if "license" not in faces.columns:
        raise InputError(f"{faces_dir / 'faces.parquet'}: missing column license")
    images = manifest.drop_duplicates("image_id").set_index("image_id")
    face_rows = faces.set_index("face_id")
    allowed = allowed_set(params.shard.licenses)
    fallback = (
        curated["local_fallback"] if "local_fallback" in curated.columns else pd.Series(False, curated.index)
    )

    samples: list[Sample] = []
    left_out: Counter[str] = Counter()
    unlicensed: Counter[str] = Counter()
    for face_id, keep, boxes, fall in zip(
        curated["face_id"], curated["keep"], curated["local_boxes"], fallback, strict=True
    ):
        if not bool(keep):
            left_out["not_kept"] += 1
            continue
        if face_id not in face_rows.index:
            raise InputError(f"curated.parquet: face {face_id} is not in faces.parquet")
        face = face_rows.loc[face_id]
        image = images.loc[face["image_id"]] if face["image_id"] in images.index else None
        reason = licence_reason(
            face["license"],
            None if image is None else image["license"],
            None if image is None else image["status"],
            allowed,
        )
        if reason == "licence_not_allowed" and image is not None and not normalise(image["license"]):
            reason = "licence_missing"
            unlicensed[_text(image.get("source", face.get("source"))) or "unknown"] += 1
        if reason:
            left_out[reason] += 1
            continue
        jpg = faces_dir / face["crop_path"]
        if not jpg.exists():
            raise InputError(f"{jpg}: crop of kept face {face_id} is missing")
        local = (
            None if bool(fall) or boxes is None or len(boxes) == 0 else [[float(v) for v in b] for b in boxes]
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
        samples.append(Sample(str(face_id), jpg, jpg.stat().st_size, meta))
    return Selection(samples, left_out, unlicensed)


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return str(value)


def run(params: Params, tracker: Tracker) -> StageResult:
    """Write the shards and index.json (see the module docstring)."""
    out_dir = Path(params.paths.shards)
    selection = select_samples(params)
    samples, left_out = selection.samples, selection.left_out
    hint = missing_licence_hint(selection.unlicensed)
    if not samples:
        raise InputError(
            f"{params.paths.curated}/curated.parquet: no kept face with an allowed licence to shard"
            + (f"; {hint}" if hint else "")
        )
    if hint:
        log.warning("shard: %s", hint)
    entries, skipped = write_shards(
        samples, out_dir, params.seed, params.shard.max_count, params.shard.max_bytes
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
