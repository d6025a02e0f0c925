"""SimFLE losses and semantic masking (Moon et al., sections 3.1-3.3, eq. 1-6).

Eq. 1 (GFL): BYOL's 2 - 2 cos, symmetrised (`facerep.ssl.losses.byol.byol_loss`).
Eq. 2 (channel grouping): L_g = sum_{g_i != g_j} D(C_i, C_j)^2 - sum_{g_i = g_j} D(C_i, C_j)^2, D the
cosine similarity of two channels' spatial maps. The sums run over c'^2 pairs (4.2 M for ResNet-50);
at beta = 0.03 they would outweigh eq. 6's other terms by orders of magnitude, so each sum is
replaced by its mean over the pairs it counts (our choice; the sign and the optimum are unchanged).
Eq. 3 (semantic masking): the chosen group's summed map, upsampled to the image, is averaged over
each s x s patch; the patches with the lowest averages are masked, a fraction gamma of them.
Eq. 4 (reconstruction): MSE between the image and the reconstruction on the masked patches only.
Trainable refinement (3.2, Fig. 3): "the semantic masking process is trainable according to the
reconstruction results ... [FaceMAE] will try to avoid masking fine-grained facial landmarks, which are
difficult to reconstruct". The paper does not say how a sort passes a gradient (the authors' public code
sorts without one, so there the mask follows L_g alone). `refined_mask` is our reading: the hard mask
of eq. 3 forward, and backward the gradient of a sigmoid relaxation around the masking threshold
(straight-through). Eq. 4 is the mean error over the masked set; differentiated with respect to each
masked patch's soft membership it gives (e_i - L_r) / N_m, so minimising L_r raises the scores of masked
patches harder than the masked average (towards being kept) and lowers the easier ones. Visible patches
get no gradient: MAE does not train its predictions there, so their error says nothing.
Eq. 5 (distillation): L_d = sum_{i in m, v1, v2} KL(psi(z_i / t), psi(z_bar / t)) with z_bar the mean
of the three representations, read in torch's `kl_div(input, target)` order, i.e. KL(target || z_i)
with the mean as a detached target (online ensemble distillation).
Eq. 6: L = L_s + L_r + alpha L_d + beta L_g.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def grouping_loss(maps: Tensor, groups: int) -> Tensor:
    """Eq. 2 on maps (B, C, H, W) whose channel c belongs to group c // (C / groups); batch-averaged."""
    b, c = maps.shape[:2]
    flat = F.normalize(maps.float().reshape(b, c, -1), dim=2)
    cos2 = (flat @ flat.transpose(1, 2)).pow(2)
    gid = torch.arange(c, device=maps.device) // (c // groups)
    same = gid[:, None] == gid[None, :]
    return (cos2[:, ~same].mean(dim=1) - cos2[:, same].mean(dim=1)).mean()


def group_score_map(maps: Tensor, groups: int, chosen: Tensor) -> Tensor:
    """X_g: the channel-wise sum (B, H, W) of each sample's chosen group (chosen: (B,) group ids)."""
    b, c, h, w = maps.shape
    grouped = maps.reshape(b, groups, c // groups, h, w).sum(dim=2)
    return grouped[torch.arange(b, device=maps.device), chosen]


def patch_scores(score_map: Tensor, image_size: int, patch: int) -> Tensor:
    """Eq. 3: upsample (B, h', w') to the image and average each patch; (B, N_p) in row-major order."""
    up = F.interpolate(score_map[:, None].float(), size=(image_size, image_size), mode="bilinear")
    return F.avg_pool2d(up, patch).flatten(1)


def semantic_mask(scores: Tensor, ratio: float) -> Tensor:
    """Boolean mask (B, N_p): True on the round(ratio * N_p) lowest-scoring patches of each sample."""
    n_mask = round(ratio * scores.shape[1])
    order = scores.argsort(dim=1)
    mask = torch.zeros_like(scores, dtype=torch.bool)
    mask.scatter_(1, order[:, :n_mask], True)
    return mask


def refined_mask(scores: Tensor, ratio: float, temperature: float) -> Tensor:
    """3.2's trainable masking: `semantic_mask` as floats (1 masked, 0 visible) with a relaxed gradient.

    Each row is standardised (so `temperature` is in standard deviations of the row's scores); the soft
    mask is sigmoid((t - z_i) / temperature) with t midway between the highest masked and the lowest
    visible standardised score. The value is exactly the hard mask (straight-through), the gradient the
    soft mask's. Needs at least one masked and one visible patch per row.
    """
    hard = semantic_mask(scores, ratio)
    n_mask = int(hard[0].sum())
    z = (scores - scores.mean(dim=1, keepdim=True)) / scores.std(dim=1, correction=0, keepdim=True).clamp_min(
        1e-6
    )
    ordered = z.detach().sort(dim=1).values
    threshold = (ordered[:, n_mask - 1] + ordered[:, n_mask]) / 2
    soft = torch.sigmoid((threshold[:, None] - z) / temperature)
    return hard.float() + (soft - soft.detach())


def patchify(images: Tensor, patch: int) -> Tensor:
    """(B, 3, H, W) -> (B, N_p, patch * patch * 3), patches in row-major order (as MAE)."""
    b, c, h, w = images.shape
    x = images.reshape(b, c, h // patch, patch, w // patch, patch)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(b, (h // patch) * (w // patch), patch * patch * c)


def reconstruction_loss(target_patches: Tensor, predicted: Tensor, mask: Tensor) -> Tensor:
    """Eq. 4: per-pixel MSE averaged over the masked patches only; patches (B, N_p, P), mask (B, N_p).

    `mask` is boolean, or the floats of `refined_mask`: the loss is then the mean over the masked set
    weighted by the (straight-through) memberships, whose gradient reaches the scores through the masked
    patches only.
    """
    per_patch = (predicted.float() - target_patches.float()).pow(2).mean(dim=-1)
    weights = mask.float() * mask.detach().bool()
    return (per_patch * weights).sum() / weights.sum().clamp_min(1)


def distillation_loss(representations: list[Tensor], temperature: float) -> Tensor:
    """Eq. 5: sum over the branches of KL(psi(z_bar / t) || psi(z_i / t)), batch-averaged."""
    mean = torch.stack([z.float() for z in representations]).mean(dim=0).detach()
    target = F.softmax(mean / temperature, dim=-1)
    terms = [
        F.kl_div(F.log_softmax(z.float() / temperature, dim=-1), target, reduction="batchmean")
        for z in representations
    ]
    return torch.stack(terms).sum()
