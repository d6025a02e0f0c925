"""Shared by tests/downstream and tests/report: a small face world in the SynthFaces layout and small
CPU parameters."""

from __future__ import annotations

from pathlib import Path

import pytest
from synth_layout import write_synthfaces

from facerep.params import Params, load_params


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 faces of 30 people at 64 px (240 train, 60 test)."""
    return write_synthfaces(tmp_path_factory.mktemp("synthfaces"), 300, 30)


def small_params(tmp_path: Path, synth_root: Path, *sets: str) -> Params:
    """Tiny CPU settings: resnet_tiny, short schedules, a local MLflow SQLite store in tmp_path."""
    base = [
        f"paths.synth={synth_root}",
        f"paths.results={tmp_path / 'results'}",
        f"paths.models={tmp_path / 'models'}",
        f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
        "tracking.system_metrics=false",
        "finetune.backbone=resnet_tiny",
        "finetune.batch_size=16",
        "finetune.heatmap_width=16",
        "finetune.search.steps=[15]",
    ]
    return load_params(None, [*base, *sets])
