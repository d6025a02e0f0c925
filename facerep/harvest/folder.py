"""Harvest a local directory tree of jpg/png/webp images (`harvest.folder.root`).

Each file is validated (facerep.harvest.validate), stored upright under `<paths.raw>/<prefix>/` at
its relative path and recorded with its sha256. Files that look like images by extension but are
broken or of another format get a manifest row with the reason; other files are ignored.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from facerep.errors import InputError
from facerep.harvest.manifest import Journal, make_row
from facerep.harvest.runner import Outcome, run_items
from facerep.harvest.validate import check_image, store, upright_bytes

ACCEPTED = {".jpg", ".jpeg", ".png", ".webp"}
IMAGE_LIKE = ACCEPTED | {".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif", ".jp2"}


def list_images(root: Path) -> list[str]:
    """Relative POSIX paths of image-like files under `root`, sorted (hidden entries skipped)."""
    if not root.is_dir():
        raise InputError(f"{root}: folder to harvest not found")
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_LIKE:
                found.append((Path(dirpath) / name).relative_to(root).as_posix())
    return sorted(found)


def file_worker(
    root: Path,
    raw: Path,
    source: str,
    id_prefix: str,
    out_prefix: str,
    max_pixels: int,
    strip_suffix: bool,
    license: str | None,
) -> Callable[[str], Outcome]:
    """The per-file job: read, check, store upright, describe."""

    def work(rel: str) -> Outcome:
        src = root / rel
        image_id = f"{id_prefix}{rel.rsplit('.', 1)[0] if strip_suffix else rel}"
        extra: dict[str, Any] = {"license": license}
        try:
            data = src.read_bytes()
        except OSError as exc:
            return Outcome([make_row(image_id, source, src.as_uri(), f"unreadable: {exc.strerror}", **extra)])
        check = check_image(data, max_pixels)
        if check.status == "ok":
            path, sha = store(raw, f"{out_prefix}/{rel}", upright_bytes(data, check))
            extra.update(path=path, sha256=sha, width=check.width, height=check.height)
        return Outcome([make_row(image_id, source, src.resolve().as_uri(), check.status, **extra)])

    return work


def harvest_folder(
    root: Path,
    raw: Path,
    journal: Journal,
    *,
    source: str = "folder",
    id_prefix: str = "folder:",
    out_prefix: str = "folder",
    max_pixels: int,
    strip_suffix: bool = False,
    license: str | None = None,
    workers: int = 2,
) -> list[dict[str, Any]]:
    """Harvest every image-like file under `root`; return the manifest rows of all of them.

    `strip_suffix` drops the extension from the image id (SynthFaces ids are `synth:scene_000012`);
    `license` is recorded on every row (a user's folder has none the harvester could know).
    """
    files = list_images(root)
    work = file_worker(root, raw, source, id_prefix, out_prefix, max_pixels, strip_suffix, license)
    return run_items([(rel, rel) for rel in files], work, journal, f"{source} images", workers)
