"""SwAV (Caron et al. 2020) as Bulat et al. 2022 pre-train with it (section 3.1, appendix A.1).

Multi-crop views (2 global + 6 local in the paper), a projection MLP, L2-normalised embeddings
scored against learnable prototypes (lightly's `SwaVProjectionHead`; the prototypes are a bias-free
linear layer as in SwAV's code, where lightly's `SwaVPrototypes` adds a bias), codes
from Sinkhorn-Knopp on the global views only, and the swapped cross-entropy with temperature 0.1.
Prototypes are re-normalised before every step and receive no update during the first steps
(`freeze_prototypes_steps`; the paper: one epoch). The defaults are the demo's CPU recipe, each
field's description giving the paper's value (docs/pretrain.md, "Views for SynthFaces").

Where this differs from lightly's `SwaVLoss`: codes are computed on the batch gathered from every
process plus the queue, identically on each process, then each keeps its own rows. That equals the
official implementation's distributed Sinkhorn, and it makes the queue the same on every process, so
one checkpoint resumes on any number of processes. The queue holds past global-view embeddings (SwAV
section 4, "small batches"); it fills from `queue_start_steps` and joins the codes once full, as in
the official `main_swav.py`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from lightly.models.modules.heads import SwaVProjectionHead
from pydantic import Field
from torch import Tensor, nn

from facerep.ssl import dist
from facerep.ssl.backbones import Backbone
from facerep.ssl.base import Method, TrainContext
from facerep.ssl.config import CropParams, MethodParams, OptimParams
from facerep.ssl.losses.sinkhorn import sinkhorn
from facerep.ssl.losses.swav import swav_loss
from facerep.ssl.registry import register_method


class SwavParams(MethodParams):
    """SwAV as Bulat et al. 3.1/A.1 use it (Caron et al. 2020 for what A.1 leaves unsaid)."""

    crops: CropParams = Field(
        default_factory=lambda: CropParams(global_scale=(0.5, 1.0), jitter=0.4, gray=1.0),
        description="views at demo scale: 2 global crops of 50-100% of the face, grey, brightness and "
        "contrast 0.32 (Bulat et al. A.1: 2 global + 6 local, crops from 14%, SwAV's jitter "
        "0.8/0.8/0.8/0.2, grey 0.2; SynthFaces paints flat colours, which the paper's views leave "
        "as a shortcut, and local crops cost steps a CPU minute cannot spare; docs/pretrain.md)",
    )
    optim: OptimParams = Field(
        default_factory=lambda: OptimParams(
            name="sgd", base_lr=1.2, final_lr_ratio=0.045 / 4.8, warmup_fraction=0.05, weight_decay=1e-6
        ),
        description="demo scale: SGD 1.2 per 256 (Bulat et al. A.1: LARS 0.3 per 256, peak 4.8 at "
        "batch 4096, cosine to 0.045; at the paper's rate a few hundred CPU steps stay at log K), 5% "
        "warmup, wd 1e-6",
    )
    temperature: float = Field(
        0.1, gt=0, description="softmax temperature of the prototype scores (Caron et al. 2020: 0.1)"
    )
    epsilon: float = Field(
        0.05, gt=0, description="Sinkhorn-Knopp entropy regularisation of the codes (Caron et al. 2020: 0.05)"
    )
    sinkhorn_iters: int = Field(3, ge=1, description="Sinkhorn-Knopp iterations (Caron et al. 2020: 3)")
    prototypes: int = Field(
        300,
        ge=2,
        description="number of prototypes K, the codes' size (SwAV on ImageNet: 3000; the demo's "
        "2,000 faces: 300)",
    )
    hidden_dim: int = Field(2048, gt=0, description="projection MLP hidden width (Caron et al. 2020: 2048)")
    output_dim: int = Field(
        128, gt=0, description="projection and prototype dimension (Caron et al. 2020: 128)"
    )
    freeze_prototypes_steps: int | None = Field(
        20,
        ge=0,
        description="steps the prototypes stay frozen at the start; null: one epoch (Caron et al. 2020; "
        "the demo: 20 steps, 10% of its run)",
    )
    queue_length: int = Field(
        0,
        ge=0,
        description="features (gathered from every process) queued for the codes; 0: off (SwAV: 3840 "
        "at batch 256, from epoch 15, for small-batch runs of many epochs)",
    )
    queue_start_steps: int = Field(
        0, ge=0, description="step from which features enter the queue; codes use it once it is full"
    )


@register_method("swav", params=SwavParams)
class SwAV(Method):
    params: SwavParams

    def __init__(self, backbone: Backbone, params: SwavParams, ctx: TrainContext) -> None:
        super().__init__(backbone, params, ctx)
        self.projector = SwaVProjectionHead(backbone.feature_dim, params.hidden_dim, params.output_dim)
        self.prototypes = nn.Linear(params.output_dim, params.prototypes, bias=False)
        n = params.crops.global_count
        self.register_buffer("queue", torch.zeros(n, params.queue_length, params.output_dim))
        self.register_buffer("queue_filled", torch.zeros((), dtype=torch.long))
        freeze = params.freeze_prototypes_steps
        self.freeze_steps = ctx.steps_per_epoch if freeze is None else freeze

    def embed(self, x: Tensor) -> Tensor:
        return F.normalize(self.projector(self.backbone(x)), dim=1)

    def _codes(self, scores: Tensor, view: int, use_queue: bool) -> Tensor:
        """Sinkhorn codes of this process's rows, computed over the gathered batch (and the queue)."""
        queued = self.queue[view] @ self.prototypes.weight.detach().float().t() if use_queue else None
        p = self.params
        return dist.own_rows_of_global(
            lambda every: sinkhorn(every, p.epsilon, p.sinkhorn_iters), scores.detach().float(), queued
        )

    def training_step(self, views: list[Tensor], step: int) -> tuple[Tensor, dict[str, Tensor]]:
        with torch.no_grad():
            self.prototypes.weight.copy_(F.normalize(self.prototypes.weight, dim=1))
        z = self.per_resolution(views, self.embed)
        scores = [self.prototypes(e) for e in z]
        n = self.global_count
        use_queue = self.params.queue_length > 0 and int(self.queue_filled) >= self.params.queue_length
        codes = [self._codes(scores[i], i, use_queue) for i in range(n)]
        loss = swav_loss(scores, codes, self.params.temperature)
        if self.training and self.params.queue_length > 0 and step >= self.params.queue_start_steps:
            self._enqueue([e.detach().float() for e in z[:n]])
        return loss, {"swav": loss.detach()}

    @torch.no_grad()
    def _enqueue(self, embeddings: list[Tensor]) -> None:
        for i, e in enumerate(embeddings):
            every = dist.gather(e)
            self.queue[i] = torch.cat([every, self.queue[i]])[: self.params.queue_length]
        self.queue_filled.add_(len(dist.gather(embeddings[0]))).clamp_(max=self.params.queue_length)

    def on_before_optimizer_step(self, step: int) -> None:
        if step < self.freeze_steps:
            for p in self.prototypes.parameters():
                p.grad = None
