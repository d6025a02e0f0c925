"""A dataset loader and a downstream task are one file each: written into a package outside facerep
(as a user's own would be), imported, and the finetune stage reads, trains and scores them."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from downstream_fixtures import small_params

from facerep.downstream.datasets import load_dataset, loaders
from facerep.downstream.tasks import load_tasks, make_task
from facerep.stages import run_stage

LOADER = '''
"""Toy faces: random pixels, an expression class and the mean brightness as labels."""

from pathlib import Path

import numpy as np

from facerep.downstream.data import Split, TaskData
from facerep.downstream.datasets import register_dataset
from facerep.downstream.datasets.common import Arrays


@register_dataset("toyfaces", tasks=("expression", "brightness"))
def load(root: Path, size: int, max_train: int | None = None, max_test: int | None = None) -> TaskData:
    rng = np.random.default_rng(0)

    def split(name: str, n: int) -> Split:
        images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
        labels = {
            "expression": rng.integers(0, 3, n),
            "brightness": images.mean(axis=(1, 2, 3))[:, None].astype(np.float32) / 255,
        }
        return Split(Arrays(images, size), labels, [f"{name}{i}" for i in range(n)])

    train, test = split("train", max_train or 40), split("test", max_test or 16)
    return TaskData("toyfaces", train, test, None, {"classes": 3})
'''

TASK = '''
"""Mean brightness regressed by a linear head: the smallest task there is."""

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from facerep.downstream.data import Split, TaskData
from facerep.downstream.tasks import Task, register_task


@register_task("brightness")
class Brightness(Task):
    label, primary = "brightness", "mae"
    higher_is_better = False

    def loss(self, out: Tensor, y: Tensor) -> Tensor:
        return F.mse_loss(out, y)

    def evaluate(self, pred: Tensor, split: Split, data: TaskData) -> dict[str, float]:
        return {"mae": float(np.abs(pred.numpy() - split.labels[self.label]).mean())}

    def constant(self, train: Split, data: TaskData) -> Tensor:
        return torch.as_tensor(train.labels[self.label].mean(axis=0))
'''


@pytest.fixture
def toy_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The loader and the task as two files of a package on sys.path, imported; unregistered after."""
    package = tmp_path / "toy_plugins"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "toyfaces.py").write_text(textwrap.dedent(LOADER))
    (package / "brightness.py").write_text(textwrap.dedent(TASK))
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("toy_plugins.toyfaces")
    importlib.import_module("toy_plugins.brightness")
    yield
    loaders().pop("toyfaces")
    load_tasks().pop("brightness")
    for name in [m for m in sys.modules if m.startswith("toy_plugins")]:
        del sys.modules[name]


def test_a_loader_file_and_a_task_file_run_through_the_finetune_stage(tmp_path, toy_plugins):
    data = load_dataset("toyfaces", tmp_path, 16, 24, 8)
    assert (len(data.train), len(data.test), data.train.images[0].shape) == (24, 8, (3, 16, 16))
    assert loaders()["toyfaces"].tasks == ("expression", "brightness")
    assert make_task("brightness").name == "brightness"

    params = small_params(
        tmp_path,
        tmp_path / "no_synth",
        "tracking.enabled=false",
        "finetune.dataset=toyfaces",
        f"finetune.datasets_root={tmp_path}",
        "finetune.tasks=[brightness, expression]",
        "finetune.inits=[scratch]",
        "finetune.regimes=[1.0]",
        "finetune.seeds=1",
        "finetune.image_size=32",
        "finetune.search.lr=[0.01]",
    )
    result = run_stage("finetune", params)
    assert result.metrics["finetune.points"] == 4  # two tasks, scratch and the chance floor
    for task, primary in (("brightness", "mae"), ("expression", "accuracy")):
        for init in ("scratch", "chance"):
            path = tmp_path / "results" / "finetune" / task / "toyfaces" / init / "1" / "metrics.json"
            doc = json.loads(path.read_text())
            assert doc["primary"] == primary and doc["task"] == task
            assert doc["mean"][primary] == pytest.approx(result.metrics[f"{task}.{init}.1.{primary}"])
