"""Optimisers and schedules shared by every method.

The schedules are pure functions of the step so that a resumed run needs no scheduler state:
linear warmup then cosine decay (SwAV, BYOL, SimCLR, DINO all use it, Loshchilov and Hutter 2017),
the cosine weight-decay ramp of DINO, and the cosine EMA-momentum ramp of BYOL (section 3.2,
tau = 1 - (1 - tau_base)(cos(pi k / K) + 1) / 2) and DINO.
LARS comes from lightly (`lightly.utils.lars.LARS`): parameters in a group with zero weight decay
skip the layer-wise scaling, which is how BYOL and SimCLR exclude biases and norms.
"""

from __future__ import annotations

import math

import torch
from lightly.utils.lars import LARS
from torch import nn

from facerep.ssl.config import OptimParams


def cosine(step: int, total: int, start: float, end: float) -> float:
    """Cosine interpolation from `start` at step 0 to `end` at step `total`."""
    if total <= 0:
        return end
    t = min(max(step / total, 0.0), 1.0)
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * t))


def warmup_cosine(step: int, total: int, warmup: int, peak: float, final: float) -> float:
    """Linear warmup from 0 to `peak` over `warmup` steps, then cosine decay to `final` at `total`."""
    if step < warmup:
        return peak * (step + 1) / warmup
    return cosine(step - warmup, total - warmup, peak, final)


def peak_lr(optim: OptimParams, global_batch: int) -> float:
    """The linear scaling rule: `base_lr` is per 256 images."""
    return optim.base_lr * global_batch / 256


def lr_at(optim: OptimParams, step: int, total: int, global_batch: int) -> float:
    peak = peak_lr(optim, global_batch)
    warmup = round(optim.warmup_fraction * total)
    return warmup_cosine(step, total, warmup, peak, peak * optim.final_lr_ratio)


def weight_decay_at(optim: OptimParams, step: int, total: int) -> float:
    if optim.weight_decay_end is None:
        return optim.weight_decay
    return cosine(step, total, optim.weight_decay, optim.weight_decay_end)


def parameter_groups(modules: list[nn.Module], exclude_bias_norm: bool) -> list[dict[str, object]]:
    """Trainable parameters in two groups: decayed, and (if asked) biases/norm weights without decay."""
    decay, no_decay = [], []
    for module in modules:
        for p in module.parameters():
            if not p.requires_grad:
                continue
            (no_decay if exclude_bias_norm and p.ndim <= 1 else decay).append(p)
    groups: list[dict[str, object]] = [{"params": decay, "decay": True}]
    if no_decay:
        groups.append({"params": no_decay, "decay": False, "weight_decay": 0.0})
    return groups


def build_optimizer(optim: OptimParams, groups: list[dict[str, object]]) -> torch.optim.Optimizer:
    """SGD with momentum, AdamW or LARS; learning rate and decay are set each step by `apply_schedule`."""
    for g in groups:
        g.setdefault("weight_decay", optim.weight_decay)
    if optim.name == "sgd":
        return torch.optim.SGD(groups, lr=0.0, momentum=optim.momentum, weight_decay=optim.weight_decay)
    if optim.name == "adamw":
        return torch.optim.AdamW(groups, lr=0.0, weight_decay=optim.weight_decay)
    return LARS(
        groups,
        lr=0.0,
        momentum=optim.momentum,
        weight_decay=optim.weight_decay,
        trust_coefficient=optim.lars_trust,
    )


def apply_schedule(optimizer: torch.optim.Optimizer, lr: float, weight_decay: float) -> None:
    """Set this step's learning rate on every group and weight decay on the decayed groups."""
    for g in optimizer.param_groups:
        g["lr"] = lr
        if g.get("decay", True):
            g["weight_decay"] = weight_decay
