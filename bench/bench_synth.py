"""SynthFaces rendering speed: faces per second per core at 64 and 112 px, scenes, video frames.

Rates are items per CPU-second of one process (`time.process_time`), so they are per core and
insensitive to other jobs queueing on the machine; the best of `--rounds` rounds is kept. The
baseline, measured in the same run, renders the same faces 4x supersampled and area-resamples them
(the usual anti-aliasing of a procedural renderer). `--acceptance` also times the whole stage
(`facerep synth` with 10,000 faces, 200 scenes and 20 ten-second clips, wall clock, 2 workers).

    python bench/bench_synth.py [--faces 300] [--rounds 3] [--acceptance]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from facerep.params import load_params
from facerep.synth.faces import render_face
from facerep.synth.sample import sample_face
from facerep.synth.scenes import render_scene, scene_bytes
from facerep.synth.stage import face_unit
from facerep.synth.videos import encode_mp4, render_clip

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "synth.md"


SETUP = [
    "Rates are items per CPU-second of one process (per core), best of the rounds; a face includes",
    "sampling its parameters, rendering, blur/noise/JPEG degradation. Baseline, measured in the same",
    "run: the same faces rendered 4x supersampled and area-resampled (the usual way to anti-alias a",
    "procedural renderer); SynthFaces instead draws sub-pixel anti-aliased shapes at the target size.",
    "For orientation, the PIL prototype of SSL_TRIAL.md rendered 45 faces/s.",
]


def supersampled_face(index: int, size: int) -> np.ndarray:
    """The baseline: the usual way to anti-alias a procedural renderer, render 4x larger and
    area-resample down, instead of drawing sub-pixel anti-aliased shapes at the target size."""
    img, _ = render_face(sample_face(0, index, 1000), 4 * size)
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def per_cpu_second(fn: Callable[[int], object], n: int, rounds: int) -> float:
    """Best items per CPU-second over `rounds` rounds of `n` calls fn(i) with fresh indices."""
    best = 0.0
    for r in range(rounds):
        start = time.process_time()
        for i in range(n):
            fn(r * n + i)
        best = max(best, n / (time.process_time() - start))
    return best


def acceptance_run() -> tuple[float, float, int]:
    """Wall-clock seconds, CPU seconds (the command and its render processes) and exit status of the
    issue's acceptance configuration of `facerep synth`."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "facerep",
            "synth",
            "--set",
            f"paths.synth={tmp}/synth",
            "--set",
            "synth.faces=10000",
            "--set",
            "synth.scenes=200",
            "--set",
            "synth.videos=20",
            "--set",
            "tracking.enabled=false",
        ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return wall, cpu, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=int, default=300)
    ap.add_argument("--scenes", type=int, default=20)
    ap.add_argument("--video-seconds", type=float, default=4.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--acceptance", action="store_true", help="also time the 10k/200/20 stage run")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    base64 = per_cpu_second(lambda i: supersampled_face(i, 64), max(args.faces // 4, 10), args.rounds)
    r64 = per_cpu_second(lambda i: render_face(sample_face(0, i, 1000), 64), args.faces, args.rounds)
    r112 = per_cpu_second(lambda i: render_face(sample_face(0, i, 1000), 112), args.faces, args.rounds)
    params = load_params(None, ["tracking.enabled=false"])
    with tempfile.TemporaryDirectory() as tmp:
        chunk = 50
        stage_rate = per_cpu_second(
            lambda i: face_unit(tmp, 0, params.synth, i * chunk, (i + 1) * chunk), 2, 1
        )
        stage_rate *= chunk
    sp = params.synth
    scenes = per_cpu_second(
        lambda i: scene_bytes(render_scene(0, i, 1000, sp.scene_size, sp.scene_face_px, sp.scene_max_faces)),
        args.scenes,
        1,
    )
    start = time.process_time()
    clip = render_clip(0, 0, 1000, args.video_seconds, sp.video_fps, sp.video_size)
    render_fps = len(clip.frames) / (time.process_time() - start)
    start = time.process_time()
    encode_mp4(clip.frames, sp.video_fps)
    encode_fps = len(clip.frames) / (time.process_time() - start)
    rows = [
        ("baseline: SynthFaces face rendered at 256 px, area-resampled to 64 px", base64, 1.0),
        ("SynthFaces face, 64 px", r64, r64 / base64),
        ("SynthFaces face, 112 px", r112, r112 / base64),
        (
            "stage face unit: 112 px render + 64 px area resample, both degraded, 2 PNGs",
            stage_rate,
            stage_rate / base64,
        ),
    ]
    command = f"`python bench/bench_synth.py --faces {args.faces} --rounds {args.rounds}"
    command += (" --acceptance`" if args.acceptance else "`") + f" on {os.cpu_count()} CPU cores"
    command += f" ({platform.machine()}), no GPU, shared with other jobs."
    lines = [
        "## SynthFaces rendering (`bench/bench_synth.py`)",
        "",
        " ".join([command, *SETUP]),
        "",
        "| what | per core per s | ratio to baseline |",
        "|---|---|---|",
        *(f"| {name} | {rate:.0f} faces | {ratio:.2f}x |" for name, rate, ratio in rows),
        f"| scene photos 320-1024 px with 0-6 faces, JPEG | {scenes:.1f} scenes | |",
        f"| talking-head frames, {sp.video_size} px (render) | {render_fps:.0f} frames | |",
        f"| talking-head frames, H.264 encode (PyAV, 1 thread) | {encode_fps:.0f} frames | |",
        "",
        f"Target: >= 300 faces/s per core at 64 px. Measured: **{r64:.0f}**. At the stage's rate "
        f"({stage_rate:.0f} faces with both sizes per core-second) 10,000 faces take "
        f"{10000 / stage_rate / 2:.0f} s of wall time on 2 idle cores.",
    ]
    if args.acceptance:
        wall, cpu, rc = acceptance_run()
        lines += [
            "",
            "Acceptance: `facerep synth --set synth.faces=10000 synth.scenes=200 synth.videos=20` "
            f"(ten-second clips, 2 workers) finished in **{wall:.0f} s** wall clock (exit {rc}; "
            f"target < 180 s) on the shared machine, using {cpu:.0f} CPU-seconds in all: "
            f"**{cpu / 2:.0f} s** of wall time on 2 idle cores.",
        ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
