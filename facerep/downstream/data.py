"""What every loader returns: images as lazy sources read from disk per item, plus named label arrays.

Label names are shared by all loaders so a task reads the same key whatever the dataset:
`expression` (N,) int, `attributes` (N, A) 0/1, `landmarks` (N, K, 2) in [0, 1] image coordinates,
`box` (N, 4) normalised x1,y1,x2,y2 (NME box/diag normalisation), `au` (N, A) intensities,
`identity` (N,) int, `pose` (N, 3) yaw,pitch,roll degrees, `valence_arousal` (N, 2) in [-1, 1].
Evaluation faces are read at `size` x `size`; datasets with a face box are cropped to it first.

Labels are small and stay in memory; images do not. A split's `images` is an `ImageSource`: what to
read for item i (a file and its crop box, a row of a csv), decoded only when a batch asks for it,
so AffectNet's 290,000 or CelebA's 200,000 faces at 224 px (40-60 GB as uint8) never sit in RAM.
The concrete sources (files, csv cells) live in `facerep.downstream.datasets.common`;
`facerep.downstream.loader` reads them through a torch DataLoader with worker processes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from facerep.ssl.augment import IMAGENET_MEAN, IMAGENET_STD


class ImageSource(ABC):
    """N faces at `size` x `size`, each decoded when read: `read(i)` is an RGB uint8 (S, S, 3) array.

    Holds only what locates an item (a path, a box, a byte offset), so it is cheap to copy into
    DataLoader workers and its memory does not grow with the faces' pixels.
    """

    size: int

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def read(self, i: int) -> np.ndarray:
        """Item `i` as RGB uint8 (size, size, 3)."""

    def __getitem__(self, i: int) -> torch.Tensor:
        """Item `i` as a uint8 (3, size, size) tensor, the layout the networks read."""
        pixels = np.array(self.read(int(i)), dtype=np.uint8)  # a writable copy: PIL's arrays are read-only
        return torch.from_numpy(pixels).permute(2, 0, 1).contiguous()

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(N, 3, S, S): the shape the images would have stacked."""
        return (len(self), 3, self.size, self.size)

    def take(self, idx: Sequence[int] | np.ndarray) -> ImageSource:
        """The items at `idx`, in that order (nothing is read)."""
        return Taken(self, np.asarray(idx, dtype=np.int64).reshape(-1))


class Taken(ImageSource):
    """Some items of another source; taking again composes the indices instead of nesting."""

    def __init__(self, base: ImageSource, idx: np.ndarray) -> None:
        self.base, self.idx, self.size = base, idx, base.size

    def __len__(self) -> int:
        return len(self.idx)

    def read(self, i: int) -> np.ndarray:
        return self.base.read(int(self.idx[i]))

    def take(self, idx: Sequence[int] | np.ndarray) -> ImageSource:
        return Taken(self.base, self.idx[np.asarray(idx, dtype=np.int64).reshape(-1)])


class Joined(ImageSource):
    """Several sources of one size end to end (self-distillation: the labelled faces, then the rest)."""

    def __init__(self, parts: Sequence[ImageSource]) -> None:
        sizes = {p.size for p in parts}
        if len(sizes) != 1:
            raise ValueError(f"Joined: sources of different sizes {sorted(sizes)}")
        self.parts, self.size = list(parts), sizes.pop()
        self.ends = np.cumsum([len(p) for p in self.parts])

    def __len__(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0

    def read(self, i: int) -> np.ndarray:
        part = int(np.searchsorted(self.ends, i, side="right"))
        start = int(self.ends[part - 1]) if part else 0
        return self.parts[part].read(i - start)


@dataclass
class Split:
    """One split: `images` read lazily, `labels` by name, `keys` stable item ids."""

    images: ImageSource
    labels: dict[str, np.ndarray]
    keys: list[str]

    def __len__(self) -> int:
        return len(self.keys)

    def take(self, idx: np.ndarray) -> Split:
        """The items at `idx` (a subset, a validation part); no image is read."""
        idx = np.asarray(idx, dtype=np.int64)
        return Split(
            self.images.take(idx), {k: v[idx] for k, v in self.labels.items()}, [self.keys[i] for i in idx]
        )


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
    (Bulat et al. A.2: inputs are normalised as in the backbone's pre-training), on the images'
    device. Channels-last, as the pretrain stage's default: convolutions run faster on it
    (`bench/bench_finetune_step.py`)."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
    return ((images.float() / 255.0 - mean) / std).contiguous(memory_format=torch.channels_last)
