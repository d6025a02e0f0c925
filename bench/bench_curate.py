"""Curate benchmarks -> bench/results/curate.md.

1. The stage against the previous one, on the same faces in the same run. The faces are SynthFaces
   scenes and talking-head video frames through the synth, harvest and detect stages (the demo's
   mix, fewer of them). The previous stage is today's code with parameters that restore its work:
   dlib's own runtime (`curate.dlib.runtime=dlib`, one `compute_face_descriptor` call per batch of
   32 chips, single-threaded), one worker, local candidates in float32. Both embed the same chips (1
   global + `candidates` local per kept face), so faces per second compare the whole stage, model
   loading included. Rounds alternate the two so load from other processes hits both alike; the
   ratio is the median of the per-round ratios. CPU ms per face (process user + system time) is the
   work each does: on a saturated machine wall-clock ratios tend to the ratio of CPU times.
2. Embedding rates of one core: global embeddings of aligned real faces, batched against one at a
   time (dlib's runtime, dlib's network on torch in float32 and bfloat16, and ArcFace stand-ins
   through onnxruntime). No ArcFace weights ship offline (OFFLINE.md), so the ArcFace path is timed
   with networks exported from torch here: a tiny one (the cost of alignment, batching and
   onnxruntime around the model) and a ResNet-50 trunk at 112 px (torchvision layout, random weights,
   512-D output; about 1.1 GMACs, below the 6.3 G that insightface lists for its iresnet50).

    .venv/bin/python bench/bench_curate.py [--faces 150] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
import pandas as pd
import torch
import torchvision

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "curate"))

from curate_photos import photo_faces  # noqa: E402

from facerep.curate.embedders import ArcFaceOnnx, DlibDescriptor, Embedder, export_arcface_onnx  # noqa: E402
from facerep.curate.passes import one_thread_per_op  # noqa: E402
from facerep.curate.scoring import global_chip  # noqa: E402
from facerep.curate.stage import run  # noqa: E402
from facerep.params import load_params  # noqa: E402
from facerep.stages import run_stage  # noqa: E402
from facerep.tracking import Tracker  # noqa: E402

PREVIOUS = [
    "curate.dlib.runtime=dlib",
    "curate.workers=1",
    "curate.dlib.batch_size=32",
    "curate.local.bf16=false",
]
DATA = ["synth.faces=0", "synth.scenes=60", "synth.videos=6"]


def detected_faces(work: Path, count: int) -> Path:
    """`count` faces (seeded sample, scenes and video frames alike) in the detect stage's format."""
    sets = [f"paths.{k}={work / k}" for k in ("synth", "raw", "faces")]
    params = load_params(None, [*sets, *DATA, "tracking.enabled=false"])
    for stage in ("synth", "harvest", "detect"):
        run_stage(stage, params)
    faces = pd.read_parquet(work / "faces" / "faces.parquet")
    if len(faces) < count:
        raise SystemExit(f"only {len(faces)} faces detected; ask for fewer with --faces")
    subset = work / "subset"
    subset.mkdir()
    (subset / "crops").symlink_to(work / "faces" / "crops")
    faces.sample(count, random_state=0).to_parquet(subset / "faces.parquet", index=False)
    return subset


def timed_stage(faces: Path, raw: Path, out: Path, overrides: list[str]) -> tuple[float, float, dict]:
    """(wall s, CPU s, metrics) of one curate run from an empty output folder."""
    sets = [f"paths.faces={faces}", f"paths.raw={raw}", f"paths.curated={out}", "tracking.enabled=false"]
    params = load_params(None, [*sets, *overrides])
    cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    result = run(params, Tracker(None))
    cpu1, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - wall0
    return wall, (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime), result.metrics


def stage_rows(work: Path, count: int, rounds: int) -> tuple[list[str], dict]:
    faces = detected_faces(work, count)
    runs: dict[str, list[tuple[float, float]]] = {"previous": [], "today": []}
    metrics: dict[str, dict] = {}
    for r in range(rounds):
        for name, overrides in (("previous", PREVIOUS), ("today", [])):
            wall, cpu, metrics[name] = timed_stage(
                faces, work / "raw", work / f"curated-{name}-{r}", overrides
            )
            runs[name].append((wall, cpu))
            print(f"round {r} {name}: {count / wall:.2f} faces/s, {1000 * cpu / count:.0f} CPU ms/face")
    ratios = [p[0] / t[0] for p, t in zip(runs["previous"], runs["today"], strict=True)]
    lines = []
    for name, label in (
        ("previous", "previous stage (dlib runtime, one worker)"),
        ("today", "today's stage"),
    ):
        rates = [count / w for w, _ in runs[name]]
        cpu_ms = statistics.median(1000 * c / count for _, c in runs[name])
        ratio = 1.0 if name == "previous" else statistics.median(ratios)
        lines.append(
            f"| {label} | {', '.join(f'{x:.2f}' for x in rates)} | {statistics.median(rates):.2f} "
            f"| {cpu_ms:.0f} | **{ratio:.1f}x** |"
        )
    keep = [pd.read_parquet(work / f"curated-{name}-0" / "curated.parquet")["keep"] for name in runs]
    return lines, {"kept": metrics["today"]["kept"], "same_kept": keep[0].equals(keep[1])}


