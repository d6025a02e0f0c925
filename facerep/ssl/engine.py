"""The training loop shared by every method.

One optimiser step = `grad_accum` micro-batches of `batch_size` images per process. On a GPU the
forward runs under bf16 autocast (fp16 with a gradient scaler on request) with channels-last
tensors, optionally through `torch.compile`. Under `torchrun` the method is wrapped in DDP (with
SyncBatchNorm when `sync_bn`), every process reads its own contiguous share of each epoch
(`facerep.ssl.epochs`), and rank 0 alone logs to MLflow and writes files. PyTorch's SyncBatchNorm
runs on CUDA only: CPU processes (gloo) keep per-process batch statistics. A non-finite loss stops
the run with a message naming the step, the method and the last checkpoint. Schedules are pure
functions of the step and the data order a pure function of the micro-batch count, so resuming
needs only those two; a checkpoint resumes with the same data, process count and data workers.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as torch_dist
from torch import Tensor, nn
from torch.utils.data import DataLoader

from facerep.cores import available_cores
from facerep.errors import FacerepError, InputError
from facerep.progress import step_bar
from facerep.ssl import dist
from facerep.ssl.backbones import build_backbone, save_backbone
from facerep.ssl.base import Method, TrainContext
from facerep.ssl.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from facerep.ssl.config import PretrainParams
from facerep.ssl.data import Batch, build_catalog, view_loader
from facerep.ssl.epochs import Layout
from facerep.ssl.optim import apply_schedule, build_optimizer, lr_at, parameter_groups, weight_decay_at
from facerep.ssl.registry import get_method


class NonFiniteLossError(FacerepError):
    """The loss became NaN or infinite: training stops instead of writing a broken model."""


@dataclass
class TrainResult:
    """What a run did: the per-step losses of this invocation and its closing metrics."""

    start_step: int
    steps: int
    losses: list[float] = field(default_factory=list)
    components: list[dict[str, float]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)


def setup_distributed() -> torch.device:
    """Join the `torchrun` process group when launched by it; pick this process's device."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_distributed():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch_dist.init_process_group(backend)
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


@torch.no_grad()
def clip_per_parameter(optimizer: torch.optim.Optimizer, max_norm: float) -> None:
    """Cap each parameter's gradient norm at `max_norm` (DINO's `clip_gradients`, not one global norm)."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.grad is not None:
                p.grad.mul_((max_norm / (p.grad.norm() + 1e-6)).clamp(max=1.0))


def flatten(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as dotted keys, so a difference is named by its parameter path."""
    out: dict[str, Any] = {}
    for k, v in doc.items():
        if isinstance(v, dict):
            out |= flatten(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = v
    return out


def default_workers(local_processes: int | None = None) -> int:
    """DataLoader workers per process when `pretrain.num_workers` is null: the cores this process may
    use (its CPU affinity), shared among the processes of this node (`LOCAL_WORLD_SIZE`, set by
    `torchrun`), less the one each process trains on; at least 1."""
    if local_processes is None:
        local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, available_cores() // max(1, local_processes) - 1)


def cuda_speedups(device: torch.device, deterministic: bool = False) -> None:
    """On a CUDA device: TF32 tensor-core matmuls and convolutions (fp32 inputs rounded to a 10-bit
    mantissa inside the product; the autocast default bf16 is coarser still), and cuDNN's benchmark
    mode, which times the convolution algorithms for each new input shape and keeps the fastest (the
    shapes here are fixed per run). Benchmark mode stays off when `deterministic`, as its choice may
    differ between runs. On any other device the process-wide flags are left as they are."""
    if device.type != "cuda":
        return
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = not deterministic


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """bf16 on GPU by default, full precision on CPU (CPU bf16 autocast is slower than fp32 there)."""
    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}[precision]


