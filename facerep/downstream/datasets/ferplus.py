"""FERPlus (Barsoum et al. 2016): the FER2013 pixels of `fer2013.csv` relabelled by ten annotators in
`fer2013new.csv` (the same rows in the same order: `Usage`, `Image name`, then the votes for neutral,
happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF). Labels follow the FERPlus
reference code's 'majority' mode: a class with a single vote is an outlier and loses it, a class with
more than half of the remaining votes wins, anything else is unknown; unknown, NF (not a face) and
rows without an image name are dropped. Classes are numbered in the project's order (SynthFaces and
RAF-DB: Surprise, Fear, Disgust, Happiness, Sadness, Anger, Neutral -> 0..6) with Contempt as 7, the
eighth class as in AffectNet-8. Training -> train, PrivateTest -> test (PublicTest is the validation
set and not used)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from facerep.downstream.data import Split, TaskData
from facerep.downstream.datasets import register_dataset
from facerep.downstream.datasets.common import require
from facerep.downstream.datasets.fer2013 import pixel_cells
from facerep.errors import InputError

#: FERPlus vote column -> project class; the last two columns (unknown, NF) are not classes
CLASSES = {
    "neutral": 6,
    "happiness": 3,
    "surprise": 0,
    "sadness": 4,
    "anger": 5,
    "disgust": 2,
    "fear": 1,
    "contempt": 7,
}
VOTES = [*CLASSES, "unknown", "NF"]


def majority(votes: np.ndarray) -> np.ndarray:
    """Winning FERPlus column per row (an index into VOTES), or -1 where no class has a majority."""
    kept = np.where(votes > 1, votes, 0)
    peak = kept.max(axis=1)
    return np.where(peak > kept.sum(axis=1) / 2, kept.argmax(axis=1), -1)


@register_dataset("ferplus", tasks=("expression",))
def load(root: Path, size: int, max_train: int | None = None, max_test: int | None = None) -> TaskData:
    pixels = require(root / "fer2013.csv", "FER2013 csv")
    n_pixels = len(pd.read_csv(pixels, usecols=["Usage"]))
    votes = pd.read_csv(require(root / "fer2013new.csv", "FERPlus label csv"))
    if n_pixels != len(votes):
        raise InputError(f"{root / 'fer2013new.csv'}: {len(votes)} rows, fer2013.csv has {n_pixels}")
    winner = majority(votes[VOTES].to_numpy(np.float64))
    keep = (winner >= 0) & (winner < len(CLASSES)) & votes["Image name"].notna().to_numpy()
    project = np.array(list(CLASSES.values()))
    parts = {}
    for split, usage, cap in (("train", "Training", max_train), ("test", "PrivateTest", max_test)):
        rows = np.flatnonzero(keep & (votes["Usage"] == usage).to_numpy())[:cap]
        images = pixel_cells(pixels, rows, size)
        labels = {"expression": project[winner[rows]].astype(np.int64)}
        parts[split] = Split(images, labels, votes["Image name"].iloc[rows].astype(str).tolist())
    return TaskData("ferplus", parts["train"], parts["test"], None, {"classes": len(CLASSES)})
