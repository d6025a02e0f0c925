"""The report tests reuse the downstream fixtures (SynthFaces-layout faces, small parameters)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "downstream"))

from downstream_fixtures import synth_root  # noqa: F401
