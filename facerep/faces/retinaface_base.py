"""What the two RetinaFace backends share: letterboxed batches in, priors decoded, faces selected.

A backend only says how its network is normalised and how to run one letterboxed uint8 canvas to the
raw (loc, face probability, landmark) arrays over the standard priors (`facerep.faces.priors`); it
normalises where its network runs (`batching.normalise` on the CPU, on the GPU for the torch one).
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from facerep.faces.batching import Canvas, Normalisation, Prepared, letterbox_pixels, resize_longest
from facerep.faces.detector import Detections, Detector
from facerep.faces.postprocess import Selection, select_faces
from facerep.faces.priors import decode_boxes, decode_landmarks, prior_boxes


class RetinaFaceBase(Detector):
    """Batched RetinaFace inference with facerep's own pre- and post-processing."""

    normalisation: Normalisation

    def __init__(self, selection: Selection, input_size: int = 640, batch_size: int = 8) -> None:
        self.selection = selection
        self.input_size = input_size
        self.batch_size = batch_size

    @abstractmethod
    def forward(self, canvas: Canvas) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Normalise and run the network on a letterboxed canvas: loc (N, P, 4), face probability
        (N, P) and landmark regressions (N, P, 10)."""

    def prepare(self, image: np.ndarray) -> Prepared:
        return resize_longest(image, self.input_size)

    def detect_prepared(self, batch: list[Prepared]) -> list[Detections]:
        if not batch:
            return []
        canvas = letterbox_pixels(batch, self.normalisation.bgr)
        loc, prob, landm = self.forward(canvas)
        priors = prior_boxes(canvas.pixels.shape[1], canvas.pixels.shape[2])
        out = []
        for i, p in enumerate(batch):
            keep = prob[i] >= self.selection.threshold
            boxes = decode_boxes(loc[i][keep], priors[keep]) / p.scale
            points = decode_landmarks(landm[i][keep], priors[keep]) / p.scale
            out.append(select_faces(boxes, prob[i][keep], points, self.selection))
        return out
