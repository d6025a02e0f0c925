"""Pre-training benchmarks: engine overhead against a bare PyTorch loop, and images/s per method.

Engine overhead: the engine's optimiser step (`Engine._train_step`: schedules, autocast, gradient
accumulation bookkeeping, loss all-reduce and non-finite guard, hooks, EMA) against a bare loop
written by hand with the same method module, loss, optimiser, schedules and batch; both are fed the
same fixed views, so data loading is excluded from both. Steps alternate between the two; medians.
Images/s per method: a full `Engine.fit` on SynthFaces (data loading, augmentation, training).
On a CUDA machine it also measures SwAV ResNet-50 multi-crop (2x224 + 6x96) and DINO ViT-S/16
(2x224 + 10x96) images/s on one GPU with bf16 autocast. Writes `bench/results/pretrain.md`.

    .venv/bin/python bench/bench_pretrain.py [--steps 10] [--overhead-steps 30]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from facerep.params import load_params
from facerep.ssl.data import view_loader
from facerep.ssl.engine import Engine, TrainResult
from facerep.ssl.optim import apply_schedule, lr_at, weight_decay_at
from facerep.ssl.stage import data_root, output_dir
from facerep.stages import run_stage

ROOT = Path(__file__).resolve().parent.parent
METHODS = ["swav", "byol", "mocov2", "simclr", "dino"]
SMALL = [
    "pretrain.swav.crops.local_count=2",
    "pretrain.dino.crops.local_count=2",
    "pretrain.mocov2.queue_length=4096",
]


def synth(root: Path, faces: int) -> None:
    sets = [
        f"paths.synth={root}",
        f"synth.faces={faces}",
        "synth.scenes=0",
        "synth.videos=0",
        "synth.sizes=[64]",
        "tracking.enabled=false",
    ]
    run_stage("synth", load_params(None, sets))


def make_engine(tmp: Path, method: str, backbone: str, batch: int, steps: int, extra: list[str]) -> Engine:
    sets = [
        f"paths.synth={tmp / 'synth'}",
        "pretrain.data.source=synth_faces",
        f"paths.models={tmp / 'models' / method}",
        "tracking.enabled=false",
        f"pretrain.method={method}",
        f"pretrain.backbone={backbone}",
        f"pretrain.batch_size={batch}",
        f"pretrain.max_steps={steps}",
        "pretrain.knn.enabled=false",
        "pretrain.checkpoint_every=100000",
        *extra,
    ]
    p = load_params(None, sets)
    return Engine(p.pretrain, data_root(p), output_dir(p), seed=p.seed)


def fixed_views(engine: Engine) -> list[torch.Tensor]:
    batch = next(iter(view_loader(engine.catalog, engine.transform, engine.layout, 0)))
    return [v.to(engine.device, memory_format=engine.memory_format) for v in batch["views"]]


def bare_step(engine: Engine, views: list[torch.Tensor], step: int) -> None:
    """What a hand-written loop does: forward, backward, step, zero grads, EMA update."""
    m, opt, o, total = engine.method, engine.optimizer, engine.mparams.optim, engine.p.max_steps
    apply_schedule(opt, lr_at(o, step, total, engine.global_batch), weight_decay_at(o, step, total))
    loss, _ = m.training_step(views, step)
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    m.on_after_optimizer_step(step)
    loss.item()


def overhead(tmp: Path, steps: int) -> tuple[float, float]:
    """Median seconds per step of the bare loop and of the engine, alternating step by step."""
    engine = make_engine(tmp, "byol", "resnet_tiny", 32, 10**6, [])
    views = fixed_views(engine)
    model = engine._model()
    result = TrainResult(0, 0)
    times: dict[str, list[float]] = {"bare": [], "engine": []}
    for s in range(steps + 2):
        for kind in ("bare", "engine"):
            t0 = time.perf_counter()
            if kind == "bare":
                bare_step(engine, views, s)
            else:
                engine._train_step(model, itertools.repeat({"views": views}), result)
            if s >= 2:  # the first steps warm caches and allocator
                times[kind].append(time.perf_counter() - t0)
    return statistics.median(times["bare"]), statistics.median(times["engine"])


def throughput(tmp: Path, method: str, backbone: str, batch: int, steps: int, extra: list[str]) -> float:
    engine = make_engine(tmp, method, backbone, batch, steps + 2, extra)
    return engine.fit().metrics["images_per_s"]


def gpu_rows(tmp: Path, steps: int) -> list[str]:
    rows = []
    for method, backbone, crops in (("swav", "resnet50", "swav"), ("dino", "vit_s16", "dino")):
        extra = [
            f"pretrain.{crops}.crops.global_size=224",
            f"pretrain.{crops}.crops.local_size=96",
            "pretrain.data.size=64",
            "pretrain.num_workers=8",
        ]
        engine = make_engine(tmp, method, backbone, 64, 10**6, extra)
        views = fixed_views(engine)
        model = engine._model()
        result = TrainResult(0, 0)
        for _ in range(3):
            engine._train_step(model, itertools.repeat({"views": views}), result)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(steps):
            engine._train_step(model, itertools.repeat({"views": views}), result)
        torch.cuda.synchronize()
        rate = 64 * steps / (time.perf_counter() - t0)
        ref = "about 100 (official SwAV, V100)" if method == "swav" else "about 106 (DINO, per GPU)"
        local = engine.method.params.crops.local_count
        rows.append(f"| {method} {backbone}, 2 global + {local} local crops | {rate:.0f} | {ref} |")
    return rows


def load_note() -> str:
    """The 1-minute load average: on a shared machine it says how much the timings can be trusted."""
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end of the run"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--overhead-steps", type=int, default=30)
    ap.add_argument("--faces", type=int, default=400)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        synth(tmp / "synth", args.faces)
        bare, eng = overhead(tmp, args.overhead_steps)
        rates = {m: throughput(tmp, m, "resnet_tiny", 32, args.steps, SMALL) for m in METHODS}
        gpu = gpu_rows(tmp, args.steps) if torch.cuda.is_available() else []
    lines = [
        "## Pre-training (`bench/bench_pretrain.py`)",
        "",
        f"CPU, {os.cpu_count()} cores shared with other jobs, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads. Engine overhead: BYOL on `resnet_tiny`, batch 32 at 64 px, "
        f"fixed views (no data loading), median of {args.overhead_steps} steps, alternating step by step.",
        f"({load_note()}; both loops share one model, optimiser and channels-last batch.)",
        "",
        "| optimiser step | s/step | ratio |",
        "|---|---|---|",
        f"| bare PyTorch loop (baseline) | {bare:.3f} | 1.00 |",
        f"| facerep engine | {eng:.3f} | {eng / bare:.2f} (target <= 1.05) |",
        "",
        f"Images/s per method, full `Engine.fit` on SynthFaces 64 px (data loading and augmentation "
        f"included, 1 data worker), `resnet_tiny`, batch 32, {args.steps} steps; 2 global views of 64 px, "
        "SwAV and DINO with 2 local views of 32 px (the defaults have 6 and 8), MoCo queue 4096:",
        "",
        "| method | images/s |",
        "|---|---|",
        *[f"| {m} | {r:.1f} |" for m, r in rates.items()],
        "",
    ]
    if gpu:
        lines += [
            "One GPU, bf16 autocast, channels-last, batch 64, fixed views:",
            "",
            "| run | images/s | public reference |",
            "|---|---|---|",
            *gpu,
            "",
        ]
    else:
        lines += [
            "GPU throughput (SwAV ResNet-50 multi-crop, DINO ViT-S/16 beside the public ~100 and ~106 "
            "images/s per GPU): not measured, no GPU was lent to this run; the script measures it "
            "when CUDA is available.",
            "",
        ]
    out = ROOT / "bench" / "results" / "pretrain.md"
    out.write_text("\n".join(lines))
    print(out.read_text())


if __name__ == "__main__":
    main()
