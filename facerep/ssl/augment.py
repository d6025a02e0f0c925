"""Multi-crop augmentation (SwAV, Caron et al. 2020; Bulat et al. A.1: 2x224 + 6x96 views).

Multi-crop is a transform, not dataset code: `MultiCropTransform(img, local_boxes)` returns the
global views first, then the local ones. For a method that asks for face-aware local crops
(`face_aware=True`: ProS, Di et al. 3.1), when the curate stage has kept local crops for a face
(crop-pixel boxes whose ArcFace similarity to the whole face passed the filter), local views are cut
from those boxes with a small jitter instead of from random places, so a local view shows a facial
part rather than background; every other method draws its local crops at random, as its paper does.

The photometric pipeline is the SimCLR/BYOL one (colour jitter with p = 0.8, grey 0.2, Gaussian blur,
solarisation for BYOL/DINO's second view), built from torchvision and lightly's `GaussianBlur` and
`RandomSolarization`. The jitter's (brightness, contrast, saturation, hue) strengths are each method's
own (`crops.color_jitter`): SimCLR's and SwAV's (0.8, 0.8, 0.8, 0.2), BYOL's and DINO's
(0.4, 0.4, 0.2, 0.1), MoCo v2's (0.4, 0.4, 0.4, 0.1). Horizontal flip is a parameter because it
destroys the sign of yaw and roll (SSL_TRIAL.md): the default per method is documented in
docs/pretrain.md.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch
from lightly.transforms import GaussianBlur, RandomSolarization
from PIL import Image
from torchvision import transforms as T

from facerep.ssl.config import SIMCLR_JITTER

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
Box = tuple[float, float, float, float]
BICUBIC = T.InterpolationMode.BICUBIC


def _photometric(
    size: int,
    jitter: float,
    gray: float,
    blur: float,
    solarize: float,
    flip: bool,
    hue: float | None = None,
    color_jitter: Sequence[float] = SIMCLR_JITTER,
) -> list[object]:
    """Colour jitter (`color_jitter` x `jitter`, p=0.8), grey, blur (sigma scaled to `size`), solarise.

    `hue` overrides the hue jitter of `color_jitter[3]` x `jitter`: on flat-coloured renders such as
    SynthFaces a hue shift is most of what a random network sees of a view (docs/pretrain.md).
    """
    steps: list[object] = []
    if flip:
        steps.append(T.RandomHorizontalFlip())
    if jitter > 0:
        bright, contrast, saturation, hue_jitter = (jitter * c for c in color_jitter)
        cj = T.ColorJitter(bright, contrast, saturation, hue_jitter if hue is None else hue)
        steps.append(T.RandomApply([cj], p=0.8))
    if gray > 0:
        steps.append(T.RandomGrayscale(p=gray))
    if blur > 0:
        scale = size / 224
        steps.append(GaussianBlur(prob=blur, sigmas=(0.1 * scale, 2.0 * scale)))
    if solarize > 0:
        steps.append(RandomSolarization(prob=solarize))
    steps += [T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    return steps


class MultiCropTransform:
    """`global_count` views of `global_size` px then `local_count` views of `local_size` px.

    `blur` and `solarize` give one probability per global view (BYOL uses 1.0/0.1 for blur and
    0.0/0.2 for solarisation on its two views); local views use the last entry. `box_jitter` is the
    fraction of a curated box's size by which its corners move at random; `face_aware` makes local
    views come from the curated boxes when a face has them.
    """

    def __init__(
        self,
        global_size: int = 224,
        global_count: int = 2,
        local_size: int = 96,
        local_count: int = 6,
        global_scale: tuple[float, float] = (0.14, 1.0),
        local_scale: tuple[float, float] = (0.05, 0.14),
        flip: bool = True,
        jitter: float = 1.0,
        gray: float = 0.2,
        blur: Sequence[float] = (0.5,),
        solarize: Sequence[float] = (0.0,),
        box_jitter: float = 0.1,
        hue: float | None = None,
        face_aware: bool = False,
        color_jitter: Sequence[float] = SIMCLR_JITTER,
    ) -> None:
        self.face_aware = face_aware
        self.global_count = global_count
        self.local_count = local_count
        self.local_size = local_size
        self.box_jitter = box_jitter

        def prob(values: Sequence[float], i: int) -> float:
            return float(values[min(i, len(values) - 1)])

        self.global_views = [
            T.Compose(
                [
                    T.RandomResizedCrop(global_size, scale=global_scale, interpolation=BICUBIC),
                    *_photometric(
                        global_size, jitter, gray, prob(blur, i), prob(solarize, i), flip, hue, color_jitter
                    ),
                ]
            )
            for i in range(global_count)
        ]
        local_photo = _photometric(
            local_size, jitter, gray, prob(blur, 99), prob(solarize, 99), flip, hue, color_jitter
        )
        self.local_random = T.Compose(
            [T.RandomResizedCrop(local_size, scale=local_scale, interpolation=BICUBIC), *local_photo]
        )
        self.local_photo = T.Compose(local_photo)

    def _from_box(self, img: Image.Image, box: Box) -> Image.Image:
        """Cut `box` (crop pixels) with each corner jittered by up to `box_jitter` of the box size."""
        x1, y1, x2, y2 = box
        w, h = x2 - x1, y2 - y1
        j = self.box_jitter
        x1, x2 = x1 + random.uniform(-j, j) * w, x2 + random.uniform(-j, j) * w
        y1, y2 = y1 + random.uniform(-j, j) * h, y2 + random.uniform(-j, j) * h
        x1, y1 = max(0.0, x1), max(0.0, y1)
        x2, y2 = min(float(img.width), max(x2, x1 + 1)), min(float(img.height), max(y2, y1 + 1))
        return img.crop((x1, y1, x2, y2)).resize((self.local_size, self.local_size), Image.BICUBIC)

    def __call__(self, img: Image.Image, local_boxes: list[Box] | None = None) -> list[torch.Tensor]:
        img = img.convert("RGB")
        views = [t(img) for t in self.global_views]
        for _ in range(self.local_count):
            if self.face_aware and local_boxes:
                views.append(self.local_photo(self._from_box(img, random.choice(local_boxes))))
            else:
                views.append(self.local_random(img))
        return views
