"""SimCLR (Chen et al. 2020): NT-Xent between two views, the other 2N - 2 views as negatives.

Backbone + lightly's `SimCLRProjectionHead` (2048 -> 128, the 2-layer head of section 2.1), loss
eq. 1 with tau = 0.1. Under data parallelism the projections are gathered with gradients so each
image sees the negatives of the whole global batch (appendix B.1), as in the paper.
"""

from __future__ import annotations

from lightly.models.modules.heads import SimCLRProjectionHead
from torch import Tensor

from facerep.ssl import dist
from facerep.ssl.backbones import Backbone
from facerep.ssl.base import Method, TrainContext
from facerep.ssl.config import SimclrParams
from facerep.ssl.losses.infonce import ntxent
from facerep.ssl.registry import register


@register("simclr")
class SimCLR(Method):
    params: SimclrParams

    def __init__(self, backbone: Backbone, params: SimclrParams, ctx: TrainContext) -> None:
        super().__init__(backbone, params, ctx)
        self.projector = SimCLRProjectionHead(backbone.feature_dim, params.hidden_dim, params.output_dim)

    def training_step(self, views: list[Tensor], step: int) -> tuple[Tensor, dict[str, Tensor]]:
        z0, z1 = self.per_resolution(views[:2], lambda v: self.projector(self.backbone(v)))
        all0, all1 = dist.gather_with_grad(z0), dist.gather_with_grad(z1)
        loss = ntxent(z0, z1, self.params.temperature, all0, all1, offset=dist.rank() * len(z0))
        return loss, {"ntxent": loss.detach()}
