"""AffectNet (manually annotated part): `training.csv` and `validation.csv` (the validation set is the
test set of the literature) with `subDirectory_filePath`, `face_x`, `face_y`, `face_width`,
`face_height`, `expression` (0..7: Neutral, Happy, Sad, Surprise, Fear, Disgust, Anger, Contempt;
8-10 are not faces and are dropped), `valence`, `arousal`; images under `Manually_Annotated_Images/`.
Eight classes (AffectNet-8); valence/arousal for the Bulat D.1 task."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from facerep.downstream.data import Split, TaskData
from facerep.downstream.datasets import register_dataset
from facerep.downstream.datasets.common import FaceFiles, require


@register_dataset("affectnet", tasks=("expression", "valence_arousal"))
def load(root: Path, size: int, max_train: int | None = None, max_test: int | None = None) -> TaskData:
    parts = {}
    for split, file, cap in (("train", "training.csv", max_train), ("test", "validation.csv", max_test)):
        df = pd.read_csv(require(root / file, "AffectNet csv"))
        df = df[df["expression"] <= 7].iloc[:cap]
        folder = root / "Manually_Annotated_Images"
        paths = [require(folder / f, "AffectNet image") for f in df["subDirectory_filePath"]]
        x, y = df["face_x"].to_numpy(float), df["face_y"].to_numpy(float)
        w, h = df["face_width"].to_numpy(float), df["face_height"].to_numpy(float)
        boxes = np.stack([x, y, x + w, y + h], axis=1)
        labels = {
            "expression": df["expression"].to_numpy(np.int64),
            "valence_arousal": df[["valence", "arousal"]].to_numpy(np.float32),
        }
        parts[split] = Split(
            FaceFiles(paths, size, boxes), labels, df["subDirectory_filePath"].astype(str).tolist()
        )
    return TaskData("affectnet", parts["train"], parts["test"], None, {"classes": 8})
