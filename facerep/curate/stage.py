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

Memory: the duplicate search needs every face's global feature at once (n x dim float32, the one
part that grows with the faces); everything else is held as compact per-face arrays (no Python
object per face), the cache and the manifest are streamed, and curated.parquet is written row group
by row group.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from facerep.cores import resolve_workers
from facerep.curate.cache import ChunkCache
from facerep.curate.config import CurateParams
from facerep.curate.dedup import exact_pairs, near_pairs, representatives
from facerep.curate.embedders import Embedder, make_embedder
from facerep.curate.filters import norm_reason
from facerep.curate.passes import FaceTable, GlobalPass, embed_faces, one_thread_per_op, score_local_crops
from facerep.curate.report import merge_redundancy, redundancy_table, write_redundancy_report
from facerep.curate.retrieval import accepted_boxes
from facerep.io import BATCH_ROWS, TableWriter, atomic_path, fingerprint, iter_table, write_json
from facerep.params import Params
from facerep.stages import StageResult
from facerep.tracking import Tracker

FACE_COLUMNS = ("face_id", "image_id", "bbox", "score", "landmarks5", "crop_path")


CURATED_SCHEMA = pa.schema(
    [
        ("face_id", pa.string()),
        ("keep", pa.bool_()),
        ("reason", pa.string()),
        ("dup_of", pa.string()),
        ("local_boxes", pa.list_(pa.list_(pa.float64()))),
        ("local_fallback", pa.bool_()),
        ("source", pa.string()),
        ("image_id", pa.string()),
        ("sharpness", pa.float64()),
        ("embedding_norm", pa.float32()),
    ]
)


def image_sha256(raw_dir: Path, image_ids: pa.Array) -> np.ndarray:
    """Per face (its `image_ids`), the sha256 of its source image from the harvest manifest ('' when
    unknown or without a manifest), the manifest streamed batch by batch."""
    out = np.full(len(image_ids), "", "U64")
    path = raw_dir / "manifest.parquet"
    if not path.is_file():
        return out
    for batch in iter_table(path, ["image_id", "sha256"]):
        at = pc.index_in(image_ids, value_set=batch.column("image_id").cast(pa.string()))
        found = at.is_valid().to_numpy(zero_copy_only=False)
        shas = batch.column("sha256").cast(pa.string()).take(at.filter(at.is_valid())).fill_null("")
        out[found] = np.asarray(shas.to_pylist(), dtype="U64")
    return out


def run(params: Params, tracker: Tracker) -> StageResult:
    """Curate the detected faces (see the module docstring for the outputs)."""
    cfg = params.curate
    faces_dir, out_dir = Path(params.paths.faces), Path(params.paths.curated)
    embedder = make_embedder(cfg)
    table = FaceTable.read(faces_dir / "faces.parquet", faces_dir, FACE_COLUMNS)
    global_cache = ChunkCache(
        out_dir / "cache" / f"global-{fingerprint({'embedder': embedder.identity}, 16)}", ("feature",)
    )
    workers = resolve_workers(cfg.workers)
    with ThreadPoolExecutor(workers, thread_name_prefix="curate") as pool, one_thread_per_op():
        glob = embed_faces(table, embedder, cfg.filters, global_cache, pool, 2 * workers)
        norms = np.linalg.norm(np.nan_to_num(glob.feats), axis=1)
        filtered = [r or norm_reason(float(v), cfg.filters) for r, v in zip(glob.reasons, norms, strict=True)]
        source_sha = image_sha256(Path(params.paths.raw), table.strings.column("image_id"))
        dups = _deduplicate(table, embedder, glob.feats, filtered, glob.crop_sha, source_sha, cfg)
        reasons = [f or d for f, d in zip(filtered, dups.reasons, strict=True)]
        keep = np.fromiter((not r for r in reasons), bool, len(reasons))
        local = _retrieve_local(table, embedder, glob, np.flatnonzero(keep), params, pool)

    embedded = np.flatnonzero(np.isfinite(glob.feats).all(axis=1))  # the faces the image filters let through
    with atomic_path(out_dir / "embeddings.npy") as tmp, open(tmp, "wb") as f:
        header = {"descr": np.lib.format.dtype_to_descr(glob.feats.dtype), "fortran_order": False}
        np.lib.format.write_array_header_1_0(f, {**header, "shape": (len(embedded), glob.feats.shape[1])})
        for lo in range(0, len(embedded), BATCH_ROWS):  # np.save's bytes, without a copy of the matrix
            f.write(np.ascontiguousarray(glob.feats[embedded[lo : lo + BATCH_ROWS]]).tobytes())
    write_json(
        out_dir / "embeddings.json",
        {"embedder": embedder.name, "dim": embedder.dim, "face_ids": table.face_ids[embedded].tolist()},
    )
    redundancy: list[pd.DataFrame] = []
    with TableWriter(out_dir / "curated.parquet", CURATED_SCHEMA) as out:
        for batch in _curated_batches(table, reasons, keep, dups, local, glob.sharpness, norms):
            redundancy.append(redundancy_table(batch.select(["source", "reason", "keep"]).to_pandas()))
            out.write(batch)
    report = write_redundancy_report(merge_redundancy(redundancy), out_dir)
    return StageResult(
        metrics=_metrics(keep, reasons, local),
        artifacts=report,
        outputs=[out_dir / "curated.parquet", *report],
    )


