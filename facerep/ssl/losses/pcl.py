"""PCL losses (Liu et al., sections 3.1-3.3, eq. 1-7).

Eq. 1-2 (disentangling): with s a face, s^ its pose variation (the horizontal flip, 4.1), F_f / F_p
the pose-unrelated / pose-related features and D the reconstruction network,
    L_dis = |s - D(F_f, F_p)| + |s^ - D(F_f, F_p^)| + |s - D(F_f^, F_p)| + |s^ - D(F_f^, F_p^)|,
each |.|_1 taken as the mean absolute error per pixel (the paper leaves the normalisation open).
Eq. 3 (orthogonality): L_orth = 1/N (sum_i (F_f,i . F_p,i)^2 + sum_i (F_f^,i . F_p^,i)^2).
Eq. 5 (pose contrast): the two augmented views of one face are the positive pair and the pose
augmentations (flips) of that face are the M negatives. Eq. 5 as printed sums only the negatives in
the denominator, which makes the loss unbounded in sign and the loss ratios of DWA meaningless; the
positive is kept in the denominator as in eq. 6 (InfoNCE), and the loss is symmetrised.
Eq. 6 (face contrast): NT-Xent over the 2N views of the batch, l_f(i, j) + l_f(j, i).
Eq. 7: L = L_PDD + alpha_pose L_pose + alpha_face L_face, with the alphas from Dynamic Weight
Average (Liu, Johns and Davison 2019): w_k = L_k(t-1) / L_k(t-2), alpha_k = K softmax_k(w_k / T).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def disentangle_loss(s: Tensor, s_hat: Tensor, recon: dict[str, Tensor]) -> Tensor:
    """Eq. 2; `recon` holds D(F_f, F_p) as "fp", D(F_f, F_p^) as "fph", D(F_f^, F_p) as "fhp" and
    D(F_f^, F_p^) as "fhph"."""
    return (
        F.l1_loss(recon["fp"].float(), s.float())
        + F.l1_loss(recon["fph"].float(), s_hat.float())
        + F.l1_loss(recon["fhp"].float(), s.float())
        + F.l1_loss(recon["fhph"].float(), s_hat.float())
    )


def orthogonality_loss(f: Tensor, p: Tensor, f_hat: Tensor, p_hat: Tensor) -> Tensor:
    """Eq. 3: mean over the batch of the squared dot products of face and pose features, both images."""
    dot = (f.float() * p.float()).sum(dim=1)
    dot_hat = (f_hat.float() * p_hat.float()).sum(dim=1)
    return (dot.pow(2).sum() + dot_hat.pow(2).sum()) / len(f)


def pose_contrastive_loss(p_i: Tensor, p_j: Tensor, negatives: Tensor, temperature: float) -> Tensor:
    """Eq. 5, symmetrised: p_i, p_j (B, D) the two views' pose features; negatives (B, M, D) per face."""

    def one_way(a: Tensor, b: Tensor) -> Tensor:
        a, b = F.normalize(a.float(), dim=-1), F.normalize(b.float(), dim=-1)
        n = F.normalize(negatives.float(), dim=-1)
        pos = (a * b).sum(dim=-1, keepdim=True)
        neg = torch.einsum("bd,bmd->bm", a, n)
        logits = torch.cat([pos, neg], dim=1) / temperature
        return -F.log_softmax(logits, dim=1)[:, 0].mean()

    return one_way(p_i, p_j) + one_way(p_j, p_i)


def face_contrastive_loss(f_i: Tensor, f_j: Tensor, temperature: float) -> Tensor:
    """Eq. 6: l_f(i, j) + l_f(j, i) averaged over the N faces (each view against the other 2N - 1)."""
    z = F.normalize(torch.cat([f_i, f_j]).float(), dim=-1)
    n = len(f_i)
    logits = z @ z.t() / temperature
    logits.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return 2 * F.cross_entropy(logits, target)


def dwa_weights(previous: Tensor, before: Tensor, temperature: float) -> Tensor:
    """DWA (eq. 7's alphas): K softmax(w / T) with w = L(t-1) / L(t-2) per task; (K,) tensors."""
    ratio = previous.float() / before.float()
    return len(ratio) * F.softmax(ratio / temperature, dim=0)
