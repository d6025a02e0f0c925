"""Benchmark of memory at scale: peak RSS of `facerep harvest` and `facerep detect` against the
number of images -> bench/results/memory.md (issue 26, point 1: "bounded memory").

A folder of N small JPEGs (64x64 crops of skimage's astronaut photo at 64 offsets and mirrorings,
each file made unique by a trailer after the JPEG end marker, so every file has its own sha256 and
none is a content duplicate) is harvested with the folder source and then detected, each stage in a
fresh `python -m facerep` process, so the peak resident set size (ru_maxrss from wait4) is that
run's alone. The larger folder hard-links the smaller one's files and adds its own.

Detection is made cheap, not skipped: RetinaFace MobileNet-0.25 (ONNX, the offline default) at
`detect.input_size=64` finds the one face of each image; crops are 64 px. Everything else is the
shipped stages with their defaults.

Target: peak RSS of the largest run at most 1.3x that of the smallest, for each stage.

Usage: python bench/bench_memory.py [--sizes 20000,200000] [--work DIR] [--keep]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
PER_DIR = 1000  # files per sub-directory of the generated folder
TARGET = 1.3
DETECT_SETS = [
    "detect.backend=retinaface_mobile",
    "detect.input_size=64",
    "detect.batch_size=32",
    "detect.crop.size=64",
    "detect.crop.face_px=48",
]


def image_pool() -> list[bytes]:
    """64 distinct 64x64 JPEGs of a face (astronaut crops at shifted offsets, half mirrored)."""
    from skimage import data

    photo = data.astronaut()
    pool = []
    for k in range(64):
        dx, dy = 4 * (k % 8), 3 * (k // 8)
        crop = photo[20 + dy : 260 + dy, 110 + dx : 350 + dx]
        image = Image.fromarray(crop[:, ::-1] if k % 2 else crop).resize((64, 64))
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=85)
        pool.append(buf.getvalue())
    return pool


def image_path(root: Path, i: int) -> Path:
    return root / f"d{i // PER_DIR:04d}" / f"img{i:07d}.jpg"


def make_folder(root: Path, n: int, pool: list[bytes], link_from: tuple[Path, int] | None) -> None:
    """`n` unique JPEGs under `root`; the first files hard-linked from an earlier folder when given."""
    linked = 0
    if link_from is not None:
        src, linked = link_from
        for i in range(linked):
            dst = image_path(root, i)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.link(image_path(src, i), dst)
    for i in range(linked, n):
        dst = image_path(root, i)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(pool[i % len(pool)] + b"facerep-bench-%d" % i)


def run_process(stage: str, sets: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB) of one `python -m facerep <stage>` process."""
    cmd = [sys.executable, "-m", "facerep", stage]
    for item in sets:
        cmd += ["--set", item]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()  # drained while it runs: a full pipe would block the stage
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"facerep {stage} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024  # Linux reports KiB


def baseline_rss() -> float:
    """Peak RSS in MiB of a process that only loads the parameters, as every stage process does first
    (it imports torch and the SSL registry): the part of a stage's peak that no row causes."""
    code = (
        "import resource; from facerep.params import load_params; "
        "load_params(None, ['tracking.enabled=false']); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="20000,200000", help="comma-separated image counts, ascending")
    ap.add_argument("--work", type=Path, default=None, help="scratch directory (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    work = Path(tempfile.mkdtemp(prefix="bench-memory-", dir=args.work))
    load_before = os.getloadavg()[0]
    pool = image_pool()
    results: list[tuple[int, str, float, float, int]] = []  # (n, stage, wall s, peak MiB, output rows)
    previous: tuple[Path, int] | None = None
    try:
        for n in sizes:
            folder, base = work / f"images-{n}", work / f"run-{n}"
            make_folder(folder, n, pool, previous)
            previous = (folder, n)
            common = [f"paths.raw={base / 'raw'}", f"paths.faces={base / 'faces'}", "tracking.enabled=false"]
            harvest = [*common, "harvest.sources=[folder]", f"harvest.folder.root={folder}"]
            for stage, sets, table in (
                ("harvest", harvest, base / "raw" / "manifest.parquet"),
                ("detect", [*common, *DETECT_SETS], base / "faces" / "faces.parquet"),
            ):
                wall, peak = run_process(stage, sets)
                rows = pq.ParquetFile(table).metadata.num_rows
                results.append((n, stage, wall, peak, rows))
                print(
                    f"{stage} n={n}: {wall:.1f} s, {n / wall:.0f} images/s, {rows} rows, peak {peak:.0f} MiB",
                    flush=True,
                )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    write_report(results, sizes, load_before, baseline_rss())


def write_report(
    results: list[tuple[int, str, float, float, int]], sizes: list[int], load_before: float, baseline: float
) -> None:
    peak = {(n, stage): p for n, stage, _, p, _ in results}
    lines = [
        "## Memory at scale (`bench/bench_memory.py`)",
        "",
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs; "
        "one fresh `python -m facerep` process per run (peak RSS = its ru_maxrss). Folder of unique "
        "64x64 JPEG faces; detect with RetinaFace MobileNet-0.25 ONNX at input_size 64, 64 px crops.",
        "",
        "| stage | images | output rows | wall s | images/s | peak RSS MiB |",
        "|---|---|---|---|---|---|",
    ]
    for n, stage, wall, p, rows in results:
        lines.append(f"| {stage} | {n:,} | {rows:,} | {wall:.1f} | {n / wall:.0f} | {p:.0f} |")
    lo, hi = sizes[0], sizes[-1]
    lines += ["", f"Peak RSS ratio, {hi:,} vs {lo:,} images (target at most {TARGET}x):", ""]
    for stage in ("harvest", "detect"):
        if (lo, stage) in peak and (hi, stage) in peak:
            ratio = peak[(hi, stage)] / peak[(lo, stage)]
            growth = peak[(hi, stage)] - peak[(lo, stage)]
            verdict = "met" if ratio <= TARGET else "not met"
            own = (peak[(hi, stage)] - baseline) / (peak[(lo, stage)] - baseline)
            lines.append(
                f"- {stage}: **{ratio:.2f}x** ({verdict}); {growth:+.0f} MiB for {hi - lo:,} more images "
                f"({growth * 2**20 / (hi - lo):.0f} bytes per image); above the baseline, {own:.2f}x"
            )
    lines += [
        "",
        f"Machine load (1-minute average) before / after: {load_before:.1f} / {os.getloadavg()[0]:.1f}.",
    ]
    out = ROOT / "bench" / "results" / "memory.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
