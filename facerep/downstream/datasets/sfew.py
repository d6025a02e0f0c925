"""SFEW 2.0 (Dhall et al., EmotiW): `Train/<Emotion>/*.{png,jpg}` and `Val/<Emotion>/*.{png,jpg}`
with one folder per emotion (Angry, Disgust, Fear, Happy, Neutral, Sad, Surprise). The test labels
were never released, so Val is the test split, as in the literature. Put the release's aligned faces
in these folders: images are read whole. Classes in the project's order (SynthFaces and RAF-DB:
Surprise, Fear, Disgust, Happy, Sad, Angry, Neutral -> 0..6)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facerep.downstream.data import Split, TaskData
from facerep.downstream.datasets import register_dataset
from facerep.downstream.datasets.common import FaceFiles, require

EMOTIONS = {"Surprise": 0, "Fear": 1, "Disgust": 2, "Happy": 3, "Sad": 4, "Angry": 5, "Neutral": 6}


def _split(folder: Path, size: int, cap: int | None) -> Split:
    items = [
        (path, label)
        for emotion, label in EMOTIONS.items()
        for path in sorted(require(folder / emotion, "SFEW emotion folder").iterdir())
        if path.suffix.lower() in (".png", ".jpg", ".jpeg")
    ][:cap]
    images = FaceFiles([path for path, _ in items], size)
    labels = {"expression": np.array([y for _, y in items], dtype=np.int64)}
    return Split(images, labels, [f"{p.parent.name}/{p.name}" for p, _ in items])


@register_dataset("sfew", tasks=("expression",))
def load(root: Path, size: int, max_train: int | None = None, max_test: int | None = None) -> TaskData:
    train = _split(root / "Train", size, max_train)
    test = _split(root / "Val", size, max_test)
    return TaskData("sfew", train, test, None, {"classes": len(EMOTIONS)})
