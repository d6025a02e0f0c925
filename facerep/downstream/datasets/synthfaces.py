"""SynthFaces (docs/synth.md, `facerep.synth.layout`): one labels table gives every task, images at
each rendered size.

Layout: `<root>/faces/labels.parquet` and `<root>/faces/<S>/<file>`; the `split` column is the fixed
80/20 train/test split. Images are read at the nearest rendered size at or above the requested one
and resized, so `finetune.image_size` need not be one of `synth.sizes`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from facerep.downstream.data import Split, TaskData
from facerep.downstream.datasets import register_dataset
from facerep.downstream.datasets.common import FaceFiles, require
from facerep.errors import InputError
from facerep.synth.layout import ATTRIBUTES, AUS, read_face_labels


def _size_folder(faces: Path, size: int) -> Path:
    sizes = sorted(int(p.name) for p in faces.iterdir() if p.is_dir() and p.name.isdigit())
    if not sizes:
        raise InputError(f"{faces}: no rendered image folders (run `facerep synth`)")
    above = [s for s in sizes if s >= size]
    return faces / str(above[0] if above else sizes[-1])


def _labels(df: pd.DataFrame) -> dict[str, np.ndarray]:
    attrs = [f"attr_{a}" for a in ATTRIBUTES]
    return {
        "expression": df["expression"].to_numpy(np.int64),
        "attributes": df[attrs].to_numpy(np.float32),
        "landmarks": np.stack(df["lm68"].map(np.asarray)).reshape(len(df), 68, 2).astype(np.float32),
        "box": np.stack(df["face_box"].map(np.asarray)).astype(np.float32),
        "au": df[list(AUS)].to_numpy(np.float32),
        "identity": df["identity"].to_numpy(np.int64),
        "pose": df[["yaw", "pitch", "roll"]].to_numpy(np.float32),
        "valence_arousal": df[["valence", "arousal"]].to_numpy(np.float32),
    }


@register_dataset(
    "synthfaces",
    tasks=("expression", "attributes", "landmarks", "au", "recognition", "pose", "valence_arousal"),
)
def load(root: Path, size: int, max_train: int | None = None, max_test: int | None = None) -> TaskData:
    """Both splits of SynthFaces at `size` px with every label."""
    faces = Path(root) / "faces"
    require(faces / "labels.parquet", "SynthFaces labels (run `facerep synth`)")
    df = read_face_labels(root)
    folder = _size_folder(faces, size)
    parts = {}
    for split, cap in (("train", max_train), ("test", max_test)):
        part = df[df["split"] == split].sort_values("face_id").reset_index(drop=True)
        if cap is not None:
            part = part.iloc[:cap]
        images = FaceFiles([folder / f for f in part["file"]], size)
        parts[split] = Split(images, _labels(part), part["face_id"].astype(str).tolist())
    meta = {
        "nme_norm": "inter_ocular",
        "attribute_names": list(ATTRIBUTES),
        "au_names": list(AUS),
        "classes": 7,
    }
    return TaskData("synthfaces", parts["train"], parts["test"], None, meta)
