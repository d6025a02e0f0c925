"""Resumable curate: global features and local-crop similarities cached per face, chunk by chunk.

Embedding is the whole cost of the stage (dlib: about 0.1 s per chip, 1 + candidates chips per
face), so every chunk's results are written to `<paths.curated>/cache/` as soon as they exist. A
killed run resumes where it stopped, and a re-run with other thresholds (`theta`, `min_kept`,
duplicate threshold, filters) embeds nothing: the similarities of *all* candidate crops are kept,
and acceptance is recomputed from them. Entries are keyed by face_id and the crop's sha256, inside a
folder named by a fingerprint (`facerep.io.fingerprint`) of everything that changes the numbers
(embedder and model file; for local crops also the seed, mode, candidate count, scale and ratio).

The entries stay on disk: in memory the cache holds one 64-bit hash per key (a sorted array for the
parts found at opening, a set for those put since), and `read` streams the parts back.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from facerep.io import BATCH_ROWS, iter_table, write_parquet

Key = tuple[str, str]


def key_hashes(face_ids: Sequence[str], shas: Sequence[str]) -> np.ndarray:
    """64-bit hashes of (face_id, sha256) keys, vectorised (collisions are ruled out by `read`)."""
    joined = np.asarray([f"{f}|{s}" for f, s in zip(face_ids, shas, strict=True)], dtype=object)
    return pd.util.hash_array(joined) if len(joined) else np.zeros(0, np.uint64)


class ChunkCache:
    """Rows of arrays per (face_id, crop sha256), stored as numbered parquet parts in one folder."""

    def __init__(self, folder: Path, columns: tuple[str, ...]) -> None:
        self.folder, self.columns = folder, columns
        self.parts = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
        known = [
            key_hashes(b.column("face_id").to_pylist(), b.column("sha256").to_pylist())
            for part in self.parts
            for b in iter_table(part, ["face_id", "sha256"])
        ]
        self._known = np.sort(np.concatenate(known)) if known else np.zeros(0, np.uint64)
        self._added: set[int] = set()

    def __contains__(self, key: Key) -> bool:
        h = key_hashes([key[0]], [key[1]])[0]
        at = np.searchsorted(self._known, h)
        return bool(at < len(self._known) and self._known[at] == h) or int(h) in self._added

    def put(self, items: dict[Key, tuple[np.ndarray, ...]]) -> None:
        """Store a chunk's results atomically as one new part."""
        if not items:
            return
        data: dict[str, list] = {"face_id": [k[0] for k in items], "sha256": [k[1] for k in items]}
        for i, col in enumerate(self.columns):
            data[col] = [np.asarray(v[i], np.float32).reshape(-1).tolist() for v in items.values()]
        write_parquet(self.folder / f"part-{len(self.parts):06d}.parquet", pd.DataFrame(data))
        self.parts.append(self.folder / f"part-{len(self.parts):06d}.parquet")
        self._added.update(key_hashes(data["face_id"], data["sha256"]).tolist())

    def read(
        self, face_ids: Sequence[str], shas: Sequence[str]
    ) -> Iterator[tuple[int, tuple[np.ndarray, ...]]]:
        """(position in the request, stored arrays) of each requested key the cache holds, part by
        part: one batch of a part is in memory at a time, and the request is kept as hashes."""
        want = np.concatenate(
            [
                key_hashes(face_ids[i : i + BATCH_ROWS], shas[i : i + BATCH_ROWS])
                for i in range(0, len(face_ids), BATCH_ROWS)
            ]
            or [np.zeros(0, np.uint64)]
        )
        order = np.argsort(want, kind="stable")
        ranked = want[order]
        for part in self.parts:
            for batch in iter_table(part, ["face_id", "sha256", *self.columns]):
                fids, hexes = batch.column("face_id").to_pylist(), batch.column("sha256").to_pylist()
                h = key_hashes(fids, hexes)
                at = np.minimum(np.searchsorted(ranked, h), max(len(ranked) - 1, 0))
                hit = np.flatnonzero(ranked[at] == h) if len(ranked) else np.zeros(0, np.int64)
                if not hit.size:
                    continue
                values = [batch.column(c) for c in self.columns]
                for j in hit.tolist():
                    pos = int(order[at[j]])
                    if (face_ids[pos], shas[pos]) != (fids[j], hexes[j]):
                        raise RuntimeError(f"{part}: cache key hash collision at face {fids[j]}")
                    yield pos, tuple(np.asarray(v[j].as_py(), np.float32) for v in values)
