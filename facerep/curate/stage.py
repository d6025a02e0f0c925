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

from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from facerep.cores import resolve_workers
from facerep.curate.cache import ChunkCache
from facerep.curate.config import CurateParams
from facerep.curate.dedup import exact_pairs, near_pairs, representatives
from facerep.curate.embedders import Embedder, make_embedder
from facerep.curate.filters import norm_reason
from facerep.curate.passes import FaceTable, GlobalPass, embed_faces, one_thread_per_op, score_local_crops
from facerep.curate.report import redundancy_table, write_redundancy_report
from facerep.curate.retrieval import accepted_boxes
from facerep.errors import InputError
from facerep.io import atomic_path, fingerprint, read_table, write_json, write_parquet
from facerep.params import Params
from facerep.stages import StageResult
from facerep.tracking import Tracker

FACE_COLUMNS = ("face_id", "image_id", "bbox", "score", "landmarks5", "crop_path")


def read_faces(faces_dir: Path) -> pd.DataFrame:
    """faces.parquet with its contract columns checked (InputError naming what is missing)."""
    path = faces_dir / "faces.parquet"
    faces = read_table(path, FACE_COLUMNS, missing_hint="run `facerep detect` first")
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


def run(params: Params, tracker: Tracker) -> StageResult:
    """Curate the detected faces (see the module docstring for the outputs)."""
    cfg = params.curate
    faces_dir, out_dir = Path(params.paths.faces), Path(params.paths.curated)
    embedder = make_embedder(cfg)
    faces = read_faces(faces_dir)
    table = FaceTable.of(faces, faces_dir)
    global_cache = ChunkCache(
        out_dir / "cache" / f"global-{fingerprint({'embedder': embedder.identity}, 16)}", ("feature",)
    )
    workers = resolve_workers(cfg.workers)
    with ThreadPoolExecutor(workers, thread_name_prefix="curate") as pool, one_thread_per_op():
        glob = embed_faces(table, embedder, cfg.filters, global_cache, pool, 2 * workers)
        norms = np.linalg.norm(np.nan_to_num(glob.feats), axis=1)
        filtered = [r or norm_reason(float(v), cfg.filters) for r, v in zip(glob.reasons, norms, strict=True)]
        dups = _deduplicate(
            faces,
            embedder,
            glob.feats,
            filtered,
            glob.crop_sha,
            image_sha256(Path(params.paths.raw), faces),
            cfg,
        )
        reasons = [f or d for f, d in zip(filtered, dups.reasons, strict=True)]
        local = _retrieve_local(
            table, embedder, glob, [i for i, r in enumerate(reasons) if not r], params, pool
        )

    curated = pd.DataFrame(
        {
            "face_id": faces["face_id"].astype(str),
            "keep": [not r for r in reasons],
            "reason": reasons,
            "dup_of": dups.dup_of,
            "local_boxes": local.boxes,
            "local_fallback": local.fallback,
            "source": faces["source"],
            "image_id": faces["image_id"],
            "sharpness": glob.sharpness,
            "embedding_norm": norms,
        }
    )
    embedded = np.flatnonzero(np.isfinite(glob.feats).all(axis=1))  # the faces the image filters let through
    with atomic_path(out_dir / "embeddings.npy") as tmp, open(tmp, "wb") as f:
        np.save(f, glob.feats[embedded])
    write_json(
        out_dir / "embeddings.json",
        {
            "embedder": embedder.name,
            "dim": embedder.dim,
            "face_ids": [table.face_ids[i] for i in embedded],
        },
    )
    table_red = redundancy_table(curated)
    report = write_redundancy_report(table_red, out_dir)
    write_parquet(out_dir / "curated.parquet", curated)
    return StageResult(
        metrics=_metrics(curated), artifacts=report, outputs=[out_dir / "curated.parquet", *report]
    )


@dataclass(frozen=True)
class Duplicates:
    """Per face: the representative's face_id (None unless a duplicate) and the duplicate reason
    ('exact_duplicate', 'near_duplicate' or '' when the face is not a duplicate)."""

    dup_of: list[str | None]
    reasons: list[str]


@dataclass(frozen=True)
class LocalCrops:
    """Per face: its accepted local boxes ([x1, y1, x2, y2, similarity]; none for a face not kept)
    and whether the loader falls back to random local crops (fewer than `min_kept` accepted)."""

    boxes: list[list[list[float]]]
    fallback: list[bool]


def _deduplicate(
    faces: pd.DataFrame,
    embedder: Embedder,
    feats: np.ndarray,
    filtered: list[str],
    crop_sha: list[str],
    source_sha: list[str | None],
    cfg: CurateParams,
) -> Duplicates:
    """Duplicates among the faces that passed the filters (`filtered` is '' for those)."""
    n = len(faces)
    live = [i for i, r in enumerate(filtered) if not r]
    dup_of: list[str | None] = [None] * n
    reasons = [""] * n
    if len(live) < 2:
        return Duplicates(dup_of, reasons)
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
        cfg.dedup.approximate_above,
    )
    exact_members = {j for pair in exact for j in pair}
    priority = [float(faces.at[i, "score"]) for i in live]
    reps = representatives(len(live), [(a, b) for a, b, _ in near], priority, exact)
    for pos, i in enumerate(live):
        rep = int(reps[pos])
        if rep != pos:
            dup_of[i] = str(faces.at[live[rep], "face_id"])
            reasons[i] = (
                "exact_duplicate" if pos in exact_members and rep in exact_members else "near_duplicate"
            )
    return Duplicates(dup_of, reasons)


def _retrieve_local(
    table: FaceTable,
    embedder: Embedder,
    glob: GlobalPass,
    kept: list[int],
    params: Params,
    pool: Executor,
) -> LocalCrops:
    """ProS retrieval for the kept faces (row numbers `kept`).

    Similarities of all candidates come from the cache when present; acceptance is recomputed.
    """
    cfg = params.curate.local
    spec = {
        "embedder": embedder.identity,
        "seed": params.seed,
        **cfg.model_dump(exclude={"theta", "min_kept", "bf16"}),
        "bf16": cfg.bf16 and embedder.bf16,  # what was computed, not what was asked for
    }
    cache = ChunkCache(
        Path(params.paths.curated) / "cache" / f"local-{fingerprint(spec, 16)}", ("boxes", "sims")
    )
    scored = score_local_crops(
        table, kept, embedder, glob, cfg, params.seed, cache, pool, 2 * resolve_workers(params.curate.workers)
    )
    accepted = {
        i: accepted_boxes(boxes, sims, params.curate.local_theta()) for i, (boxes, sims) in scored.items()
    }
    n = len(table.face_ids)
    return LocalCrops(
        [accepted.get(i, []) for i in range(n)],
        [len(accepted[i]) < cfg.min_kept if i in accepted else True for i in range(n)],
    )


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
