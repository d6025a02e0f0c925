"""PCL: pose-disentangled contrastive learning (Liu et al., sections 3.1-3.3, 4.1).

Code to paper:
- PDD (3.1, Fig. 3): the backbone B gives the feature map of s (the first view) and of s^ = flip(s)
  (flipping is the pose variation, 4.1); `face_net` g_f and `pose_net` g_p give F_f, F_p and
  F_f^, F_p^; `reconstructor` D rebuilds s and s^ from the four combinations (eq. 1-2,
  `disentangle_loss`, component `dis`); `orthogonality_loss` (eq. 3, component `orth`);
  L_PDD = L_orth + L_dis (eq. 4; `orth_weight` scales L_orth, 1 in the paper).
- Pose contrast (3.2, eq. 5): the two augmented views s_i, s_j are the positive pair; the flips of
  both views of the same face are its M = 2 pose-augmented negatives (component `pose`).
- Face contrast (eq. 6): NT-Xent on F_f of the two views over the batch (component `face`).
- Eq. 7: L = L_PDD + alpha_pose L_pose + alpha_face L_face with DWA weights (`dwa_weights`, T = 2,
  Liu et al. 2019): per period (one epoch by default, `dwa_period_steps`) the mean pose and face
  losses are recorded; from the third period on, alpha_k = 2 softmax_k(w_k / T) with
  w_k = L_k(t-1) / L_k(t-2); before that both are 1. The history lives in buffers, so it resumes.
- Adam (AdamW with zero decay), lr 1e-4 per 256 images, cosine annealing, tau = 0.07 (4.1).

Chosen where the paper is silent (its supplement holds the architecture): the subnets and the
reconstruction network (`SeparatingSubnet`, `Reconstructor`), the PDD on the first view only, the L1 norm as a
per-pixel mean, and the positive kept in eq. 5's denominator (see `facerep.ssl.losses.pcl`). The
contrastive losses act on F_p and F_f directly, as the paper writes them (no projection head). The
exported backbone is B, whose pooled output is the face-aware representation F_s.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from facerep.errors import InputError
from facerep.ssl import dist
from facerep.ssl.backbones import Backbone
from facerep.ssl.base import Method, TrainContext
from facerep.ssl.config import CropParams, MethodParams, OptimParams
from facerep.ssl.losses.pcl import (
    disentangle_loss,
    dwa_weights,
    face_contrastive_loss,
    orthogonality_loss,
    pose_contrastive_loss,
)
from facerep.ssl.registry import register_method


class PclParams(MethodParams):
    """PCL (Liu et al., sections 3.1-3.3 and 4.1): 64 px views, flips as the pose variation.

    Paper: a 16-layer CNN backbone, 2048-d pose and face features, Adam (beta 0.9/0.999) at lr 1e-4
    for batch 256 with cosine annealing, tau = 0.07, 1000 epochs. `feature_dim` defaults to 512 for
    CPU runs (set 2048 for the paper). Horizontal flip is the pose augmentation, so the views do not
    flip (`crops.flip` must stay false).
    """

    crops: CropParams = Field(
        default_factory=lambda: CropParams(global_scale=(0.2, 1.0)),
        description="views: 64 px, crop scale 0.2-1, SimCLR's colour jitter (paper silent on strengths); "
        "flip must stay false: the flip is the pose variation",
    )
    optim: OptimParams = Field(
        default_factory=lambda: OptimParams(name="adamw", base_lr=1e-4, weight_decay=0.0),
        description="Liu et al. 4.1: Adam (AdamW without decay) 1e-4 per 256, cosine annealing",
    )
    feature_dim: int = Field(
        512, gt=0, description="face and pose feature dimension (Liu et al.: 2048; 512 for the CPU)"
    )
    decoder_channels: int = Field(
        256, gt=0, description="width of the reconstruction network's blocks (paper supplement)"
    )
    temperature: float = Field(
        0.07, gt=0, description="tau of the pose and face contrastive losses (Liu et al. eq. 5-6: 0.07)"
    )
    orth_weight: float = Field(1.0, ge=0, description="weight of the face/pose orthogonality loss (eq. 3)")
    dwa_temperature: float = Field(
        2.0, gt=0, description="Dynamic Weight Average temperature T for alpha_pose and alpha_face (eq. 7: 2)"
    )
    dwa_period_steps: int | None = Field(None, ge=1, description="steps per DWA period; null: one epoch")


class SeparatingSubnet(nn.Module):
    """g_f or g_p: feature map (B, C, H, W) -> feature vector (B, dim).

    Both subnets share one architecture ("convolutional subnets with the same architecture", 4.1):
    conv 3x3 - BN - ReLU - conv 1x1 on the backbone's feature map, then global average pooling to a
    `dim`-dimensional vector (2048 in the paper).
    """

    def __init__(self, in_dim: int, dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_dim, dim, 3, padding=1, bias=False),
            nn.BatchNorm2d(dim),
            nn.ReLU(inplace=True),
            nn.Conv2d(dim, dim, 1),
        )

    def forward(self, fmap: Tensor) -> Tensor:
        return self.net(fmap).mean(dim=(2, 3))


class Reconstructor(nn.Module):
    """D: (F_f, F_p) -> image (B, 3, size, size) (3.1, Fig. 3).

    Six blocks of (upsample x2, conv 3x3, BN, ReLU) from the concatenated [F_f, F_p] laid on a 1x1
    grid, then a 3x3 convolution to RGB: 64 px out, the paper's input size. Smaller inputs use fewer
    blocks (log2 of the size); larger ones start from a grid of size / 64 (rounded up) and the output
    is resized to the input. The paper's layer widths are in its supplement, which we do not have: the
    widths halve from `channels` every two blocks.
    """

    def __init__(self, dim: int, size: int, channels: int) -> None:
        super().__init__()
        self.size = size
        n_blocks = min(6, math.ceil(math.log2(size)))
        self.start = math.ceil(size / 2**n_blocks)
        widths = [max(channels >> (i // 2), 16) for i in range(n_blocks + 1)]
        self.stem = nn.Linear(2 * dim, widths[0] * self.start * self.start)
        blocks: list[nn.Module] = []
        for i in range(n_blocks):
            blocks += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(widths[i], widths[i + 1], 3, padding=1, bias=False),
                nn.BatchNorm2d(widths[i + 1]),
                nn.ReLU(inplace=True),
            ]
        self.blocks = nn.Sequential(*blocks, nn.Conv2d(widths[-1], 3, 3, padding=1))
        self.width = widths[0]

    def forward(self, face: Tensor, pose: Tensor) -> Tensor:
        x = self.stem(torch.cat([face, pose], dim=1)).reshape(len(face), self.width, self.start, self.start)
        out = self.blocks(x)
        if out.shape[-1] != self.size:
            out = F.interpolate(out, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return out


def hflip(x: Tensor) -> Tensor:
    """The pose variation of 4.1: a horizontal flip."""
    return torch.flip(x, dims=[-1])


@register_method("pcl", params=PclParams)
class PCL(Method):
    params: PclParams

    def __init__(self, backbone: Backbone, params: PclParams, ctx: TrainContext) -> None:
        super().__init__(backbone, params, ctx)
        if params.crops.flip or params.crops.global_count != 2:
            raise InputError(
                "pretrain.pcl.crops: PCL needs global_count 2 and flip false (the flip is its pose variation)"
            )
        c, d = backbone.feature_dim, params.feature_dim
        self.face_net = SeparatingSubnet(c, d)
        self.pose_net = SeparatingSubnet(c, d)
        self.reconstructor = Reconstructor(d, params.crops.global_size, params.decoder_channels)
        self.period = params.dwa_period_steps or ctx.steps_per_epoch
        self.register_buffer("dwa_sum", torch.zeros(2))
        self.register_buffer("dwa_count", torch.zeros(()))
        self.register_buffer("dwa_history", torch.zeros(2, 2))
        self.register_buffer("dwa_periods", torch.zeros((), dtype=torch.long))

    def alphas(self) -> Tensor:
        """(alpha_pose, alpha_face) of eq. 7 from the last two periods' mean losses (ones before that)."""
        if int(self.dwa_periods) < 2:
            return torch.ones(2, device=self.dwa_sum.device)
        return dwa_weights(self.dwa_history[1], self.dwa_history[0], self.params.dwa_temperature)

    def training_step(self, views: list[Tensor], step: int) -> tuple[Tensor, dict[str, Tensor]]:
        p = self.params
        s_i, s_j = views[0], views[1]
        b = len(s_i)
        fmap = self.backbone.forward_features(torch.cat([s_i, s_j, hflip(s_i), hflip(s_j)]))
        face, pose = self.face_net(fmap), self.pose_net(fmap)
        f_i, f_j, f_hat = face[:b], face[b : 2 * b], face[2 * b : 3 * b]
        p_i, p_j, p_hat, p_hat_j = pose[:b], pose[b : 2 * b], pose[2 * b : 3 * b], pose[3 * b :]
        recon = {
            "fp": self.reconstructor(f_i, p_i),
            "fph": self.reconstructor(f_i, p_hat),
            "fhp": self.reconstructor(f_hat, p_i),
            "fhph": self.reconstructor(f_hat, p_hat),
        }
        dis = disentangle_loss(s_i, hflip(s_i), recon)
        orth = orthogonality_loss(f_i, p_i, f_hat, p_hat)
        pose_loss = pose_contrastive_loss(p_i, p_j, torch.stack([p_hat, p_hat_j], dim=1), p.temperature)
        face_loss = face_contrastive_loss(f_i, f_j, p.temperature)
        alpha = self.alphas()
        loss = dis + p.orth_weight * orth + alpha[0] * pose_loss + alpha[1] * face_loss
        if self.training:
            self.dwa_sum += torch.stack([pose_loss.detach(), face_loss.detach()]).float()
            self.dwa_count += 1
        comps = {"dis": dis, "orth": orth, "pose": pose_loss, "face": face_loss}
        out = {k: v.detach() for k, v in comps.items()}
        out.update(alpha_pose=alpha[0].detach(), alpha_face=alpha[1].detach())
        return loss, out

    @torch.no_grad()
    def on_after_optimizer_step(self, step: int) -> None:
        """At the end of each DWA period, push its mean (pose, face) losses into the two-period history."""
        super().on_after_optimizer_step(step)
        if (step + 1) % self.period == 0 and int(self.dwa_count) > 0:
            mean = dist.all_reduce_mean(self.dwa_sum / self.dwa_count)
            self.dwa_history.copy_(torch.stack([self.dwa_history[1], mean]))
            self.dwa_periods += 1
            self.dwa_sum.zero_()
            self.dwa_count.zero_()
