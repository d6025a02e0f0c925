"""The base class of every pre-training method: the shared plumbing, so a method file holds only what differs.

How a method plugs in (the contract the face methods ProS, FRA, PCL and SimFLE build on):

- One file, `facerep/ssl/methods/<name>.py`, holds the method and its parameter model: a
  `MethodParams` subclass (its `crops`, its `optim`, its paper's fields and defaults), registered
  with the class by `@register_method("<name>", params=XParams)`. The registry makes it the
  `pretrain.<name>` section of the parameters; nothing else is edited (docs/extending.md).
- `__init__(backbone, params, ctx)`: call `super().__init__(...)`, then build heads. The backbone
  (`facerep.ssl.backbones.Backbone`) gives pooled features `backbone(x)` and the spatial map
  `backbone.forward_features(x)`. `ctx` (`TrainContext`) gives total steps, steps per epoch, the
  global batch and the world size, for schedules that the paper states in epochs.
- Views: the engine builds `MultiCropTransform` from `params.crops` (`transform()`); a batch is the
  list of views, global first then local, each `(B, 3, H, W)`. Override `transform()` for other
  view recipes. Curated local boxes reach the transform from the shard reader; a method with
  `face_aware_crops` (ProS) cuts its local views from them.
- `training_step(views, step) -> (loss, {name: component})`: the components are logged to MLflow.
  Losses live as pure functions in `facerep/ssl/losses/`.
- Momentum teacher: `self.add_momentum_teacher("backbone", "teacher_backbone")` registers an EMA
  copy (no gradient) of an attribute under a new attribute; the base class updates every copy after
  each optimiser step with `momentum_at(step)`: a cosine ramp from `params.momentum` to
  `params.momentum_end` when the method has both (BYOL, DINO), else the constant `params.momentum`.
- Hooks: `on_before_optimizer_step(step)` (gradients are final and synchronised: freeze prototypes
  or a last layer by setting `p.grad = None`, never by toggling `requires_grad`, which DDP forbids)
  and `on_after_optimizer_step(step)` (queues, centres, prototype normalisation); call `super()`
  in the latter to keep the EMA update.
- Data parallelism: `facerep.ssl.dist.gather` / `gather_with_grad` for negatives, queues and codes;
  the engine wraps the method in DDP and calls `forward`, which is `training_step`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from facerep.ssl.augment import MultiCropTransform
from facerep.ssl.backbones import Backbone
from facerep.ssl.config import MethodParams
from facerep.ssl.optim import cosine


@dataclass(frozen=True)
class TrainContext:
    """What a method may need to know about the run (schedules stated in epochs, batch-size rules)."""

    total_steps: int
    steps_per_epoch: int
    global_batch: int
    world_size: int = 1


class Method(nn.Module):
    """Backbone + method heads; `training_step` returns the loss and its named components."""

    name: ClassVar[str] = ""
    # The model of this method's `pretrain.<name>` section; set by `register_method`.
    params_model: ClassVar[type[MethodParams]] = MethodParams
    # Local views from the curated face-aware boxes of each shard sample (ProS 3.1) instead of at random.
    face_aware_crops: ClassVar[bool] = False

    def __init__(self, backbone: Backbone, params: MethodParams, ctx: TrainContext) -> None:
        super().__init__()
        self.backbone = backbone
        self.params = params
        self.ctx = ctx
        self._teacher_pairs: list[tuple[str, str]] = []

    # ----- views ---------------------------------------------------------------------------
    def transform(self) -> MultiCropTransform:
        c = self.params.crops
        return MultiCropTransform(
            global_size=c.global_size,
            global_count=c.global_count,
            local_size=c.local_size,
            local_count=c.local_count,
            global_scale=c.global_scale,
            local_scale=c.local_scale,
            flip=c.flip,
            jitter=c.jitter,
            color_jitter=c.color_jitter,
            gray=c.gray,
            blur=c.blur,
            solarize=c.solarize,
            hue=c.hue,
            face_aware=self.face_aware_crops,
        )

    @property
    def global_count(self) -> int:
        return self.params.crops.global_count

    # ----- training ------------------------------------------------------------------------
    def training_step(self, views: list[Tensor], step: int) -> tuple[Tensor, dict[str, Tensor]]:
        raise NotImplementedError

    def forward(self, views: list[Tensor], step: int) -> tuple[Tensor, dict[str, Tensor]]:
        """DDP hooks into `forward`, so the engine calls the wrapped module, which runs `training_step`."""
        return self.training_step(views, step)

    def exported_backbone(self) -> Backbone:
        """The network written to `backbone.pt` for the finetune stage: the online backbone unless the
        paper evaluates another one (ProS fine-tunes from the EMA teacher)."""
        return self.backbone

    def trainable_modules(self) -> list[nn.Module]:
        """Every child except the momentum teachers (which get no gradient)."""
        teachers = {t for _, t in self._teacher_pairs}
        return [m for n, m in self.named_children() if n not in teachers]

    @staticmethod
    def per_resolution(views: list[Tensor], fn: Any) -> list[Tensor]:
        """Run `fn` once per run of same-sized consecutive views (SwAV's multi-crop forward), split back."""
        out: list[Tensor] = []
        start = 0
        while start < len(views):
            end = start
            while end < len(views) and views[end].shape[-2:] == views[start].shape[-2:]:
                end += 1
            res = fn(torch.cat(views[start:end]))
            out.extend(res.chunk(end - start))
            start = end
        return out

    # ----- momentum teachers ---------------------------------------------------------------
    def add_momentum_teacher(
        self, online: str, teacher: str, build: Callable[[], nn.Module] | None = None
    ) -> nn.Module:
        """Register attribute `teacher` as a frozen copy of attribute `online`, EMA-updated every step.

        `build` makes a fresh module of the same shape for modules that cannot be deep-copied
        (weight-normalised layers); it then receives `online`'s weights.
        """
        if build is None:
            copy_ = copy.deepcopy(getattr(self, online))
        else:
            copy_ = build()
            copy_.load_state_dict(getattr(self, online).state_dict())
        for p in copy_.parameters():
            p.requires_grad = False
        setattr(self, teacher, copy_)
        self._teacher_pairs.append((online, teacher))
        return copy_

    def momentum_at(self, step: int) -> float:
        m = float(getattr(self.params, "momentum", 0.0))
        end = getattr(self.params, "momentum_end", None)
        return m if end is None else cosine(step, self.ctx.total_steps, m, float(end))

    @torch.no_grad()
    def update_teachers(self, momentum: float) -> None:
        """EMA of the parameters only. A teacher's buffers (batch-norm running statistics) are its
        own, gathered by its forward passes in train mode on the views it sees, as in DINO and
        lightly's `update_momentum`: ProS's student sees only local views, and copying its statistics
        would give the exported teacher those of face parts at a smaller size."""
        for online_name, teacher_name in self._teacher_pairs:
            online, teacher = getattr(self, online_name), getattr(self, teacher_name)
            for po, pt in zip(online.parameters(), teacher.parameters(), strict=True):
                pt.mul_(momentum).add_(po.detach(), alpha=1 - momentum)

    # ----- hooks ---------------------------------------------------------------------------
    def on_before_optimizer_step(self, step: int) -> None:
        """Gradients are final here; freeze parts by setting their `.grad` to None."""

    def on_after_optimizer_step(self, step: int) -> None:
        """EMA update of every momentum teacher; methods extend this (queues, prototypes)."""
        if self._teacher_pairs:
            self.update_teachers(self.momentum_at(step))

    def extra_state(self) -> dict[str, Any]:
        """Non-tensor state to checkpoint beyond `state_dict` (tensors belong in buffers)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what `extra_state` returned."""
