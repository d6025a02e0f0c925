"""Fixtures: a detect-stage output (faces.parquet + 256x256 JPEG crops) built from real photos."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from curate_photos import PhotoFace, photo_faces

from facerep.params import load_params


@pytest.fixture(scope="session")
def faces() -> tuple[PhotoFace, ...]:
    return photo_faces()


@pytest.fixture
def params_for(tmp_path):
    """Parameters whose paths all live under the test's temporary folder."""

    def make(*overrides: str):
        sets = [f"paths.{k}={tmp_path / k}" for k in ("raw", "faces", "curated", "shards")]
        return load_params(None, [*sets, "tracking.enabled=false", *overrides])

    return make
