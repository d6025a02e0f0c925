"""Curate, detect and harvest outputs in their contract formats, built from real photo crops."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from curate_data import face_row, write_detect_output, write_manifest
from curate_photos import photo_faces


def make_pipeline_outputs(root: Path, count: int, special: dict[str, dict] | None = None) -> list[dict]:
    """`count` faces (photo crops reused under new ids) with faces.parquet, manifest and curated.parquet.

    `special` maps a face_id to overrides: `license`, `status`, `keep`, `local_boxes`.
    """
    special = special or {}
    photos = photo_faces()
    rows = []
    for i in range(count):
        face_id = f"f{i:04d}"
        extra = special.get(face_id, {})
        rows.append(
            face_row(
                photos[i % len(photos)],
                face_id,
                image_id=f"img{i:04d}",
                source="video" if i % 3 == 0 else "flickr",
                license=extra.get("license", "CC BY 4.0"),
                status=extra.get("status", "ok"),
                owner=f"owner{i}",
            )
        )
    write_detect_output(root, rows)
    write_manifest(root, rows)
    curated = pd.DataFrame(
        {
            "face_id": [r["face_id"] for r in rows],
            "keep": [special.get(r["face_id"], {}).get("keep", True) for r in rows],
            "reason": ["" for _ in rows],
            "dup_of": [None for _ in rows],
            "local_boxes": [
                special.get(r["face_id"], {}).get("local_boxes", [[64.0, 64.0, 192.0, 192.0, 0.6]])
                for r in rows
            ],
            "local_fallback": [not special.get(r["face_id"], {}).get("local_boxes", [1]) for r in rows],
        }
    )
    (root / "curated").mkdir(parents=True, exist_ok=True)
    curated.to_parquet(root / "curated" / "curated.parquet", index=False)
    return rows
