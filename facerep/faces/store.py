"""The detect stage's output store: resumable chunks, consolidated into faces.parquet and images.parquet.

Order of writes inside one chunk, each atomic (`facerep.io`): the chunk's crops, then
`parts/faces-<n>.parquet`, then `parts/images-<n>.parquet`. The images part is the commit marker: a
faces part without its images part (a crash between the two) is an orphan and is deleted on the next
run, whose images are then processed again. So no committed row ever points at a missing crop, and
no image is counted twice. The consolidated files are rebuilt from the parts at the end of each run.

Parts are only reused by a run with the same output-defining parameters (`parts/params.json`): after
a change of detector, threshold or crop geometry (a new `dvc repro`, say) the old parts and crops are
removed and every image is processed again, so one faces.parquet never mixes two settings.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from facerep.faces.inputs import CARRIED_COLUMNS
from facerep.io import write_json, write_parquet

FACES_FILE = "faces.parquet"
IMAGES_FILE = "images.parquet"
PARTS_DIR = "parts"
SETTINGS_FILE = "params.json"
CROPS_DIR = "crops"
_PART = re.compile(r"^(faces|images)-(\d{6})\.parquet$")

FACE_COLUMNS = ("face_id", "image_id", "face_index", "bbox", "score", "landmarks5", "crop_path", "face_px")
IMAGE_COLUMNS = ("image_id", "status", "n_faces", "width", "height")


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

    def done_images(self) -> pd.DataFrame:
        """The committed per-image rows (empty frame with the columns when none)."""
        parts = [pd.read_parquet(p) for _, p in sorted(self._parts("images").items())]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(IMAGE_COLUMNS))

    def commit(self, faces: pd.DataFrame, images: pd.DataFrame) -> None:
        """Append one chunk: faces first, then the images part that commits it."""
        n = max(self._parts("images"), default=-1) + 1
        write_parquet(self.parts / f"faces-{n:06d}.parquet", faces)
        write_parquet(self.parts / f"images-{n:06d}.parquet", images)

    def consolidate(self, manifest: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Rewrite faces.parquet and images.parquet from the committed parts, in a stable order.

        With the current `manifest`, only its images are kept and their metadata columns (licence,
        owner, source, ...) are taken from it rather than from the run that detected them, so a
        re-harvest that changes only metadata (`harvest.folder.license`, say) reaches faces.parquet
        without detecting again.
        """
        committed = self._parts("images")
        face_parts = [pd.read_parquet(p) for n, p in sorted(self._parts("faces").items()) if n in committed]
        faces = pd.concat(face_parts, ignore_index=True) if face_parts else pd.DataFrame(columns=FACE_COLUMNS)
        images = self.done_images()
        if manifest is not None:
            faces = faces[faces["image_id"].isin(manifest["image_id"])]
            images = images[images["image_id"].isin(manifest["image_id"])]
            carried = [c for c in CARRIED_COLUMNS if c in manifest.columns]
            meta = manifest.drop_duplicates("image_id").set_index("image_id")[carried]
            faces = faces.drop(columns=[c for c in carried if c in faces.columns]).join(meta, on="image_id")
        images = images.sort_values("image_id", kind="stable").reset_index(drop=True)
        faces = faces.sort_values(["image_id", "face_index"], kind="stable").reset_index(drop=True)
        write_parquet(self.root / FACES_FILE, faces)
        write_parquet(self.root / IMAGES_FILE, images)
        return faces, images
