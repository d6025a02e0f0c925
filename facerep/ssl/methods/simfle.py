"""SimFLE: global and fine-grained facial feature learning (Moon et al., sections 3.1-3.3, 4.1).

Code to paper:
- GFL (3.1): BYOL online stream (backbone, `projector`, `predictor`) and target stream (EMA copies
  `teacher_backbone`, `teacher_projector`); eq. 1 symmetrised over the two views (component `sim`).
- FFL (3.2): the third view is the whole face at `mae_size` (112 px in the paper). Its backbone map
  goes through `grouping` (1x1 convolution, c' -> c' channels, channel c in group c // (c'/N_g),
  N_g = 32), trained by eq. 2 (`grouping_loss`, component `group`). Per image one group is drawn at
  random, its channels summed, upsampled to the image and averaged per 16 px patch (eq. 3); the 75%
  lowest-scoring patches are masked and `face_mae` reconstructs them, loss on the masked patches only
  (eq. 4, component `recon`).
- Trainable refinement (3.2, Fig. 3; `masking="refined"`): the mask is `refined_mask`, whose
  straight-through gradient lets L_r move the patch scores, so `grouping` learns to score high (keep
  visible) the patches that are hard to reconstruct. `masking="semantic"` sorts the scores without a
  gradient (the authors' public code); `masking="random"` is MAE's random mask (Table 3 c).
- 3.3: the backbone map that FaceMAE reads is detached (`connection="distill"`, Table 3 d), so L_g and
  the refinement train `grouping` only and FFL reaches the backbone through the distillation alone
  ("we avoid direct connection of FFL to the backbone"); `connection="direct"` lets both reach the
  backbone (our reading of Table 3 b). `distill_mae` maps the MAE encoder's mean patch token to z_m,
  `distill_gfl` maps the online backbone features of v1 and v2 to z_v1, z_v2; eq. 5 with t = 4
  (component `distill`).
- Eq. 6: L = L_s + L_r + alpha L_d + beta L_g, alpha = 0.3, beta = 0.03 (4.3).

Chosen where the paper is silent: the relaxation of the sort (`facerep.ssl.losses.simfle`), the
projector sizes (BYOL's 4096/256; the paper gives the layer types), the distillation width 256, one
random group per image, the target momentum 0.99 (constant, the authors' code), and no augmentation of
the FaceMAE view beyond resizing. docs/face_methods.md lists every deviation from the paper.
"""

from __future__ import annotations

from typing import Literal

import torch
from lightly.models.modules.heads import BYOLPredictionHead, BYOLProjectionHead
from PIL import Image
from pydantic import Field
from timm.models.vision_transformer import Block
from torch import Tensor, nn
from torchvision import transforms as T

from facerep.errors import InputError
from facerep.ssl.augment import BICUBIC, IMAGENET_MEAN, IMAGENET_STD, Box, MultiCropTransform
from facerep.ssl.backbones import Backbone
from facerep.ssl.base import Method, TrainContext
from facerep.ssl.config import CropParams, MethodParams, OptimParams
from facerep.ssl.losses.byol import byol_loss
from facerep.ssl.losses.simfle import (
    distillation_loss,
    group_score_map,
    grouping_loss,
    patch_scores,
    patchify,
    reconstruction_loss,
    refined_mask,
    semantic_mask,
)
from facerep.ssl.registry import register_method


