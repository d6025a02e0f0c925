"""The BYOL regression loss (Grill et al. 2020, eq. 2).

L = || q_bar - z_bar' ||^2 = 2 - 2 <q, z'> / (||q|| ||z'||): the online prediction q regresses the
target projection z' (no gradient through the target). The full loss symmetrises by swapping views.
lightly's `NegativeCosineSimilarity` is this up to the affine map; the pure form keeps the paper's scale.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def byol_loss(prediction: Tensor, target: Tensor) -> Tensor:
    """Mean over the batch of 2 - 2 cos(prediction, target); the target is detached."""
    p = F.normalize(prediction.float(), dim=-1)
    z = F.normalize(target.detach().float(), dim=-1)
    return (2 - 2 * (p * z).sum(dim=-1)).mean()
