"""The ProS prototype-matching loss (Di et al., section 3.1, eq. 1-4).

Eq. 1: s = softmax(p . f / tau) over the K prototypes, with f and p L2-normalised (cosine scores),
tau_l = 0.1 for the student's local views and tau_g = 0.025 for the teacher's global views.
Eq. 2-3: L = 1/B sum_i 1/(M N) sum_m sum_n H(s_m^g, s_n^l) - H(s~^l), where H(a, b) = -sum_k a_k log b_k.
Eq. 4 as printed sums the student distributions without a logarithm; its citation [2] is MSN's
mean-entropy maximisation, so s~^l is the student distribution averaged over the batch and the
local views and H(s~^l) = -sum_k s~_k log s~_k is its entropy (maximised, hence the minus sign).

The teacher's targets s^g enter as distributions, so the method chooses how to form them: eq. 1's
sharpened softmax (the paper), or Sinkhorn-balanced codes (`pretrain.pros.teacher_target`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def prototype_scores(features: Tensor, prototypes: Tensor) -> Tensor:
    """Cosine similarity (B, K) between features (B, d) and prototypes (K, d): p . f of eq. 1."""
    return F.normalize(features.float(), dim=-1) @ F.normalize(prototypes.float(), dim=-1).t()


def prototype_distribution(scores: Tensor, temperature: float) -> Tensor:
    """Eq. 1: softmax over prototypes of the cosine scores divided by the temperature."""
    return F.softmax(scores.float() / temperature, dim=-1)


def entropy(p: Tensor) -> Tensor:
    """Shannon entropy (nats) of a distribution on the last axis."""
    return -(p * torch.log(p.clamp_min(1e-12))).sum(dim=-1)


def pros_loss(
    student_scores: list[Tensor], teacher_targets: list[Tensor], student_temp: float
) -> tuple[Tensor, Tensor]:
    """(cross-entropy of eq. 3 averaged over the batch, entropy of the mean student distribution, eq. 4).

    student_scores: N tensors (B, K) of local views; teacher_targets: M distributions (B, K) of the
    global views (eq. 1's s^g; no gradient flows into them). The total loss of eq. 2 is
    `ce - entropy_weight * me`.
    """
    targets = [t.detach().float() for t in teacher_targets]
    logs = [F.log_softmax(s.float() / student_temp, dim=-1) for s in student_scores]
    ce = torch.stack([(-t * log).sum(dim=-1).mean() for t in targets for log in logs]).mean()
    mean_student = torch.stack([log.exp() for log in logs]).mean(dim=(0, 1))
    return ce, entropy(mean_student)
