"""FER2013: `fer2013.csv` with `emotion` (0 Angry, 1 Disgust, 2 Fear, 3 Happy, 4 Sad, 5 Surprise,
6 Neutral: the dataset's own order is kept), `pixels` (48x48 grey, space-separated) and `Usage`
(Training -> train, PrivateTest -> test, PublicTest is the validation set and not used). The labels
are read with pandas; a face's pixels are parsed from its csv row when a batch reads it
(`pixel_cells`)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from facerep.downstream.data import Split, TaskData
from facerep.downstream.datasets import register_dataset
from facerep.downstream.datasets.common import CsvCells, csv_row_offsets, require
from facerep.errors import InputError


def pixels_image(pixels: str, size: int) -> np.ndarray:
    """The RGB (size, size, 3) face of one `pixels` cell (48x48 grey, space-separated), grey repeated to
    three channels so FER2013 faces go through the same RGB backbones; public because FERPlus stores
    only labels and reads its pixels from the same csv."""
    grey = np.array(pixels.split(), dtype=np.uint8).reshape(48, 48)
    return np.asarray(Image.fromarray(grey).convert("RGB").resize((size, size), Image.BILINEAR))


def pixel_cells(path: Path, rows: np.ndarray, size: int) -> CsvCells:
    """The faces of data rows `rows` (0-based, as pandas numbers them) of a FER2013 csv, read lazily."""
    with path.open(encoding="utf-8") as f:
        header = next(csv.reader([f.readline()]))
    if "pixels" not in header:
        raise InputError(f"{path}: no `pixels` column (columns: {', '.join(header)})")
    return CsvCells(path, csv_row_offsets(path)[rows], header.index("pixels"), size, pixels_image)


@register_dataset("fer2013", tasks=("expression",))
def load(root: Path, size: int, max_train: int | None = None, max_test: int | None = None) -> TaskData:
    path = require(root / "fer2013.csv", "FER2013 csv")
    df = pd.read_csv(path, usecols=["emotion", "Usage"])
    parts = {}
    for split, usage, cap in (("train", "Training", max_train), ("test", "PrivateTest", max_test)):
        part = df[df["Usage"] == usage].iloc[:cap]
        images = pixel_cells(path, part.index.to_numpy(), size)
        labels = {"expression": part["emotion"].to_numpy(np.int64)}
        parts[split] = Split(images, labels, [f"{usage}_{i}" for i in part.index])
    return TaskData("fer2013", parts["train"], parts["test"], None, {"classes": 7})
