"""Metrics of the face-analysis tasks (DESIGN section 3 contract), as the papers define them.

Inputs are numpy arrays or tensors; outputs are floats (or per-item arrays where a curve needs them).
PCC comes from torchmetrics; NME, ICC(3,1), TAR@FAR and LFW-style verification accuracy have no
torchmetrics counterpart with these conventions (dataset-specific normalisers, two-way mixed ICC,
largest TAR under a FAR cap, 10-fold threshold choice) and CCC differs (see `ccc`), so they are
written here and tested against independent computations in tests/downstream/test_metrics.py.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

Norm = Literal["inter_ocular", "inter_pupil", "diag", "box"]

#: Outer eye corners per landmark count (300W 68-point iBUG order; WFLW 98 points; COFW 29 points in
#: the 0-based order of datasets/cofw.py, following HRNet's COFW evaluation, `pts_gt[8] - pts_gt[9]`).
OUTER_EYE_CORNERS: dict[int, tuple[int, int]] = {68: (36, 45), 98: (60, 72), 5: (0, 1), 29: (8, 9)}
#: Pupils: index lists averaged per eye (68 points have no pupil: the mean of each eye's six points;
#: COFW's pupils are 16 and 17 0-based, following the RCPR code that ships COFW, `distPup`).
PUPILS: dict[int, tuple[list[int], list[int]]] = {
    68: (list(range(36, 42)), list(range(42, 48))),
    98: ([96], [97]),
    5: ([0], [1]),
    29: ([16], [17]),
}


def _np(x: object) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def _normaliser(target: np.ndarray, norm: Norm, boxes: np.ndarray | None) -> np.ndarray:
    """Per-image normalising distance; `boxes` (N, 4) x1,y1,x2,y2, else the landmarks' bounding box."""
    k = target.shape[1]
    if norm in ("inter_ocular", "inter_pupil"):
        table = OUTER_EYE_CORNERS if norm == "inter_ocular" else PUPILS
        if k not in table:
            raise ValueError(f"nme: no {norm} convention for {k} landmarks; use diag or box")
        a, b = table[k]
        left = target[:, np.atleast_1d(a)].mean(axis=1)
        right = target[:, np.atleast_1d(b)].mean(axis=1)
        return np.linalg.norm(left - right, axis=1)
    if boxes is None:
        boxes = np.concatenate([target.min(axis=1), target.max(axis=1)], axis=1)
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    if norm == "diag":
        return np.sqrt(w**2 + h**2)
    if norm == "box":
        return np.sqrt(w * h)
    raise ValueError(f"nme: unknown normalisation {norm!r}")


def nme_per_image(pred: object, target: object, norm: Norm, boxes: object | None = None) -> np.ndarray:
    """Mean point-to-point error over the K points of each image divided by its normaliser: (N,)."""
    p, t = _np(pred), _np(target)
    b = None if boxes is None else _np(boxes)
    err = np.linalg.norm(p - t, axis=2).mean(axis=1)
    return err / _normaliser(t, norm, b)


def nme(pred: object, target: object, norm: Norm, boxes: object | None = None) -> float:
    """NME over a set (a fraction, not a percentage): 300W/WFLW inter-ocular, AFLW diag, COFW, box."""
    return float(nme_per_image(pred, target, norm, boxes).mean())


def failure_rate(errors: np.ndarray, threshold: float = 0.1) -> float:
    """Fraction of images whose NME exceeds `threshold` (FR@10%, WFLW protocol)."""
    return float((np.asarray(errors) > threshold).mean())


def auc_ced(errors: np.ndarray, threshold: float = 0.1, points: int = 1001) -> float:
    """Area under the cumulative error distribution up to `threshold`, scaled to [0, 1] (AUC@10%)."""
    xs = np.linspace(0.0, threshold, points)
    ced = (np.asarray(errors)[None, :] <= xs[:, None]).mean(axis=1)
    return float(np.trapezoid(ced, xs) / threshold)


def icc_per_column(pred: object, target: object) -> np.ndarray:
    """ICC(3,1) (Shrout and Fleiss 1979, two-way mixed, consistency) of each column, k=2 'raters'.

    ICC(3,1) = (MS_R - MS_E) / (MS_R + (k-1) MS_E), with MS_R the between-subjects and MS_E the
    residual mean square of the two-way ANOVA over subjects x {prediction, ground truth}.
    """
    p, t = _np(pred), _np(target)
    if p.ndim == 1:
        p, t = p[:, None], t[:, None]
    y = np.stack([p, t], axis=1)  # (n, k, c)
    n, k = y.shape[0], y.shape[1]
    grand = y.mean(axis=(0, 1))
    ss_total = ((y - grand) ** 2).sum(axis=(0, 1))
    ss_rows = k * ((y.mean(axis=1) - grand) ** 2).sum(axis=0)
    ss_cols = n * ((y.mean(axis=0) - grand) ** 2).sum(axis=0)
    ms_r = ss_rows / (n - 1)
    ms_e = (ss_total - ss_rows - ss_cols) / ((n - 1) * (k - 1))
    denom = ms_r + (k - 1) * ms_e
    return np.where(denom > 0, (ms_r - ms_e) / np.where(denom > 0, denom, 1.0), 0.0)


