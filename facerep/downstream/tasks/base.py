"""The task interface and its registry: a task registers itself with `@register_task` in its own
module under facerep/downstream/tasks/, beside its defaults (head, loss, metrics, augmentation, chance
floor, distillation target), so adding a task is adding one file (docs/extending.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypeVar

import torch
from torch import Tensor, nn

from facerep.downstream.data import Split, TaskData
from facerep.downstream.heads import LinearHead

if TYPE_CHECKING:
    from facerep.downstream.config import FinetuneParams

T = TypeVar("T", bound="type[Task]")

#: task name -> task class, filled by `@register_task` as each task module is imported
TASKS: dict[str, type[Task]] = {}


def register_task(name: str) -> Callable[[T], T]:
    """Class decorator: record the class under `name` in TASKS (and as its `.name`)."""

    def deco(cls: T) -> T:
        if name in TASKS and TASKS[name] is not cls:
            raise ValueError(f"task {name!r} registered twice")
        cls.name = name
        TASKS[name] = cls
        return cls

    return deco


@dataclass
class HeadSpec:
    """What a head needs to be built: pooled feature size, pyramid channels, the data's facts."""

    feature_dim: int
    channels: list[int]
    data: TaskData
    train: Split


class Task:
    """Base class: a linear head, targets = the label array as a float tensor.

    Class attributes a task sets: `label` (the `Split.labels` key it reads), `primary` (the metric
    the search optimises and the report plots) and `higher_is_better`; `needs_maps` when its head
    reads the feature pyramid; `augment`, the transforms of Bulat et al. A.2 it trains with
    (`facerep.downstream.augment`); `distillable`, whether self-distillation applies (Bulat 3.5);
    `order`, its place in the default `finetune.tasks` (the order of Bulat et al.'s tables).
    `subset_groups` names the label whose values a few-shot subset keeps whole (identities for
    recognition: its 2% keeps a quarter of the people, each with all their faces).
    """

    name: ClassVar[str]
    label: ClassVar[str]
    primary: ClassVar[str]
    higher_is_better: ClassVar[bool] = True
    needs_maps: ClassVar[bool] = False
    augment: ClassVar[frozenset[str]] = frozenset()
    distillable: ClassVar[bool] = True
    order: ClassVar[int] = 100
    subset_groups: ClassVar[str | None] = None

    @classmethod
    def from_params(cls, f: FinetuneParams) -> Task:
        """The task with its constants from the stage's parameters (none for most tasks)."""
        return cls()

    @classmethod
    def own_data(cls, data: TaskData, seed: int) -> TaskData | None:
        """A split of `data` of the task's own, when the dataset's does not suit it; None: `data`."""
        return None

    def targets(self, split: Split) -> Tensor:
        return torch.tensor(split.labels[self.label], dtype=torch.float32)

    def make_head(self, spec: HeadSpec) -> nn.Module:
        return LinearHead(spec.feature_dim, self.out_dim(spec))

    def out_dim(self, spec: HeadSpec) -> int:
        return int(spec.train.labels[self.label].reshape(len(spec.train), -1).shape[1])

    def loss(self, out: Tensor, y: Tensor) -> Tensor:
        raise NotImplementedError

    def distill_loss(self, out: Tensor, teacher: Tensor) -> Tensor:
        """The task loss of a student's head outputs `out` against the teacher's raw head outputs
        (Bulat 3.5: L(f(x, theta_{t-1}), f(x, theta_t))), with the teacher's outputs in the form the
        loss takes: values stay values (the default: AU intensities, pose); a task whose loss takes
        labels of another form (class indices, binary labels) turns the teacher's logits into
        probabilities."""
        return self.loss(out, teacher)

    def infer(self, head: nn.Module, pooled: Tensor, maps: list[Tensor]) -> Tensor:
        return head(pooled, maps)

    def evaluate(self, pred: Tensor, split: Split, data: TaskData) -> dict[str, float]:
        raise NotImplementedError

    def constant(self, train: Split, data: TaskData) -> Tensor:
        """One prediction, in `evaluate`'s form, fitted on `train`'s labels alone (module chance)."""
        raise NotImplementedError
