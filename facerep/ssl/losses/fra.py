"""FRA losses (Gao and Patras, sections 3.2-3.4, eq. 2-8).

Semantic relation (3.2): per pixel (u, v), online assignments s = softmax_N(cos(Q, F_dense) / tau)
learn the momentum network's assignments s^ by the cross-entropy of eq. 2, averaged over the H x W
pixels and summed over both views (eq. 3). Targets are Sinkhorn-normalised (SwAV) and the mean
online assignment has its entropy maximised (ME-MAX, MSN), as the text after eq. 3 states.
Semantic consistency (3.3): heatmap-weighted average pooling of the feature map (eq. 4), local
projector (eq. 5), and the negative cosine of the BYOL predictor outputs against the momentum
embeddings, global with weight lambda_c and the mean over the N regions with 1 - lambda_c (eq. 6),
symmetrised over the views (eq. 7). Total: L = L_c + lambda_r L_r (eq. 8).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from facerep.ssl.losses.pros import entropy
from facerep.ssl.losses.sinkhorn import sinkhorn


def assignment_scores(mask_embeddings: Tensor, dense: Tensor) -> Tensor:
    """Cosine similarity (B, N, H, W) between N mask embeddings (B, N, D) and pixels of (B, D, H, W)."""
    q = F.normalize(mask_embeddings.float(), dim=-1)
    f = F.normalize(dense.float(), dim=1)
    return torch.einsum("bnd,bdhw->bnhw", q, f)


def heatmaps(scores: Tensor, temperature: float) -> Tensor:
    """The N heatmaps M: softmax over the N channels at every pixel (3.2), so they sum to one per pixel."""
    return F.softmax(scores / temperature, dim=1)


def region_pool(maps: Tensor, features: Tensor) -> Tensor:
    """Eq. 4: h^m = sum_uv M[m,u,v] F[:,u,v] / sum_uv M[m,u,v]; maps (B, N, H, W), features (B, C, H, W)."""
    weights = maps / maps.sum(dim=(2, 3), keepdim=True).clamp_min(1e-12)
    return torch.einsum("bnhw,bchw->bnc", weights, features.float())


def _pixels(scores: Tensor) -> Tensor:
    """(B, N, H, W) -> (B*H*W, N): one row per pixel."""
    return scores.permute(0, 2, 3, 1).reshape(-1, scores.shape[1])


def relation_loss(
    online_scores: Tensor, target_scores: Tensor, temperature: float, epsilon: float, iterations: int
) -> tuple[Tensor, Tensor]:
    """(eq. 2 averaged over pixels, entropy of the mean online assignment) for one view.

    The target s^ is Sinkhorn-Knopp over the view's pixels (equal use of the N clusters); the
    prediction is the tempered softmax of the online cosine scores.
    """
    target = sinkhorn(_pixels(target_scores.detach()), epsilon, iterations)
    log_pred = F.log_softmax(_pixels(online_scores) / temperature, dim=1)
    ce = -(target * log_pred).sum(dim=1).mean()
    return ce, entropy(log_pred.exp().mean(dim=0))


def negative_cosine(prediction: Tensor, target: Tensor) -> Tensor:
    """-f_s(u, v) averaged over rows (the last axis is the embedding); the target is detached."""
    return -F.cosine_similarity(prediction.float(), target.detach().float(), dim=-1).mean()


def similarity_loss(
    global_pred: Tensor, global_target: Tensor, local_pred: Tensor, local_target: Tensor, lambda_c: float
) -> tuple[Tensor, Tensor]:
    """Eq. 6 split into (lambda_c * global term, (1 - lambda_c) * mean over regions term).

    global_*: (B, D); local_*: (B, N, D). Their sum is L_sim(z1, z2).
    """
    g = lambda_c * negative_cosine(global_pred, global_target)
    loc = (1 - lambda_c) * negative_cosine(local_pred, local_target)
    return g, loc
