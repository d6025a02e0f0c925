"""Per-image work of the detect stage and the pipelined loop that runs it.

Three kinds of work overlap in one thread pool: decoding + resizing, the network (letterboxed
batches; ONNX Runtime and torch release the GIL) and cropping + JPEG encoding + writing. Memory
stays bounded: at most `2 * batch_size` decoded images wait in the prefetch queue, at most
`2 * batch_size` more wait for a batch of their canvas shape, and a decoded image is dropped as soon
as its crops are written.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from facerep.cores import resolve_workers
from facerep.faces.batching import Prepared, canvas_shape, grouped_batches, prefetch_map
from facerep.faces.config import DetectParams
from facerep.faces.crop import crop_face, face_size
from facerep.faces.detector import Detections, Detector
from facerep.faces.inputs import CARRIED_COLUMNS, ImageError, load_rgb, resolve
from facerep.faces.store import CROPS_DIR, FACE_COLUMNS, IMAGE_COLUMNS, FaceStore
from facerep.io import write_bytes


@dataclass
class Loaded:
    """One manifest row after decoding: the image and its prepared network input, or a reason."""

    row: dict[str, Any]
    image: np.ndarray | None = None
    prepared: Prepared | None = None
    reason: str | None = None


@dataclass
class ImageResult:
    """What one image contributes to the store."""

    image_row: dict[str, Any]
    face_rows: list[dict[str, Any]] = field(default_factory=list)


def face_id(image_id: str, box: np.ndarray) -> str:
    """A stable id from the image id and the box rounded to whole pixels (same input, same id)."""
    key = f"{image_id}|" + ",".join(str(round(float(v))) for v in box)
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def crop_relpath(fid: str) -> str:
    """Where a crop lives under `paths.faces` (256 sub-directories keep directories small)."""
    return f"{CROPS_DIR}/{fid[:2]}/{fid}.jpg"


def encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    """JPEG bytes of an RGB image (OpenCV's libjpeg-turbo encoder releases the GIL)."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def load(row: dict[str, Any], raw_dir: Path, detector: Detector) -> Loaded:
    """Decode and prepare one manifest row (runs in the pool)."""
    try:
        image = load_rgb(resolve(raw_dir, str(row["path"])))
    except ImageError as exc:
        return Loaded(row, reason=str(exc))
    return Loaded(row, image=image, prepared=detector.prepare(image))


def finish(item: Loaded, det: Detections | None, faces_dir: Path, params: DetectParams) -> ImageResult:
    """Write the crops of one image, then return its rows (runs in the pool)."""
    row = item.row
    carried = {c: row[c] for c in CARRIED_COLUMNS if c in row}
    if item.image is None or det is None:
        status = {"image_id": row["image_id"], "status": item.reason, "n_faces": 0, "width": 0, "height": 0}
        return ImageResult(status)
    h, w = item.image.shape[:2]
    faces, seen = [], set()
    for k in range(len(det)):
        box, lm = det.boxes[k], det.landmarks5[k]
        fid = face_id(row["image_id"], box)
        if fid in seen:
            fid = face_id(f"{row['image_id']}#{k}", box)
        seen.add(fid)
        crop, lm_crop, _ = crop_face(
            item.image, box, lm, params.crop.size, params.crop.face_px, params.crop.padding
        )
        rel = crop_relpath(fid)
        write_bytes(faces_dir / rel, encode_jpeg(crop, params.jpeg_quality))
        faces.append(
            {
                "face_id": fid,
                "image_id": row["image_id"],
                "face_index": k,
                "bbox": [float(v) for v in box],
                "score": float(det.scores[k]),
                "landmarks5": [float(v) for v in lm_crop.reshape(-1)],
                "crop_path": rel,
                "face_px": face_size(box),
                **carried,
            }
        )
    status = {"image_id": row["image_id"], "status": "ok", "n_faces": len(faces), "width": w, "height": h}
    return ImageResult(status, faces)


def _commit(store: FaceStore, pending: list[Future[ImageResult]]) -> None:
    """Wait for a chunk's images (their crops are then on disk) and commit their rows."""
    results = [f.result() for f in pending]
    face_rows = [r for res in results for r in res.face_rows]
    faces = pd.DataFrame(face_rows) if face_rows else pd.DataFrame(columns=list(FACE_COLUMNS))
    images = pd.DataFrame([res.image_row for res in results], columns=list(IMAGE_COLUMNS))
    store.commit(faces, images)


def batch_key(item: Loaded) -> tuple[int, int]:
    """Batching key: the letterbox canvas shape; unusable images (no network input) go together."""
    return (0, 0) if item.prepared is None else canvas_shape(item.prepared)


def _detect(detector: Detector, batch: list[Loaded]) -> list[Detections | None]:
    """Run the network on the usable images of a batch; None for the unusable ones (runs in the pool)."""
    usable = [item.prepared for item in batch if item.prepared is not None]
    dets = iter(detector.detect_prepared(usable))
    return [next(dets) if item.prepared is not None else None for item in batch]


def run_detection(
    rows: Iterable[dict[str, Any]],
    detector: Detector,
    raw_dir: Path,
    store: FaceStore,
    params: DetectParams,
) -> Iterator[int]:
    """Detect, crop and commit `rows` chunk by chunk; yields the number of images after each batch
    (for progress). Every kind of work runs in one pool of `detect.workers` threads; up to
    `detector.parallel_batches` batches are in the network at once (on a CPU, one single-threaded
    network call per core beats one call spread over all cores), and the crops of a batch are
    written while later batches are decoded and detected."""
    depth = 2 * params.batch_size
    lanes = max(1, detector.parallel_batches)
    with ThreadPoolExecutor(max_workers=resolve_workers(params.workers), thread_name_prefix="detect") as pool:
        stream = prefetch_map(lambda r: load(r, raw_dir, detector), rows, pool, depth)
        inflight: deque[tuple[list[Loaded], Future[list[Detections | None]]]] = deque()
        pending: list[Future[ImageResult]] = []

        def drain() -> int:
            batch, future = inflight.popleft()
            for item, det in zip(batch, future.result(), strict=True):
                pending.append(pool.submit(finish, item, det, store.root, params))
            return len(batch)

        for batch in grouped_batches(stream, params.batch_size, batch_key):
            inflight.append((batch, pool.submit(_detect, detector, batch)))
            del batch
            while len(inflight) >= lanes:
                yield drain()
                if len(pending) >= params.chunk_size:
                    _commit(store, pending)
                    pending = []
        while inflight:
            yield drain()
        if pending:
            _commit(store, pending)
