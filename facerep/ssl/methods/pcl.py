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
reconstruction network of `facerep.ssl.heads_pcl`, the PDD on the first view only, the L1 norm as a
per-pixel mean, and the positive kept in eq. 5's denominator (see `facerep.ssl.losses.pcl`). The
contrastive losses act on F_p and F_f directly, as the paper writes them (no projection head). The
exported backbone is B, whose pooled output is the face-aware representation F_s.
"""

from __future__ import annotations

import torch
from torch import Tensor

from facerep.errors import InputError
from facerep.ssl import dist
from facerep.ssl.backbones import Backbone
from facerep.ssl.base import Method, TrainContext
from facerep.ssl.config import PclParams
from facerep.ssl.heads_pcl import Reconstructor, SeparatingSubnet
from facerep.ssl.losses.pcl import (
    disentangle_loss,
    dwa_weights,
    face_contrastive_loss,
    orthogonality_loss,
    pose_contrastive_loss,
)
from facerep.ssl.registry import register


def hflip(x: Tensor) -> Tensor:
    """The pose variation of 4.1: a horizontal flip."""
    return torch.flip(x, dims=[-1])


@register("pcl")
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
