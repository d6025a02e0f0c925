"""5-point ArcFace alignment: exact on synthetic similarity transforms, equal to insightface's."""

import numpy as np
import pytest

from facerep.faces.align import align_to_arcface, arcface_matrix, arcface_template, similarity_transform
from facerep.faces.crop import transform_points


def _similarity(scale: float, angle_deg: float, tx: float, ty: float) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    r = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return np.hstack([r, [[tx], [ty]]])


@pytest.mark.parametrize("params", [(1.0, 0, 0, 0), (2.5, 30, 40, -7), (0.4, -80, 300, 120)])
def test_recovers_a_known_similarity(params):
    src = np.random.default_rng(1).uniform(0, 200, (5, 2))
    m = _similarity(*params)
    np.testing.assert_allclose(similarity_transform(src, transform_points(src, m)), m, atol=1e-9)


def test_landmarks_land_on_the_template():
    template = arcface_template(112)
    face_lm = transform_points(
        template, np.linalg.inv(np.vstack([_similarity(0.5, 12, 9, 4), [0, 0, 1]]))[:2]
    )
    aligned_lm = transform_points(face_lm, arcface_matrix(face_lm))
    np.testing.assert_allclose(aligned_lm, template, atol=1e-9)


def test_matches_insightface_norm_crop():
    face_align = pytest.importorskip("insightface.utils.face_align")
    rng = np.random.default_rng(2)
    img = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    lm = np.array([[120, 100], [170, 98], [146, 130], [125, 160], [165, 158]], np.float32)
    lm += rng.normal(0, 2, lm.shape).astype(np.float32)
    ours = align_to_arcface(img, lm.reshape(-1))
    ref = face_align.norm_crop(img, lm)
    assert ours.shape == (112, 112, 3)
    assert np.abs(ours.astype(int) - ref.astype(int)).mean() < 1.0