class SimfleParams(MethodParams):
    """SimFLE (Moon et al., sections 3.1-3.3 and 4.1).

    Paper: ResNet-50 (`pretrain.backbone=resnet50`), 224 px global views (`crops.global_size=224`),
    FaceMAE at 112 px (`mae_size=112`) with an MAE ViT-Base (`mae_dim=768`, `mae_depth=12`,
    `mae_heads=12`, decoder 512 x 8), SGD momentum 0.9, weight decay 1e-4, lr 0.05 for batch 256,
    cosine decay, 100 epochs. The CPU defaults shrink the views and the MAE. Where the paper is silent
    the authors' code (github.com/jymoon0613/simfle) decides: target momentum 0.99, constant.
    """

    crops: CropParams = Field(
        default_factory=lambda: CropParams(global_scale=(0.08, 1.0)),
        description="global views: SimCLR's augmentation list (Moon et al. 4.1), colour jitter "
        "0.8/0.8/0.8/0.2, crop scale 0.08-1 (paper: 224 px)",
    )
    optim: OptimParams = Field(
        default_factory=lambda: OptimParams(name="sgd", base_lr=0.05, weight_decay=1e-4),
        description="Moon et al. 4.1: SGD 0.05 per 256, momentum 0.9, wd 1e-4, cosine decay",
    )
    hidden_dim: int = Field(
        4096, gt=0, description="hidden width of the BYOL projector, predictor and distillation projectors"
    )
    output_dim: int = Field(256, gt=0, description="GFL (BYOL) projection dimension")
    distill_dim: int = Field(256, gt=0, description="output dimension of the distillation projectors (eq. 5)")
    momentum: float = Field(
        0.99,
        ge=0,
        le=1,
        description="GFL target EMA momentum at the start of the cosine ramp to momentum_end (paper silent; "
        "the authors' code: constant 0.99)",
    )
    momentum_end: float = Field(
        0.99,
        ge=0,
        le=1,
        description="target EMA momentum at the end of the run (0.99: constant, as the authors' code)",
    )
    mae_size: int = Field(
        64, gt=0, description="FaceMAE input side in px, the whole face resized (Moon et al. 4.1: 112)"
    )
    patch_size: int = Field(16, gt=0, description="FaceMAE patch side in px; mae_size must divide by it")
    mask_ratio: float = Field(0.75, gt=0, lt=1, description="share of patches masked (eq. 3: 0.75)")
    groups: int = Field(
        32,
        ge=1,
        description="channel groups N_g of the grouping convolution (3.2: 32); backbone channels must "
        "divide by it",
    )
    mae_dim: int = Field(192, gt=0, description="MAE encoder width (paper: ViT-Base, 768)")
    mae_depth: int = Field(4, ge=1, description="MAE encoder blocks (paper: 12)")
    mae_heads: int = Field(3, ge=1, description="MAE encoder attention heads (paper: 12)")
    decoder_dim: int = Field(128, gt=0, description="MAE decoder width (paper: 512)")
    decoder_depth: int = Field(2, ge=1, description="MAE decoder blocks (paper: 8)")
    decoder_heads: int = Field(4, ge=1, description="MAE decoder attention heads (paper: 16)")
    alpha: float = Field(0.3, ge=0, description="weight of the distillation loss L_d (eq. 6: 0.3)")
    beta: float = Field(0.03, ge=0, description="weight of the grouping loss L_g (eq. 6: 0.03)")
    distill_temperature: float = Field(4.0, gt=0, description="temperature of the distillation KL (eq. 5: 4)")
    masking: Literal["refined", "semantic", "random"] = Field(
        "refined",
        description="refined: 3.2's trainable mask (eq. 3 trained by L_r); semantic: eq. 3 untrained by "
        "L_r (the authors' code); random: MAE's (Table 3 c)",
    )
    refine_temperature: float = Field(
        1.0, gt=0, description="sigmoid relaxation of the sort, in standard deviations of the patch scores"
    )
    connection: Literal["distill", "direct"] = Field(
        "distill",
        description="distill: FFL reaches the backbone by distillation only (3.3, Table 3 d); direct: L_g "
        "and the mask's gradient reach it too (Table 3 b)",
    )


