"""The chance floor of a few-shot point: the best constant prediction fitted on the training labels of
the point's subset, scored on the test split with the task's own metrics.

A score is only meaningful above what a prediction that ignores the face achieves, so the finetune
stage writes this floor beside every init (the pseudo-init `chance`, docs/finetune.md). Nothing is
trained and no image is read. "Best" follows each task's metric:

- a class (expression, and the expression logits of valence/arousal): the majority class, which
  maximises accuracy among constants;
- binary attributes: each attribute's majority value (its accuracy is then its majority share);
- values scored by squared error or a correlation (AU intensities, valence/arousal): the mean,
  which minimises the squared error (ICC, CCC of any constant are 0);
- head pose, scored by mean absolute error: the per-angle median, which minimises it;
- landmarks: the mean shape, the floor Bulat et al.'s NME tables are read against;
- verification: a constant score (every face the same embedding). No threshold separates tied
  scores, so the 10-fold accuracy on the balanced pairs is 0.5 and TAR is 0 at any FAR below 1.

Each task turns these into a prediction in its own form (`Task.constant`); `chance_metrics` scores it.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from facerep.downstream.data import Split, TaskData
    from facerep.downstream.tasks import Task


def majority_class(labels: np.ndarray) -> int:
    """The most frequent class of integer `labels` (the smallest one among ties)."""
    return int(np.bincount(np.asarray(labels, dtype=np.int64)).argmax())


def one_hot_logits(cls: int, classes: int) -> np.ndarray:
    """Class scores (classes,) whose argmax is `cls`: what a classifier predicting `cls` outputs."""
    out = np.zeros(classes, dtype=np.float32)
    out[cls] = 1.0
    return out


def column_majority(labels: np.ndarray) -> np.ndarray:
    """Per column of 0/1 `labels` (N, A): 1 where more than half the items are positive, else 0."""
    return (np.asarray(labels, dtype=np.float64).mean(axis=0) > 0.5).astype(np.float32)


def column_mean(values: np.ndarray) -> np.ndarray:
    """The mean over items of `values` (N, ...): the constant of least squared error (a mean shape
    for landmarks (N, K, 2))."""
    return np.asarray(values, dtype=np.float64).mean(axis=0).astype(np.float32)


def column_median(values: np.ndarray) -> np.ndarray:
    """The median over items of `values` (N, D): the constant of least absolute error."""
    return np.median(np.asarray(values, dtype=np.float64), axis=0).astype(np.float32)


def chance_metrics(task: Task, train: Split, test: Split, data: TaskData) -> dict[str, float]:
    """`task`'s metrics on `test` of the best constant fitted on `train`'s labels (`Task.constant`)."""
    row = task.constant(train, data)
    pred = row.unsqueeze(0).expand(len(test), *row.shape).clone()
    with warnings.catch_warnings():  # a constant has no correlation (PCC is NaN): torchmetrics warns
        warnings.simplefilter("ignore", UserWarning)
        return task.evaluate(pred, test, data)
