"""FRA: facial region awareness on BYOL (Gao and Patras, sections 3.2-3.4, 4.1.1).

Code to paper:
- online network theta: `backbone` (E), `global_projector` (H^g), `local_projector` (H^l),
  `mask_head` (Transformer decoder + MLP over N = 8 learnable queries, Fig. 2), and the predictors
  `global_predictor` (G^g) and `local_predictor` (G^l); momentum network xi: EMA copies of the first
  four (`teacher_*`), BYOL's cosine momentum ramp 0.996 -> 1.
- Eq. 1: F_dense = H^l applied to every pixel of the feature map F.
- 3.2: Q = mask_head(F); S = cos(Q, F_dense); heatmaps M = softmax over the N channels
  (`facerep.ssl.losses.fra.heatmaps`, with temperature `heatmap_temperature`).
- Eq. 2-3: `relation_loss` per view between online and momentum assignments of the same view
  (Sinkhorn targets, ME-MAX on the predictions), summed over both views: components `relation`,
  `memax` (L_r = relation - memax_weight * memax).
- Eq. 4-5: `region_pool` with the online heatmaps of view 1 (and the momentum heatmaps of view 2),
  then H^l: region embeddings z^m.
- Eq. 6-7: `similarity_loss` symmetrised: components `global` and `local` (their sum is L_c).
- Eq. 8: L = L_c + lambda_r L_r with lambda_c = 0.5, lambda_r = 0.1 (Table 7).

Chosen where the paper is silent: the heatmap temperature (0.1, SwAV's) and the Sinkhorn epsilon and
iterations (0.05, 3, SwAV's), ME-MAX weight 1 (MSN's), decoder width 256 with 8 heads (MaskFormer's),
and the BYOL head sizes (4096 hidden, 256 out) for both projectors and predictors. The views are
BYOL's two augmentations (`crops`), without horizontal flip by default (it destroys yaw; see
docs/pretrain.md).
"""

from __future__ import annotations

import torch
from lightly.models.modules.heads import BYOLPredictionHead, BYOLProjectionHead
from pydantic import Field
from torch import Tensor, nn

from facerep.ssl.backbones import Backbone
from facerep.ssl.base import Method, TrainContext
from facerep.ssl.losses.fra import assignment_scores, heatmaps, region_pool, relation_loss, similarity_loss
from facerep.ssl.methods.byol import ByolParams
from facerep.ssl.registry import register_method


class FraParams(ByolParams):
    """FRA (Gao and Patras, sections 3.2-3.4, 4.1.1, Tables 7-8): BYOL's settings plus the region terms.

    Paper: ResNet-50 (`pretrain.backbone=resnet50`), BYOL augmentations and optimiser, N = 8 heatmaps,
    one decoder layer, lambda_c = 0.5, lambda_r = 0.1.
    """

    heatmaps: int = Field(
        8, ge=2, description="learnable queries N, one facial-region heatmap each (Gao and Patras 4.1.1: 8)"
    )
    decoder_layers: int = Field(
        1, ge=1, description="Transformer decoder layers turning the queries into mask embeddings (paper: 1)"
    )
    decoder_dim: int = Field(256, gt=0, description="decoder width (paper silent)")
    decoder_heads: int = Field(8, ge=1, description="decoder attention heads (paper silent)")
    lambda_c: float = Field(
        0.5,
        ge=0,
        le=1,
        description="weight of the global term of the consistency loss L_c; regions get 1 - lambda_c (eq. "
        "7: 0.5)",
    )
    lambda_r: float = Field(
        0.1, ge=0, description="weight of the semantic relation loss: L = L_c + lambda_r L_r (eq. 8: 0.1)"
    )
    heatmap_temperature: float = Field(
        0.1, gt=0, description="softmax temperature over the N heatmap channels (paper silent; SwAV's 0.1)"
    )
    sinkhorn_epsilon: float = Field(
        0.05,
        gt=0,
        description="Sinkhorn entropy regularisation of the momentum network's assignments (paper silent)",
    )
    sinkhorn_iters: int = Field(3, ge=1, description="Sinkhorn-Knopp iterations (paper silent)")
    memax_weight: float = Field(
        1.0, ge=0, description="weight of the ME-MAX term inside L_r (eq. 3; paper silent on it)"
    )


