"""LFWA attributes (Liu et al. 2015, released with CelebA): `lfw_att_40.mat` (`name`: image paths
relative to `lfw/`, `label`: one row of 40 binary labels per image, `AttrName`: the 40 CelebA
attribute names) and `indices_train_test.mat` (`indices_img_train`, `indices_img_test`: 1-based rows
of the published train/test halves). Images `lfw/<name>/<name>_<nnnn>.jpg` are read whole (the LFW
250x250 frames keep the face centred). Both .mat files are published as MATLAB v7.3 (HDF5), read by
`matfiles.read_mat`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facerep.downstream.data import Split, TaskData
from facerep.downstream.datasets import register_dataset
from facerep.downstream.datasets.common import FaceFiles, require
from facerep.downstream.datasets.matfiles import mat_strings, read_mat


@register_dataset("lfwa", tasks=("attributes",))
def load(root: Path, size: int, max_train: int | None = None, max_test: int | None = None) -> TaskData:
    attrs = read_mat(require(root / "lfw_att_40.mat", "LFWA attribute file"))
    indices = read_mat(require(root / "indices_train_test.mat", "LFWA train/test indices"))
    files = [n.replace("\\", "/") for n in mat_strings(attrs["name"])]
    names = [n.strip() for n in mat_strings(attrs["AttrName"])]
    labels = np.asarray(attrs["label"]).reshape(len(files), len(names)) > 0
    parts = {}
    for split, cap in (("train", max_train), ("test", max_test)):
        rows = (np.ravel(indices[f"indices_img_{split}"]).astype(np.int64) - 1)[:cap]
        images = FaceFiles([require(root / "lfw" / files[i], "LFWA image") for i in rows], size)
        parts[split] = Split(
            images, {"attributes": labels[rows].astype(np.float32)}, [files[i] for i in rows]
        )
    return TaskData("lfwa", parts["train"], parts["test"], None, {"attribute_names": names})
