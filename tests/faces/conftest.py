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
