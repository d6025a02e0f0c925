"""Harvest benchmarks: Flickr images per second per core, VoxCeleb frame extraction against real time.

1. Images: the loopback Flickr (tests/harvest/fake_flickr.py) runs in a *separate process* serving
   N photos of about 50 KB; this process runs the whole harvest stage (listing, concurrent download,
   validation, sha256, atomic store, fsync'd journal, manifest) and the baseline, a bare httpx GET loop
   over the same URLs with the same concurrency. Per core = images / CPU seconds of this process.
2. Frames: 224x224 25 fps H.264 clips (VoxCeleb2 layout) harvested at 6 fps; the baseline decodes every
   frame of the same clips and converts nothing. Real-time factor = seconds of video / CPU seconds.

Writes `bench/results/harvest.md`.

    .venv/bin/python bench/bench_harvest.py [--photos 3000] [--clips 8] [--seconds 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "harvest"))

from harvest_media import write_clip  # noqa: E402

from facerep.harvest.manifest import read_manifest  # noqa: E402
from facerep.params import load_params  # noqa: E402
from facerep.stages import run_stage  # noqa: E402

CONCURRENCY = 16


def measure(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all threads) of one call."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def start_server(photos: int) -> tuple[subprocess.Popen, dict]:
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT / 'tests' / 'harvest')!r}); "
        f"from fake_flickr import serve_forever; serve_forever({photos}, ['face'], image_kb=50)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())


def image_urls(api_url: str, key: str, photos: int) -> list[str]:
    urls: list[str] = []
    for page in range(1, photos // 500 + 2):
        body = httpx.post(
            api_url,
            data={"api_key": key, "method": "flickr.photos.search", "tags": "face", "extras": "url_c",
                  "per_page": "500", "page": str(page), "format": "json", "nojsoncallback": "1"},
        ).json()  # fmt: skip
        urls += [p["url_c"] for p in body["photos"]["photo"]]
    return urls


def best(runs: list[tuple[float, float]]) -> tuple[float, float]:
    """The run with the least CPU time: on a shared machine, noise only ever adds time."""
    return min(runs, key=lambda r: r[1])


def bench_images(photos: int, work: Path, repeats: int) -> list[str]:
    proc, info = start_server(photos)
    try:
        urls = image_urls(info["api_url"], info["api_key"], photos)
        sizes: list[int] = []

        def baseline() -> None:
            limits = httpx.Limits(max_connections=CONCURRENCY)
            with httpx.Client(limits=limits) as client, ThreadPoolExecutor(CONCURRENCY) as pool:
                sizes[:] = pool.map(lambda u: len(client.get(u).content), urls)

        os.environ["FLICKR_API_KEY"] = info["api_key"]
        base_runs, runs = [], []
        for i in range(repeats):
            base_runs.append(measure(baseline))
            sets = [
                f"paths.raw={work / f'raw{i}'}", "tracking.enabled=false", "harvest.sources=[flickr]",
                f"harvest.flickr.api_url={info['api_url']}", "harvest.flickr.tags=[face]",
                "harvest.flickr.min_upload_date=2014-01-01", "harvest.flickr.max_upload_date=2021-01-01",
                "harvest.flickr.max_calls_per_hour=100000000", f"harvest.flickr.concurrency={CONCURRENCY}",
            ]  # fmt: skip
            params = load_params(None, sets)
            runs.append(measure(lambda params=params: run_stage("harvest", params)))
        (base_wall, base_cpu), (wall, cpu) = best(base_runs), best(runs)
        ok = int((read_manifest(work / "raw0" / "manifest.parquet")["status"] == "ok").sum())
    finally:
        proc.kill()
        proc.wait()
    n = len(urls)
    mean_kb = sum(sizes) / len(sizes) / 1024
    return [
        "### Flickr images (loopback server in another process)",
        "",
        f"{n} photos of {mean_kb:.0f} KB on average, concurrency {CONCURRENCY}; {ok} harvested `ok`; "
        f"best of {repeats} runs each.",
        "",
        "| client | wall s | CPU s | images/s | images/s per core | ratio per core |",
        "|---|---|---|---|---|---|",
        f"| httpx GET loop (baseline) | {base_wall:.2f} | {base_cpu:.2f} | {n / base_wall:.0f} | "
        f"{n / base_cpu:.0f} | 1.00 |",
        f"| `facerep harvest` (flickr) | {wall:.2f} | {cpu:.2f} | {n / wall:.0f} | {n / cpu:.0f} | "
        f"{base_cpu / cpu:.2f} |",
        "",
        f"Target: at least 300 images/s per core. Measured: **{n / cpu:.0f}** "
        f"({'met' if n / cpu >= 300 else 'not met'}).",
    ]


def bench_frames(clips: int, seconds: int, work: Path, repeats: int) -> list[str]:
    tree = work / "vox"
    for i in range(clips):
        write_clip(tree / f"id{i:05d}" / "benchvid" / "00001.mp4", seconds * 25, size=224, seed=i)
    paths = sorted(tree.rglob("*.mp4"))
    video_s = clips * seconds
    decoded: list[int] = []

    def baseline() -> None:
        for p in paths:
            with av.open(str(p)) as c:
                stream = c.streams.video[0]
                stream.thread_type = "AUTO"
                decoded.append(sum(1 for _ in c.decode(stream)))

    base_runs, runs = [], []
    for i in range(repeats):
        decoded.clear()
        base_runs.append(measure(baseline))
        sets = [f"paths.raw={work / f'rawv{i}'}", "tracking.enabled=false", "harvest.sources=[voxceleb]"]
        sets += [f"harvest.voxceleb.root={tree}", "harvest.voxceleb.fps=6"]
        params = load_params(None, sets)
        runs.append(measure(lambda params=params: run_stage("harvest", params)))
    (base_wall, base_cpu), (wall, cpu) = best(base_runs), best(runs)
    frames = int((read_manifest(work / "rawv0" / "manifest.parquet")["status"] == "ok").sum())
    return [
        "### VoxCeleb frames at 6 fps (224x224, 25 fps H.264 clips)",
        "",
        f"{clips} clips of {seconds} s ({video_s} s of video, {sum(decoded)} frames); {frames} frames "
        f"extracted (expected duration x 6), centre-cropped to 0.8 and stored as JPEG; best of {repeats} "
        "runs each.",
        "",
        "| work | wall s | CPU s | x real time per core | ratio |",
        "|---|---|---|---|---|",
        f"| decode every frame, nothing else (baseline) | {base_wall:.2f} | {base_cpu:.2f} | "
        f"{video_s / base_cpu:.0f} | 1.00 |",
        f"| `facerep harvest` (voxceleb, 6 fps) | {wall:.2f} | {cpu:.2f} | {video_s / cpu:.0f} | "
        f"{base_cpu / cpu:.2f} |",
        "",
        f"Target: at least 20x real time per core. Measured: **{video_s / cpu:.0f}x** "
        f"({'met' if video_s / cpu >= 20 else 'not met'}).",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--photos", type=int, default=3000)
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3, help="runs of each measurement; the best is kept")
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        lines = [
            "## Harvest (`bench/bench_harvest.py`)",
            "",
            "One process, 2 CPU cores shared with other jobs; CPU seconds count every thread of the "
            "harvesting process (the server's CPU is not counted).",
            "",
            *bench_images(args.photos, work, args.repeats),
            "",
            *bench_frames(args.clips, args.seconds, work, args.repeats),
            "",
            f"Machine load (1-minute average) before / after: {load_before:.1f} / {os.getloadavg()[0]:.1f}; "
            "per-core figures drop as the load rises (shared caches, context switches).",
        ]
    out = ROOT / "bench" / "results" / "harvest.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