def tiny() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 5, stride=4),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(8 * 27 * 27, 64),
    )


def r50() -> torch.nn.Module:
    net = torchvision.models.resnet50(weights=None)
    net.fc = torch.nn.Linear(2048, 512)
    return net


def rates(embedder: Embedder, chips: list[np.ndarray], bf16: bool = False) -> tuple[float, float]:
    """(batched faces/s, one-at-a-time faces/s) embedding aligned chips."""
    embedder.embed(chips[:2], bf16)
    start = time.perf_counter()
    embedder.embed(chips, bf16)
    batched = len(chips) / (time.perf_counter() - start)
    start = time.perf_counter()
    for chip in chips:
        embedder.embed([chip], bf16)
    return batched, len(chips) / (time.perf_counter() - start)


def embedding_rows(work: Path, count: int) -> list[str]:
    photos = photo_faces()
    crops = [photos[i % len(photos)] for i in range(count)]
    rows = []
    with one_thread_per_op():
        for name, emb, bf16 in (
            ("dlib ResNet descriptor, dlib's runtime (one core)", DlibDescriptor(runtime="dlib"), False),
            ("dlib ResNet descriptor on torch, float32 (one core)", DlibDescriptor(), False),
            ("dlib ResNet descriptor on torch, bfloat16 (one core)", DlibDescriptor(), True),
        ):
            if bf16 and not emb.bf16:
                continue  # no native bfloat16 on this CPU: the stage computes float32
            chips = [global_chip(emb, f.crop, f.landmarks5) for f in crops]
            rows.append((name, *rates(emb, chips, bf16)))
    torch.manual_seed(0)
    for name, net in (
        ("ArcFace stand-in, tiny (64-D)", tiny()),
        ("ArcFace stand-in, ResNet-50 trunk", r50()),
    ):
        emb = ArcFaceOnnx(str(export_arcface_onnx(net, work / f"{len(rows)}.onnx")), batch_size=32)
        chips = [global_chip(emb, f.crop, f.landmarks5) for f in crops]
        rows.append((f"{name} ({', '.join(emb.providers)}, default threads)", *rates(emb, chips)))
    return [f"| {name} | {b:.1f} | {s:.1f} | {b / s:.2f} |" for name, b, s in rows]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--faces", type=int, default=150, help="detected faces the two stages curate")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--embed-faces", type=int, default=64)
    args = ap.parse_args()
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        stage, summary = stage_rows(work, args.faces, args.rounds)
        embedding = embedding_rows(work, args.embed_faces)
    load = f"1-minute load average {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    lines = [
        "## Curate (`bench/bench_curate.py`)",
        "",
        f"`python bench/bench_curate.py --faces {args.faces} --rounds {args.rounds}` on {os.cpu_count()} CPU "
        f"cores shared with other jobs ({load}); no GPU. torch {torch.__version__}, onnxruntime "
        f"{onnxruntime.__version__}.",
        "",
        f"### The stage against the previous one ({args.faces} SynthFaces faces, scenes and video frames)",
        "",
        "| stage | faces/s per round | median faces/s | CPU ms per face | ratio to previous |",
        "|---|---|---|---|---|",
        *stage,
        "",
        f"Both embed 1 global chip per face and {load_params(None, []).curate.local.candidates} local "
        f"candidates per kept face ({summary['kept']:.0f} kept; "
        f"the same kept faces in both: {'yes' if summary['same_kept'] else 'no'}). The previous stage is "
        f"today's code with `{' '.join(PREVIOUS)}`: dlib's own runtime, which this project's dlib wheel "
        "runs without BLAS at about 0.1 s per chip; today's stage runs dlib's network and weights on "
        "torch (`facerep/curate/dlib_resnet.py`), candidates in bfloat16 where the CPU has it natively, "
        "in 2 worker threads of one core each. Target: at least 10x.",
        "",
        f"### Embedding rates ({args.embed_faces} aligned real faces)",
        "",
        "| embedder | faces/s batched | faces/s one by one | ratio |",
        "|---|---|---|---|",
        *embedding,
        "",
    ]
    out = ROOT / "bench" / "results" / "curate.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
