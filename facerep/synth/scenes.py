"""Flickr-like SynthFaces scene photos: cluttered backgrounds, 0-N people, occluders, distractors.

Scenes feed face detection, so (unlike face crops) they carry clutter: rectangles, lines,
textured patches and plain skin-coloured ellipses that a detector must not call faces. Each face is
a full person (head, neck, shoulders) whose ground truth is the RetinaFace-style box and 5 points
of its projected landmarks. People are placed so that no body covers another face; occluders
(hands, objects) are drawn over some faces after the fact and flagged in `occluded`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from facerep.synth.face3d import face_box, landmarks5, project, rotation
from facerep.synth.identity import make_identity
from facerep.synth.imaging import backdrop, degrade, encode_jpeg
from facerep.synth.render import draw_person
from facerep.synth.render_draw import SHIFT
from facerep.synth.sample import (
    Degradation,
    FaceSample,
    sample_background,
    sample_face_of,
    sample_lighting,
)

SCENE_STREAM = 4
_ASPECTS = (4 / 3, 3 / 2, 1.0, 3 / 4, 2 / 3, 16 / 9)


@dataclass
class Scene:
    """A rendered scene photo and its ground truth (pixels, continuous coordinates)."""

    image: np.ndarray
    jpeg_quality: int
    boxes: list[list[float]]
    landmarks5: list[list[float]]
    identities: list[int]
    occluded: list[bool]


def _clutter(img: np.ndarray, rng: np.random.Generator) -> None:
    """Draw rectangles, lines, textured patches and skin-coloured ellipses (non-face distractors)."""
    h, w = img.shape[:2]
    scale = max(h, w)
    for _ in range(int(rng.integers(12, 40))):
        kind = rng.random()
        color = rng.uniform(0, 255, 3).tolist()
        x, y = int(rng.uniform(0, w)), int(rng.uniform(0, h))
        size = int(scale * rng.uniform(0.02, 0.3))
        if kind < 0.35:
            cv2.rectangle(
                img, (x, y), (x + size, y + int(size * rng.uniform(0.3, 3))), color, -1, cv2.LINE_AA
            )
        elif kind < 0.55:
            end = (x + int(rng.normal(0, size)), y + int(rng.normal(0, size)))
            cv2.line(img, (x, y), end, color, int(rng.integers(1, 6)), cv2.LINE_AA)
        elif kind < 0.75:
            ph, pw = min(size, h - 1), min(size, w - 1)
            y0, x0 = min(y, h - ph), min(x, w - pw)
            cell = max(2, int(rng.integers(2, 9)))
            tex = rng.uniform(0, 255, (ph // cell + 1, pw // cell + 1, 3)).astype(np.uint8)
            tex = cv2.resize(tex, (pw, ph), interpolation=cv2.INTER_NEAREST)
            img[y0 : y0 + ph, x0 : x0 + pw] = (0.5 * img[y0 : y0 + ph, x0 : x0 + pw] + 0.5 * tex).astype(
                np.uint8
            )
        elif kind < 0.9:
            axes = (max(size // 2, 2), max(int(size * rng.uniform(0.3, 0.8)), 2))
            cv2.ellipse(img, (x, y), axes, float(rng.uniform(0, 180)), 0, 360, color, -1, cv2.LINE_AA)
        else:
            skin = np.array([220, 180, 150]) * rng.uniform(0.5, 1.1)
            axes = (max(size // 3, 2), max(int(size * 0.45), 2))
            cv2.ellipse(
                img, (x, y), axes, float(rng.uniform(-30, 30)), 0, 360, skin.tolist(), -1, cv2.LINE_AA
            )


def _occlude(img: np.ndarray, box: np.ndarray, rng: np.random.Generator) -> None:
    """A hand or an object over 15-30% of the face box, entering from the bottom or a side."""
    x1, y1, x2, y2 = box
    bw, bh = x2 - x1, y2 - y1
    cover = rng.uniform(0.15, 0.3)
    side = int(rng.integers(3))
    if side == 0:
        rect = (x1 - 0.1 * bw, y2 - cover * bh, x2 + 0.1 * bw, y2 + 0.6 * bh)
    elif side == 1:
        rect = (x1 - 0.5 * bw, y1 + 0.2 * bh, x1 + cover * bw, y2 + 0.4 * bh)
    else:
        rect = (x2 - cover * bw, y1 + 0.2 * bh, x2 + 0.5 * bw, y2 + 0.4 * bh)
    cx, cy = (rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2
    ax, ay = (rect[2] - rect[0]) / 2, (rect[3] - rect[1]) / 2
    one = 1 << SHIFT
    centre = (round(cx * one), round(cy * one))
    if rng.random() < 0.5:
        skin = (np.array([225, 180, 150]) * rng.uniform(0.45, 1.05)).tolist()
        cv2.ellipse(img, centre, (round(ax * one), round(ay * one)), 0, 0, 360, skin, -1, cv2.LINE_AA, SHIFT)
        for k in range(4):
            fx = rect[0] + (k + 0.5) * (rect[2] - rect[0]) / 4
            tip = (round(fx * one), round((rect[1] - 0.25 * ay) * one))
            cv2.ellipse(
                img,
                tip,
                (round(ax / 5 * one), round(ay / 2.2 * one)),
                0,
                0,
                360,
                skin,
                -1,
                cv2.LINE_AA,
                SHIFT,
            )
    else:
        color = rng.uniform(0, 255, 3).tolist()
        cv2.rectangle(
            img, (round(rect[0]), round(rect[1])), (round(rect[2]), round(rect[3])), color, -1, cv2.LINE_AA
        )


def _overlaps(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])


def _person_region(box: np.ndarray, height: int) -> np.ndarray:
    """The box plus the body below it (shoulders reach about 2.5 face widths across)."""
    w = box[2] - box[0]
    return np.array([box[0] - 0.9 * w, box[1] - 0.35 * w, box[2] + 0.9 * w, float(height)])


def render_scene(
    seed: int,
    index: int,
    identities: int,
    size_range: tuple[int, int],
    face_range: tuple[int, int],
    max_faces: int,
) -> Scene:
    """Scene `index`: its own RNG from (seed, stream, index), so scenes render independently.
    `size_range` bounds the image's long side, `face_range` the faces' box side (px)."""
    rng = np.random.default_rng([seed, SCENE_STREAM, index])
    long_side = int(rng.integers(size_range[0], size_range[1] + 1))
    aspect = float(rng.choice(_ASPECTS))
    w, h = (long_side, round(long_side / aspect)) if aspect >= 1 else (round(long_side * aspect), long_side)
    img = backdrop(sample_background(rng), h, w)
    _clutter(img, rng)
    img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.3, 1.0)))
    light = sample_lighting(rng)
    weights = np.array([0.08, 0.25, 0.22, 0.16, 0.12, 0.1, 0.07][: max_faces + 1])
    n_faces = int(rng.choice(len(weights), p=weights / weights.sum())) if max_faces > 0 else 0
    fmax = min(face_range[1], 0.8 * min(w, h))
    placed: list[tuple[FaceSample, float, tuple[float, float], np.ndarray]] = []
    for _ in range(n_faces):
        sample = sample_face_of(rng, make_identity(seed, int(rng.integers(identities))), int(rng.integers(7)))
        # Scene poses stop at |yaw| 60: beyond that the ellipsoid head reads poorly as a profile.
        sample = dataclasses.replace(sample, lighting=light, yaw=sample.yaw * 60 / 70)
        side_px = float(np.exp(rng.uniform(np.log(face_range[0]), np.log(max(fmax, face_range[0])))))
        unit_box = face_box(
            project(sample.face.points, rotation(sample.yaw, sample.pitch, sample.roll), 1.0, (0, 0))
        )
        scale = side_px / max(unit_box[2] - unit_box[0], unit_box[3] - unit_box[1])
        for _attempt in range(12):
            bx = rng.uniform(0.02 * w, 0.98 * w - scale * (unit_box[2] - unit_box[0]))
            by = rng.uniform(0.02 * h, 0.98 * h - scale * (unit_box[3] - unit_box[1]))
            centre = (float(bx - scale * unit_box[0]), float(by - scale * unit_box[1]))
            box = unit_box * scale + np.array([centre[0], centre[1], centre[0], centre[1]])
            if box[0] < 0 or box[1] < 0 or box[2] > w or box[3] > h:
                continue
            region = _person_region(box, h)
            if all(not _overlaps(region, _person_region(b, h)) for *_, b in placed):
                placed.append((sample, scale, centre, box))
                break
    placed.sort(key=lambda p: p[3][3])
    boxes, lms, ids, occluded = [], [], [], []
    for sample, scale, centre, _box in placed:
        lm = draw_person(img, sample, scale, centre)
        box = face_box(lm)
        occ = bool(rng.random() < 0.2)
        if occ:
            _occlude(img, box, rng)
        boxes.append(box.tolist())
        lms.append(landmarks5(lm).reshape(-1).tolist())
        ids.append(sample.identity.identity)
        occluded.append(occ)
    blur = float(rng.uniform(0.0, 1.2)) / max(w, h) if rng.random() < 0.5 else 0.0  # sigma up to 1.2 px
    noise = float(rng.uniform(0.0, 5.0)) if rng.random() < 0.5 else 0.0
    img = degrade(img, Degradation(blur, noise, 0, int(rng.integers(2**31 - 1))), float(max(w, h)))
    return Scene(img, int(rng.integers(75, 96)), boxes, lms, ids, occluded)


def scene_bytes(scene: Scene) -> bytes:
    """The scene as JPEG at its own fixed quality (libjpeg is deterministic for fixed settings)."""
    return encode_jpeg(scene.image, scene.jpeg_quality)
