"""Face-aware local-crop retrieval (ProS, Di et al., section 3): sampling and acceptance.

ProS observes that multi-crop local views often hold no face and hurt pre-training; it embeds the
global view and each local view with ArcFace and drops local views whose cosine similarity to the
global one is below theta = -0.5. Here the candidate local crops are drawn once per face, offline,
with the multi-crop sampling rule (torchvision's RandomResizedCrop: area fraction in `scale`,
log-uniform aspect ratio in `ratio`), and the accepted boxes are stored so the loader can draw its
local views from them.

Two ways to show a local crop to a face embedder (`curate.local.mode`):
- `resize` (ProS literal): the crop alone, resized to the embedder's input.
- `in_place` (default): the crop's pixels kept at their place on a grey canvas of the face crop,
  then aligned with the face's own 5-point transform. Face-recognition networks are trained on
  aligned whole faces; a zoomed-in eye is outside what they were trained on and lands as far from
  its face as a patch of wall does (measured with dlib, docs/curate.md), whereas in place the
  crop keeps the part of the identity it covers and a background crop leaves a blank face.

These functions are pure (numpy in, numpy out); `facerep.curate.scoring` runs the embedder.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

GREY = 127


def sample_boxes(
    rng: np.random.Generator,
    width: int,
    height: int,
    count: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    attempts: int = 10,
) -> np.ndarray:
    """`count` boxes (x1, y1, x2, y2 in pixels) drawn with the RandomResizedCrop rule.

    Each box takes the first of `attempts` draws that fits in the image; a box that never fits is
    the largest centred box of the target aspect ratio (torchvision's fallback).
    """
    area = float(width * height)
    log_r = (math.log(ratio[0]), math.log(ratio[1]))
    boxes = np.zeros((count, 4), np.float64)
    for i in range(count):
        for _ in range(attempts):
            target = area * rng.uniform(*scale)
            aspect = math.exp(rng.uniform(*log_r))
            w = round(math.sqrt(target * aspect))
            h = round(math.sqrt(target / aspect))
            if 0 < w <= width and 0 < h <= height:
                x = int(rng.integers(0, width - w + 1))
                y = int(rng.integers(0, height - h + 1))
                boxes[i] = (x, y, x + w, y + h)
                break
        else:
            side = min(width, height)
            x, y = (width - side) // 2, (height - side) // 2
            boxes[i] = (x, y, x + side, y + side)
    return boxes


def paste_in_place(img: np.ndarray, box: np.ndarray | list[float], fill: int = GREY) -> np.ndarray:
    """The image with everything outside `box` replaced by `fill` (the `in_place` view)."""
    x1, y1, x2, y2 = _int_box(box, img.shape[1], img.shape[0])
    out = np.full_like(img, fill)
    out[y1:y2, x1:x2] = img[y1:y2, x1:x2]
    return out


def cut_and_resize(img: np.ndarray, box: np.ndarray | list[float], size: int) -> np.ndarray:
    """The crop `box` of `img` resized to `size` x `size` (the `resize` view, ProS literal)."""
    x1, y1, x2, y2 = _int_box(box, img.shape[1], img.shape[0])
    return cv2.resize(img[y1:y2, x1:x2], (size, size), interpolation=cv2.INTER_AREA)


def accepted(similarities: np.ndarray, theta: float) -> np.ndarray:
    """ProS acceptance: a local crop stays when its similarity to the global view is >= theta."""
    return np.asarray(similarities) >= theta


def accepted_boxes(boxes: np.ndarray, similarities: np.ndarray, theta: float) -> list[list[float]]:
    """The accepted boxes as [x1, y1, x2, y2, similarity] rows (the `local_boxes` column)."""
    keep = accepted(similarities, theta)
    return [[*map(float, b), float(s)] for b, s, k in zip(boxes, similarities, keep, strict=True) if k]


def _int_box(box: np.ndarray | list[float], width: int, height: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (round(float(v)) for v in list(box)[:4])
    x1, y1 = max(0, min(x1, width - 1)), max(0, min(y1, height - 1))
    return x1, y1, max(x1 + 1, min(x2, width)), max(y1 + 1, min(y2, height))
