"""Binary face attributes (CelebA, LFWA)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from facerep.downstream import chance
from facerep.downstream import metrics as M
from facerep.downstream.augment import EMOTION
from facerep.downstream.data import Split, TaskData
from facerep.downstream.tasks.base import Task, register_task


@register_task("attributes")
class Attributes(Task):
    """One logit per attribute, binary cross-entropy; mean accuracy over attributes (CelebA, LFWA).
    A.2 has no attribute task; they train with the emotion recipe."""

    label, primary, order = "attributes", "mean_accuracy", 1
    augment = EMOTION

    def loss(self, out: Tensor, y: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(out, y)

    def distill_loss(self, out: Tensor, teacher: Tensor) -> Tensor:
        """Binary cross-entropy on the teacher's sigmoid probabilities."""
        return self.loss(out, teacher.sigmoid())

    def evaluate(self, pred: Tensor, split: Split, data: TaskData) -> dict[str, float]:
        y = split.labels[self.label]
        per = ((pred.numpy() > 0) == (y > 0.5)).mean(axis=0)
        names = data.meta.get("attribute_names") or [str(i) for i in range(y.shape[1])]
        return {"mean_accuracy": M.mean_accuracy(pred, y)} | {
            f"acc_{n}": float(a) for n, a in zip(names, per, strict=False)
        }

    def constant(self, train: Split, data: TaskData) -> Tensor:
        return torch.as_tensor(chance.column_majority(train.labels[self.label]) * 2 - 1)  # logits of +-1
