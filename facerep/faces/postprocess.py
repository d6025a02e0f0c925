"""From dense per-prior predictions to a short list of faces: threshold, NMS, size and count limits.

Shared by every backend so `detect.threshold`, `detect.nms_iou`, `detect.min_face_px` and
`detect.max_faces` mean the same thing whichever network produced the scores. Greedy NMS is written
in numpy (a few lines) so the ONNX path does not import torch only for `torchvision.ops.nms`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facerep.faces.detector import Detections

PRE_NMS_TOP_K = 5000


@dataclass(frozen=True)
class Selection:
    """The filtering parameters of one detector."""

    threshold: float = 0.6
    nms_iou: float = 0.4
    min_face_px: float = 0.0
    max_faces: int = 50


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N, 4) and (M, 4) x1,y1,x2,y2 boxes -> (N, M)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clip(0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clip(0).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, by decreasing score."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best = order[0]
        keep.append(int(best))
        if order.size == 1:
            break
        overlaps = box_iou(boxes[best : best + 1], boxes[order[1:]])[0]
        order = order[1:][overlaps <= iou]
    return np.asarray(keep, dtype=np.int64)


def select_faces(
    boxes: np.ndarray, scores: np.ndarray, landmarks5: np.ndarray, selection: Selection
) -> Detections:
    """Threshold, keep the top `PRE_NMS_TOP_K`, NMS, drop faces smaller than `min_face_px` (longer
    side, source pixels), keep the best `max_faces`. Inputs are one image's dense predictions."""
    mask = scores >= selection.threshold
    boxes, scores, landmarks5 = boxes[mask], scores[mask], landmarks5[mask]
    top = np.argsort(-scores, kind="stable")[:PRE_NMS_TOP_K]
    boxes, scores, landmarks5 = boxes[top], scores[top], landmarks5[top]
    keep = nms(boxes, scores, selection.nms_iou)
    boxes, scores, landmarks5 = boxes[keep], scores[keep], landmarks5[keep]
    sizes = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    big = sizes >= selection.min_face_px
    boxes, scores, landmarks5 = boxes[big], scores[big], landmarks5[big]
    n = min(len(scores), selection.max_faces)
    return Detections(
        boxes[:n].astype(np.float32), scores[:n].astype(np.float32), landmarks5[:n].astype(np.float32)
    )
