"""300W: image + `.pts` pairs in `lfpw/trainset`, `helen/trainset`, `afw` (train, 3,148 faces) and
`lfpw/testset`, `helen/testset`, `ibug` (the full test set, 689 faces); NME inter-ocular (68 points)."""

from __future__ import annotations

from pathlib import Path

from facerep.downstream.data import TaskData
from facerep.downstream.datasets import register_dataset
from facerep.downstream.datasets.common import require
from facerep.downstream.datasets.landmark_files import landmark_split, read_pts

TRAIN = ("lfpw/trainset", "helen/trainset", "afw")
TEST = ("lfpw/testset", "helen/testset", "ibug")


def _items(root: Path, folders: tuple[str, ...], cap: int | None) -> list:
    items = []
    for folder in folders:
        for pts in sorted(require(root / folder, "300W folder").glob("*.pts")):
            image = next((p for p in (pts.with_suffix(".jpg"), pts.with_suffix(".png")) if p.is_file()), None)
            items.append(
                (
                    require(image or pts.with_suffix(".jpg"), "300W image"),
                    read_pts(pts),
                    f"{folder}/{pts.stem}",
                )
            )
    return items[:cap]


@register_dataset("w300", tasks=("landmarks",))
def load(root: Path, size: int, max_train: int | None = None, max_test: int | None = None) -> TaskData:
    train = landmark_split(_items(root, TRAIN, max_train), size)
    test = landmark_split(_items(root, TEST, max_test), size)
    return TaskData("w300", train, test, None, {"nme_norm": "inter_ocular"})
