"""The DINO self-distillation loss (Caron et al. 2021, eq. 2-3 and Algorithm 1).

min_theta_s sum_{x in global} sum_{x' in views, x' != x} H(P_t(x), P_s(x')), with
P_s = softmax(g_s(x') / tau_s), P_t = softmax((g_t(x) - C) / tau_t), H(a, b) = -a log b, averaged
over the pairs. The centre C is an EMA of the teacher's batch mean (eq. 4): C <- m C + (1 - m) mean(g_t).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def dino_loss(
    student: list[Tensor], teacher: list[Tensor], center: Tensor, student_temp: float, teacher_temp: float
) -> Tensor:
    """Mean cross-entropy over (teacher global view t, student view s != t) pairs; teacher detached."""
    targets = _targets(teacher, center, teacher_temp)
    logs = [F.log_softmax(s.float() / student_temp, dim=-1) for s in student]
    terms = [
        (-p * logs[s]).sum(dim=-1).mean() for t, p in enumerate(targets) for s in range(len(logs)) if s != t
    ]
    return torch.stack(terms).mean()


@torch.no_grad()
def teacher_entropy(teacher: list[Tensor], center: Tensor, teacher_temp: float) -> Tensor:
    """Mean entropy H(P_t) of the teacher targets: the loss minus this is the KL the student reduces."""
    ent = [
        -(p * p.clamp_min(1e-12).log()).sum(dim=-1).mean() for p in _targets(teacher, center, teacher_temp)
    ]
    return torch.stack(ent).mean()


def _targets(teacher: list[Tensor], center: Tensor, teacher_temp: float) -> list[Tensor]:
    return [F.softmax((t.detach().float() - center) / teacher_temp, dim=-1) for t in teacher]


@torch.no_grad()
def center_update(center: Tensor, teacher_batch_mean: Tensor, momentum: float) -> Tensor:
    """Eq. 4: the new centre; `teacher_batch_mean` is the mean teacher output over the global batch."""
    return center * momentum + teacher_batch_mean.float() * (1 - momentum)
