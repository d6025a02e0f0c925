"""Head pose, the 300W-LP -> AFLW2000 protocol: `300W_LP/<subset>/<name>.jpg` with `<name>.mat`
(train) and `AFLW2000/<name>.jpg` with `<name>.mat` (test). Each .mat holds `Pose_Para` (pitch, yaw,
roll in radians first) and `pt2d` (2 x 68 or 2 x 21 points used to crop the face). Test faces with
an angle beyond 99 degrees are dropped, as is customary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.io import loadmat

from facerep.downstream.data import Split, TaskData
from facerep.downstream.datasets import register_dataset
from facerep.downstream.datasets.common import FaceFiles, require, square_box


def _split(folder: Path, size: int, cap: int | None, limit: float | None) -> Split:
    images, crops, poses, keys = [], [], [], []
    for mat in sorted(require(folder, "pose folder").rglob("*.mat")):
        if cap is not None and len(keys) >= cap:
            break
        doc = loadmat(mat)
        pitch, yaw, roll = np.degrees(doc["Pose_Para"][0][:3])
        if limit is not None and max(abs(pitch), abs(yaw), abs(roll)) > limit:
            continue
        pts = doc["pt2d"].T
        pts = pts[(pts > 0).all(axis=1)]
        images.append(require(mat.with_suffix(".jpg"), "pose image"))
        crops.append(square_box(pts, 1.3))
        poses.append((yaw, pitch, roll))
        keys.append(str(mat.relative_to(folder).with_suffix("")))
    return Split(
        FaceFiles(images, size, np.array(crops).reshape(-1, 4)),
        {"pose": np.array(poses, dtype=np.float32).reshape(-1, 3)},
        keys,
    )


@register_dataset("w300lp_aflw2000", tasks=("pose",))
def load(root: Path, size: int, max_train: int | None = None, max_test: int | None = None) -> TaskData:
    train = _split(root / "300W_LP", size, max_train, None)
    test = _split(root / "AFLW2000", size, max_test, 99.0)
    return TaskData("w300lp_aflw2000", train, test, None, {})
