"""Does SimFLE's trainable mask refinement (3.2, Fig. 3) learn to keep the facial landmarks visible?

The fine-grained branch alone: SimFLE's grouping layer and FaceMAE train on SynthFaces faces under
L_r + beta L_g, on a fixed randomly initialised backbone (with `connection=distill` FFL never trains
the backbone; what GFL does to it is left out, which makes a run minutes instead of hours on a shared
CPU). Once each with `masking=refined`, `semantic` (eq. 3's sort without a gradient from L_r, the
authors' public code) and `random` (MAE's, Table 3 c), from the same initialisation and batches.
Then, on held-out faces, every channel group's mask is computed (eq. 3; random masks for `random`) and
scored against the faces' 68-point landmarks: a patch is a landmark patch when an eye or mouth point
(points 36-67) falls in it.

- `landmarks visible`: the share of landmark patches left visible (a random mask leaves 1 - ratio);
- `visible on landmarks`: the share of visible patches that are landmark patches (a random mask: the
  landmark patches' share of the image);
- `L_r`: the reconstruction loss on the held-out faces with each run's own masks;
- `landmark error ratio`: Fig. 3 (top) in one number: under random masks, the mean error of the
  masked landmark patches over that of all masked patches (above 1: the landmarks are the hard
  patches, which refinement should then keep visible).

Fig. 3's claim, in these terms: the landmark error ratio is above 1, and refinement raises both
shares above the semantic mask's and a random mask's.

    .venv/bin/python bench/bench_simfle_mask.py --steps 300 --workdir /tmp/facerep_simfle_mask

The table goes to stdout and `bench/results/simfle_mask.md`.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from facerep.params import load_params
from facerep.ssl.augment import IMAGENET_MEAN, IMAGENET_STD
from facerep.ssl.backbones import build_backbone
from facerep.ssl.base import TrainContext
from facerep.ssl.losses.simfle import (
    group_score_map,
    grouping_loss,
    patch_scores,
    patchify,
    reconstruction_loss,
    semantic_mask,
)
from facerep.ssl.methods.simfle import SimFLE
from facerep.stages import run_stage

ROOT = Path(__file__).resolve().parent.parent
LANDMARK_POINTS = slice(36, 68)  # eyes and mouth of the 68-point scheme


def params_file(workdir: Path) -> Path:
    """The committed pipeline_params.yaml (a shared working tree may hold half-edited parameters)."""
    path = workdir / "pipeline_params.yaml"
    text = subprocess.run(
        ["git", "show", "HEAD:pipeline_params.yaml"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    path.write_text(text)
    return path


def landmark_patches(lm68: np.ndarray, size: int, patch: int) -> np.ndarray:
    """(N_p,) booleans, row-major: patches holding an eye or mouth point (lm68 normalised x0, y0, ...)."""
    points = np.asarray(lm68, dtype=float).reshape(68, 2)[LANDMARK_POINTS] * size
    grid = size // patch
    cols = np.clip((points[:, 0] // patch).astype(int), 0, grid - 1)
    rows = np.clip((points[:, 1] // patch).astype(int), 0, grid - 1)
    out = np.zeros(grid * grid, dtype=bool)
    out[rows * grid + cols] = True
    return out


@torch.no_grad()
def mask_scores(method: SimFLE, faces: torch.Tensor, landmarks: torch.Tensor) -> dict[str, float]:
    """Landmark shares of the visible patches, averaged over faces and every channel group (random
    masks for `masking=random`), and L_r under those masks."""
    p = method.params
    grouped = method.grouping(method.backbone.forward_features(faces))
    kept, on, recon = [], [], []
    for g in range(p.groups):
        chosen = torch.full((len(faces),), g, dtype=torch.long)
        scores = patch_scores(group_score_map(grouped, p.groups, chosen), p.mae_size, p.patch_size)
        if p.masking == "random":
            scores = torch.rand(scores.shape)
        masked = semantic_mask(scores, p.mask_ratio)
        visible = ~masked
        hits = (visible & landmarks).sum(1).float()
        kept.append(hits / landmarks.sum(1).clamp_min(1))
        on.append(hits / visible.sum(1))
        _, pred = method.face_mae(faces, masked)
        recon.append(reconstruction_loss(patchify(faces, p.patch_size), pred, masked))
    return {
        "landmarks visible": float(torch.stack(kept).mean()),
        "visible on landmarks": float(torch.stack(on).mean()),
        "L_r": float(torch.stack(recon).mean()),
        "landmark error ratio": landmark_error_ratio(method, faces, landmarks),
    }


@torch.no_grad()
def landmark_error_ratio(
    method: SimFLE, faces: torch.Tensor, landmarks: torch.Tensor, draws: int = 8
) -> float:
    """Fig. 3 (top) in one number: under random masks, the mean reconstruction error of the masked
    landmark patches over that of all masked patches (above 1: the landmarks are the hard patches)."""
    p = method.params
    target = patchify(faces, p.patch_size)
    on_marks, overall = [], []
    for _ in range(draws):
        masked = semantic_mask(torch.rand(landmarks.shape), p.mask_ratio)
        _, pred = method.face_mae(faces, masked)
        errors = (pred - target).pow(2).mean(dim=-1)
        on_marks.append(errors[masked & landmarks].mean())
        overall.append(errors[masked].mean())
    return float(torch.stack(on_marks).mean() / torch.stack(overall).mean())


def load_faces(
    synth: Path, split: str, size: int, patch: int, count: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised faces (N, 3, size, size) of `split` and their landmark patches (N, N_p)."""
    labels = pd.read_parquet(synth / "faces" / "labels.parquet")
    rows = labels[labels["split"] == split].head(count)
    mean, std = torch.tensor(IMAGENET_MEAN)[:, None, None], torch.tensor(IMAGENET_STD)[:, None, None]
    images = []
    for file in rows["file"]:
        img = Image.open(synth / "faces" / str(size) / file).convert("RGB")
        images.append(
            (torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1) - mean) / std
        )
    marks = np.stack([landmark_patches(lm, size, patch) for lm in rows["lm68"]])
    return torch.stack(images), torch.from_numpy(marks)


