"""Head pose (300W-LP -> AFLW2000)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from facerep.downstream import chance
from facerep.downstream.augment import FLIP, SCALE, TRANSLATE
from facerep.downstream.data import Split, TaskData
from facerep.downstream.tasks.base import Task, register_task

POSE_SCALE = 45.0  # degrees -> O(1) regression targets


@register_task("pose")
class Pose(Task):
    """Head pose (300W-LP -> AFLW2000 protocol): linear regression of yaw, pitch, roll; MAE in degrees.
    Trained with A.2's 300W-LP recipe less rotation (`facerep.downstream.augment`)."""

    label, primary, order = "pose", "mae", 5
    higher_is_better = False
    augment = frozenset({SCALE, TRANSLATE, FLIP})

    def targets(self, split: Split) -> Tensor:
        return super().targets(split) / POSE_SCALE

    def loss(self, out: Tensor, y: Tensor) -> Tensor:
        return F.smooth_l1_loss(out, y, beta=0.05)

    def infer(self, head: nn.Module, pooled: Tensor, maps: list[Tensor]) -> Tensor:
        return head(pooled, maps) * POSE_SCALE

    def evaluate(self, pred: Tensor, split: Split, data: TaskData) -> dict[str, float]:
        y = split.labels[self.label]
        per = np.abs(pred.numpy() - y).mean(axis=0)
        return {
            "mae": float(per.mean()),
            "mae_yaw": float(per[0]),
            "mae_pitch": float(per[1]),
            "mae_roll": float(per[2]),
        }

    def constant(self, train: Split, data: TaskData) -> Tensor:
        return torch.as_tensor(chance.column_median(train.labels[self.label]))  # degrees, like `infer`
