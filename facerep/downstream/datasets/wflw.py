"""WFLW: `WFLW_annotations/list_98pt_rect_attr_train_test/list_98pt_rect_attr_{train,test}.txt`, one
face per line: 196 coordinates (98 points), the detection box (4), six attribute flags, the image path
under `WFLW_images/`. NME inter-ocular (outer eye corners 60 and 72)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facerep.downstream.data import TaskData
from facerep.downstream.datasets import register_dataset
from facerep.downstream.datasets.common import require
from facerep.downstream.datasets.landmark_files import landmark_split

LISTS = Path("WFLW_annotations/list_98pt_rect_attr_train_test")


def _items(root: Path, split: str, cap: int | None) -> list:
    listing = require(root / LISTS / f"list_98pt_rect_attr_{split}.txt", "WFLW annotation list")
    items = []
    for i, line in enumerate(listing.read_text().splitlines()[:cap]):
        f = line.split()
        pts = np.array(f[:196], dtype=float).reshape(98, 2)
        items.append((require(root / "WFLW_images" / f[-1], "WFLW image"), pts, f"{split}_{i}"))
    return items


@register_dataset("wflw", tasks=("landmarks",))
def load(root: Path, size: int, max_train: int | None = None, max_test: int | None = None) -> TaskData:
    train = landmark_split(_items(root, "train", max_train), size)
    test = landmark_split(_items(root, "test", max_test), size)
    return TaskData("wflw", train, test, None, {"nme_norm": "inter_ocular"})
