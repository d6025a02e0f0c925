"""The synth stage: render SynthFaces faces, scenes and videos under `paths.synth`.

Work is split into units (a chunk of faces, a few scenes, one clip) rendered in a process pool.
Every item draws from its own RNG stream keyed by (seed, item index), so the files are identical
whatever the number of workers or the order units finish in. Each unit writes its files atomically
and then a small Parquet part with its label rows, so an interrupted run resumes at the first
missing part; the product's labels table and a manifest are written last, and a re-run with the
same parameters finds the manifest and skips the product.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import cv2
import pandas as pd

from facerep.cores import resolve_workers
from facerep.io import fingerprint, write_bytes, write_json, write_parquet
from facerep.params import Params
from facerep.progress import track
from facerep.stages import StageResult
from facerep.synth import layout
from facerep.synth.config import SynthParams
from facerep.synth.faces import FACE_FRACTION, face_labels, face_split, render_face
from facerep.synth.imaging import degrade, encode_png
from facerep.synth.preview import write_contact_sheet
from facerep.synth.sample import sample_face
from facerep.synth.scenes import render_scene, scene_bytes
from facerep.synth.videos import encode_mp4, render_clip

#: Bump when rendering changes, so old outputs are not mistaken for current ones.
RENDER_VERSION = 1
SCENES_PER_UNIT = 8


def _key(product: str, seed: int, sp: SynthParams) -> str:
    """A fingerprint of everything that changes a product's files (not its count)."""
    fields: dict[str, Any] = {"version": RENDER_VERSION, "seed": seed, "identities": sp.identities}
    if product == "faces":
        fields.update(sizes=sorted(set(sp.sizes)), test_fraction=sp.test_fraction)
    elif product == "scenes":
        fields.update(size=list(sp.scene_size), face=list(sp.scene_face_px), max_faces=sp.scene_max_faces)
    else:
        fields.update(seconds=sp.video_seconds, fps=sp.video_fps, size=sp.video_size)
    return fingerprint(fields, 16)


def _worker_init() -> None:
    cv2.setNumThreads(1)


def face_unit(root: str, seed: int, sp: SynthParams, start: int, stop: int) -> list[dict[str, Any]]:
    """Render faces [start, stop): the largest size once, smaller sizes by area resampling."""
    sizes = sorted(set(sp.sizes), reverse=True)
    rows = []
    for index in range(start, stop):
        s = sample_face(seed, index, sp.identities)
        clean, lm = render_face(s, sizes[0], clean=True)
        fid = layout.face_id(index)
        file = f"{fid}.png"
        for size in sizes:
            img = clean if size == sizes[0] else cv2.resize(clean, (size, size), interpolation=cv2.INTER_AREA)
            img = degrade(img, s.degradation, FACE_FRACTION * size)
            write_bytes(layout.face_image_path(root, size, file), encode_png(img))
        row: dict[str, Any] = {"face_id": fid, "file": file}
        labels = face_labels(s, lm, sizes[0])
        row["identity"] = labels.pop("identity")
        row["split"] = face_split(seed, index, sp.test_fraction)
        row.update(labels)
        rows.append(row)
    return rows


def scene_unit(root: str, seed: int, sp: SynthParams, start: int, stop: int) -> list[dict[str, Any]]:
    """Render scenes [start, stop) as JPEGs with their ground-truth rows."""
    rows = []
    for index in range(start, stop):
        scene = render_scene(seed, index, sp.identities, sp.scene_size, sp.scene_face_px, sp.scene_max_faces)
        file = layout.scene_file(index)
        write_bytes(Path(root) / layout.SCENE_IMAGES / file, scene_bytes(scene))
        h, w = scene.image.shape[:2]
        rows.append(
            {
                "scene_id": f"scene_{index:06d}",
                "file": file,
                "width": w,
                "height": h,
                "boxes": scene.boxes,
                "landmarks5": scene.landmarks5,
                "identities": scene.identities,
                "occluded": scene.occluded,
            }
        )
    return rows


def video_unit(root: str, seed: int, sp: SynthParams, start: int, stop: int) -> list[dict[str, Any]]:
    """Render and encode clips [start, stop) with their per-frame rows."""
    rows: list[dict[str, Any]] = []
    for index in range(start, stop):
        clip = render_clip(seed, index, sp.identities, sp.video_seconds, sp.video_fps, sp.video_size)
        write_bytes(Path(root) / layout.VIDEOS_DIR / clip.path, encode_mp4(clip.frames, sp.video_fps))
        rows.extend(clip.rows)
    return rows


