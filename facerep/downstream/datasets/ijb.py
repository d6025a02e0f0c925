"""IJB-B / IJB-C 1:1 template verification, the `IJB_release` layout of insightface's evaluation:
`loose_crop/<file>.jpg` (faces, read whole), `meta/<p>_face_tid_mid.txt` ("file template media" per
face) and `meta/<p>_template_pair_label.txt` ("template1 template2 same" per pair), with `<p>` `ijbb`
(IJB-B, read when present) or `ijbc` (IJB-C). A template's embedding is the mean of its faces'
normalised embeddings (`meta["templates"]` gives each test face's template, `pairs` compare template
ids; tasks.Recognition pools them). The protocol has no training split and the verification
templates carry no subject ids, so training follows Bulat et al. 5.1 (fine-tuned on VGGFace2, tested
on IJB): identity folders `train/<identity>/*.jpg`, as for LFW. `max_test` keeps that many pairs
spread evenly over the pair file (it lists pairs grouped by template), then the faces they need."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from facerep.downstream.data import Split, TaskData
from facerep.downstream.datasets import register_dataset
from facerep.downstream.datasets.common import FaceFiles, require
from facerep.downstream.datasets.lfw import identity_folders
from facerep.errors import InputError


def _protocol(meta: Path) -> str:
    """`ijbb` where its face list is present, else `ijbc`; a missing one is reported as IJB-B's."""
    return (
        "ijbc"
        if (meta / "ijbc_face_tid_mid.txt").is_file() and not (meta / "ijbb_face_tid_mid.txt").is_file()
        else "ijbb"
    )


@register_dataset("ijb", tasks=("recognition",))
def load(root: Path, size: int, max_train: int | None = None, max_test: int | None = None) -> TaskData:
    p = _protocol(root / "meta")
    faces = pd.read_csv(
        require(root / "meta" / f"{p}_face_tid_mid.txt", "IJB face/template list"),
        sep=r"\s+",
        header=None,
        names=["file", "template", "media"],
        dtype={"file": str, "template": np.int64, "media": np.int64},
    )
    pairs_file = require(root / "meta" / f"{p}_template_pair_label.txt", "IJB template pairs")
    # IJB-C lists 15.7M pairs: pandas' C parser reads them as integers without a Python object each
    pairs = pd.read_csv(pairs_file, sep=r"\s+", header=None, dtype=np.int64).to_numpy().reshape(-1, 3)
    if max_test is not None and max_test < len(pairs):
        pairs = pairs[np.unique(np.linspace(0, len(pairs) - 1, max_test).round().astype(np.int64))]
    needed = np.unique(pairs[:, :2])
    faces = faces[faces["template"].isin(needed)]
    files, templates = faces["file"].tolist(), faces["template"].to_numpy()
    if len(missing := np.setdiff1d(needed, templates)):
        raise InputError(
            f"{root / 'meta' / f'{p}_face_tid_mid.txt'}: no face of pair templates {missing[:5].tolist()}"
        )
    images = FaceFiles([require(root / "loose_crop" / f, "IJB face image") for f in files], size)
    test = Split(images, {}, files)
    train = identity_folders(root / "train", size, max_train)
    return TaskData("ijb", train, test, pairs, {"templates": templates, "protocol": p})
