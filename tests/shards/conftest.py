"""Fixtures: curate + detect + harvest outputs in their contract formats, built from real photo crops."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "curate"))

from facerep.params import load_params


@pytest.fixture
def params_for(tmp_path):
    def make(*overrides: str, root: Path | None = None):
        base = root or tmp_path
        sets = [f"paths.{k}={base / k}" for k in ("raw", "faces", "curated", "shards")]
        return load_params(None, [*sets, "tracking.enabled=false", *overrides])

    return make
