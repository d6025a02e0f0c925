"""Task losses (pure functions): CosFace (Bulat 5.1/A.2), joint RMSE + CCC for valence/arousal (D.1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def cosface(cosines: Tensor, targets: Tensor, margin: float = 0.35, scale: float = 30.0) -> Tensor:
    """Large-margin cosine loss (Wang et al. 2018): s * (cos - m) on the true class, then cross-entropy."""
    onehot = F.one_hot(targets, cosines.shape[1]).to(cosines.dtype)
    return F.cross_entropy(scale * (cosines - margin * onehot), targets)


def ccc_loss(pred: Tensor, target: Tensor) -> Tensor:
    """1 - CCC per column, averaged (differentiable; the CCC part of Bulat D.1's objective)."""
    pm, tm = pred.mean(0), target.mean(0)
    pv, tv = pred.var(0, unbiased=False), target.var(0, unbiased=False)
    cov = ((pred - pm) * (target - tm)).mean(0)
    return (1 - 2 * cov / (pv + tv + (pm - tm) ** 2 + 1e-8)).mean()


def valence_arousal_loss(va: Tensor, va_target: Tensor, logits: Tensor, expression: Tensor) -> Tensor:
    """Bulat D.1: RMSE + (1 - CCC) on valence and arousal, plus cross-entropy on the expression logits."""
    rmse = torch.sqrt(F.mse_loss(va, va_target) + 1e-8)
    return rmse + ccc_loss(va, va_target) + F.cross_entropy(logits, expression)
