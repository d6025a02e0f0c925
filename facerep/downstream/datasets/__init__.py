"""Dataset loaders: SynthFaces (every task) and the published layouts (docs/finetune.md).

Each loader module has `load(root, size, max_train, max_test) -> TaskData`; `TASKS` says which tasks
its labels serve. `load_dataset` picks the module by `finetune.dataset`.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from facerep.downstream.data import TaskData
from facerep.errors import InputError

#: dataset name -> tasks its labels serve
DATASETS: dict[str, tuple[str, ...]] = {
    "synthfaces": ("expression", "attributes", "landmarks", "au", "recognition", "pose", "valence_arousal"),
    "rafdb": ("expression",),
    "affectnet": ("expression", "valence_arousal"),
    "fer2013": ("expression",),
    "celeba": ("attributes",),
    "w300": ("landmarks",),
    "wflw": ("landmarks",),
    "disfa": ("au",),
    "lfw": ("recognition",),
    "w300lp_aflw2000": ("pose",),
    "lfwa": ("attributes",),
    "aflw19": ("landmarks",),
    "cofw": ("landmarks",),
    "bp4d": ("au",),
    "ferplus": ("expression",),
    "sfew": ("expression",),
    "ijb": ("recognition",),
}


def load_dataset(name: str, root: Path, size: int, max_train: int | None, max_test: int | None) -> TaskData:
    """Load `name` from `root` (its published layout, or the SynthFaces folder) at `size` px."""
    if name not in DATASETS:
        raise InputError(f"finetune.dataset: unknown dataset {name!r}; datasets: {', '.join(DATASETS)}")
    module = importlib.import_module(f"facerep.downstream.datasets.{name}")
    return module.load(Path(root), size, max_train, max_test)
