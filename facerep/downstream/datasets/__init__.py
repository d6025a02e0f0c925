"""Dataset loaders: SynthFaces (every task) and the published layouts (docs/finetune.md).

A loader is a function `load(root, size, max_train, max_test) -> TaskData` in a module of this
package, registered by `@register_dataset(name, tasks=...)` with the tasks its labels serve. Every
module here is imported on first use (`loaders`), so adding a dataset is adding one file; nothing
else lists them. `load_dataset` picks the loader by `finetune.dataset`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from facerep.downstream.data import TaskData
from facerep.errors import InputError

#: `load(root, size, max_train, max_test)`: both splits of the dataset in `root` at `size` px
LoadFn = Callable[[Path, int, int | None, int | None], TaskData]


@dataclass(frozen=True)
class Loader:
    """A registered dataset: its name, the tasks its labels serve, and its load function."""

    name: str
    tasks: tuple[str, ...]
    load: LoadFn


_LOADERS: dict[str, Loader] = {}


def register_dataset(name: str, tasks: Iterable[str]) -> Callable[[LoadFn], LoadFn]:
    """Function decorator: record `load` as the loader of dataset `name` serving `tasks`."""

    def deco(load: LoadFn) -> LoadFn:
        known = _LOADERS.get(name)
        if known is not None and known.load is not load:
            raise ValueError(f"dataset {name!r} registered twice")
        _LOADERS[name] = Loader(name, tuple(tasks), load)
        return load

    return deco


def loaders() -> dict[str, Loader]:
    """Import every module of this package (running their decorators) and return the registry."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return _LOADERS


def loader(name: str) -> Loader:
    """The loader of `name` (`finetune.dataset`); an InputError naming the known ones when none."""
    found = loaders()
    if name not in found:
        raise InputError(f"finetune.dataset: unknown dataset {name!r}; datasets: {', '.join(found)}")
    return found[name]


def load_dataset(name: str, root: Path, size: int, max_train: int | None, max_test: int | None) -> TaskData:
    """Load `name` from `root` (its published layout, or the SynthFaces folder) at `size` px."""
    return loader(name).load(Path(root), size, max_train, max_test)


def __getattr__(name: str) -> dict[str, Loader]:
    """`DATASETS`, the registry once every module is imported: facerep.params lists its names."""
    if name == "DATASETS":
        return loaders()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
