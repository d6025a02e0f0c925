"""Letterboxed batches and a bounded, ordered prefetch that overlaps image decoding with inference.

A detector sees images of every size; a batch needs one tensor. Each image is resized so its longer
side is `input_size` (small images are enlarged too, so a face's size at the network input does not
depend on the source resolution, as retinaface-pytorch's `LongestMaxSize`), then pasted top-left on
a canvas whose sides are the batch's largest sides rounded up to a multiple of the coarsest stride.
Padding is zero after normalisation, i.e. the mean colour, which the networks read as background.
Pasting top-left means mapping back is a single division by the resize scale. Batches group images
of one orientation (`grouped_batches`) so the canvas stays close to each image's own shape.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import TypeVar

import cv2
import numpy as np

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Normalisation:
    """Input normalisation of a network: `(pixel[channel order] - mean) / std` on the 0-255 scale."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    bgr: bool = False


@dataclass(frozen=True)
class Prepared:
    """An image resized for the network, with the factor that maps network pixels back to source."""

    image: np.ndarray
    scale: float
    source_hw: tuple[int, int]


def resize_longest(image: np.ndarray, input_size: int) -> Prepared:
    """Resize `image` so its longer side is `input_size` (area filter when shrinking)."""
    h, w = image.shape[:2]
    scale = input_size / max(h, w)
    if scale == 1.0:
        return Prepared(image, 1.0, (h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return Prepared(cv2.resize(image, size, interpolation=interp), scale, (h, w))


def letterbox(batch: list[Prepared], norm: Normalisation, multiple: int = 32) -> np.ndarray:
    """Stack prepared RGB uint8 images into one normalised float32 NCHW tensor (zero padded)."""
    height = math.ceil(max(p.image.shape[0] for p in batch) / multiple) * multiple
    width = math.ceil(max(p.image.shape[1] for p in batch) / multiple) * multiple
    canvas = np.zeros((len(batch), height, width, 3), np.float32)
    mean = np.asarray(norm.mean, np.float32)
    inv_std = 1.0 / np.asarray(norm.std, np.float32)
    for i, p in enumerate(batch):
        img = p.image[..., ::-1] if norm.bgr else p.image
        h, w = img.shape[:2]
        np.multiply(np.subtract(img, mean, dtype=np.float32), inv_std, out=canvas[i, :h, :w])
    return np.ascontiguousarray(canvas.transpose(0, 3, 1, 2))


def prefetch_map(fn: Callable[[T], R], items: Iterable[T], executor: Executor, depth: int) -> Iterator[R]:
    """`map(fn, items)` run on `executor`, in order, with at most `depth` calls in flight: the consumer
    (inference) works on one result while the pool decodes the next ones, and memory stays bounded."""
    pending: deque[Future[R]] = deque()
    for item in items:
        pending.append(executor.submit(fn, item))
        if len(pending) >= depth:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def grouped_batches(items: Iterable[T], size: int, key: Callable[[T], object]) -> Iterator[list[T]]:
    """Batches of `size` items sharing `key` (e.g. landscape vs portrait), as Detectron2's aspect-ratio
    grouping: a landscape and a portrait image letterboxed together would pad both to a square and
    nearly double the pixels the network processes. At most one partial batch per key waits; they
    are flushed at the end, so order changes but every item comes out once."""
    waiting: dict[object, list[T]] = {}
    for item in items:
        group = waiting.setdefault(key(item), [])
        group.append(item)
        if len(group) == size:
            yield waiting.pop(key(item))
    yield from (group for group in waiting.values() if group)


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of `size` items (the last may be shorter)."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