def train_ffl(method: SimFLE, faces: torch.Tensor, steps: int, batch: int, lr: float, seed: int) -> float:
    """SGD (momentum 0.9, the paper's) on the grouping layer and FaceMAE under L_r + beta L_g; seconds."""
    p = method.params
    trained = [*method.grouping.parameters(), *method.face_mae.parameters()]
    optim = torch.optim.SGD(trained, lr=lr * batch / 256, momentum=0.9, weight_decay=1e-4)
    order = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    for _ in range(steps):
        x = faces[torch.randint(0, len(faces), (batch,), generator=order)]
        with torch.no_grad():
            maps = method.backbone.forward_features(x)
        grouped = method.grouping(maps)
        mask = method.mask(grouped, batch)
        _, pred = method.face_mae(x, mask.detach().bool())
        loss = reconstruction_loss(patchify(x, p.patch_size), pred, mask) + p.beta * grouping_loss(
            grouped, p.groups
        )
        optim.zero_grad()
        loss.backward()
        optim.step()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/facerep_simfle_mask"))
    ap.add_argument("--faces", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--backbone", default="resnet_tiny")
    ap.add_argument(
        "--lr", type=float, default=1.0, help="SGD lr per 256 images (the paper: 0.05 for 100 epochs)"
    )
    ap.add_argument("--patch", type=int, default=8)
    ap.add_argument("--held-out", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    source = params_file(args.workdir)
    synth = args.workdir / "synth"
    if not (synth / "faces" / "labels.parquet").is_file():
        sets = [f"paths.synth={synth}", "tracking.enabled=false", f"synth.faces={args.faces}"]
        run_stage(
            "synth", load_params(source, [*sets, "synth.scenes=0", "synth.videos=0", "synth.sizes=[64]"])
        )
    train, _ = load_faces(synth, "train", 64, args.patch, args.faces)
    test, marks = load_faces(synth, "test", 64, args.patch, args.held_out)
    base = load_params(source, [f"pretrain.simfle.patch_size={args.patch}"]).pretrain.simfle
    rows = []
    for masking in ("refined", "semantic", "random"):
        torch.manual_seed(args.seed)
        params = base.model_copy(update={"masking": masking})
        method = SimFLE(
            build_backbone(args.backbone), params, TrainContext(args.steps, args.steps, args.batch)
        )
        method.backbone.eval()
        if masking == "refined":
            rows.append(("initialisation (both runs)", mask_scores(method, test, marks), 0.0))
        seconds = train_ffl(method, train, args.steps, args.batch, args.lr, args.seed)
        rows.append((f"{masking}, {args.steps} steps", mask_scores(method, test, marks), seconds))
    share = float(marks.float().mean())
    cols = list(rows[0][1])
    lines = [
        "## simfle_mask: does the trainable refinement keep the landmarks visible? (SynthFaces)\n",
        f"`python bench/bench_simfle_mask.py --steps {args.steps}`: SimFLE's grouping layer and FaceMAE "
        f"(the CPU defaults) on {len(train)} SynthFaces training faces at 64 px over a fixed random "
        f"`{args.backbone}`, batch {args.batch}, SGD at {args.lr:g} per 256, {args.patch} px patches "
        f"({(64 // args.patch) ** 2} patches, {base.mask_ratio:.0%} masked); masks of every channel group on "
        f"{len(test)} held-out faces; landmark patches hold an eye or mouth point ({share:.0%} of the "
        "patches).\n",
        "| masking | " + " | ".join(cols) + " | train s |",
        "|---" * (len(cols) + 2) + "|",
        *[f"| {n} | " + " | ".join(f"{v:.3f}" for v in r.values()) + f" | {s:.0f} |" for n, r, s in rows],
    ]
    text = "\n".join(lines) + "\n"
    (ROOT / "bench" / "results" / "simfle_mask.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
