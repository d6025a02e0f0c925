"""Face-method benchmark: training images per second of ProS, FRA, PCL and SimFLE beside SwAV and BYOL.

Every method trains the same backbone at the same global-view resolution, each with its own views
(SwAV 2 global + 6 local, ProS 2 global + 8 local, the others 2 global; SimFLE adds its FaceMAE view)
and its own heads at the method defaults, from the same drawn faces passed through the method's own
transform. A step is forward, backward, optimiser step and the method's post-step hooks (EMA updates,
queues), i.e. the engine's step without data loading. The methods are timed in interleaved rounds
and the median round is kept, because the 2 CPU cores are shared with other jobs. Ratios are against
SwAV and BYOL measured in the same run. Writes `bench/results/face_methods.md`.

    .venv/bin/python bench/bench_face_methods.py [--backbone resnet18_small] [--size 64] [--batch 32]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "ssl_face"))

from conftest import draw_face  # noqa: E402

from facerep.params import load_params  # noqa: E402
from facerep.ssl.backbones import build_backbone  # noqa: E402
from facerep.ssl.base import Method, TrainContext  # noqa: E402
from facerep.ssl.optim import build_optimizer, parameter_groups  # noqa: E402
from facerep.ssl.registry import get_method  # noqa: E402

METHODS = ["swav", "byol", "pros", "fra", "pcl", "simfle"]


def build(
    name: str, backbone: str, size: int, batch: int, device: torch.device
) -> tuple[Method, object, list]:
    """The method at its defaults with global views of `size` px, its optimiser and one batch of views."""
    params = load_params(None, [f"pretrain.{name}.crops.global_size={size}"]).pretrain
    mparams = getattr(params, name)
    method = get_method(name)(build_backbone(backbone), mparams, TrainContext(10_000, 100, batch)).to(device)
    optimizer = build_optimizer(mparams.optim, parameter_groups(method.trainable_modules(), False))
    for g in optimizer.param_groups:
        g["lr"] = 1e-4
    rng = np.random.default_rng(0)
    transform = method.transform()
    samples = [transform(draw_face(rng, 3, 112)) for _ in range(batch)]
    views = [torch.stack(v) for v in zip(*samples, strict=True)]
    return method, optimizer, [v.to(device) for v in views]


def step(method: Method, optimizer: torch.optim.Optimizer, views: list[torch.Tensor], i: int) -> None:
    loss, _ = method(views, i)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    method.on_after_optimizer_step(i)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="resnet18_small")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "face_methods.md")
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    built = {m: build(m, args.backbone, args.size, args.batch, device) for m in METHODS}
    for method, opt, views in built.values():
        step(method, opt, views, 0)
    rates: dict[str, list[float]] = {m: [] for m in METHODS}
    for _ in range(args.rounds):
        for m, (method, opt, views) in built.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for i in range(args.steps):
                step(method, opt, views, i + 1)
            if device.type == "cuda":
                torch.cuda.synchronize()
            rates[m].append(args.steps * args.batch / (time.perf_counter() - start))
    med = {m: statistics.median(r) for m, r in rates.items()}
    load = os.getloadavg()[0]
    cpu = f"2 CPU cores shared with other jobs (1-minute load average {load:.0f} at the end)"
    where = torch.cuda.get_device_name() if device.type == "cuda" else cpu
    lines = [
        "## Face pre-training methods (`bench/bench_face_methods.py`)",
        "",
        "Training images/s (forward, backward, optimiser step, EMA hooks; no data loading) of each method "
        f"at its defaults on `{args.backbone}`, global views {args.size} px, batch {args.batch}, on {where}; "
        f"median of {args.rounds} interleaved rounds of {args.steps} steps. Views per image: SwAV 2 global "
        "+ 6 local, ProS 2 global + 8 local (teacher globals, student locals), FRA/BYOL/PCL 2 global "
        "(PCL also runs their flips), SimFLE 2 global + 1 FaceMAE view.",
        "",
        "| method | images/s | vs SwAV | vs BYOL |",
        "|---|---|---|---|",
    ]
    for m in METHODS:
        lines.append(f"| {m} | {med[m]:.1f} | {med[m] / med['swav']:.2f} | {med[m] / med['byol']:.2f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
