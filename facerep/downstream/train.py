"""Fitting a task head, with the backbone fine-tuned or frozen (Bulat et al. 3.3).

`finetune` trains backbone and head together, the backbone at `lr * backbone_lr_mult`. `linear` (a
linear probe, or fine-tuning with a multiplier of 0) freezes the backbone with its BatchNorm
statistics (eval mode), so its features are computed once (`encode`) and only the head trains.
Both use AdamW with a cosine schedule over `steps` steps of `batch_size` items drawn with a seeded
generator. No augmentation: flips would change the meaning of yaw, roll and landmark order, and the
synthetic faces already vary in pose, light and camera.
"""

from __future__ import annotations

import copy
import math
import threading
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from facerep.downstream.data import Split, TaskData, normalise
from facerep.downstream.heads import extract, pyramid_channels
from facerep.downstream.tasks import HeadSpec, Task
from facerep.ssl.backbones import Backbone

#: Held while a seeded network is built from torch's global generator: the Prefect flow evaluates
#: finetune points in concurrent threads, and a seed set by one must not be consumed by another.
SEEDED_BUILD = threading.Lock()


@dataclass(frozen=True)
class HParams:
    """One point of the search space (Bulat 3.3: learning rate, schedule length, backbone lr)."""

    lr: float
    steps: int
    backbone_lr_mult: float


@dataclass
class Features:
    """Frozen-backbone features of a split: pooled (N, D) and optional maps (float16 to save memory)."""

    pooled: Tensor
    maps: list[Tensor]

    def take(self, idx: Tensor) -> tuple[Tensor, list[Tensor]]:
        return self.pooled[idx], [m[idx].float() for m in self.maps]

    def subset(self, idx: np.ndarray) -> Features:
        t = torch.as_tensor(np.asarray(idx), dtype=torch.long)
        return Features(self.pooled[t], [m[t] for m in self.maps])


@torch.no_grad()
def encode(backbone: Backbone, images: Tensor, maps: bool, batch_size: int = 128) -> Features:
    """Features of every image under the frozen backbone (eval mode: BatchNorm statistics frozen)."""
    backbone.eval()
    pooled, pyramid = [], []
    for start in range(0, len(images), batch_size):
        p, m = extract(backbone, normalise(images[start : start + batch_size]), maps)
        pooled.append(p)
        pyramid.append([x.half() for x in m])
    levels = [torch.cat([b[i] for b in pyramid]) for i in range(len(pyramid[0]))] if maps and pyramid else []
    return Features(torch.cat(pooled), levels)


class Fitted(nn.Module):
    """A trained head with the backbone it reads (frozen in linear mode)."""

    def __init__(self, backbone: Backbone, head: nn.Module, task: Task, linear: bool) -> None:
        super().__init__()
        self.backbone, self.head, self.task, self.linear = backbone, head, task, linear

    @torch.no_grad()
    def predict(self, split: Split, features: Features | None = None, batch_size: int = 128) -> Tensor:
        """The task's predictions (`Task.infer`) on every item of `split`."""
        self.eval()
        outs = []
        for start in range(0, len(split), batch_size):
            idx = torch.arange(start, min(start + batch_size, len(split)))
            if features is not None:
                pooled, maps = features.take(idx)
            else:
                pooled, maps = extract(self.backbone, normalise(split.images[idx]), self.task.needs_maps)
            outs.append(self.task.infer(self.head, pooled, maps))
        return torch.cat(outs)


def cosine_schedule(optimizer: torch.optim.Optimizer, steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Cosine decay of every group's learning rate to 0 over `steps` steps (teacher and student alike)."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))
    )


def build_head(
    task: Task,
    net: Backbone,
    data: TaskData,
    train: Split,
    hp: HParams,
    *,
    train_backbone: bool,
    seed: int,
    weight_decay: float,
) -> tuple[nn.Module, torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """`task`'s head on `net` (drawn with `seed`), and AdamW with its cosine schedule over the head
    and, when `train_backbone`, the backbone at `lr * backbone_lr_mult`; otherwise the backbone stays
    out of the optimiser. A frozen `net` is left as it is (not `requires_grad_(False)`): it may be the
    grid's shared cached backbone, whose later fine-tuning points copy it and must still train it.
    Frozen backbones are read through `encode`'s cached features, under no_grad. Shared by `fit` and
    the self-distilled students (facerep.downstream.distill)."""
    channels = pyramid_channels(net, int(train.images.shape[-1])) if task.needs_maps else []
    with SEEDED_BUILD:
        torch.manual_seed(seed)
        head = task.make_head(HeadSpec(net.feature_dim, channels, data, train))
    groups: list[dict[str, object]] = [{"params": head.parameters(), "lr": hp.lr}]
    if train_backbone:
        groups.append({"params": net.parameters(), "lr": hp.lr * hp.backbone_lr_mult})
    optimizer = torch.optim.AdamW(groups, weight_decay=weight_decay)  # type: ignore[arg-type]
    return head, optimizer, cosine_schedule(optimizer, hp.steps)


def fit(
    task: Task,
    backbone: Backbone,
    data: TaskData,
    train: Split,
    hp: HParams,
    *,
    linear: bool,
    seed: int,
    batch_size: int,
    weight_decay: float,
    features: Features | None = None,
) -> Fitted:
    """Train `task`'s head (and, unless `linear`, a copy of `backbone`) on `train` for `hp.steps` steps.

    In linear mode `features` are `train`'s frozen features (computed here when not given).
    """
    net = backbone if linear else copy.deepcopy(backbone).to(memory_format=torch.channels_last)
    train_backbone = not linear and hp.backbone_lr_mult > 0
    head, optimizer, scheduler = build_head(
        task, net, data, train, hp, train_backbone=train_backbone, seed=seed, weight_decay=weight_decay
    )
    model = Fitted(net, head, task, linear)
    if linear and features is None:
        features = encode(net, train.images, task.needs_maps)
    y_all = task.targets(train)
    gen = torch.Generator().manual_seed(seed)
    head.train()
    net.train(not linear and hp.backbone_lr_mult > 0)  # a frozen, possibly shared, backbone stays in eval
    for _ in range(hp.steps):
        idx = torch.randint(len(train), (min(batch_size, len(train)),), generator=gen)
        if features is not None:
            pooled, maps = features.take(idx)
        else:
            pooled, maps = extract(net, normalise(train.images[idx]), task.needs_maps)
        loss = task.loss(head(pooled, maps), y_all[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
    return model


def evaluate(
    model: Fitted, split: Split, data: TaskData, features: Features | None = None
) -> dict[str, float]:
    """The task's metrics of `model` on `split`."""
    return model.task.evaluate(model.predict(split, features), split, data)


def primary_score(task: Task, metrics: dict[str, float]) -> float:
    """The search objective: the primary metric, signed so that larger is better; NaN ranks last."""
    v = metrics.get(task.primary, float("nan"))
    if v is None or not np.isfinite(v):
        return -math.inf
    return v if task.higher_is_better else -v
