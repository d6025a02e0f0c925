"""Crop geometry (Bulat et al. A.1): round trips, in-image and out-of-image boxes, invariants."""

import numpy as np
import pytest

from facerep.faces.crop import (
    crop_face,
    crop_window,
    extract_window,
    face_size,
    invert_affine,
    transform_box,
    transform_points,
)


def _ramp(h: int = 300, w: int = 400) -> np.ndarray:
    """An RGB image whose pixel values encode their coordinates (so a wrong offset shows)."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx % 256, yy % 256, (xx + yy) % 256], -1).astype(np.uint8)


@pytest.mark.parametrize("box", [(100, 80, 180, 190), (10.3, 20.7, 50.2, 61.9), (0, 0, 400, 300)])
def test_face_spans_face_px_and_is_centred(box):
    window = crop_window(np.array(box), size=256, face_px=190)
    mapped = transform_box(np.array(box), window.matrix)
    assert face_size(mapped) == pytest.approx(190, abs=190 / face_size(box) + 1e-6)
    centre = (mapped[:2] + mapped[2:]) / 2
    np.testing.assert_allclose(centre, [128, 128], atol=window.scale + 1e-6)


def test_points_round_trip_through_the_inverse():
    window = crop_window(np.array([37.0, 12.0, 133.0, 140.0]))
    pts = np.random.default_rng(0).uniform(0, 300, (20, 2))
    back = transform_points(transform_points(pts, window.matrix), invert_affine(window.matrix))
    np.testing.assert_allclose(back, pts, atol=1e-9)


def test_in_image_crop_matches_direct_slicing_at_unit_scale():
    img = _ramp()
    box = np.array([100.0, 100.0, 190.0, 190.0])
    crop, _, window = crop_face(img, box, size=90, face_px=90)
    assert window.side == 90
    np.testing.assert_array_equal(crop, img[window.y0 : window.y0 + 90, window.x0 : window.x0 + 90])


def test_landmarks_follow_the_pixels():
    """A bright dot at a landmark is found at the transformed landmark in the crop."""
    img = np.zeros((300, 400, 3), np.uint8)
    lm = np.array([[150.5, 120.5], [190.5, 121.5], [170.5, 145.5], [155.5, 165.5], [185.5, 166.5]])
    for x, y in lm:
        img[int(y) - 1 : int(y) + 2, int(x) - 1 : int(x) + 2] = 255
    crop, lm_crop, _ = crop_face(img, np.array([135.0, 100.0, 205.0, 185.0]), lm)
    for x, y in lm_crop:
        x0, y0 = int(x) - 8, int(y) - 8
        patch = crop[y0 : y0 + 17, x0 : x0 + 17, 0].astype(float)
        yy, xx = np.mgrid[0:17, 0:17] + 0.5
        centre = (xx * patch).sum() / patch.sum() + x0, (yy * patch).sum() / patch.sum() + y0
        np.testing.assert_allclose(centre, (x, y), atol=0.5)


def test_out_of_image_box_is_padded_by_edge_or_constant():
    img = _ramp(100, 100)
    box = np.array([-40.0, -40.0, 40.0, 40.0])
    edge, _, window = crop_face(img, box, size=128, face_px=64, padding="edge")
    const, _, _ = crop_face(img, box, size=128, face_px=64, padding="constant")
    assert edge.shape == const.shape == (128, 128, 3)
    assert window.x0 < 0 and window.y0 < 0
    corner_const = const[:10, :10]
    assert (corner_const == 0).all()
    np.testing.assert_array_equal(edge[:10, :10], np.broadcast_to(img[0, 0], (10, 10, 3)))
    inside = const[-10:, -10:]
    np.testing.assert_array_equal(inside, edge[-10:, -10:])


def test_box_entirely_outside_gives_a_full_crop():
    img = _ramp(50, 50)
    crop, _, _ = crop_face(img, np.array([500.0, 500.0, 540.0, 540.0]), size=64, padding="constant")
    assert crop.shape == (64, 64, 3) and not crop.any()
    edge, _, _ = crop_face(img, np.array([500.0, 500.0, 540.0, 540.0]), size=64)
    assert (edge == img[-1, -1]).all()


def test_grey_images_keep_their_shape():
    img = _ramp()[..., 0]
    window = crop_window(np.array([10.0, 10.0, 60.0, 60.0]), size=32, face_px=24)
    assert extract_window(img, window).shape == (32, 32)


def test_translation_invariance_of_the_window():
    """Shifting the box by whole pixels shifts the window and nothing else (no rotation, same scale)."""
    box = np.array([50.2, 60.7, 130.1, 150.3])
    a, b = crop_window(box), crop_window(box + np.array([7, 11, 7, 11]))
    assert (b.x0 - a.x0, b.y0 - a.y0, b.side) == (7, 11, a.side)


def test_degenerate_box_is_an_error():
    with pytest.raises(ValueError, match="degenerate"):
        crop_window(np.array([10.0, 10.0, 10.0, 10.0]))
