"""The in-memory form every loader returns: images as uint8 tensors plus named label arrays.

Label names are shared by all loaders so a task reads the same key whatever the dataset:
`expression` (N,) int, `attributes` (N, A) 0/1, `landmarks` (N, K, 2) in [0, 1] image coordinates,
`box` (N, 4) normalised x1,y1,x2,y2 (NME box/diag normalisation), `au` (N, A) intensities,
`identity` (N,) int, `pose` (N, 3) yaw,pitch,roll degrees, `valence_arousal` (N, 2) in [-1, 1].
Evaluation faces are loaded at `size` x `size`; datasets with a face box are cropped to it first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from facerep.ssl.augment import IMAGENET_MEAN, IMAGENET_STD


@dataclass
class Split:
    """One split: `images` (N, 3, S, S) uint8, `labels` by name, `keys` stable item ids."""

    images: torch.Tensor
    labels: dict[str, np.ndarray]
    keys: list[str]

    def __len__(self) -> int:
        return len(self.keys)

    def take(self, idx: np.ndarray) -> Split:
        """The items at `idx` (a subset, a validation part)."""
        t = torch.as_tensor(np.asarray(idx), dtype=torch.long)
        return Split(self.images[t], {k: v[idx] for k, v in self.labels.items()}, [self.keys[i] for i in idx])


@dataclass
class TaskData:
    """A dataset's train and test splits, verification pairs where the dataset defines them, and facts
    the metrics need (`nme_norm`, `attribute_names`, `au_names`, `classes`)."""

    name: str
    train: Split
    test: Split
    pairs: np.ndarray | None = None  # (P, 3): test index i, test index j, same (0/1)
    meta: dict[str, object] = field(default_factory=dict)


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, S, S) -> float, ImageNet mean/std, as the pretrain stage feeds its backbones
    (Bulat et al. A.2: inputs are normalised as in the backbone's pre-training). Channels-last, as
    the pretrain stage's default: convolutions run faster on it (`bench/bench_finetune_step.py`)."""
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return ((images.float() / 255.0 - mean) / std).contiguous(memory_format=torch.channels_last)
