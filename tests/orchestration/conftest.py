"""Make the orchestration test helpers (`orch_project`, `orch_servers`) importable by name."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
