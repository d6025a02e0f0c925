"""DINO (Caron et al. 2021): self-distillation from an EMA teacher with centring and sharpening.

Student and teacher: backbone + lightly's `DINOProjectionHead` (3-layer MLP, L2-normalised
bottleneck, weight-normalised last layer). The teacher sees the global views, the student all views
(multi-crop); loss eq. 2-3 with tau_s = 0.1 and tau_t warming from 0.04 to 0.07 over the first 30% of
training (30 of 100 epochs in the paper); centre update eq. 4 with m = 0.9 over the global batch;
teacher momentum 0.996 -> 1 (cosine); the last layer is frozen for the first epoch
(`freeze_last_layer_steps`, default one epoch). Besides the loss, `dino_kl` (the loss minus the
teacher's entropy) is logged: the part the student can reduce, while the entropy follows the centre
and the teacher temperature. Batch norm in the head only for ResNet backbones,
as the paper's ResNet recipe.
"""

from __future__ import annotations

import torch
from lightly.models.modules.heads import DINOProjectionHead
from pydantic import Field
from torch import Tensor

from facerep.ssl import dist
from facerep.ssl.backbones import Backbone, ViTBackbone
from facerep.ssl.base import Method, TrainContext
from facerep.ssl.config import BYOL_JITTER, CropParams, MethodParams, OptimParams
from facerep.ssl.losses.dino import center_update, dino_loss, teacher_entropy
from facerep.ssl.registry import register_method


def dino_crops() -> CropParams:
    """DINO's multi-crop (Caron et al. 2021, appendix): 2 global views at scale 0.4-1 and 8 local views
    at 0.05-0.4, BYOL's colour jitter, blur 1.0/0.1/0.5 and solarize on the second global view. ProS
    reuses it."""
    return CropParams(
        global_scale=(0.4, 1.0),
        local_scale=(0.05, 0.4),
        local_count=8,
        color_jitter=BYOL_JITTER,
        blur=[1.0, 0.1, 0.5],
        solarize=[0.0, 0.2, 0.0],
    )


class DinoParams(MethodParams):
    """DINO (Caron et al. 2021, section 3 and appendix): defaults of its ViT-S/16 recipe.

    `output_dim` is 65536 in the paper; the CPU default is 4096 (the head's last layer dominates the
    cost of a small backbone).
    """

    crops: CropParams = Field(
        default_factory=dino_crops,
        description="views (DINO's code): 2 global (scale 0.4-1) + 8 local (0.05-0.4), colour jitter "
        "0.4/0.4/0.2/0.1",
    )
    optim: OptimParams = Field(
        default_factory=lambda: OptimParams(
            name="adamw",
            base_lr=5e-4,
            final_lr_ratio=2e-3,
            warmup_fraction=0.1,
            weight_decay=0.04,
            weight_decay_end=0.4,
            exclude_bias_norm=True,
            clip_grad=3.0,
            clip_per_parameter=True,
        ),
        description="Caron et al. 2021: AdamW 5e-4 per 256, 10% warmup, cosine to 1e-6, wd 0.04 -> 0.4, "
        "per-parameter gradient clip 3.0",
    )
    output_dim: int = Field(
        4096,
        gt=1,
        description="head output K (paper: 65536; 4096 here, the last layer dominates a small backbone's "
        "cost)",
    )
    hidden_dim: int = Field(2048, gt=0, description="head MLP hidden width (Caron et al. 2021: 2048)")
    bottleneck_dim: int = Field(
        256,
        gt=0,
        description="head bottleneck before the weight-normalised last layer (Caron et al. 2021: 256)",
    )
    student_temperature: float = Field(
        0.1, gt=0, description="student softmax temperature tau_s (Caron et al. 2021: 0.1)"
    )
    teacher_temperature: float = Field(
        0.04, gt=0, description="teacher softmax temperature tau_t at the start (Caron et al. 2021: 0.04)"
    )
    teacher_temperature_end: float = Field(
        0.07, gt=0, description="tau_t after its linear warmup (Caron et al. 2021: 0.07)"
    )
    teacher_temperature_warmup_fraction: float = Field(
        0.3, ge=0, le=1, description="part of max_steps over which tau_t rises linearly to its end value"
    )
    center_momentum: float = Field(
        0.9, ge=0, le=1, description="EMA rate m of the teacher output centre (Caron et al. 2021: 0.9)"
    )
    momentum: float = Field(
        0.996,
        ge=0,
        le=1,
        description="teacher EMA momentum at the start of the cosine ramp to momentum_end (Caron et al. "
        "2021: 0.996)",
    )
    momentum_end: float = Field(
        1.0, ge=0, le=1, description="teacher EMA momentum at the end of the run (Caron et al. 2021: 1)"
    )
    freeze_last_layer_steps: int | None = Field(
        None, ge=0, description="steps the head's last layer stays frozen at the start; null: one epoch"
    )


@register_method("dino", params=DinoParams)
class DINO(Method):
    params: DinoParams

    def __init__(self, backbone: Backbone, params: DinoParams, ctx: TrainContext) -> None:
        super().__init__(backbone, params, ctx)

        def make_head() -> DINOProjectionHead:
            return DINOProjectionHead(
                backbone.feature_dim,
                params.hidden_dim,
                params.bottleneck_dim,
                params.output_dim,
                batch_norm=not isinstance(backbone, ViTBackbone),
            )

        self.head = make_head()
        self.add_momentum_teacher("backbone", "teacher_backbone")
        self.add_momentum_teacher("head", "teacher_head", build=make_head)
        self.register_buffer("center", torch.zeros(1, params.output_dim))
        freeze = params.freeze_last_layer_steps
        self.freeze_steps = ctx.steps_per_epoch if freeze is None else freeze

    def teacher_temperature(self, step: int) -> float:
        p = self.params
        warm = round(p.teacher_temperature_warmup_fraction * self.ctx.total_steps)
        if step >= warm:
            return p.teacher_temperature_end
        return p.teacher_temperature + (p.teacher_temperature_end - p.teacher_temperature) * step / warm

    def training_step(self, views: list[Tensor], step: int) -> tuple[Tensor, dict[str, Tensor]]:
        n = self.global_count
        with torch.no_grad():
            teacher = self.per_resolution(views[:n], lambda v: self.teacher_head(self.teacher_backbone(v)))
        student = self.per_resolution(views, lambda v: self.head(self.backbone(v)))
        p = self.params
        tt = self.teacher_temperature(step)
        loss = dino_loss(student, teacher, self.center, p.student_temperature, tt)
        kl = loss.detach() - teacher_entropy(teacher, self.center, tt)
        if self.training:
            batch_mean = dist.all_reduce_mean(torch.cat(teacher).float().mean(dim=0, keepdim=True))
            self.center.copy_(center_update(self.center, batch_mean, p.center_momentum))
        return loss, {"dino": loss.detach(), "dino_kl": kl}

    def on_before_optimizer_step(self, step: int) -> None:
        if step < self.freeze_steps:
            for param in self.head.last_layer.parameters():
                param.grad = None
