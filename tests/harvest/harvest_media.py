"""Small SynthFaces-layout trees and VoxCeleb-layout clips written with PIL and PyAV.

Used until/beside the real `facerep synth` stage: the layout is the one docs/synth.md fixes
(`scenes/images/scene_NNNNNN.jpg`, `videos/idNNNNN/<video_id>/NNNNN.mp4`, H.264, 25 fps).
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from PIL import Image


def write_clip(path: Path, frames: int, size: int = 224, fps: int = 25, seed: int = 0) -> None:
    """An H.264 clip of `frames` frames: a bright disc moving over noise (distinct frames)."""
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 120, (size, size, 3), dtype=np.uint8)
    yy, xx = np.mgrid[:size, :size]
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            img = background.copy()
            cx = size / 2 + size / 4 * np.sin(i / 5)
            img[(xx - cx) ** 2 + (yy - size / 2) ** 2 < (size / 6) ** 2] = (230, 200, 170)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_synth_tree(root: Path, scenes: int = 4, clips: tuple[int, ...] = (50, 25)) -> None:
    """A miniature SynthFaces output: `scenes` scene JPEGs and one clip of each length in `clips`."""
    rng = np.random.default_rng(1)
    images = root / "scenes" / "images"
    images.mkdir(parents=True, exist_ok=True)
    for i in range(scenes):
        arr = rng.integers(0, 256, (120 + 8 * i, 160, 3), dtype=np.uint8)
        Image.fromarray(arr).save(images / f"scene_{i:06d}.jpg", quality=90)
    for j, n in enumerate(clips):
        write_clip(root / "videos" / f"id{j:05d}" / f"vid{j:03d}" / "00001.mp4", n, seed=j)
