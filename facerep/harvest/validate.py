"""Image checks shared by every source: each unusable file gets one reason instead of a crash.

Reasons (the manifest `status`): `zero_bytes`, `not_an_image`, `unsupported_format`,
`decompression_bomb` (more than `harvest.max_pixels` pixels, checked from the header before any
pixel is decoded), `truncated` (the decoder ran out of data or hit corrupt data). Accepted images
have their EXIF orientation applied, so later stages see every photo upright.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from facerep.io import write_bytes

FORMATS: dict[str, str] = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class ImageCheck:
    """The verdict on one encoded image; width/height are after EXIF orientation."""

    status: str
    width: int | None = None
    height: int | None = None
    ext: str | None = None
    oriented: bool = False


def has_image_magic(data: bytes) -> bool:
    """True when `data` starts like a jpg/png/webp: a file cut inside its header is truncated, not junk."""
    return data.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")) or (
        data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    )


def check_image(data: bytes, max_pixels: int) -> ImageCheck:
    """Decide whether `data` is a usable jpg/png/webp image, without trusting its extension.

    JPEGs decode in draft mode (DCT scaled to 1/8): every entropy-coded byte is still read, so
    truncation is caught, at a fraction of the cost of a full decode.
    """
    if not data:
        return ImageCheck("zero_bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return ImageCheck("decompression_bomb")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return ImageCheck("truncated" if has_image_magic(data) else "not_an_image")
    with img:
        if img.format not in FORMATS:
            return ImageCheck("unsupported_format")
        width, height = img.size
        if width * height > max_pixels:
            return ImageCheck("decompression_bomb")
        orientation = img.getexif().get(EXIF_ORIENTATION, 1)
        try:
            if img.format == "JPEG":
                img.draft(img.mode, (max(1, width // 8), max(1, height // 8)))
            img.load()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            return ImageCheck("truncated")
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return ImageCheck("ok", width, height, FORMATS[img.format], oriented=orientation not in (1, None))


def upright_bytes(data: bytes, check: ImageCheck) -> bytes:
    """The file to store: the original bytes, or a re-encoded upright copy when EXIF rotates it.

    Re-encoding only rotated images keeps every other file byte-identical to its source, so its
    sha256 matches the publisher's file.
    """
    if not check.oriented:
        return data
    with Image.open(io.BytesIO(data)) as img:
        upright = ImageOps.exif_transpose(img)
        out = io.BytesIO()
        fmt = img.format or "JPEG"
        if fmt == "JPEG":
            upright.convert("RGB").save(out, format="JPEG", quality=95)
        else:
            upright.save(out, format=fmt)
    return out.getvalue()


def store(raw: Path, rel: str, data: bytes) -> tuple[str, str]:
    """Atomically and durably write `data` to `<raw>/<rel>`; return (rel, sha256).

    The fsync before the rename means a journal line written afterwards never points at a file
    whose bytes a power cut could still lose.
    """
    write_bytes(raw / rel, data, durable=True)
    return rel, hashlib.sha256(data).hexdigest()


def find_stored(raw: Path, stem: str) -> Path | None:
    """A file already stored for `stem` by an interrupted run (any accepted extension)."""
    for ext in FORMATS.values():
        p = raw / f"{stem}.{ext}"
        if p.is_file():
            return p
    return None
