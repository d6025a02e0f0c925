"""DISFA AU intensities: the published label files `ActionUnit_Labels/<SN>/<SN>_au<k>.txt` (lines
"frame,intensity") for the 12 AUs, and frames extracted from the right-camera videos as
`Frames/<SN>/<frame>.jpg` (the videos themselves are not decoded here). Subject-independent split:
the last third of the subjects, sorted, is the test set. ICC(3,1) per AU."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facerep.downstream.data import Split, TaskData
from facerep.downstream.datasets import register_dataset
from facerep.downstream.datasets.common import FaceFiles, require

AUS = [1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26]


def _subject(root: Path, sn: str) -> tuple[list[Path], list[np.ndarray], list[str]]:
    per_au = []
    for au in AUS:
        text = require(
            root / "ActionUnit_Labels" / sn / f"{sn}_au{au}.txt", "DISFA AU label file"
        ).read_text()
        per_au.append(dict(tuple(map(int, line.split(","))) for line in text.splitlines() if line.strip()))
    images, labels, keys = [], [], []
    for frame in sorted(set.intersection(*(set(d) for d in per_au))):
        path = root / "Frames" / sn / f"{frame}.jpg"
        if path.is_file():
            images.append(path)
            labels.append(np.array([d[frame] for d in per_au], dtype=np.float32))
            keys.append(f"{sn}/{frame}")
    return images, labels, keys


@register_dataset("disfa", tasks=("au",))
def load(root: Path, size: int, max_train: int | None = None, max_test: int | None = None) -> TaskData:
    subjects = sorted(
        p.name for p in require(root / "ActionUnit_Labels", "DISFA labels").iterdir() if p.is_dir()
    )
    cut = len(subjects) - max(1, len(subjects) // 3)
    parts = {}
    for split, sns, cap in (("train", subjects[:cut], max_train), ("test", subjects[cut:], max_test)):
        images, labels, keys = [], [], []
        for sn in sns:
            i, y, k = _subject(root, sn)
            images += i
            labels += y
            keys += k
        labels_arr = np.array(labels, dtype=np.float32).reshape(-1, len(AUS))[:cap]
        parts[split] = Split(FaceFiles(images[:cap], size), {"au": labels_arr}, keys[:cap])
    return TaskData("disfa", parts["train"], parts["test"], None, {"au_names": [f"au{a:02d}" for a in AUS]})
