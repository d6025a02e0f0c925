"""PCL's pose-disentangled decoder parts (Liu et al., section 3.1, Fig. 3, 4.1).

The two separating subnets g_f and g_p share one architecture ("convolutional subnets with the
same architecture", 4.1): conv 3x3 - BN - ReLU - conv 1x1 on the backbone's feature map, then global
average pooling to a `dim`-dimensional vector (2048 in the paper). The reconstruction network D is six
blocks of (upsample x2, conv 3x3, BN, ReLU) from the concatenated [F_f, F_p] laid on a 1x1 grid, then
a 3x3 convolution to RGB: 64 px out, the paper's input size. Smaller inputs use fewer blocks
(log2 of the size); larger ones start from a grid of size / 64 (rounded up) and the output is resized
to the input. The paper's layer widths are in its supplement, which we do not have: the widths halve
from `channels` every two blocks.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SeparatingSubnet(nn.Module):
    """g_f or g_p: feature map (B, C, H, W) -> feature vector (B, dim)."""

    def __init__(self, in_dim: int, dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_dim, dim, 3, padding=1, bias=False),
            nn.BatchNorm2d(dim),
            nn.ReLU(inplace=True),
            nn.Conv2d(dim, dim, 1),
        )

    def forward(self, fmap: Tensor) -> Tensor:
        return self.net(fmap).mean(dim=(2, 3))


class Reconstructor(nn.Module):
    """D: (F_f, F_p) -> image (B, 3, size, size)."""

    def __init__(self, dim: int, size: int, channels: int) -> None:
        super().__init__()
        self.size = size
        n_blocks = min(6, math.ceil(math.log2(size)))
        self.start = math.ceil(size / 2**n_blocks)
        widths = [max(channels >> (i // 2), 16) for i in range(n_blocks + 1)]
        self.stem = nn.Linear(2 * dim, widths[0] * self.start * self.start)
        blocks: list[nn.Module] = []
        for i in range(n_blocks):
            blocks += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(widths[i], widths[i + 1], 3, padding=1, bias=False),
                nn.BatchNorm2d(widths[i + 1]),
                nn.ReLU(inplace=True),
            ]
        self.blocks = nn.Sequential(*blocks, nn.Conv2d(widths[-1], 3, 3, padding=1))
        self.width = widths[0]

    def forward(self, face: Tensor, pose: Tensor) -> Tensor:
        x = self.stem(torch.cat([face, pose], dim=1)).reshape(len(face), self.width, self.start, self.start)
        out = self.blocks(x)
        if out.shape[-1] != self.size:
            out = F.interpolate(out, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return out
