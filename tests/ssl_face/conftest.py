"""Fixtures for the face-method tests: a small face folder in the SynthFaces layout, tiny run settings.

Until `facerep.synth` renders faces, faces are drawn here: an oval head on a plain background, eyes,
brows and a mouth whose shape follows the expression, with varied skin, size, position and yaw-like
shift of the features, written as `faces/64/*.png` with `faces/labels.parquet` (contract columns
`face_id`, `file`, `split`, `expression`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw

from facerep.params import Params, load_params


def draw_face(rng: np.random.Generator, expression: int, size: int = 64) -> Image.Image:
    img = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(40, 220, 3)))
    d = ImageDraw.Draw(img)
    cx, cy = size / 2 + rng.normal(0, 1.5), size / 2 + rng.normal(0, 1.5)
    w, h = size * rng.uniform(0.32, 0.4), size * rng.uniform(0.4, 0.47)
    skin = tuple(int(v) for v in np.array([224, 172, 140]) * rng.uniform(0.5, 1.1))
    d.ellipse((cx - w, cy - h, cx + w, cy + h), fill=skin)
    shift = rng.uniform(-0.15, 0.15) * w
    for sx in (-1, 1):
        ex, ey = cx + shift + sx * w * 0.42, cy - h * 0.18
        d.ellipse((ex - 4, ey - 3, ex + 4, ey + 3), fill=(250, 250, 250))
        d.ellipse((ex - 2, ey - 2, ex + 2, ey + 2), fill=(30, 20, 20))
        d.line((ex - 5, ey - 7, ex + 5, ey - 7 - 2 * (expression == 0)), fill=(60, 40, 30), width=2)
    my, mw = cy + h * 0.5, w * 0.45
    if expression == 0:
        d.ellipse((cx + shift - 5, my - 6, cx + shift + 5, my + 6), fill=(90, 20, 20))
    elif expression == 3:
        d.arc((cx + shift - mw, my - 9, cx + shift + mw, my + 5), 20, 160, fill=(140, 20, 20), width=3)
    elif expression == 4:
        d.arc((cx + shift - mw, my - 2, cx + shift + mw, my + 11), 200, 340, fill=(140, 20, 20), width=3)
    else:
        d.line((cx + shift - mw, my, cx + shift + mw, my), fill=(140, 20, 20), width=3)
    return img


def write_faces(root: Path, n: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder = root / "faces" / "64"
    folder.mkdir(parents=True)
    rows = []
    for i in range(n):
        expression = [0, 3, 4, 6][i % 4]
        file = f"f{i:06d}.png"
        draw_face(rng, expression).save(folder / file)
        split = "train" if i % 5 else "test"
        rows.append({"face_id": f"f{i:06d}", "file": file, "split": split, "expression": expression})
    pd.DataFrame(rows).to_parquet(root / "faces" / "labels.parquet", index=False)
    return root


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_faces(tmp_path_factory.mktemp("synth_faces"), 120)


# Tiny per-method sizes: small heads and views keep each run to seconds on 2 CPU cores.
TINY = {
    "pros": [
        "pretrain.pros.hidden_dim=64",
        "pretrain.pros.output_dim=32",
        "pretrain.pros.prototypes=64",
        "pretrain.pros.crops.local_count=2",
        "pretrain.pros.crops.global_size=32",
        "pretrain.pros.crops.local_size=32",
    ],
    "fra": [
        "pretrain.fra.hidden_dim=64",
        "pretrain.fra.output_dim=32",
        "pretrain.fra.decoder_dim=32",
        "pretrain.fra.decoder_heads=2",
        "pretrain.fra.crops.global_size=32",
    ],
    "pcl": [
        "pretrain.pcl.feature_dim=64",
        "pretrain.pcl.decoder_channels=32",
        "pretrain.pcl.crops.global_size=32",
        "pretrain.pcl.optim.base_lr=0.03",
    ],
    "simfle": [
        "pretrain.simfle.hidden_dim=64",
        "pretrain.simfle.output_dim=32",
        "pretrain.simfle.distill_dim=32",
        "pretrain.simfle.mae_dim=32",
        "pretrain.simfle.mae_depth=1",
        "pretrain.simfle.mae_heads=2",
        "pretrain.simfle.decoder_dim=32",
        "pretrain.simfle.decoder_depth=1",
        "pretrain.simfle.decoder_heads=2",
        "pretrain.simfle.crops.global_size=32",
        "pretrain.simfle.mae_size=32",
        "pretrain.simfle.patch_size=8",
    ],
}


def make_params(tmp_path: Path, synth_root: Path, method: str, *sets: str) -> Params:
    """CPU test parameters for `method`: resnet_tiny, batch 8, a local MLflow SQLite store in tmp_path."""
    base = [
        f"paths.synth={synth_root}",
        "pretrain.data.source=synth_faces",
        f"paths.models={tmp_path / 'models'}",
        f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
        f"pretrain.method={method}",
        "pretrain.backbone=resnet_tiny",
        "pretrain.batch_size=8",
        "pretrain.num_workers=0",
        "pretrain.log_every=1",
        "pretrain.knn.enabled=false",
    ]
    return load_params(None, [*base, *TINY[method], *sets])
