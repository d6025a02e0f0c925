"""Per-image factors of a SynthFaces face, drawn from the item's own random stream.

`FaceSample` holds every number the renderer needs, so rendering is a pure function of it: the
same sample gives the same pixels at any size, in any process, in any order. `mirror_sample` is
the sample whose rendering is the horizontal mirror of this one (the label-flip tests use it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from facerep.synth.expressions import sample_expression
from facerep.synth.face3d import Face3D, build_face, mirror_pose
from facerep.synth.identity import Identity, make_identity

FACE_STREAM = 2
#: Lip gap (face units, inner upper to inner lower lip) above which the mouth counts as open.
MOUTH_OPEN_GAP = 0.12
#: AU12 intensity from which a face counts as smiling.
SMILE_AU12 = 2.0


@dataclass(frozen=True)
class Lighting:
    """A directional light (camera coordinates, unit vector toward the light) plus ambient."""

    direction: tuple[float, float, float]
    ambient: float
    diffuse: float
    tint: tuple[float, float, float]


@dataclass(frozen=True)
class Background:
    """A mild backdrop: a two-colour linear gradient plus a coarse low-frequency texture."""

    color_a: tuple[float, float, float]
    color_b: tuple[float, float, float]
    angle: float
    texture: np.ndarray  # (4, 4, 3) in [-1, 1]
    texture_amp: float


@dataclass(frozen=True)
class Degradation:
    """Camera effects: Gaussian blur (sigma as a fraction of the face box), noise std, JPEG quality."""

    blur: float
    noise: float
    jpeg_quality: int  # 0: none
    noise_seed: int


@dataclass(frozen=True)
class FaceSample:
    """One face photo's full description: identity, pose, expression, accessories, scene, camera."""

    identity: Identity
    yaw: float
    pitch: float
    roll: float
    expression: int
    au: dict[str, float]
    valence: float
    arousal: float
    gaze: tuple[float, float]
    eyeglasses: bool
    sunglasses: bool
    hat: bool
    hat_cap: bool
    hat_color: tuple[float, float, float]
    earrings: bool
    clothing: tuple[float, float, float]
    lighting: Lighting
    background: Background
    degradation: Degradation
    box_scale: float
    shift: tuple[float, float]

    @cached_property
    def face(self) -> Face3D:
        """The identity's 3-D face showing this sample's action units (built once per sample)."""
        return build_face(self.identity.shape, self.au)

    def attributes(self) -> dict[str, int]:
        """The binary attribute labels, each a rendering decision or a function of the geometry."""
        pts = self.face.points
        gap = float(np.mean(pts[[65, 66, 67], 1] - pts[[63, 62, 61], 1]))
        ident = self.identity
        return {
            "eyeglasses": int(self.eyeglasses),
            "beard": int(ident.beard),
            "bangs": int(ident.bangs),
            "hat": int(self.hat),
            "mouth_open": int(gap > MOUTH_OPEN_GAP),
            "smiling": int(self.au["au12"] >= SMILE_AU12),
            "male": int(ident.male),
            "earrings": int(self.earrings),
            "bald": int(ident.bald),
            "mustache": int(ident.mustache),
        }


def _color(rng: np.random.Generator, lo: float, hi: float) -> tuple[float, float, float]:
    c = rng.uniform(lo, hi, 3)
    return float(c[0]), float(c[1]), float(c[2])


def sample_pose(rng: np.random.Generator) -> tuple[float, float, float]:
    """Yaw in [-70, 70] (half the mass near frontal, as in photo collections), pitch, roll."""
    yaw = rng.uniform(-70, 70) if rng.random() < 0.5 else min(max(rng.normal(0, 22), -70.0), 70.0)
    pitch = min(max(rng.normal(0, 12), -30.0), 30.0)
    roll = min(max(rng.normal(0, 10), -25.0), 25.0)
    return float(yaw), pitch, roll


