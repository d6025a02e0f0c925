"""BYOL (Grill et al. 2020): an online network predicts an EMA target network's projection.

Online: backbone -> projector -> predictor; target: EMA copies of backbone and projector with
tau rising from 0.996 to 1 on a cosine (section 3.2). Loss: eq. 2 on both view orders (the
symmetrised loss of section 3.2). Heads are lightly's `BYOLProjectionHead` / `BYOLPredictionHead`
(MLP 4096 -> 256 with batch norm, appendix A). The loss needs no negatives, so it is independent of
how the batch is split across processes (given SyncBatchNorm).
"""

from __future__ import annotations

import torch
from lightly.models.modules.heads import BYOLPredictionHead, BYOLProjectionHead
from torch import Tensor

from facerep.ssl.backbones import Backbone
from facerep.ssl.base import Method, TrainContext
from facerep.ssl.config import ByolParams
from facerep.ssl.losses.byol import byol_loss
from facerep.ssl.registry import register


@register("byol")
class BYOL(Method):
    params: ByolParams

    def __init__(self, backbone: Backbone, params: ByolParams, ctx: TrainContext) -> None:
        super().__init__(backbone, params, ctx)
        self.projector = BYOLProjectionHead(backbone.feature_dim, params.hidden_dim, params.output_dim)
        self.predictor = BYOLPredictionHead(params.output_dim, params.hidden_dim, params.output_dim)
        self.add_momentum_teacher("backbone", "target_backbone")
        self.add_momentum_teacher("projector", "target_projector")

    def training_step(self, views: list[Tensor], step: int) -> tuple[Tensor, dict[str, Tensor]]:
        x = views[: self.global_count]
        online = self.per_resolution(x, lambda v: self.predictor(self.projector(self.backbone(v))))
        with torch.no_grad():
            target = self.per_resolution(x, lambda v: self.target_projector(self.target_backbone(v)))
        loss = byol_loss(online[0], target[1]) + byol_loss(online[1], target[0])
        return loss, {"byol": loss.detach()}
