"""Optional quality filters, each with its reason: detector score, face size, blur, embedding norm.

Blur is measured by the variance of the Laplacian (Pech-Pacheco et al., 2000): a sharp face has
strong second derivatives at its edges, a blurred one does not. The embedding norm of ArcFace-type
models grows with face quality (MagFace, Meng et al. 2021; ProS section 3 cites the same effect of
low-quality faces), so a small norm flags a poor face. Each threshold is 0 (off) by default.
"""

from __future__ import annotations

import cv2
import numpy as np

from facerep.curate.config import FilterParams


def sharpness(img: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image."""
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def face_px(bbox: np.ndarray | list[float]) -> float:
    """The shorter side of a source-pixel box (x1, y1, x2, y2)."""
    x1, y1, x2, y2 = (float(v) for v in bbox)
    return min(x2 - x1, y2 - y1)


def image_reason(score: float, size_px: float, sharp: float, cfg: FilterParams) -> str:
    """The first failed image-level filter ('' when the face passes)."""
    if score < cfg.min_score:
        return "low_score"
    if size_px < cfg.min_face_px:
        return "small_face"
    if sharp < cfg.min_sharpness:
        return "blurred"
    return ""


def norm_reason(norm: float, cfg: FilterParams) -> str:
    """'low_norm' when the face's embedding norm is under `min_norm`."""
    return "low_norm" if norm < cfg.min_norm else ""
