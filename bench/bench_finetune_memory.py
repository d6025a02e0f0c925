"""Fine-tuning memory and speed with images streamed from disk, against the in-memory loop it replaced.

Writes a RAF-DB-layout fixture of 20,000 training faces at 256 px (2,000 distinct JPEGs, hard-linked
ten times over, so the disk holds 2,000), then fine-tunes `resnet18_half` at 224 px on expression
(`train.fit`, AdamW, every weight trained) in a fresh process per run:

- this tree on all 20,000 faces and on the first 2,000 (`finetune.max_train`), with the stage's
  defaults: each batch decoded when drawn (in the main process on the CPU, `device.default_workers`),
  A.2 augmentation on;
- the same 2,000 faces decoded by 2 DataLoader workers, and without augmentation (the data path
  alone);
- the baseline: the commit before the streaming data path (found as the parent of the commit that
  added `facerep/downstream/loader.py`, checked out with `git worktree` under the work folder), whose
  loaders decode every face into one uint8 tensor before training, on the same 2,000 faces, steps,
  batches and seed. `--base-large` also runs it on the 20,000 (about 3 GB of pixels, minutes of
  decoding).

Each run reports its peak memory two ways: the main process's peak RSS (`ru_maxrss`) and the peak
of the sum of PSS over the process and its DataLoader workers (sampled every 0.2 s; PSS counts the
pages workers share with their parent once). CPU runs are pinned to 2 cores. With a CUDA GPU the
20,000-face run is repeated on it (bf16 autocast, 2 workers) and its rate compared with the CPU's.
Writes `bench/results/finetune_memory.md`.

    .venv/bin/python bench/bench_finetune_memory.py [--steps 10] [--rounds 2] [--base-large]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "bench" / "results" / "finetune_memory.md"
SIZE, ARCH, BATCH = 224, "resnet18_half", 32


def write_fixture(root: Path, train: int, distinct: int, test: int) -> Path:
    """RAF-DB layout (`EmoLabel/list_patition_label.txt`, `Image/aligned/*_aligned.jpg`) of `train`
    training faces, `distinct` of them drawn (smooth random colour fields, 256 px JPEG) and the rest
    hard links to them; skipped when the listing is already there."""
    from PIL import Image

    listing = root / "EmoLabel" / "list_patition_label.txt"
    if listing.is_file():
        return root
    folder = root / "Image" / "aligned"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names = [f"train_{i:05d}" for i in range(train)] + [f"test_{i:04d}" for i in range(test)]
    for i, name in enumerate(names):
        path = folder / f"{name}_aligned.jpg"
        if path.exists():
            continue
        if i < distinct or i >= train:
            field = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(field).resize((256, 256), Image.BICUBIC).save(path, quality=90)
        else:
            os.link(folder / f"{names[i % distinct]}_aligned.jpg", path)
    labels = rng.integers(1, 8, len(names))
    listing.parent.mkdir(parents=True, exist_ok=True)
    listing.write_text("".join(f"{n}.jpg {y}\n" for n, y in zip(names, labels, strict=True)))
    return root


def base_tree(work: Path) -> tuple[Path, str]:
    """A checkout of the commit before the streaming data path, and that commit's short hash."""
    added = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%H", "-1", "--", "facerep/downstream/loader.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    base = subprocess.run(
        ["git", "rev-parse", "--short", f"{added}^"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    tree = work / f"base_{base}"
    if not tree.is_dir():
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), base], cwd=ROOT, check=True)
    return tree, base


