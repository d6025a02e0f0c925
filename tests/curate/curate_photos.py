"""Real face photos that ship inside registry packages, cropped the way the detect stage crops.

insightface's wheel carries `t1.jpg` (six people) and `Tom_Hanks_54745.png` (an aligned face);
scikit-image carries the astronaut photo. Faces are found with dlib's HOG detector and its
68-point shape predictor (from `face-recognition-models`), reduced to the 5 ArcFace points, and cut
into 256x256 crops with the face about 190 px wide, as DESIGN section 2 describes detect's crops.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from facerep.curate.embedders import ARCFACE_TEMPLATE
from facerep.faces.align import similarity_transform

CROP = 256
# The ArcFace template scaled and centred so the face spans about 190 of 256 pixels.
CROP_TEMPLATE = (ARCFACE_TEMPLATE - 56.0) * 2.0 + np.array([128.0, 118.0])


@dataclass
class PhotoFace:
    name: str
    crop: np.ndarray  # RGB 256x256
    landmarks5: np.ndarray  # 5x2 crop pixels
    bbox: tuple[float, float, float, float]  # source pixels
    source_image: str


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


def _lm5(shape) -> np.ndarray:
    p = np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], np.float64)
    return np.stack([p[36:42].mean(0), p[42:48].mean(0), p[30], p[48], p[54]])


def crop_face(img: np.ndarray, lm5: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 256x256 crop of a face and its landmarks in crop pixels."""
    m = similarity_transform(lm5, CROP_TEMPLATE)
    crop = cv2.warpAffine(img, m, (CROP, CROP), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    pts = np.c_[lm5, np.ones(5)] @ m.T
    return crop, pts


@cache
def photo_faces() -> tuple[PhotoFace, ...]:
    """The six faces of t1.jpg, the astronaut and Tom Hanks, as crops with 5 landmarks."""
    import dlib
    from skimage import data

    models = package_dir("face_recognition_models") / "models"
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(models / "shape_predictor_68_face_landmarks.dat"))
    images = package_dir("insightface") / "data" / "images"
    t1 = cv2.cvtColor(cv2.imread(str(images / "t1.jpg")), cv2.COLOR_BGR2RGB)
    out = []
    for k, rect in enumerate(sorted(detector(t1, 1), key=lambda r: r.left())):
        lm = _lm5(predictor(t1, rect))
        crop, pts = crop_face(t1, lm)
        box = (rect.left(), rect.top(), rect.right(), rect.bottom())
        out.append(PhotoFace(f"t1_{k}", crop, pts, box, "t1.jpg"))
    astro = np.ascontiguousarray(data.astronaut())
    rect = max(detector(astro, 0), key=lambda r: r.width())
    crop, pts = crop_face(astro, _lm5(predictor(astro, rect)))
    out.append(
        PhotoFace("astronaut", crop, pts, (rect.left(), rect.top(), rect.right(), rect.bottom()), "astronaut")
    )
    hanks = cv2.cvtColor(cv2.imread(str(images / "Tom_Hanks_54745.png")), cv2.COLOR_BGR2RGB)
    crop, pts = crop_face(hanks, ARCFACE_TEMPLATE)
    out.append(PhotoFace("hanks", crop, pts, (0.0, 0.0, 112.0, 112.0), "Tom_Hanks_54745.png"))
    return tuple(out)
