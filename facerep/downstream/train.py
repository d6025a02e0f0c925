"""Fitting a task head, with the backbone fine-tuned or frozen (Bulat et al. 3.3).

`finetune` trains backbone and head together, the backbone at `lr * backbone_lr_mult`. `linear` (a
linear probe, or fine-tuning with a multiplier of 0) freezes the backbone with its BatchNorm
statistics (eval mode), so its features are computed once (`encode`) and only the head trains.
Both use AdamW with a cosine schedule over `steps` steps of `batch_size` items drawn with a seeded
generator.

Where and how is the `Runtime` (`facerep.downstream.device`): the device and autocast dtype (a
gradient scaler with fp16), the DataLoader workers that decode each batch from disk
(`facerep.downstream.loader`), and the augmentation of Bulat et al. A.2 (`facerep.downstream.augment`),
which only batches that train the backbone get: a frozen probe reads features computed once.
Heads and losses run in float32 outside autocast's reach where it matters: losses on `.float()`
outputs, predictions decoded from float32 head outputs.
"""

from __future__ import annotations

import copy
import math
import threading
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from facerep.downstream.augment import make_augmenter
from facerep.downstream.config import FinetuneParams
from facerep.downstream.data import ImageSource, Split, TaskData, normalise
from facerep.downstream.device import Runtime
from facerep.downstream.heads import extract, pyramid_channels
from facerep.downstream.loader import image_batches, seeded_draws, train_batches
from facerep.downstream.tasks import HeadSpec, Task
from facerep.ssl.backbones import Backbone

#: Faces per batch of features and predictions: at 224 px the first layers' activations of 128 faces
#: alone take half a GB, which would make scoring, not training, the peak of a point's memory.
INFERENCE_BATCH = 64

#: Held while a seeded network is built from torch's global generator: the Prefect flow evaluates
#: finetune points in concurrent threads, and a seed set by one must not be consumed by another.
SEEDED_BUILD = threading.Lock()


@dataclass(frozen=True)
class HParams:
    """One point of the search space (Bulat 3.3: learning rate, schedule length, backbone lr)."""

    lr: float
    steps: int
    backbone_lr_mult: float


@dataclass(frozen=True)
class TrainSpec:
    """What every training of one finetune configuration shares, so `fit` and `distill` take it
    whole: batch size and weight decay, the `Runtime` (device, precision, workers, augmentation),
    and self-distillation's rounds and unlabelled-loss weight (Bulat 3.5)."""

    batch_size: int
    weight_decay: float
    run: Runtime = field(default_factory=Runtime)
    distill_rounds: int = 0
    unlabeled_weight: float = 1.0

    @classmethod
    def of(cls, f: FinetuneParams, run: Runtime) -> TrainSpec:
        """The spec of the finetune parameters `f`, running on `run`."""
        return cls(f.batch_size, f.weight_decay, run, f.distill.rounds, f.distill.unlabeled_weight)


@dataclass
class Features:
    """Frozen-backbone features of a split, on the device that computed them: pooled (N, D) float32
    and optional maps (float16 to save memory)."""

    pooled: Tensor
    maps: list[Tensor]

    def take(self, idx: Tensor) -> tuple[Tensor, list[Tensor]]:
        return self.pooled[idx], [m[idx].float() for m in self.maps]

    def subset(self, idx: np.ndarray) -> Features:
        t = torch.as_tensor(np.asarray(idx), dtype=torch.long)
        return Features(self.pooled[t], [m[t] for m in self.maps])


@torch.no_grad()
def encode(
    backbone: Backbone,
    images: ImageSource,
    maps: bool,
    run: Runtime | None = None,
    batch_size: int = INFERENCE_BATCH,
) -> Features:
    """Features of every image under the frozen backbone (eval mode: BatchNorm statistics frozen), on
    `run`'s device, where `backbone` must be."""
    run = run or Runtime()
    backbone.eval()
    pooled, pyramid = [], []
    for batch in image_batches(images, batch_size, run):
        with run.autocast():
            p, m = extract(backbone, normalise(batch.to(run.device, non_blocking=True)), maps)
        pooled.append(p.float())
        pyramid.append([x.half() for x in m])
    levels = [torch.cat([b[i] for b in pyramid]) for i in range(len(pyramid[0]))] if maps and pyramid else []
    return Features(torch.cat(pooled), levels)


