"""Reading the harvest manifest and its images: every failure becomes a reason, never a crash.

The manifest is the harvest stage's contract (DESIGN section 2): one row per item, `status == "ok"`
for usable ones, `path` relative to `paths.raw` or absolute.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from facerep.errors import InputError
from facerep.images import to_srgb
from facerep.io import read_table

REQUIRED_COLUMNS = ("image_id", "path", "status")
CARRIED_COLUMNS = ("source", "license", "owner", "uri", "page_url", "video_id", "frame_time", "speaker_id")


class ImageError(Exception):
    """An image that cannot be used; the message is the reason stored in images.parquet."""


def read_manifest(raw_dir: Path) -> pd.DataFrame:
    """The manifest's usable rows (status ok), image ids unique, in manifest order."""
    path = raw_dir / "manifest.parquet"
    df = read_table(path, REQUIRED_COLUMNS, missing_hint="run `facerep harvest` or set paths.raw")
    ok = df[df["status"] == "ok"]
    dup = ok["image_id"][ok["image_id"].duplicated()]
    if len(dup):
        raise InputError(f"{path}: image_id {dup.iloc[0]!r} appears more than once")
    return ok.reset_index(drop=True)


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
