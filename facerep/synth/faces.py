"""Face-centred SynthFaces images, placed the way the detect stage crops real faces."""

from __future__ import annotations

import numpy as np

from facerep.synth.face3d import LABELLED_AUS, face_box, landmarks5, project, rotation
from facerep.synth.imaging import backdrop, degrade
from facerep.synth.render import draw_person
from facerep.synth.sample import FaceSample

#: The detect stage's crop: the face box's longer side spans 190 of 256 px (Bulat et al. A.1).
FACE_FRACTION = 190 / 256


def crop_placement(s: FaceSample, size: int) -> tuple[float, tuple[float, float]]:
    """Scale (px per face unit) and head-origin position that centre the face box in a size x size crop
    with its longer side at `FACE_FRACTION` of the crop (times the sample's jitter)."""
    face = s.face
    box = face_box(project(face.points, rotation(s.yaw, s.pitch, s.roll), 1.0, (0.0, 0.0)))
    side = max(box[2] - box[0], box[3] - box[1])
    scale = FACE_FRACTION * size * s.box_scale / side
    cx = size * (0.5 + s.shift[0]) - scale * (box[0] + box[2]) / 2
    cy = size * (0.5 + s.shift[1]) - scale * (box[1] + box[3]) / 2
    return scale, (float(cx), float(cy))


def render_face(s: FaceSample, size: int, clean: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The size x size RGB image of sample `s` and its 68 landmarks in continuous pixels.

    `clean` skips blur, noise and JPEG (label tests compare geometry on exact pixels).
    """
    img = backdrop(s.background, size, size)
    scale, centre = crop_placement(s, size)
    lm = draw_person(img, s, scale, centre)
    if not clean:
        img = degrade(img, s.degradation, FACE_FRACTION * size)
    return img, lm


SPLIT_STREAM = 3


def face_split(seed: int, index: int, test_fraction: float) -> str:
    """The fixed train/test assignment of face `index` (by face, not identity-disjoint)."""
    u = np.random.default_rng([seed, SPLIT_STREAM, index]).random()
    return "test" if u < test_fraction else "train"


def face_labels(s: FaceSample, lm68: np.ndarray, size: int) -> dict[str, object]:
    """The label columns of one face (everything but ids, file and split), landmarks normalised."""
    row: dict[str, object] = {
        "identity": s.identity.identity,
        "yaw": s.yaw,
        "pitch": s.pitch,
        "roll": s.roll,
        "expression": s.expression,
    }
    row.update({name: s.au[name] for name in LABELLED_AUS})
    row["valence"], row["arousal"] = s.valence, s.arousal
    row.update({f"attr_{k}": v for k, v in s.attributes().items()})
    norm = lm68 / size
    row["lm68"] = norm.reshape(-1).tolist()
    row["lm5"] = landmarks5(norm).reshape(-1).tolist()
    row["face_box"] = (face_box(lm68) / size).tolist()
    return row
