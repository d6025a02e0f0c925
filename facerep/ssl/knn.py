"""The online kNN monitor: how well frozen features separate a labelled SynthFaces attribute.

Weighted k-nearest-neighbour vote on cosine similarity (Wu et al. 2018, section 3.4, as used by the
DINO and solo-learn monitors): each of the k neighbours votes for its class with weight
exp(sim / T). It needs no training, so it is cheap enough to watch during pre-training.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from facerep.ssl.augment import IMAGENET_MEAN, IMAGENET_STD


def knn_predict(train: Tensor, train_labels: Tensor, test: Tensor, k: int, temperature: float) -> Tensor:
    """Predicted class of each test row by the exp(sim/T)-weighted vote of its k nearest train rows."""
    sim = F.normalize(test, dim=1) @ F.normalize(train, dim=1).t()
    k = min(k, len(train))
    top, idx = sim.topk(k, dim=1)
    classes = int(train_labels.max()) + 1
    votes = torch.zeros(len(test), classes, dtype=top.dtype)
    votes.scatter_add_(1, train_labels[idx], (top / temperature).exp())
    return votes.argmax(dim=1)


class KnnMonitor:
    """Embeds fixed train/test subsets of SynthFaces faces and reports kNN accuracy on `label`."""

    def __init__(self, root: Path, size: int, label: str, max_train: int, max_test: int, seed: int) -> None:
        table = pd.read_parquet(root / "faces" / "labels.parquet")
        self.label = label
        rng = np.random.default_rng(seed)
        parts = {}
        for split, cap in (("train", max_train), ("test", max_test)):
            rows = table[table["split"] == split]
            rows = rows.iloc[np.sort(rng.permutation(len(rows))[:cap])]
            parts[split] = (
                [root / "faces" / str(size) / f for f in rows["file"]],
                torch.as_tensor(rows[label].to_numpy().copy()),
            )
        self.parts = parts

    @staticmethod
    def _load(files: list[Path], size: int) -> Tensor:
        mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
        out = []
        for f in files:
            with Image.open(f) as img:
                arr = (
                    np.asarray(img.convert("RGB").resize((size, size), Image.BICUBIC), dtype=np.float32) / 255
                )
            out.append((torch.from_numpy(arr).permute(2, 0, 1) - mean) / std)
        return torch.stack(out)

    @torch.no_grad()
    def evaluate(self, backbone: nn.Module, input_size: int, k: int, temperature: float) -> float:
        was_training = backbone.training
        backbone.eval()
        device = next(backbone.parameters()).device
        feats = {}
        for split, (files, _) in self.parts.items():
            x = self._load(files, input_size)
            feats[split] = torch.cat([backbone(b.to(device)).float().cpu() for b in x.split(128)])
        backbone.train(was_training)
        pred = knn_predict(feats["train"], self.parts["train"][1], feats["test"], k, temperature)
        return float((pred == self.parts["test"][1]).float().mean())