def sample_lighting(rng: np.random.Generator) -> Lighting:
    """A key light from the front hemisphere, mostly from above, with a warm or cool tint."""
    az = rng.uniform(-70, 70)
    el = rng.uniform(-15, 55)
    a, e = np.radians(az), np.radians(el)
    d = (float(np.sin(a) * np.cos(e)), float(-np.sin(e)), float(np.cos(a) * np.cos(e)))
    tint = np.array([1.0, 1.0, 1.0]) + rng.uniform(-0.08, 0.08) * np.array([1.0, 0.0, -1.0])
    return Lighting(d, float(rng.uniform(0.28, 0.45)), float(rng.uniform(0.55, 0.8)), tuple(tint.tolist()))


def sample_background(rng: np.random.Generator) -> Background:
    """Low-clutter backdrops: face crops carry little background (SSL_TRIAL.md: clutter is a shortcut)."""
    base = rng.uniform(40, 220, 3)
    return Background(
        tuple((base + rng.normal(0, 25, 3)).clip(0, 255).tolist()),
        tuple((base + rng.normal(0, 25, 3)).clip(0, 255).tolist()),
        float(rng.uniform(0, 2 * np.pi)),
        rng.uniform(-1, 1, (4, 4, 3)).astype(np.float32),
        float(rng.uniform(0, 18)),
    )


def sample_degradation(rng: np.random.Generator) -> Degradation:
    """Mild blur, sensor noise and JPEG compression, none strong enough to erase a labelled cue."""
    blur = float(rng.uniform(0.0, 0.012)) if rng.random() < 0.6 else 0.0
    noise = float(rng.uniform(0.0, 6.0)) if rng.random() < 0.6 else 0.0
    quality = int(rng.integers(40, 96)) if rng.random() < 0.5 else 0
    return Degradation(blur, noise, quality, int(rng.integers(0, 2**31 - 1)))


def sample_face(seed: int, index: int, identities: int, stream: int = FACE_STREAM) -> FaceSample:
    """Face `index` of the data set: its own RNG from (seed, stream, index), so items are independent."""
    rng = np.random.default_rng([seed, stream, index])
    identity_id = int(rng.integers(identities))
    expression = int(rng.integers(7))
    return sample_face_of(rng, make_identity(seed, identity_id), expression)


def sample_face_of(rng: np.random.Generator, ident: Identity, expression: int) -> FaceSample:
    """A photo of `ident` showing `expression` with every other factor drawn from `rng`."""
    yaw, pitch, roll = sample_pose(rng)
    au, valence, arousal = sample_expression(rng, expression)
    glasses = bool(rng.random() < ident.glasses_rate)
    return FaceSample(
        identity=ident,
        yaw=yaw,
        pitch=pitch,
        roll=roll,
        expression=expression,
        au=au,
        valence=valence,
        arousal=arousal,
        gaze=(float(rng.normal(0, 0.06)), float(rng.normal(0, 0.04))),
        eyeglasses=glasses,
        sunglasses=bool(glasses and rng.random() < 0.2),
        hat=bool(rng.random() < ident.hat_rate),
        hat_cap=bool(rng.random() < 0.5),
        hat_color=_color(rng, 20, 230),
        earrings=bool(rng.random() < ident.earrings_rate),
        clothing=_color(rng, 20, 230),
        lighting=sample_lighting(rng),
        background=sample_background(rng),
        degradation=sample_degradation(rng),
        box_scale=float(rng.uniform(0.95, 1.05)),
        shift=(float(rng.normal(0, 0.015)), float(rng.normal(0, 0.015))),
    )


def mirror_sample(s: FaceSample) -> FaceSample:
    """The sample whose image is the horizontal mirror of `s` (noise aside: it is not mirrored)."""
    yaw, pitch, roll = mirror_pose(s.yaw, s.pitch, s.roll)
    lx, ly, lz = s.lighting.direction
    bg = s.background
    return dataclasses.replace(
        s,
        yaw=yaw,
        pitch=pitch,
        roll=roll,
        gaze=(-s.gaze[0], s.gaze[1]),
        lighting=dataclasses.replace(s.lighting, direction=(-lx, ly, lz)),
        background=dataclasses.replace(bg, angle=float(np.pi - bg.angle), texture=bg.texture[:, ::-1].copy()),
        shift=(-s.shift[0], s.shift[1]),
    )
