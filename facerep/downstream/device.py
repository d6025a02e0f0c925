"""Where and how fine-tuning runs: `finetune.device` resolved to a torch device, the autocast dtype of
`finetune.precision` (the pretrain stage's rule, `facerep.ssl.engine.autocast_dtype`: bf16 on CUDA,
full precision on CPU where bf16 autocast is slower), the DataLoader workers, and the augmentation
that fine-tuning points get. On CUDA, TF32 and cuDNN's benchmark mode are switched on
(`facerep.ssl.engine.cuda_speedups`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch

from facerep.cores import available_cores
from facerep.downstream.config import AugmentParams, FinetuneParams
from facerep.errors import InputError
from facerep.ssl.engine import autocast_dtype, cuda_speedups

PRECISION_NAMES = {torch.bfloat16: "bf16", torch.float16: "fp16", None: "fp32"}


def resolve_device(spec: str) -> torch.device:
    """The device `finetune.device` names: `auto` is CUDA when torch sees a GPU, else the CPU; an
    accelerator that is not there is an InputError, never a silent fall-back to the CPU."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not torch.backends.mps.is_available():
            raise InputError("finetune.device: 'mps' asked for, but torch sees no Apple GPU here")
        return torch.device("mps")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise InputError(
                f"finetune.device: {spec!r} asked for, but torch sees no CUDA GPU here "
                f"(torch {torch.__version__}, CUDA build {torch.version.cuda}); use auto or cpu"
            )
        device = torch.device(spec)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InputError(
                f"finetune.device: {spec!r}, but only {torch.cuda.device_count()} CUDA device(s) here"
            )
        return device
    raise InputError(f"finetune.device: {spec!r} is not auto, cpu, cuda, cuda:N or mps")


@dataclass(frozen=True)
class Runtime:
    """How one configuration's trainings run. The default is the plain in-process CPU run in full
    precision without augmentation (what a direct call of `train.fit` gets)."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    dtype: torch.dtype | None = None
    num_workers: int = 0
    augment: AugmentParams | None = None

    @property
    def precision(self) -> str:
        """The autocast dtype by name: bf16, fp16 or fp32 (no autocast)."""
        return PRECISION_NAMES[self.dtype]

    def autocast(self) -> contextlib.AbstractContextManager[object]:
        """Autocast to `dtype` on this device; nothing when running in full precision."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)


def default_workers(device: torch.device) -> int:
    """DataLoader workers when `finetune.num_workers` is null. None on the CPU: its cores are busy
    training, so workers can only take their time from the compute threads; on 2 cores they were no
    faster than decoding in turn (`bench/results/finetune_memory.md`) and cost a fork per training
    run. Beside an accelerator the cores are free: one worker per core this process may use, but
    one, up to 8."""
    if device.type == "cpu":
        return 0
    return min(8, max(1, available_cores() - 1))


def runtime(f: FinetuneParams) -> Runtime:
    """The runtime of the `finetune` parameters; augmentation only in `finetune` mode when enabled."""
    device = resolve_device(f.device)
    cuda_speedups(device)
    augment = f.augment if f.augment.enabled and f.mode == "finetune" else None
    workers = default_workers(device) if f.num_workers is None else f.num_workers
    return Runtime(device, autocast_dtype(f.precision, device), workers, augment)
