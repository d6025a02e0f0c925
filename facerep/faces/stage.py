"""`facerep detect`: faces of every usable harvested image, cropped as in Bulat et al. (A.1).

Reads `<paths.raw>/manifest.parquet` (status ok rows), writes `<paths.faces>/faces.parquet` (one row
per face: face_id, image_id, bbox in source px, score, landmarks5 in crop px, crop_path, face_px and
the manifest's attribution columns), `images.parquet` (one row per image: status ok or the reason it
was unusable, n_faces) and the crops. Re-running skips images already committed (`FaceStore`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from facerep.faces.detector import build_detector
from facerep.faces.inputs import read_manifest
from facerep.faces.plots import face_size_plot, faces_per_image_plot, score_plot
from facerep.faces.process import run_detection
from facerep.faces.store import FACES_FILE, IMAGES_FILE, FaceStore
from facerep.io import write_json
from facerep.params import Params
from facerep.progress import track
from facerep.stages import StageResult
from facerep.tracking import Tracker

PLOTS_DIR = "plots"


def run(params: Params, tracker: Tracker) -> StageResult:
    """Detect and crop the faces of every status-ok manifest row not yet done."""
    raw_dir, faces_dir = Path(params.paths.raw), Path(params.paths.faces)
    manifest = read_manifest(raw_dir)
    store = FaceStore(faces_dir)
    settings = output_settings(params)
    keep = store.settings_match(settings)
    done = set(store.done_images()["image_id"]) if keep else set()
    todo = manifest[~manifest["image_id"].isin(done)]
    detector = build_detector(params.detect) if len(todo) else None
    if not keep:
        store.reset(settings)
    store.recover()
    start = time.perf_counter()
    processed = 0
    if detector is not None:
        rows = todo.to_dict("records")
        logged = 0
        for n in track(run_detection(rows, detector, raw_dir, store, params.detect), "detect", len(rows)):
            processed += n
            if processed - logged >= params.detect.chunk_size:
                rate = processed / (time.perf_counter() - start)
                tracker.log_metrics({"images_done": processed, "images_per_s_running": rate}, step=processed)
                logged = processed
    elapsed = time.perf_counter() - start
    faces, images = store.consolidate(manifest)
    metrics = summarise(faces, images)
    metrics["images_processed"] = float(processed)
    if processed:
        metrics["images_per_s"] = processed / elapsed
    ok_counts = images.loc[images["status"] == "ok", "n_faces"].to_numpy(int)
    plots = faces_dir / PLOTS_DIR
    plots.mkdir(parents=True, exist_ok=True)
    artifacts = [
        face_size_plot(faces["face_px"].to_numpy(float), plots / "face_sizes.png"),
        score_plot(faces["score"].to_numpy(float), plots / "scores.png"),
        faces_per_image_plot(ok_counts, plots / "faces_per_image.png"),
    ]
    write_json(faces_dir / "summary.json", metrics)
    artifacts.append(faces_dir / "summary.json")
    outputs = [faces_dir / FACES_FILE, faces_dir / IMAGES_FILE]
    return StageResult(metrics=metrics, artifacts=artifacts, outputs=outputs)


def output_settings(params: Params) -> dict:
    """The parameters that change what the stage writes (not how fast it writes it)."""
    return params.detect.model_dump(mode="json", exclude={"workers", "chunk_size", "batch_size"})


def summarise(faces: pd.DataFrame, images: pd.DataFrame) -> dict[str, float]:
    """Counts and distributions over the whole store (not only this run)."""
    ok = images["status"] == "ok"
    n_faces = images.loc[ok, "n_faces"].to_numpy(float)
    sizes = faces["face_px"].to_numpy(float)
    return {
        "images": float(len(images)),
        "images_failed": float((~ok).sum()),
        "images_with_faces": float((n_faces > 0).sum()),
        "faces": float(len(faces)),
        "faces_per_image": float(n_faces.mean()) if n_faces.size else 0.0,
        "score_mean": float(faces["score"].to_numpy(float).mean()) if len(faces) else 0.0,
        "face_px_median": float(np.median(sizes)) if sizes.size else 0.0,
    }
