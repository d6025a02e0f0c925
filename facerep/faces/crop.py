"""The face crop of Bulat et al. (A.1): a square crop centred on the detected box, scaled so that
the face spans about `face_px` = 190 px of a `size` = 256 px image.

Geometry only, no model: every function here is pure. The crop is rotation-free, so the mapping from
source pixels to crop pixels is `crop = (src - origin) * scale` with one scalar scale; it is returned
as a 2x3 affine matrix so landmarks and boxes move with the same numbers as the pixels.

Conventions: continuous pixel coordinates with pixel edges at integers (pixel (0, 0) covers
[0, 1) x [0, 1)), the convention of RetinaFace's boxes and of `cv2.resize`. The face size is the
longer side of the box, so the whole box fits inside `face_px`. The source square is snapped to whole
pixels before resampling and the transform is derived from the snapped square, so the landmarks in
the crop are exact for the pixels that were actually resampled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

Padding = Literal["edge", "constant"]


@dataclass(frozen=True)
class CropWindow:
    """The square of source pixels `[x0, x0 + side) x [y0, y0 + side)` resampled to `size` x `size`."""

    x0: int
    y0: int
    side: int
    size: int

    @property
    def scale(self) -> float:
        """Crop pixels per source pixel."""
        return self.size / self.side

    @property
    def matrix(self) -> np.ndarray:
        """The 2x3 affine map from source to crop pixels."""
        s = self.scale
        return np.array([[s, 0.0, -self.x0 * s], [0.0, s, -self.y0 * s]], dtype=np.float64)


def face_size(box: np.ndarray) -> float:
    """The face size of an x1,y1,x2,y2 box: its longer side (so the whole box fits in `face_px`)."""
    x1, y1, x2, y2 = np.asarray(box, dtype=np.float64)
    return float(max(x2 - x1, y2 - y1))


def crop_window(box: np.ndarray, size: int = 256, face_px: int = 190) -> CropWindow:
    """The whole-pixel source square centred on `box` whose resampling to `size` makes the box's
    longer side span `face_px` crop pixels (Bulat et al. A.1: 190 of 256)."""
    if face_px <= 0 or size <= 0:
        raise ValueError(f"crop size {size} and face_px {face_px} must be positive")
    x1, y1, x2, y2 = np.asarray(box, dtype=np.float64)
    extent = face_size(box)
    if not np.isfinite(extent) or extent <= 0:
        raise ValueError(f"degenerate face box {list(map(float, box))}")
    side = max(1, round(extent * size / face_px))
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    return CropWindow(x0=round(cx - side / 2.0), y0=round(cy - side / 2.0), side=side, size=size)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine `matrix` to (N, 2) points."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return pts @ matrix[:, :2].T + matrix[:, 2]


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a 2x3 affine matrix (crop pixels back to source pixels)."""
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def transform_box(box: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Map an x1,y1,x2,y2 box through a rotation-free affine matrix."""
    corners = transform_points(np.asarray(box, dtype=np.float64).reshape(2, 2), matrix)
    return corners.reshape(4)


def extract_window(
    image: np.ndarray, window: CropWindow, padding: Padding = "edge", fill: int = 0
) -> np.ndarray:
    """Resample `window` of `image` (H, W[, C]) to a `window.size` square, padding outside the image by
    edge replication (each outside pixel takes the nearest image pixel) or a constant `fill`. The
    square is gathered with clipped indices, so only `side` x `side` pixels are touched whatever the
    image size and wherever the box lies."""
    h, w = image.shape[:2]
    ys = np.arange(window.y0, window.y0 + window.side)
    xs = np.arange(window.x0, window.x0 + window.side)
    region = image[np.clip(ys, 0, h - 1)][:, np.clip(xs, 0, w - 1)]
    if padding == "constant":
        region[(ys < 0) | (ys >= h)] = fill
        region[:, (xs < 0) | (xs >= w)] = fill
    interp = cv2.INTER_AREA if window.side > window.size else cv2.INTER_LINEAR
    out = cv2.resize(region, (window.size, window.size), interpolation=interp)
    return out.reshape(window.size, window.size, *image.shape[2:])


def crop_face(
    image: np.ndarray,
    box: np.ndarray,
    landmarks5: np.ndarray | None = None,
    size: int = 256,
    face_px: int = 190,
    padding: Padding = "edge",
) -> tuple[np.ndarray, np.ndarray | None, CropWindow]:
    """Crop one face: returns the `size` x `size` crop, the landmarks in crop pixels (or None), and
    the window (whose `matrix` maps any other source point into the crop)."""
    window = crop_window(box, size, face_px)
    crop = extract_window(image, window, padding)
    lm = None if landmarks5 is None else transform_points(landmarks5, window.matrix)
    return crop, lm, window
