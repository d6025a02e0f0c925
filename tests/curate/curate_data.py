"""Writers of the detect stage's output format (faces.parquet + crops) for the curate and shard tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from curate_photos import PhotoFace


def encode_jpeg(rgb: np.ndarray, quality: int = 95) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def write_detect_output(root: Path, rows: list[dict]) -> Path:
    """Write faces.parquet and crops in the detect contract; each row holds `crop` (RGB) or `jpeg`."""
    faces_dir = root / "faces"
    (faces_dir / "crops").mkdir(parents=True, exist_ok=True)
    records = []
    for r in rows:
        rel = f"crops/{r['face_id']}.jpg"
        (faces_dir / rel).write_bytes(r.get("jpeg") or encode_jpeg(r["crop"]))
        records.append(
            {
                "face_id": r["face_id"],
                "image_id": r.get("image_id", r["face_id"]),
                "bbox": [float(v) for v in r["bbox"]],
                "score": float(r.get("score", 0.99)),
                "landmarks5": [float(v) for v in np.asarray(r["landmarks5"]).reshape(-1)],
                "crop_path": rel,
                "source": r.get("source", "photos"),
                "license": r.get("license", "CC-BY-4.0"),
                "owner": r.get("owner", "package authors"),
            }
        )
    pd.DataFrame(records).to_parquet(faces_dir / "faces.parquet", index=False)
    return faces_dir


def face_row(face: PhotoFace, face_id: str, **extra) -> dict:
    return {"face_id": face_id, "crop": face.crop, "landmarks5": face.landmarks5, "bbox": face.bbox, **extra}


def write_manifest(root: Path, rows: list[dict]) -> Path:
    """Write raw/manifest.parquet in the harvest contract for the images of `rows`."""
    raw = root / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    seen: dict[str, dict] = {}
    for r in rows:
        image_id = r.get("image_id", r["face_id"])
        seen.setdefault(
            image_id,
            {
                "image_id": image_id,
                "source": r.get("source", "photos"),
                "uri": f"file:///photos/{image_id}.jpg",
                "path": f"images/{image_id}.jpg",
                "sha256": r.get("image_sha256", f"sha-{image_id}"),
                "width": 256,
                "height": 256,
                "license": r.get("license", "CC-BY-4.0"),
                "owner": r.get("owner", "package authors"),
                "status": r.get("status", "ok"),
                "page_url": f"https://example.org/{image_id}",
            },
        )
    pd.DataFrame(list(seen.values())).to_parquet(raw / "manifest.parquet", index=False)
    return raw
