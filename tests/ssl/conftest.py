"""Fixtures for the pretrain tests: a small face folder in the SynthFaces layout.

Until `facerep.synth` renders faces, the fixture draws simple faces itself (head, eyes, a mouth whose
shape follows the expression label, varied skin tone, position and size) and writes
`faces/64/*.png` plus `faces/labels.parquet` with the contract's `file`, `split` and `expression`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw

from facerep.params import Params, load_params


def draw_face(rng: np.random.Generator, expression: int, size: int = 64) -> Image.Image:
    bg = tuple(int(v) for v in rng.integers(0, 255, 3))
    img = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(img)
    cx, cy = size / 2 + rng.normal(0, 2), size / 2 + rng.normal(0, 2)
    w, h = size * rng.uniform(0.30, 0.38), size * rng.uniform(0.38, 0.45)
    skin = tuple(int(v) for v in np.array([224, 172, 140]) * rng.uniform(0.5, 1.1))
    d.ellipse((cx - w, cy - h, cx + w, cy + h), fill=skin)
    for sx in (-1, 1):
        ex, ey = cx + sx * w * 0.45, cy - h * 0.2
        d.ellipse((ex - 3, ey - 2, ex + 3, ey + 2), fill=(255, 255, 255))
        d.ellipse((ex - 1, ey - 1, ex + 1, ey + 1), fill=(20, 20, 20))
    my, mw = cy + h * 0.5, w * 0.5
    if expression == 0:
        d.ellipse((cx - 4, my - 5, cx + 4, my + 5), fill=(90, 20, 20))
    elif expression == 3:
        d.arc((cx - mw, my - 8, cx + mw, my + 4), 20, 160, fill=(120, 20, 20), width=2)
    elif expression == 4:
        d.arc((cx - mw, my - 2, cx + mw, my + 10), 200, 340, fill=(120, 20, 20), width=2)
    else:
        d.line((cx - mw, my, cx + mw, my), fill=(120, 20, 20), width=2)
    return img


def write_faces(root: Path, n: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder = root / "faces" / "64"
    folder.mkdir(parents=True)
    rows = []
    for i in range(n):
        expression = int([0, 3, 4, 6][i % 4])
        file = f"f{i:06d}.png"
        draw_face(rng, expression).save(folder / file)
        rows.append(
            {
                "face_id": f"f{i:06d}",
                "file": file,
                "split": "train" if i % 5 else "test",
                "expression": expression,
            }
        )
    pd.DataFrame(rows).to_parquet(root / "faces" / "labels.parquet", index=False)
    return root


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_faces(tmp_path_factory.mktemp("synth"), 160)


@pytest.fixture
def params_for(tmp_path: Path, synth_root: Path):
    """`params_for(*sets)`: test parameters rooted in this test's tmp_path, with extra `--set` items."""
    return lambda *sets: make_params(tmp_path, synth_root, *sets)


def make_params(tmp_path: Path, synth_root: Path, *sets: str) -> Params:
    """Small CPU parameters for tests: tiny backbone, 64 px, a local MLflow SQLite store in tmp_path."""
    base = [
        f"paths.synth={synth_root}",
        f"paths.models={tmp_path / 'models'}",
        f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
        "pretrain.backbone=resnet_tiny",
        "pretrain.batch_size=8",
        "pretrain.num_workers=0",
        "pretrain.max_steps=6",
        "pretrain.log_every=1",
        "pretrain.knn.max_train=64",
        "pretrain.knn.max_test=32",
    ]
    return load_params(None, [*base, *sets])
