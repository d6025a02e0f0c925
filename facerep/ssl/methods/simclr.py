"""SimCLR (Chen et al. 2020): NT-Xent between two views, the other 2N - 2 views as negatives.

Backbone + lightly's `SimCLRProjectionHead` (2048 -> 128, the 2-layer head of section 2.1), loss
eq. 1 with tau = 0.1. Under data parallelism the projections are gathered with gradients so each
image sees the negatives of the whole global batch (appendix B.1), as in the paper.
"""

from __future__ import annotations

from lightly.models.modules.heads import SimCLRProjectionHead
from pydantic import Field
from torch import Tensor

from facerep.ssl import dist
from facerep.ssl.backbones import Backbone
from facerep.ssl.base import Method, TrainContext
from facerep.ssl.config import CropParams, MethodParams, OptimParams
from facerep.ssl.losses.infonce import ntxent
from facerep.ssl.registry import register_method


class SimclrParams(MethodParams):
    """SimCLR (Chen et al. 2020, section 4 and appendix B.1, B.9)."""

    crops: CropParams = Field(
        default_factory=lambda: CropParams(global_scale=(0.08, 1.0)),
        description="views (Chen et al. appendix A): 2, colour jitter 0.8/0.8/0.8/0.2 (s = 1), crop scale "
        "0.08-1",
    )
    optim: OptimParams = Field(
        default_factory=lambda: OptimParams(
            name="lars", base_lr=0.3, warmup_fraction=0.1, weight_decay=1e-6, exclude_bias_norm=True
        ),
        description="Chen et al. B.1: LARS 0.3 per 256, 10% warmup, wd 1e-6, biases and norms excluded",
    )
    temperature: float = Field(0.1, gt=0, description="NT-Xent temperature tau (Chen et al. 2020 B.9: 0.1)")
    hidden_dim: int = Field(2048, gt=0, description="projection head hidden width (Chen et al. 2020: 2048)")
    output_dim: int = Field(128, gt=0, description="projection output dimension (Chen et al. 2020: 128)")


@register_method("simclr", params=SimclrParams)
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
