"""RAF-DB basic emotions: `EmoLabel/list_patition_label.txt` ("train_00001.jpg 5", labels 1..7 in
the order Surprise, Fear, Disgust, Happiness, Sadness, Anger, Neutral -> 0..6, as SynthFaces uses) and
the aligned 100x100 faces `Image/aligned/train_00001_aligned.jpg`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facerep.downstream.data import Split, TaskData
from facerep.downstream.datasets import register_dataset
from facerep.downstream.datasets.common import FaceFiles, require


@register_dataset("rafdb", tasks=("expression",))
def load(root: Path, size: int, max_train: int | None = None, max_test: int | None = None) -> TaskData:
    listing = require(root / "EmoLabel" / "list_patition_label.txt", "RAF-DB label list")
    rows = [line.split() for line in listing.read_text().splitlines() if line.strip()]
    parts = {}
    for split, cap in (("train", max_train), ("test", max_test)):
        items = [(name, int(label) - 1) for name, label in rows if name.startswith(split)][:cap]
        paths = [root / "Image" / "aligned" / name.replace(".jpg", "_aligned.jpg") for name, _ in items]
        images = FaceFiles([require(p, "RAF-DB aligned image") for p in paths], size)
        labels = {"expression": np.array([y for _, y in items], dtype=np.int64)}
        parts[split] = Split(images, labels, [name for name, _ in items])
    return TaskData("rafdb", parts["train"], parts["test"], None, {"classes": 7})
