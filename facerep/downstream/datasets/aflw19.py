"""AFLW-19, the AFLW-Full protocol (Zhu et al. 2016) as released with LAB (Wu et al. 2018):
`AFLWinfo_release.mat` with `nameList` (image paths under `flickr/`), `data` (one row per face: the
19 x then the 19 y pixel coordinates), `bbox` (x1, x2, y1, y2: the annotated face box) and `ra` (a
1-based permutation of the faces: its first 20,000 are the training set, the other 4,386 the
AFLW-Full test set). All 19 points count, visible or not (AFLW-Full; `mask_new` is not read). NME is
normalised by the face box diagonal (NME_diag, Bulat et al. Table 6), so `labels["box"]` is the
annotated box in crop coordinates; the crop is the 1.25x square around the points, as for 300W."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facerep.downstream.data import Split, TaskData
from facerep.downstream.datasets import register_dataset
from facerep.downstream.datasets.common import FaceFiles, points_in_box, require, square_box
from facerep.downstream.datasets.matfiles import mat_strings, read_mat

POINTS = 19
TRAIN_FACES = 20000


def _split(
    root: Path, names: list[str], points: np.ndarray, faces: np.ndarray, idx: np.ndarray, size: int
) -> Split:
    images, crops, landmarks, boxes = [], [], [], []
    for i in idx:
        crop = square_box(points[i])
        images.append(require(root / "flickr" / names[i], "AFLW image"))
        crops.append(crop)
        landmarks.append(points_in_box(points[i], crop))
        boxes.append(points_in_box(faces[i].reshape(2, 2), crop).reshape(-1))
    labels = {
        "landmarks": np.array(landmarks, dtype=np.float32).reshape(-1, POINTS, 2),
        "box": np.array(boxes, dtype=np.float32).reshape(-1, 4),
    }
    return Split(FaceFiles(images, size, np.array(crops).reshape(-1, 4)), labels, [names[i] for i in idx])


@register_dataset("aflw19", tasks=("landmarks",))
def load(root: Path, size: int, max_train: int | None = None, max_test: int | None = None) -> TaskData:
    doc = read_mat(require(root / "AFLWinfo_release.mat", "AFLW-19 annotation file"))
    names = [n.replace("\\", "/") for n in mat_strings(doc["nameList"])]
    points = doc["data"].astype(float).reshape(-1, 2, POINTS).transpose(0, 2, 1)
    x1, x2, y1, y2 = doc["bbox"].astype(float).T
    faces = np.stack([x1, y1, x2, y2], axis=1)
    order = np.ravel(doc["ra"]).astype(np.int64) - 1
    train = _split(root, names, points, faces, order[:TRAIN_FACES][:max_train], size)
    test = _split(root, names, points, faces, order[TRAIN_FACES:][:max_test], size)
    return TaskData("aflw19", train, test, None, {"nme_norm": "diag"})
