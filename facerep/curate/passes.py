"""The two embedding passes of the curate stage, with decoding and alignment in worker threads.

Per face the stage decodes a JPEG, hashes its bytes, measures blur and warps 1 + `candidates` chips;
the network then embeds the chips. Worker threads (OpenCV, hashlib and torch release the GIL)
prepare the next chunks while the network embeds the current one, with at most a few chunks in
flight (`facerep.faces.batching.prefetch_map`), and each chunk's chips go through the network in
full batches. Every chunk's results go to the cache (`facerep.curate.cache`) as soon as they exist.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

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

    def prepare(rows: list[int]) -> list[tuple[int, str, float, str, np.ndarray | None]]:
        done = []
        for i in rows:
            img, sha = table.load(i)
            sharp = sharpness(img)
            reason = image_reason(table.scores[i], face_px(table.boxes[i]), sharp, filters)
            needed = not reason and cache.get((table.face_ids[i], sha)) is None
            chip = global_chip(embedder, img, table.landmarks[i]) if needed else None
            done.append((i, sha, sharp, reason, chip))
        return done

    parts = list(chunks(range(n), CHIPS_PER_CHUNK))
    for prepared in track(prefetch_map(prepare, parts, pool, depth), "curate: embed faces", len(parts)):
        fresh: dict[int, np.ndarray] = {}
        for i, sha, sharp, reason, chip in prepared:
            out.crop_sha[i], out.sharpness[i], out.reasons[i] = sha, sharp, reason
            if chip is not None:
                fresh[i] = chip
            elif not reason:
                out.feats[i] = cache.get((table.face_ids[i], sha))[0]  # type: ignore[index]
        if fresh:
            idx = list(fresh)
            out.feats[idx] = embedder.embed(list(fresh.values()))
            cache.put({(table.face_ids[i], out.crop_sha[i]): (out.feats[i],) for i in idx})
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

    def prepare(part: list[int]) -> list[tuple[int, np.ndarray, list[np.ndarray]]]:
        done = []
        for i in part:
            img, _ = table.load(i)
            rng = face_rng(seed, table.face_ids[i])
            boxes = sample_boxes(rng, img.shape[1], img.shape[0], cfg.candidates, cfg.scale, cfg.ratio)
            done.append((i, boxes, local_chips(embedder, img, table.landmarks[i], boxes, cfg.mode)))
        return done

    todo = [i for i in rows if cache.get(key(i)) is None]
    parts = list(chunks(todo, max(1, CHIPS_PER_CHUNK // cfg.candidates)))
    for prepared in track(prefetch_map(prepare, parts, pool, depth), "curate: local crops", len(parts)):
        feats = embedder.embed([chip for _, _, chips in prepared for chip in chips])
        fresh = {}
        start = 0
        for i, boxes, chips in prepared:
            sims = embedder.similarity(glob.feats[i : i + 1], feats[start : start + len(chips)])[0]
            fresh[key(i)] = (boxes, sims.astype(np.float32))
            start += len(chips)
        cache.put(fresh)
    found = {i: cache.get(key(i)) for i in rows}
    return {i: (np.asarray(v[0]).reshape(-1, 4), np.asarray(v[1])) for i, v in found.items() if v is not None}