def child(args: argparse.Namespace) -> None:
    """One fine-tuning run in this process (imports facerep from PYTHONPATH: this tree or the base)."""
    import psutil
    import torch

    if args.device == "cpu" and len(os.sched_getaffinity(0)) > 2:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])
    torch.set_num_threads(2 if args.device == "cpu" else torch.get_num_threads())
    peak = {"pss": 0}
    done = threading.Event()

    def sample() -> None:
        me = psutil.Process()
        while not done.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):  # a worker that just ended
                    total += p.memory_full_info().pss
            peak["pss"] = max(peak["pss"], total)
            time.sleep(0.2)

    threading.Thread(target=sample, daemon=True).start()
    import facerep.downstream.train as train
    from facerep.downstream.datasets import load_dataset
    from facerep.downstream.tasks import make_task
    from facerep.ssl.backbones import build_backbone

    t0 = time.perf_counter()
    data = load_dataset("rafdb", args.data, SIZE, args.n, 200)
    load_s = time.perf_counter() - t0
    task = make_task("expression")
    torch.manual_seed(0)
    net = build_backbone(ARCH)
    extra = {}
    if args.streaming:
        from facerep.downstream.config import AugmentParams
        from facerep.downstream.device import Runtime, default_workers

        device = torch.device(args.device)
        dtype = torch.bfloat16 if device.type == "cuda" else None
        augment = AugmentParams() if args.augment else None
        workers = default_workers(device) if args.workers < 0 else args.workers
        extra["run"] = Runtime(device, dtype, workers, augment)
    hp = train.HParams(1e-3, args.steps, 1.0)
    t0 = time.perf_counter()
    model = train.fit(task, net, data, data.train, hp, train.TrainSpec(BATCH, 1e-4, **extra), seed=0)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    fit_s = time.perf_counter() - t0
    accuracy = train.evaluate(model, data.test, data)["accuracy"]
    done.set()
    time.sleep(0.3)
    out = {
        "load_s": load_s,
        "fit_s": fit_s,
        "images_per_s": args.steps * BATCH / fit_s,
        "rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "pss_gb": peak["pss"] / 2**30,
        "accuracy": accuracy,
        "workers": extra["run"].num_workers if "run" in extra else 0,
    }
    print("RESULT " + json.dumps(out))


