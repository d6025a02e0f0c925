"""`facerep synth preview`: a contact sheet of SynthFaces samples with landmarks and labels drawn.

It is the quickest check that the labels mean what they say: the 68 points sit on the drawn
features, the 5 points on eyes, nose tip and mouth corners, and the printed pose, expression,
strongest AUs and attributes match what one sees.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from facerep.io import write_bytes
from facerep.params import Params
from facerep.synth.expressions import EXPRESSIONS
from facerep.synth.face3d import LABELLED_AUS, landmarks5
from facerep.synth.faces import render_face
from facerep.synth.imaging import encode_png
from facerep.synth.sample import sample_face

TILE = 224
TEXT_H = 58
_ABBREV = {
    "eyeglasses": "glasses",
    "beard": "beard",
    "bangs": "bangs",
    "hat": "hat",
    "mouth_open": "open",
    "smiling": "smile",
    "male": "male",
    "earrings": "earring",
    "bald": "bald",
    "mustache": "must.",
}


def _tile(params: Params, index: int) -> np.ndarray:
    s = sample_face(params.seed, index, params.synth.identities)
    img, lm = render_face(s, TILE)
    img = img.copy()
    for x, y in lm:
        cv2.circle(img, (round(x - 0.5), round(y - 0.5)), 1, (0, 255, 0), -1, cv2.LINE_AA)
    for x, y in landmarks5(lm):
        cv2.circle(img, (round(x - 0.5), round(y - 0.5)), 3, (255, 40, 40), 1, cv2.LINE_AA)
    text = np.full((TEXT_H, TILE, 3), 255, np.uint8)
    top_aus = sorted(LABELLED_AUS, key=lambda a: -s.au[a])[:2]
    attrs = [_ABBREV[k] for k, v in s.attributes().items() if v]
    lines = [
        f"#{index} id{s.identity.identity} {EXPRESSIONS[s.expression]}",
        f"yaw {s.yaw:+.0f} pitch {s.pitch:+.0f} roll {s.roll:+.0f}",
        " ".join(f"{a.upper()} {s.au[a]:.1f}" for a in top_aus) + f" V{s.valence:+.1f} A{s.arousal:+.1f}",
        " ".join(attrs)[:40],
    ]
    for i, line in enumerate(lines):
        cv2.putText(text, line, (3, 13 + 14 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([img, text])


def write_contact_sheet(params: Params, out: Path | None, count: int) -> Path:
    """Render `count` faces (indices 0..count-1 of the data set) on a grid; returns the PNG path."""
    path = Path(out) if out is not None else Path(params.paths.synth) / "preview.png"
    count = max(1, count)
    cols = min(8, count)
    rows = -(-count // cols)
    sheet = np.full((rows * (TILE + TEXT_H), cols * TILE, 3), 255, np.uint8)
    for i in range(count):
        r, c = divmod(i, cols)
        sheet[r * (TILE + TEXT_H) : (r + 1) * (TILE + TEXT_H), c * TILE : (c + 1) * TILE] = _tile(params, i)
    write_bytes(path, encode_png(sheet))
    return path
