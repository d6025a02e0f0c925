"""Streaming data: a split holds where its faces are, not their pixels; a batch decodes them from disk
through DataLoader workers, and holds the same samples whatever the number of workers."""

from __future__ import annotations

import os
import pickle
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from facerep.downstream.augment import make_augmenter
from facerep.downstream.config import AugmentParams
from facerep.downstream.data import ImageSource
from facerep.downstream.datasets import load_dataset
from facerep.downstream.device import Runtime
from facerep.downstream.loader import image_batches, seeded_draws, train_batches
from facerep.downstream.tasks import make_task
from facerep.errors import InputError


def test_a_split_holds_no_pixels(synth_root):
    data = load_dataset("synthfaces", synth_root, 224, None, None)
    n, held = len(data.train), len(pickle.dumps(data.train.images))
    # a face at 224 px is 150,528 bytes as uint8; what the split holds is its file name
    assert n > 200 and held < 200 * n
    assert data.train.images.shape == (n, 3, 224, 224) and data.train.images[3].shape == (3, 224, 224)
    subset = data.train.take(np.arange(10, 20))
    assert len(pickle.dumps(subset.images)) < held + 1000  # a subset adds its indices, not faces
    assert torch.equal(subset.images[0], data.train.images[10])


def _rafdb(root: Path, values: dict[str, int]) -> None:
    (root / "EmoLabel").mkdir(parents=True)
    lines = [f"{name}.jpg {i % 7 + 1}" for i, name in enumerate(values)]
    (root / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    for name, value in values.items():
        _png(root / "Image" / "aligned" / f"{name}_aligned.jpg", value)


def _png(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 40), (value, value, value)).save(path, format="PNG")  # lossless, any name


def test_faces_are_decoded_when_a_batch_reads_them(tmp_path):
    _rafdb(tmp_path, {"train_00001": 10, "train_00002": 20, "test_0001": 30})
    data = load_dataset("rafdb", tmp_path, 16, None, None)
    _png(tmp_path / "Image" / "aligned" / "train_00002_aligned.jpg", 200)  # changed after loading
    batch = next(image_batches(data.train.images, 8, Runtime()))
    assert batch[:, 0, 8, 8].tolist() == [10, 200]
    (tmp_path / "Image" / "aligned" / "train_00001_aligned.jpg").unlink()
    with pytest.raises(InputError, match=r"train_00001_aligned\.jpg: unreadable image"):
        data.train.images[0]


def test_fer2013_rows_are_read_from_their_offsets(tmp_path):
    rows = [(3, "Training", 11), (0, "PublicTest", 99), (5, "PrivateTest", 55), (6, "Training", 66)]
    pixels = [" ".join([str(v)] * 48 * 48) for _, _, v in rows]
    df = pd.DataFrame({"emotion": [r[0] for r in rows], "pixels": pixels, "Usage": [r[1] for r in rows]})
    df.to_csv(tmp_path / "fer2013.csv", index=False)
    data = load_dataset("fer2013", tmp_path, 24, None, None)
    assert [int(data.train.images[i][0, 5, 5]) for i in range(2)] == [11, 66]
    assert int(data.test.images[0][2, 0, 0]) == 55


@pytest.mark.parametrize("task_name", ["landmarks", "pose"])
def test_workers_yield_the_same_samples_as_the_main_process(synth_root, task_name):
    data = load_dataset("synthfaces", synth_root, 32, 64, 16)
    task = make_task(task_name)
    targets = task.targets(data.train)
    augment = make_augmenter(AugmentParams(), task, 32, data.meta, targets)
    draws = seeded_draws(len(data.train), 8, 3, seed=5)

    def batches(workers: int, aug: object) -> list[tuple[torch.Tensor, torch.Tensor]]:
        run = Runtime(num_workers=workers)
        return list(train_batches(data.train.images, targets, draws, 5, run, aug))  # type: ignore[arg-type]

    inline, workers = batches(0, augment), batches(2, augment)
    assert len(inline) == 3
    for (x0, y0), (x2, y2) in zip(inline, workers, strict=True):
        assert x0.dtype == torch.uint8 and torch.equal(x0, x2) and torch.equal(y0, y2)
    plain = batches(0, None)
    assert torch.equal(plain[0][0], torch.stack([data.train.images[int(i)] for i in draws[0]]))
    assert not torch.equal(plain[0][0], inline[0][0])  # and the augmentation did something
    every = torch.cat(list(image_batches(data.test.images, 5, Runtime(num_workers=2))))
    assert torch.equal(every, torch.stack([data.test.images[i] for i in range(len(data.test))]))


class Niceness(ImageSource):
    """Faces whose pixels are the niceness of the process that decodes them."""

    size = 2

    def __len__(self) -> int:
        return 4

    def read(self, i: int) -> np.ndarray:
        return np.full((2, 2, 3), os.nice(0), dtype=np.uint8)


def test_workers_decode_at_the_lowest_priority():
    inline = torch.cat(list(image_batches(Niceness(), 2, Runtime(num_workers=0))))
    workers = torch.cat(list(image_batches(Niceness(), 2, Runtime(num_workers=2))))
    assert (workers == 19).all() and (inline == os.nice(0)).all()


def test_workers_end_cleanly_under_a_parent_only_thread_exit_hook(monkeypatch):
    """Prefect registers a thread-exit hook per background service (a log or event queue) that fails
    in a process without the service's thread, as a forked worker is: once a flow has run, every
    worker would exit with code 1 and the DataLoader raise."""

    def parent_only() -> None:
        raise AssertionError("this service's thread is not in this process")

    monkeypatch.setattr(threading, "_threading_atexits", [*threading._threading_atexits, parent_only])
    for _ in range(3):
        assert len(list(image_batches(Niceness(), 1, Runtime(num_workers=2)))) == 4
