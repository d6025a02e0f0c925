"""Face recognition with LFW verification: training identity folders `train/<identity>/*.jpg`
(a CASIA-WebFace / VGGFace2-style folder of aligned faces) and the LFW test protocol: `pairs.txt`
(a header line, then "name n1 n2" for a same pair, "name1 n1 name2 n2" for a different pair) over
`lfw/<name>/<name>_<nnnn>.jpg`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facerep.downstream.data import Split, TaskData
from facerep.downstream.datasets import register_dataset
from facerep.downstream.datasets.common import FaceFiles, require


def identity_folders(folder: Path, size: int, cap: int | None) -> Split:
    """A training split from `folder/<identity>/*.jpg` (identities numbered in sorted folder order, the
    first `cap` faces); public because every recognition protocol without training identities of its
    own (LFW, IJB) trains on such a folder tree."""
    people = sorted(p for p in require(folder, "training identity folders").iterdir() if p.is_dir())
    items = [(f, i) for i, person in enumerate(people) for f in sorted(person.glob("*.jpg"))][:cap]
    images = FaceFiles([f for f, _ in items], size)
    labels = {"identity": np.array([i for _, i in items], dtype=np.int64)}
    return Split(images, labels, [f"{f.parent.name}/{f.name}" for f, _ in items])


@register_dataset("lfw", tasks=("recognition",))
def load(root: Path, size: int, max_train: int | None = None, max_test: int | None = None) -> TaskData:
    train = identity_folders(root / "train", size, max_train)
    lines = require(root / "pairs.txt", "LFW pairs.txt").read_text().splitlines()[1:]
    index: dict[str, int] = {}
    pairs = []
    for line in lines[:max_test]:
        f = line.split()
        a, b = (
            ((f[0], int(f[1])), (f[0], int(f[2]))) if len(f) == 3 else ((f[0], int(f[1])), (f[2], int(f[3])))
        )
        keys = [f"{name}/{name}_{n:04d}.jpg" for name, n in (a, b)]
        for key in keys:
            index.setdefault(key, len(index))
        pairs.append((index[keys[0]], index[keys[1]], int(len(f) == 3)))
    keys = list(index)
    images = FaceFiles([require(root / "lfw" / k, "LFW image") for k in keys], size)
    identity = {name: i for i, name in enumerate(sorted({k.split("/")[0] for k in keys}))}
    test = Split(images, {"identity": np.array([identity[k.split("/")[0]] for k in keys])}, keys)
    return TaskData("lfw", train, test, np.array(pairs, dtype=np.int64).reshape(-1, 3), {})
