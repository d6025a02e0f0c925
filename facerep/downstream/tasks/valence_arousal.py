"""Valence, arousal and expression from one head (AffectNet): Bulat et al. D.1."""

from __future__ import annotations

import torch
from torch import Tensor

from facerep.downstream import chance
from facerep.downstream import metrics as M
from facerep.downstream.augment import EMOTION
from facerep.downstream.data import Split, TaskData
from facerep.downstream.losses import valence_arousal_loss
from facerep.downstream.tasks.base import HeadSpec, Task, register_task
from facerep.downstream.tasks.expression import Expression


@register_task("valence_arousal")
class ValenceArousal(Task):
    """Bulat D.1: a linear head giving valence, arousal and expression logits; loss RMSE + (1 - CCC) +
    cross-entropy; RMSE, CCC, PCC, SAGR per dimension and expression accuracy."""

    label, primary, order = "valence_arousal", "ccc", 6
    augment = EMOTION

    def targets(self, split: Split) -> Tensor:
        va = torch.tensor(split.labels[self.label], dtype=torch.float32)
        expr = torch.tensor(split.labels["expression"], dtype=torch.float32)
        return torch.cat([va, expr[:, None]], dim=1)

    def out_dim(self, spec: HeadSpec) -> int:
        return 2 + Expression().out_dim(spec)

    def loss(self, out: Tensor, y: Tensor) -> Tensor:
        return valence_arousal_loss(out[:, :2], y[:, :2], out[:, 2:], y[:, 2].long())

    def distill_loss(self, out: Tensor, teacher: Tensor) -> Tensor:
        """RMSE + (1 - CCC) on the values, soft cross-entropy on the teacher's expression softmax."""
        return valence_arousal_loss(out[:, :2], teacher[:, :2], out[:, 2:], teacher[:, 2:].softmax(1))

    def evaluate(self, pred: Tensor, split: Split, data: TaskData) -> dict[str, float]:
        y = split.labels[self.label]
        va = pred[:, :2].numpy()
        out = {
            "ccc": M.ccc(va, y),
            "rmse": M.rmse(va, y),
            "accuracy": M.accuracy(pred[:, 2:], split.labels["expression"]),
        }
        for k, name in enumerate(("valence", "arousal")):
            p, t = va[:, k], y[:, k]
            out |= {f"{name}_rmse": M.rmse(p, t), f"{name}_ccc": M.ccc(p, t), f"{name}_pcc": M.pcc(p, t)}
            out[f"{name}_sagr"] = M.sagr(p, t)
        return out

    def constant(self, train: Split, data: TaskData) -> Tensor:
        expression = Expression().constant(train, data)
        return torch.cat([torch.as_tensor(chance.column_mean(train.labels[self.label])), expression])
