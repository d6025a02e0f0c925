"""Letterboxed batches and a bounded, ordered prefetch that overlaps image decoding with inference.

A detector sees images of every size; a batch needs one tensor. Each image is resized so its longer
side is `input_size` (small images are enlarged too, so a face's size at the network input does not
depend on the source resolution, as retinaface-pytorch's `LongestMaxSize`), then pasted top-left on
a canvas whose sides are the batch's largest sides rounded up to a multiple of the coarsest stride.
The canvas stays uint8 (a quarter of float32's bytes to copy or upload to a GPU) and is normalised
where the network runs: `normalise` on the CPU for ONNX Runtime, the torch backend on its device.
Padding is zero after normalisation, i.e. the mean colour, which the networks read as background.
Pasting top-left means mapping back is a single division by the resize scale. Batches group images
of one canvas shape (`grouped_batches`) so little of the canvas is padding.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator
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


def canvas_shape(prepared: Prepared, multiple: int = 32) -> tuple[int, int]:
    """The letterbox canvas one prepared image needs on its own (sides rounded up to `multiple`)."""
    h, w = prepared.image.shape[:2]
    return math.ceil(h / multiple) * multiple, math.ceil(w / multiple) * multiple


@dataclass(frozen=True)
class Canvas:
    """A letterboxed batch: uint8 NHWC pixels in the network's channel order, and each image's (h, w)
    on the canvas (beyond it is padding)."""

    pixels: np.ndarray
    sizes: tuple[tuple[int, int], ...]


def letterbox_pixels(batch: list[Prepared], bgr: bool = False, multiple: int = 32) -> Canvas:
    """Paste prepared RGB uint8 images top-left on one zeroed uint8 canvas (BGR when `bgr`)."""
    shapes = [canvas_shape(p, multiple) for p in batch]
    height, width = max(s[0] for s in shapes), max(s[1] for s in shapes)
    pixels = np.zeros((len(batch), height, width, 3), np.uint8)
    for i, p in enumerate(batch):
        h, w = p.image.shape[:2]
        pixels[i, :h, :w] = p.image[..., ::-1] if bgr else p.image
    return Canvas(pixels, tuple(p.image.shape[:2] for p in batch))


def normalise(canvas: Canvas, norm: Normalisation) -> np.ndarray:
    """The float32 NCHW network input of a canvas: `(pixel - mean) / std`, padding zero."""
    mean = np.asarray(norm.mean, np.float32)
    inv_std = 1.0 / np.asarray(norm.std, np.float32)
    out = np.zeros(canvas.pixels.shape, np.float32)
    for i, (h, w) in enumerate(canvas.sizes):
        centred = np.subtract(canvas.pixels[i, :h, :w], mean, dtype=np.float32)
        np.multiply(centred, inv_std, out=out[i, :h, :w])
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


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


def grouped_batches(
    items: Iterable[T], size: int, key: Callable[[T], Hashable], max_waiting: int | None = None
) -> Iterator[list[T]]:
    """Batches of up to `size` items sharing `key` (the letterbox canvas shape), as Detectron2's
    aspect-ratio grouping: images of different shapes letterboxed together are all padded to the
    largest, and the network then spends time on padding. Photos cluster on a few aspect ratios
    (4:3, 3:2, 16:9, 1:1), so after resizing to a common longer side most batches need no padding.
    At most `max_waiting` items (default `2 * size`) wait in partial groups; beyond that the fullest
    group goes out as it is. Order changes; every item comes out exactly once."""
    limit = max_waiting if max_waiting is not None else 2 * size
    waiting: dict[Hashable, list[T]] = {}
    pending = 0
    for item in items:
        k = key(item)
        group = waiting.setdefault(k, [])
        group.append(item)
        pending += 1
        if len(group) == size:
            pending -= len(group)
            yield waiting.pop(k)
        elif pending > limit:
            fullest = max(waiting, key=lambda g: len(waiting[g]))
            pending -= len(waiting[fullest])
            yield waiting.pop(fullest)
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
