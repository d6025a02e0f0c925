"""What the published-layout loaders share: the image sources they return (files with a crop box,
csv cells, in-file arrays), reading one face, and moving landmarks into a crop."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from facerep.downstream.data import ImageSource
from facerep.errors import InputError


def read_face(path: Path, size: int, box: np.ndarray | None = None) -> np.ndarray:
    """RGB uint8 (size, size, 3) of `path`, cropped to `box` (pixels x1,y1,x2,y2) when given."""
    try:
        with Image.open(path) as im:
            img = im.convert("RGB")
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: unreadable image ({exc})") from exc
    if box is not None:
        img = img.crop(tuple(round(v) for v in box))
    return np.asarray(img.resize((size, size), Image.BILINEAR))


class FaceFiles(ImageSource):
    """Image files, each cropped to its pixel box (x1, y1, x2, y2) when boxes are given, then resized:
    every loader whose faces are files on disk."""

    def __init__(self, paths: Sequence[str | Path], size: int, boxes: np.ndarray | None = None) -> None:
        self.paths = [str(p) for p in paths]
        self.size = size
        self.boxes = None if boxes is None else np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if self.boxes is not None and len(self.boxes) != len(self.paths):
            raise ValueError(f"FaceFiles: {len(self.paths)} files but {len(self.boxes)} boxes")

    def __len__(self) -> int:
        return len(self.paths)

    def read(self, i: int) -> np.ndarray:
        return read_face(Path(self.paths[i]), self.size, None if self.boxes is None else self.boxes[i])


def csv_row_offsets(path: Path) -> np.ndarray:
    """The byte offset of every data row of a csv holding one row per line (after its header)."""
    offsets, pos = [], 0
    with open(path, "rb") as f:
        pos += len(f.readline())
        for line in f:
            if line.strip():
                offsets.append(pos)
            pos += len(line)
    return np.array(offsets, dtype=np.int64)


class CsvCells(ImageSource):
    """Faces stored as text in one column of a csv (FER2013's `pixels`): item i is the row starting at
    byte `offsets[i]` (`csv_row_offsets`), parsed by `decode(cell, size)` when read. The file must hold
    one row per line (no quoted newlines), as FER2013's does."""

    def __init__(
        self,
        path: Path,
        offsets: np.ndarray,
        column: int,
        size: int,
        decode: Callable[[str, int], np.ndarray],
    ) -> None:
        self.path, self.offsets, self.column, self.size, self.decode = path, offsets, column, size, decode

    def __len__(self) -> int:
        return len(self.offsets)

    def read(self, i: int) -> np.ndarray:
        with open(self.path, "rb") as f:
            f.seek(int(self.offsets[i]))
            line = f.readline().decode("utf-8")
        return self.decode(next(csv.reader([line]))[self.column], self.size)


class Arrays(ImageSource):
    """Faces already in memory, (N, S, S, 3) uint8: only for a dataset that ships its images inside an
    annotation file read whole (COFW's .mat, 1,852 faces in all), never for one that grows."""

    def __init__(self, images: np.ndarray, size: int) -> None:
        self.images = np.asarray(images, dtype=np.uint8).reshape(-1, size, size, 3)
        self.size = size

    def __len__(self) -> int:
        return len(self.images)

    def read(self, i: int) -> np.ndarray:
        return self.images[i]


def square_box(points: np.ndarray, scale: float = 1.25) -> np.ndarray:
    """A square box around landmark points (pixels), enlarged by `scale`: how landmark datasets
    without a detector box are cropped (the usual 300W/WFLW practice)."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    centre, half = (lo + hi) / 2, (hi - lo).max() * scale / 2
    return np.array([centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half])


def points_in_box(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Pixel points -> [0, 1] coordinates of the crop `box`."""
    wh = np.array([box[2] - box[0], box[3] - box[1]])
    return (points - box[:2]) / wh


def require(path: Path, what: str) -> Path:
    """`path`, or an InputError naming the missing file of the published layout."""
    if not path.exists():
        raise InputError(f"{path}: missing {what} (see docs/finetune.md for the expected layout)")
    return path
