"""Detection recall against ground-truth boxes, by face size: the measure behind the acceptance
criterion (recall at IoU 0.5 for faces of 40 px and more) and the benchmark's per-size table.

Matching is greedy by detection score, one detection per ground-truth face (the PASCAL VOC rule,
Everingham et al. 2010, section 4.4), so a duplicate detection counts as a false positive.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from facerep.faces.postprocess import box_iou

SIZE_BINS: tuple[float, ...] = (0, 24, 40, 64, 128, np.inf)


@dataclass(frozen=True)
class Match:
    """Per ground-truth face: matched or not; per detection: true or false positive."""

    gt_matched: np.ndarray
    det_true: np.ndarray


def match(gt_boxes: np.ndarray, det_boxes: np.ndarray, det_scores: np.ndarray, iou: float = 0.5) -> Match:
    """Greedy one-to-one matching of detections (by decreasing score) to ground truth at `iou`."""
    gt = np.asarray(gt_boxes, float).reshape(-1, 4)
    det = np.asarray(det_boxes, float).reshape(-1, 4)
    gt_matched = np.zeros(len(gt), bool)
    det_true = np.zeros(len(det), bool)
    if len(gt) and len(det):
        overlaps = box_iou(det, gt)
        for d in np.argsort(-np.asarray(det_scores), kind="stable"):
            candidates = np.where(~gt_matched & (overlaps[d] >= iou))[0]
            if candidates.size:
                g = candidates[overlaps[d, candidates].argmax()]
                gt_matched[g] = det_true[d] = True
    return Match(gt_matched, det_true)


def gt_face_size(gt_boxes: np.ndarray) -> np.ndarray:
    """Face size of ground-truth boxes: the longer side, as `facerep.faces.crop.face_size`."""
    gt = np.asarray(gt_boxes, float).reshape(-1, 4)
    return np.maximum(gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1])


def recall_table(sizes: np.ndarray, matched: np.ndarray, bins: tuple[float, ...] = SIZE_BINS) -> list[dict]:
    """Rows of (size range, faces, recall) over the given face-size bins."""
    rows = []
    for lo, hi in itertools.pairwise(bins):
        sel = (sizes >= lo) & (sizes < hi)
        n = int(sel.sum())
        rows.append(
            {"lo": lo, "hi": hi, "faces": n, "recall": float(matched[sel].mean()) if n else float("nan")}
        )
    return rows
