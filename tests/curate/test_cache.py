"""The curate cache keeps key hashes in memory and streams its parts back, across parts and runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facerep import io
from facerep.curate.cache import ChunkCache


def test_cache_reads_back_across_parts_and_reopening(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(io, "BATCH_ROWS", 2)  # parts read back in batches of 2 rows
    folder = tmp_path / "cache"
    cache = ChunkCache(folder, ("boxes", "sims"))
    for part in range(3):
        cache.put(
            {
                (f"f{part}{k}", f"sha{part}{k}"): (
                    np.full((2, 4), part + k, np.float32),
                    np.arange(2.0) + part,
                )
                for k in range(3)
            }
        )
    assert ("f01", "sha01") in cache and ("f01", "other-crop") not in cache
    again = ChunkCache(folder, ("boxes", "sims"))
    assert ("f22", "sha22") in again and ("f9", "sha9") not in again
    ids = np.array(["f22", "f9", "f00", "f11"])
    shas = np.array(["sha22", "sha9", "sha00", "sha11"])
    got = {pos: values for pos, values in again.read(ids, shas)}
    assert sorted(got) == [0, 2, 3]  # f9 was never stored
    boxes, sims = got[3]
    assert boxes.reshape(-1, 4).tolist() == [[2.0] * 4] * 2 and sims.tolist() == [1.0, 2.0]