UnitFn = Callable[[str, int, SynthParams, int, int], list[dict[str, Any]]]


def _units(count: int, size: int) -> list[tuple[int, int]]:
    return [(a, min(a + size, count)) for a in range(0, count, size)]


def _run_units(
    fn: UnitFn,
    root: Path,
    seed: int,
    sp: SynthParams,
    units: Sequence[tuple[int, int]],
    parts: Path,
    what: str,
) -> None:
    """Run the missing units (those without a part file), in a process pool when worth it."""
    todo = [(a, b) for a, b in units if not (parts / f"{a:07d}-{b:07d}.parquet").exists()]
    if not todo:
        return

    def save(rows: list[dict[str, Any]], a: int, b: int) -> None:
        write_parquet(parts / f"{a:07d}-{b:07d}.parquet", pd.DataFrame(rows))

    workers = resolve_workers(sp.workers)
    if workers == 1 or len(todo) == 1:
        for a, b in track(todo, what):
            save(fn(str(root), seed, sp, a, b), a, b)
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(workers, len(todo)), mp_context=ctx, initializer=_worker_init) as pool:
        futures: dict[Future, tuple[int, int]] = {
            pool.submit(fn, str(root), seed, sp, a, b): (a, b) for a, b in todo
        }
        for fut in track(as_completed(futures), what, total=len(futures)):
            a, b = futures[fut]
            save(fut.result(), a, b)


def _product(
    name: str, fn: UnitFn, labels: str, root: Path, seed: int, sp: SynthParams, count: int, unit: int
) -> tuple[int, float, bool]:
    """Render one product unless its manifest says it is complete; returns (rows, seconds, skipped)."""
    key = _key(name, seed, sp)
    manifest = root / name / "manifest.json"
    if manifest.exists() and (root / labels).exists():
        done = json.loads(manifest.read_text())
        if done.get("key") == key and done.get("count") == count:
            return int(done["rows"]), 0.0, True
    start = time.perf_counter()
    parts = root / name / ".parts" / key
    units = _units(count, unit)
    _run_units(fn, root, seed, sp, units, parts, f"synth {name}")
    frames = [pd.read_parquet(parts / f"{a:07d}-{b:07d}.parquet") for a, b in units]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=_columns(name))
    write_parquet(root / labels, table)
    write_json(manifest, {"key": key, "count": count, "rows": len(table)})
    shutil.rmtree(root / name / ".parts", ignore_errors=True)
    return len(table), time.perf_counter() - start, False


def _columns(name: str) -> tuple[str, ...]:
    return {"faces": layout.FACE_COLUMNS, "scenes": layout.SCENE_COLUMNS, "videos": layout.FRAME_COLUMNS}[
        name
    ]


def run(params: Params, tracker: Any) -> StageResult:
    """Render every SynthFaces product under `paths.synth`; skip products already complete."""
    root = Path(params.paths.synth)
    sp = params.synth
    seed = params.seed
    t0 = time.perf_counter()
    n_faces, t_faces, skip_f = _product(
        "faces", face_unit, layout.FACE_LABELS, root, seed, sp, sp.faces, sp.chunk
    )
    n_scenes, t_scenes, skip_s = _product(
        "scenes", scene_unit, layout.SCENE_LABELS, root, seed, sp, sp.scenes, SCENES_PER_UNIT
    )
    n_frames, t_videos, skip_v = _product(
        "videos", video_unit, layout.FRAME_LABELS, root, seed, sp, sp.videos, 1
    )
    preview = write_contact_sheet(params, root / "preview.png", 24)
    metrics = {
        "faces": float(n_faces),
        "scenes": float(n_scenes),
        "videos": float(sp.videos),
        "video_frames": float(n_frames),
        "faces_seconds": t_faces,
        "scenes_seconds": t_scenes,
        "videos_seconds": t_videos,
        "seconds": time.perf_counter() - t0,
        "skipped_products": float(skip_f + skip_s + skip_v),
    }
    if t_faces > 0:
        metrics["faces_per_s"] = n_faces / t_faces
    return StageResult(
        metrics=metrics,
        artifacts=[preview],
        outputs=[root / layout.FACE_LABELS, root / layout.SCENE_LABELS, root / layout.FRAME_LABELS],
    )
