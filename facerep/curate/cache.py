"""Resumable curate: global features and local-crop similarities cached per face, chunk by chunk.

Embedding is the whole cost of the stage (dlib: about 0.1 s per chip, 1 + candidates chips per
face), so every chunk's results are written to `<paths.curated>/cache/` as soon as they exist. A
killed run resumes where it stopped, and a re-run with other thresholds (`theta`, `min_kept`,
duplicate threshold, filters) embeds nothing: the similarities of *all* candidate crops are kept,
and acceptance is recomputed from them. Entries are keyed by face_id and the crop's sha256, inside a
folder named by a fingerprint (`facerep.io.fingerprint`) of everything that changes the numbers
(embedder and model file; for local crops also the seed, mode, candidate count, scale and ratio).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from facerep.io import write_parquet

Key = tuple[str, str]


class ChunkCache:
    """Rows of arrays per (face_id, crop sha256), stored as numbered parquet parts in one folder."""

    def __init__(self, folder: Path, columns: tuple[str, ...]) -> None:
        self.folder, self.columns = folder, columns
        self.rows: dict[Key, tuple[np.ndarray, ...]] = {}
        self.parts = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
        for part in self.parts:
            table = pd.read_parquet(part)
            for row in table.itertuples(index=False):
                key = (row.face_id, row.sha256)
                self.rows[key] = tuple(np.asarray(getattr(row, c), np.float32) for c in columns)

    def get(self, key: Key) -> tuple[np.ndarray, ...] | None:
        return self.rows.get(key)

    def put(self, items: dict[Key, tuple[np.ndarray, ...]]) -> None:
        """Store a chunk's results atomically as one new part."""
        if not items:
            return
        data: dict[str, list] = {"face_id": [k[0] for k in items], "sha256": [k[1] for k in items]}
        for i, col in enumerate(self.columns):
            data[col] = [np.asarray(v[i], np.float32).reshape(-1).tolist() for v in items.values()]
        write_parquet(self.folder / f"part-{len(self.parts):06d}.parquet", pd.DataFrame(data))
        self.parts.append(self.folder / f"part-{len(self.parts):06d}.parquet")
        self.rows.update(items)
