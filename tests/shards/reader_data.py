"""Real tar shards written by the project's shard writer, for the pre-training reader's tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from facerep.io import write_json
from facerep.shards.writer import Sample, write_shards

BOX = (64, 64, 192, 192)


def box_faces(root: Path, count: int, max_count: int, boxes: bool = True) -> Path:
    """`count` 256 px JPEG "faces", black but for a white `BOX` (their curated local box), sharded.

    Each image also carries its index in its red channel's corner pixel, so tests can tell them apart.
    """
    crops = root / "crops"
    crops.mkdir(parents=True)
    samples = []
    for i in range(count):
        img = np.zeros((256, 256, 3), np.uint8)
        x1, y1, x2, y2 = BOX
        img[y1:y2, x1:x2] = 255
        img[:8, :8, 0] = i
        path = crops / f"f{i:04d}.jpg"
        Image.fromarray(img).save(path, quality=100)
        meta = {"face_id": path.stem, "license": "CC BY 4.0"}
        meta["local_boxes"] = [[*BOX, 0.7]] if boxes else None
        samples.append(Sample(path.stem, path, path.stat().st_size, meta))
    out = root / "shards"
    entries, _ = write_shards(samples, out, 0, max_count, 1 << 30)
    write_json(out / "index.json", {"samples": count, "shards": entries})
    return out
