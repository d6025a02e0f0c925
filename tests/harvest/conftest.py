"""Fixtures of the harvest tests: the loopback Flickr and parameter documents for a tmp tree."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
