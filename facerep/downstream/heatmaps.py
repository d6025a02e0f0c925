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


def decode(heatmaps: Tensor, eps: float = 1e-6) -> Tensor:
    """(B, K, H, W) -> (B, K, 2) normalised points: the arg-max refined along x and y by the vertex of
    the parabola through the logs of the peak and its two neighbours (exact for a Gaussian heatmap)."""
    b, k, h, w = heatmaps.shape
    idx = heatmaps.reshape(b, k, -1).argmax(dim=-1)
    iy, ix = idx // w, idx % w
    padded = F.pad(heatmaps, (1, 1, 1, 1), value=0.0).clamp(min=eps).log()

    def at(dy: int, dx: int) -> Tensor:
        flat = (iy + 1 + dy) * (w + 2) + (ix + 1 + dx)
        return padded.reshape(b, k, -1).gather(-1, flat.unsqueeze(-1)).squeeze(-1)

    centre = at(0, 0)

    def offset(minus: Tensor, plus: Tensor) -> Tensor:
        curvature = minus + plus - 2 * centre
        off = torch.where(
            curvature < 0, 0.5 * (minus - plus) / curvature.clamp(max=-eps), torch.zeros_like(centre)
        )
        return off.clamp(-0.5, 0.5)

    ox, oy = offset(at(0, -1), at(0, 1)), offset(at(-1, 0), at(1, 0))
    return torch.stack([(ix + ox + 0.5) / w, (iy + oy + 0.5) / h], dim=-1)
