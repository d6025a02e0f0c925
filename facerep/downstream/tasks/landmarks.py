"""Facial landmarks (300W, WFLW, AFLW-19, COFW): Bulat et al. 5.2."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from facerep.downstream import chance
from facerep.downstream import metrics as M
from facerep.downstream.augment import EMOTION
from facerep.downstream.data import Split, TaskData
from facerep.downstream.heads import HeatmapHead
from facerep.downstream.heatmaps import decode, render
from facerep.downstream.tasks.base import HeadSpec, Task, register_task

if TYPE_CHECKING:
    from facerep.downstream.config import FinetuneParams

#: the pixel-wise MSE on heatmaps is scaled by this (its values are small), distillation's alike
HEATMAP_LOSS_SCALE = 100.0


@register_task("landmarks")
class Landmarks(Task):
    """Bulat 5.2: heatmap head, pixel-wise L2 on Gaussian heatmaps, sub-pixel decoding; NME with the
    dataset's normaliser, failure rate and AUC at 10%."""

    label, primary, order = "landmarks", "nme", 2
    higher_is_better = False
    needs_maps = True
    augment = EMOTION

    def __init__(self, sigma: float = 1.0, width: int = 256) -> None:
        self.sigma, self.width = sigma, width

    @classmethod
    def from_params(cls, f: FinetuneParams) -> Landmarks:
        return cls(f.heatmap_sigma, f.heatmap_width)

    def make_head(self, spec: HeadSpec) -> nn.Module:
        return HeatmapHead(spec.channels, spec.train.labels[self.label].shape[1], self.width)

    def loss(self, out: Tensor, y: Tensor) -> Tensor:
        target = render(y, out.shape[-2], out.shape[-1], self.sigma)
        return F.mse_loss(out, target) * HEATMAP_LOSS_SCALE

    def distill_loss(self, out: Tensor, teacher: Tensor) -> Tensor:
        """Pixel-wise L2 between the heatmaps, as Bulat 3.5 says."""
        return F.mse_loss(out, teacher) * HEATMAP_LOSS_SCALE

    def infer(self, head: nn.Module, pooled: Tensor, maps: list[Tensor]) -> Tensor:
        return decode(head(pooled, maps))

    def evaluate(self, pred: Tensor, split: Split, data: TaskData) -> dict[str, float]:
        norm = str(data.meta.get("nme_norm", "inter_ocular"))
        boxes = split.labels.get("box") if norm in ("diag", "box") else None
        errors = M.nme_per_image(pred, split.labels[self.label], norm, boxes)  # type: ignore[arg-type]
        return {"nme": float(errors.mean()), "fr10": M.failure_rate(errors), "auc10": M.auc_ced(errors)}

    def constant(self, train: Split, data: TaskData) -> Tensor:
        return torch.as_tensor(chance.column_mean(train.labels[self.label]))  # the mean shape
