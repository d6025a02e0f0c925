"""Fixtures of the downstream tests (see downstream_fixtures.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from downstream_fixtures import synth_root  # noqa: F401
