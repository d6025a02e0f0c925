"""Shard benchmarks: writing vs a plain copy, reading + decoding vs a folder, the multi-crop pipeline.

Every ratio is measured in one run on the same files: N face crops (256x256 JPEG, as detect writes
them) made from the real photos that ship in insightface and scikit-image, each randomly shifted
and recoloured so no two files are equal. Writes `bench/results/shards.md`.

    .venv/bin/python bench/bench_shards.py [--faces 2000]
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "curate"))

from curate_photos import photo_faces  # noqa: E402

from facerep.io import write_json  # noqa: E402
from facerep.shards.reader import FileCatalog, ShardCatalog  # noqa: E402
from facerep.shards.writer import Sample, meta_bytes, write_shards  # noqa: E402
from facerep.ssl.augment import MultiCropTransform  # noqa: E402
from facerep.ssl.data import view_loader  # noqa: E402
from facerep.ssl.epochs import Layout  # noqa: E402


def make_faces(folder: Path, count: int, seed: int = 0) -> list[Sample]:
    rng = np.random.default_rng(seed)
    photos = photo_faces()
    folder.mkdir(parents=True)
    samples = []
    for i in range(count):
        crop = photos[i % len(photos)].crop
        m = np.float32([[1, 0, rng.uniform(-12, 12)], [0, 1, rng.uniform(-12, 12)]])
        img = cv2.warpAffine(crop, m, (256, 256), borderMode=cv2.BORDER_REFLECT)
        img = np.clip(img * rng.uniform(0.8, 1.2, 3), 0, 255).astype(np.uint8)
        path = folder / f"f{i:06d}.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
        meta = {"face_id": path.stem, "license": "CC BY 4.0", "local_boxes": [[64, 64, 192, 192, 0.6]]}
        path.with_suffix(".json").write_bytes(meta_bytes(meta))  # the folder loader reads it too
        samples.append(Sample(path.stem, path, path.stat().st_size, meta))
    return samples


def copy_all(samples: list[Sample], dest: Path) -> None:
    """The baseline for writing: a plain copy of the same crop files."""
    dest.mkdir()
    for s in samples:
        shutil.copyfile(s.jpg, dest / s.jpg.name)
        shutil.copyfile(s.jpg.with_suffix(".json"), dest / f"{s.key}.json")


def to_tensor(img: Image.Image, local_boxes: object) -> list[torch.Tensor]:
    """Decode only: the image as a contiguous HWC uint8 tensor (a permuted view makes torch.stack slow)."""
    return [torch.from_numpy(np.array(img))]


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def read_epoch(catalog, transform, batch: int, workers: int = 0) -> int:
    """Images of one epoch through the pre-training reader (`facerep.ssl.data.view_loader`)."""
    layout = Layout(catalog.counts, batch, 0, workers=max(1, workers))
    loader = view_loader(catalog, transform, layout, workers)
    return sum(len(b["keys"]) for b in itertools.islice(loader, layout.batches_per_epoch))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--faces", type=int, default=2000)
    ap.add_argument("--pipeline-faces", type=int, default=192)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    load_start = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="bench_shards_"))
    try:
        samples = make_faces(work / "folder", args.faces)
        total = sum(s.size + s.jpg.with_suffix(".json").stat().st_size for s in samples)
        t_copy = min(timed(lambda k=k: copy_all(samples, work / f"copy{k}"))[0] for k in range(args.repeats))
        t_write = min(
            timed(lambda k=k: write_shards(samples, work / f"shards{k}", 0, 500, 1 << 30))[0]
            for k in range(args.repeats)
        )
        entries, _ = write_shards(samples, work / "shards", 0, 500, 1 << 30)
        write_json(work / "shards" / "index.json", {"samples": len(samples), "shards": entries})

        bs = 32
        rates: dict[str, list[float]] = {"folder": [], "shards": []}
        for _ in range(args.repeats):  # interleaved, best of each: the machine is shared
            files = sorted((work / "folder").glob("*.jpg"))
            t, n = timed(lambda f=files: read_epoch(FileCatalog(f, "folder"), to_tensor, bs))
            rates["folder"].append(n / t)
            t, n = timed(lambda: read_epoch(ShardCatalog(str(work / "shards")), to_tensor, bs))
            rates["shards"].append(n / t)
        folder_rate, shard_rate = max(rates["folder"]), max(rates["shards"])
        rows_read = [
            ("folder of JPEG files (baseline)", folder_rate, 1.0),
            ("WebDataset shards", shard_rate, shard_rate / folder_rate),
        ]

        sub = samples[: args.pipeline_faces]
        small = work / "small"
        entries_small, _ = write_shards(sub, small, 0, 24, 1 << 30)
        write_json(small / "index.json", {"samples": len(sub), "shards": entries_small})
        transform = MultiCropTransform()
        rows_pipe = []
        for workers in (0, 1, 2):
            # DataLoader workers run torch with one thread; in-process loading gets the same
            # (with 2 intra-op threads it ran 3-5x slower here, competing with the decoding)
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            t, n = timed(lambda w=workers: read_epoch(ShardCatalog(str(small)), transform, 16, w))
            torch.set_num_threads(threads)
            rows_pipe.append((workers, n / t, n / t / max(1, workers)))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    mb = total / 1e6
    load = f"load average {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    lines = [
        "## Shards (`bench/bench_shards.py`)",
        "",
        f"{args.faces} face crops, 256x256 JPEG (quality 95), {mb:.1f} MB; one process, "
        f"{os.cpu_count()} CPU cores shared with other jobs ({load}). Reading uses the pre-training reader "
        "(`view_loader` over a `FileCatalog` vs a `ShardCatalog`) with a decode-only transform, batch 32; "
        "each face has its json metadata beside it in the folder and inside the shard.",
        "",
        "| reading + JPEG decode (best of repeats) | images/s | ratio |",
        "|---|---|---|",
        *[f"| {name} | {rate:.0f} | {ratio:.2f} |" for name, rate, ratio in rows_read],
        "",
        "| writing | MB/s | ratio |",
        "|---|---|---|",
        f"| plain file copy of the same crops (baseline) | {mb / t_copy:.0f} | 1.00 |",
        f"| shard writer (tar + atomic rename + sha256) | {mb / t_write:.0f} | {t_copy / t_write:.2f} |",
        "",
        "Full multi-crop pipeline (`MultiCropTransform()` defaults: 2 x 224 + 6 x 96 views, "
        f"Bulat et al. A.1), {args.pipeline_faces} faces, batch 16:",
        "",
        "| DataLoader workers (0: in the main process, torch.set_num_threads(1)) | images/s | per core |",
        "|---|---|---|",
        *[f"| {w} | {rate:.1f} | {per:.1f} |" for w, rate, per in rows_pipe],
        "",
    ]
    out = ROOT / "bench" / "results" / "shards.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
