"""The detector interface, its result type and the backend registry (`detect.backend`).

Every backend takes a list of RGB uint8 images of any sizes and returns one `Detections` per image in
source pixels, so the stage, the benchmark and the synth helper's tuning code never see a backend's
input normalisation, letterboxing or output layout.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from facerep.faces.batching import Prepared

if TYPE_CHECKING:
    from facerep.faces.config import DetectParams

BACKENDS: dict[str, str] = {
    "retinaface": "facerep.faces.retinaface_resnet:RetinaFaceResNet50",
    "retinaface_mobile": "facerep.faces.retinaface_mobile:RetinaFaceMobile",
    "scrfd": "facerep.faces.scrfd:Scrfd",
}


@dataclass(frozen=True)
class Detections:
    """Faces found in one image: boxes (N, 4) x1,y1,x2,y2, scores (N,), landmarks5 (N, 5, 2), all in
    source pixels, sorted by decreasing score. Landmark order: left eye, right eye, nose tip, left and
    right mouth corner, image-left to image-right (RetinaFace / ArcFace order)."""

    boxes: np.ndarray
    scores: np.ndarray
    landmarks5: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32))


class Detector(ABC):
    """A face detector over lists of RGB uint8 (H, W, 3) images.

    Work is split in two so a pipeline can run them on different threads: `prepare` (per image,
    pure numpy/OpenCV, runs in the decode pool) and `detect_prepared` (one batch, the network)."""

    name: str
    batch_size: int = 8
    parallel_batches: int = 1
    """How many `detect_prepared` calls the pipeline may run at once (thread-safe backends only)."""

    def prepare(self, image: np.ndarray) -> Prepared:
        """Per-image preprocessing that can run beside inference (resizing)."""
        return Prepared(image, 1.0, image.shape[:2])

    @abstractmethod
    def detect_prepared(self, batch: list[Prepared]) -> list[Detections]:
        """One `Detections` per prepared image, in source pixels."""

    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        """One `Detections` per image, in source pixels, run `batch_size` images at a time."""
        out: list[Detections] = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            out.extend(self.detect_prepared([self.prepare(im) for im in chunk]))
        return out


def build_detector(params: DetectParams) -> Detector:
    """The backend named by `detect.backend`, configured from the `detect:` section."""
    from facerep.errors import InputError

    if params.backend not in BACKENDS:
        raise InputError(f"detect.backend: unknown backend {params.backend!r}; one of {', '.join(BACKENDS)}")
    module, cls = BACKENDS[params.backend].split(":")
    return getattr(importlib.import_module(module), cls).from_params(params)
