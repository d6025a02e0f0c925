"""Expression classification (RAF-DB, AffectNet, FER)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from facerep.downstream import chance
from facerep.downstream import metrics as M
from facerep.downstream.augment import EMOTION
from facerep.downstream.data import Split, TaskData
from facerep.downstream.tasks.base import HeadSpec, Task, register_task


@register_task("expression")
class Expression(Task):
    """Linear head, cross-entropy; accuracy and mean per-class accuracy (RAF-DB, AffectNet, FER)."""

    label, primary, order = "expression", "accuracy", 0
    augment = EMOTION

    def targets(self, split: Split) -> Tensor:
        return torch.tensor(split.labels[self.label], dtype=torch.long)

    def out_dim(self, spec: HeadSpec) -> int:
        return int(spec.data.meta.get("classes") or spec.data.train.labels[self.label].max() + 1)

    def loss(self, out: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(out, y)

    def distill_loss(self, out: Tensor, teacher: Tensor) -> Tensor:
        """Cross-entropy on the teacher's softmax probabilities (KL up to the teacher's entropy)."""
        return self.loss(out, teacher.softmax(1))

    def evaluate(self, pred: Tensor, split: Split, data: TaskData) -> dict[str, float]:
        y = split.labels[self.label]
        return {"accuracy": M.accuracy(pred, y), "mean_class_accuracy": M.mean_per_class_accuracy(pred, y)}

    def constant(self, train: Split, data: TaskData) -> Tensor:
        classes = self.out_dim(HeadSpec(0, [], data, train))
        return torch.as_tensor(
            chance.one_hot_logits(chance.majority_class(train.labels[self.label]), classes)
        )
