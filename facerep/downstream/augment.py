"""Fine-tuning augmentation, per task as Bulat et al. (2022), appendix A.2, describes it.

A.2 augments each task differently (each task's `augment`, `facerep.downstream.tasks`):
- face recognition: "the only augmentation applied was random horizontal flipping";
- landmarks: "rotation (between +-30 deg), horizontal flipping, scaling (0.85x-1.15x) and color
  jittering";
- AU intensity: the same, plus "Gaussian blurring with a kernel size between 5 and 10px and a
  probability of 0.4";
- emotion (valence/arousal; expression here too): as AU "with the exception of Gaussian blurring";
- 300W-LP (the paper's 3D reconstruction, the pose task's training set here): "scaling
  (0.85x-1.15x), in-plane rotation (+-45 deg), and random 10% translation". Rotation is left out
  for pose: it changes roll by the angle with a sign that depends on each dataset's roll convention,
  so pose gets scale, translation and flip (as Hopenet and its successors train on 300W-LP).
- attributes: A.2 has no attribute task; they get the emotion recipe.

A flip changes labels as well as pixels: landmarks are mirrored and renumbered into the mirrored
point order of their markup (`MIRROR`: iBUG 68, WFLW 98, AFLW 19, COFW 29), yaw and roll change
sign, and an attribute or AU whose name says `left` or `right` swaps with its other-side twin
(none of the published sets or SynthFaces has one: their labels are bilateral). Expression,
valence/arousal and identity do not change.

Images are transformed with torchvision's v2 functional ops; landmark coordinates are moved here,
in the project's continuous convention (pixel i spans [i, i + 1), so a flip maps x to S - x), with
the same affine matrix torchvision applies to the image. torchvision's own keypoint flip maps x to
S - 1 - x (pixel centres at integers), which would shift every flipped landmark by one pixel.
Randomness comes from the generator passed in (seeded per sample by `facerep.downstream.loader`),
so a sample is the same whichever worker process draws it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from facerep.downstream.config import AugmentParams
from facerep.errors import InputError

if TYPE_CHECKING:
    from facerep.downstream.tasks import Task

ROTATE, SCALE, TRANSLATE, FLIP, COLOUR, BLUR = "rotate", "scale", "translate", "flip", "colour", "blur"
#: A.2's emotion recipe, which landmarks, AU (with blur) and attributes share
EMOTION = frozenset({ROTATE, FLIP, SCALE, COLOUR})


def _mirror(points: int, pairs: list[tuple[int, int]]) -> tuple[int, ...]:
    order = list(range(points))
    for a, b in pairs:
        order[a], order[b] = b, a
    return tuple(order)


#: point count -> the point order of the mirrored face: after a flip, point i is the old point
#: MIRROR[K][i]. iBUG 68 (300W, SynthFaces): jaw, brows, nostrils, eyes and mouth mirror about the
#: nose line. WFLW 98, AFLW 19 and COFW 29: mmpose's keypoint tables (`swap` of
#: configs/_base_/datasets/{wflw,aflw,cofw}.py).
MIRROR: dict[int, tuple[int, ...]] = {
    68: _mirror(
        68,
        [(i, 16 - i) for i in range(8)]
        + [(17 + i, 26 - i) for i in range(5)]
        + [(31, 35), (32, 34), (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
        + [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67)],
    ),
    98: _mirror(
        98,
        [(i, 32 - i) for i in range(16)]
        + [(33 + i, 46 - i) for i in range(5)]
        + [(38 + i, 50 - i) for i in range(4)]
        + [(55, 59), (56, 58)]
        + [(60 + i, 72 - i) for i in range(5)]
        + [(65, 75), (66, 74), (67, 73), (76, 82), (77, 81), (78, 80), (83, 87), (84, 86)]
        + [(88, 92), (89, 91), (93, 95), (96, 97)],
    ),
    19: _mirror(19, [(0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9), (12, 14), (15, 17)]),
    29: _mirror(
        29,
        [(0, 1), (2, 3), (4, 6), (5, 7), (8, 9), (10, 11), (12, 14), (13, 15), (16, 17), (18, 19), (22, 23)],
    ),
}


def side_swap(names: list[str]) -> tuple[int, ...]:
    """The column order of side-specific labels after a flip: a name holding `left` trades places
    with the same name holding `right` (case-insensitive); every other column stays."""
    index = {n.lower(): i for i, n in enumerate(names)}
    order = list(range(len(names)))
    for i, name in enumerate(names):
        low = name.lower()
        for side, other in (("left", "right"), ("right", "left")):
            if side in low and (twin := index.get(low.replace(side, other))) is not None:
                order[i] = twin
    return tuple(order)


class Augmenter:
    """A.2's augmentation for one task: `(image, target, rng) -> (image, target)` on a uint8
    (3, S, S) image and the task's target row (`Task.targets`), landmarks (K, 2) in [0, 1]."""

    def __init__(self, params: AugmentParams, task: Task, size: int, label_order: tuple[int, ...] | None):
        self.p, self.task, self.size = params, task.name, size
        self.ops = task.augment
        self.label_order = None if label_order is None else torch.tensor(label_order)

    def __call__(self, image: Tensor, target: Tensor, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
        p, ops, s = self.p, self.ops, self.size
        angle = float(rng.uniform(-p.rotation, p.rotation)) if ROTATE in ops else 0.0
        zoom = float(rng.uniform(*p.scale)) if SCALE in ops else 1.0
        shift = rng.uniform(-p.translate, p.translate, 2) * s if TRANSLATE in ops else np.zeros(2)
        if angle or zoom != 1.0 or shift.any():
            image = TF.affine(
                image,
                angle=angle,
                translate=[float(shift[0]), float(shift[1])],
                scale=zoom,
                shear=[0.0, 0.0],
                interpolation=InterpolationMode.BILINEAR,
            )
            if self.task == "landmarks":
                target = affine_points(target, angle, (float(shift[0]) / s, float(shift[1]) / s), zoom)
        if FLIP in ops and rng.random() < p.flip:
            image = TF.horizontal_flip(image)
            target = self.flip_target(target)
        if COLOUR in ops and p.colour > 0:
            b, c, sat = rng.uniform(1 - p.colour, 1 + p.colour, 3)
            image = TF.adjust_saturation(TF.adjust_contrast(TF.adjust_brightness(image, b), c), sat)
        if BLUR in ops and rng.random() < p.blur:
            kernel = round(float(rng.uniform(p.blur_kernel[0], p.blur_kernel[1])) * s / 256)
            kernel += 1 - kernel % 2  # odd, as a Gaussian kernel must be
            if kernel >= 3:
                image = TF.gaussian_blur(image, [kernel, kernel])
        return image, target

    def flip_target(self, target: Tensor) -> Tensor:
        """The target of the mirrored face (module docstring)."""
        if self.task == "landmarks":
            mirrored = target.clone()
            mirrored[:, 0] = 1.0 - mirrored[:, 0]
            return mirrored[self.label_order]
        if self.task == "pose":
            return target * torch.tensor([-1.0, 1.0, -1.0])
        if self.label_order is not None:
            return target[self.label_order]
        return target


def affine_points(points: Tensor, angle: float, shift: tuple[float, float], zoom: float) -> Tensor:
    """(K, 2) points in [0, 1] image coordinates moved as `TF.affine(image, angle, shift * S, zoom)`
    moves their pixels: about the image centre, `angle` degrees clockwise on screen (y points down),
    scaled by `zoom`, then shifted by `shift` (fractions of the size)."""
    a = math.radians(angle)
    rot = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], dtype=points.dtype)
    centred = points - 0.5
    return centred @ rot.T * zoom + 0.5 + torch.tensor(shift, dtype=points.dtype)


def make_augmenter(
    params: AugmentParams, task: Task, size: int, meta: dict[str, object], target: Tensor
) -> Augmenter:
    """The augmenter of `task` on a dataset with `meta` (attribute and AU names) whose targets look
    like `target` (the landmark count); an unknown landmark markup with flips on is an InputError."""
    order: tuple[int, ...] | None = None
    if task.name == "landmarks" and FLIP in task.augment and params.flip > 0:
        points = int(target.shape[1])
        if points not in MIRROR:
            raise InputError(
                f"finetune.augment.flip: no mirrored point order for {points}-point landmarks "
                f"(known: {sorted(MIRROR)}); set finetune.augment.flip=0"
            )
        order = MIRROR[points]
    elif task.name in ("attributes", "au"):
        names = meta.get("attribute_names" if task.name == "attributes" else "au_names")
        order = side_swap([str(n) for n in names]) if isinstance(names, list) else None
        order = None if order == tuple(range(len(order or ()))) else order
    return Augmenter(params, task, size, order)
