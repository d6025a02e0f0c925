"""The SynthFaces output layout under `paths.synth` (a contract: downstream loaders read it).

```
faces/labels.parquet            one row per face (columns below)
faces/<S>/<face_id>.png         the face at S x S px, for each S in synth.sizes
scenes/scenes.parquet           one row per scene photo
scenes/images/scene_NNNNNN.jpg
videos/frames.parquet           one row per video frame
videos/idNNNNN/<video_id>/NNNNN.mp4   VoxCeleb2 layout, H.264, face-centred talking head
```

Face labels: `face_id`, `file`, `identity`, `split` (train/test, 80/20 by face), `yaw`, `pitch`,
`roll` (degrees), `expression` (RAF-DB order, `EXPRESSIONS`), AU intensities `au01` ... `au26`
(0-5), `valence`, `arousal` ([-1, 1]), `attr_<name>` (0/1), `lm68` (136 floats, x0, y0, ...
normalised: pixel = value * S, continuous coordinates in which pixel i spans [i, i + 1)), `lm5` (10
floats, same normalisation; eye centres image-left first, nose tip, mouth corners) and `face_box`
(x1, y1, x2, y2 normalised, RetinaFace-style: forehead to chin, cheek to cheek).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from facerep.io import read_table
from facerep.synth.expressions import EXPRESSIONS
from facerep.synth.face3d import LABELLED_AUS

__all__ = [
    "ATTRIBUTES",
    "AUS",
    "EXPRESSIONS",
    "face_image_path",
    "read_face_labels",
    "read_scenes",
    "read_video_frames",
]

AUS: tuple[str, ...] = LABELLED_AUS
ATTRIBUTES: tuple[str, ...] = (
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
)
FACE_COLUMNS: tuple[str, ...] = (
    "face_id",
    "file",
    "identity",
    "split",
    "yaw",
    "pitch",
    "roll",
    "expression",
    *AUS,
    "valence",
    "arousal",
    *(f"attr_{a}" for a in ATTRIBUTES),
    "lm68",
    "lm5",
    "face_box",
)
SCENE_COLUMNS = ("scene_id", "file", "width", "height", "boxes", "landmarks5", "identities", "occluded")
FRAME_COLUMNS = (
    "path",
    "speaker_id",
    "video_id",
    "frame_index",
    "time",
    "identity",
    "yaw",
    "pitch",
    "roll",
    "expression",
    "mouth_open",
    "bbox",
    "landmarks5",
)

FACES_DIR, SCENES_DIR, VIDEOS_DIR = "faces", "scenes", "videos"
FACE_LABELS = f"{FACES_DIR}/labels.parquet"
SCENE_LABELS = f"{SCENES_DIR}/scenes.parquet"
SCENE_IMAGES = f"{SCENES_DIR}/images"
FRAME_LABELS = f"{VIDEOS_DIR}/frames.parquet"


def face_id(index: int) -> str:
    return f"f{index:06d}"


def scene_file(index: int) -> str:
    return f"scene_{index:06d}.jpg"


def speaker_id(identity: int) -> str:
    return f"id{identity:05d}"


def face_image_path(root: str | Path, size: int, file: str) -> Path:
    """Where the `size` px image of the face with label `file` lives."""
    return Path(root) / FACES_DIR / str(size) / file


def _read(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    return read_table(path, columns, missing_hint="SynthFaces labels: run `facerep synth`")


def read_face_labels(root: str | Path) -> pd.DataFrame:
    """The face labels table (one row per face) of a SynthFaces tree rooted at `root`."""
    return _read(Path(root) / FACE_LABELS, FACE_COLUMNS)


def read_scenes(root: str | Path) -> pd.DataFrame:
    """The scenes table (one row per photo; images under `scenes/images`)."""
    return _read(Path(root) / SCENE_LABELS, SCENE_COLUMNS)


def read_video_frames(root: str | Path) -> pd.DataFrame:
    """The per-frame ground truth of the talking-head clips (paths relative to `videos/`)."""
    return _read(Path(root) / FRAME_LABELS, FRAME_COLUMNS)
