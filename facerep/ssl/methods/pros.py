"""ProS: prototype-based self-distillation (Di et al., sections 3.1-3.3).

Code to paper:
- student = backbone + `projector` (3 fully connected layers to d = 256, 3.2); teacher = EMA copies
  of both (`teacher_backbone`, `teacher_projector`), no gradient.
- `prototypes.weight` p (K = 1024 by d; held in a module so the optimiser sees it), initialised
  uniformly in [-1/sqrt(d), 1/sqrt(d)] (3.3) and trained by back-propagation with the student; the
  teacher scores against the same prototypes, detached.
- Eq. 1: `prototype_scores` (cosine of L2-normalised features and prototypes) and softmax with
  tau_g = 0.025 (teacher) and tau_l = 0.1 (student); the global views go to the teacher and the local
  views to the student, as in Fig. 2.
- Eq. 2-4: `facerep.ssl.losses.pros.pros_loss`: cross-entropy over every (global, local) pair minus
  the entropy of the mean student distribution. Logged components: `ce`, `entropy`.
- Local views come from the curated boxes of the curate stage, read with each shard sample
  (`face_aware_crops`; `MultiCropTransform(img, local_boxes)`): the face-aware retrieval of 3.1
  happens upstream, and a face with too few accepted crops gets random ones.
- AdamW with weight decay 0.04, warmup over the first 10% (2 of 20 epochs) to 1e-3 per 256 images,
  cosine to 1e-6 (3.3; our warmup starts from 0 rather than 2e-4).

`teacher_target="sinkhorn"` (not the paper): the teacher's targets are Sinkhorn-Knopp codes of its
cosine scores over the batch gathered from every process (`facerep.ssl.losses.sinkhorn`, epsilon =
the teacher temperature, as DINOv2 centres its teacher), instead of eq. 1's softmax. The paper
avoids collapse with sharpening and the mean-entropy term alone, which takes its 20 epochs of MS1M to
settle; after a few hundred CPU steps on SynthFaces that teacher reads the face no better than a
random network (docs/pretrain.md), where equipartitioned codes split every batch over the prototypes
from the first step, as SwAV's do. The benchmark's recipe also sets `projector_bn` (DINO's
`use_bn_in_head`; SwAV's head has the same BatchNorm) and SwAV's SGD: with AdamW the codes stayed
near uniform and the cross-entropy at log K. With SGD, reverting `projector_bn` alone leaves the
cross-entropy at log K too, and the paper's teacher momentum 0.996 instead of 0.9 leaves the
features at a random network's level after 400 steps (docs/pretrain.md).

Where the paper is silent we follow DINO, which it builds on: crop counts and scales, GELU in the
projector, the teacher momentum 0.996 -> 1 on a cosine, biases and norms without weight decay, and
gradient clipping at 3. The teacher is the exported backbone, as in the paper (4.1): `backbone.pt`
holds the EMA teacher (`exported_backbone`), in the same file format as every other method.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from facerep.errors import InputError
from facerep.ssl import dist
from facerep.ssl.backbones import Backbone
from facerep.ssl.base import Method, TrainContext
from facerep.ssl.config import CropParams, MethodParams, OptimParams
from facerep.ssl.losses.pros import pros_loss, prototype_distribution, prototype_scores
from facerep.ssl.losses.sinkhorn import sinkhorn
from facerep.ssl.methods.dino import dino_crops
from facerep.ssl.registry import register_method


class ProsParams(MethodParams):
    """ProS (Di et al., sections 3.1-3.3); the module docstring says where the paper is silent.

    Paper: ViT-S/16 (`pretrain.backbone=vit_s16`), 224 px global and 96 px local views, 20 epochs at
    batch 256 with AdamW (weight decay 0.04), lr 2e-4 warmed over 2 epochs to 1e-3, cosine to 1e-6.
    The crop counts and scales are DINO's (the paper cites DINO's multi-crop without numbers).
    `teacher_target="sinkhorn"` replaces eq. 1's sharpened teacher softmax by Sinkhorn-Knopp codes
    (epsilon = `teacher_temperature`, as DINOv2's teacher centring), a deviation from the paper for
    short runs; the module docstring says why.
    """

    crops: CropParams = Field(
        default_factory=dino_crops,
        description="views: DINO's 2 global + 8 local crops and colour jitter 0.4/0.4/0.2/0.1 (paper "
        "silent); local crops cut from the curated face boxes (Di et al. 3.1)",
    )
    optim: OptimParams = Field(
        default_factory=lambda: OptimParams(
            name="adamw",
            base_lr=1e-3,
            final_lr_ratio=1e-3,
            warmup_fraction=0.1,
            weight_decay=0.04,
            exclude_bias_norm=True,
            clip_grad=3.0,
            clip_per_parameter=True,
        ),
        description="Di et al.: AdamW 1e-3 per 256 after a 10% warmup, cosine to 1e-6, wd 0.04; DINO's "
        "per-parameter gradient clip 3 (paper silent)",
    )
    prototypes: int = Field(1024, ge=2, description="learnable prototypes (Di et al. 3.2: 1024)")
    output_dim: int = Field(256, gt=0, description="projector output dimension d (Di et al. 3.2: 256)")
    hidden_dim: int = Field(
        2048, gt=0, description="projector hidden width (paper silent: DINO's head's 2048)"
    )
    teacher_temperature: float = Field(
        0.025,
        gt=0,
        description="teacher temperature of eq. 1 (Di et al.: 0.025); with teacher_target sinkhorn, the "
        "Sinkhorn epsilon",
    )
    student_temperature: float = Field(0.1, gt=0, description="student temperature of eq. 1 (Di et al.: 0.1)")
    teacher_target: Literal["softmax", "sinkhorn"] = Field(
        "softmax",
        description="softmax: eq. 1's sharpened teacher; sinkhorn: balanced Sinkhorn-Knopp codes (not the "
        "paper; for short runs, docs/face_methods.md)",
    )
    projector_bn: bool = Field(
        False,
        description="BatchNorm after each hidden projector layer (DINO's use_bn_in_head; not the paper)",
    )
    sinkhorn_iters: int = Field(
        3, ge=1, description="Sinkhorn-Knopp iterations (teacher_target sinkhorn only)"
    )
    entropy_weight: float = Field(
        1.0,
        ge=0,
        description="weight of the mean-entropy term of eq. 2-4 (read as MSN's mean-entropy maximisation)",
    )
    momentum: float = Field(
        0.996,
        ge=0,
        le=1,
        description="teacher EMA momentum at the start of the cosine ramp to momentum_end (Di et al.: 0.996)",
    )
    momentum_end: float = Field(
        1.0, ge=0, le=1, description="teacher EMA momentum at the end of the run (Di et al.: 1)"
    )


def projector(in_dim: int, hidden: int, out: int, batch_norm: bool = False) -> nn.Module:
    """The 3-layer projector of 3.2 (GELU between layers, as DINO's head), with DINO's `use_bn` option
    of a BatchNorm after each hidden layer (`pretrain.pros.projector_bn`)."""

    def block(d_in: int) -> list[nn.Module]:
        return [nn.Linear(d_in, hidden), *([nn.BatchNorm1d(hidden)] if batch_norm else []), nn.GELU()]

    return nn.Sequential(*block(in_dim), *block(hidden), nn.Linear(hidden, out))


@register_method("pros", params=ProsParams)
class ProS(Method):
    params: ProsParams
    face_aware_crops = True

    def __init__(self, backbone: Backbone, params: ProsParams, ctx: TrainContext) -> None:
        super().__init__(backbone, params, ctx)
        if params.crops.local_count < 1:
            raise InputError(
                "pretrain.pros.crops.local_count: ProS feeds local views to the student; use >= 1"
            )
        self.projector = projector(
            backbone.feature_dim, params.hidden_dim, params.output_dim, params.projector_bn
        )
        bound = 1 / math.sqrt(params.output_dim)
        self.prototypes = nn.Linear(params.output_dim, params.prototypes, bias=False)
        nn.init.uniform_(self.prototypes.weight, -bound, bound)
        self.add_momentum_teacher("backbone", "teacher_backbone")
        self.add_momentum_teacher("projector", "teacher_projector")

    def exported_backbone(self) -> Backbone:
        """ProS 4.1 fine-tunes from the teacher."""
        return self.teacher_backbone

    @torch.no_grad()
    def teacher_targets(self, scores: Tensor) -> Tensor:
        """s^g of one global view (B, K): eq. 1's softmax, or this process's rows of the Sinkhorn
        codes of the batch gathered from every process (identical on each, as SwAV's)."""
        p = self.params
        if p.teacher_target == "softmax":
            return prototype_distribution(scores, p.teacher_temperature)
        return dist.own_rows_of_global(
            lambda every: sinkhorn(every, p.teacher_temperature, p.sinkhorn_iters), scores.float()
        )

    def training_step(self, views: list[Tensor], step: int) -> tuple[Tensor, dict[str, Tensor]]:
        n = self.global_count
        p = self.params
        with torch.no_grad():
            teacher = self.per_resolution(
                views[:n], lambda x: self.teacher_projector(self.teacher_backbone(x))
            )
            targets = [
                self.teacher_targets(prototype_scores(t, self.prototypes.weight.detach())) for t in teacher
            ]
        student = self.per_resolution(views[n:], lambda x: self.projector(self.backbone(x)))
        s_scores = [prototype_scores(s, self.prototypes.weight) for s in student]
        ce, me = pros_loss(s_scores, targets, p.student_temperature)
        loss = ce - p.entropy_weight * me
        return loss, {"ce": ce.detach(), "entropy": me.detach()}
