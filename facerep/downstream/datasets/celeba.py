"""CelebA attributes: `list_attr_celeba.txt` (a count line, a line of 40 attribute names, then
"000001.jpg -1 1 ..."), `list_eval_partition.txt` ("000001.jpg 0": 0 train, 1 val, 2 test) and the
aligned crops `img_align_celeba/`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facerep.downstream.data import Split, TaskData
from facerep.downstream.datasets import register_dataset
from facerep.downstream.datasets.common import FaceFiles, require


@register_dataset("celeba", tasks=("attributes",))
def load(root: Path, size: int, max_train: int | None = None, max_test: int | None = None) -> TaskData:
    lines = require(root / "list_attr_celeba.txt", "CelebA attribute list").read_text().splitlines()
    names = lines[1].split()
    attrs = {
        row.split()[0]: np.array(row.split()[1:], dtype=np.int64) > 0 for row in lines[2:] if row.strip()
    }
    partition = require(root / "list_eval_partition.txt", "CelebA partition list").read_text().split()
    split_of = dict(zip(partition[0::2], partition[1::2], strict=True))
    parts = {}
    for split, code, cap in (("train", "0", max_train), ("test", "2", max_test)):
        files = [f for f in attrs if split_of.get(f) == code][:cap]
        images = FaceFiles([require(root / "img_align_celeba" / f, "CelebA image") for f in files], size)
        labels = {
            "attributes": np.array([attrs[f] for f in files], dtype=np.float32).reshape(
                len(files), len(names)
            )
        }
        parts[split] = Split(images, labels, files)
    return TaskData("celeba", parts["train"], parts["test"], None, {"attribute_names": names})
