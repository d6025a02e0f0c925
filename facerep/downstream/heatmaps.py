"""Gaussian landmark heatmaps and their sub-pixel decoding (Bulat et al. 5.2, following [4]).

Points are in [0, 1] image coordinates; a heatmap pixel (i, j) covers [j/W, (j+1)/W) so its centre is
at ((j + 0.5)/W, (i + 0.5)/H).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def render(points: Tensor, height: int, width: int, sigma: float) -> Tensor:
    """(B, K, 2) normalised points -> (B, K, H, W) Gaussians of std `sigma` heatmap pixels, peak 1."""
    ys = torch.arange(height, dtype=points.dtype, device=points.device) + 0.5
    xs = torch.arange(width, dtype=points.dtype, device=points.device) + 0.5
    px = points[..., 0:1] * width  # (B, K, 1)
    py = points[..., 1:2] * height
    gx = torch.exp(-((xs.view(1, 1, -1) - px) ** 2) / (2 * sigma**2))  # (B, K, W)
    gy = torch.exp(-((ys.view(1, 1, -1) - py) ** 2) / (2 * sigma**2))  # (B, K, H)
    return gy.unsqueeze(-1) * gx.unsqueeze(-2)


def decode(heatmaps: Tensor) -> Tensor:
    """(B, K, H, W) -> (B, K, 2) normalised points: the arg-max refined by the centroid of the
    (positive part of the) 3x3 neighbourhood, which recovers sub-pixel positions of a Gaussian."""
    b, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(b, k, -1)
    idx = flat.argmax(dim=-1)
    iy, ix = (idx // w).float(), (idx % w).float()
    padded = F.pad(heatmaps.reshape(b * k, 1, h, w), (1, 1, 1, 1), value=0.0)
    patches = F.unfold(padded, 3).reshape(b, k, 9, h * w)
    window = patches.gather(-1, idx.unsqueeze(-1).unsqueeze(-1).expand(b, k, 9, 1)).squeeze(-1)
    window = window.clamp(min=0)
    offs = torch.tensor([-1.0, 0.0, 1.0], device=heatmaps.device)
    dy, dx = offs.repeat_interleave(3), offs.repeat(3)
    mass = window.sum(-1).clamp(min=1e-8)
    ox = (window * dx).sum(-1) / mass
    oy = (window * dy).sum(-1) / mass
    return torch.stack([(ix + ox + 0.5) / w, (iy + oy + 0.5) / h], dim=-1)
