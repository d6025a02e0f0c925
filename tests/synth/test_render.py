"""Renderer geometry that labels do not see: the smile folds of a frontal face are mirror images."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from facerep.synth.faces import crop_placement
from facerep.synth.imaging import backdrop
from facerep.synth.render import draw_person
from facerep.synth.render_draw import SHIFT
from facerep.synth.sample import sample_face


def test_smile_folds_of_a_frontal_face_mirror_each_other(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each fold (wing of the nose -> mouth corner) is drawn about the head's own centre: on a frontal
    face the two lie at the same height, at equal distances either side of the face's midline."""
    s = sample_face(0, 0, 10)
    au = dict.fromkeys(s.au, 0.0) | {"au12": 5.0}
    s = dataclasses.replace(
        s, yaw=0.0, pitch=0.0, roll=0.0, au=au, eyeglasses=False, sunglasses=False, hat=False
    )
    folds: list[np.ndarray] = []
    polylines = cv2.polylines

    def record(img, pts, *args, **kwargs):
        if len(pts) == 1 and np.asarray(pts[0]).shape == (3, 1, 2):  # the folds: the 3-point lines
            folds.append(np.asarray(pts[0], dtype=float).reshape(3, 2) / (1 << SHIFT))
        return polylines(img, pts, *args, **kwargs)

    monkeypatch.setattr(cv2, "polylines", record)
    size = 256
    img = backdrop(s.background, size, size)
    scale, centre = crop_placement(s, size)
    lm = draw_person(img, s, scale, centre)
    assert len(folds) == 2, f"expected the two smile folds, drew {len(folds)} 3-point lines"
    left, right = sorted(folds, key=lambda f: f[:, 0].mean())
    midline = (lm[27:31, 0].mean() + lm[8, 0]) / 2  # nose bridge and chin
    np.testing.assert_allclose(left[:, 1], right[:, 1], atol=1.0)
    np.testing.assert_allclose(midline - left[:, 0], right[:, 0] - midline, atol=1.5)
