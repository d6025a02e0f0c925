"""The evaluation tasks: which labels, which head, which loss, which metrics (Bulat et al. sec. 5, D.1).

A task turns a training split into targets, builds its head, computes its loss on head outputs, turns
outputs into predictions (`infer`) and scores predictions on a split (`evaluate`). `primary` names the
metric the search optimises and the report plots; `higher_is_better` says which way is better.
`constant` is the task's best prediction that ignores the face, its chance floor (`downstream.chance`).

Each task is one module of this package that registers its class with `@register_task`
(`facerep.downstream.tasks.base`); every module is imported on first use, so nothing else lists them.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

from facerep.downstream.tasks.base import TASKS, HeadSpec, Task, register_task

if TYPE_CHECKING:
    from facerep.downstream.config import FinetuneParams

__all__ = ["HeadSpec", "Task", "load_tasks", "make_task", "register_task", "task_class", "task_names"]


def load_tasks() -> dict[str, type[Task]]:
    """Import every module of this package (running their decorators) and return TASKS."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return TASKS


def task_names() -> list[str]:
    """Every registered task, in the default order of `finetune.tasks` (`Task.order`, then name)."""
    return sorted(load_tasks(), key=lambda name: (TASKS[name].order, name))


def task_class(name: str) -> type[Task]:
    """The class of the task called `name` (a KeyError naming the known ones when there is none)."""
    tasks = load_tasks()
    if name not in tasks:
        raise KeyError(f"unknown task {name!r}; tasks: {', '.join(task_names())}")
    return tasks[name]


def make_task(name: str, params: FinetuneParams | None = None) -> Task:
    """The task called `name` (finetune.tasks), with its constants from `params` when given (the
    class's own defaults otherwise)."""
    cls = task_class(name)
    return cls() if params is None else cls.from_params(params)
