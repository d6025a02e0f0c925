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

import torch
from lightly.models.modules.heads import BYOLPredictionHead, BYOLProjectionHead
from PIL import Image
from torch import Tensor, nn
from torchvision import transforms as T

from facerep.errors import InputError
from facerep.ssl.augment import BICUBIC, IMAGENET_MEAN, IMAGENET_STD, Box, MultiCropTransform
from facerep.ssl.backbones import Backbone
from facerep.ssl.base import Method, TrainContext
from facerep.ssl.config import SimfleParams
from facerep.ssl.heads_simfle import FaceMAE
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
from facerep.ssl.registry import register


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


@register("simfle")
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