def run_child(tree: Path, data: Path, n: int, steps: int, **flags: object) -> dict[str, float]:
    """`child` in a fresh interpreter importing facerep from `tree`."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--data", str(data), "--n", str(n)]
    cmd += ["--steps", str(steps)]
    for k, v in flags.items():
        cmd += [f"--{k}", str(v)] if not isinstance(v, bool) else ([f"--{k}"] if v else [])
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tree)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/facerep_bench_finetune_memory"))
    ap.add_argument("--steps", type=int, default=10, help="training steps of 32 faces per run")
    ap.add_argument("--rounds", type=int, default=2, help="runs of each 2,000-face setting (best rate kept)")
    ap.add_argument("--base-large", action="store_true", help="also run the baseline on 20,000 faces")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--streaming", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--augment", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=2, help=argparse.SUPPRESS)
    ap.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    import torch

    args.work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data = write_fixture(args.work / "rafdb", 20_000, 2_000, 200)
    base, base_commit = base_tree(args.work)
    new = {"streaming": True, "workers": -1}  # -1: the stage's default for the device
    runs: dict[str, dict[str, float]] = {}
    large = [("streamed, 20,000 faces", ROOT, 20_000, {**new, "augment": True})]
    small = [
        ("streamed, 2,000 faces", ROOT, 2_000, {**new, "augment": True}),
        ("streamed, 2,000 faces, 2 workers", ROOT, 2_000, {**new, "augment": True, "workers": 2}),
        ("streamed, 2,000 faces, no augmentation", ROOT, 2_000, new),
        (f"in memory ({base_commit}), 2,000 faces", base, 2_000, {}),
    ]
    if args.base_large:
        large.append((f"in memory ({base_commit}), 20,000 faces", base, 20_000, {}))
    if torch.cuda.is_available():
        large.append(
            ("streamed, 20,000 faces, CUDA bf16", ROOT, 20_000, {**new, "augment": True, "device": "cuda"})
        )
    load = os.getloadavg()[0]
    # the 2,000-face settings alternate round by round, so a load change on a shared machine hits all
    for todo in [large, *[small] * args.rounds]:
        for name, tree, n, flags in todo:
            got = run_child(tree, data, n, args.steps, **flags)
            print(name, got, flush=True)
            if name in runs:  # memory of the first run; the best rate of all
                got = {**runs[name], "images_per_s": max(runs[name]["images_per_s"], got["images_per_s"])}
            runs[name] = got
    loads = (load, os.getloadavg()[0])
    write_report(runs, base_commit, args.steps, args.rounds, loads, time.perf_counter() - started)


def write_report(
    runs: dict[str, dict[str, float]],
    base_commit: str,
    steps: int,
    rounds: int,
    loads: tuple[float, float],
    seconds: float,
) -> None:
    import torch

    large, small = runs["streamed, 20,000 faces"], runs["streamed, 2,000 faces"]
    rows = []
    for name, r in runs.items():
        faces = name.split(", ")[1]  # "2,000 faces" or "20,000 faces"
        base = runs.get(f"in memory ({base_commit}), {faces}")
        ratio = f"{r['images_per_s'] / base['images_per_s']:.2f}x" if base and "CUDA" not in name else ""
        rows.append(
            f"| {name} | {r['load_s']:.1f} | {r['rss_gb']:.2f} | {r['pss_gb']:.2f} "
            f"| {r['images_per_s']:.1f} | {ratio} |"
        )
    ratio = max(large["rss_gb"] / small["rss_gb"], large["pss_gb"] / small["pss_gb"])
    peak = max(large["rss_gb"], large["pss_gb"])
    verdict = "met" if peak < 2 and ratio <= 1.3 else "NOT met"
    in_memory = {n: runs.get(f"in memory ({base_commit}), {n} faces") for n in ("2,000", "20,000")}
    speed = ", ".join(
        f"{runs[f'streamed, {n} faces']['images_per_s'] / r['images_per_s']:.2f}x at {n} faces"
        for n, r in in_memory.items()
        if r
    )
    measured = in_memory["20,000"]

    def versus(name: str) -> str:
        """The rate of run `name` against the in-memory loop on 2,000 faces."""
        return f"{runs[name]['images_per_s'] / in_memory['2,000']['images_per_s']:.2f}x"  # type: ignore[index]

    gpu = runs.get("streamed, 20,000 faces, CUDA bf16")
    paragraphs = [
        f"`python bench/bench_finetune_memory.py --steps {steps} --rounds {rounds}` on {os.cpu_count()} "
        f"CPU cores ({platform.machine()}), runs pinned to 2 cores, shared with other jobs (load average "
        f"{loads[0]:.1f} at the start, {loads[1]:.1f} at the end); {seconds / 60:.1f} minutes in all. "
        f"Fine-tuning `{ARCH}` at {SIZE} px on expression, batch {BATCH}, {steps} AdamW steps, every "
        "weight trained, then scoring 200 test faces, on a RAF-DB-layout fixture of 20,000 training "
        "faces (256 px JPEGs) or its first 2,000 (`finetune.max_train`); a fresh process per run. "
        "Streamed: this tree with the stage's defaults unless said: each batch's faces decoded when it "
        "is drawn, in the main process on the CPU (`finetune.num_workers: null`; 2 DataLoader workers "
        f"at nice 19 where said), A.2 augmentation on. In memory: the baseline, commit `{base_commit}` "
        "(the parent of the commit that added the streaming data path), whose loaders decode every face "
        "into one uint8 tensor first. Peak RSS: the main process (`ru_maxrss`); peak PSS: the main "
        "process and its workers together (shared pages counted once). Rates are training images per "
        "second of `train.fit` (worker start-up included, loading and scoring not); the 2,000-face "
        f"runs alternate over {rounds} rounds and keep their best rate (memory: their first run). The "
        "ratio is against the in-memory loop on as many faces, with the same steps, batches and seed.",
        "| run | load s | peak RSS GB | peak PSS GB | images/s | vs in-memory |\n"
        "|---|---|---|---|---|---|\n" + "\n".join(rows),
        "Target: peak memory at 20,000 faces under 2 GB and within 1.3x of the 2,000-face run. "
        f"Measured: **{peak:.2f} GB**, **{ratio:.2f}x** ({verdict}). The in-memory loop holds "
        f"3 x {SIZE}^2 bytes per face: 0.30 GB of pixels at 2,000 faces, 3.0 GB at 20,000, 44 GB for "
        "AffectNet's 290,000"
        + (f"; run here on 20,000 faces it peaked at {measured['rss_gb']:.1f} GB." if measured else "."),
        f"Speed on 2 cores against the in-memory loop, streamed with augmentation: **{speed}**. "
        f"Without augmentation {versus('streamed, 2,000 faces, no augmentation')}: reading each batch "
        "from disk costs little, A.2's augmentation (work the in-memory loop never did) the rest. "
        f"With 2 workers {versus('streamed, 2,000 faces, 2 workers')}: on cores that all train, "
        "workers can only take their time from the compute threads, so by default there are none on "
        "the CPU (one process, nothing forked per training run).",
        (
            f"On the GPU ({torch.cuda.get_device_name(0)}, bf16, {gpu['workers']:.0f} workers): "
            f"**{gpu['images_per_s']:.0f} images/s**, "
            f"{gpu['images_per_s'] / large['images_per_s']:.1f}x the 2-core CPU."
            if gpu
            else "GPU: no GPU here (with CUDA present the script repeats the 20,000-face run on it, bf16)."
        ),
    ]
    wrapped = [p if p.startswith("|") else textwrap.fill(p, 100, break_on_hyphens=False) for p in paragraphs]
    title = "## Fine-tuning memory and speed, streamed data (`bench/bench_finetune_memory.py`)"
    text = "\n\n".join([title, *wrapped]) + "\n"
    RESULT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
