"""COFW (Burgos-Artizzu et al. 2013), 29 points: `COFW_train_color.mat` (`IsTr`: the 1,345 training
images, `phisTr`: one row per face, 29 x then 29 y pixel coordinates then 29 occlusion flags) and
`COFW_test_color.mat` (`IsT`, `phisT`: the 507 test faces). The images live inside the files; each
face is cropped to the 1.25x square around its points, as for 300W. NME inter-ocular (Bulat et al.
Table 6). The colour files are published as MATLAB v7.3; see `read_mat`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from scipy.io import loadmat

from facerep.downstream.data import Split, TaskData
from facerep.downstream.datasets.common import points_in_box, require, square_box, stack
from facerep.errors import InputError

POINTS = 29


def read_mat(path: Path) -> dict[str, np.ndarray]:
    """The variables of a MATLAB file. scipy reads formats up to v7; v7.3 files are HDF5 and would need
    h5py, which facerep does not depend on, so they are refused with the way to convert them."""
    try:
        return loadmat(path)
    except NotImplementedError as exc:
        raise InputError(
            f"{path}: MATLAB v7.3 (HDF5) file; re-save it as v7 (MATLAB or Octave: load it, then save -v7)"
        ) from exc
    except (ValueError, OSError) as exc:
        raise InputError(f"{path}: unreadable MATLAB file ({exc})") from exc


def mat_strings(cells: np.ndarray) -> list[str]:
    """A MATLAB cell array of strings (scipy: an object array of 1-element string arrays) as a list."""
    return [str(np.asarray(c).squeeze()) for c in np.ravel(cells)]


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
    return Split(stack(crops), labels, [f"{path.stem}_{i}" for i in range(len(crops))])


def load(root: Path, size: int, max_train: int | None = None, max_test: int | None = None) -> TaskData:
    train = _split(root / "COFW_train_color.mat", "IsTr", "phisTr", size, max_train)
    test = _split(root / "COFW_test_color.mat", "IsT", "phisT", size, max_test)
    return TaskData("cofw", train, test, None, {"nme_norm": "inter_ocular"})
