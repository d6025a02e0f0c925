"""COFW (Burgos-Artizzu et al. 2013), 29 points: `COFW_train_color.mat` (`IsTr`: the 1,345 training
images, `phisTr`: one row per face, 29 x then 29 y pixel coordinates then 29 occlusion flags) and
`COFW_test_color.mat` (`IsT`, `phisT`: the 507 test faces). The images live inside the files, read
whole, so COFW's crops are the one set of faces kept in memory (`Arrays`: 1,852 faces in all); each
face is cropped to the 1.25x square around its points, as for 300W. NME inter-ocular (Bulat et al.
Table 6). The colour files are published as MATLAB v7.3 (HDF5), read by `matfiles.read_mat`.

Point i (0-based) is column i of the x block and of the y block: the order of the RCPR code that
ships COFW (`shapeGt.m`), kept as is. 8 and 9 are the left/right eye corners between which HRNet's
COFW evaluation (`lib/core/evaluation.py`: `pts_gt[8] - pts_gt[9]`, 0-based) measures the
inter-ocular distance, and 16 and 17 the pupils (RCPR's `distPup`: MATLAB columns 17 and 18);
mmpose's COFW keypoint table pairs 8/9 and 16/17 as left/right mirrors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from facerep.downstream.data import Split, TaskData
from facerep.downstream.datasets import register_dataset
from facerep.downstream.datasets.common import Arrays, points_in_box, require, square_box
from facerep.downstream.datasets.matfiles import read_mat

POINTS = 29


def _crop(image: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """The RGB (size, size, 3) crop `box` of an in-file image (grey images are repeated to RGB)."""
    img = Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
    return np.asarray(img.crop(tuple(round(v) for v in box)).resize((size, size), Image.BILINEAR))


def _split(path: Path, images_key: str, points_key: str, size: int, cap: int | None) -> Split:
    doc = read_mat(require(path, "COFW annotation file"))
    images, points = np.ravel(doc[images_key])[:cap], doc[points_key][:cap]
    crops, landmarks, boxes = [], [], []
    for image, row in zip(images, points, strict=True):
        pts = np.stack([row[:POINTS], row[POINTS : 2 * POINTS]], axis=1).astype(float)
        box = square_box(pts)
        crops.append(_crop(image, box, size))
        landmarks.append(points_in_box(pts, box))
        boxes.append(points_in_box(np.stack([pts.min(0), pts.max(0)]), box).reshape(-1))
    labels = {
        "landmarks": np.array(landmarks, dtype=np.float32).reshape(-1, POINTS, 2),
        "box": np.array(boxes, dtype=np.float32).reshape(-1, 4),
    }
    return Split(
        Arrays(np.array(crops, dtype=np.uint8), size), labels, [f"{path.stem}_{i}" for i in range(len(crops))]
    )


@register_dataset("cofw", tasks=("landmarks",))
def load(root: Path, size: int, max_train: int | None = None, max_test: int | None = None) -> TaskData:
    train = _split(root / "COFW_train_color.mat", "IsTr", "phisTr", size, max_train)
    test = _split(root / "COFW_test_color.mat", "IsT", "phisT", size, max_test)
    return TaskData("cofw", train, test, None, {"nme_norm": "inter_ocular"})
