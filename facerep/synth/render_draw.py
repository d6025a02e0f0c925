"""What every part of the SynthFaces renderer draws with: OpenCV's sub-pixel points, the head's view
(where it sits in the image and which way it turns) and alpha blending of a layer.

Drawing happens inside a window (ROI) of the image around the head, so points are shifted by the
window's top-left corner (`View.off`) before they become OpenCV's fixed-point coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facerep.synth.face3d import project

SHIFT = 4  # OpenCV sub-pixel bits: coordinates are drawn to 1/16 px
ONE = 1 << SHIFT
AA = cv2.LINE_AA

#: A pixel window's top-left corner (integer image px).
Offset = tuple[int, int]
#: A continuous image position (px).
Point = tuple[float, float]


def pts(xy: np.ndarray, offset: Offset = (0, 0)) -> np.ndarray:
    """Continuous pixel coordinates to OpenCV's fixed-point integer points (pixel centres at i)."""
    p = (xy - np.asarray(offset) - 0.5) * ONE
    return np.rint(p).astype(np.int32).reshape(-1, 1, 2)


def pt(xy: np.ndarray, offset: Offset) -> tuple[int, int]:
    """One continuous point as the fixed-point (x, y) pair that cv2.circle and cv2.line take."""
    return tuple(pts(xy, offset)[0, 0])  # type: ignore[return-value]


def thick(width_px: float) -> int:
    """A line width in whole pixels, at least 1 (OpenCV's thickness is an integer)."""
    return max(1, round(width_px))


def catmull_closed(p: np.ndarray, n: int = 3) -> np.ndarray:
    """A closed Catmull-Rom curve through `p` with `n` points per segment (round eyes and lips)."""
    prev, nxt, nxt2 = np.roll(p, 1, 0), np.roll(p, -1, 0), np.roll(p, -2, 0)
    t = (np.arange(n) / n)[None, :, None]
    t2, t3 = t * t, t * t * t
    a, b, c, d = prev[:, None], p[:, None], nxt[:, None], nxt2[:, None]
    out = 0.5 * (2 * b + (-a + c) * t + (2 * a - 5 * b + 4 * c - d) * t2 + (-a + 3 * b - 3 * c + d) * t3)
    return out.reshape(-1, 2)


def blend_layer(roi: np.ndarray, layer: np.ndarray, mask: np.ndarray) -> None:
    """Composite `layer` over `roi` in place, `mask` (uint8) its coverage."""
    a = mask.astype(np.float32)[..., None] * (1.0 / 255.0)
    roi[:] = (roi * (1.0 - a) + layer * a + 0.5).astype(np.uint8)


@dataclass(frozen=True)
class View:
    """How the head is seen: its rotation, `scale` px per face unit, `centre` the image position of
    the head origin (continuous px), and `off` the top-left of the window being drawn into."""

    rot: np.ndarray
    scale: float
    centre: Point
    off: Offset

    def project(self, points: np.ndarray) -> np.ndarray:
        """Head-coordinate points (n, 3) to continuous image px (n, 2)."""
        return project(points, self.rot, self.scale, self.centre)

    def facing(self, normal: tuple[float, float, float]) -> float:
        """How much a head-coordinate surface direction faces the camera (its view z, -1 to 1)."""
        n = np.asarray(normal, dtype=np.float64)
        return float((self.rot @ (n / np.linalg.norm(n)))[2])
