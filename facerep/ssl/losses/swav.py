"""The SwAV swapped-prediction loss (Caron et al. 2020, eq. 1-2; Bulat et al. 2022, section 3.1).

L(z_t, z_s) = l(z_t, q_s) + l(z_s, q_t), with l(z, q) = -sum_k q^(k) log p^(k) and
p^(k) = softmax_k(z^T c_k / tau). With multi-crop, the codes of each global view predict every other
view (global and local), and the terms are averaged (SwAV's `main_swav.py` weighting).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def swapped_cross_entropy(scores: Tensor, codes: Tensor, temperature: float) -> Tensor:
    """l(z, q) of eq. 2, averaged over the batch: scores (B, K) = z^T C, codes (B, K)."""
    return -(codes * F.log_softmax(scores.float() / temperature, dim=1)).sum(dim=1).mean()


def swav_loss(scores: list[Tensor], codes: list[Tensor], temperature: float) -> Tensor:
    """Mean over code views i (the first len(codes) views) of the mean over views v != i of l(z_v, q_i)."""
    total = torch.zeros((), device=scores[0].device)
    for i, q in enumerate(codes):
        terms = [swapped_cross_entropy(s, q, temperature) for v, s in enumerate(scores) if v != i]
        total = total + torch.stack(terms).mean()
    return total / len(codes)