class Fitted(nn.Module):
    """A trained head with the backbone it reads (frozen in linear mode), and the runtime it ran on."""

    def __init__(
        self, backbone: Backbone, head: nn.Module, task: Task, linear: bool, run: Runtime | None = None
    ) -> None:
        super().__init__()
        self.backbone, self.head, self.task, self.linear = backbone, head, task, linear
        self.run = run or Runtime()

    @torch.no_grad()
    def predict(
        self, split: Split, features: Features | None = None, batch_size: int = INFERENCE_BATCH
    ) -> Tensor:
        """The task's predictions (`Task.infer`, on float32 features) on every item of `split`, on the
        CPU; never augmented."""
        self.eval()
        outs = []
        if features is not None:
            for start in range(0, len(split), batch_size):
                pooled, maps = features.take(torch.arange(start, min(start + batch_size, len(split))))
                outs.append(self.task.infer(self.head, pooled, maps).float().cpu())
        else:
            for batch in image_batches(split.images, batch_size, self.run):
                with self.run.autocast():
                    pooled, maps = extract(
                        self.backbone, normalise(batch.to(self.run.device)), self.task.needs_maps
                    )
                out = self.task.infer(self.head, pooled.float(), [m.float() for m in maps])
                outs.append(out.float().cpu())
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
    spec: TrainSpec,
    *,
    seed: int,
    features: Features | None = None,
) -> Fitted:
    """Train `task`'s head (and, when `hp.backbone_lr_mult > 0`, a copy of `backbone`) on `train` for
    `hp.steps` steps.

    A multiplier of 0 is linear mode: `features` are `train`'s frozen features (computed here when
    not given) and the backbone itself is moved to `spec.run`'s device (the stage's shared backbones
    are already there). Batches that train the backbone are augmented when `spec.run.augment` is set.
    """
    run = spec.run
    linear = hp.backbone_lr_mult == 0
    net = (
        backbone.to(run.device)
        if linear
        else copy.deepcopy(backbone).to(run.device, memory_format=torch.channels_last)
    )
    head, optimizer, scheduler = build_head(
        task, net, data, train, hp, train_backbone=not linear, seed=seed, weight_decay=spec.weight_decay
    )
    head.to(run.device)  # its parameters stay the objects the optimiser holds
    model = Fitted(net, head, task, linear, run)
    if linear and features is None:
        features = encode(net, train.images, task.needs_maps, run)
    y_all = task.targets(train)
    draws = seeded_draws(len(train), spec.batch_size, hp.steps, seed)
    head.train()
    net.train(not linear)  # a frozen, possibly shared, backbone stays in eval
    scaler = torch.amp.GradScaler(run.device.type, enabled=run.dtype == torch.float16)
    if features is not None:
        for idx in draws:
            with run.autocast():
                out = head(*features.take(idx))
            step(task.loss(out.float(), y_all[idx].to(run.device)), optimizer, scheduler, scaler)
        return model
    augment = (
        make_augmenter(run.augment, task, train.images.size, data.meta, y_all)
        if run.augment is not None
        else None
    )
    for images, y in train_batches(train.images, y_all, draws, seed, run, augment):
        with run.autocast():
            pooled, maps = extract(net, normalise(images.to(run.device, non_blocking=True)), task.needs_maps)
            out = head(pooled, maps)
        step(task.loss(out.float(), y.to(run.device, non_blocking=True)), optimizer, scheduler, scaler)
    return model


def step(
    loss: Tensor,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR,
    scaler: torch.amp.GradScaler,
) -> None:
    """One optimiser step on `loss` (scaled under fp16 autocast), then the schedule's; a step the
    scaler skips (an overflow while it finds its scale) leaves the schedule where it was."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scale = scaler.get_scale()
    scaler.step(optimizer)
    scaler.update()
    if scaler.get_scale() >= scale:
        scheduler.step()


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