class Engine:
    """Builds method, data and optimiser from `pretrain` parameters and trains into `out_dir`."""

    def __init__(
        self,
        pretrain: PretrainParams,
        data_root: str,
        out_dir: Path,
        seed: int = 0,
        log: Callable[[dict[str, float], int], None] | None = None,
        run_id: str | None = None,
        knn: Any = None,
    ) -> None:
        self.p = pretrain
        self.out_dir = out_dir
        self.seed = seed
        self.log = log
        self.run_id = run_id
        self.knn = knn
        self.device = setup_distributed()
        self.rank, self.world = dist.rank(), dist.world_size()
        if pretrain.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        cuda_speedups(self.device, pretrain.deterministic)
        method_cls = get_method(pretrain.method)
        self.mparams = pretrain.section(pretrain.method)
        torch.manual_seed(seed)
        self.num_workers = default_workers() if pretrain.num_workers is None else pretrain.num_workers
        d = pretrain.data
        self.catalog = build_catalog(d.source, data_root, d.size, d.split)
        self.layout = Layout(
            self.catalog.counts,
            pretrain.batch_size,
            seed,
            self.world,
            self.rank,
            max(1, self.num_workers),
            d.shuffle_block,
        )
        self.global_batch = pretrain.batch_size * self.world * pretrain.grad_accum
        steps_per_epoch = max(1, self.layout.batches_per_epoch // pretrain.grad_accum)
        ctx = TrainContext(pretrain.max_steps, steps_per_epoch, self.global_batch, self.world)
        self.method: Method = method_cls(build_backbone(pretrain.backbone), self.mparams, ctx)
        self.transform = self.method.transform()
        if self.world > 1 and pretrain.sync_bn and self.device.type == "cuda":
            self.method = nn.SyncBatchNorm.convert_sync_batchnorm(self.method)
        memory = torch.channels_last if pretrain.channels_last else torch.contiguous_format
        self.memory_format = memory
        self.method.to(self.device, memory_format=memory)
        groups = parameter_groups(self.method.trainable_modules(), self.mparams.optim.exclude_bias_norm)
        self.optimizer = build_optimizer(self.mparams.optim, groups)
        self.dtype = autocast_dtype(pretrain.precision, self.device)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.dtype == torch.float16)
        self.step = 0
        self.micro = 0
        self.metrics: dict[str, float] = {}
        self._last_metrics: dict[str, float] = {}

    # ----- checkpoints ---------------------------------------------------------------------
    @property
    def ckpt_path(self) -> Path:
        return self.out_dir / "last.ckpt"

    def state(self, rngs: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "method_name": self.p.method,
            "backbone_name": self.p.backbone,
            "method": self.method.state_dict(),
            "method_extra": self.method.extra_state(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "micro_batches": self.micro,
            "world_size": self.world,
            "global_batch": self.global_batch,
            "identity": self.identity(),
            "rng": rngs,  # one per process: each resumes its own random stream
            "mlflow_run_id": self.run_id,
            "metrics": self.metrics,
        }

    def restore(self, ckpt: dict[str, Any]) -> None:
        """Load a checkpoint written by `state` (the RNG states are set later, once the data is ready)."""
        for key, mine in (("method_name", self.p.method), ("backbone_name", self.p.backbone)):
            if ckpt[key] != mine:
                raise InputError(
                    f"{self.ckpt_path}: written by a {key.split('_')[0]} {ckpt[key]!r} run, not {mine!r}; "
                    "choose another paths.models or delete the checkpoint"
                )
        self.check_identity(ckpt.get("identity", {}))
        self.method.load_state_dict(ckpt["method"])
        self.method.load_extra_state(ckpt["method_extra"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.step, self.micro = int(ckpt["step"]), int(ckpt["micro_batches"])
        self.run_id = self.run_id or ckpt.get("mlflow_run_id")

    def identity(self) -> dict[str, Any]:
        """Everything a checkpoint's state depends on: the settings that change what is learned (the
        schedules are fractions of `max_steps`, so it is one of them) and what fixes the order of the
        batches (`facerep.ssl.epochs`: the data, its reading layout, the process count)."""
        p = self.p
        settings = p.model_dump(mode="json", include={"method", "backbone", "max_steps", "batch_size"})
        settings |= p.model_dump(mode="json", include={"grad_accum", "precision", "channels_last", "sync_bn"})
        settings |= {
            "data": p.data.model_dump(mode="json", exclude={"path"}),
            p.method: self.mparams.model_dump(mode="json"),
        }
        return {
            **{f"pretrain.{k}": v for k, v in flatten(settings).items()},
            "seed": self.seed,
            "data fingerprint": self.catalog.fingerprint,
            # resolved (null: this machine's default): 0 and 1 are the same single stream
            "pretrain.num_workers": self.layout.workers,
            "world size": self.world,
        }

    def check_identity(self, saved: dict[str, Any]) -> None:
        """Resume only the very run that wrote the checkpoint: another setting would leave a model
        trained under two recipes, and other data or another reading layout would repeat or skip
        images. Stops with exit status 2 naming every key that differs."""
        mine = self.identity()
        differ = sorted(k for k in mine.keys() | saved.keys() if saved.get(k) != mine.get(k))
        if differ:
            what = ", ".join(f"{k} ({saved.get(k)!r} -> {mine.get(k)!r})" for k in differ[:8])
            more = f" and {len(differ) - 8} more" if len(differ) > 8 else ""
            raise InputError(
                f"{self.ckpt_path}: written by another run; differs in {what}{more}; "
                "choose another paths.models or delete the checkpoint to start afresh"
            )

    def save(self) -> None:
        rngs = [rng_state()]
        if self.world > 1:
            rngs = [{} for _ in range(self.world)]
            torch_dist.all_gather_object(rngs, rng_state())
        if self.rank == 0:
            save_checkpoint(self.ckpt_path, self.state(rngs))
        if self.world > 1:
            torch_dist.barrier()

    # ----- training ------------------------------------------------------------------------
    def _loader(self) -> DataLoader[Batch]:
        return view_loader(
            self.catalog,
            self.transform,
            self.layout,
            self.num_workers,
            start=self.micro,
            pin_memory=self.device.type == "cuda",
        )

    def _model(self) -> nn.Module:
        model: nn.Module = self.method
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            model = nn.parallel.DistributedDataParallel(self.method, device_ids=ids)
        if self.p.compile:
            model = torch.compile(model)  # type: ignore[assignment]
        return model

    def _forward(self, model: nn.Module, views: list[Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        views = [v.to(self.device, non_blocking=True, memory_format=self.memory_format) for v in views]
        if self.dtype is None:
            return model(views, self.step)
        with torch.autocast(self.device.type, dtype=self.dtype):
            return model(views, self.step)

    def _check_finite(self, loss: float) -> None:
        if loss != loss or loss in (float("inf"), float("-inf")):
            where = f"; the last good checkpoint is {self.ckpt_path}" if self.ckpt_path.is_file() else ""
            raise NonFiniteLossError(
                f"pretrain.{self.p.method}: loss is {loss} at step {self.step}{where}; "
                f"lower pretrain.{self.p.method}.optim.base_lr or use precision fp32"
            )

    def fit(self) -> TrainResult:
        """Train from `out_dir`/last.ckpt (if any) up to `max_steps`; write the checkpoint and backbone."""
        ckpt = load_checkpoint(self.ckpt_path)
        if ckpt is not None:
            self.restore(ckpt)
        result = TrainResult(start_step=self.step, steps=self.step)
        if self.step < self.p.max_steps:
            self._loop(ckpt, result)
        elif ckpt is not None:
            self.metrics = dict(ckpt.get("metrics", {}))
        result.steps = self.step
        result.metrics = dict(self.metrics)
        if self.rank == 0:
            save_backbone(
                self.method.exported_backbone(),
                self.out_dir / "backbone.pt",
                {"method": self.p.method, "steps": self.step, "mlflow_run_id": self.run_id},
            )
            if self.knn is not None:
                result.metrics["knn_accuracy"] = self._knn_log()
        return result

    def _loop(self, ckpt: dict[str, Any] | None, result: TrainResult) -> None:
        model = self._model()
        batches = iter(self._loader())
        if ckpt is not None:
            set_rng_state(ckpt["rng"][self.rank])
        else:
            torch.manual_seed(self.seed + self.rank)
        images, t0 = 0, time.perf_counter()
        bar = step_bar(f"pretrain {self.p.method}", self.p.max_steps, self.step) if self.rank == 0 else None
        with bar or contextlib.nullcontext(lambda info: None) as advance:
            while self.step < self.p.max_steps:
                self._train_step(model, batches, result)
                images += self.global_batch
                self._after_step(result, images / max(time.perf_counter() - t0, 1e-9))
                advance(f"loss {result.losses[-1]:.3f}")

    def _after_step(self, result: TrainResult, rate: float) -> None:
        """The step's metrics, logging, checkpoint and kNN monitor."""
        self.metrics = {
            "final_loss": result.losses[-1],
            "steps": float(self.step),
            "images_per_s": rate,
            "epochs": self.micro / self.layout.batches_per_epoch,
        }
        done = self.step == self.p.max_steps
        if self.log is not None and self.rank == 0 and (self.step % self.p.log_every == 0 or done):
            self.log({**self._last_metrics, "images_per_s": rate, **self._memory()}, self.step)
        if self.step % self.p.checkpoint_every == 0 or done:
            self.save()
        if self.knn is not None and self.p.knn.every and self.step % self.p.knn.every == 0 and not done:
            self._knn_log()

    def _knn_log(self) -> float:
        acc = float(
            self.knn.evaluate(
                self.method.backbone, self.mparams.crops.global_size, self.p.knn.k, self.p.knn.temperature
            )
        )
        if self.log is not None:
            self.log({"knn_accuracy": acc}, self.step)
        return acc

    def _memory(self) -> dict[str, float]:
        if self.device.type != "cuda":
            return {}
        return {"gpu_memory_gb": torch.cuda.max_memory_allocated(self.device) / 2**30}

    def _train_step(self, model: nn.Module, batches: Any, result: TrainResult) -> None:
        optim = self.mparams.optim
        lr = lr_at(optim, self.step, self.p.max_steps, self.global_batch)
        wd = weight_decay_at(optim, self.step, self.p.max_steps)
        apply_schedule(self.optimizer, lr, wd)
        total = torch.zeros((), device=self.device)
        parts: dict[str, Tensor] = {}
        for i in range(self.p.grad_accum):
            views = next(batches)["views"]
            self.micro += 1
            last = i == self.p.grad_accum - 1
            sync = contextlib.nullcontext() if last or self.world == 1 else model.no_sync()  # type: ignore[operator]
            with sync:
                loss, comps = self._forward(model, views)
                self.scaler.scale(loss / self.p.grad_accum).backward()
            total += loss.detach().float() / self.p.grad_accum
            for k, v in comps.items():
                parts[k] = parts.get(k, 0) + v.detach().float() / self.p.grad_accum
        values = torch.stack([total, *parts.values()])
        values = dist.all_reduce_mean(values).cpu().tolist()
        self._check_finite(values[0])
        self.method.on_before_optimizer_step(self.step)
        if optim.clip_grad is not None:
            self.scaler.unscale_(self.optimizer)
            if optim.clip_per_parameter:
                clip_per_parameter(self.optimizer, optim.clip_grad)
            else:
                nn.utils.clip_grad_norm_(
                    [p for g in self.optimizer.param_groups for p in g["params"]], optim.clip_grad
                )
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.method.on_after_optimizer_step(self.step)
        self.step += 1
        result.losses.append(values[0])
        result.components.append(dict(zip(parts, values[1:], strict=True)))
        self._last_metrics = {"loss": values[0], "lr": lr, "weight_decay": wd}
        self._last_metrics.update({f"loss_{k}": v for k, v in zip(parts, values[1:], strict=True)})
