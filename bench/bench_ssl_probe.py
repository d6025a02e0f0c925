"""Is there anything to fine-tune from? Frozen features of pre-trained backbones against a random one.

A seconds-long check to run before the hour-long few-shot benchmark (bench_finetune_synth.py): on
SynthFaces faces, each backbone embeds training and test faces in eval mode, features are
standardised with the training statistics, then

- categorical labels (expression, glasses, sex, beard) are read by a k-nearest-neighbour vote
  (`facerep.ssl.knn.knn_predict`, Wu et al. 2018, the pretrain stage's monitor),
- continuous ones (yaw, pitch, AU12, valence) by ridge regression, scored by R^2 on test.

A randomly initialised network of the same architecture is the baseline measured in the same run:
a pre-training that does not beat it has not learned what the face tasks read, and fine-tuning from
it is unlikely to beat scratch.

    .venv/bin/python bench/bench_ssl_probe.py                # the few-shot benchmark's backbones
    .venv/bin/python bench/bench_ssl_probe.py swav=path/to/backbone.pt --workdir /tmp/facerep_bench_fewshot

The table goes to stdout and `bench/results/ssl_probe.md`.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from facerep.downstream.datasets import load_dataset
from facerep.downstream.splits import validation_part
from facerep.downstream.train import encode
from facerep.errors import InputError
from facerep.ssl.backbones import build_backbone, load_backbone
from facerep.ssl.knn import knn_predict
from facerep.synth.layout import ATTRIBUTES, AUS

ROOT = Path(__file__).resolve().parent.parent
CATEGORICAL = {
    "expression": ("expression", None),
    "glasses": ("attributes", "eyeglasses"),
    "male": ("attributes", "male"),
    "beard": ("attributes", "beard"),
}
CONTINUOUS = {
    "yaw": ("pose", 0),
    "pitch": ("pose", 1),
    "au12": ("au", AUS.index("au12")),
    "valence": ("valence_arousal", 0),
}


def standardise(train: torch.Tensor, test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mu, sd = train.mean(0), train.std(0) + 1e-6
    return (train - mu) / sd, (test - mu) / sd


def ridge_r2(
    train: torch.Tensor, y: torch.Tensor, test: torch.Tensor, yt: torch.Tensor, alpha: float
) -> float:
    """R^2 on test of ridge regression (with an intercept) fitted on train."""
    a = torch.cat([train, torch.ones(len(train), 1)], 1).double()
    b = torch.cat([test, torch.ones(len(test), 1)], 1).double()
    w = torch.linalg.solve(a.t() @ a + alpha * torch.eye(a.shape[1], dtype=a.dtype), a.t() @ y.double())
    return float(1 - ((b @ w - yt.double()) ** 2).mean() / yt.double().var())


def column(labels: dict, key: str, which: str | int | None) -> torch.Tensor:
    values = torch.tensor(labels[key])  # a copy: the label arrays are read-only views
    if which is None:
        return values
    index = ATTRIBUTES.index(which) if isinstance(which, str) else which
    return values[:, index]


def probe(net: torch.nn.Module, data, k: int, alpha: float) -> dict[str, float]:
    """kNN accuracy and ridge R^2 of every label on the frozen features of `net`."""
    train, test = standardise(
        encode(net, data.train.images, False).pooled, encode(net, data.test.images, False).pooled
    )
    out = {}
    for name, (key, which) in CATEGORICAL.items():
        y, yt = column(data.train.labels, key, which).long(), column(data.test.labels, key, which).long()
        out[name] = float((knn_predict(train, y, test, k, 0.07) == yt).float().mean())
    for name, (key, which) in CONTINUOUS.items():
        y, yt = column(data.train.labels, key, which).float(), column(data.test.labels, key, which).float()
        out[f"{name} R2"] = ridge_r2(train, y, test, yt, alpha)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "backbones", nargs="*", help="name=path/to/backbone.pt (default: <workdir>/models/pretrain/*)"
    )
    ap.add_argument(
        "--workdir",
        type=Path,
        default=Path("/tmp/facerep_bench_fewshot"),
        help="bench_finetune_synth.py's work folder: its SynthFaces (synth/) and backbones",
    )
    ap.add_argument("--arch", default="resnet18_half", help="architecture of the random baseline")
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--train", type=int, default=3000)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--alpha", type=float, default=10.0, help="ridge penalty")
    ap.add_argument("--seeds", type=int, default=3, help="random initialisations for the baseline")
    ap.add_argument(
        "--score-on",
        choices=["val", "test"],
        default="val",
        help="score on a held-out 20%% of the training faces (default: choices made on it never see test) "
        "or on the test faces",
    )
    args = ap.parse_args()
    named = []
    for item in args.backbones:
        name, sep, path = item.partition("=")
        if not sep or not Path(path).is_file():
            raise InputError(f"{item!r}: expected name=path/to/backbone.pt of an existing file")
        named.append((name, path))
    if not args.backbones:
        found = sorted((args.workdir / "models" / "pretrain").glob("*/backbone.pt"))
        named = [(f"pretrain:{p.parent.name}", str(p)) for p in found]
    data = load_dataset("synthfaces", args.workdir / "synth", args.size, args.train, args.test)
    if args.score_on == "val":  # a recipe chosen on this probe must never have seen the test faces
        everything = np.arange(len(data.train))
        val = validation_part(everything, 0.2, 1, 0)
        data = replace(data, train=data.train.take(np.setdiff1d(everything, val)), test=data.train.take(val))
    rows = []
    for seed in range(args.seeds):
        torch.manual_seed(seed)
        rows.append(
            (f"random {args.arch} (seed {seed})", probe(build_backbone(args.arch), data, args.k, args.alpha))
        )
    for name, path in named:
        rows.append((name, probe(load_backbone(path), data, args.k, args.alpha)))
    if not rows:
        raise InputError(f"nothing to probe: no --seeds and no backbone under {args.workdir}/models/pretrain")
    cols = list(rows[0][1])
    lines = [
        "## ssl_probe: frozen pre-trained features against random ones (SynthFaces)\n",
        f"`python bench/bench_ssl_probe.py --score-on {args.score_on}`: "
        + (
            f"80% of {args.train} training faces, scored on the other 20% (never on test), at "
            if args.score_on == "val"
            else f"{args.train} training and {args.test} test faces at "
        )
        + f"{args.size} px; kNN (k {args.k}) accuracy for categorical labels, ridge R^2 (alpha "
        f"{args.alpha:g}) for continuous ones; features standardised on the training faces.\n",
        "| backbone | " + " | ".join(cols) + " |",
        "|---" * (len(cols) + 1) + "|",
        *[f"| {name} | " + " | ".join(f"{v:.3f}" for v in r.values()) + " |" for name, r in rows],
    ]
    text = "\n".join(lines) + "\n"
    (ROOT / "bench" / "results" / "ssl_probe.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
