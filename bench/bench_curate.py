"""Curate benchmarks: face embedding rates (dlib; ArcFace stand-ins through onnxruntime) and the stage.

No ArcFace weights ship offline (OFFLINE.md), so the ArcFace path is timed with networks exported
from torch here: a tiny one (the cost of alignment, batching and onnxruntime around the model) and
a ResNet-50 trunk at 112 px (torchvision layout, random weights, 512-D output; about 1.1 GMACs,
below the 6.3 G that insightface lists for its iresnet50, so the real model is slower). Each rate is
compared with embedding the same faces one at a time in the same run. Writes
`bench/results/curate.md`.

    .venv/bin/python bench/bench_curate.py
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch
import torchvision

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "curate"))

from curate_data import face_row, write_detect_output  # noqa: E402
from curate_photos import photo_faces  # noqa: E402

from facerep.curate.embedders import ArcFaceOnnx, DlibDescriptor, Embedder  # noqa: E402
from facerep.curate.scoring import global_features  # noqa: E402
from facerep.curate.stage import run  # noqa: E402
from facerep.params import load_params  # noqa: E402
from facerep.tracking import Tracker  # noqa: E402


def export(net: torch.nn.Module, path: Path) -> Path:
    torch.onnx.export(
        net.eval(),
        (torch.zeros(1, 3, 112, 112),),
        str(path),
        input_names=["data"],
        output_names=["fc1"],
        dynamic_axes={"data": {0: "batch"}, "fc1": {0: "batch"}},
        dynamo=False,
    )
    return path


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


def rates(embedder: Embedder, crops: list[np.ndarray], landmarks: list[np.ndarray]) -> tuple[float, float]:
    """(batched faces/s, one-at-a-time faces/s) for global embeddings of aligned faces."""
    global_features(embedder, crops[:2], landmarks[:2])
    start = time.perf_counter()
    global_features(embedder, crops, landmarks)
    batched = len(crops) / (time.perf_counter() - start)
    start = time.perf_counter()
    for c, lm in zip(crops, landmarks, strict=True):
        global_features(embedder, [c], [lm])
    single = len(crops) / (time.perf_counter() - start)
    return batched, single


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--faces", type=int, default=64)
    ap.add_argument("--stage-faces", type=int, default=8, help="at most 8: the distinct real faces")
    args = ap.parse_args()
    load_start = os.getloadavg()[0]
    photos = photo_faces()
    crops = [photos[i % len(photos)].crop for i in range(args.faces)]
    landmarks = [photos[i % len(photos)].landmarks5 for i in range(args.faces)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows.append(("dlib ResNet descriptor (128-D, 150 px)", *rates(DlibDescriptor(), crops, landmarks)))
        torch.manual_seed(0)
        for name, net in (
            ("ArcFace stand-in, tiny (64-D)", tiny()),
            ("ArcFace stand-in, ResNet-50 trunk", r50()),
        ):
            emb = ArcFaceOnnx(str(export(net, work / f"{len(rows)}.onnx")), batch_size=32)
            rows.append((f"{name} ({', '.join(emb.providers)})", *rates(emb, crops, landmarks)))

        stage_faces = min(args.stage_faces, len(photos))  # repeats would be removed as duplicates
        write_detect_output(work, [face_row(photos[i], f"f{i:04d}") for i in range(stage_faces)])
        sets = [f"paths.{k}={work / k}" for k in ("raw", "faces", "curated")]
        params = load_params(None, [*sets, "tracking.enabled=false"])
        start = time.perf_counter()
        run(params, Tracker(None))
        stage_rate = stage_faces / (time.perf_counter() - start)

    load = f"load average {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    lines = [
        "## Curate (`bench/bench_curate.py`)",
        "",
        f"Global embeddings of {args.faces} aligned faces from real photos, CPU only, {os.cpu_count()} "
        f"cores shared with other jobs ({load}; onnxruntime {onnxruntime.__version__}; no GPU lent to "
        "this run). Baseline: the same faces embedded one at a time.",
        "",
        "| embedder | faces/s batched | faces/s one by one | ratio |",
        "|---|---|---|---|",
        *[f"| {name} | {b:.1f} | {s:.1f} | {b / s:.2f} |" for name, b, s in rows],
        "",
        "Whole curate stage (dlib, 16 candidate local crops per face, in-place mode): "
        f"{stage_rate:.2f} faces/s on {stage_faces} distinct faces (17 embeddings each: 1 global, 16 local).",
        "",
    ]
    out = ROOT / "bench" / "results" / "curate.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