class MaskEmbeddingHead(nn.Module):
    """Feature map (B, C, H, W) -> facial mask embeddings (B, N, D) (section 3.2, Fig. 2).

    N learnable query embeddings (the "facial queries") attend to the backbone's feature map (keys
    and values) through a Transformer decoder (MaskFormer's query decoder), and an MLP maps each
    output to a D-dimensional facial mask embedding Q (N x D). The paper's decoder has one layer
    (Table 8). The feature map is first projected to the decoder width (MaskFormer uses 256); the
    paper does not say whether the keys carry a positional encoding, and none is added here: the
    queries find regions by content.
    """

    def __init__(self, in_dim: int, out_dim: int, queries: int, width: int, heads: int, layers: int) -> None:
        super().__init__()
        self.queries = nn.Parameter(torch.randn(queries, width) * 0.02)
        self.memory = nn.Linear(in_dim, width)
        layer = nn.TransformerDecoderLayer(
            width, heads, dim_feedforward=4 * width, dropout=0.0, batch_first=True, norm_first=True
        )
        self.decoder = nn.TransformerDecoder(layer, layers, norm=nn.LayerNorm(width))
        self.mlp = nn.Sequential(
            nn.Linear(width, width),
            nn.ReLU(inplace=True),
            nn.Linear(width, width),
            nn.ReLU(inplace=True),
            nn.Linear(width, out_dim),
        )

    def forward(self, fmap: Tensor) -> Tensor:
        memory = self.memory(fmap.flatten(2).transpose(1, 2))
        tgt = self.queries.unsqueeze(0).expand(len(fmap), -1, -1)
        return self.mlp(self.decoder(tgt, memory))


def pixelwise(head: nn.Module, fmap: Tensor) -> Tensor:
    """Apply a vector head to every pixel of (B, C, H, W): (B, D, H, W) (eq. 1)."""
    b, c, h, w = fmap.shape
    out = head(fmap.permute(0, 2, 3, 1).reshape(-1, c))
    return out.reshape(b, h, w, -1).permute(0, 3, 1, 2)


@register_method("fra", params=FraParams)
class FRA(Method):
    params: FraParams

    def __init__(self, backbone: Backbone, params: FraParams, ctx: TrainContext) -> None:
        super().__init__(backbone, params, ctx)
        c, hid, d = backbone.feature_dim, params.hidden_dim, params.output_dim
        self.global_projector = BYOLProjectionHead(c, hid, d)
        self.local_projector = BYOLProjectionHead(c, hid, d)
        self.mask_head = MaskEmbeddingHead(
            c, d, params.heatmaps, params.decoder_dim, params.decoder_heads, params.decoder_layers
        )
        self.global_predictor = BYOLPredictionHead(d, hid, d)
        self.local_predictor = BYOLPredictionHead(d, hid, d)
        for name in ("backbone", "global_projector", "local_projector", "mask_head"):
            self.add_momentum_teacher(name, f"teacher_{name}")

    def _branch(self, x: Tensor, teacher: bool) -> tuple[Tensor, Tensor, Tensor]:
        """(global embedding z (B, D), assignment scores S (B, N, H, W), region embeddings z^m (B, N, D))."""
        pre = "teacher_" if teacher else ""
        fmap = getattr(self, f"{pre}backbone").forward_features(x)
        local = getattr(self, f"{pre}local_projector")
        z = getattr(self, f"{pre}global_projector")(fmap.mean(dim=(2, 3)))
        scores = assignment_scores(getattr(self, f"{pre}mask_head")(fmap), pixelwise(local, fmap))
        regions = region_pool(heatmaps(scores, self.params.heatmap_temperature), fmap)
        b, n, c = regions.shape
        z_regions = local(regions.reshape(b * n, c)).reshape(b, n, -1)
        return z, scores, z_regions

    def training_step(self, views: list[Tensor], step: int) -> tuple[Tensor, dict[str, Tensor]]:
        p = self.params
        online = [self._branch(v, teacher=False) for v in views[:2]]
        with torch.no_grad():
            target = [self._branch(v, teacher=True) for v in views[:2]]
        g_terms, l_terms, rel_terms, me_terms = [], [], [], []
        for i, j in ((0, 1), (1, 0)):
            z, _, zm = online[i]
            b, n, d = zm.shape
            pred_regions = self.local_predictor(zm.reshape(b * n, d)).reshape(b, n, d)
            g, loc = similarity_loss(
                self.global_predictor(z), target[j][0], pred_regions, target[j][2], p.lambda_c
            )
            g_terms.append(g)
            l_terms.append(loc)
            ce, me = relation_loss(
                online[i][1], target[i][1], p.heatmap_temperature, p.sinkhorn_epsilon, p.sinkhorn_iters
            )
            rel_terms.append(ce)
            me_terms.append(me)
        glob, loc = torch.stack(g_terms).sum(), torch.stack(l_terms).sum()
        relation, memax = torch.stack(rel_terms).sum(), torch.stack(me_terms).sum()
        loss = glob + loc + p.lambda_r * (relation - p.memax_weight * memax)
        comps = {"global": glob, "local": loc, "relation": relation, "memax": memax}
        return loss, {k: v.detach() for k, v in comps.items()}
