"""Initialisations: scratch architecture, pre-trained backbone files, ImageNet weights offline."""

from __future__ import annotations

import pytest
import torch
from downstream_fixtures import small_params

from facerep.downstream.inits import load_init, resolve_inits
from facerep.errors import InputError, MissingModelError
from facerep.ssl.backbones import build_backbone, save_backbone


def test_default_inits_find_pretrained_backbones(tmp_path, synth_root):
    params = small_params(tmp_path, synth_root, "finetune.backbone=null")
    assert resolve_inits(params) == ["scratch"]
    torch.manual_seed(0)
    net = build_backbone("resnet_tiny")
    save_backbone(net, tmp_path / "models" / "pretrain" / "byol" / "backbone.pt", {})
    assert resolve_inits(params) == ["scratch", "pretrain:byol"]
    loaded = load_init(params, "pretrain:byol")
    assert all(
        torch.equal(a, b)
        for a, b in zip(loaded.state_dict().values(), net.state_dict().values(), strict=True)
    )
    assert load_init(params, "scratch").arch == "resnet_tiny"  # like the pre-trained one


def test_imagenet_offline_names_file_and_parameter(tmp_path, synth_root, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    params = small_params(tmp_path, synth_root, "finetune.backbone=resnet18")
    with pytest.raises(MissingModelError, match=r"finetune\.imagenet_weights") as err:
        load_init(params, "imagenet")
    assert "resnet18-f37072fd.pth" in str(err.value)
    from torchvision.models import resnet18

    weights = tmp_path / "r18.pth"
    torch.save(resnet18().state_dict(), weights)
    local = small_params(
        tmp_path, synth_root, "finetune.backbone=resnet18", f"finetune.imagenet_weights={weights}"
    )
    assert load_init(local, "imagenet").feature_dim == 512
    with pytest.raises(InputError, match="no ImageNet weights"):
        load_init(small_params(tmp_path, synth_root), "imagenet")
