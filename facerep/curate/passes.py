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
import pyarrow as pa
import pyarrow.compute as pc
import torch

from facerep.curate.cache import ChunkCache
from facerep.curate.config import FilterParams, LocalCropParams
from facerep.curate.embedders import Embedder
from facerep.curate.filters import face_px, image_reason, sharpness
from facerep.curate.retrieval import sample_boxes
from facerep.curate.scoring import global_chip, local_chips
from facerep.errors import InputError
from facerep.faces.batching import prefetch_map
from facerep.io import iter_table
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


def chunks(rows: Sequence[int] | np.ndarray, size: int) -> Iterator[list[int]]:
    for i in range(0, len(rows), size):
        yield [int(r) for r in rows[i : i + size]]


@dataclass(frozen=True)
class FaceTable:
    """What the passes read of faces.parquet, as compact arrays the worker threads share read-only
    (no Python object per face): the string columns in Arrow buffers, the numbers in numpy."""

    faces_dir: Path
    face_ids: np.ndarray  # (n,) fixed-width str
    strings: pa.Table  # image_id, crop_path, source
    scores: np.ndarray  # (n,)
    boxes: np.ndarray  # (n, 4) x1, y1, x2, y2
    landmarks: np.ndarray  # (n, 5, 2)

    @classmethod
    def read(cls, path: Path, faces_dir: Path, required: tuple[str, ...]) -> FaceTable:
        """faces.parquet streamed batch by batch into the arrays (InputError naming what is missing
        or a repeated face_id)."""
        ids: list[np.ndarray] = []
        strings, scores, boxes, landmarks = [], [], [], []
        for batch in iter_table(
            path, required, optional=["source"], missing_hint="run `facerep detect` first"
        ):
            n = batch.num_rows
            source = batch.column("source") if "source" in batch.schema.names else pa.nulls(n, pa.string())
            ids.append(np.asarray(batch.column("face_id").to_pylist(), dtype=str))
            strings.append(
                pa.table(
                    {
                        "image_id": batch.column("image_id").cast(pa.string()),
                        "crop_path": batch.column("crop_path").cast(pa.string()),
                        "source": source.cast(pa.string()),
                    }
                )
            )
            scores.append(batch.column("score").to_numpy(zero_copy_only=False).astype(np.float64))
            boxes.append(_fixed(batch.column("bbox"), 4, path, "bbox"))
            landmarks.append(_fixed(batch.column("landmarks5"), 10, path, "landmarks5").reshape(n, 5, 2))
        table = (
            pa.concat_tables(strings)
            if strings
            else pa.table({c: pa.array([], pa.string()) for c in STRINGS})
        )
        face_ids = np.concatenate(ids) if ids else np.zeros(0, str)
        unique, first, counts = np.unique(face_ids, return_index=True, return_counts=True)
        if len(unique) != len(face_ids):
            raise InputError(f"{path}: duplicate face_id {face_ids[first[counts > 1].min()]}")
        return cls(
            faces_dir,
            face_ids,
            table.combine_chunks(),
            np.concatenate(scores) if scores else np.zeros(0),
            np.concatenate(boxes) if boxes else np.zeros((0, 4)),
            np.concatenate(landmarks) if landmarks else np.zeros((0, 5, 2)),
        )

    def __len__(self) -> int:
        return len(self.face_ids)

    def face_id(self, i: int) -> str:
        return str(self.face_ids[i])

    def load(self, i: int) -> tuple[np.ndarray, str]:
        return load_crop(self.faces_dir, self.strings.column("crop_path")[i].as_py())


STRINGS = ("image_id", "crop_path", "source")


def _fixed(column: pa.Array, width: int, path: Path, name: str) -> np.ndarray:
    """A list column of `width` numbers per row as an (n, width) float64 array."""
    flat = pc.list_flatten(column).to_numpy(zero_copy_only=False).astype(np.float64)
    if flat.size != width * len(column):
        raise InputError(f"{path}: column {name} must hold {width} numbers per face")
    return flat.reshape(len(column), width)


@dataclass(frozen=True)
class GlobalPass:
    """Per face: its global feature (NaN when filtered out), filter reason (a few shared strings),
    sharpness, and the sha256 of its crop (hex, fixed-width str array)."""

    feats: np.ndarray
    reasons: list[str]
    sharpness: np.ndarray
    crop_sha: np.ndarray


def embed_faces(
    table: FaceTable,
    embedder: Embedder,
    filters: FilterParams,
    cache: ChunkCache,
    pool: Executor,
    depth: int,
) -> GlobalPass:
    """Decode every crop, apply the image filters and embed the faces that pass; the features of
    faces the cache holds are streamed back from it afterwards."""
    n = len(table)
    out = GlobalPass(
        np.full((n, embedder.dim), np.nan, np.float32), [""] * n, np.zeros(n), np.zeros(n, "U64")
    )

    def work(rows: list[int]) -> tuple[list[tuple[int, str, float, str, bool]], np.ndarray]:
        done, chips = [], []
        for i in rows:
            img, sha = table.load(i)
            sharp = sharpness(img)
            reason = image_reason(float(table.scores[i]), face_px(table.boxes[i]), sharp, filters)
            needed = not reason and (table.face_id(i), sha) not in cache
            if needed:
                chips.append(global_chip(embedder, img, table.landmarks[i]))
            done.append((i, sha, sharp, reason, needed))
        return done, embedder.embed(chips)

    parts = list(chunks(range(n), CHIPS_PER_CHUNK))
    cached = np.zeros(n, bool)
    for done, feats in track(prefetch_map(work, parts, pool, depth), "curate: embed faces", len(parts)):
        fresh = []
        for i, sha, sharp, reason, needed in done:
            out.crop_sha[i], out.sharpness[i], out.reasons[i] = sha, sharp, reason
            if needed:
                fresh.append(i)
            elif not reason:
                cached[i] = True
        if fresh:
            out.feats[fresh] = feats
            cache.put({(table.face_id(i), str(out.crop_sha[i])): (out.feats[i],) for i in fresh})
    wanted = np.flatnonzero(cached)
    for pos, (feat,) in cache.read(table.face_ids[wanted], out.crop_sha[wanted]):
        out.feats[wanted[pos]] = feat
    return out


def score_local_crops(
    table: FaceTable,
    rows: np.ndarray,
    embedder: Embedder,
    glob: GlobalPass,
    cfg: LocalCropParams,
    seed: int,
    cache: ChunkCache,
    pool: Executor,
    depth: int,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Compute the candidate local boxes of the faces of `rows` the cache does not hold yet, and
    their similarities to each face's global feature (ProS section 3); then yield, for each face of
    `rows`, (row, boxes (k, 4), similarities (k,)), streamed back from the cache."""

    def key(i: int) -> tuple[str, str]:
        return table.face_id(i), str(glob.crop_sha[i])

    def work(part: list[int]) -> tuple[list[int], list[np.ndarray], np.ndarray]:
        boxes, chips = [], []
        for i in part:
            img, _ = table.load(i)
            rng = face_rng(seed, table.face_id(i))
            boxes.append(sample_boxes(rng, img.shape[1], img.shape[0], cfg.candidates, cfg.scale, cfg.ratio))
            chips += local_chips(embedder, img, table.landmarks[i], boxes[-1], cfg.mode)
        return part, boxes, embedder.embed(chips, bf16=cfg.bf16)

    todo = rows[np.fromiter((key(i) not in cache for i in rows), bool, len(rows))]
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
    for pos, (boxes, sims) in cache.read(table.face_ids[rows], glob.crop_sha[rows]):
        yield int(rows[pos]), boxes.reshape(-1, 4), sims
