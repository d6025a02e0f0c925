"""`facerep detect`: faces of every usable harvested image, cropped as in Bulat et al. (A.1).

Reads `<paths.raw>/manifest.parquet` (status ok rows), writes `<paths.faces>/faces.parquet` (one row
per face: face_id, image_id, bbox in source px, score, landmarks5 in crop px, crop_path, face_px and
the manifest's attribution columns), `images.parquet` (one row per image: status ok or the reason it
was unusable, n_faces) and the crops. Re-running skips images already committed (`FaceStore`).
The manifest streams through the detector and the outputs are consolidated by streaming
(`facerep.faces.store`): memory holds the ids of committed images when resuming and two floats per
face for the plots, not the tables.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from facerep.faces.detector import build_detector
from facerep.faces.inputs import count_todo, ok_rows
from facerep.faces.plots import face_size_plot, faces_per_image_plot, score_plot
from facerep.faces.process import run_detection
from facerep.faces.store import FACES_FILE, IMAGES_FILE, FaceStore, StoreStats
from facerep.io import write_json
from facerep.params import Params
from facerep.progress import track
from facerep.stages import StageResult
from facerep.tracking import Tracker

PLOTS_DIR = "plots"


def run(params: Params, tracker: Tracker) -> StageResult:
    """Detect and crop the faces of every status-ok manifest row not yet done."""
    raw_dir, faces_dir = Path(params.paths.raw), Path(params.paths.faces)
    manifest = raw_dir / "manifest.parquet"
    store = FaceStore(faces_dir)
    settings = output_settings(params)
    keep = store.settings_match(settings)
    done = store.done_ids() if keep else set()
    todo = count_todo(manifest, done)
    detector = build_detector(params.detect) if todo else None
    if not keep:
        store.reset(settings)
    store.recover()
    start = time.perf_counter()
    processed = 0
    if detector is not None:
        rows = ok_rows(manifest, done)
        logged = 0
        for n in track(run_detection(rows, detector, raw_dir, store, params.detect), "detect", todo):
            processed += n
            if processed - logged >= params.detect.chunk_size:
                rate = processed / (time.perf_counter() - start)
                tracker.log_metrics({"images_done": processed, "images_per_s_running": rate}, step=processed)
                logged = processed
    elapsed = time.perf_counter() - start
    stats = store.consolidate(manifest)
    metrics = summarise(stats)
    metrics["images_processed"] = float(processed)
    if processed:
        metrics["images_per_s"] = processed / elapsed
    plots = faces_dir / PLOTS_DIR
    plots.mkdir(parents=True, exist_ok=True)
    artifacts = [
        face_size_plot(stats.face_px, plots / "face_sizes.png"),
        score_plot(stats.score, plots / "scores.png"),
        faces_per_image_plot(stats.n_faces, plots / "faces_per_image.png"),
    ]
    write_json(faces_dir / "summary.json", metrics)
    artifacts.append(faces_dir / "summary.json")
    outputs = [faces_dir / FACES_FILE, faces_dir / IMAGES_FILE]
    return StageResult(metrics=metrics, artifacts=artifacts, outputs=outputs)


def output_settings(params: Params) -> dict:
    """The parameters that change what the stage writes (not how fast it writes it)."""
    return params.detect.model_dump(mode="json", exclude={"workers", "chunk_size", "batch_size"})


def summarise(stats: StoreStats) -> dict[str, float]:
    """Counts and distributions over the whole store (not only this run)."""
    n_faces, sizes = stats.n_faces.astype(float), stats.face_px
    return {
        "images": float(stats.images),
        "images_failed": float(stats.failed),
        "images_with_faces": float((n_faces > 0).sum()),
        "faces": float(len(sizes)),
        "faces_per_image": float(n_faces.mean()) if n_faces.size else 0.0,
        "score_mean": float(stats.score.mean()) if stats.score.size else 0.0,
        "face_px_median": float(np.median(sizes)) if sizes.size else 0.0,
    }
