"""Backbone initialisations compared by the evaluation: `scratch`, `pretrain:<method>`, `imagenet`.

`pretrain:<method>` reads `<paths.models>/pretrain/<method>/backbone.pt` (the pretrain stage's output;
`paths.models` may be an fsspec URL, see `facerep.storage`).
`imagenet` loads torchvision's ImageNet weights for `resnet18`/`resnet50` from `finetune.imagenet_weights`
or torchvision's cache; offline with neither, it stops with MissingModelError (no silent fallback).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from facerep.errors import InputError, MissingModelError
from facerep.io import fingerprint, sha256_file
from facerep.params import Params
from facerep.ssl.backbones import Backbone, ResNetBackbone, build_backbone, load_backbone
from facerep.storage import Location, exists, glob, location, read_bytes, read_source

IMAGENET_WEIGHTS = {
    "resnet18": ("resnet18-f37072fd.pth", "https://download.pytorch.org/models/resnet18-f37072fd.pth"),
    "resnet50": ("resnet50-11ad3fa6.pth", "https://download.pytorch.org/models/resnet50-11ad3fa6.pth"),
}


def pretrained_methods(params: Params) -> list[str]:
    """Methods whose `backbone.pt` exists under `<paths.models>/pretrain/`, sorted."""
    return sorted(p.parent.name for p in glob(location(params.paths.models) / "pretrain", "*/backbone.pt"))


def resolve_inits(params: Params) -> list[str]:
    """`finetune.inits`, or scratch plus every pre-trained backbone present."""
    if params.finetune.inits is not None:
        return list(params.finetune.inits)
    return ["scratch"] + [f"pretrain:{m}" for m in pretrained_methods(params)]


def backbone_path(params: Params, method: str) -> Location:
    return location(params.paths.models) / "pretrain" / method / "backbone.pt"


def scratch_arch(params: Params) -> str:
    """`finetune.backbone`, else the architecture of the pre-trained backbones (a fair comparison),
    else `pretrain.backbone`."""
    if params.finetune.backbone:
        return params.finetune.backbone
    for method in pretrained_methods(params):
        with read_source(backbone_path(params, method)) as source:
            doc = torch.load(source, map_location="cpu", weights_only=True)
        return str(doc["arch"])
    return params.pretrain.backbone


def _imagenet_file(params: Params) -> tuple[str, Path]:
    """The architecture and the ImageNet weights file `imagenet` loads (it must exist)."""
    arch = scratch_arch(params)
    if arch not in IMAGENET_WEIGHTS:
        raise InputError(
            f"finetune.inits: no ImageNet weights for backbone {arch!r} (use resnet18 or resnet50)"
        )
    file, url = IMAGENET_WEIGHTS[arch]
    local = Path(params.finetune.imagenet_weights) if params.finetune.imagenet_weights else None
    cached = Path(torch.hub.get_dir()) / "checkpoints" / file
    path = local if local is not None else cached
    if not path.is_file():
        raise MissingModelError(str(path), url, "finetune.imagenet_weights")
    return arch, path


def _imagenet(params: Params) -> Backbone:
    arch, path = _imagenet_file(params)
    backbone = build_backbone(arch)
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert isinstance(backbone, ResNetBackbone)
    backbone.net.load_state_dict({k: v for k, v in state.items() if not k.startswith("fc.")})
    return backbone


def load_init(params: Params, init: str) -> Backbone:
    """A fresh backbone for `init` (scratch is seeded by the caller's torch seed)."""
    if init == "scratch":
        return build_backbone(scratch_arch(params))
    if init == "imagenet":
        return _imagenet(params)
    if init.startswith("pretrain:"):
        return load_backbone(backbone_path(params, init.split(":", 1)[1]))
    raise InputError(f"finetune.inits: unknown init {init!r} (scratch, imagenet, pretrain:<method>)")


def init_fingerprint(params: Params, init: str) -> str:
    """A content id of what `load_init(params, init)` builds: the sha256 of the weights file it reads
    (`backbone.pt`, ImageNet's), or for scratch its architecture (its weights are drawn from the
    seed, which the settings hold). A finished point is reused only while this is unchanged."""
    if init == "scratch":
        return fingerprint({"scratch": scratch_arch(params)})
    if init == "imagenet":
        return sha256_file(_imagenet_file(params)[1])
    if init.startswith("pretrain:"):
        path = backbone_path(params, init.split(":", 1)[1])
        if not exists(path):
            raise InputError(f"finetune.inits: {init} has no backbone file {path} (run `facerep pretrain`)")
        return sha256_file(path) if isinstance(path, Path) else hashlib.sha256(read_bytes(path)).hexdigest()
    raise InputError(f"finetune.inits: unknown init {init!r} (scratch, imagenet, pretrain:<method>)")


def init_dirname(init: str) -> str:
    """`pretrain:swav` -> `pretrain-swav`: a folder name for results."""
    return init.replace(":", "-")
