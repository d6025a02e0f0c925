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
from pydantic import Field
from torch import Tensor

from facerep.ssl.backbones import Backbone
from facerep.ssl.base import Method, TrainContext
from facerep.ssl.config import BYOL_JITTER, CropParams, MethodParams, OptimParams
from facerep.ssl.losses.byol import byol_loss
from facerep.ssl.registry import register_method


class ByolParams(MethodParams):
    """BYOL (Grill et al. 2020, section 3.3 and appendix B/C)."""

    crops: CropParams = Field(
        default_factory=lambda: CropParams(
            global_scale=(0.08, 1.0), color_jitter=BYOL_JITTER, blur=[1.0, 0.1], solarize=[0.0, 0.2]
        ),
        description="views (Grill et al. Table 6): 2, colour jitter 0.4/0.4/0.2/0.1, blur 1.0/0.1, "
        "solarise 0/0.2",
    )
    optim: OptimParams = Field(
        default_factory=lambda: OptimParams(
            name="lars", base_lr=0.2, warmup_fraction=0.01, weight_decay=1.5e-6, exclude_bias_norm=True
        ),
        description="Grill et al. appendix: LARS 0.2 per 256, 1% warmup, wd 1.5e-6, biases and norms "
        "excluded",
    )
    hidden_dim: int = Field(
        4096, gt=0, description="projector and predictor MLP hidden width (Grill et al. 3.3: 4096)"
    )
    output_dim: int = Field(256, gt=0, description="projection dimension (Grill et al. 3.3: 256)")
    momentum: float = Field(
        0.996,
        ge=0,
        le=1,
        description="target network EMA momentum tau_base at the start of the cosine ramp to momentum_end "
        "(Grill et al. 3.3: 0.996)",
    )
    momentum_end: float = Field(
        1.0, ge=0, le=1, description="target EMA momentum at the end of the run (Grill et al. 3.2: 1)"
    )


@register_method("byol", params=ByolParams)
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
