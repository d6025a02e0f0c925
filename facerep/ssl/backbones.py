"""Backbones for pre-training and fine-tuning: one interface over torchvision ResNets and timm ViTs.

Every backbone returns pooled features `(B, feature_dim)` from `forward` and a spatial map
`(B, C, H, W)` from `forward_features`: the face methods (FRA's region queries, SimFLE's masked
patches, PCL's decoders) work on the map, the global methods on the pooled vector. ViT patch tokens
are reshaped to their grid so both families look alike to a method.

The small variants exist for CPU tests and the demo (64-112 px inputs): a ResNet with a stride-2 3x3
stem and no max-pool keeps a 4x4 map at 64 px, where the ImageNet stem would leave 2x2.
`resnet18_half` keeps the stride-4 stem (3x3 stride-2 conv, then max-pool) for 96-112 px face crops:
a 3x3 map at 96 px, at a third of `resnet18_small`'s cost there (0.14 versus 0.47 s per training
step of 32 crops on 2 CPU cores), which is what makes the SynthFaces few-shot benchmark fit its
CPU budget (docs/finetune.md).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from facerep.errors import InputError
from facerep.storage import URLPath, atomic_target, exists, location, read_source


class Backbone(nn.Module):
    """A feature extractor: `forward` gives pooled features, `forward_features` the spatial map."""

    arch: str = ""
    feature_dim: int = 0

    def forward_features(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_features(x).mean(dim=(2, 3))


class ResNetBackbone(Backbone):
    """A torchvision ResNet without its classifier; the map is the output of the last stage."""

    def __init__(self, net: nn.Module, feature_dim: int) -> None:
        super().__init__()
        net.fc = nn.Identity()
        self.net = net
        self.feature_dim = feature_dim

    def forward_features(self, x: Tensor) -> Tensor:
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        return n.layer4(n.layer3(n.layer2(n.layer1(x))))


class ViTBackbone(Backbone):
    """A timm VisionTransformer; pooled = class token (as DINO/ProS use it), map = patch-token grid."""

    def __init__(self, vit: nn.Module) -> None:
        super().__init__()
        self.vit = vit
        self.feature_dim = int(vit.embed_dim)
        self.patch = int(vit.patch_embed.patch_size[0])

    def _tokens(self, x: Tensor) -> Tensor:
        return self.vit.forward_features(x)

    def forward(self, x: Tensor) -> Tensor:
        return self._tokens(x)[:, 0]

    def forward_features(self, x: Tensor) -> Tensor:
        tokens = self._tokens(x)[:, self.vit.num_prefix_tokens :]
        h, w = x.shape[-2] // self.patch, x.shape[-1] // self.patch
        return tokens.transpose(1, 2).reshape(x.shape[0], -1, h, w)


def _torchvision_resnet(depth: int) -> Backbone:
    from torchvision.models import resnet18, resnet50

    net = {18: resnet18, 50: resnet50}[depth](weights=None)
    return ResNetBackbone(net, 512 if depth == 18 else 2048)


def _small_resnet(
    widths: tuple[int, int, int, int], blocks: tuple[int, int, int, int], max_pool: bool = False
) -> Backbone:
    """A narrow ResNet (torchvision BasicBlocks) with a 3x3 stride-2 stem (then a stride-2 max-pool
    when `max_pool`) for 64-112 px faces."""
    from torchvision.models.resnet import BasicBlock, ResNet

    net = ResNet(BasicBlock, list(blocks), width_per_group=64)
    net.inplanes = widths[0]
    net.conv1 = nn.Conv2d(3, widths[0], 3, stride=2, padding=1, bias=False)
    net.bn1 = nn.BatchNorm2d(widths[0])
    net.maxpool = nn.MaxPool2d(3, stride=2, padding=1) if max_pool else nn.Identity()
    net.layer1 = net._make_layer(BasicBlock, widths[0], blocks[0])
    net.layer2 = net._make_layer(BasicBlock, widths[1], blocks[1], stride=2)
    net.layer3 = net._make_layer(BasicBlock, widths[2], blocks[2], stride=2)
    net.layer4 = net._make_layer(BasicBlock, widths[3], blocks[3], stride=2)
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return ResNetBackbone(net, widths[3])


def _vit(name: str, **kwargs: Any) -> Backbone:
    import timm

    vit = timm.create_model(name, pretrained=False, num_classes=0, dynamic_img_size=True, **kwargs)
    return ViTBackbone(vit)


BUILDERS: dict[str, Callable[[], Backbone]] = {
    "resnet18": lambda: _torchvision_resnet(18),
    "resnet50": lambda: _torchvision_resnet(50),
    "vit_s16": lambda: _vit("vit_small_patch16_224"),
    "resnet18_small": lambda: _small_resnet((32, 64, 128, 256), (2, 2, 2, 2)),
    "resnet18_half": lambda: _small_resnet((32, 64, 128, 256), (2, 2, 2, 2), max_pool=True),
    "resnet_tiny": lambda: _small_resnet((16, 32, 64, 128), (1, 1, 1, 1)),
    "vit_tiny_small": lambda: _vit(
        "vit_tiny_patch16_224", img_size=64, patch_size=8, embed_dim=96, depth=4, num_heads=3
    ),
}


def build_backbone(name: str) -> Backbone:
    """A freshly initialised backbone (no pretrained weights: pre-training starts from scratch)."""
    if name not in BUILDERS:
        raise InputError(f"pretrain.backbone: unknown backbone {name!r}; choose one of {', '.join(BUILDERS)}")
    backbone = BUILDERS[name]()
    backbone.arch = name
    return backbone


def save_backbone(backbone: Backbone, path: str | Path | URLPath, meta: dict[str, Any]) -> None:
    """Write `backbone.pt` = {arch, state_dict, feature_dim, meta} atomically (weights only, for finetune);
    `path` may be an fsspec URL (`facerep.storage`)."""
    state = {k: v.detach().cpu() for k, v in backbone.state_dict().items()}
    doc = {"arch": backbone.arch, "state_dict": state, "feature_dim": backbone.feature_dim, "meta": meta}
    with atomic_target(location(path)) as target:
        torch.save(doc, target)


def load_backbone(path: str | Path | URLPath) -> Backbone:
    """Rebuild a backbone saved by `save_backbone` from a path or an fsspec URL; a missing or corrupt
    file is an InputError naming it."""
    p = location(path)
    if not exists(p):
        raise InputError(f"{p}: backbone file not found (run `facerep pretrain` first)")
    with read_source(p) as source:  # outside the try: a network failure is not a corrupt file
        try:
            doc = torch.load(source, map_location="cpu", weights_only=True)
            backbone = build_backbone(doc["arch"])
            backbone.load_state_dict(doc["state_dict"])
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"{p}: not a readable backbone file ({type(exc).__name__}: {exc})") from exc
    return backbone
