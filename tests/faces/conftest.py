"""Real photos that ship inside registry packages (insightface, scikit-image), read as RGB arrays."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest


def insightface_image(name: str) -> Path:
    spec = importlib.util.find_spec("insightface")
    if spec is None or spec.origin is None:
        pytest.skip("insightface is not installed")
    path = Path(spec.origin).parent / "data" / "images" / name
    if not path.is_file():
        pytest.skip(f"insightface ships no {name}")
    return path


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="session")
def group_photo_path() -> Path:
    """insightface's t1.jpg: 1280x886, six people."""
    return insightface_image("t1.jpg")


@pytest.fixture(scope="session")
def hanks_path() -> Path:
    """insightface's Tom_Hanks_54745.png: a 112x112 face already aligned to the ArcFace template."""
    return insightface_image("Tom_Hanks_54745.png")


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    data = pytest.importorskip("skimage.data")
    return data.astronaut()


@pytest.fixture(scope="session")
def mobile_detector():
    from facerep.faces.retinaface_mobile import RetinaFaceMobile

    return RetinaFaceMobile(threshold=0.8, batch_size=4)


def write_manifest(raw: Path, items: list[tuple[str, str, str]]) -> Path:
    """A harvest manifest (DESIGN section 2) of (image_id, path, status) rows."""
    import pandas as pd

    rows = [
        {
            "image_id": image_id,
            "source": "test",
            "uri": f"file://{path}",
            "path": path,
            "sha256": "",
            "width": 0,
            "height": 0,
            "license": "CC0-1.0",
            "owner": "tests",
            "status": status,
        }
        for image_id, path, status in items
    ]
    raw.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(raw / "manifest.parquet", index=False)
    return raw / "manifest.parquet"


@pytest.fixture(scope="module")
def photo_raw(tmp_path_factory, group_photo_path, astronaut) -> Path:
    """paths.raw holding real photos (relative and absolute paths), a corrupt and a missing file,
    and a row the harvest rejected."""
    import shutil

    from PIL import Image

    tmp_path = tmp_path_factory.mktemp("photos")
    raw = tmp_path / "raw"
    (raw / "img").mkdir(parents=True)
    shutil.copy(group_photo_path, raw / "img" / "t1.jpg")
    Image.fromarray(astronaut).save(tmp_path / "astronaut.png")
    (raw / "img" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    write_manifest(
        raw,
        [
            ("group", "img/t1.jpg", "ok"),
            ("astronaut", str(tmp_path / "astronaut.png"), "ok"),
            ("corrupt", "img/corrupt.jpg", "ok"),
            ("gone", "img/missing.jpg", "ok"),
            ("rejected", "img/t1.jpg", "duplicate"),
        ],
    )
    return raw
