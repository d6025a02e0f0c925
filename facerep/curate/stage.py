"""`facerep curate`: quality filters, near-duplicate removal and ProS local-crop retrieval.

Reads `<paths.faces>/faces.parquet` (+ crops) and, when present, `<paths.raw>/manifest.parquet`
(for the source images' sha256), and writes under `paths.curated`:
- `curated.parquet`: one row per detected face with `face_id`, `keep`, `reason` ('' when kept),
  `dup_of` (the representative's face_id for a duplicate), `local_boxes` (accepted local crops,
  [x1, y1, x2, y2, similarity] in crop pixels), `local_fallback` (fewer than `min_kept` accepted:
  the loader draws random local crops for this face), plus `source`, `image_id`, `sharpness`,
  `embedding_norm`;
- `embeddings.npy` + `embeddings.json` (embedder name and the face_id of each row);
- `redundancy.md` / `.csv` / `.png` (duplicates per source).
The order of work keeps the costly part small: filters, then one global embedding per face, then
duplicates, and local crops only for the faces that remain. Embeddings and the similarities of all
candidate crops are cached chunk by chunk under `cache/` (`facerep.curate.cache`): a killed run
resumes, and a re-run with new thresholds embeds nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from facerep.curate.cache import ChunkCache, digest
from facerep.curate.config import CurateParams
from facerep.curate.dedup import exact_pairs, near_pairs, representatives
from facerep.curate.embedders import Embedder, make_embedder
from facerep.curate.filters import face_px, image_reason, norm_reason, sharpness
from facerep.curate.report import redundancy_table, write_redundancy_report
from facerep.curate.retrieval import accepted_boxes, sample_boxes
from facerep.curate.scoring import global_features, local_similarities
from facerep.errors import InputError
from facerep.io import atomic_path, write_json, write_parquet
from facerep.params import Params
from facerep.progress import track
from facerep.stages import StageResult
from facerep.tracking import Tracker

FACE_COLUMNS = ("face_id", "image_id", "bbox", "score", "landmarks5", "crop_path")
CHUNK = 64


def read_faces(faces_dir: Path) -> pd.DataFrame:
    """faces.parquet with its contract columns checked (InputError naming what is missing)."""
    path = faces_dir / "faces.parquet"
    if not path.is_file():
        raise InputError(f"{path}: not found; run `facerep detect` first")
    faces = pd.read_parquet(path)
    missing = [c for c in FACE_COLUMNS if c not in faces.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    if faces["face_id"].duplicated().any():
        raise InputError(
            f"{path}: duplicate face_id {faces['face_id'][faces['face_id'].duplicated()].iloc[0]}"
        )
    for col in ("source", "license", "owner"):
        if col not in faces.columns:
            faces[col] = None
    return faces.reset_index(drop=True)


def image_sha256(raw_dir: Path, faces: pd.DataFrame) -> list[str | None]:
    """Per face, the sha256 of its source image from the harvest manifest (None without one)."""
    path = raw_dir / "manifest.parquet"
    if not path.is_file():
        return [None] * len(faces)
    manifest = pd.read_parquet(path, columns=["image_id", "sha256"])
    lookup = dict(zip(manifest["image_id"], manifest["sha256"], strict=True))
    return [lookup.get(i) for i in faces["image_id"]]


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


def _chunks(rows: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def run(params: Params, tracker: Tracker) -> StageResult:
    """Curate the detected faces (see the module docstring for the outputs)."""
    cfg = params.curate
    faces_dir, out_dir = Path(params.paths.faces), Path(params.paths.curated)
    embedder = make_embedder(cfg)
    faces = read_faces(faces_dir)
    n = len(faces)
    reasons = [""] * n
    sharp = np.zeros(n)
    crop_sha: list[str | None] = [None] * n
    landmarks = [np.asarray(v, np.float64).reshape(5, 2) for v in faces["landmarks5"]]

    feats = np.full((n, embedder.dim), np.nan, np.float32)
    cache = ChunkCache(out_dir / "cache" / f"global-{digest({'embedder': embedder.identity})}", ("feature",))
    for rows in track(list(_chunks(list(range(n)), CHUNK)), "curate: embed faces"):
        todo = {}
        for i in rows:
            img, crop_sha[i] = load_crop(faces_dir, faces.at[i, "crop_path"])
            sharp[i] = sharpness(img)
            box = faces.at[i, "bbox"]
            reasons[i] = image_reason(float(faces.at[i, "score"]), face_px(box), sharp[i], cfg.filters)
            if reasons[i]:
                continue
            hit = cache.get((str(faces.at[i, "face_id"]), crop_sha[i]))
            if hit is None:
                todo[i] = img
            else:
                feats[i] = hit[0]
        if todo:
            idx = list(todo)
            feats[idx] = global_features(embedder, [todo[i] for i in idx], [landmarks[i] for i in idx])
            cache.put({(str(faces.at[i, "face_id"]), crop_sha[i]): (feats[i],) for i in idx})
    norms = np.linalg.norm(np.nan_to_num(feats), axis=1)
    for i in range(n):
        if not reasons[i]:
            reasons[i] = norm_reason(float(norms[i]), cfg.filters)

    dup_of = _deduplicate(
        faces, embedder, feats, reasons, crop_sha, image_sha256(Path(params.paths.raw), faces), cfg
    )
    local, fallback = _retrieve_local(faces, faces_dir, embedder, feats, reasons, landmarks, crop_sha, params)

    keep = [not r for r in reasons]
    curated = pd.DataFrame(
        {
            "face_id": faces["face_id"].astype(str),
            "keep": keep,
            "reason": reasons,
            "dup_of": dup_of,
            "local_boxes": local,
            "local_fallback": fallback,
            "source": faces["source"],
            "image_id": faces["image_id"],
            "sharpness": sharp,
            "embedding_norm": norms,
        }
    )
    embedded = [i for i in range(n) if np.isfinite(feats[i]).all()]
    with atomic_path(out_dir / "embeddings.npy") as tmp, open(tmp, "wb") as f:
        np.save(f, feats[embedded])
    write_json(
        out_dir / "embeddings.json",
        {
            "embedder": embedder.name,
            "dim": embedder.dim,
            "face_ids": [str(faces.at[i, "face_id"]) for i in embedded],
        },
    )
    table = redundancy_table(curated)
    report = write_redundancy_report(table, out_dir)
    write_parquet(out_dir / "curated.parquet", curated)
    return StageResult(
        metrics=_metrics(curated), artifacts=report, outputs=[out_dir / "curated.parquet", *report]
    )


def _deduplicate(
    faces: pd.DataFrame,
    embedder: Embedder,
    feats: np.ndarray,
    reasons: list[str],
    crop_sha: list[str | None],
    source_sha: list[str | None],
    cfg: CurateParams,
) -> list[str | None]:
    """Mark duplicates in `reasons` and return `dup_of` (representative face_id) per face."""
    live = [i for i, r in enumerate(reasons) if not r]
    dup_of: list[str | None] = [None] * len(faces)
    if len(live) < 2:
        return dup_of
    boxes = [tuple(round(float(v)) for v in faces.at[i, "bbox"]) for i in live]
    source_keys = [
        f"{source_sha[i]}:{b}" if source_sha[i] else None for i, b in zip(live, boxes, strict=True)
    ]
    exact = exact_pairs([crop_sha[i] for i in live]) + exact_pairs(source_keys)
    near = near_pairs(
        embedder.index_vectors(feats[live]),
        embedder.similarity_from_sqdist,
        cfg.dedup_threshold(),
        cfg.dedup.neighbours,
        cfg.dedup.index,
    )
    exact_members = {j for pair in exact for j in pair}
    priority = [float(faces.at[i, "score"]) for i in live]
    reps = representatives(len(live), exact + [(a, b) for a, b, _ in near], priority)
    for pos, i in enumerate(live):
        rep = int(reps[pos])
        if rep != pos:
            dup_of[i] = str(faces.at[live[rep], "face_id"])
            reasons[i] = (
                "exact_duplicate" if pos in exact_members and rep in exact_members else "near_duplicate"
            )
    return dup_of


def _retrieve_local(
    faces: pd.DataFrame,
    faces_dir: Path,
    embedder: Embedder,
    feats: np.ndarray,
    reasons: list[str],
    landmarks: list[np.ndarray],
    crop_sha: list[str | None],
    params: Params,
) -> tuple[list[list[list[float]]], list[bool]]:
    """ProS retrieval for the kept faces: accepted local boxes and the fallback flag per face.

    Similarities of all candidates come from the cache when present; acceptance is recomputed.
    """
    cfg = params.curate.local
    theta = params.curate.local_theta()
    spec = {
        "embedder": embedder.identity,
        "seed": params.seed,
        **cfg.model_dump(exclude={"theta", "min_kept"}),
    }
    cache = ChunkCache(Path(params.paths.curated) / "cache" / f"local-{digest(spec)}", ("boxes", "sims"))
    n = len(faces)
    local: list[list[list[float]]] = [[] for _ in range(n)]
    fallback = [True] * n
    kept = [i for i, r in enumerate(reasons) if not r]
    for rows in track(list(_chunks(kept, max(1, CHUNK // 4))), "curate: local crops"):
        found = {i: cache.get((str(faces.at[i, "face_id"]), str(crop_sha[i]))) for i in rows}
        todo = [i for i in rows if found[i] is None]
        if todo:
            imgs = [load_crop(faces_dir, faces.at[i, "crop_path"])[0] for i in todo]
            boxes = [
                sample_boxes(
                    face_rng(params.seed, str(faces.at[i, "face_id"])),
                    img.shape[1],
                    img.shape[0],
                    cfg.candidates,
                    cfg.scale,
                    cfg.ratio,
                )
                for i, img in zip(todo, imgs, strict=True)
            ]
            sims = local_similarities(
                embedder, feats[todo], imgs, [landmarks[i] for i in todo], boxes, cfg.mode
            )
            fresh = {
                (str(faces.at[i, "face_id"]), str(crop_sha[i])): (b, s)
                for i, b, s in zip(todo, boxes, sims, strict=True)
            }
            cache.put(fresh)
            found.update({i: fresh[(str(faces.at[i, "face_id"]), str(crop_sha[i]))] for i in todo})
        for i in rows:
            boxes_i, sims_i = found[i]
            local[i] = accepted_boxes(np.asarray(boxes_i).reshape(-1, 4), np.asarray(sims_i), theta)
            fallback[i] = len(local[i]) < cfg.min_kept
    return local, fallback


def _metrics(curated: pd.DataFrame) -> dict[str, float]:
    kept = curated[curated["keep"]]
    return {
        "faces": float(len(curated)),
        "kept": float(len(kept)),
        "exact_duplicates": float((curated["reason"] == "exact_duplicate").sum()),
        "near_duplicates": float((curated["reason"] == "near_duplicate").sum()),
        "filtered": float((~curated["reason"].isin(["", "exact_duplicate", "near_duplicate"])).sum()),
        "local_crops_per_face": float(kept["local_boxes"].map(len).mean()) if len(kept) else 0.0,
        "local_fallback_fraction": float(kept["local_fallback"].mean()) if len(kept) else 0.0,
    }
