"""Contrastive InfoNCE losses: MoCo's queue form and SimCLR's NT-Xent.

MoCo (He et al. 2020, eq. 1; MoCo v2 keeps it with tau = 0.2):
    L_q = -log exp(q.k+ / tau) / (exp(q.k+ / tau) + sum_{k-} exp(q.k- / tau))
SimCLR (Chen et al. 2020, eq. 1): for each of the 2N views, the other view of its image is the
positive and the remaining 2N - 2 views are negatives,
    l(i, j) = -log exp(sim(z_i, z_j) / tau) / sum_{k != i} exp(sim(z_i, z_k) / tau),
averaged over all 2N anchors. Inputs need not be normalised; cosine similarity is used.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def infonce(query: Tensor, key: Tensor, negatives: Tensor, temperature: float) -> Tensor:
    """MoCo eq. 1 averaged over the batch: query, key (B, D) positives; negatives (M, D) from the queue."""
    q = F.normalize(query.float(), dim=1)
    k = F.normalize(key.detach().float(), dim=1)
    n = F.normalize(negatives.detach().float(), dim=1)
    logits = torch.cat([(q * k).sum(dim=1, keepdim=True), q @ n.t()], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))


def ntxent(
    z0: Tensor,
    z1: Tensor,
    temperature: float,
    all0: Tensor | None = None,
    all1: Tensor | None = None,
    offset: int = 0,
) -> Tensor:
    """SimCLR eq. 1 for the local anchors z0, z1 (B, D) against every view in all0, all1 (N, D).

    Under data parallelism all0/all1 are the views gathered from every process and `offset` is where
    this process's B rows start, so the loss on each process is its share of the global-batch loss.
    Without them the batch itself is the candidate set.
    """
    all0 = z0 if all0 is None else all0
    all1 = z1 if all1 is None else all1
    anchors = F.normalize(torch.cat([z0, z1]).float(), dim=1)
    cands = F.normalize(torch.cat([all0, all1]).float(), dim=1)
    b, n = len(z0), len(all0)
    logits = anchors @ cands.t() / temperature
    rows = torch.arange(2 * b, device=logits.device)
    own = torch.cat([rows[:b] + offset, rows[:b] + offset + n])
    positive = torch.cat([rows[:b] + offset + n, rows[:b] + offset])
    logits[rows, own] = float("-inf")
    return F.cross_entropy(logits, positive)
