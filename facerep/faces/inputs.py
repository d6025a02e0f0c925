"""Reading the harvest manifest and its images: every failure becomes a reason, never a crash.

The manifest is the harvest stage's contract (DESIGN section 2): one row per item, `status == "ok"`
for usable ones, `path` relative to `paths.raw` or absolute. It is streamed batch by batch, never
read whole: checking it keeps one 8-byte hash per usable row.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from facerep.errors import InputError
from facerep.images import to_srgb
from facerep.io import iter_table, parquet_file

REQUIRED_COLUMNS = ("image_id", "path", "status")
CARRIED_COLUMNS = ("source", "license", "owner", "uri", "page_url", "video_id", "frame_time", "speaker_id")


class ImageError(Exception):
    """An image that cannot be used; the message is the reason stored in images.parquet."""


MISSING_HINT = "run `facerep harvest` or set paths.raw"


def _ok_batches(path: Path, columns: tuple[str, ...] = ()) -> Iterator[pa.Table]:
    """The manifest's usable rows (status ok), batch by batch, with the required columns and those
    of `columns` the file has."""
    for batch in iter_table(path, REQUIRED_COLUMNS, optional=columns, missing_hint=MISSING_HINT):
        table = pa.Table.from_batches([batch])
        yield table.filter(pc.equal(table.column("status"), "ok"))


def _ok_ids(path: Path) -> Iterator[list[str]]:
    for table in _ok_batches(path):
        yield table.column("image_id").to_pylist()


def count_todo(path: Path, done: set[str]) -> int:
    """The number of usable manifest rows whose image is not in `done`, after checking that no
    usable image_id appears twice (InputError naming the first repeated one, in manifest order).

    Uniqueness is checked on 64-bit hashes of the ids; only when two hashes meet are the ids of
    those hashes compared, in a second pass."""
    hashes, todo = [], 0
    for ids in _ok_ids(path):
        hashes.append(pd.util.hash_array(np.asarray(ids, dtype=object)))
        todo += sum(i not in done for i in ids) if done else len(ids)
    if hashes:
        h = np.sort(np.concatenate(hashes))
        suspects = set(h[1:][h[1:] == h[:-1]].tolist())
        if suspects:
            seen: set[str] = set()
            for ids in _ok_ids(path):
                hit = pd.util.hash_array(np.asarray(ids, dtype=object))
                for image_id, key in zip(ids, hit.tolist(), strict=True):
                    if key in suspects:
                        if image_id in seen:
                            raise InputError(f"{path}: image_id {image_id!r} appears more than once")
                        seen.add(image_id)
    return todo


def ok_rows(path: Path, skip: set[str]) -> Iterator[dict[str, Any]]:
    """The usable manifest rows whose image is not in `skip`, as dicts (the carried columns the
    file has included), in manifest order, one batch in memory at a time."""
    for table in _ok_batches(path, CARRIED_COLUMNS):
        for row in table.to_pylist():
            if row["image_id"] not in skip:
                yield row


def manifest_meta(path: Path) -> tuple[pa.Schema, Iterator[pa.Table]]:
    """The schema and batches of the usable rows' image_id and carried columns (those the file has):
    what consolidation joins onto the faces."""
    file = parquet_file(path, REQUIRED_COLUMNS, missing_hint=MISSING_HINT)
    available = file.schema_arrow
    file.close()
    columns = ["image_id", *(c for c in CARRIED_COLUMNS if c in available.names)]
    schema = pa.schema([available.field(c) for c in columns])
    return schema, (t.select(columns) for t in _ok_batches(path, CARRIED_COLUMNS))


def resolve(raw_dir: Path, path: str) -> Path:
    """A manifest path: absolute as given, otherwise relative to `paths.raw`."""
    p = Path(path)
    return p if p.is_absolute() else raw_dir / p


def load_rgb(path: Path) -> np.ndarray:
    """Decode an image file to 8-bit sRGB (H, W, 3), EXIF orientation applied (so boxes are in the
    pixels a viewer shows; 16-bit, palette, CMYK and ICC-profiled files converted: `facerep.images`).
    Pillow rather than OpenCV because it names what is wrong with a file
    (truncated, unknown format, decompression bomb), which becomes the image's reason."""
    from PIL import Image, ImageOps

    if not path.is_file():
        raise ImageError("missing file")
    try:
        with Image.open(path) as im:
            rgb = to_srgb(ImageOps.exif_transpose(im))
    except Image.DecompressionBombError as exc:
        raise ImageError(f"too many pixels: {exc}") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"undecodable image: {exc}") from exc
    arr = np.asarray(rgb)
    if arr.ndim != 3 or min(arr.shape[:2]) < 2:
        raise ImageError(f"degenerate image of shape {arr.shape}")
    return arr