def _curated_batches(
    table: FaceTable,
    reasons: list[str],
    keep: np.ndarray,
    dups: Duplicates,
    local: LocalCrops,
    sharpness: np.ndarray,
    norms: np.ndarray,
) -> Iterator[pa.Table]:
    """The rows of curated.parquet, BATCH_ROWS at a time, assembled from the per-face arrays."""
    boxes = local.as_lists()
    for lo in range(0, len(table), BATCH_ROWS):
        hi = min(lo + BATCH_ROWS, len(table))
        rep = dups.rep[lo:hi]
        dup_of = [table.face_id(int(r)) if r >= 0 else None for r in rep]
        yield pa.table(
            {
                "face_id": pa.array(table.face_ids[lo:hi].tolist(), pa.string()),
                "keep": pa.array(keep[lo:hi]),
                "reason": pa.array(reasons[lo:hi], pa.string()),
                "dup_of": pa.array(dup_of, pa.string()),
                "local_boxes": boxes.slice(lo, hi - lo),
                "local_fallback": pa.array(local.fallback[lo:hi]),
                "source": table.strings.column("source").slice(lo, hi - lo),
                "image_id": table.strings.column("image_id").slice(lo, hi - lo),
                "sharpness": pa.array(sharpness[lo:hi], pa.float64()),
                "embedding_norm": pa.array(norms[lo:hi].astype(np.float32)),
            },
            schema=CURATED_SCHEMA,
        )


@dataclass(frozen=True)
class Duplicates:
    """Per face: the row of its representative (-1 unless a duplicate) and the duplicate reason
    ('exact_duplicate', 'near_duplicate' or '' when the face is not a duplicate)."""

    rep: np.ndarray
    reasons: list[str]


@dataclass(frozen=True)
class LocalCrops:
    """Per face: its accepted local boxes ([x1, y1, x2, y2, similarity]; none for a face not kept),
    as rows `offsets[i]:offsets[i + 1]` of `values` (m, 5), and whether the loader falls back to
    random local crops (fewer than `min_kept` accepted)."""

    offsets: np.ndarray
    values: np.ndarray
    fallback: np.ndarray

    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)

    def as_lists(self) -> pa.ListArray:
        """The boxes as curated.parquet's list<list<double>> column (one Arrow array, no copy per face)."""
        inner = pa.ListArray.from_arrays(
            pa.array(np.arange(0, self.values.size + 1, 5, dtype=np.int32)), pa.array(self.values.reshape(-1))
        )
        return pa.ListArray.from_arrays(pa.array(self.offsets.astype(np.int32)), inner)


def _deduplicate(
    table: FaceTable,
    embedder: Embedder,
    feats: np.ndarray,
    filtered: list[str],
    crop_sha: np.ndarray,
    source_sha: np.ndarray,
    cfg: CurateParams,
) -> Duplicates:
    """Duplicates among the faces that passed the filters (`filtered` is '' for those)."""
    n = len(table)
    live = np.flatnonzero([not r for r in filtered])
    rep = np.full(n, -1, np.int64)
    reasons = [""] * n
    if len(live) < 2:
        return Duplicates(rep, reasons)
    boxes = [tuple(round(float(v)) for v in table.boxes[i]) for i in live]
    source_keys = [
        f"{source_sha[i]}:{b}" if source_sha[i] else None for i, b in zip(live, boxes, strict=True)
    ]
    exact = exact_pairs([str(crop_sha[i]) for i in live]) + exact_pairs(source_keys)
    near = near_pairs(
        embedder.index_vectors(feats[live]),
        embedder.similarity_from_sqdist,
        cfg.dedup_threshold(),
        cfg.dedup.neighbours,
        cfg.dedup.index,
        cfg.dedup.approximate_above,
    )
    exact_members = {j for pair in exact for j in pair}
    priority = [float(table.scores[i]) for i in live]
    reps = representatives(len(live), [(a, b) for a, b, _ in near], priority, exact)
    for pos, i in enumerate(live):
        r = int(reps[pos])
        if r != pos:
            rep[i] = live[r]
            reasons[i] = (
                "exact_duplicate" if pos in exact_members and r in exact_members else "near_duplicate"
            )
    return Duplicates(rep, reasons)


def _retrieve_local(
    table: FaceTable,
    embedder: Embedder,
    glob: GlobalPass,
    kept: np.ndarray,
    params: Params,
    pool: Executor,
) -> LocalCrops:
    """ProS retrieval for the kept faces (row numbers `kept`).

    Similarities of all candidates come from the cache when present; acceptance is recomputed as
    they stream back, and only the accepted boxes are kept (flat arrays, grouped by face at the end).
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
    n = len(table)
    faces, values, seen = array("q"), array("d"), np.zeros(n, bool)
    for i, boxes, sims in scored:
        seen[i] = True
        for box in accepted_boxes(boxes, sims, params.curate.local_theta()):
            faces.append(i)
            values.extend(box)
    face_of = np.asarray(faces, np.int64)
    order = np.argsort(face_of, kind="stable")
    counts = np.bincount(face_of, minlength=n)
    return LocalCrops(
        np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        np.asarray(values, np.float64).reshape(-1, 5)[order],
        ~seen | (counts < cfg.min_kept),
    )


def _metrics(keep: np.ndarray, reasons: list[str], local: LocalCrops) -> dict[str, float]:
    exact = sum(r == "exact_duplicate" for r in reasons)
    near = sum(r == "near_duplicate" for r in reasons)
    kept = int(keep.sum())
    return {
        "faces": float(len(reasons)),
        "kept": float(kept),
        "exact_duplicates": float(exact),
        "near_duplicates": float(near),
        "filtered": float(len(reasons) - kept - exact - near),
        "local_crops_per_face": float(local.counts()[keep].mean()) if kept else 0.0,
        "local_fallback_fraction": float(local.fallback[keep].mean()) if kept else 0.0,
    }
