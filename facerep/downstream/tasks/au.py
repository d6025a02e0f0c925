"""Action-unit intensities (DISFA, BP4D): Bulat et al. 5.3."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from facerep.downstream import chance
from facerep.downstream import metrics as M
from facerep.downstream.augment import BLUR, EMOTION
from facerep.downstream.data import Split, TaskData
from facerep.downstream.tasks.base import Task, register_task


@register_task("au")
class ActionUnits(Task):
    """Bulat 5.3: linear head regressing each AU intensity with an L2 loss; ICC(3,1) per AU and mean.
    A.2 blurs AU faces besides the emotion recipe."""

    label, primary, order = "au", "icc", 3
    augment = EMOTION | {BLUR}

    def loss(self, out: Tensor, y: Tensor) -> Tensor:
        return F.mse_loss(out, y)

    def evaluate(self, pred: Tensor, split: Split, data: TaskData) -> dict[str, float]:
        y = split.labels[self.label]
        per = M.icc_per_column(pred, y)
        names = data.meta.get("au_names") or [str(i) for i in range(y.shape[1])]
        out = {"icc": float(per.mean()), "mae": M.mae(pred, y)}
        return out | {f"icc_{n}": float(v) for n, v in zip(names, per, strict=False)}

    def constant(self, train: Split, data: TaskData) -> Tensor:
        return torch.as_tensor(chance.column_mean(train.labels[self.label]))
