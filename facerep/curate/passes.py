"""The two embedding passes of the curate stage, chunk by chunk in worker threads.

Per face the stage decodes a JPEG, hashes its bytes, measures blur and warps 1 + `candidates` chips,
and the network embeds the chips. Each worker thread does all of that for one chunk of faces, its
chips going through the network as full batches (OpenCV, hashlib and torch release the GIL, so the
workers run on separate cores); at most `depth` chunks are in flight
(`facerep.faces.batching.prefetch_map`), and the main thread stores each chunk's results in the
cache (`facerep.curate.cache`), in order, as soon as they exist.

The workers are the parallelism: torch computes each batch on one core (`one_thread_per_op`).
Its intra-op threads meet at a barrier after every layer and spin there when other processes hold
the cores, which cost the stage twice the CPU time on a shared 2-core machine (docs/curate.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

from facerep.curate.cache import ChunkCache
from facerep.curate.config import FilterParams, LocalCropParams
from facerep.curate.embedders import Embedder
from facerep.curate.filters import face_px, image_reason, sharpness
from facerep.curate.retrieval import sample_boxes
from facerep.curate.scoring import global_chip, local_chips
from facerep.errors import InputError
from facerep.faces.batching import prefetch_map
from facerep.progress import track

CHIPS_PER_CHUNK = 64  # chips per network call and per cache part


@contextmanager
def one_thread_per_op() -> Iterator[None]:
    """torch's intra-op threads set to 1 for the duration (restored after: the process goes on)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def load_crop(faces_dir: Path, crop_path: str) -> tuple[np.ndarray, str]:
    """An RGB crop and the sha256 of its bytes."""
    path = faces_dir / crop_path
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: crop listed in faces.parquet cannot be read ({exc.strerror})") from exc
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise InputError(f"{path}: not a decodable image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB), hashlib.sha256(data).hexdigest()


def face_rng(seed: int, face_id: str) -> np.random.Generator:
    """A generator per face, so its candidate crops do not depend on which other faces are present."""
    return np.random.default_rng([seed, int(hashlib.sha256(face_id.encode()).hexdigest()[:15], 16)])


def chunks(rows: Sequence[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(rows), size):
        yield list(rows[i : i + size])


@dataclass(frozen=True)
class FaceTable:
    """What the passes read of faces.parquet, as plain lists the worker threads share read-only."""

    faces_dir: Path
    face_ids: list[str]
    crop_paths: list[str]
    scores: list[float]
    boxes: list[list[float]]
    landmarks: list[np.ndarray]

    @classmethod
    def of(cls, faces: pd.DataFrame, faces_dir: Path) -> FaceTable:
        return cls(
            faces_dir,
            faces["face_id"].astype(str).tolist(),
            faces["crop_path"].astype(str).tolist(),
            faces["score"].astype(float).tolist(),
            [[float(v) for v in b] for b in faces["bbox"]],
            [np.asarray(v, np.float64).reshape(5, 2) for v in faces["landmarks5"]],
        )

    def load(self, i: int) -> tuple[np.ndarray, str]:
        return load_crop(self.faces_dir, self.crop_paths[i])


@dataclass(frozen=True)
class GlobalPass:
    """Per face: its global feature (NaN when filtered out), filter reason, sharpness, crop sha256."""

    feats: np.ndarray
    reasons: list[str]
    sharpness: np.ndarray
    crop_sha: list[str]


def embed_faces(
    table: FaceTable,
    embedder: Embedder,
    filters: FilterParams,
    cache: ChunkCache,
    pool: Executor,
    depth: int,
) -> GlobalPass:
    """Decode every crop, apply the image filters and embed the faces that pass (cached ones are read)."""
    n = len(table.face_ids)
    out = GlobalPass(np.full((n, embedder.dim), np.nan, np.float32), [""] * n, np.zeros(n), [""] * n)

    def work(rows: list[int]) -> tuple[list[tuple[int, str, float, str, bool]], np.ndarray]:
        done, chips = [], []
        for i in rows:
            img, sha = table.load(i)
            sharp = sharpness(img)
            reason = image_reason(table.scores[i], face_px(table.boxes[i]), sharp, filters)
            needed = not reason and cache.get((table.face_ids[i], sha)) is None
            if needed:
                chips.append(global_chip(embedder, img, table.landmarks[i]))
            done.append((i, sha, sharp, reason, needed))
        return done, embedder.embed(chips)

    parts = list(chunks(range(n), CHIPS_PER_CHUNK))
    for done, feats in track(prefetch_map(work, parts, pool, depth), "curate: embed faces", len(parts)):
        fresh = []
        for i, sha, sharp, reason, needed in done:
            out.crop_sha[i], out.sharpness[i], out.reasons[i] = sha, sharp, reason
            if needed:
                fresh.append(i)
            elif not reason:
                out.feats[i] = cache.get((table.face_ids[i], sha))[0]  # type: ignore[index]
        if fresh:
            out.feats[fresh] = feats
            cache.put({(table.face_ids[i], out.crop_sha[i]): (out.feats[i],) for i in fresh})
    return out


def score_local_crops(
    table: FaceTable,
    rows: list[int],
    embedder: Embedder,
    glob: GlobalPass,
    cfg: LocalCropParams,
    seed: int,
    cache: ChunkCache,
    pool: Executor,
    depth: int,
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """For each face of `rows`: its candidate local boxes and their similarities to its global feature
    (ProS section 3), computed for the faces the cache does not hold yet."""

    def key(i: int) -> tuple[str, str]:
        return table.face_ids[i], glob.crop_sha[i]

    def work(part: list[int]) -> tuple[list[int], list[np.ndarray], np.ndarray]:
        boxes, chips = [], []
        for i in part:
            img, _ = table.load(i)
            rng = face_rng(seed, table.face_ids[i])
            boxes.append(sample_boxes(rng, img.shape[1], img.shape[0], cfg.candidates, cfg.scale, cfg.ratio))
            chips += local_chips(embedder, img, table.landmarks[i], boxes[-1], cfg.mode)
        return part, boxes, embedder.embed(chips, bf16=cfg.bf16)

    todo = [i for i in rows if cache.get(key(i)) is None]
    parts = list(chunks(todo, max(1, CHIPS_PER_CHUNK // cfg.candidates)))
    for part, boxes, feats in track(
        prefetch_map(work, parts, pool, depth), "curate: local crops", len(parts)
    ):
        fresh = {}
        start = 0
        for i, face_boxes in zip(part, boxes, strict=True):
            sims = embedder.similarity(glob.feats[i : i + 1], feats[start : start + len(face_boxes)])[0]
            fresh[key(i)] = (face_boxes, sims.astype(np.float32))
            start += len(face_boxes)
        cache.put(fresh)
    found = {i: cache.get(key(i)) for i in rows}
    return {i: (np.asarray(v[0]).reshape(-1, 4), np.asarray(v[1])) for i, v in found.items() if v is not None}
