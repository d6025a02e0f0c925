"""Harvest a local directory tree of jpg/png/webp images (`harvest.folder.root`).

Each file is validated (facerep.harvest.validate), stored upright under `<paths.raw>/<prefix>/` at
its relative path and recorded with its sha256. Files that look like images by extension but are
broken or of another format get a manifest row with the reason; other files are ignored.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import Field

from facerep.errors import InputError
from facerep.harvest.manifest import Naming, make_row
from facerep.harvest.runner import Outcome
from facerep.harvest.source import Source, register
from facerep.harvest.validate import check_image, store, upright_bytes
from facerep.paramsbase import StrictModel

ACCEPTED = {".jpg", ".jpeg", ".png", ".webp"}
IMAGE_LIKE = ACCEPTED | {".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif", ".jp2"}


class FolderParams(StrictModel):
    """A local directory tree of jpg/png/webp files."""

    root: str | None = Field(None, description="directory to harvest (required when `folder` is a source)")
    license: str | None = Field(
        None,
        description="licence name recorded on every row, e.g. 'CC BY 4.0' (null: none; shard refuses them)",
    )


@dataclass(frozen=True)
class ImageTree:
    """A tree of image files and how its rows are named; `strip_suffix` drops the extension from the
    image id (SynthFaces ids are `synth:scene_000012`)."""

    root: Path
    naming: Naming
    strip_suffix: bool = False


def iter_images(root: Path) -> Iterator[str]:
    """Relative POSIX paths of image-like files under `root` (hidden entries skipped), listed lazily
    one directory at a time in a fixed order, so a tree of millions of files is never one list (the
    manifest is sorted by image_id whatever the order of work)."""
    if not root.is_dir():
        raise InputError(f"{root}: folder to harvest not found")
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_LIKE:
                yield (Path(dirpath) / name).relative_to(root).as_posix()


def harvest_image(tree: ImageTree, rel: str, raw: Path, max_pixels: int) -> Outcome:
    """One file of `tree`: read, check, store upright, describe."""
    src, name = tree.root / rel, tree.naming
    image_id = f"{name.id_prefix}{rel.rsplit('.', 1)[0] if tree.strip_suffix else rel}"
    extra: dict[str, Any] = {"license": name.license}
    try:
        data = src.read_bytes()
    except OSError as exc:
        return Outcome(
            [make_row(image_id, name.source, src.as_uri(), f"unreadable: {exc.strerror}", **extra)]
        )
    check = check_image(data, max_pixels)
    if check.status == "ok":
        path, sha = store(raw, f"{name.out_prefix}/{rel}", upright_bytes(data, check))
        extra.update(path=path, sha256=sha, width=check.width, height=check.height)
    return Outcome([make_row(image_id, name.source, src.resolve().as_uri(), check.status, **extra)])


@register("folder")
class FolderSource(Source[str]):
    """Every image-like file under `harvest.folder.root`, keyed by its relative path; the folder's
    licence (which the harvester cannot know) is recorded on every row."""

    params_model = FolderParams
    unit = "images"

    @cached_property
    def tree(self) -> ImageTree:
        cfg: FolderParams = self.section
        if cfg.root is None:
            raise InputError("harvest.sources includes folder: set harvest.folder.root")
        return ImageTree(Path(cfg.root), Naming("folder", "folder:", "folder", cfg.license))

    def items(self) -> Iterator[tuple[str, str]]:
        return ((rel, rel) for rel in iter_images(self.tree.root))

    def work(self, item: str) -> Outcome:
        return harvest_image(self.tree, item, self.raw, self.shared.max_pixels)
