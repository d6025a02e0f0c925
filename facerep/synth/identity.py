"""Persistent SynthFaces identities: every parameter derived from (seed, identity id) alone.

An identity fixes what a person keeps across photos: sex, face shape (`FaceShape`), skin, eye,
hair and lip colours, hair style, facial hair, and how often they wear glasses, hats or earrings.
Per-photo factors (pose, expression, lighting, ...) live in `facerep.synth.sample`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from facerep.synth.face3d import FaceShape

IDENTITY_STREAM = 1

# Skin tones from light to dark (sRGB), interpolated continuously.
_SKIN = np.array(
    [(244, 214, 190), (233, 190, 160), (214, 165, 130), (190, 135, 100), (150, 100, 70), (105, 70, 50)],
    dtype=np.float64,
)
_HAIR = np.array(
    [
        (20, 16, 14),
        (55, 38, 28),
        (95, 62, 38),
        (150, 110, 62),
        (205, 170, 100),
        (140, 60, 30),
        (165, 160, 158),
    ],
    dtype=np.float64,
)
_HAIR_P = np.array([0.28, 0.24, 0.16, 0.1, 0.1, 0.06, 0.06])
_IRIS = np.array([(60, 38, 22), (95, 62, 35), (70, 100, 140), (80, 110, 70), (30, 24, 20)], dtype=np.float64)


@dataclass(frozen=True)
class Identity:
    """Everything that stays the same across one person's images."""

    identity: int
    male: bool
    shape: FaceShape
    skin: tuple[float, float, float]
    lips: tuple[float, float, float]
    iris: tuple[float, float, float]
    hair: tuple[float, float, float]
    brow_color: tuple[float, float, float]
    brow_thickness: float
    hairline: float
    hair_volume: float
    long_hair: bool
    bangs: bool
    bald: bool
    beard: bool
    mustache: bool
    glasses_rate: float
    glasses_color: tuple[float, float, float]
    glasses_round: bool
    hat_rate: float
    earrings_rate: float


def _rgb(v: np.ndarray) -> tuple[float, float, float]:
    r, g, b = (min(max(float(x), 0.0), 255.0) for x in v)
    return r, g, b


def identity_rng(seed: int, identity: int) -> np.random.Generator:
    """The identity's own random stream: independent of every other identity and of item order."""
    return np.random.default_rng([seed, IDENTITY_STREAM, identity])


@lru_cache(maxsize=8192)
def make_identity(seed: int, identity: int) -> Identity:
    """Derive identity `identity` deterministically from (seed, identity) (cached: it is immutable)."""
    rng = identity_rng(seed, identity)
    male = bool(rng.random() < 0.5)
    u = rng.normal(0.0, 1.0, 16)
    sex = 1.0 if male else -1.0
    shape = FaceShape(
        face_width=0.05 * u[0] + 0.02 * sex,
        jaw_width=0.07 * u[1] + 0.05 * sex,
        chin_length=0.07 * u[2],
        cranium_height=0.04 * u[3],
        eye_spacing=0.035 * u[4],
        eye_size=0.1 * u[5] - 0.03 * sex,
        eye_height=0.03 * u[6],
        brow_height=0.035 * u[7] + 0.02 * sex,
        brow_arch=0.03 * u[8] - 0.015 * sex,
        nose_length=0.08 * u[9] + 0.03 * sex,
        nose_width=0.12 * u[10] + 0.05 * sex,
        nose_depth=0.15 * u[11],
        mouth_width=0.07 * u[12],
        mouth_height=0.03 * u[13],
        lip_thickness=0.15 * u[14] - 0.1 * sex,
    )
    t = rng.beta(1.6, 1.6) * (len(_SKIN) - 1)
    i = min(int(t), len(_SKIN) - 2)
    skin = _SKIN[i] + (t - i) * (_SKIN[i + 1] - _SKIN[i]) + rng.normal(0, 5, 3)
    lips = skin * np.array([0.82, 0.55, 0.55]) + (np.array([35, 0, 5]) if not male else 0)
    hair = _HAIR[rng.choice(len(_HAIR), p=_HAIR_P)] + rng.normal(0, 8, 3)
    iris = _IRIS[rng.integers(len(_IRIS))] + rng.normal(0, 6, 3)
    bald = bool(male and rng.random() < 0.3)
    beard = bool(male and rng.random() < 0.38)
    mustache = bool(male and (rng.random() < (0.75 if beard else 0.15)))
    long_hair = bool((not male and rng.random() < 0.75) or (male and not bald and rng.random() < 0.08))
    bangs = bool(not bald and rng.random() < (0.4 if not male else 0.2))
    wears_glasses = rng.random() < 0.3
    glasses_color = np.array([(20, 20, 22), (90, 50, 25), (150, 150, 155), (120, 20, 30)][rng.integers(4)])
    return Identity(
        identity=identity,
        male=male,
        shape=shape,
        skin=_rgb(skin),
        lips=_rgb(lips),
        iris=_rgb(iris),
        hair=_rgb(hair),
        brow_color=_rgb(hair * 0.6 + np.array([15, 12, 10])),
        brow_thickness=float(np.clip(0.085 + 0.02 * u[15] + 0.02 * sex, 0.05, 0.14)),
        hairline=float(-0.95 + 0.08 * rng.normal() + (0.08 if male else 0.0)),
        hair_volume=float(rng.uniform(0.04, 0.12) if not male else rng.uniform(0.02, 0.07)),
        long_hair=long_hair,
        bangs=bangs,
        bald=bald,
        beard=beard,
        mustache=mustache,
        glasses_rate=float(0.85 if wears_glasses else 0.04),
        glasses_color=_rgb(glasses_color),
        glasses_round=bool(rng.random() < 0.4),
        hat_rate=0.0 if bald else float(rng.choice([0.05, 0.45], p=[0.7, 0.3])),
        earrings_rate=float(rng.choice([0.02, 0.8], p=[0.45, 0.55]) if not male else 0.02),
    )
