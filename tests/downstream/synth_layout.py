"""A small face world written in the SynthFaces layout (docs/synth.md), for the downstream tests.

It stands in for `facerep synth` until that stage lands: every labelled factor moves pixels at 64 px
(mouth and brows follow the AU intensities of the expression, pose moves and turns the 68 points,
identity sets skin, hair and face shape, attributes draw glasses, beard, hat, ...), so each task is
learnable and its metric can move. Landmarks are the very points the drawing passes through.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

AUS = ["au01", "au02", "au04", "au06", "au07", "au12", "au15", "au26"]
ATTRS = [
    "eyeglasses",
    "beard",
    "bangs",
    "hat",
    "mouth_open",
    "smiling",
    "male",
    "earrings",
    "bald",
    "mustache",
]
# expression (RAF-DB order) -> AU prototype (0/1 per AU) and valence/arousal centre
PROTOTYPES = np.array(
    [
        [1, 1, 0, 0, 0, 0, 0, 1],  # surprise
        [1, 1, 1, 0, 0, 0, 0, 1],  # fear
        [0, 0, 1, 0, 1, 0, 1, 0],  # disgust
        [0, 0, 0, 1, 0, 1, 0, 0],  # happiness
        [1, 0, 1, 0, 0, 0, 1, 0],  # sadness
        [0, 0, 1, 0, 1, 0, 0, 0],  # anger
        [0, 0, 0, 0, 0, 0, 0, 0],  # neutral
    ],
    dtype=float,
)
VA = np.array([[0.2, 0.8], [-0.6, 0.7], [-0.6, 0.3], [0.8, 0.5], [-0.7, -0.4], [-0.6, 0.8], [0.0, 0.0]])


def template() -> np.ndarray:
    """68 points (iBUG order) of a frontal neutral face, x in [-1, 1], y down, face units."""
    u = np.linspace(-0.15, np.pi + 0.15, 17)
    jaw = np.stack([-np.cos(u), np.sin(u) * 1.15], 1)
    bx = np.linspace(-0.75, -0.15, 5)
    brow_l = np.stack([bx, -0.45 - 0.08 * np.sin(np.linspace(0, np.pi, 5))], 1)
    brow_r = brow_l[::-1] * [-1, 1]
    bridge = np.stack([np.zeros(4), np.linspace(-0.3, 0.2, 4)], 1)
    nose = np.stack([np.linspace(-0.2, 0.2, 5), [0.28, 0.31, 0.33, 0.31, 0.28]], 1)
    eye_l = np.array(
        [[-0.55, -0.2], [-0.45, -0.26], [-0.35, -0.26], [-0.25, -0.2], [-0.35, -0.14], [-0.45, -0.14]]
    )
    eye_r = np.array([[0.25, -0.2], [0.35, -0.26], [0.45, -0.26], [0.55, -0.2], [0.45, -0.14], [0.35, -0.14]])
    outer = np.array(
        [[-0.35, 0.6], [-0.22, 0.54], [-0.08, 0.52], [0.0, 0.53], [0.08, 0.52], [0.22, 0.54], [0.35, 0.6],
         [0.22, 0.68], [0.08, 0.71], [0.0, 0.71], [-0.08, 0.71], [-0.22, 0.68]]
    )  # fmt: skip
    inner = np.array(
        [
            [-0.28, 0.6],
            [-0.08, 0.58],
            [0.0, 0.58],
            [0.08, 0.58],
            [0.28, 0.6],
            [0.08, 0.62],
            [0.0, 0.62],
            [-0.08, 0.62],
        ]
    )
    return np.concatenate([jaw, brow_l, brow_r, bridge, nose, eye_l, eye_r, outer, inner])


def deform(p: np.ndarray, au: np.ndarray, male: bool) -> np.ndarray:
    """Move the template by the AU intensities (0..5): brows, eyes, mouth corners, jaw drop."""
    p = p.copy()
    a = dict(zip(AUS, au / 5.0, strict=True))
    p[17:27, 1] -= 0.18 * a["au01"] + 0.12 * a["au02"] - 0.15 * a["au04"]
    p[[21, 22], 0] *= 1 - 0.4 * a["au04"]
    for eye in (range(36, 42), range(42, 48)):
        idx = list(eye)
        cy = p[idx, 1].mean()
        p[idx, 1] = cy + (p[idx, 1] - cy) * (1 - 0.6 * a["au06"] - 0.3 * a["au07"] + 0.5 * a["au01"])
    corners = [48, 54, 60, 64]
    p[corners, 1] += -0.2 * a["au12"] + 0.2 * a["au15"]
    p[corners, 0] *= 1 + 0.3 * a["au12"]
    drop = 0.35 * a["au26"]
    p[[55, 56, 57, 58, 59, 65, 66, 67], 1] += drop
    p[4:13, 1] += drop * np.sin(np.linspace(0, np.pi, 9)) * 0.6
    if male:
        p[:17, 0] *= 1.08
    return p


def project(p: np.ndarray, yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Rotate the face (depth from a head-like bulge) and project orthographically."""
    z = 0.7 * np.sqrt(np.clip(1 - p[:, 0] ** 2, 0, 1))
    z[27:36] += 0.25
    y, x, r = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(x), -np.sin(x)], [0, np.sin(x), np.cos(x)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    q = np.stack([p[:, 0], p[:, 1], z], 1) @ (rz @ rx @ ry).T
    return q[:, :2]


def draw(size: int, pts: np.ndarray, look: dict, attrs: dict[str, int]) -> Image.Image:
    """Render one face whose features pass through `pts` (pixels)."""
    img = Image.new("RGB", (size, size), look["bg"])
    d = ImageDraw.Draw(img)
    s = size / 64
    w = max(1, round(2 * s))
    jaw = [tuple(v) for v in pts[:17]]
    top = pts[27] + (pts[27] - pts[8]) * 0.55
    c = (pts[0] + pts[16]) / 2
    forehead = [
        tuple(c + (pts[16] - c) * np.cos(t) + (top - c) * np.sin(t)) for t in np.linspace(0, np.pi, 9)
    ]
    if not attrs["bald"]:
        hair = [tuple(c + (v - c) * 1.15) for v in [pts[16], *forehead[1:-1], pts[0]]]
        d.polygon(hair, fill=look["hair"])
    d.polygon(jaw + forehead[1:-1], fill=look["skin"])
    if attrs["bangs"]:
        d.polygon(
            [tuple(v) for v in forehead[2:-2]] + [tuple(pts[24] - [0, 3 * s]), tuple(pts[19] - [0, 3 * s])],
            fill=look["hair"],
        )
    if attrs["hat"]:
        d.polygon([tuple(v) for v in forehead] + [tuple(top + (top - c) * 0.5)], fill=(30, 60, 160))
    if attrs["beard"]:
        d.polygon([tuple(v) for v in pts[3:14]] + [tuple(pts[54]), tuple(pts[48])], fill=(50, 35, 25))
    for brow in (pts[17:22], pts[22:27]):
        d.line([tuple(v) for v in brow], fill=(40, 25, 20), width=w + attrs["male"])
    for eye in (pts[36:42], pts[42:48]):
        d.polygon([tuple(v) for v in eye], fill=(250, 250, 250))
        e = eye.mean(0)
        d.ellipse((e[0] - 1.2 * s, e[1] - 1.2 * s, e[0] + 1.2 * s, e[1] + 1.2 * s), fill=(20, 20, 30))
        if attrs["eyeglasses"]:
            lo, hi = eye.min(0) - 2.5 * s, eye.max(0) + 2.5 * s
            d.rectangle((lo[0], lo[1], hi[0], hi[1]), outline=(10, 10, 10), width=w)
    d.line([tuple(v) for v in pts[27:31]], fill=look["shade"], width=w)
    d.line([tuple(v) for v in pts[31:36]], fill=look["shade"], width=w)
    d.polygon([tuple(v) for v in pts[48:60]], fill=(170, 40, 50))
    d.polygon([tuple(v) for v in pts[60:68]], fill=(60, 10, 15))
    if attrs["mustache"]:
        d.line(
            [tuple(pts[48] - [0, 2 * s]), tuple(pts[51] - [0, 3 * s]), tuple(pts[54] - [0, 2 * s])],
            fill=(40, 25, 15),
            width=w + 1,
        )
    if attrs["earrings"]:
        for v in (pts[2], pts[14]):
            d.ellipse((v[0] - 2 * s, v[1] - 2 * s, v[0] + 2 * s, v[1] + 2 * s), fill=(240, 200, 40))
    return img


def identity_look(rng: np.random.Generator) -> dict:
    tone = rng.uniform(0.45, 1.0)
    return {
        "skin": tuple(int(v) for v in np.array([230, 180, 150]) * tone),
        "shade": tuple(int(v) for v in np.array([150, 100, 80]) * tone),
        "hair": tuple(int(v) for v in rng.integers(10, 200, 3)),
        "bg": tuple(int(v) for v in rng.integers(60, 255, 3)),
        "scale": rng.uniform(0.85, 1.15),
        "male": int(rng.random() < 0.5),
        "bald": int(rng.random() < 0.15),
        "glasses": rng.random() < 0.3,
        "beard": rng.random() < 0.25,
    }


def write_synthfaces(
    root: Path, n: int, identities: int, sizes: tuple[int, ...] = (64,), seed: int = 0
) -> Path:
    """Write `n` faces of `identities` people under `root` in the SynthFaces layout; return `root`."""
    rng = np.random.default_rng(seed)
    looks = [identity_look(np.random.default_rng([seed, i])) for i in range(identities)]
    base = template()
    rows = []
    for s in sizes:
        (root / "faces" / str(s)).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        ident = i % identities
        look = looks[ident]
        expr = int(rng.integers(0, 7))
        au = np.clip(PROTOTYPES[expr] * rng.uniform(2.5, 5.0, 8) + rng.uniform(0, 0.8, 8), 0, 5)
        va = np.clip(VA[expr] * (0.6 + 0.08 * au.max()) + rng.normal(0, 0.08, 2), -1, 1)
        yaw, pitch, roll = rng.uniform(-45, 45), rng.uniform(-20, 20), rng.uniform(-20, 20)
        attrs = {
            "eyeglasses": int(look["glasses"] ^ (rng.random() < 0.1)),
            "beard": int(look["beard"] and look["male"]),
            "bangs": int(rng.random() < 0.3 and not look["bald"]),
            "hat": int(rng.random() < 0.2),
            "mouth_open": int(au[7] > 2.0),
            "smiling": int(au[5] > 2.0),
            "male": look["male"],
            "earrings": int(rng.random() < 0.25),
            "bald": look["bald"],
            "mustache": int(look["male"] and rng.random() < 0.3),
        }
        p = project(deform(base, au, bool(look["male"])), yaw, pitch, roll)
        file = f"f{i:06d}.png"
        pts_n = p * 0.34 * look["scale"] + np.array([0.5, 0.54]) + rng.normal(0, 0.02, 2)
        for s in sizes:
            draw(s, pts_n * s, look, attrs).save(root / "faces" / str(s) / file)
        brow_top = pts_n[17:27, 1].min() - 0.1 * (pts_n[8, 1] - pts_n[17:27, 1].min())
        box = [pts_n[:17, 0].min(), brow_top, pts_n[:17, 0].max(), pts_n[:, 1].max()]
        lm5 = np.concatenate([pts_n[36:42].mean(0), pts_n[42:48].mean(0), pts_n[30], pts_n[48], pts_n[54]])
        rows.append(
            {
                "face_id": f"f{i:06d}",
                "file": file,
                "identity": ident,
                "split": "test" if i % 5 == 4 else "train",
                "yaw": yaw,
                "pitch": pitch,
                "roll": roll,
                "expression": expr,
                **{a: float(v) for a, v in zip(AUS, au, strict=True)},
                "valence": float(va[0]),
                "arousal": float(va[1]),
                **{f"attr_{k}": v for k, v in attrs.items()},
                "lm68": pts_n.reshape(-1).tolist(),
                "lm5": lm5.tolist(),
                "face_box": [float(v) for v in box],
            }
        )
    pd.DataFrame(rows).to_parquet(root / "faces" / "labels.parquet", index=False)
    return root
