"""The offline RetinaFace MobileNet-0.25 on real photos: every face found, landmarks on the eyes.

The eye reference is independent of RetinaFace: dlib's HOG detector and its 68-point shape predictor
(from the `face-recognition-models` package), eye centre = mean of the six eye-contour points.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from facerep.faces.align import arcface_template

from .conftest import read_rgb


def dlib_eyes(image: np.ndarray) -> list[np.ndarray]:
    """(2, 2) left/right eye centres of each face dlib finds."""
    dlib = pytest.importorskip("dlib")
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        pytest.skip("face-recognition-models is not installed")
    model = Path(spec.origin).parent / "models" / "shape_predictor_68_face_landmarks.dat"
    predictor = dlib.shape_predictor(str(model))
    eyes = []
    for rect in dlib.get_frontal_face_detector()(image, 1):
        pts = np.array([[p.x, p.y] for p in predictor(image, rect).parts()], float)
        eyes.append(np.stack([pts[36:42].mean(0), pts[42:48].mean(0)]))
    return eyes


def assert_eyes_match(found_eyes: np.ndarray, reference: list[np.ndarray], tolerance: float) -> int:
    """How many reference faces have both eyes within `tolerance` x their inter-ocular distance of a
    detection's eyes (0.25 is the usual "eye found" criterion, Jesorsky et al. 2001)."""
    matched = 0
    for ref in reference:
        iod = np.linalg.norm(ref[0] - ref[1])
        err = np.linalg.norm(found_eyes - ref[None], axis=-1).max(-1)
        if err.min() <= tolerance * iod:
            matched += 1
    return matched


def test_group_photo_six_faces_with_eyes(mobile_detector, group_photo_path):
    image = read_rgb(group_photo_path)
    (det,) = mobile_detector.detect([image])
    assert len(det) == 6
    assert (det.scores >= 0.8).all()
    assert (np.diff(det.scores) <= 0).all()
    lm = det.landmarks5
    inside = (lm[..., 0] >= det.boxes[:, None, 0]) & (lm[..., 0] <= det.boxes[:, None, 2])
    assert inside.all()
    assert (lm[:, 0, 0] < lm[:, 1, 0]).all(), "left eye is image-left of the right eye"
    assert (lm[:, :2, 1].max(1) < lm[:, 3:, 1].min(1)).all(), "eyes above the mouth"
    reference = dlib_eyes(image)
    assert len(reference) == 6
    assert assert_eyes_match(lm[:, :2], reference, tolerance=0.25) == 6


def test_astronaut_one_face_with_eyes(mobile_detector, astronaut):
    (det,) = mobile_detector.detect([astronaut])
    assert len(det) == 1
    reference = dlib_eyes(astronaut)
    assert assert_eyes_match(det.landmarks5[:, :2], reference, tolerance=0.25) == 1


def test_aligned_face_landmarks_fall_on_the_arcface_template(mobile_detector, hanks_path):
    """The 112x112 Tom Hanks face is aligned to the ArcFace template: the detector's eyes and mouth
    must come back within a few pixels of the template's points."""
    (det,) = mobile_detector.detect([read_rgb(hanks_path)])
    assert len(det) == 1
    template = arcface_template(112)
    err = np.linalg.norm(det.landmarks5[0] - template, axis=1)
    assert err[[0, 1]].max() < 5.0 and err.max() < 8.0


def test_batch_equals_one_by_one(mobile_detector, group_photo_path, astronaut):
    """Letterboxing into one batch changes no detection (padding reads as background)."""
    group = read_rgb(group_photo_path)
    batched = mobile_detector.detect([group, astronaut, group[:400, :300]])
    single = [mobile_detector.detect([im])[0] for im in (group, astronaut, group[:400, :300])]
    for a, b in zip(batched, single, strict=True):
        assert len(a) == len(b)
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1.0)


def test_blank_image_has_no_faces(mobile_detector):
    (det,) = mobile_detector.detect([np.full((300, 200, 3), 127, np.uint8)])
    assert len(det) == 0 and det.boxes.shape == (0, 4) and det.landmarks5.shape == (0, 5, 2)
