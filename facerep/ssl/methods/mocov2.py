"""MoCo v2 (Chen et al. 2020, "Improved Baselines with Momentum Contrastive Learning").

Query encoder (backbone + 2-layer MLP head, lightly's `MoCoProjectionHead`), key encoder as its EMA
(m = 0.999, constant), a queue of 65536 past keys as negatives, InfoNCE with tau = 0.2 (MoCo eq. 1).
As in MoCo (Algorithm 1) and MoCo v2's code, the loss is asymmetric: the first view is the query, the
second the key, and only those keys enter the queue. `symmetric=True` adds the swapped pair (the
second view as query, the first as key, both keys queued), as MoCo v3 does. Keys pass the key
encoder in a shuffled batch order (MoCo's shuffle-BN, section 3.3, via lightly's batch shuffling) so
BatchNorm cannot leak which key matches; under data parallelism keys are gathered from every process
before entering the queue, so the queue is the same everywhere.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from lightly.models.modules.heads import MoCoProjectionHead
from lightly.models.utils import (
    batch_shuffle,
    batch_shuffle_distributed,
    batch_unshuffle,
    batch_unshuffle_distributed,
)
from pydantic import Field
from torch import Tensor

from facerep.ssl import dist
from facerep.ssl.backbones import Backbone
from facerep.ssl.base import Method, TrainContext
from facerep.ssl.config import MOCO_JITTER, CropParams, MethodParams, OptimParams
from facerep.ssl.losses.infonce import infonce
from facerep.ssl.registry import register_method


class MocoV2Params(MethodParams):
    """MoCo v2 (Chen et al. 2020, Improved Baselines): MLP head, temperature 0.2, blur, cosine lr."""

    crops: CropParams = Field(
        default_factory=lambda: CropParams(global_scale=(0.2, 1.0), color_jitter=MOCO_JITTER),
        description="views: 2 (query, key), MoCo v2's code's colour jitter 0.4/0.4/0.4/0.1, blur, crop "
        "scale 0.2-1",
    )
    optim: OptimParams = Field(
        default_factory=lambda: OptimParams(name="sgd", base_lr=0.03, weight_decay=1e-4),
        description="MoCo v2: SGD 0.03 per 256, momentum 0.9, wd 1e-4, cosine decay",
    )
    temperature: float = Field(
        0.2, gt=0, description="InfoNCE temperature tau (Chen et al. 2020, MoCo v2: 0.2)"
    )
    queue_length: int = Field(65536, ge=0, description="negative keys held in the queue (MoCo: 65536)")
    momentum: float = Field(0.999, ge=0, le=1, description="key encoder EMA momentum, constant (MoCo: 0.999)")
    hidden_dim: int = Field(2048, gt=0, description="MLP head hidden width (MoCo v2: 2048)")
    output_dim: int = Field(
        128, gt=0, description="embedding dimension of the keys and queries (MoCo v2: 128)"
    )
    symmetric: bool = Field(
        False, description="false: the paper's asymmetric loss; true: also the swapped pair (MoCo v3)"
    )


@register_method("mocov2", params=MocoV2Params)
class MoCoV2(Method):
    params: MocoV2Params

    def __init__(self, backbone: Backbone, params: MocoV2Params, ctx: TrainContext) -> None:
        super().__init__(backbone, params, ctx)
        self.projector = MoCoProjectionHead(backbone.feature_dim, params.hidden_dim, params.output_dim)
        self.add_momentum_teacher("backbone", "key_backbone")
        self.add_momentum_teacher("projector", "key_projector")
        queue = F.normalize(torch.randn(params.queue_length, params.output_dim), dim=1)
        self.register_buffer("queue", queue)

    @torch.no_grad()
    def _keys(self, x: Tensor) -> Tensor:
        if dist.is_distributed():
            shuffled, unshuffle = batch_shuffle_distributed(x)
            keys = self.key_projector(self.key_backbone(shuffled))
            return batch_unshuffle_distributed(keys, unshuffle)
        shuffled, unshuffle = batch_shuffle(x)
        return batch_unshuffle(self.key_projector(self.key_backbone(shuffled)), unshuffle)

    def training_step(self, views: list[Tensor], step: int) -> tuple[Tensor, dict[str, Tensor]]:
        x0, x1 = views[0], views[1]
        t = self.params.temperature
        keys = [self._keys(x1)]
        loss = infonce(self.projector(self.backbone(x0)), keys[0], self.queue, t)
        if self.params.symmetric:
            keys.append(self._keys(x0))
            loss = loss + infonce(self.projector(self.backbone(x1)), keys[1], self.queue, t)
        if self.training:
            self._enqueue(torch.cat(keys))
        return loss, {"infonce": loss.detach()}

    @torch.no_grad()
    def _enqueue(self, keys: Tensor) -> None:
        keys = F.normalize(dist.gather(keys.float()), dim=1)
        self.queue.copy_(torch.cat([keys, self.queue])[: self.params.queue_length])
