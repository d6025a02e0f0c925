"""Reading the iBUG `.pts` landmark files of 300W (and of the other iBUG-style sets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facerep.downstream.data import Split
from facerep.downstream.datasets.common import FaceFiles, points_in_box, square_box
from facerep.errors import InputError


def read_pts(path: Path) -> np.ndarray:
    """(K, 2) pixel points of a `.pts` file ("version: 1", "n_points: K", "{", K lines "x y", "}")."""
    lines = path.read_text().splitlines()
    try:
        start, end = lines.index("{") + 1, lines.index("}")
        return np.array([[float(v) for v in line.split()] for line in lines[start:end]])
    except ValueError as exc:
        raise InputError(f"{path}: not an iBUG .pts file") from exc


def landmark_split(items: list[tuple[Path, np.ndarray, str]], size: int) -> Split:
    """Crop each image to a square box around its points (scale 1.25) and express the points in it."""
    crops, points, boxes = [], [], []
    for _, pts, _ in items:
        box = square_box(pts)
        crops.append(box)
        points.append(points_in_box(pts, box))
        boxes.append(points_in_box(np.stack([pts.min(0), pts.max(0)]), box).reshape(-1))
    labels = {"landmarks": np.array(points, dtype=np.float32), "box": np.array(boxes, dtype=np.float32)}
    images = FaceFiles([image for image, _, _ in items], size, np.array(crops).reshape(-1, 4))
    return Split(images, labels, [key for _, _, key in items])