class FaceMAE(nn.Module):
    """Masked image (a boolean patch mask) -> (mean of the encoded visible tokens, per-patch predictions).

    FaceMAE (3.2, 4.1; He et al. 2022 MAE): the encoder embeds s x s patches, adds position
    embeddings, prepends a class token and runs Transformer blocks (timm's) on the visible patches
    only; the decoder re-inserts a shared mask token at the masked positions, adds its own position
    embeddings and predicts every patch's pixels. The paper uses MAE with ViT-Base; the widths here
    are parameters (CPU defaults are small). Position embeddings are learned rather than MAE's fixed
    sin-cos (the paper does not say; with 16-49 patches both are cheap). The masked-image
    representation that SimFLE distils (z_m of eq. 5) is the mean of the encoder's output patch
    tokens, as in the authors' code (the paper does not say which output it is).
    """

    def __init__(
        self,
        size: int,
        patch: int,
        dim: int,
        depth: int,
        heads: int,
        decoder_dim: int,
        decoder_depth: int,
        decoder_heads: int,
    ) -> None:
        super().__init__()
        n = (size // patch) ** 2
        self.patch_embed = nn.Conv2d(3, dim, patch, stride=patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, n, dim) * 0.02)
        self.encoder = nn.Sequential(*[Block(dim, heads, mlp_ratio=4.0, qkv_bias=True) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.to_decoder = nn.Linear(dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.decoder_pos = nn.Parameter(torch.randn(1, n + 1, decoder_dim) * 0.02)
        self.decoder = nn.Sequential(
            *[Block(decoder_dim, decoder_heads, mlp_ratio=4.0, qkv_bias=True) for _ in range(decoder_depth)]
        )
        self.decoder_norm = nn.LayerNorm(decoder_dim)
        self.head = nn.Linear(decoder_dim, patch * patch * 3)
        nn.init.normal_(self.cls, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, images: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """images (B, 3, H, W), mask (B, N_p) True where masked, the same count per row."""
        tokens = self.patch_embed(images).flatten(2).transpose(1, 2) + self.pos
        b, n, d = tokens.shape
        keep = (~mask).nonzero()[:, 1].reshape(b, -1)
        visible = torch.gather(tokens, 1, keep[..., None].expand(-1, -1, d))
        x = self.norm(self.encoder(torch.cat([self.cls.expand(b, -1, -1), visible], dim=1)))
        y = self.to_decoder(x)
        full = self.mask_token.expand(b, n, -1).clone()
        full = full.scatter(1, keep[..., None].expand(-1, -1, y.shape[-1]), y[:, 1:])
        y = torch.cat([y[:, :1], full], dim=1) + self.decoder_pos
        pred = self.head(self.decoder_norm(self.decoder(y)))[:, 1:]
        return x[:, 1:].mean(dim=1), pred


class SimfleTransform:
    """The two GFL views of `MultiCropTransform`, then the whole face resized to the FaceMAE size."""

    def __init__(self, views: MultiCropTransform, mae_size: int) -> None:
        self.views = views
        self.face = T.Compose(
            [
                T.Resize((mae_size, mae_size), interpolation=BICUBIC),
                T.ToTensor(),
                T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
            ]
        )

    def __call__(self, img: Image.Image, local_boxes: list[Box] | None = None) -> list[Tensor]:
        img = img.convert("RGB")
        return [*self.views(img, local_boxes), self.face(img)]


@register_method("simfle", params=SimfleParams)
class SimFLE(Method):
    params: SimfleParams

    def __init__(self, backbone: Backbone, params: SimfleParams, ctx: TrainContext) -> None:
        super().__init__(backbone, params, ctx)
        c = backbone.feature_dim
        if c % params.groups or params.mae_size % params.patch_size or params.crops.global_count != 2:
            raise InputError(
                f"pretrain.simfle: need backbone channels ({c}) divisible by groups ({params.groups}), "
                f"mae_size divisible by patch_size, and crops.global_count 2"
            )
        patches = (params.mae_size // params.patch_size) ** 2
        if not 0 < round(params.mask_ratio * patches) < patches:
            raise InputError(
                f"pretrain.simfle.mask_ratio: {params.mask_ratio} of {patches} patches must mask at least "
                "one patch and leave one visible"
            )
        self.projector = BYOLProjectionHead(c, params.hidden_dim, params.output_dim)
        self.predictor = BYOLPredictionHead(params.output_dim, params.hidden_dim, params.output_dim)
        self.grouping = nn.Conv2d(c, c, 1)
        self.face_mae = FaceMAE(
            params.mae_size,
            params.patch_size,
            params.mae_dim,
            params.mae_depth,
            params.mae_heads,
            params.decoder_dim,
            params.decoder_depth,
            params.decoder_heads,
        )
        self.distill_mae = BYOLProjectionHead(params.mae_dim, params.hidden_dim, params.distill_dim)
        self.distill_gfl = BYOLProjectionHead(c, params.hidden_dim, params.distill_dim)
        self.add_momentum_teacher("backbone", "teacher_backbone")
        self.add_momentum_teacher("projector", "teacher_projector")

    def transform(self) -> SimfleTransform:  # type: ignore[override]
        return SimfleTransform(super().transform(), self.params.mae_size)

    def training_step(self, views: list[Tensor], step: int) -> tuple[Tensor, dict[str, Tensor]]:
        p = self.params
        v1, v2, face = views[0], views[1], views[2]
        h = self.per_resolution([v1, v2], self.backbone)
        q = [self.predictor(self.projector(x)) for x in h]
        with torch.no_grad():
            t = self.per_resolution([v1, v2], lambda x: self.teacher_projector(self.teacher_backbone(x)))
        sim = byol_loss(q[0], t[1]) + byol_loss(q[1], t[0])

        with torch.set_grad_enabled(p.connection == "direct" and torch.is_grad_enabled()):
            maps = self.backbone.forward_features(face)
        grouped = self.grouping(maps)
        group = grouping_loss(grouped, p.groups)
        mask = self.mask(grouped, len(face))
        z_mae, pred = self.face_mae(face, mask.detach().bool())
        recon = reconstruction_loss(patchify(face, p.patch_size), pred, mask)

        distill = distillation_loss(
            [self.distill_mae(z_mae), self.distill_gfl(h[0]), self.distill_gfl(h[1])], p.distill_temperature
        )
        loss = sim + recon + p.alpha * distill + p.beta * group
        comps = {"sim": sim, "recon": recon, "distill": distill, "group": group}
        return loss, {k: v.detach() for k, v in comps.items()}

    def mask(self, grouped: Tensor, batch: int) -> Tensor:
        """(B, N_p) floats, 1 on masked patches: eq. 3 on one random group per image, refined or not."""
        p = self.params
        if p.masking == "random":
            n = (p.mae_size // p.patch_size) ** 2
            return semantic_mask(torch.rand(batch, n, device=grouped.device), p.mask_ratio).float()
        chosen = torch.randint(0, p.groups, (batch,), device=grouped.device)
        scores = patch_scores(group_score_map(grouped, p.groups, chosen), p.mae_size, p.patch_size)
        if p.masking == "refined":
            return refined_mask(scores, p.mask_ratio, p.refine_temperature)
        return semantic_mask(scores, p.mask_ratio).float()
