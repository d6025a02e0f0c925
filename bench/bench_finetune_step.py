"""Fine-tuning step time: channels-last activations against PyTorch's default contiguous layout.

`facerep.downstream` feeds channels-last images (`normalise`) to a channels-last copy of the backbone
(`fit`), as the pretrain stage does by default. This measures what that buys on the few-shot
benchmark's setting: `resnet18_half` at 96 px, batch 32, AdamW, one optimiser step (forward,
backward, update) with a linear head on the pooled features (expression) and with the landmark
heatmap head on the feature pyramid (the heaviest head). The two layouts alternate step by step on
the same batch; medians. Writes `bench/results/finetune_step.md`.

    .venv/bin/python bench/bench_finetune_step.py [--steps 30]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from facerep.downstream.data import normalise
from facerep.downstream.datasets import load_dataset
from facerep.downstream.heads import extract
from facerep.downstream.tasks import make_task
from facerep.downstream.train import HParams, build_head
from facerep.params import load_params
from facerep.ssl.backbones import build_backbone
from facerep.stages import run_stage

ROOT = Path(__file__).resolve().parent.parent
LAYOUTS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}


def synth_faces(root: Path, size: int) -> Path:
    """A small SynthFaces set of face crops at `size` px (the synth stage; skipped when present)."""
    sets = [f"paths.synth={root}", "synth.faces=200", "synth.scenes=0", "synth.videos=0"]
    run_stage("synth", load_params(None, [*sets, "synth.identities=10", f"synth.sizes=[{size}]"]))
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30, help="measured steps per layout (after 5 warm-up)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--synth", type=Path, default=Path(tempfile.gettempdir()) / "facerep_bench_step_synth")
    args = ap.parse_args()
    data = load_dataset("synthfaces", synth_faces(args.synth, args.size), args.size, args.batch, args.batch)
    split = data.train
    rows = []
    for task_name in ("expression", "landmarks"):
        task = make_task(task_name)
        y = task.targets(split)
        models = {}
        for name, layout in LAYOUTS.items():
            torch.manual_seed(0)
            net = build_backbone("resnet18_half").to(memory_format=layout)
            head, opt, _ = build_head(
                task,
                net,
                data,
                split,
                HParams(1e-2, 100, 1.0),
                train_backbone=True,
                seed=0,
                weight_decay=1e-4,
            )
            images = torch.stack([split.images[i] for i in range(len(split))])
            x = normalise(images).contiguous(memory_format=layout)
            models[name] = (net, head, opt, x)
        times: dict[str, list[float]] = {name: [] for name in LAYOUTS}
        for step in range(args.steps + 5):
            for name, (net, head, opt, x) in models.items():
                t0 = time.perf_counter()
                pooled, maps = extract(net, x, task.needs_maps)
                loss = task.loss(head(pooled, maps), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if step >= 5:
                    times[name].append(time.perf_counter() - t0)
        med = {name: statistics.median(t) for name, t in times.items()}
        rows.append((task_name, med["contiguous"], med["channels_last"]))
    lines = [
        "## finetune_step: fine-tuning step time by memory layout\n",
        f"`python bench/bench_finetune_step.py`: `resnet18_half`, {args.size} px, batch {args.batch}, AdamW; "
        f"median of {args.steps} alternating steps (forward, backward, update) per layout; "
        f"{torch.get_num_threads()} CPU threads.\n",
        "| head | contiguous s/step | channels-last s/step | speed-up |",
        "|---|---|---|---|",
        *[f"| {t} | {a:.3f} | {b:.3f} | {a / b:.2f}x |" for t, a, b in rows],
    ]
    text = "\n".join(lines) + "\n"
    (ROOT / "bench" / "results" / "finetune_step.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
