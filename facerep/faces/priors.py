"""RetinaFace prior (anchor) boxes and the decoding of its regressions.

Deng et al., *RetinaFace: Single-stage dense face localisation in the wild* (CVPR 2020), section 4.1:
square anchors on the feature pyramid; the biubug6 / retinaface-pytorch configuration shared by the
MobileNet-0.25 and ResNet-50 models uses three levels of stride 8, 16, 32 with anchor sizes
(16, 32), (64, 128), (256, 512) and SSD-style encoding with variances (0.1, 0.2). Prior order is row by
row over each level, then the sizes of one cell, matching the order of the heads' outputs.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

STEPS: tuple[int, ...] = (8, 16, 32)
MIN_SIZES: tuple[tuple[int, ...], ...] = ((16, 32), (64, 128), (256, 512))
VARIANCES: tuple[float, float] = (0.1, 0.2)


@lru_cache(maxsize=32)
def prior_boxes(
    height: int,
    width: int,
    steps: tuple[int, ...] = STEPS,
    min_sizes: tuple[tuple[int, ...], ...] = MIN_SIZES,
) -> np.ndarray:
    """(P, 4) priors as cx, cy, w, h in input pixels for a `height` x `width` network input (cached:
    a letterboxed batch reuses one canvas size). Read-only: callers must not modify it."""
    levels = []
    for step, sizes in zip(steps, min_sizes, strict=True):
        fh, fw = math.ceil(height / step), math.ceil(width / step)
        ys, xs = np.meshgrid(np.arange(fh), np.arange(fw), indexing="ij")
        centres = np.stack([(xs.ravel() + 0.5) * step, (ys.ravel() + 0.5) * step], 1)
        cell = np.repeat(centres, len(sizes), axis=0)
        wh = np.tile(np.repeat(np.asarray(sizes, np.float64)[:, None], 2, 1), (fh * fw, 1))
        levels.append(np.hstack([cell, wh]))
    out = np.vstack(levels).astype(np.float32)
    out.setflags(write=False)
    return out


def decode_boxes(
    loc: np.ndarray, priors: np.ndarray, variances: tuple[float, float] = VARIANCES
) -> np.ndarray:
    """Regressions (..., P, 4) -> x1, y1, x2, y2 boxes in the priors' pixels."""
    centre = priors[:, :2] + loc[..., :2] * variances[0] * priors[:, 2:]
    size = priors[:, 2:] * np.exp(loc[..., 2:] * variances[1])
    return np.concatenate([centre - size / 2, centre + size / 2], axis=-1)


def decode_landmarks(
    landm: np.ndarray, priors: np.ndarray, variances: tuple[float, float] = VARIANCES
) -> np.ndarray:
    """Landmark regressions (..., P, 10) -> (..., P, 5, 2) points in the priors' pixels."""
    offsets = landm.reshape(*landm.shape[:-1], 5, 2)
    return priors[:, None, :2] + offsets * variances[0] * priors[:, None, 2:]