def icc(pred: object, target: object) -> float:
    """ICC(3,1) per column (per AU) then averaged, as Bulat et al. 5.3 report on DISFA and BP4D."""
    return float(icc_per_column(pred, target).mean())


def _columns(x: object) -> torch.Tensor:
    t = torch.as_tensor(_np(x))
    return t[:, None] if t.ndim == 1 else t


def ccc(pred: object, target: object) -> float:
    """Lin's concordance correlation coefficient with population moments (Lin 1989; the AVEC/AffectNet
    evaluation scripts), per column then averaged. torchmetrics' `concordance_corrcoef` mixes n-1 and n
    normalisations, which differs in the fourth digit on a few hundred items, so it is not used here."""
    p, t = _columns(pred).double(), _columns(target).double()
    pm, tm = p.mean(0), t.mean(0)
    cov = ((p - pm) * (t - tm)).mean(0)
    value = 2 * cov / (p.var(0, unbiased=False) + t.var(0, unbiased=False) + (pm - tm) ** 2)
    return float(value.mean())


def pcc(pred: object, target: object) -> float:
    """Pearson correlation per column then averaged (torchmetrics)."""
    from torchmetrics.functional.regression import pearson_corrcoef

    return float(pearson_corrcoef(_columns(pred), _columns(target)).mean())


def rmse(pred: object, target: object) -> float:
    """Root mean squared error over all entries."""
    return float(np.sqrt(((_np(pred) - _np(target)) ** 2).mean()))


def mae(pred: object, target: object) -> float:
    """Mean absolute error over all entries (head pose: degrees)."""
    return float(np.abs(_np(pred) - _np(target)).mean())


def sagr(pred: object, target: object) -> float:
    """Sign agreement: fraction of entries whose sign matches (valence/arousal, Kossaifi et al.)."""
    return float((np.sign(_np(pred)) == np.sign(_np(target))).mean())


def accuracy(logits: object, targets: object) -> float:
    """Top-1 accuracy of class scores (N, C) against integer targets (N,)."""
    return float((_np(logits).argmax(axis=1) == _np(targets).astype(int)).mean())


def mean_per_class_accuracy(logits: object, targets: object) -> float:
    """Recall averaged over the classes present in `targets` (AffectNet, RAF-DB 'average accuracy')."""
    pred, t = _np(logits).argmax(axis=1), _np(targets).astype(int)
    return float(np.mean([(pred[t == c] == c).mean() for c in np.unique(t)]))


def mean_accuracy(logits: object, targets: object) -> float:
    """Multi-label attributes (CelebA, LFWA): accuracy of each binary logit > 0, averaged over attributes."""
    return float(((_np(logits) > 0) == (_np(targets) > 0.5)).mean(axis=0).mean())


def tar_at_far(scores: object, same: object, far: float) -> float:
    """The largest true-accept rate over thresholds whose false-accept rate does not exceed `far`.

    A threshold t accepts pairs with score >= t. With negatives sorted descending, at most
    k = floor(far * n_neg) of them may be accepted, so t must exceed the (k+1)-th highest negative
    score; every positive above it can be accepted.
    """
    s, y = _np(scores), _np(same).astype(bool)
    pos, neg = s[y], np.sort(s[~y])[::-1]
    k = int(np.floor(far * len(neg) + 1e-9))
    if k >= len(neg):
        return 1.0
    return float((pos > neg[k]).mean())


def _best_threshold(s: np.ndarray, y: np.ndarray) -> float:
    """The score threshold (accept >= t) with the highest accuracy on (s, y), by one sort."""
    order = np.argsort(s)
    ss, yy = s[order], y[order]
    # threshold at ss[i]: items 0..i-1 rejected, i.. accepted
    neg_below = np.concatenate([[0], np.cumsum(~yy)])[:-1]
    pos_at_or_above = yy.sum() - np.concatenate([[0], np.cumsum(yy)])[:-1]
    first = np.r_[True, ss[1:] != ss[:-1]]
    acc = np.where(first, neg_below + pos_at_or_above, -1)
    i = int(np.argmax(acc))
    # midway to the next lower score, so held-out items between the two fall on the accepted side
    return float(ss[i] if i == 0 else (ss[i] + ss[i - 1]) / 2)


def verification_accuracy(scores: object, same: object, folds: int = 10) -> float:
    """LFW protocol: the threshold is chosen on the other folds, accuracy measured on the held-out one."""
    s, y = _np(scores), _np(same).astype(bool)
    fold = np.arange(len(s)) % folds
    accs = []
    for f in range(folds):
        test = fold == f
        t_best = _best_threshold(s[~test], y[~test])
        accs.append(((s[test] >= t_best) == y[test]).mean())
    return float(np.mean(accs))
