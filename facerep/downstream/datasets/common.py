"""Image reading shared by the published-layout loaders: crop to a face box, resize, move landmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from facerep.errors import InputError


def read_face(path: Path, size: int, box: np.ndarray | None = None) -> np.ndarray:
    """RGB uint8 (size, size, 3) of `path`, cropped to `box` (pixels x1,y1,x2,y2) when given."""
    try:
        with Image.open(path) as im:
            img = im.convert("RGB")
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: unreadable image ({exc})") from exc
    if box is not None:
        img = img.crop(tuple(round(v) for v in box))
    return np.asarray(img.resize((size, size), Image.BILINEAR))


def stack(arrays: list[np.ndarray]) -> torch.Tensor:
    """(N, 3, S, S) uint8 from a list of HWC arrays."""
    if not arrays:
        return torch.zeros((0, 3, 1, 1), dtype=torch.uint8)
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def square_box(points: np.ndarray, scale: float = 1.25) -> np.ndarray:
    """A square box around landmark points (pixels), enlarged by `scale`: how landmark datasets
    without a detector box are cropped (the usual 300W/WFLW practice)."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    centre, half = (lo + hi) / 2, (hi - lo).max() * scale / 2
    return np.array([centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half])


def points_in_box(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Pixel points -> [0, 1] coordinates of the crop `box`."""
    wh = np.array([box[2] - box[0], box[3] - box[1]])
    return (points - box[:2]) / wh


def require(path: Path, what: str) -> Path:
    """`path`, or an InputError naming the missing file of the published layout."""
    if not path.exists():
        raise InputError(f"{path}: missing {what} (see docs/finetune.md for the expected layout)")
    return path
