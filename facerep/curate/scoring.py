"""Run an embedder over face crops: global features, and ProS local-crop similarities, batched.

The global view is the whole face crop aligned with its 5 landmarks; each local view is built by
`facerep.curate.retrieval` and compared with the global feature of its own face. Chips of several
faces go through the network together, so ArcFace on a GPU sees full batches.
"""

from __future__ import annotations

import numpy as np

from facerep.curate.embedders import Embedder
from facerep.curate.retrieval import cut_and_resize, paste_in_place


def global_chip(embedder: Embedder, img: np.ndarray, landmarks5: np.ndarray) -> np.ndarray:
    """The global view: the whole crop aligned onto the embedder's template."""
    return embedder.align(img, embedder.transform(landmarks5))


def global_features(embedder: Embedder, images: list[np.ndarray], landmarks: list[np.ndarray]) -> np.ndarray:
    """One feature row per face, its global view embedded."""
    return embedder.embed([global_chip(embedder, img, lm) for img, lm in zip(images, landmarks, strict=True)])


def local_chips(
    embedder: Embedder, img: np.ndarray, landmarks5: np.ndarray, boxes: np.ndarray, mode: str
) -> list[np.ndarray]:
    """The views of the local crops `boxes` (crop pixels) that the embedder sees."""
    if mode == "resize":
        return [cut_and_resize(img, b, embedder.size) for b in boxes]
    matrix = embedder.transform(landmarks5)
    return [embedder.align(paste_in_place(img, b), matrix) for b in boxes]


def local_similarities(
    embedder: Embedder,
    features: np.ndarray,
    images: list[np.ndarray],
    landmarks: list[np.ndarray],
    boxes: list[np.ndarray],
    mode: str,
) -> list[np.ndarray]:
    """For each face, the similarity of each of its local crops to its global feature."""
    chips: list[np.ndarray] = []
    spans: list[tuple[int, int]] = []
    for img, lm, bx in zip(images, landmarks, boxes, strict=True):
        start = len(chips)
        chips.extend(local_chips(embedder, img, lm, bx, mode))
        spans.append((start, len(chips)))
    feats = embedder.embed(chips)
    return [
        embedder.similarity(features[i : i + 1], feats[a:b])[0].astype(np.float32)
        for i, (a, b) in enumerate(spans)
    ]
