"""BP4D AU intensity, the FERA 2015 layout: for each partition `train` (the FERA 2015 training
subjects) and `devel` (the development subjects, the test set of the literature since the FERA test
labels were never released), `<partition>/AU_INT/AU<kk>/<subject>_<task>_AU<kk>.csv` (lines
"frame,intensity", 0-5, 9 = not coded) for the five FERA AUs 6, 10, 12, 14, 17, and frames
`<partition>/Images/<subject>/<task>/<frame>.jpg` (extracted from the videos beforehand, as for
DISFA). A frame counts when all five AUs are coded and its image is there. ICC(3,1) per AU."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facerep.downstream.data import Split, TaskData
from facerep.downstream.datasets import register_dataset
from facerep.downstream.datasets.common import FaceFiles, require

AUS = [6, 10, 12, 14, 17]
NOT_CODED = 9


def _intensities(path: Path) -> dict[int, int]:
    rows = (line.split(",") for line in require(path, "BP4D AU intensity file").read_text().splitlines())
    return {int(frame): int(value) for frame, value in rows}


def _partition(folder: Path, size: int, cap: int | None) -> Split:
    """Sequences are those with an AU06 file; frames are read in order until `cap` is reached."""
    first = require(folder / "AU_INT" / f"AU{AUS[0]:02d}", "BP4D AU intensity folder")
    sequences = sorted(p.name.removesuffix(f"_AU{AUS[0]:02d}.csv") for p in first.glob("*.csv"))
    images, labels, keys = [], [], []
    for seq in sequences:
        per_au = [_intensities(folder / "AU_INT" / f"AU{au:02d}" / f"{seq}_AU{au:02d}.csv") for au in AUS]
        subject, task = seq.split("_", 1)
        for frame in sorted(set.intersection(*(set(d) for d in per_au))):
            if cap is not None and len(keys) >= cap:
                break
            values = [d[frame] for d in per_au]
            path = folder / "Images" / subject / task / f"{frame}.jpg"
            if NOT_CODED in values or not path.is_file():
                continue
            images.append(path)
            labels.append(values)
            keys.append(f"{subject}/{task}/{frame}")
    return Split(
        FaceFiles(images, size), {"au": np.array(labels, dtype=np.float32).reshape(-1, len(AUS))}, keys
    )


@register_dataset("bp4d", tasks=("au",))
def load(root: Path, size: int, max_train: int | None = None, max_test: int | None = None) -> TaskData:
    train = _partition(root / "train", size, max_train)
    test = _partition(root / "devel", size, max_test)
    return TaskData("bp4d", train, test, None, {"au_names": [f"au{a:02d}" for a in AUS]})
