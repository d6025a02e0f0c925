"""SynthFaces labels mean what they say, checked on rendered pixels (issue 2, point 6)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from facerep.synth.face3d import EYE_L, EYE_R, FLIP_68, LABELLED_AUS
from facerep.synth.faces import render_face
from facerep.synth.identity import make_identity
from facerep.synth.sample import mirror_sample, sample_face, sample_face_of

SIZE = 112


def _luma(img: np.ndarray, xy: np.ndarray) -> float:
    """Mean luminance of the 2x2 pixels around a continuous-coordinate point."""
    x, y = round(xy[0] - 1), round(xy[1] - 1)
    return float((img[y : y + 2, x : x + 2].astype(np.float64) @ np.array([0.299, 0.587, 0.114])).mean())


def _frontal(index: int, **changes) -> object:
    s = sample_face(0, index, 1000)
    return dataclasses.replace(
        s, yaw=s.yaw / 3, pitch=s.pitch / 3, roll=s.roll / 3, sunglasses=False, **changes
    )


@pytest.mark.parametrize("index", range(12))
def test_eye_landmarks_fall_on_dark_pupils_inside_lighter_sclera(index: int) -> None:
    s = _frontal(index, gaze=(0.0, 0.0))
    s = dataclasses.replace(s, au={**s.au, "au06": 0.0, "au07": 0.0})
    img, lm = render_face(s, SIZE, clean=True)
    for eye in (EYE_R, EYE_L):
        centre = lm[eye].mean(axis=0)
        corner_a, corner_b = lm[eye[0]], lm[eye[3]]
        pupil = _luma(img, centre)
        sclera = max(_luma(img, centre + 0.62 * (c - centre)) for c in (corner_a, corner_b))
        assert pupil < 80, f"pupil not dark at the eye landmark centre ({pupil:.0f})"
        assert sclera > pupil + 40, f"no lighter sclera beside the pupil ({sclera:.0f} vs {pupil:.0f})"


def test_mouth_corner_distance_grows_with_lip_corner_puller() -> None:
    base = _frontal(3)
    widths, images, marks = [], [], []
    for intensity in range(6):
        au = dict.fromkeys(base.au, 0.0) | {"au12": float(intensity)}
        img, lm = render_face(dataclasses.replace(base, au=au), SIZE, clean=True)
        widths.append(float(np.linalg.norm(lm[54] - lm[48])))
        images.append(img.astype(int))
        marks.append(lm)
    assert np.all(np.diff(widths) > 0.5), widths
    # The pixels moved with the label: at the AU12=5 corners the image changed from AU12=0.
    for corner in (48, 54):
        x, y = np.round(marks[-1][corner] - 0.5).astype(int)
        assert np.abs(images[-1][y, x] - images[0][y, x]).sum() > 30


@pytest.mark.parametrize("index", [0, 1, 5, 9, 14, 22])
def test_horizontal_mirror_negates_yaw_and_roll_and_flips_landmarks(index: int) -> None:
    s = sample_face(0, index, 1000)
    m = mirror_sample(s)
    assert (m.yaw, m.pitch, m.roll) == (-s.yaw, s.pitch, -s.roll)
    img, lm = render_face(s, SIZE, clean=True)
    img_m, lm_m = render_face(m, SIZE, clean=True)
    flipped = np.stack([SIZE - lm[:, 0], lm[:, 1]], axis=1)[FLIP_68]
    np.testing.assert_allclose(lm_m, flipped, atol=1e-6)
    diff = np.abs(img[:, ::-1].astype(int) - img_m.astype(int))
    assert diff.mean() < 2.0, f"mirrored render differs from the flipped image by {diff.mean():.2f}"
    assert np.mean(diff.max(axis=2) > 60) < 0.01


def test_same_identity_closer_to_itself_than_to_others_across_poses() -> None:
    """A lighting-invariant pixel code (chromaticity of a 4x4 grid over the face centre) retrieves
    the same identity across yaw in [-25, 25], pitch, roll, lighting and backdrop changes."""
    rng = np.random.default_rng(7)
    ids, codes = [], []
    for identity in range(12):
        ident = make_identity(0, identity)
        for _ in range(4):
            s = sample_face_of(rng, ident, 6)
            s = dataclasses.replace(
                s, eyeglasses=False, hat=False, earrings=False, yaw=float(rng.uniform(-25, 25))
            )
            img, _ = render_face(s, 64, clean=True)
            grid = img[20:52, 16:48].astype(np.float64).reshape(4, 8, 4, 8, 3).mean(axis=(1, 3)) + 1.0
            codes.append((grid / grid.sum(axis=2, keepdims=True)).ravel())
            ids.append(identity)
    ids_a, emb = np.array(ids), np.array(codes)
    same = ids_a[:, None] == ids_a[None, :]
    off_diag = ~np.eye(len(ids_a), dtype=bool)
    d = np.linalg.norm(emb[:, None] - emb[None, :], axis=2)
    assert d[same & off_diag].mean() < 0.8 * d[~same].mean()
    d[~off_diag] = np.inf
    accuracy = same[np.arange(len(ids_a)), d.argmin(axis=1)].mean()
    assert accuracy > 0.3, f"1-NN identity accuracy {accuracy:.2f} (chance 0.06)"


def test_each_action_unit_moves_its_landmarks() -> None:
    base = _frontal(4)
    zero = dict.fromkeys(base.au, 0.0)
    p0 = dataclasses.replace(base, au=zero).face.points
    moved = {}
    for au in LABELLED_AUS:
        p = dataclasses.replace(base, au=zero | {au: 5.0}).face.points
        moved[au] = p - p0
    assert moved["au01"][[21, 22], 1].max() < -0.1  # inner brows up
    assert moved["au02"][[17, 26], 1].max() < -0.1  # outer brows up
    assert moved["au04"][17:27, 1].min() > 0.05  # brows down
    eye_open = lambda d: (d[[40, 41, 46, 47], 1] - d[[37, 38, 43, 44], 1]).mean()  # noqa: E731
    assert eye_open(moved["au06"]) < -0.05 and eye_open(moved["au07"]) < -0.05  # eyes narrow
    assert moved["au12"][[48, 54], 1].max() < -0.1  # corners up
    assert moved["au15"][[48, 54], 1].min() > 0.1  # corners down
    assert moved["au26"][[57, 66, 8], 1].min() > 0.3  # jaw drops


def test_binary_attributes_flip_with_their_rendering_and_move_pixels_at_64px() -> None:
    s = _frontal(2, eyeglasses=False, hat=False, earrings=False)
    ident = dataclasses.replace(s.identity, beard=False, mustache=False, bangs=False, bald=False)
    off = dataclasses.replace(s, identity=ident, au=dict.fromkeys(s.au, 0.0))
    img0, _ = render_face(off, 64, clean=True)
    variants = {
        "eyeglasses": dataclasses.replace(off, eyeglasses=True),
        "hat": dataclasses.replace(off, hat=True),
        "earrings": dataclasses.replace(off, earrings=True),
        "beard": dataclasses.replace(off, identity=dataclasses.replace(ident, beard=True)),
        "mustache": dataclasses.replace(off, identity=dataclasses.replace(ident, mustache=True)),
        "bangs": dataclasses.replace(off, identity=dataclasses.replace(ident, bangs=True)),
        "bald": dataclasses.replace(off, identity=dataclasses.replace(ident, bald=True)),
        "smiling": dataclasses.replace(off, au=off.au | {"au12": 4.0}),
        "mouth_open": dataclasses.replace(off, au=off.au | {"au26": 4.0}),
    }
    assert not any(off.attributes()[k] for k in variants)
    for name, v in variants.items():
        assert v.attributes()[name] == 1
        img, _ = render_face(v, 64, clean=True)
        changed = int((np.abs(img.astype(int) - img0.astype(int)).max(axis=2) > 30).sum())
        assert changed >= 15, f"{name} changes only {changed} pixels at 64 px"
