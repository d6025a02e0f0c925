"""Task heads on top of a backbone (Bulat et al. section 5): linear, cosine (CosFace), heatmap.

`extract` gives what the heads read: pooled features `(B, D)` and, for the heatmap head, a pyramid of
spatial maps from lower to higher layers. ResNet backbones expose their stage outputs, so the
landmark head gets the skip connections of Bulat 5.2; other backbones give their last map only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from facerep.ssl.backbones import Backbone, ResNetBackbone


def extract(backbone: Backbone, x: Tensor, maps: bool) -> tuple[Tensor, list[Tensor]]:
    """Pooled features and (if `maps`) the feature pyramid [layer2, layer3, layer4] of a ResNet."""
    if not maps:
        return backbone(x), []
    if isinstance(backbone, ResNetBackbone):
        n = backbone.net
        h = n.layer1(n.maxpool(n.relu(n.bn1(n.conv1(x)))))
        l2 = n.layer2(h)
        l3 = n.layer3(l2)
        l4 = n.layer4(l3)
        return l4.mean(dim=(2, 3)), [l2, l3, l4]
    fmap = backbone.forward_features(x)
    return backbone(x), [fmap]


class FeatureNorm(nn.BatchNorm1d):
    """Standardises pooled features before a head: a BatchNorm without affine parameters, as linear
    probes of self-supervised features use (He et al. 2022, MAE A.2). Backbones put their features at
    very different scales (a random one with untouched BatchNorm statistics, a pre-trained one with its
    own), and one learning-rate grid for every init would otherwise be tuned to whichever scale it
    happens to suit; the head stays an affine map of the features. A training batch of one item (a
    few-shot subset smaller than the batch can leave one) is scaled by the running statistics."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim, affine=False)

    def forward(self, x: Tensor) -> Tensor:
        if self.training and x.shape[0] == 1:
            return F.batch_norm(x, self.running_mean, self.running_var, training=False, eps=self.eps)
        return super().forward(x)


class LinearHead(nn.Module):
    """One linear layer on standardised pooled features (expression, attributes, AU, pose,
    valence/arousal)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.norm = FeatureNorm(in_dim)
        self.fc = nn.Linear(in_dim, out_dim)

    def forward(self, pooled: Tensor, maps: list[Tensor]) -> Tensor:
        return self.fc(self.norm(pooled))


class CosineHead(nn.Module):
    """CosFace classifier (Bulat 5.1: a linear layer trained with CosFace): cosines between the
    L2-normalised embedding and L2-normalised class weights. The embedding used for verification is
    the normalised linear projection."""

    def __init__(self, in_dim: int, classes: int, embed_dim: int = 128) -> None:
        super().__init__()
        self.norm = FeatureNorm(in_dim)
        self.embed = nn.Linear(in_dim, embed_dim)
        self.weight = nn.Parameter(torch.randn(classes, embed_dim) * 0.01)

    def embedding(self, pooled: Tensor) -> Tensor:
        return F.normalize(self.embed(self.norm(pooled)), dim=1)

    def forward(self, pooled: Tensor, maps: list[Tensor]) -> Tensor:
        return self.embedding(pooled) @ F.normalize(self.weight, dim=1).t()


class HeatmapHead(nn.Module):
    """Bulat 5.2: three 1x1 conv layers of `width` channels interleaved with x2 bilinear upsampling,
    lower-layer maps added through 1x1 projections (skip connections), then one heatmap per point."""

    def __init__(self, channels: list[int], points: int, width: int = 256) -> None:
        super().__init__()

        def block(c_in: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(c_in, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)
            )

        self.convs = nn.ModuleList([block(channels[-1]), block(width), block(width)])
        self.skips = nn.ModuleList([nn.Conv2d(c, width, 1) for c in reversed(channels[:-1])])
        self.out = nn.Conv2d(width, points, 1)

    def forward(self, pooled: Tensor, maps: list[Tensor]) -> Tensor:
        x = self.convs[0](maps[-1])
        lower = list(reversed(maps[:-1]))
        for i, conv in enumerate(self.convs[1:]):
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            if i < len(lower):
                skip = lower[i]
                if skip.shape[-2:] != x.shape[-2:]:
                    skip = F.interpolate(skip, size=x.shape[-2:], mode="bilinear", align_corners=False)
                x = x + self.skips[i](skip)
            x = conv(x)
        return self.out(x)


def pyramid_channels(backbone: Backbone, size: int) -> list[int]:
    """Channel counts of `extract`'s maps, found by one forward pass at `size` px (on the backbone's
    device)."""
    was = backbone.training
    backbone.eval()
    device = next(backbone.parameters()).device
    with torch.no_grad():
        _, maps = extract(backbone, torch.zeros(1, 3, size, size, device=device), maps=True)
    backbone.train(was)
    return [m.shape[1] for m in maps]
