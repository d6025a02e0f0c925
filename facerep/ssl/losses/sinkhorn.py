"""Sinkhorn-Knopp equipartition (SwAV, Caron et al. 2020, section 3.1 and Algorithm 1).

Codes Q maximise Tr(Q^T C^T Z) + epsilon H(Q) over the transportation polytope where the B samples
are spread equally over the K prototypes: rows of Q^T (prototypes) sum to 1/K, columns (samples) to
1/B. The solution is Q = Diag(u) exp(C^T Z / epsilon) Diag(v), found by alternately renormalising
rows and columns. lightly's `sinkhorn` computes the same with a distributed all-reduce inside; this
pure version takes the whole (gathered) batch so the caller decides how samples are shared across
processes, and Bulat et al. A.1 keep epsilon = 0.05 with 3 iterations.
"""

from __future__ import annotations

import torch
from torch import Tensor


@torch.no_grad()
def sinkhorn(scores: Tensor, epsilon: float = 0.05, iterations: int = 3) -> Tensor:
    """Soft codes (B, K) from prototype scores (B, K); each row sums to 1, each column to B/K.

    The last normalisation is over samples, so the per-sample marginal is exact and the per-prototype
    marginal is approximate after few iterations (as in SwAV).
    """
    q = torch.exp((scores.float() - scores.float().max()) / epsilon).t()
    q /= q.sum()
    k, b = q.shape
    for _ in range(iterations):
        q /= q.sum(dim=1, keepdim=True)
        q /= k
        q /= q.sum(dim=0, keepdim=True)
        q /= b
    return (q * b).t()
