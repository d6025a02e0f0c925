"""SimFLE: global and fine-grained facial feature learning (Moon et al., sections 3.1-3.3, 4.1).

Code to paper:
- GFL (3.1): BYOL online stream (backbone, `projector`, `predictor`) and target stream (EMA copies
  `teacher_backbone`, `teacher_projector`); eq. 1 symmetrised over the two views (component `sim`).
- FFL (3.2): the third view is the whole face at `mae_size` (112 px in the paper). Its backbone map
  goes through `grouping` (1x1 convolution, c' -> c' channels, channel c in group c // (c'/N_g),
  N_g = 32), trained by eq. 2 (`grouping_loss`, component `group`). Per image one group is drawn at
  random, its channels summed, upsampled to the image and averaged per 16 px patch (eq. 3); the 75%
  lowest-scoring patches are masked (`semantic_mask`) and `face_mae` reconstructs them, loss on the
  masked patches only (eq. 4, component `recon`).
- 3.3: `distill_mae` maps the MAE class token to z_m, `distill_gfl` maps the online backbone features
  of v1 and v2 to z_v1, z_v2; eq. 5 with t = 4 (component `distill`).
- Eq. 6: L = L_s + L_r + alpha L_d + beta L_g, alpha = 0.3, beta = 0.03 (4.3).

The masking is a hard selection (an argsort), so the reconstruction loss does not reach the backbone
through it: the backbone's channels are shaped by eq. 2 and, through the distillation, by what the
MAE learns, which is how 3.3 keeps FFL off the backbone ("indirect connection"). Chosen where the
paper is silent: the projector sizes (BYOL's 4096/256; the paper gives the layer types), the
distillation width 256, one random group per image, the BYOL momentum ramp 0.996 -> 1, and no
augmentation of the FaceMAE view beyond resizing.
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

        grouped = self.grouping(self.backbone.forward_features(face))
        group = grouping_loss(grouped, p.groups)
        chosen = torch.randint(0, p.groups, (len(face),), device=face.device)
        scores = patch_scores(group_score_map(grouped.detach(), p.groups, chosen), p.mae_size, p.patch_size)
        mask = semantic_mask(scores, p.mask_ratio)
        z_mae, pred = self.face_mae(face, mask)
        recon = reconstruction_loss(patchify(face, p.patch_size), pred, mask)

        distill = distillation_loss(
            [self.distill_mae(z_mae), self.distill_gfl(h[0]), self.distill_gfl(h[1])], p.distill_temperature
        )
        loss = sim + recon + p.alpha * distill + p.beta * group
        comps = {"sim": sim, "recon": recon, "distill": distill, "group": group}
        return loss, {k: v.detach() for k, v in comps.items()}
