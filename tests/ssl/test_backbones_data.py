"""Backbone export round trip, multi-crop views and their per-sample seeds."""

from __future__ import annotations

import colorsys
from pathlib import Path

import pandas as pd
import pytest
import torch
from PIL import Image

from facerep.errors import InputError
from facerep.ssl.augment import IMAGENET_MEAN, IMAGENET_STD, MultiCropTransform
from facerep.ssl.backbones import build_backbone, load_backbone, save_backbone
from facerep.ssl.data import build_catalog, views_of


@pytest.mark.parametrize("name", ["resnet_tiny", "resnet18_half", "vit_tiny_small"])
def test_backbone_pt_round_trip_gives_the_same_features(tmp_path: Path, name: str) -> None:
    net = build_backbone(name).eval()
    x = torch.randn(2, 3, 64, 64)
    save_backbone(net, tmp_path / "backbone.pt", {"method": "test"})
    doc = torch.load(tmp_path / "backbone.pt", weights_only=True)
    assert doc["arch"] == name and doc["feature_dim"] == net.feature_dim and doc["meta"] == {"method": "test"}
    again = load_backbone(tmp_path / "backbone.pt").eval()
    with torch.no_grad():
        torch.testing.assert_close(again(x), net(x))
        fmap = again.forward_features(x)
    assert fmap.shape[:2] == (2, net.feature_dim) and fmap.ndim == 4


def test_missing_or_corrupt_backbone_is_an_input_error_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nothere\.pt: backbone file not found"):
        load_backbone(tmp_path / "nothere.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a torch file")
    with pytest.raises(InputError, match=r"bad\.pt: not a readable backbone file"):
        load_backbone(tmp_path / "bad.pt")
    with pytest.raises(InputError, match="unknown backbone 'resnet7'"):
        build_backbone("resnet7")


def test_views_depend_only_on_the_sample_seed(synth_root: Path) -> None:
    catalog = build_catalog("synth_faces", str(synth_root), 64, "train")
    labels = pd.read_parquet(synth_root / "faces" / "labels.parquet")
    assert sum(catalog.counts) == int((labels["split"] == "train").sum()) < len(labels)
    item = next(catalog.read(0, 5, 6))
    transform = MultiCropTransform(64, 2, 32, 3, (0.3, 1.0), (0.05, 0.3), flip=True)
    a = views_of(item, transform, 1234)
    torch.manual_seed(99)
    b = views_of(item, transform, 1234)
    assert [v.shape for v in a] == [(3, 64, 64)] * 2 + [(3, 32, 32)] * 3
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(views_of(item, transform, 1235)[0], a[0])


def test_hue_zero_keeps_the_hue_that_the_default_jitter_shifts() -> None:
    """`crops.hue`: brightness, contrast and saturation jitter leave the hue of a red patch where it is,
    while SimCLR's hue jitter of 0.2 moves it by up to a fifth of the colour circle."""
    img = Image.new("RGB", (32, 32), (200, 40, 40))
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)

    def hue_shifts(hue: float | None) -> list[float]:
        t = MultiCropTransform(32, 1, 16, 0, (1.0, 1.0), flip=False, gray=0.0, blur=(0.0,), hue=hue)
        shifts = []
        for _ in range(60):
            rgb = (t(img)[0].mean(dim=(1, 2)) * std + mean).clamp(0, 1).tolist()
            h = colorsys.rgb_to_hsv(*rgb)[0]
            shifts.append(min(h, 1 - h))
        return shifts

    torch.manual_seed(0)
    assert max(hue_shifts(0.0)) < 0.01
    assert max(hue_shifts(None)) > 0.1
