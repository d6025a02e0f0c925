"""Point 7 of the finetune issue: does SSL pre-training beat scratch at 2% labels on SynthFaces?

One command, run outside CI (docs/finetune.md, "The SynthFaces benchmark"):

    .venv/bin/python bench/bench_finetune_synth.py --workdir /tmp/facerep_bench_finetune

1. `facerep synth`: 10,000 face-centred SynthFaces crops at 96 px (500 people), the 80/20 split.
2. `facerep pretrain`: SwAV (Bulat et al.) and one face method (ProS by default) on the 8,000
   training faces, without labels, on `resnet18_half` (a ResNet-18 at half width with the
   stride-4 stem), 96 px global and 48 px local views, no horizontal flip (it would erase the sign
   of yaw and roll: ../shared/SSL_TRIAL.md).
3. `facerep finetune`: every task at 2% (5 seeds) and 100% (2 seeds). Scratch trains the whole
   network; a pre-trained backbone is probed frozen (`backbone_lr_mult: [0.0]`), the cheapest way
   to ask what the representation already holds. The learning rate is a fixed 1e-2 (AdamW) for
   every point rather than searched: at 2% the validation part holds 32 faces, and a pick on so few
   is as noisy as the effect (../shared/SSL_TRIAL.md); a two-point search costs 40% more time.
4. `facerep report`, then `bench/results/finetune.md`: per task and regime each pre-trained init
   against scratch with the 2-std verdict, chance (the best constant predictor) beside scratch at
   100% (is every task learned?), whether the finding holds (a pre-trained init beats scratch at 2%
   by more than two standard deviations on at least 5 of the 7 tasks), and the wall time of each
   step against the 90-minute budget.

Every stage is resumable, so an interrupted run continues where it stopped; `--stages` runs a part.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from facerep.downstream.datasets import load_dataset
from facerep.downstream.tasks import make_task
from facerep.params import load_params
from facerep.stages import run_stage

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("synth", "pretrain", "finetune", "report")


def common(work: Path) -> list[str]:
    return [
        f"paths.synth={work / 'synth'}",
        f"paths.models={work / 'models'}",
        f"paths.results={work / 'results'}",
        f"tracking.uri=sqlite:///{work / 'mlflow.db'}",
    ]


def inits(args: argparse.Namespace) -> list[str]:
    return (
        args.inits.split(",") if args.inits else ["scratch", "pretrain:swav", f"pretrain:{args.face_method}"]
    )


def stage_settings(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """(stage, its --set overrides) in run order."""
    pretrain = [
        "pretrain.backbone=resnet18_half",
        "pretrain.data.size=96",
        f"pretrain.batch_size={args.pretrain_batch}",
        f"pretrain.max_steps={args.pretrain_steps}",
        "pretrain.checkpoint_every=100",
    ]
    methods = [
        ("swav", ["pretrain.swav.prototypes=300"]),
        (args.face_method, []),
    ]
    out: list[tuple[str, list[str]]] = [
        (
            "synth",
            [
                f"synth.faces={args.faces}",
                "synth.scenes=0",
                "synth.videos=0",
                f"synth.identities={args.faces // 20}",
                "synth.sizes=[96]",
            ],
        )
    ]
    for method, extra in methods:
        views = [f"pretrain.{method}.crops.global_size=96", f"pretrain.{method}.crops.local_size=48"]
        out.append(("pretrain", [*pretrain, f"pretrain.method={method}", *views, *extra]))
    out.append(
        (
            "finetune",
            [
                "finetune.mode=finetune",
                "finetune.backbone=resnet18_half",
                "finetune.image_size=96",
                f"finetune.regimes=[{args.regimes}]",
                "finetune.seeds=2",
                f"finetune.seeds_by_regime={{0.02: {args.seeds}}}",
                f"finetune.inits=[{', '.join(repr(i) for i in inits(args))}]",
                "finetune.max_train=null",
                "finetune.max_test=1000",
                "finetune.heatmap_width=128",
                "finetune.search.lr=[0.01]",
                f"finetune.search.steps=[{args.steps}]",
                f"finetune.search.steps_by_regime={{1.0: [{args.steps_full}]}}",
                "finetune.search.backbone_lr_mult=[0.0]",
            ],
        )
    )
    out.append(("report", []))
    return out


def chance(work: Path, tasks: list[str]) -> dict[str, float]:
    """The primary metric of the best constant prediction fitted on the training labels (majority
    class, per-attribute majority, mean landmarks, AU intensities, pose and valence/arousal), on the
    test split: the floor a task that is learned at all must clear. Recognition's floor is 0.5
    (balanced verification pairs); a constant valence/arousal has CCC 0."""
    data = load_dataset("synthfaces", work / "synth", 8, None, 1000)
    train, n = data.train.labels, len(data.test)

    def majority(labels: np.ndarray, classes: int) -> torch.Tensor:
        return torch.nn.functional.one_hot(torch.tensor(np.bincount(labels).argmax()), classes).float()

    constant = {
        "expression": majority(train["expression"], 7),
        "attributes": torch.tensor(train["attributes"].mean(0) > 0.5).float() * 20 - 10,
        "landmarks": torch.tensor(train["landmarks"].mean(0)),
        "au": torch.tensor(train["au"].mean(0)),
        "pose": torch.tensor(train["pose"].mean(0)),
        "valence_arousal": torch.cat(
            [torch.tensor(train["valence_arousal"].mean(0)), majority(train["expression"], 7)]
        ),
    }
    out = {"recognition": 0.5}
    for name in tasks:
        if name in constant:
            task = make_task(name)
            pred = constant[name].expand(n, *constant[name].shape).clone()
            out[name] = task.evaluate(pred, data.test, data)[task.primary]
    return out


def verdict_table(summary: pd.DataFrame, floor: dict[str, float]) -> tuple[str, dict[str, set[str]]]:
    """Markdown rows per (task, regime, init) and, per pre-trained init, the tasks it wins at 2%."""
    prim = summary[summary.primary]
    rows, wins = [], {}
    for (task, regime), part in prim.groupby(["task", "regime"]):
        if not (part.init == "scratch").any():
            continue  # a regime scratch has not reached (a partial run): no verdict
        base = part[part.init == "scratch"].iloc[0]
        sign = 1 if base.higher_is_better else -1
        for r in part[part.init != "scratch"].itertuples():
            gap = sign * (r.mean - base["mean"])
            bar = 2 * max(r.std, base["std"])
            sig = gap > bar
            wins.setdefault(r.init, set())
            if sig and regime <= 0.02:
                wins[r.init].add(task)
            rows.append(
                f"| {task} ({base.metric}) | {regime:g} | {r.init} | {r.mean:.4f} ± {r.std:.4f} | "
                f"{base['mean']:.4f} ± {base['std']:.4f} | {floor.get(task, np.nan):.4f} | "
                f"{gap:+.4f} | {bar:.4f} | {'**yes**' if sig else 'no'} |"
            )
    head = (
        "| task (metric) | regime | init | init: mean ± std | scratch: mean ± std | chance "
        "| gap (better +) | 2 std | beats scratch |\n"
    )
    return head + "|---" * 9 + "|\n" + "\n".join(rows) + "\n", wins


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=90.0, help="the documented budget")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/facerep_bench_finetune"))
    ap.add_argument("--stages", default=",".join(STAGES), help="comma-separated subset of the steps")
    ap.add_argument("--faces", type=int, default=10000)
    ap.add_argument("--seeds", type=int, default=5, help="seeds at 2%% (100%%: 2)")
    ap.add_argument("--steps", type=int, default=100, help="training steps at 2%%")
    ap.add_argument("--steps-full", type=int, default=500, help="training steps at 100%%")
    ap.add_argument("--pretrain-steps", type=int, default=300)
    ap.add_argument("--pretrain-batch", type=int, default=64)
    ap.add_argument("--face-method", default="pros")
    ap.add_argument("--inits", default="", help="finetune only these inits (comma-separated); default all")
    ap.add_argument("--regimes", default="0.02, 1.0", help="label fractions (comma-separated)")
    args = ap.parse_args()
    chosen = set(args.stages.split(","))
    timing_file = args.workdir / "timings.json"
    timings = json.loads(timing_file.read_text()) if timing_file.is_file() else {}
    for stage, sets in stage_settings(args):
        if stage not in chosen:
            continue
        t0 = time.perf_counter()
        run_stage(stage, load_params(None, [*common(args.workdir), *sets]))
        method = [v.split("=")[1] for v in sets if v.startswith("pretrain.method=")]
        label = " ".join([stage, *method])
        label += f" ({args.inits})" if stage == "finetune" and args.inits else ""
        timings[label] = timings.get(label, 0.0) + (time.perf_counter() - t0) / 60  # resumed: adds up
        timing_file.write_text(json.dumps(timings, indent=1))
    if "report" not in chosen:
        return
    summary = pd.read_csv(args.workdir / "results" / "summary.csv")
    floor = chance(args.workdir, sorted(summary.task.unique()))
    table, wins = verdict_table(summary, floor)
    best = max(wins.values(), key=len) if wins else set()
    face_wins = len(wins.get(f"pretrain:{args.face_method}", set()))
    swav_wins = len(wins.get("pretrain:swav", set()))
    holds = swav_wins >= 5 and face_wins >= 5
    total = sum(timings.values())
    lines = [
        "## finetune: the few-shot finding on SynthFaces (issue 8, point 7)\n",
        f"`python bench/bench_finetune_synth.py`: {args.faces} SynthFaces face crops at 96 px "
        f"({args.faces // 20} people, 80/20 split), `resnet18_half`; SwAV and {args.face_method} "
        f"pre-trained for {args.pretrain_steps} steps of {args.pretrain_batch} images on the training "
        f"faces; scratch trained end to end, pre-trained backbones probed frozen; {args.seeds} seeds "
        f"at 2% ({args.steps} steps), 2 at 100% ({args.steps_full} steps); AdamW, learning rate 1e-2, "
        "batch 32. 2 CPU cores, no GPU.\n",
        f"Wall time: **{total:.1f} min** (budget {args.minutes:g}): "
        + ", ".join(f"{k} {v:.1f}" for k, v in timings.items())
        + ".\n",
        f"Tasks where the init beats scratch at 2% by more than 2 std: SwAV {swav_wins} of 7, "
        f"{args.face_method} {face_wins} of 7 ({', '.join(sorted(best)) or 'none'} for the best). "
        f"The finding (both at least 5 of 7) **{'holds' if holds else 'does not hold'}** in this run.\n",
        table,
    ]
    out = ROOT / "bench" / "results" / "finetune.md"
    out.write_text("\n".join(lines))
    print(out.read_text())


if __name__ == "__main__":
    main()
